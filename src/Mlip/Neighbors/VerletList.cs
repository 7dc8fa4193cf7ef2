using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Neighbors;

/// <summary>
/// A neighbour list reused across calls on slowly moving atoms (MD, relaxation): the full list is
/// built with cells at cutoff + skin, and until some atom has moved more than skin/2 from where it
/// was at that build (same atom count, cell and periodicity), each <see cref="Get(Structure)"/> recomputes the
/// pair vectors from the current positions with the stored images (the same expression as
/// <see cref="NeighborList.PairVector"/>, so vectors agree to the last bit with a fresh build) and
/// keeps those within the cutoff. Every pair within the cutoff is then found, as with a fresh build;
/// only the order of the pairs of an atom can differ, so sums agree to round-off.
/// Not thread-safe: one instance per calculation stream.
/// </summary>
public sealed class VerletList
{
    private NeighborList? _wide;
    /// <summary>The pair buffers of the wide list's builds, kept for the next build (the wide list shares them: it is replaced at that build).</summary>
    private readonly NeighborList.BuildBuffers _buildBuffers = new();
    private Vec3[] _reference = [];
    private Matrix3 _cell;
    private PeriodicFlags _pbc;
    private int[] _offsets = [], _centers = [], _neighbors = [], _shifts = [];
    private Vec3[] _vectors = [];
    private double[] _distances = [];
    private int[] _reverse = [], _rank = [], _wideReverse = [];
    private Vec3[] _translations = [];

    public VerletList(double cutoff, double skin)
    {
        if (!(cutoff > 0) || !double.IsFinite(cutoff)) throw new ArgumentOutOfRangeException(nameof(cutoff));
        if (!(skin >= 0) || !double.IsFinite(skin)) throw new ArgumentOutOfRangeException(nameof(skin));
        Cutoff = cutoff;
        Skin = skin;
    }

    public double Cutoff { get; }
    public double Skin { get; }

    /// <summary>Number of cell-list builds so far.</summary>
    public int Builds { get; private set; }

    /// <summary>
    /// The full list within <see cref="Cutoff"/> for these positions. The returned list shares buffers
    /// with this instance: it is valid until the next call.
    /// </summary>
    public NeighborList Get(Structure s) => Skin == 0 ? NeighborList.Build(s.Cell, s.Positions, s.Pbc, Cutoff) : Filtered(s.Cell, s.Positions, s.Pbc);

    public NeighborList Get(Matrix3 cell, ReadOnlySpan<Vec3> positions, PeriodicFlags pbc) =>
        Skin == 0 ? NeighborList.Build(cell, positions, pbc, Cutoff) : Filtered(cell, EnsurePositions(positions), pbc);

    /// <summary>
    /// The filtered list of <paramref name="positions"/> (read, not copied, during the call). The displacement test of a
    /// reused wide list runs inside the parallel filter pass, per block (no serial O(atoms) pass before it): when an atom
    /// has moved more than skin/2, the wide list is built again and the filter repeated, so the list is the one the serial
    /// test before the filter gave (the same test, the same bits).
    /// </summary>
    private NeighborList Filtered(Matrix3 cell, Vec3[] positions, PeriodicFlags pbc)
    {
        int n = positions.Length;
        bool built = false;
        if (Stale(cell, n, pbc)) { BuildWide(cell, positions, pbc); built = true; }
        _filterPositions = positions;
        try
        {
            while (true)
            {
                PrepareFilter(n);
                _moved = 0;
                _checkMoved = !built;
                // 1. per block of atoms (parallel): the pairs within the cutoff, packed from the block's first wide pair on
                //    (a block's kept pairs never pass its wide ones), with no branch on the test: a rejected pair's slot is reused;
                //    and whether an atom of the block has moved more than skin/2 since the wide list was built
                MlipParallel.ForChunks(n, ChunkAtoms, () => 0, (first, end, _) => Filter(first, end));
                if (_moved == 0) break;
                BuildWide(cell, positions, pbc);
                built = true;
            }
        }
        finally { _filterPositions = []; }
        // 2. the offsets (serial, O(atoms))
        int count = 0;
        for (int i = 0; i < n; i++) { _offsets[i] = count; count += _rowCounts[i]; }
        _offsets[n] = count;
        // 3. each block's pairs moved to their place, with their distances, images and reverse pairs (parallel)
        MlipParallel.ForChunks(n, ChunkAtoms, () => 0, (first, end, _) => Place(first, end));
        return NeighborList.FromArrays(Cutoff, n, count, _offsets, _centers, _neighbors, _shifts, _vectors, _distances, _reverse);
    }

    /// <summary>The scratch of the filter pass, sized to the current wide list.</summary>
    private void PrepareFilter(int n)
    {
        var wl = _wide!;
        int widePairs = wl.PairCount;
        if (_wideReverse.Length != widePairs) _wideReverse = wl.Reverse.ToArray();
        if (_scratchNeighbors.Length < widePairs)
        {
            _scratchNeighbors = new int[widePairs]; _scratchWide = new int[widePairs]; _scratchVectors = new Vec3[widePairs];
        }
        if (_rowCounts.Length != n) _rowCounts = new int[n];
    }

    /// <summary>
    /// The wide rows (cut-off + skin) for these positions, without the per-call filter: each pair's vector is formed from the
    /// positions and its image translation (the same bits as <see cref="Get(Structure)"/>'s vectors, in the same order within a row),
    /// and the caller tests the distance against its cut-off, as LAMMPS's pair styles do with their skin. Valid until the next call.
    /// Without a skin: the rows of a fresh list at the cut-off.
    /// </summary>
    public PairRows Rows(Structure s) => Rows(s.Cell, s.Positions, s.Pbc);

    /// <inheritdoc cref="Rows(Structure)"/>
    public PairRows Rows(Matrix3 cell, ReadOnlySpan<Vec3> positions, PeriodicFlags pbc)
    {
        if (Skin == 0) return PairRows.Of(NeighborList.Build(cell, positions, pbc, Cutoff));
        EnsureWide(cell, positions, pbc);
        _positions = EnsurePositions(positions);
        return new PairRows(_wide!, _translations, _positions);
    }

    /// <summary>
    /// The wide rows of <paramref name="positions"/> (read, not copied) for a pass that makes the displacement test itself, per
    /// block (<see cref="MovedPastHalfSkin(ReadOnlySpan{Vec3}, int, int)"/>; no serial O(atoms) pass before it): the list is built
    /// first only when it cannot serve any positions (none yet, another atom count, cell or periodicity), and then
    /// <paramref name="built"/> is true (no test needed). When a block finds an atom moved past skin/2 the caller calls
    /// <see cref="RebuildRows"/> and runs its pass again: the same list as <see cref="Rows(Structure)"/> gives.
    /// </summary>
    internal PairRows RowsTestedByCaller(Matrix3 cell, Vec3[] positions, PeriodicFlags pbc, out bool built)
    {
        if (!(Skin > 0)) throw new InvalidOperationException("the wide rows need a positive skin");
        built = false;
        if (Stale(cell, positions.Length, pbc)) { BuildWide(cell, positions, pbc); built = true; }
        return new PairRows(_wide!, _translations, positions);
    }

    /// <summary>Builds the wide list of <paramref name="positions"/> again (an atom moved past skin/2) and gives its rows.</summary>
    internal PairRows RebuildRows(Matrix3 cell, Vec3[] positions, PeriodicFlags pbc)
    {
        BuildWide(cell, positions, pbc);
        return new PairRows(_wide!, _translations, positions);
    }

    /// <summary>Builds the wide list when an atom has moved more than half the skin since the last build (or the cell, periodicity or count changed).</summary>
    private void EnsureWide(Matrix3 cell, ReadOnlySpan<Vec3> positions, PeriodicFlags pbc)
    {
        if (NeedsBuild(cell, positions, pbc)) BuildWide(cell, positions, pbc);
    }

    /// <summary>Builds the wide list (cut-off + skin) of these positions and keeps them as the reference of the displacement test.</summary>
    private void BuildWide(Matrix3 cell, ReadOnlySpan<Vec3> positions, PeriodicFlags pbc)
    {
        int n = positions.Length;
        {
            var wide = NeighborList.Build(cell, positions, pbc, Cutoff + Skin, null, _buildBuffers);
            _wide = wide;
            if (_reference.Length != n) _reference = new Vec3[n];
            positions.CopyTo(_reference);
            _cell = cell; _pbc = pbc;
            Builds++;
            int cap = wide.PairCount;
            if (_neighbors.Length < cap)
            {
                _centers = new int[cap]; _neighbors = new int[cap]; _shifts = new int[3 * cap];
                _vectors = new Vec3[cap]; _distances = new double[cap]; _reverse = new int[cap];
                _translations = new Vec3[cap]; _rank = new int[cap];
            }
            if (_offsets.Length != n + 1) _offsets = new int[n + 1];
            // the image translation S·Cell of every wide pair, as NeighborList.PairVector forms it (same bits), in parallel
            // blocks of atoms' rows (each pair's on its own: the same bits on any number of threads; serial, this was
            // O(pairs) of every rebuild on the MD loop's thread)
            var translations = _translations;
            MlipParallel.ForChunks(n, ChunkAtoms, static () => 0, (first, end, _) =>
            {
                var ws = wide.Shifts; var wo = wide.Offsets;
                for (int p = wo[first]; p < wo[end]; p++)
                    translations[p] = NeighborList.PairVector(default, default, cell, ws[3 * p], ws[3 * p + 1], ws[3 * p + 2]);
            });
            _wideReverse = [];
        }
    }

    /// <summary>Atoms per block of the parallel passes (fixed: the list does not depend on the thread count).</summary>
    private const int ChunkAtoms = 256;

    private Vec3[] _positions = [];
    /// <summary>The positions the running filter pass reads; whether it tests the displacements, and whether a block found an atom moved past skin/2 (set to 1 by any block).</summary>
    private Vec3[] _filterPositions = [];
    private bool _checkMoved;
    private int _moved;
    private int[] _scratchNeighbors = [], _scratchWide = [], _rowCounts = [];
    private Vec3[] _scratchVectors = [];

    private Vec3[] EnsurePositions(ReadOnlySpan<Vec3> positions)
    {
        if (_positions.Length != positions.Length) _positions = new Vec3[positions.Length];
        positions.CopyTo(_positions);
        return _positions;
    }

    private void Filter(int first, int end)
    {
        var wl = _wide!;
        var wn = wl.Neighbors; var wo = wl.Offsets;
        var positions = _filterPositions; var translations = _translations;
        var sn = _scratchNeighbors; var sw = _scratchWide; var sv = _scratchVectors; var rank = _rank;
        double rc2 = Cutoff * Cutoff;
        // NeedsBuild's test on this block's atoms
        if (_checkMoved && MovedPastHalfSkin(positions, first, end)) { Volatile.Write(ref _moved, 1); return; }
        int w = wo[first];
        for (int i = first; i < end; i++)
        {
            int rowStart = w;
            Vec3 ri = positions[i];
            for (int p = wo[i]; p < wo[i + 1]; p++)
            {
                int j = wn[p];
                Vec3 rj = positions[j], t = translations[p];
                Vec3 v = new(rj.X - ri.X + t.X, rj.Y - ri.Y + t.Y, rj.Z - ri.Z + t.Z);
                double d2 = v.X * v.X + v.Y * v.Y + v.Z * v.Z;
                sn[w] = j; sw[w] = p; sv[w] = v;
                rank[p] = w - rowStart; // its place in the row if kept (read only for kept pairs)
                w += d2 < rc2 ? 1 : 0;
            }
            _rowCounts[i] = w - rowStart;
        }
    }

    private void Place(int first, int end)
    {
        var wl = _wide!;
        var wsh = wl.Shifts; var wo = wl.Offsets;
        var sn = _scratchNeighbors; var sw = _scratchWide; var sv = _scratchVectors;
        var rank = _rank; var wideReverse = _wideReverse;
        int from = wo[first];
        for (int i = first; i < end; i++)
        {
            for (int q = _offsets[i]; q < _offsets[i + 1]; q++, from++)
            {
                int p = sw[from];
                Vec3 v = sv[from];
                int j = sn[from];
                _centers[q] = i; _neighbors[q] = j;
                _shifts[3 * q] = wsh[3 * p]; _shifts[3 * q + 1] = wsh[3 * p + 1]; _shifts[3 * q + 2] = wsh[3 * p + 2];
                _vectors[q] = v; _distances[q] = Math.Sqrt(v.X * v.X + v.Y * v.Y + v.Z * v.Z);
                // the reverse of a kept pair is kept (its vector is the exact negative), at its rank in row j
                _reverse[q] = _offsets[j] + rank[wideReverse[p]];
            }
        }
    }

    /// <summary>Whether the wide list cannot serve these positions whatever they are: none yet, or another atom count, cell or periodicity.</summary>
    private bool Stale(Matrix3 cell, int n, PeriodicFlags pbc) => _wide is null || _reference.Length != n || !cell.Equals(_cell) || !pbc.Equals(_pbc);

    private bool NeedsBuild(Matrix3 cell, ReadOnlySpan<Vec3> positions, PeriodicFlags pbc)
    {
        if (Stale(cell, positions.Length, pbc)) return true;
        return MovedPastHalfSkin(positions, 0, positions.Length);
    }

    /// <summary>Whether an atom of <paramref name="first"/>..<paramref name="end"/> has moved more than skin/2 since the wide list was built.</summary>
    internal bool MovedPastHalfSkin(ReadOnlySpan<Vec3> positions, int first, int end)
    {
        var reference = _reference;
        double limit2 = 0.25 * Skin * Skin;
        for (int i = first; i < end; i++)
        {
            Vec3 d = positions[i] - reference[i];
            if (d.X * d.X + d.Y * d.Y + d.Z * d.Z > limit2) return true;
        }
        return false;
    }
}
