using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Calculators;

/// <summary>
/// Sums of pair-vector gradients: for g = ∂E/∂r_ij (r_ij = r_j − r_i), F_i += g, F_j −= g and the
/// strain derivative gains g ⊗ r_ij, so σ = (1/V) Σ g ⊗ r_ij (tension positive), as
/// <see cref="Models.ForceContraction"/> does for the machine-learned models.
/// </summary>
public sealed class ForceSum
{
    private readonly double[] fx, fy, fz;
    private double wxx, wyy, wzz, wyz, wzy, wxz, wzx, wxy, wyx;

    public ForceSum(int atoms)
    {
        fx = new double[atoms]; fy = new double[atoms]; fz = new double[atoms];
        AtomEnergies = new double[atoms];
    }

    /// <summary>Energy of each atom (eV), filled by the potential.</summary>
    public double[] AtomEnergies { get; }

    /// <summary>Adds the gradient <paramref name="g"/> of the energy with respect to the pair vector <paramref name="r"/> from atom i to atom j.</summary>
    public void Add(int i, int j, Vec3 r, Vec3 g)
    {
        fx[i] += g.X; fy[i] += g.Y; fz[i] += g.Z;
        fx[j] -= g.X; fy[j] -= g.Y; fz[j] -= g.Z;
        wxx += g.X * r.X; wyy += g.Y * r.Y; wzz += g.Z * r.Z;
        wyz += g.Y * r.Z; wzy += g.Z * r.Y;
        wxz += g.X * r.Z; wzx += g.Z * r.X;
        wxy += g.X * r.Y; wyx += g.Y * r.X;
    }

    /// <summary>Adds the forces, virial and atom energies of <paramref name="other"/> (a partial sum over other centres) to this sum.</summary>
    public void Add(ForceSum other)
    {
        if (other.fx.Length != fx.Length) throw new ArgumentException("the sums have different atom counts", nameof(other));
        for (int i = 0; i < fx.Length; i++)
        {
            fx[i] += other.fx[i]; fy[i] += other.fy[i]; fz[i] += other.fz[i];
            AtomEnergies[i] += other.AtomEnergies[i];
        }
        wxx += other.wxx; wyy += other.wyy; wzz += other.wzz;
        wyz += other.wyz; wzy += other.wzy; wxz += other.wxz; wzx += other.wzx; wxy += other.wxy; wyx += other.wyx;
    }

    public Vec3[] Forces()
    {
        var f = new Vec3[fx.Length];
        for (int i = 0; i < f.Length; i++) f[i] = new Vec3(fx[i], fy[i], fz[i]);
        return f;
    }

    /// <summary>Stress (GPa, tension positive) for a cell of this volume; null without a cell.</summary>
    public Stress? Stress(double volume)
    {
        if (!(volume > 0)) return null;
        double s = Structures.Stress.EvPerCubicAngstromInGpa / volume;
        return new Stress(s * wxx, s * wyy, s * wzz, s * 0.5 * (wyz + wzy), s * 0.5 * (wxz + wzx), s * 0.5 * (wxy + wyx));
    }
}

/// <summary>
/// What a classical potential adds for its centres: the energy of each centre atom, and for each pair p = (i, j) of the
/// neighbour list the gradient ∂E/∂r_p of the energy with respect to the pair vector r_p = r_j − r_i, added by the centre
/// i only (every term of SW, Tersoff, EAM and the pair potentials is a function of a centre's own pair vectors). A pair
/// term both ends share may be added by one end only (the one with p &lt; Reverse[p], as a half list would), its energy
/// then given with <see cref="AddPairEnergy"/> so that each end gets half. Forces follow by gathering each atom's own
/// pairs, F_i = Σ_p∈i (g_p − g_Reverse[p]), and the virial is Σ_p g_p ⊗ r_p: no two centres write the same element,
/// so a pass parallel over centres gives the same bits on any number of threads.
/// </summary>
public sealed class PairSum
{
    private Vec3[] _gradients = [];
    private double[] _pairEnergies = [], _atomEnergies = [];
    private int _pairs, _atoms;

    /// <summary>Sizes the sums for a list of <paramref name="atoms"/> atoms and <paramref name="pairs"/> pairs (buffers grow, are not shrunk); <see cref="Clear"/> zeroes them.</summary>
    internal void Reset(int atoms, int pairs)
    {
        if (_gradients.Length < pairs) { _gradients = new Vec3[pairs + pairs / 4]; _pairEnergies = new double[_gradients.Length]; }
        if (_atomEnergies.Length < atoms) _atomEnergies = new double[atoms];
        _pairs = pairs; _atoms = atoms;
    }

    /// <summary>Zeroes the entries of the atoms <paramref name="first"/>..<paramref name="end"/> − 1 and of the pairs <paramref name="firstPair"/>..<paramref name="endPair"/> − 1 (their pairs), in the block that then fills them.</summary>
    internal void Clear(int first, int end, int firstPair, int endPair)
    {
        Array.Clear(_gradients, firstPair, endPair - firstPair);
        Array.Clear(_pairEnergies, firstPair, endPair - firstPair);
        Array.Clear(_atomEnergies, first, end - first);
    }

    /// <summary>Energy of each centre atom (eV), added by the potential for its own centres.</summary>
    public Span<double> AtomEnergies => _atomEnergies.AsSpan(0, _atoms);

    /// <summary>Per pair of the list: ∂E/∂r_p, added by the centre of p.</summary>
    public Span<Vec3> Gradients => _gradients.AsSpan(0, _pairs);

    /// <summary>Adds <paramref name="g"/> = ∂E/∂r_p to the pair <paramref name="pair"/> (a pair of the centre being computed).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void Add(int pair, Vec3 g) => _gradients[pair] += g;

    /// <summary>The energy <paramref name="e"/> of a pair term added by one end only: half goes to each atom of the pair.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void AddPairEnergy(int pair, double e) => _pairEnergies[pair] += e;

    internal ReadOnlySpan<double> PairEnergies => _pairEnergies.AsSpan(0, _pairs);

    /// <summary>The per-pair energies to write in place (<see cref="ClassicalPotential"/>'s row passes).</summary>
    internal Span<double> PairEnergySlots => _pairEnergies.AsSpan(0, _pairs);
}

/// <summary>
/// Base of the classical potentials: maps atomic numbers to the potential's species, builds the full
/// neighbour list at <see cref="Cutoff"/> and lets the potential add energies and pair-vector
/// gradients to a <see cref="ForceSum"/>.
/// </summary>
public abstract class ClassicalPotential : IForceWriter
{
    private readonly int[] typeOf = new int[Structures.Elements.MaxAtomicNumber + 1];

    /// <param name="elements">The species, in the order of the potential's parameter tables; empty for a potential that treats every element alike (then every atom has species 0).</param>
    protected ClassicalPotential(IReadOnlyList<int> elements)
    {
        Elements = elements.ToArray();
        Array.Fill(typeOf, Elements.Count == 0 ? 0 : -1);
        for (int t = 0; t < Elements.Count; t++) typeOf[Elements[t]] = t;
    }

    public abstract string Name { get; }

    /// <summary>The elements of the parameter tables; empty when the potential takes any element.</summary>
    public IReadOnlyList<int> Elements { get; }

    /// <summary>Largest interaction distance (Å).</summary>
    public abstract double Cutoff { get; }

    /// <summary>Number of species in the parameter tables (1 for an element-blind potential).</summary>
    protected int SpeciesCount => Math.Max(1, Elements.Count);

    private readonly ReusedNeighborList _neighbors = new();

    /// <summary>
    /// Verlet skin (Å) for reusing the neighbour list across calls (MD, relaxation): 0 (default) builds a fresh list every
    /// call; a positive value keeps a list at <see cref="Cutoff"/> + skin (<see cref="ReusedNeighborList"/>). Calls are then
    /// serialised on this calculator.
    /// </summary>
    public double NeighborSkin { get => _neighbors.Skin; set => _neighbors.Skin = value; }

    /// <summary>Number of neighbour-list builds done by the reused list (0 without a skin).</summary>
    public int NeighborListBuilds => _neighbors.Builds;

    public CalculatorResult Calculate(Structure structure, bool forces = true, bool stress = true)
    {
        var f = forces ? new Vec3[structure.Count] : null;
        var atomEnergies = new double[structure.Count];
        var (e, s) = Evaluate(structure, f, stress, atomEnergies);
        return new CalculatorResult(e, f, s, atomEnergies);
    }

    /// <summary>
    /// Energy and stress, with the forces written into <paramref name="forces"/> (length: the atom count) and no other
    /// array formed: what an MD step needs, without allocating per step.
    /// </summary>
    public (double Energy, Stress? Stress) CalculateInto(Structure structure, Span<Vec3> forces, bool stress = true)
    {
        if (forces.Length != structure.Count) throw new ArgumentException($"expected {structure.Count} forces, got {forces.Length}", nameof(forces));
        return Evaluate(structure, forces, stress, default);
    }

    private int[] Types(Structure structure, int[]? reuse)
    {
        var types = reuse is not null && reuse.Length == structure.Count ? reuse : new int[structure.Count];
        for (int i = 0; i < types.Length; i++)
        {
            int z = structure.AtomicNumbers[i];
            int t = z >= 0 && z < typeOf.Length ? typeOf[z] : -1;
            if (t < 0)
                throw new MlipInputException(structure.Source ?? InputLocation.Unknown, $"{Name} has parameters for {string.Join(" ", Elements.Select(Structures.Elements.Symbol))} only, not {Structures.Elements.Symbol(z)}");
            types[i] = t;
        }
        return types;
    }

    /// <summary>Buffers of one evaluation, reused by the next (taken by one call at a time).</summary>
    private sealed class Workspace
    {
        public readonly PairSum Sum = new();
        public int[]? Types;
        public double[] Virials = [];
        public Vec3[] Forces = [];
        public double[] AtomEnergies = [];
        public double[] PerAtom = [];
        public readonly KeptPairs Kept = new();
    }

    private Workspace? _spare;

    private (double Energy, Stress? Stress) Evaluate(Structure structure, Span<Vec3> forces, bool stress, Span<double> atomEnergies)
    {
        var work = Interlocked.Exchange(ref _spare, null) ?? new Workspace();
        try
        {
            var types = work.Types = Types(structure, work.Types);
            if (SumsOwnRows)
            {
                double volume = stress ? structure.Volume : double.NaN;
                if (_neighbors.Skin > 0)
                {
                    lock (_neighbors.Gate)
                    {
                        // the wide rows of the current positions (read, not copied); the displacement test runs in the
                        // potential's first pass, per block: an atom past skin/2 there, the list is built again and the pass
                        // run again (the same list, the same bits as a serial test before the passes)
                        var list = _neighbors.List(Cutoff);
                        long t0 = StagePerf.Now;
                        var rows = list.RowsTestedByCaller(structure.Cell, structure.Positions, structure.Pbc, out bool builtNow);
                        StagePerf.Add(0, t0);
                        while (true)
                        {
                            if (SumOwn(rows, types, work, forces, volume, atomEnergies, builtNow ? null : list) is { } done) return done;
                            long tr = StagePerf.Now;
                            rows = list.RebuildRows(structure.Cell, structure.Positions, structure.Pbc);
                            builtNow = true;
                            StagePerf.Add(0, tr);
                        }
                    }
                }
                long tb = StagePerf.Now;
                var built = PairRows.Of(NeighborList.Build(structure, Cutoff));
                StagePerf.Add(0, tb);
                return SumOwn(built, types, work, forces, volume, atomEnergies, null)!.Value;
            }
            if (ComputesRows && _neighbors.Skin > 0)
            {
                lock (_neighbors.Gate)
                    return SumWideRows(_neighbors.List(Cutoff), structure, types, work, forces, stress ? structure.Volume : double.NaN, atomEnergies);
            }
            if (_neighbors.Skin > 0)
            {
                lock (_neighbors.Gate)
                {
                    long t0 = StagePerf.Now;
                    var list = _neighbors.Get(structure, Cutoff);
                    StagePerf.Add(0, t0);
                    return Sum(list, types, work, forces, stress ? structure.Volume : double.NaN, atomEnergies);
                }
            }
            long t1 = StagePerf.Now;
            var fresh = NeighborList.Build(structure, Cutoff);
            StagePerf.Add(0, t1);
            return Sum(fresh, types, work, forces, stress ? structure.Volume : double.NaN, atomEnergies);
        }
        finally { _spare = work; }
    }

    /// <summary>Centres per block of the parallel passes (fixed: the blocks depend only on the atom count).</summary>
    protected const int BlockAtoms = 128;

    /// <summary>
    /// The energies and pair-vector gradients of all centres, parallel over blocks of centres (each writes only its own
    /// centres' pairs), then the forces gathered per atom from its own pairs and the virial summed per block, the block
    /// sums added in block order: the same bits on any number of threads.
    /// </summary>
    private (double Energy, Stress? Stress) Sum(NeighborList nl, int[] types, Workspace work, Span<Vec3> forcesOut, double volume, Span<double> atomEnergiesOut)
    {
        int n = nl.AtomCount;
        long t0 = StagePerf.Now;
        var sum = work.Sum;
        sum.Reset(n, nl.PairCount);
        _ = nl.Reverse; // formed once, before the parallel passes read it
        var prepared = Prepare(nl, types);
        long t1 = StagePerf.Add(1, t0);
        try
        {
            if (ParallelOverCentres)
                MlipParallel.ForChunks(n, BlockAtoms, () => 0, (first, end, _) =>
                {
                    sum.Clear(first, end, nl.Offsets[first], nl.Offsets[end]);
                    Compute(nl, types, sum, first, end, prepared);
                });
            else
            {
                sum.Clear(0, n, 0, nl.PairCount);
                Compute(nl, types, sum, 0, n, prepared);
            }
        }
        finally { Release(prepared); }
        long t2 = StagePerf.Add(2, t1);

        int blocks = (n + BlockAtoms - 1) / BlockAtoms;
        if (work.Virials.Length < 10 * blocks) work.Virials = new double[10 * blocks];
        var virials = work.Virials;
        if (work.Forces.Length < n) { work.Forces = new Vec3[n]; work.AtomEnergies = new double[n]; }
        var forces = work.Forces; var atomEnergies = work.AtomEnergies;
        MlipParallel.ForChunks(n, BlockAtoms, () => 0, (first, end, _) =>
        {
            var g = sum.Gradients; var pe = sum.PairEnergies; var ae = sum.AtomEnergies;
            var rev = nl.Reverse; var offsets = nl.Offsets; var vectors = nl.Vectors;
            double e = 0, xx = 0, yy = 0, zz = 0, yz = 0, zy = 0, xz = 0, zx = 0, xy = 0, yx = 0;
            for (int i = first; i < end; i++)
            {
                double fx = 0, fy = 0, fz = 0, half = 0;
                for (int p = offsets[i]; p < offsets[i + 1]; p++)
                {
                    int q = rev[p];
                    Vec3 gp = g[p], gq = g[q], r = vectors[p];
                    fx += gp.X - gq.X; fy += gp.Y - gq.Y; fz += gp.Z - gq.Z;
                    half += pe[p] + pe[q];
                    xx += gp.X * r.X; yy += gp.Y * r.Y; zz += gp.Z * r.Z;
                    yz += gp.Y * r.Z; zy += gp.Z * r.Y; xz += gp.X * r.Z; zx += gp.Z * r.X; xy += gp.X * r.Y; yx += gp.Y * r.X;
                }
                double ei = ae[i] + 0.5 * half;
                e += ei;
                forces[i] = new Vec3(fx, fy, fz);
                atomEnergies[i] = ei;
            }
            var w = virials.AsSpan(10 * (first / BlockAtoms), 10);
            w[0] = e; w[1] = xx; w[2] = yy; w[3] = zz; w[4] = yz; w[5] = zy; w[6] = xz; w[7] = zx; w[8] = xy; w[9] = yx;
        });
        if (!forcesOut.IsEmpty) forces.AsSpan(0, n).CopyTo(forcesOut);
        if (!atomEnergiesOut.IsEmpty) atomEnergies.AsSpan(0, n).CopyTo(atomEnergiesOut);
        StagePerf.Add(3, t2);
        Span<double> total = stackalloc double[10];
        for (int b = 0; b < blocks; b++)
            for (int k = 0; k < 10; k++) total[k] += virials[10 * b + k];
        Stress? stress = null;
        if (volume > 0)
        {
            double s = Structures.Stress.EvPerCubicAngstromInGpa / volume;
            stress = new Stress(s * total[1], s * total[2], s * total[3], s * 0.5 * (total[4] + total[5]), s * 0.5 * (total[6] + total[7]), s * 0.5 * (total[8] + total[9]));
        }
        return (total[0], stress);
    }

    /// <summary>
    /// The MD path of a potential with <see cref="ComputesRows"/> on a Verlet list: two parallel passes over blocks of
    /// <see cref="BlockAtoms"/> centres on the wide rows (cut-off + skin), where the filtered list path takes four (filter,
    /// placement, potential, gather) and writes the filtered list every step. Pass 1, per block: the displacement test of its
    /// atoms (an atom past skin/2: the list is built again and the pass repeated), then for each centre its pairs within the
    /// cut-off (<see cref="RowBlock.Row"/>: the filter's vectors and test, the same bits), whose slots it zeroes and whose
    /// wide indices it keeps, the potential's terms (<see cref="ComputeRows"/>), and the block's virial over the kept pairs.
    /// Pass 2, per block: each atom's force and energy from its kept pairs and their reverses, the block's energy. Each
    /// thread writes only its own centres' entries and the block sums are added in block order, so the result is the same
    /// bits on any number of threads, and the same bits as the filtered list's path (the kept pairs in the same order, the
    /// same sums in the same order).
    /// </summary>
    private unsafe (double Energy, Stress? Stress) SumWideRows(VerletList list, Structure structure, int[] types, Workspace work, Span<Vec3> forcesOut, double volume, Span<double> atomEnergiesOut)
    {
        int n = structure.Count;
        var positions = structure.Positions;
        var cell = structure.Cell; var pbc = structure.Pbc;
        long t0 = StagePerf.Now;
        var rows = list.RowsTestedByCaller(cell, positions, pbc, out bool built);
        long t1 = StagePerf.Add(0, t0);
        int blocks = (n + BlockAtoms - 1) / BlockAtoms;
        if (work.Virials.Length < 10 * blocks) work.Virials = new double[10 * blocks];
        if (work.Forces.Length < n) { work.Forces = new Vec3[n]; work.AtomEnergies = new double[n]; }
        var virials = work.Virials; var forces = work.Forces; var atomEnergies = work.AtomEnergies; var kept = work.Kept;
        var sum = work.Sum;
        double cutSquared = Cutoff * Cutoff;
        while (true)
        {
            var wide = rows.List;
            _ = wide.Reverse; // formed once per list, before the parallel passes read it
            sum.Reset(n, wide.PairCount);
            kept.Reset(n, wide.PairCount);
            var pass = rows;
            bool test = !built;
            int moved = 0;
            MlipParallel.ForChunks(n, BlockAtoms, static () => 0, (first, end, _) =>
            {
                long c = StagePerf.ThreadNow;
                if (test && list.MovedPastHalfSkin(positions, first, end)) { Volatile.Write(ref moved, 1); return; }
                sum.Clear(first, end, 0, 0);
                ComputeRows(new RowBlock(pass, sum, kept, cutSquared, first, end), types, sum);
                BlockVirial(pass, sum.Gradients, kept, virials.AsSpan(10 * (first / BlockAtoms), 10), first, end);
                StagePerf.AddBlock(0, c);
            });
            if (Volatile.Read(ref moved) == 0) break;
            long tb = StagePerf.Now;
            rows = list.RebuildRows(cell, positions, pbc);
            built = true;
            StagePerf.Add(0, tb);
        }
        long t2 = StagePerf.Add(2, t1);
        var final = rows;
        // the gather writes the caller's forces itself (pinned for the pass): no serial copy after it, and each thread's
        // atoms' forces stay in its own cache for the integrator's next pass over the same atoms
        fixed (Vec3* into = forcesOut)
        {
            nint at = (nint)into;
            bool direct = !forcesOut.IsEmpty;
            MlipParallel.ForChunks(n, BlockAtoms, static () => 0, (first, end, _) =>
            {
                long c = StagePerf.ThreadNow;
                GatherKept(final, sum, kept, direct ? new Span<Vec3>((void*)at, n) : forces, atomEnergies,
                    virials.AsSpan(10 * (first / BlockAtoms), 10), first, end);
                StagePerf.AddBlock(1, c);
            });
        }
        if (!atomEnergiesOut.IsEmpty) atomEnergies.AsSpan(0, n).CopyTo(atomEnergiesOut);
        Span<double> total = stackalloc double[10];
        for (int b = 0; b < blocks; b++)
            for (int k = 0; k < 10; k++) total[k] += virials[10 * b + k];
        StagePerf.Add(3, t2);
        return (total[0], StressOf(total, volume));
    }

    /// <summary>The virial Σ g_p ⊗ r_p over the kept pairs of the centres <paramref name="first"/>..<paramref name="end"/> − 1, in row order, into <paramref name="w"/>[1..9] (the vectors formed as <see cref="RowBlock.Row"/> formed them).</summary>
    private static void BlockVirial(PairRows rows, ReadOnlySpan<Vec3> g, KeptPairs kept, Span<double> w, int first, int end)
    {
        var neighbors = rows.List.Neighbors;
        var positions = rows.Positions; var translations = rows.Translations;
        var pairOf = kept.Pair; var start = kept.Start; var count = kept.Count;
        double xx = 0, yy = 0, zz = 0, yz = 0, zy = 0, xz = 0, zx = 0, xy = 0, yx = 0;
        for (int i = first; i < end; i++)
        {
            Vec3 ri = positions[i];
            for (int s = start[i], stop = s + count[i]; s < stop; s++)
            {
                int p = pairOf[s];
                Vec3 rj = positions[neighbors[p]], t = translations[p];
                Vec3 r = new(rj.X - ri.X + t.X, rj.Y - ri.Y + t.Y, rj.Z - ri.Z + t.Z);
                Vec3 gp = g[s];
                xx += gp.X * r.X; yy += gp.Y * r.Y; zz += gp.Z * r.Z;
                yz += gp.Y * r.Z; zy += gp.Z * r.Y; xz += gp.X * r.Z; zx += gp.Z * r.X; xy += gp.X * r.Y; yx += gp.Y * r.X;
            }
        }
        w[1] = xx; w[2] = yy; w[3] = zz; w[4] = yz; w[5] = zy; w[6] = xz; w[7] = zx; w[8] = xy; w[9] = yx;
    }

    /// <summary>Each atom's force Σ_p (g_p − g_Reverse[p]) and energy over its kept pairs (in row order, as the filtered list's gather), the block's energy into <paramref name="w"/>[0].</summary>
    private static void GatherKept(PairRows rows, PairSum sum, KeptPairs kept, Span<Vec3> forces, double[] atomEnergies, Span<double> w, int first, int end)
    {
        var reverse = rows.List.Reverse;
        var g = sum.Gradients; var pe = sum.PairEnergies; var ae = sum.AtomEnergies;
        var pairOf = kept.Pair; var slotOf = kept.SlotOf; var start = kept.Start; var count = kept.Count;
        double e = 0;
        for (int i = first; i < end; i++)
        {
            double fx = 0, fy = 0, fz = 0, half = 0;
            for (int s = start[i], stop = s + count[i]; s < stop; s++)
            {
                int q = slotOf[reverse[pairOf[s]]];
                Vec3 gp = g[s], gq = g[q];
                fx += gp.X - gq.X; fy += gp.Y - gq.Y; fz += gp.Z - gq.Z;
                half += pe[s] + pe[q];
            }
            double ei = ae[i] + 0.5 * half;
            e += ei;
            forces[i] = new Vec3(fx, fy, fz);
            atomEnergies[i] = ei;
        }
        w[0] = e;
    }

    /// <summary>
    /// The pairs of the wide rows within the cut-off, each given a slot of the <see cref="PairSum"/>: a block's kept pairs
    /// are packed from the slot of its first wide pair on, in row order (dense, as the filtered list would hold them, so the
    /// gradients a pass writes and the gather reads share cache lines), with the wide pair of each slot, the slot of each
    /// kept wide pair (for the reverse pair's), and each atom's first slot and count.
    /// </summary>
    internal sealed class KeptPairs
    {
        public int[] Pair = [], SlotOf = [], Start = [], Count = [];

        /// <summary>Sizes the arrays for <paramref name="atoms"/> atoms and <paramref name="widePairs"/> wide pairs (grown, not shrunk).</summary>
        public void Reset(int atoms, int widePairs)
        {
            if (Pair.Length < widePairs) { Pair = new int[widePairs + widePairs / 4]; SlotOf = new int[Pair.Length]; }
            if (Start.Length < atoms) { Start = new int[atoms]; Count = new int[atoms]; }
        }
    }

    /// <summary>One pair of a centre's row within the cut-off, as <see cref="RowBlock.Row"/> hands it to <see cref="ComputeRows"/>.</summary>
    protected struct RowPair
    {
        /// <summary>The pair's slot in the <see cref="PairSum"/> (<see cref="PairSum.Add"/>, <see cref="PairSum.AddPairEnergy"/>).</summary>
        public int Pair;
        /// <summary>The neighbour atom.</summary>
        public int Neighbor;
        /// <summary>Whether this end has the lower pair index of the two (the end that adds a term both ends share, as a half list would).</summary>
        public bool Lower;
        /// <summary>|r_ij| (Å).</summary>
        public double Distance;
        /// <summary>r_ij = r_j − r_i (Å).</summary>
        public Vec3 Vector;
    }

    /// <summary>
    /// The rows of a block of centres for <see cref="ComputeRows"/>: either a filtered list (every pair of a row, as stored) or
    /// the wide rows of a Verlet list, filtered here per row to the pairs within <see cref="Cutoff"/> (their vectors formed
    /// from the positions and the image translations and tested as <see cref="VerletList"/>'s filter does: the same pairs
    /// in the same order, the same bits), each kept pair's gradient and energy slots zeroed and its wide index kept for the
    /// gather.
    /// </summary>
    protected ref struct RowBlock
    {
        private readonly ReadOnlySpan<int> _offsets, _neighbors, _reverse;
        private readonly ReadOnlySpan<Vec3> _vectors, _positions, _translations;
        private readonly ReadOnlySpan<double> _distances;
        private readonly Span<Vec3> _gradients;
        private readonly Span<double> _pairEnergies;
        private readonly KeptPairs? _kept;
        private int _nextSlot;
        private readonly double _cutSquared;

        /// <summary>The first centre of the block.</summary>
        public int First { get; }
        /// <summary>One past the last centre of the block.</summary>
        public int End { get; }

        /// <summary>The rows of a filtered list (its pairs as stored, slots = pair indices).</summary>
        internal RowBlock(NeighborList list, int first, int end)
        {
            _offsets = list.Offsets; _neighbors = list.Neighbors; _reverse = list.Reverse;
            _vectors = list.Vectors; _distances = list.Distances;
            First = first; End = end;
        }

        /// <summary>The wide rows of a Verlet list, filtered per row to the cut-off (<paramref name="cutSquared"/>).</summary>
        internal RowBlock(PairRows rows, PairSum sum, KeptPairs kept, double cutSquared, int first, int end)
        {
            _offsets = rows.List.Offsets; _neighbors = rows.List.Neighbors; _reverse = rows.List.Reverse;
            _positions = rows.Positions; _translations = rows.Translations;
            _gradients = sum.Gradients; _pairEnergies = sum.PairEnergySlots;
            _kept = kept; _cutSquared = cutSquared; _nextSlot = _offsets[first];
            First = first; End = end;
        }

        /// <summary>The longest row of the block (a bound on the pairs <see cref="Row"/> gives).</summary>
        public int WidestRow
        {
            get
            {
                int widest = 0;
                for (int i = First; i < End; i++) widest = Math.Max(widest, _offsets[i + 1] - _offsets[i]);
                return widest;
            }
        }

        /// <summary>The pairs of centre <paramref name="i"/> (of this block) within the cut-off, in row order, into <paramref name="into"/> (at least <see cref="WidestRow"/> long; entries past the count returned may be overwritten); returns their number. <see cref="RowPair.Pair"/> is the pair's slot in the <see cref="PairSum"/>. Call it once per centre, in order (the wide rows' slots are handed out in that order).</summary>
        public int Row(int i, scoped Span<RowPair> into)
        {
            int start = _offsets[i], stop = _offsets[i + 1], m = 0;
            if (_kept is null)
            {
                for (int p = start; p < stop; p++)
                {
                    ref RowPair rp = ref into[m++];
                    rp.Pair = p; rp.Neighbor = _neighbors[p]; rp.Lower = p < _reverse[p];
                    rp.Distance = _distances[p]; rp.Vector = _vectors[p];
                }
                return m;
            }
            // as the filter: no branch on the test (a rejected pair's slot is written and then reused), the square roots
            // and the slots' zeroing only for the kept pairs
            Vec3 ri = _positions[i];
            for (int p = start; p < stop; p++)
            {
                int j = _neighbors[p];
                Vec3 rj = _positions[j], t = _translations[p];
                Vec3 v = new(rj.X - ri.X + t.X, rj.Y - ri.Y + t.Y, rj.Z - ri.Z + t.Z);
                double d2 = v.X * v.X + v.Y * v.Y + v.Z * v.Z;
                ref RowPair rp = ref into[m];
                rp.Pair = p; rp.Neighbor = j; rp.Distance = d2; rp.Vector = v;
                m += d2 < _cutSquared ? 1 : 0;
            }
            int slot = _nextSlot;
            _kept.Start[i] = slot; _kept.Count[i] = m;
            for (int k = 0; k < m; k++, slot++)
            {
                ref RowPair rp = ref into[k];
                int p = rp.Pair;
                rp.Distance = Math.Sqrt(rp.Distance);
                rp.Lower = p < _reverse[p];
                rp.Pair = slot;
                _gradients[slot] = default; _pairEnergies[slot] = 0;
                _kept.Pair[slot] = p; _kept.SlotOf[p] = slot;
            }
            _nextSlot = slot;
            return m;
        }
    }

    /// <summary>
    /// Whether the potential computes a block of centres from their rows (<see cref="ComputeRows"/>: SW, Tersoff): then its
    /// MD steps on a Verlet list run on the wide rows (<see cref="SumWideRows"/>), without a filtered list.
    /// </summary>
    protected virtual bool ComputesRows => false;

    /// <summary>
    /// The energy of each centre of <paramref name="block"/> (into <see cref="PairSum.AtomEnergies"/>, zeroed before) and the
    /// gradients of its pairs (<see cref="PairSum.Add"/> with <see cref="RowPair.Pair"/>; pair terms both ends share from the
    /// <see cref="RowPair.Lower"/> end, their energy with <see cref="PairSum.AddPairEnergy"/>), from its pairs within the
    /// cut-off (<see cref="RowBlock.Row"/>). Called concurrently on disjoint blocks: a centre writes only its own entries.
    /// </summary>
    protected virtual void ComputeRows(RowBlock block, int[] types, PairSum sum) =>
        throw new NotSupportedException($"{Name} does not compute rows");

    /// <summary>
    /// The row pass (<see cref="SumsOwnRows"/>): <see cref="SumRows"/> writes each atom's force (into the caller's span
    /// itself, pinned for the pass: no serial copy after it) and energy and each block's energy and virial; the block sums are
    /// added in block order (the same bits on any number of threads). With <paramref name="test"/>, the pass tests the
    /// displacements since that list's build per block; null when an atom has moved past skin/2 (nothing written that counts:
    /// build the list again and call again).
    /// </summary>
    private unsafe (double Energy, Stress? Stress)? SumOwn(PairRows rows, int[] types, Workspace work, Span<Vec3> forcesOut, double volume, Span<double> atomEnergiesOut, VerletList? test)
    {
        int n = rows.AtomCount;
        long t0 = StagePerf.Now;
        int blocks = (n + BlockAtoms - 1) / BlockAtoms;
        if (work.Virials.Length < 10 * blocks) work.Virials = new double[10 * blocks];
        if (work.Forces.Length < n) { work.Forces = new Vec3[n]; work.AtomEnergies = new double[n]; }
        if (work.PerAtom.Length < n) work.PerAtom = new double[n];
        var virials = work.Virials;
        work.Sum.Reset(n, rows.List.PairCount);
        fixed (Vec3* into = forcesOut)
        {
            var target = forcesOut.IsEmpty ? new ForceTarget(work.Forces, n) : new ForceTarget(into, n);
            if (!SumRows(rows, types, target, work.AtomEnergies, work.PerAtom, virials, work.Sum, test)) return null;
        }
        long t1 = StagePerf.Add(2, t0);
        if (!atomEnergiesOut.IsEmpty) work.AtomEnergies.AsSpan(0, n).CopyTo(atomEnergiesOut);
        Span<double> total = stackalloc double[10];
        for (int b = 0; b < blocks; b++)
            for (int k = 0; k < 10; k++) total[k] += virials[10 * b + k];
        StagePerf.Add(3, t1);
        return (total[0], StressOf(total, volume));
    }

    private static Stress? StressOf(ReadOnlySpan<double> total, double volume)
    {
        if (!(volume > 0)) return null;
        double s = Structures.Stress.EvPerCubicAngstromInGpa / volume;
        return new Stress(s * total[1], s * total[2], s * total[3], s * 0.5 * (total[4] + total[5]), s * 0.5 * (total[6] + total[7]), s * 0.5 * (total[8] + total[9]));
    }

    /// <summary>
    /// Whether the potential forms each atom's energy and force itself from the rows of the list (<see cref="SumRows"/>) instead
    /// of writing per-pair gradients for the common gather (<see cref="Compute"/>): then it gets the wide rows of the Verlet
    /// list (no per-call filter) and tests the distances itself.
    /// </summary>
    protected virtual bool SumsOwnRows => false;

    /// <summary>
    /// The pass of a potential with <see cref="SumsOwnRows"/>: for every atom i its force (−∂E/∂r_i) into
    /// <paramref name="forces"/>[i] and its energy into <paramref name="atomEnergies"/>[i]; for every block b of
    /// <see cref="BlockAtoms"/> atoms, into <paramref name="blockTotals"/>[10 b ..]: the block's energy, then the virial
    /// Σ (∂E/∂r_ij) ⊗ r_ij over its pairs counted once (xx, yy, zz, yz, zy, xz, zx, xy, yx). <paramref name="perAtom"/>: scratch,
    /// one double per atom; <paramref name="pairs"/>: per-pair scratch, sized to the rows' pairs, not cleared. Rows may be wide (<see cref="PairRows.Wide"/>): skip pairs at or beyond the cut-off.
    /// With <paramref name="test"/> (wide rows reused from an earlier call), the first pass asks
    /// <see cref="VerletList.MovedPastHalfSkin"/> for each of its blocks before the block's work and returns false as soon as
    /// that pass is done if any block said yes (the caller builds the list again and calls again); true when the result stands.
    /// </summary>
    protected virtual bool SumRows(PairRows rows, int[] types, ForceTarget forces, double[] atomEnergies, double[] perAtom, double[] blockTotals, PairSum pairs, VerletList? test) =>
        throw new NotSupportedException($"{Name} computes per-pair gradients");

    /// <summary>Where <see cref="SumRows"/> writes the forces: the caller's span, pinned by the caller for the call, or a workspace array; each block writes only its own atoms'.</summary>
    protected readonly unsafe struct ForceTarget
    {
        private readonly Vec3* _at;
        private readonly Vec3[]? _array;
        private readonly int _count;

        internal ForceTarget(Vec3[] array, int count) { _array = array; _count = count; }
        internal ForceTarget(Vec3* at, int count) { _at = at; _count = count; }

        /// <summary>The forces of all atoms (valid during the call only).</summary>
        public Span<Vec3> Span => _array is not null ? _array.AsSpan(0, _count) : new Span<Vec3>(_at, _count);
    }

    /// <summary>Takes back what <see cref="Prepare"/> gave once the call is done with it (to keep its arrays for the next call).</summary>
    protected virtual void Release(object? prepared) { }

    /// <summary>Whether <see cref="Compute"/> may run on several blocks of centres at once (false: one block, serial).</summary>
    protected virtual bool ParallelOverCentres => true;

    /// <summary>Per-atom quantities every centre needs before the pass (EAM: the embedding derivative of each atom); null when none.</summary>
    protected virtual object? Prepare(NeighborList nl, int[] types) => null;

    /// <summary>
    /// Adds the energy of the centres <paramref name="first"/>..<paramref name="end"/> − 1 and the pair-vector gradients
    /// of their own pairs (the neighbour list is full: every pair appears from both ends; <see cref="NeighborList.Reverse"/>
    /// names the other end). Called concurrently on disjoint blocks of centres with the same <paramref name="sum"/>: a
    /// centre writes only its own atom energy and its own pairs' entries.
    /// </summary>
    protected virtual void Compute(NeighborList nl, int[] types, PairSum sum, int first, int end, object? prepared)
    {
        if (!ComputesRows) throw new NotSupportedException($"{Name} sums its own rows");
        ComputeRows(new RowBlock(nl, first, end), types, sum);
    }

    /// <summary>The species of a potential file's element names, in order.</summary>
    protected static int[] Numbers(IEnumerable<string> symbols) => symbols.Select(s => Structures.Elements.Number(s)).ToArray();
}

/// <summary>
/// Where a classical force call spends its time, summed over the process and printed to stderr at exit when the
/// environment variable MLIP_PROFILE_CLASSICAL is set (neighbour list, per-call set-up and per-atom terms, the
/// potential's pass, the gather of forces and virial), in CPU seconds of the process.
/// </summary>
internal static class StagePerf
{
    private static readonly bool On = Environment.GetEnvironmentVariable("MLIP_PROFILE_CLASSICAL") is { Length: > 0 };
    private static readonly long[] Ticks = new long[4];
    // the wide-row passes of SW and Tersoff: CPU of the threads running their blocks (all threads summed, no waiting or spinning), per pass
    private static readonly long[] BlockTicks = new long[2 * 16];
    private static long _calls;
    private static readonly string[] Names = ["neighbour list", "set-up (reset, reverse, per-atom terms)", "potential pass", "forces, virial gather"];

    static StagePerf()
    {
        if (On) AppDomain.CurrentDomain.ProcessExit += (_, _) => Report();
    }

    /// <summary>CPU time of the whole process (ns; CLOCK_PROCESS_CPUTIME_ID), which a loaded machine does not inflate as it does wall time.</summary>
    public static long Now => On ? CpuNanoseconds() : 0;

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct TimeSpec { public long Seconds, Nanoseconds; }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    private static long CpuNanoseconds() => ClockGetTime(2, out var t) == 0 ? t.Seconds * 1_000_000_000 + t.Nanoseconds : 0;

    /// <summary>CPU time of the calling thread (ns; 0 when not profiling): for <see cref="AddBlock"/>.</summary>
    public static long ThreadNow => On ? Validation.CpuClock.Thread() : 0;

    /// <summary>Adds the calling thread's CPU since <paramref name="start"/> (<see cref="ThreadNow"/>) to the blocks of wide-row pass <paramref name="pass"/> (0: rows and terms, 1: gather).</summary>
    public static void AddBlock(int pass, long start)
    {
        if (!On) return;
        Interlocked.Add(ref BlockTicks[16 * pass], Validation.CpuClock.Thread() - start);
    }

    /// <summary>Adds the time since <paramref name="start"/> to stage <paramref name="stage"/>; returns now.</summary>
    public static long Add(int stage, long start)
    {
        if (!On) return 0;
        long now = CpuNanoseconds();
        Interlocked.Add(ref Ticks[stage], now - start);
        if (stage == 3) Interlocked.Increment(ref _calls);
        return now;
    }

    private static void Report()
    {
        double total = Ticks.Sum() / 1e9;
        Console.Error.WriteLine(FormattableString.Invariant($"classical force calls: {_calls}, {total:F3} s of CPU time in all; gen0/1/2 collections {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}"));
        for (int k = 0; k < Ticks.Length; k++)
        {
            double sec = Ticks[k] / 1e9;
            Console.Error.WriteLine(FormattableString.Invariant($"  {Names[k],-42} {sec,8:F3} s {(total > 0 ? 100 * sec / total : 0),5:F1} %"));
        }
        if (BlockTicks[0] + BlockTicks[16] > 0)
            Console.Error.WriteLine(FormattableString.Invariant(
                $"  wide-row passes, CPU of all threads in their blocks: rows and terms {BlockTicks[0] / 1e9:F3} s, gather {BlockTicks[16] / 1e9:F3} s"));
    }
}
