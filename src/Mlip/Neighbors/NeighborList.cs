using System.Runtime.CompilerServices;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Neighbors;

/// <summary>
/// Full neighbour list (every pair appears from both ends) within a cutoff, built with cell lists in
/// O(N) for any triclinic cell, periodic in any subset of directions, with cutoffs larger than the
/// cell (an atom then meets several periodic images of the same neighbour, and its own images).
///
/// Layout is compressed rows: the pairs of centre atom i are p = Offsets[i] .. Offsets[i+1]-1; for
/// each pair, Neighbors[p] = j, Shifts[3p..3p+2] = image S (integers along a, b, c), Vectors[p] =
/// r_ij = r_j + S·Cell − r_i (Å, from the positions as given, not wrapped) and Distances[p] = |r_ij|.
/// The pair (i, i, S = 0) is never listed.
/// </summary>
public sealed class NeighborList
{
    private readonly int[] _offsets, _centers, _neighbors, _shifts;
    private readonly Vec3[] _vectors;
    private readonly double[] _distances;
    private readonly int _pairs;
    private int[]? _reverse;
    private readonly bool _reverseGiven;

    private NeighborList(double cutoff, int atoms, int pairs, int[] offsets, int[] centers, int[] neighbors, int[] shifts, Vec3[] vectors, double[] distances, int[]? reverse = null)
    {
        _reverse = reverse;
        _reverseGiven = reverse is not null;
        Cutoff = cutoff;
        AtomCount = atoms;
        _pairs = pairs;
        _offsets = offsets;
        _centers = centers;
        _neighbors = neighbors;
        _shifts = shifts;
        _vectors = vectors;
        _distances = distances;
    }

    /// <summary>Wraps existing compressed-row arrays (no copy); for <see cref="VerletList"/>.</summary>
    internal static NeighborList FromArrays(double cutoff, int atoms, int pairs, int[] offsets, int[] centers, int[] neighbors, int[] shifts, Vec3[] vectors, double[] distances, int[]? reverse = null) =>
        new(cutoff, atoms, pairs, offsets, centers, neighbors, shifts, vectors, distances, reverse);

    public double Cutoff { get; }
    public int AtomCount { get; }
    public int PairCount => _pairs;

    /// <summary>AtomCount + 1 entries; the pairs of atom i are Offsets[i] .. Offsets[i+1]-1.</summary>
    public ReadOnlySpan<int> Offsets => _offsets;

    /// <summary>The centre atom i of each pair.</summary>
    public ReadOnlySpan<int> Centers => _centers.AsSpan(0, _pairs);

    /// <summary>The neighbour atom j of each pair.</summary>
    public ReadOnlySpan<int> Neighbors => _neighbors.AsSpan(0, _pairs);

    /// <summary>Three integers per pair: the periodic image of j along a, b, c.</summary>
    public ReadOnlySpan<int> Shifts => _shifts.AsSpan(0, 3 * _pairs);

    /// <summary>r_ij = r_j + S·Cell − r_i for each pair (Å).</summary>
    public ReadOnlySpan<Vec3> Vectors => _vectors.AsSpan(0, _pairs);

    /// <summary>|r_ij| for each pair (Å).</summary>
    public ReadOnlySpan<double> Distances => _distances.AsSpan(0, _pairs);

    /// <summary>The neighbours of atom i (indices j).</summary>
    public ReadOnlySpan<int> NeighborsOf(int i) => _neighbors.AsSpan(_offsets[i], _offsets[i + 1] - _offsets[i]);

    /// <summary>The pair vectors r_ij of atom i.</summary>
    public ReadOnlySpan<Vec3> VectorsOf(int i) => _vectors.AsSpan(_offsets[i], _offsets[i + 1] - _offsets[i]);

    /// <summary>The distances of atom i's neighbours.</summary>
    public ReadOnlySpan<double> DistancesOf(int i) => _distances.AsSpan(_offsets[i], _offsets[i + 1] - _offsets[i]);

    /// <summary>
    /// For each pair p = (i, j, S) the index of the same pair seen from the other end, (j, i, −S) (computed at the first
    /// call and kept). A full list holds both ends of every pair, so this is defined for every p; Reverse[Reverse[p]] = p,
    /// and an atom's pair with its own image S pairs with its image −S.
    /// </summary>
    public ReadOnlySpan<int> Reverse => (_reverse ??= ReverseIndex()).AsSpan(0, _pairs);

    /// <summary>
    /// Whether the builder gave <see cref="Reverse"/> with the list (the MD Verlet list places each kept pair's reverse as it
    /// filters): then it costs no pass over the pairs. A property of how the list was made, not of earlier calls, so a consumer
    /// that picks its summation by it gives the same bits whatever ran before.
    /// </summary>
    internal bool ReverseGiven => _reverseGiven;

    /// <summary>The reverse index: <see cref="ReverseByRowScan"/> for lists of many atoms with short rows, else <see cref="ReverseBySort"/>.</summary>
    private int[] ReverseIndex()
    {
        if (AtomCount >= 2 * ReverseBlock && _pairs <= ScanRowLength * (long)AtomCount && ReverseByRowScan() is int[] scanned) return scanned;
        return ReverseBySort();
    }

    /// <summary>Atoms per block of <see cref="ReverseByRowScan"/>; the longest mean row (pairs per atom) for which it is used instead of the serial sort.</summary>
    private const int ReverseBlock = 256, ScanRowLength = 48;

    /// <summary>
    /// The reverse of every pair found by scanning the neighbour's row for (centre, −S), in parallel blocks of centres
    /// (each writes only its own pairs' entries): O(pairs × row length), cheap for short rows (Tersoff, SW: 16-30 pairs per
    /// atom in the wide list) and, unlike the counting sort, split over the cores. The reverse of a pair is unique, so this
    /// is the same index as <see cref="ReverseBySort"/>'s. Null when some pair has no reverse (the sort then says which).
    /// </summary>
    private int[]? ReverseByRowScan()
    {
        var reverse = new int[_pairs];
        int missing = 0;
        MlipParallel.ForChunks(AtomCount, ReverseBlock, static () => 0, (first, end, _) =>
        {
            var offsets = _offsets; var neighbors = _neighbors; var shifts = _shifts;
            for (int i = first; i < end; i++)
                for (int p = offsets[i]; p < offsets[i + 1]; p++)
                {
                    int j = neighbors[p], sa = -shifts[3 * p], sb = -shifts[3 * p + 1], sc = -shifts[3 * p + 2];
                    int q = offsets[j], stop = offsets[j + 1];
                    while (q < stop && (neighbors[q] != i || shifts[3 * q] != sa || shifts[3 * q + 1] != sb || shifts[3 * q + 2] != sc)) q++;
                    if (q == stop) { Volatile.Write(ref missing, 1); return; }
                    reverse[p] = q;
                }
        });
        return missing == 0 ? reverse : null;
    }

    /// <summary>
    /// The reverse of every pair in O(pairs + atoms): ordering the pairs by (centre, neighbour, S) and, separately, by
    /// (neighbour, centre, −S) — the first key of each pair's reverse — lists every pair and its reverse at the same place.
    /// Both orders come from stable counting sorts; pairs with the same centre and neighbour (several images, only
    /// when the cutoff passes half the cell) are put in order of their image.
    /// </summary>
    private int[] ReverseBySort()
    {
        int n = AtomCount, pairs = _pairs;
        var count = new int[n + 1];
        // by (neighbour, centre): counting sort on the neighbour of the pairs in list order (centres ascending)
        var byNeighbor = new int[pairs];
        for (int p = 0; p < pairs; p++) count[_neighbors[p] + 1]++;
        for (int a = 0; a < n; a++) count[a + 1] += count[a];
        for (int p = 0; p < pairs; p++) byNeighbor[count[_neighbors[p]]++] = p;
        // by (centre, neighbour): counting sort on the centre of that order
        var byCenter = new int[pairs];
        Array.Clear(count);
        for (int p = 0; p < pairs; p++) count[_centers[p] + 1]++;
        for (int a = 0; a < n; a++) count[a + 1] += count[a];
        foreach (int p in byNeighbor) byCenter[count[_centers[p]]++] = p;
        SortImageRuns(byCenter, byNeighbor: false);
        SortImageRuns(byNeighbor, byNeighbor: true);
        var reverse = new int[pairs];
        for (int k = 0; k < pairs; k++)
        {
            int p = byCenter[k], q = byNeighbor[k];
            if (_centers[p] != _neighbors[q] || _neighbors[p] != _centers[q]
                || _shifts[3 * p] != -_shifts[3 * q] || _shifts[3 * p + 1] != -_shifts[3 * q + 1] || _shifts[3 * p + 2] != -_shifts[3 * q + 2])
                throw new InvalidOperationException($"the pair {_centers[p]}-{_neighbors[p]} has no reverse in the neighbour list");
            reverse[p] = q;
        }
        return reverse;
    }

    /// <summary>Orders each run of pairs with the same centre and neighbour by image S (by −S for the neighbour-major order).</summary>
    private void SortImageRuns(int[] order, bool byNeighbor)
    {
        int sign = byNeighbor ? -1 : 1;
        for (int start = 0; start < order.Length;)
        {
            int end = start + 1;
            while (end < order.Length && _centers[order[end]] == _centers[order[start]] && _neighbors[order[end]] == _neighbors[order[start]]) end++;
            if (end - start > 1)
                Array.Sort(order, start, end - start, Comparer<int>.Create((x, y) =>
                {
                    for (int d = 0; d < 3; d++)
                    {
                        int c = (sign * _shifts[3 * x + d]).CompareTo(sign * _shifts[3 * y + d]);
                        if (c != 0) return c;
                    }
                    return 0;
                }));
            start = end;
        }
    }

    public int NeighborCount(int i) => _offsets[i + 1] - _offsets[i];

    public PairRange PairRange(int i) => new(_offsets[i], _offsets[i + 1]);

    /// <summary>
    /// The pair vector as every part of Mlip computes it: r_j − r_i + (Sa a + Sb b + Sc c).
    /// Brute-force references use this same expression so results agree to the last bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vec3 PairVector(Vec3 ri, Vec3 rj, in Matrix3 cell, int sa, int sb, int sc)
    {
        double tx = sa * cell.M00 + sb * cell.M10 + sc * cell.M20;
        double ty = sa * cell.M01 + sb * cell.M11 + sc * cell.M21;
        double tz = sa * cell.M02 + sb * cell.M12 + sc * cell.M22;
        return new Vec3(rj.X - ri.X + tx, rj.Y - ri.Y + ty, rj.Z - ri.Z + tz);
    }

    public static NeighborList Build(Structure s, double cutoff) =>
        Build(s.Cell, s.Positions, s.Pbc, cutoff, s.Source);

    /// <summary>Builds the list. Non-periodic directions may have a zero cell vector.</summary>
    public static NeighborList Build(Matrix3 cell, ReadOnlySpan<Vec3> positions, PeriodicFlags pbc, double cutoff, InputLocation? where = null) =>
        Build(cell, positions, pbc, cutoff, where, null);

    /// <summary>
    /// The arrays of a parallel build kept for the next build by one owner (<see cref="VerletList"/>: its wide list is
    /// rebuilt every ~100 steps of a Tersoff run, ~9 MB of pair buffers each time on the large-object heap without them).
    /// The list a build returns shares <see cref="All"/>'s arrays: it is valid until the next build with the same buffers.
    /// </summary>
    internal sealed class BuildBuffers
    {
        internal PairBuffer[] Parts = [];
        internal PairBuffer? All;
    }

    /// <summary><see cref="Build(Matrix3, ReadOnlySpan{Vec3}, PeriodicFlags, double, InputLocation?)"/>, reusing <paramref name="reuse"/>'s arrays where given (the same list, bit for bit).</summary>
    internal static NeighborList Build(Matrix3 cell, ReadOnlySpan<Vec3> positions, PeriodicFlags pbc, double cutoff, InputLocation? where, BuildBuffers? reuse)
    {
        if (!(cutoff > 0) || !double.IsFinite(cutoff))
            throw new ArgumentOutOfRangeException(nameof(cutoff), "cutoff must be a positive finite number");
        int n = positions.Length;
        var grid = CellGrid.Create(cell, positions, pbc, cutoff, where ?? InputLocation.Unknown);

        int estimate = EstimatePairs(cell, pbc, n, cutoff);
        var offsets = new int[n + 1];
        int blocks = (n + BuildBlock - 1) / BuildBlock;
        if (blocks < 2)
        {
            var builder = new PairBuffer(estimate);
            Rows(grid, cell, positions, cutoff, 0, n, builder, offsets);
            offsets[n] = builder.Count;
            return builder.ToList(cutoff, n, offsets);
        }
        // parallel: each block of atoms fills its own buffer with its rows (the same rows, in the same order, as the
        // serial loop), then the blocks are copied into place: the same list, bit for bit, on any number of threads
        var copy = positions.ToArray();
        var parts = reuse is null ? new PairBuffer[blocks] : reuse.Parts.Length == blocks ? reuse.Parts : reuse.Parts = new PairBuffer[blocks];
        MlipParallel.ForChunks(n, BuildBlock, static () => 0, (first, end, _) =>
        {
            int b = first / BuildBlock;
            var part = parts[b] ?? new PairBuffer((int)Math.Min(int.MaxValue, (long)estimate * (end - first) / n + 64));
            part.Clear();
            Rows(grid, cell, copy, cutoff, first, end, part, offsets);
            parts[b] = part;
        });
        var starts = new int[blocks + 1];
        for (int b = 0; b < blocks; b++) starts[b + 1] = checked(starts[b] + parts[b].Count);
        int pairs = starts[blocks];
        PairBuffer all;
        if (reuse is null) all = new PairBuffer(Math.Max(1, pairs));
        else
        {
            all = reuse.All ??= new PairBuffer(Math.Max(1, pairs));
            all.EnsureCapacity(pairs);
        }
        MlipParallel.ForChunks(n, BuildBlock, static () => 0, (first, end, _) =>
        {
            int b = first / BuildBlock;
            for (int i = first; i < end; i++) offsets[i] += starts[b];
            all.CopyFrom(parts[b], starts[b]);
        });
        offsets[n] = pairs;
        return all.ToList(cutoff, n, offsets, pairs);
    }

    /// <summary>Atoms per block of a parallel build (blocks depend only on the atom count).</summary>
    private const int BuildBlock = 512;

    /// <summary>The rows of the atoms <paramref name="first"/>..<paramref name="end"/> − 1 into <paramref name="builder"/>; offsets[i] = the row's start in the builder.</summary>
    private static void Rows(CellGrid grid, Matrix3 cell, ReadOnlySpan<Vec3> positions, double cutoff, int first, int end, PairBuffer builder, int[] offsets)
    {
        double rc2 = cutoff * cutoff;
        var stencil = grid.Stencil;
        Span<int> t = stackalloc int[3];
        Span<int> image = stackalloc int[3];

        for (int i = first; i < end; i++)
        {
            offsets[i] = builder.Count;
            Vec3 ri = positions[i];
            int bi0 = grid.BinA[i], bi1 = grid.BinB[i], bi2 = grid.BinC[i];
            int oi0 = grid.WrapA[i], oi1 = grid.WrapB[i], oi2 = grid.WrapC[i];
            for (int st = 0; st < stencil.Length; st += 3)
            {
                if (!grid.Target(0, bi0 + stencil[st], out t[0], out image[0])) continue;
                if (!grid.Target(1, bi1 + stencil[st + 1], out t[1], out image[1])) continue;
                if (!grid.Target(2, bi2 + stencil[st + 2], out t[2], out image[2])) continue;
                int bin = (t[0] * grid.Nb + t[1]) * grid.Nc + t[2];
                int start = grid.BinStart[bin], stop = grid.BinStart[bin + 1];
                for (int q = start; q < stop; q++)
                {
                    int j = grid.Order[q];
                    // image relative to the positions as given: S = T + o_i − o_j
                    int sa = image[0] + oi0 - grid.WrapA[j];
                    int sb = image[1] + oi1 - grid.WrapB[j];
                    int sc = image[2] + oi2 - grid.WrapC[j];
                    if (j == i && sa == 0 && sb == 0 && sc == 0) continue;
                    Vec3 v = PairVector(ri, positions[j], cell, sa, sb, sc);
                    double d2 = v.X * v.X + v.Y * v.Y + v.Z * v.Z;
                    if (d2 < rc2) builder.Add(i, j, sa, sb, sc, v, Math.Sqrt(d2));
                }
            }
        }
    }

    /// <summary>Expected number of pairs for a periodic cell (ideal-gas count plus 15 %), to size the buffers once.</summary>
    private static int EstimatePairs(Matrix3 cell, PeriodicFlags pbc, int n, double cutoff)
    {
        double volume = Math.Abs(cell.Determinant);
        if (!pbc.AllPeriodic || !(volume > 0)) return Math.Max(16, n * 16);
        double perAtom = 4.0 / 3.0 * Math.PI * cutoff * cutoff * cutoff * n / volume;
        double total = Math.Ceiling(1.15 * perAtom * n) + 64;
        return total > 16 ? (int)Math.Min(total, 1 << 20) : 16; // a first guess: the buffers grow when needed
    }

    /// <summary>Growable pair storage (amortised doubling; no allocation per pair).</summary>
    internal sealed class PairBuffer(int capacity)
    {
        private int[] _centers = new int[capacity];
        private int[] _neighbors = new int[capacity];
        private int[] _shifts = new int[3 * capacity];
        private Vec3[] _vectors = new Vec3[capacity];
        private double[] _distances = new double[capacity];

        public int Count { get; private set; }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(int i, int j, int sa, int sb, int sc, Vec3 v, double d)
        {
            if (Count == _neighbors.Length) Grow();
            int p = Count++;
            _centers[p] = i;
            _neighbors[p] = j;
            _shifts[3 * p] = sa;
            _shifts[3 * p + 1] = sb;
            _shifts[3 * p + 2] = sc;
            _vectors[p] = v;
            _distances[p] = d;
        }

        /// <summary>Empties the buffer, keeping its arrays.</summary>
        public void Clear() => Count = 0;

        /// <summary>Room for <paramref name="pairs"/> pairs (for <see cref="CopyFrom"/>); the contents are not kept when it grows.</summary>
        public void EnsureCapacity(int pairs)
        {
            if (_neighbors.Length >= pairs) return;
            int cap = Math.Max(pairs, _neighbors.Length + _neighbors.Length / 4);
            _centers = new int[cap]; _neighbors = new int[cap]; _shifts = new int[3 * cap]; _vectors = new Vec3[cap]; _distances = new double[cap];
        }

        private void Grow()
        {
            int cap = _neighbors.Length * 2;
            Array.Resize(ref _centers, cap);
            Array.Resize(ref _neighbors, cap);
            Array.Resize(ref _shifts, 3 * cap);
            Array.Resize(ref _vectors, cap);
            Array.Resize(ref _distances, cap);
        }

        public NeighborList ToList(double cutoff, int atoms, int[] offsets)
        {
            return new NeighborList(cutoff, atoms, Count, offsets, _centers, _neighbors, _shifts, _vectors, _distances);
        }

        /// <summary>A list of <paramref name="pairs"/> pairs filled by <see cref="CopyFrom"/> (not by <see cref="Add"/>).</summary>
        public NeighborList ToList(double cutoff, int atoms, int[] offsets, int pairs)
        {
            return new NeighborList(cutoff, atoms, pairs, offsets, _centers, _neighbors, _shifts, _vectors, _distances);
        }

        /// <summary>Copies the pairs of <paramref name="part"/> to positions <paramref name="at"/>.. (disjoint ranges may be copied concurrently).</summary>
        public void CopyFrom(PairBuffer part, int at)
        {
            int c = part.Count;
            Array.Copy(part._centers, 0, _centers, at, c);
            Array.Copy(part._neighbors, 0, _neighbors, at, c);
            Array.Copy(part._shifts, 0, _shifts, 3 * at, 3 * c);
            Array.Copy(part._vectors, 0, _vectors, at, c);
            Array.Copy(part._distances, 0, _distances, at, c);
        }
    }
}

/// <summary>A range of pair indices [Start, End) that can be enumerated without allocation.</summary>
public readonly struct PairRange(int start, int end)
{
    public int Start { get; } = start;
    public int End { get; } = end;
    public int Count => End - Start;
    public Enumerator GetEnumerator() => new(Start, End);

    public struct Enumerator(int start, int end)
    {
        private int _current = start - 1;
        public readonly int Current => _current;
        public bool MoveNext() => ++_current < end;
    }
}
