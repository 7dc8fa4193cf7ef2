using System.Runtime.CompilerServices;
using Mlip.Descriptors;
using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Descriptors.Ace;

/// <summary>
/// A PACE potential's densities as a descriptor: X_i = (rho_1 … rho_P, rho_core) of <see cref="AceEvaluator"/>.
/// With Models.Ace.AceEmbeddingModel over it, E_i = E0 + fcut(rho_core) F(rho) + rho_core is exactly
/// PACE's atomic energy. The adjoint path reuses the atomic bases computed by <see cref="Compute"/> for
/// the same neighbour list (cached weakly), so a force call makes two passes over neighbours, as PACE does.
/// </summary>
public sealed class AceDensities : IAdjointDescriptor
{
    private readonly AceEvaluator _ev;
    private readonly int[] _speciesOfZ;
    private readonly int _p;
    private readonly ConditionalWeakTable<NeighborList, Cached> _cache = new();

    private sealed record Cached(Structure Structure, double[]? State, FusedBuffers? Fused = null);

    /// <summary>
    /// What the fused pass leaves for <see cref="ForcesFromAdjoint"/>: the dE/dX it used, the per-pair gradients and the pair
    /// species (arrays at least as long as needed, reused from call to call: ~18 MB for 4000 Cu atoms, which a step allocated
    /// on the large-object heap before). A call takes the spare set (one slot, <see cref="Interlocked"/>) or makes its own;
    /// <see cref="ForcesFromAdjoint"/> gives it back once it has contracted the gradients and drops it from the cache, so no
    /// two calls ever hold the same set (concurrent calls of training each take or make their own).
    /// </summary>
    private sealed class FusedBuffers
    {
        public double[] DEdX = [];
        public Vec3[] PairGradients = [];
        public int[] PairSpecies = [];
        public int Features, Pairs;

        public void Ensure(int features, int pairs)
        {
            if (DEdX.Length < features) DEdX = new double[features];
            if (PairGradients.Length < pairs) { PairGradients = new Vec3[pairs]; PairSpecies = new int[pairs]; }
            Features = features; Pairs = pairs;
        }
    }

    private FusedBuffers? _spare;

    /// <summary>
    /// Evaluator workspaces kept between calls (each block of atoms takes one and puts it back): with the per-neighbour values
    /// of the fused pass a workspace holds several hundred KB, and a call used to make one per block. Each thread gets back
    /// the one it used last (<see cref="ScratchPool{T}"/>): from a shared stack, on two threads about every other block took the
    /// workspace the other core had just written.
    /// </summary>
    private readonly ScratchPool<AceEvaluator.Workspace> _workspaces;

    private AceEvaluator.Workspace TakeWorkspace() => _workspaces.Rent();

    /// <summary>
    /// The energy of one atom from its features (and dE/dX into the span): the embedding of the potential these
    /// densities belong to. When set, <see cref="Compute"/> also runs the adjoint for every atom while its
    /// neighbour values are at hand (PACE's per-atom order, one neighbour pass fewer), and
    /// <see cref="ForcesFromAdjoint"/> uses the result when it is called with exactly those dE/dX.
    /// </summary>
    public delegate double AtomEmbedding(int species, ReadOnlySpan<double> features, Span<double> dEdX);

    public AtomEmbedding? Fused { get; set; }

    public AceDensities(AceBasisSet basis) : this(basis, AceEvaluator.DefaultKind) { }

    /// <summary>Densities whose products are formed by the product or the recursive evaluator (equal to round-off).</summary>
    public AceDensities(AceBasisSet basis, AceEvaluatorKind kind)
    {
        _ev = new AceEvaluator(basis, kind);
        _workspaces = new(_ev.CreateWorkspace);
        _p = basis.Embeddings.Max(e => e.NDensity);
        _speciesOfZ = Enumerable.Repeat(-1, 119).ToArray();
        for (int mu = 0; mu < basis.ElementCount; mu++) _speciesOfZ[Elements.Number(basis.Elements[mu])] = mu;
        var names = new List<string>();
        for (int q = 0; q < _p; q++) names.Add($"rho{q + 1}");
        names.Add("rho_core");
        FeatureNames = names;
    }

    public AceEvaluator Evaluator => _ev;
    public AceBasisSet Basis => _ev.Basis;
    public string Name => "pace";
    public double Cutoff => _ev.MaxCutoff;
    public int FeatureCount => _p + 1;
    public IReadOnlyList<string> FeatureNames { get; }
    public int DensityCount => _p;

    /// <summary>Basis species index of each atom; unknown elements are refused naming the structure.</summary>
    public int[] Species(Structure s)
    {
        var sp = new int[s.Count];
        for (int i = 0; i < s.Count; i++)
        {
            int z = s.AtomicNumbers[i];
            int mu = z >= 0 && z < _speciesOfZ.Length ? _speciesOfZ[z] : -1;
            if (mu < 0) throw new MlipInputException(s.Source ?? InputLocation.Unknown, $"the ACE potential has no element {Elements.Symbol(z)}");
            sp[i] = mu;
        }
        return sp;
    }

    private static int[] PairSpecies(NeighborList nl, int[] species, int[]? into = null)
    {
        var nb = nl.Neighbors;
        int count = nl.PairCount;
        var ps = into ?? new int[count];
        for (int p = 0; p < count; p++) ps[p] = species[nb[p]];
        return ps;
    }

    /// <summary>
    /// Atoms per block of the per-atom passes of <see cref="Compute"/> and <see cref="ForcesFromAdjoint"/> (the force call of ACE MD):
    /// a fixed size, not a share of the thread count, so that a thread that finishes its own blocks early takes small pieces of
    /// the other's (with 4 blocks per thread a late thread kept the other waiting for up to a quarter of the pass). Each atom writes
    /// only its own outputs, so the block size does not change any bits. 16 FS-ACE/PACE atoms are ~0.5-2 ms of work.
    /// </summary>
    internal const int AtomBlock = 16;

    private static void AtomBlocks(int n, Action<int, int> body) =>
        MlipParallel.ForChunks(n, AtomBlock, static () => 0, (a, b, _) => body(a, b));

    internal static void Chunks(int n, Action<int, int> body)
    {
        int chunks = Math.Min(n, MlipParallel.Threads * 4);
        if (chunks <= 1) { body(0, n); return; }
        int chunk = (n + chunks - 1) / chunks;
        MlipParallel.ForChunks(n, chunk, static () => 0, (a, b, _) => body(a, b));
    }

    public DescriptorSet Compute(Structure s, bool derivatives, NeighborList? neighbors = null) => ComputeKeeping(s, derivatives, neighbors, keepState: false);

    /// <summary>
    /// The densities (and their derivative blocks); the atomic bases of every atom are kept for <see cref="ForcesFromAdjoint"/>
    /// unless the fused adjoint ran (it gives the pair gradients that call then uses): for 4000 Cu atoms they are ~64 MB a call,
    /// which an MD step need not allocate. <paramref name="keepState"/> keeps them in any case.
    /// </summary>
    private DescriptorSet ComputeKeeping(Structure s, bool derivatives, NeighborList? neighbors, bool keepState)
    {
        var species = Species(s);
        var nl = neighbors ?? NeighborList.Build(s, Cutoff);
        int n = s.Count, k = FeatureCount, stateSize = _ev.StateSize;
        var fused = derivatives ? null : Fused;
        var buffers = fused is null ? null : Interlocked.Exchange(ref _spare, null) ?? new FusedBuffers();
        buffers?.Ensure(n * k, nl.PairCount);
        // the fused pass (MD) fills the pair species of each atom's row in its own block; the other passes need them all first
        var ps = fused is null ? PairSpecies(nl, species, buffers?.PairSpecies) : buffers!.PairSpecies;
        var values = new double[n * k];
        var grads = derivatives ? new double[nl.PairCount * k * 3] : null;
        var state = fused is null || keepState ? new double[(long)n * stateSize] : null;
        var fusedDEdX = buffers?.DEdX;
        var fusedG = buffers?.PairGradients;
        AtomBlocks(n, (a, b) =>
        {
            var w = TakeWorkspace();
            Span<double> rho = stackalloc double[_p];
            Span<double> unit = stackalloc double[_p];
            Vec3[] dEdr = [];
            for (int i = a; i < b; i++)
            {
                var range = nl.PairRange(i);
                int mu = species[i];
                var sp = ps.AsSpan(range.Start, range.Count);
                if (fused is not null)
                {
                    var nbrs = nl.Neighbors;
                    for (int p = range.Start; p < range.Start + range.Count; p++) ps[p] = species[nbrs[p]];
                }
                var vec = nl.Vectors.Slice(range.Start, range.Count);
                var dist = nl.Distances.Slice(range.Start, range.Count);
                _ev.AtomicBase(mu, sp, vec, dist, w, fused is not null);
                double core = _ev.Densities(mu, w, rho);
                int pm = _ev.DensityCount(mu);
                for (int q = 0; q < pm; q++) values[i * k + q] = rho[q];
                values[i * k + _p] = core;
                if (state is not null) w.Save(state.AsSpan((int)((long)i * stateSize), stateSize));
                if (fused is not null)
                {
                    var dx = fusedDEdX.AsSpan(i * k, k);
                    fused(mu, values.AsSpan(i * k, k), dx);
                    _ev.Adjoint(mu, dx[..pm], dx[_p], sp, vec, dist, w, fusedG.AsSpan(range.Start, range.Count), true);
                }
                if (grads is null) continue;
                if (dEdr.Length < range.Count) dEdr = new Vec3[range.Count];
                for (int f = 0; f < k; f++)
                {
                    if (f < _p && f >= pm) continue;
                    unit.Clear();
                    if (f < _p) unit[f] = 1;
                    _ev.Adjoint(mu, unit[..pm], f == _p ? 1 : 0, sp, vec, dist, w, dEdr);
                    for (int jj = 0; jj < range.Count; jj++)
                    {
                        int o = ((range.Start + jj) * k + f) * 3;
                        grads[o] = dEdr[jj].X; grads[o + 1] = dEdr[jj].Y; grads[o + 2] = dEdr[jj].Z;
                    }
                }
            }
            _workspaces.Return(w);
        });
        _cache.AddOrUpdate(nl, new Cached(s, state, buffers));
        return new DescriptorSet(n, k, values, nl, grads);
    }

    public (Vec3[] Forces, Stress? Stress) ForcesFromAdjoint(Structure s, ReadOnlySpan<double> dEdX, NeighborList? neighbors = null)
    {
        if (neighbors is null || !_cache.TryGetValue(neighbors, out var cached) || !ReferenceEquals(cached.Structure, s))
        {
            var set = Compute(s, false, neighbors);
            neighbors = set.Neighbors;
            _cache.TryGetValue(neighbors, out cached);
        }
        var nl = neighbors;
        if (cached!.Fused is { } fb && dEdX.SequenceEqual(fb.DEdX.AsSpan(0, fb.Features)))
        {
            var result = Contract(s, nl, fb.PairGradients, fb.Pairs);
            // the gradients are used: the set goes back to the spare slot and leaves the cache (a later call on this list forms them again)
            _cache.AddOrUpdate(nl, cached with { Fused = null });
            Volatile.Write(ref _spare, fb);
            return result;
        }
        if (cached.State is null)
        {
            // the fused pass kept no atomic bases and these dE/dX are not the ones it used: form them again
            ComputeKeeping(s, false, nl, keepState: true);
            _cache.TryGetValue(nl, out cached);
            if (cached!.Fused is { } unused)
            {
                _cache.AddOrUpdate(nl, cached = cached with { Fused = null });
                Volatile.Write(ref _spare, unused);
            }
        }
        var species = Species(s);
        var ps = PairSpecies(nl, species);
        int n = s.Count, k = FeatureCount, stateSize = _ev.StateSize;
        if (dEdX.Length != n * k) throw new ArgumentException("dE/dX has the wrong length", nameof(dEdX));
        var weights = dEdX.ToArray();
        var state = cached!.State!;
        var g = new Vec3[nl.PairCount];
        AtomBlocks(n, (a, b) =>
        {
            var w = TakeWorkspace();
            for (int i = a; i < b; i++)
            {
                var range = nl.PairRange(i);
                int mu = species[i];
                w.Load(state.AsSpan((int)((long)i * stateSize), stateSize));
                _ev.Adjoint(mu, weights.AsSpan(i * k, _ev.DensityCount(mu)), weights[i * k + _p], ps.AsSpan(range.Start, range.Count),
                    nl.Vectors.Slice(range.Start, range.Count), nl.Distances.Slice(range.Start, range.Count), w, g.AsSpan(range.Start, range.Count));
            }
            _workspaces.Return(w);
        });
        return Contract(s, nl, g, g.Length);
    }

    /// <summary>
    /// Forces and stress from dE/dr_ij per pair (F_i += g, F_j −= g; σ = (1/V) Σ g ⊗ r), in pair order; on a list whose builder
    /// gave the reverse pairs (the MD Verlet list) by the parallel per-atom <see cref="Gather"/> instead. (A gather on every list
    /// was tried on 2026-12-07 and reverted: it broke the L-BFGS part of
    /// AceEmbeddingFitTests.FsEmbeddingFitReachesTheTruthWithLevenbergMarquardtAndExportsToYace, whose labels come from this
    /// contraction on freshly built lists; those keep the serial scatter.)
    /// </summary>
    internal static (Vec3[] Forces, Stress? Stress) Contract(Structure s, NeighborList nl, Vec3[] pairGradients, int pairs)
    {
        if (nl.ReverseGiven && pairs == nl.PairCount && pairs > 0) return Gather(s, nl, pairGradients);
        ReadOnlySpan<Vec3> g = pairGradients.AsSpan(0, pairs);
        var centers = nl.Centers; var nbrs = nl.Neighbors; var vec = nl.Vectors;
        var f = new Vec3[s.Count];
        double wxx = 0, wyy = 0, wzz = 0, wyz = 0, wxz = 0, wxy = 0, wzy = 0, wzx = 0, wyx = 0;
        for (int p = 0; p < g.Length; p++)
        {
            var gp = g[p];
            f[centers[p]] += gp;
            f[nbrs[p]] -= gp;
            var r = vec[p];
            wxx += gp.X * r.X; wyy += gp.Y * r.Y; wzz += gp.Z * r.Z;
            wyz += gp.Y * r.Z; wzy += gp.Z * r.Y;
            wxz += gp.X * r.Z; wzx += gp.Z * r.X;
            wxy += gp.X * r.Y; wyx += gp.Y * r.X;
        }
        return (f, StressOf(s, [wxx, wyy, wzz, wyz, wzy, wxz, wzx, wxy, wyx]));
    }

    /// <summary>Atoms per block of <see cref="Gather"/> (fixed: the virial's block sums do not depend on the thread count).</summary>
    private const int GatherBlock = 256;

    /// <summary>
    /// <see cref="Contract"/> for a list that carries its reverse pairs (the MD Verlet list): each atom gathers its own force,
    /// F_i = Σ_p∈i (g_p − g_Reverse[p]), in parallel blocks of atoms, and the virial Σ g_p ⊗ r_p is summed per block, the block
    /// sums added in block order: the same bits on any number of threads (not the bits of the serial scatter, whose sums run in
    /// pair order: they differ in the last digits). The serial scatter was a pass over all pairs on one core in every MD step.
    /// </summary>
    private static (Vec3[] Forces, Stress? Stress) Gather(Structure s, NeighborList nl, Vec3[] pairs)
    {
        int n = s.Count;
        var f = new Vec3[n];
        int blocks = (n + GatherBlock - 1) / GatherBlock;
        var virials = new double[9 * blocks];
        MlipParallel.ForChunks(n, GatherBlock, static () => 0, (first, end, _) =>
        {
            var rev = nl.Reverse; var offsets = nl.Offsets; var vec = nl.Vectors;
            double wxx = 0, wyy = 0, wzz = 0, wyz = 0, wxz = 0, wxy = 0, wzy = 0, wzx = 0, wyx = 0;
            for (int i = first; i < end; i++)
            {
                double fx = 0, fy = 0, fz = 0;
                for (int p = offsets[i]; p < offsets[i + 1]; p++)
                {
                    var gp = pairs[p];
                    var gq = pairs[rev[p]];
                    fx += gp.X - gq.X; fy += gp.Y - gq.Y; fz += gp.Z - gq.Z;
                    var r = vec[p];
                    wxx += gp.X * r.X; wyy += gp.Y * r.Y; wzz += gp.Z * r.Z;
                    wyz += gp.Y * r.Z; wzy += gp.Z * r.Y;
                    wxz += gp.X * r.Z; wzx += gp.Z * r.X;
                    wxy += gp.X * r.Y; wyx += gp.Y * r.X;
                }
                f[i] = new Vec3(fx, fy, fz);
            }
            var w = virials.AsSpan(9 * (first / GatherBlock), 9);
            w[0] = wxx; w[1] = wyy; w[2] = wzz; w[3] = wyz; w[4] = wzy; w[5] = wxz; w[6] = wzx; w[7] = wxy; w[8] = wyx;
        });
        Span<double> t = stackalloc double[9];
        for (int b = 0; b < blocks; b++)
            for (int c = 0; c < 9; c++) t[c] += virials[9 * b + c];
        return (f, StressOf(s, t));
    }

    /// <summary>
    /// σ (GPa) from the sums Σ g ⊗ r over the pairs, in the order xx, yy, zz, yz, zy, xz, zx, xy, yx (eV), the off-diagonal
    /// pairs averaged; null unless the cell is periodic with a volume.
    /// </summary>
    private static Stress? StressOf(Structure s, ReadOnlySpan<double> w)
    {
        if (!(s.Pbc.AllPeriodic && s.Volume > 0)) return null;
        double c = Stress.EvPerCubicAngstromInGpa / s.Volume;
        return new Stress(c * w[0], c * w[1], c * w[2], c * 0.5 * (w[3] + w[4]), c * 0.5 * (w[5] + w[6]), c * 0.5 * (w[7] + w[8]));
    }
}
