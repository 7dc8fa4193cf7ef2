using Mlip.Descriptors;
using Mlip.Descriptors.Ace;
using Mlip.Distributed;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace Mlip.Training;

/// <summary>Optimiser of the nonlinear ACE embedding fit.</summary>
public enum AceEmbeddingOptimizer
{
    /// <summary>Levenberg–Marquardt on the residuals with the exact Jacobian (<see cref="LevenbergMarquardt"/>).</summary>
    LevenbergMarquardt,
    /// <summary>L-BFGS on the loss (<see cref="Lbfgs"/>).</summary>
    Lbfgs,
}

/// <summary>Settings of the nonlinear ACE embedding fit.</summary>
public sealed record AceEmbeddingFitOptions
{
    /// <summary>Pairs (w_p, m_p), one per density; default PACE's usual two densities: F = ρ_1 + √ρ_2 (shifted, scaled).</summary>
    public double[] FsParameters { get; init; } = [1, 1, 1, 0.5];
    public AceEmbeddingOptimizer Optimizer { get; init; } = AceEmbeddingOptimizer.LevenbergMarquardt;
    /// <summary>Iterations: L-BFGS steps, or Levenberg–Marquardt trial steps.</summary>
    public int Iterations { get; init; } = 100;
    /// <summary>Levenberg–Marquardt: stop after an accepted step that lowers the loss by less than this fraction.</summary>
    public double Tolerance { get; init; } = 1e-9;
    public LossWeights Weights { get; init; } = new();
    /// <summary>
    /// Scale of the random start of the coefficients of the densities after the first (the first is the linear fit). 0 starts
    /// exactly at the linear fit (ρ_p = 0 for p ≥ 2, where F is continuous with a finite slope): best for Levenberg–Marquardt,
    /// which from a random start can stop in a local minimum with some ρ_p on the wrong side of 0.
    /// </summary>
    public double InitialScale { get; init; }
    public int Seed { get; init; } = 1;
    /// <summary>
    /// Tikhonov strength λ: the loss gains λ Σ_e Σ_k Σ_p s_k (a_kp − a°_kp)² over the densities' (scaled) coefficients, s_k the smoothness
    /// prior of the linear fit (<see cref="AceLinearFit.SmoothnessWeights"/>), centred on the linear model (a°_k1 = the linear fit,
    /// a°_kp = 0 for the other densities: a large λ gives back the linear fit); E0 is free. 0: no regulariser.
    /// </summary>
    public double Ridge { get; init; }
    /// <summary>Exponent of the smoothness prior of <see cref="Ridge"/> (0: plain ridge).</summary>
    public double Smoothness { get; init; } = 2;
    public int Threads { get; init; } = Environment.ProcessorCount;
    /// <summary>Bound on the doubles of one block of per-pair Jacobian rows (pairs × 3 × functions × densities); sets the memory.</summary>
    public long ChunkDoubles { get; init; } = 8_000_000;

    /// <summary>
    /// The ranks of an MPI run: each holds the blocks of its share of the structures; the counts that scale the residuals, the
    /// RMS σ_k, and every sum over blocks (JᵀJ, Jᵀr, the loss and its gradient) are added over the ranks in rank order, so
    /// every rank takes the same optimiser steps.
    /// </summary>
    public ICommunicator Communicator { get; init; } = SingleProcess.Instance;
}

/// <summary>
/// Fits PACE's nonlinear embedding on the linear ACE basis (<see cref="AceBasisDescriptor"/>): per element,
/// E_i = E0 + Σ_p w_p F(ρ_p; m_p) with ρ_p = Σ_k c_kp B_k(i) and F = FinnisSinclairShiftedScaled (identity for m = 1).
/// The parameters are E0 and the coefficients c_kp of each density (stored as a_kp = c_kp σ_k, σ_k the RMS of B_k, for
/// conditioning). The loss is the NN trainer's, w_E mean_s (ΔE_s/N_s)² + w_F mean ΔF² (over the labelled components), a sum
/// of squares of the residuals r (<see cref="Residuals"/>), plus the Tikhonov regulariser λ Σ s_k (a_kp − a°_kp)², centred on the linear fit, with the linear fit's
/// smoothness prior s_k (residual rows √(λ s_k) (a_kp − a°_kp); <see cref="AceEmbeddingFitOptions.Ridge"/>). Forces: F = −Σ_i (∂E_i/∂B) ∂B/∂r with
/// ∂E_i/∂B_k = Σ_p w_p F'(ρ_ip) a_kp, contracted with the per-pair derivative blocks of the descriptor. The default optimiser
/// is Levenberg–Marquardt with the exact Jacobian (energy rows: w_p F'(ρ_ip) X_ik summed over the atoms; force rows: the
/// per-pair blocks w_p [F''(ρ_cp) X_ck (Σ_k' a_k'p ∂X_ck'/∂r) + F'(ρ_cp) ∂X_ck/∂r], scattered to the centre (+) and the
/// neighbour (−)), its normal equations accumulated over blocks of structures; L-BFGS on the loss and its autograd gradient
/// is the alternative. Start: density 1 is the linear fit (m_1 = 1), the others small random.
/// <see cref="ToCTilde"/> gives the fitted potential as a PACE C-tilde basis (.yace/.ace).
/// </summary>
public sealed class AceEmbeddingFit
{
    /// <summary>A block of consecutive structures: its atoms' features and its pairs' derivative blocks (local indices).</summary>
    private sealed class Chunk
    {
        public int Structures, Atoms;
        public Tensor X = null!;                 // [atoms, K], B_k/σ_k
        public Tensor AtomStructure = null!;     // [atoms] local structure
        public Tensor EnergyScale = null!;       // [structures] √(w_E/n_E)/N_s, 0 without energy
        public Tensor EnergyTarget = null!;      // [structures] (NaN → 0)
        public Tensor[] ElementAtoms = null!;    // local atom indices per element
        public Tensor? Dx, Pc, Pn;               // [pairs, K, 3] ∂(B_k/σ_k)(centre)/∂r_neighbour; local centre, neighbour
        public Tensor?[]? ElementPairs;          // pairs per element of the centre (null entry: all pairs)
        public Tensor? ForceTarget, ForceMask;   // [atoms, 3]; 1 where labelled
        public long Pairs;
    }

    private readonly AceBasisDescriptor _d;
    private readonly AceEmbeddingFitOptions _o;
    private readonly int _k, _p;
    private readonly int[] _elements;
    private readonly double[] _sigma;
    private readonly double[] _w;
    private readonly double[] _penalty;      // per parameter: λ s_k for a_kp, 0 for E0
    private readonly double[] _center;       // per parameter: the regulariser's centre (density 1: the linear fit; others 0)
    private readonly int[] _penalised;       // indices of the parameters with a penalty > 0
    private readonly double _wE, _wF, _forceScale;
    private readonly int _energyRows, _forceRows;
    private readonly List<Chunk> _chunks = [];
    // streamed from the descriptor store (docs/scale.md): the blocks' structure ranges, recomputed at every pass; null in memory
    private readonly List<(int Start, int Count)>? _plan;
    private readonly IReadOnlyList<Structure> _source = [];
    private readonly double _energyScale;
    private readonly int _structures, _atoms;
    private readonly bool _forces;
    private readonly ICommunicator _comm;

    /// <summary>Computes the descriptors (values and per-pair derivative blocks) of <paramref name="structures"/>; <paramref name="progress"/> is told per structure.</summary>
    public AceEmbeddingFit(AceBasisDescriptor descriptor, IReadOnlyList<Structure> structures, PolynomialModel linear, AceEmbeddingFitOptions options,
        IProgress<WorkProgress>? progress = null)
        : this(descriptor, structures, linear, options, progress, null)
    {
    }

    /// <summary>
    /// The fit streamed from the descriptor store (docs/scale.md, "FS-ACE and PINN from the store"): σ_k from the store's feature
    /// chunks, and the blocks of structures (the same blocks as in memory, so the same sums in the same order) recomputed
    /// (descriptor values and per-pair derivative blocks) at every pass over the data and dropped after use; memory holds one
    /// block. <paramref name="structures"/> are the store's structures or, under MPI, this rank's contiguous share of them.
    /// </summary>
    public AceEmbeddingFit(AceBasisDescriptor descriptor, IReadOnlyList<Structure> structures, PolynomialModel linear, AceEmbeddingFitOptions options,
        Streaming.DescriptorStore store, IProgress<WorkProgress>? progress = null)
        : this(descriptor, structures, linear, options, progress, store ?? throw new ArgumentNullException(nameof(store)))
    {
    }

    private AceEmbeddingFit(AceBasisDescriptor descriptor, IReadOnlyList<Structure> structures, PolynomialModel linear, AceEmbeddingFitOptions options,
        IProgress<WorkProgress>? progress, Streaming.DescriptorStore? store)
    {
        TorchRuntime.EnsureLoaded();
        if (linear.Order != 1) throw new MlipException("the embedding fit starts from a linear ACE model");
        if (options.FsParameters.Length < 2 || options.FsParameters.Length % 2 != 0) throw new MlipException("FS parameters are pairs (w_p, m_p)");
        if (Math.Abs(options.FsParameters[1] - 1) > 1e-12) throw new MlipException("the first density of the embedding must be linear (m_1 = 1): it starts from the linear fit");
        _d = descriptor;
        _o = options;
        _k = descriptor.FeatureCount;
        _p = options.FsParameters.Length / 2;
        _w = [.. Enumerable.Range(0, _p).Select(q => options.FsParameters[2 * q])];
        _elements = [.. linear.Elements];
        _comm = options.Communicator;
        // counts over the structures of all ranks (one process: its own)
        Span<long> counts = [structures.Count, structures.Sum(s => s.Count), structures.Count(s => s.Energy is not null),
            3L * structures.Where(s => s.Forces is not null).Sum(s => s.Count)];
        _comm.AllreduceSum(counts);
        bool forces = options.Weights.Force > 0 && counts[3] > 0;
        _forces = forces;
        _structures = (int)counts[0];
        _atoms = (int)counts[1];
        _energyRows = (int)counts[2];
        _forceRows = forces ? (int)counts[3] : 0;
        _wE = _energyRows > 0 ? options.Weights.Energy : 0;
        _wF = _forceRows > 0 ? options.Weights.Force : 0;
        _forceScale = _wF > 0 ? Math.Sqrt(_wF / _forceRows) : 0;
        double energyScale = _wE > 0 ? Math.Sqrt(_wE / _energyRows) : 0;

        _energyScale = energyScale;
        // descriptors in batches of structures (bounded memory), cut into chunks of at most ChunkDoubles per-pair Jacobian entries
        long pairLimit = Math.Max(1, options.ChunkDoubles / (3L * _k * _p));
        var sumSquares = new double[_k];
        if (store is not null)
        {
            // the same blocks from the pair counts of the descriptor's neighbour lists; Σ B_k² from the store's feature chunks
            _source = structures;
            _plan = [];
            int start = 0;
            long blockPairs = 0;
            for (int s = 0; s < structures.Count; s++)
            {
                long pairs = forces ? Neighbors.NeighborList.Build(structures[s], descriptor.Cutoff).PairCount : 0;
                if (s > start && blockPairs + pairs > pairLimit) { _plan.Add((start, s - start)); start = s; blockPairs = 0; }
                blockPairs += pairs;
            }
            _plan.Add((start, structures.Count - start));
            StoreSumSquares(store, structures, sumSquares);
        }
        else
        {
        var pending = new List<(Structure S, DescriptorSet Set)>();
        long pendingPairs = 0;
        int batch = Math.Max(1, 4 * Math.Max(1, options.Threads));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int b0 = 0; b0 < structures.Count; b0 += batch)
        {
            var part = structures.Skip(b0).Take(batch).ToList();
            var sets = DatasetDescriptors.Compute(descriptor, part, forces, options.Threads);
            progress?.Report(new WorkProgress(b0 + part.Count, structures.Count, clock.Elapsed));
            for (int j = 0; j < part.Count; j++)
            {
                var set = sets[j];
                for (int i = 0; i < set.Atoms; i++)
                {
                    var xi = set.Of(i);
                    for (int a = 0; a < _k; a++) sumSquares[a] += xi[a] * xi[a];
                }
                long pairs = forces ? set.Neighbors.PairCount : 0;
                if (pending.Count > 0 && pendingPairs + pairs > pairLimit) { _chunks.Add(MakeChunk(pending, forces, b0 + j - pending.Count, energyScale)); pending.Clear(); pendingPairs = 0; }
                pending.Add((part[j], set));
                pendingPairs += pairs;
            }
        }
        if (pending.Count > 0) _chunks.Add(MakeChunk(pending, forces, structures.Count - pending.Count, energyScale));
        }
        _comm.AllreduceSum(sumSquares);
        // σ_k: RMS of B_k over all atoms (of all ranks); features and derivative blocks divided by it
        _sigma = new double[_k];
        for (int a = 0; a < _k; a++) _sigma[a] = sumSquares[a] > 0 ? Math.Sqrt(sumSquares[a] / _atoms) : 1;
        using (var sigma = tensor(_sigma, ScalarType.Float64))
            foreach (var c in _chunks)
            {
                c.X.div_(sigma);
                c.Dx?.div_(sigma.view(1, _k, 1));
            }

        // start: density 1 = the linear model (raw coefficients β_k/s_k, E0 with the mean folded in), others small random
        Parameters = new double[_elements.Length * PerElement];
        var rng = new Random(options.Seed);
        for (int e = 0; e < _elements.Length; e++)
        {
            var beta = linear.Coefficients[e];
            double e0 = beta[0];
            int o = e * PerElement;
            for (int a = 0; a < _k; a++)
            {
                double w = beta[1 + a] / linear.Scale[a];
                e0 -= w * linear.Mean[a];
                Parameters[o + 1 + a * _p] = w * _sigma[a];
                for (int q = 1; q < _p; q++) Parameters[o + 1 + a * _p + q] = options.InitialScale * (2 * rng.NextDouble() - 1);
            }
            Parameters[o] = e0;
        }
        // the Tikhonov regulariser: λ s_k on every a_kp of every element, centred below
        if (!(options.Ridge >= 0) || !double.IsFinite(options.Ridge)) throw new MlipException($"the embedding fit's ridge must be finite and >= 0, got {options.Ridge}");
        _penalty = new double[Parameters.Length];
        if (options.Ridge > 0)
        {
            var prior = AceLinearFit.SmoothnessWeights(descriptor, options.Smoothness);
            for (int e = 0; e < _elements.Length; e++)
                for (int a = 0; a < _k; a++)
                    for (int q = 0; q < _p; q++) _penalty[e * PerElement + 1 + a * _p + q] = options.Ridge * prior[a];
        }
        _penalised = [.. Enumerable.Range(0, _penalty.Length).Where(i => _penalty[i] > 0)];
        // centred on the linear fit: a large ridge gives back the linear model (density 1 = the linear fit, the others 0)
        _center = (double[])Parameters.Clone();
        for (int e = 0; e < _elements.Length; e++)
            for (int a = 0; a < _k; a++)
                for (int q = 1; q < _p; q++) _center[e * PerElement + 1 + a * _p + q] = 0;
    }

    /// <summary>Σ B_k² over the atoms of <paramref name="structures"/> (the store's, or this rank's share of them) from the store's feature chunks, atoms in order.</summary>
    private void StoreSumSquares(Streaming.DescriptorStore store, IReadOnlyList<Structure> structures, double[] sumSquares)
    {
        var (first, _) = NeuralNetworkTrainer.GlobalRange(_comm, structures.Count);
        int last = first + structures.Count;
        if (last > store.Structures.Count) throw new InvalidOperationException("the structures are not the store's");
        store.EnsureFeatures(_o.Threads);
        for (int c = 0; c < store.ChunkCount; c++)
        {
            var (start, end) = store.Chunk(c);
            if (end <= first || start >= last) continue;
            var values = store.ReadFeatures(c);
            long o = 0;
            for (int s = start; s < end; s++)
            {
                int n = store.Structures[s].Count;
                if (s >= first && s < last)
                    for (int i = 0; i < n; i++)
                    {
                        var xi = values.AsSpan((int)((o + i) * _k), _k);
                        for (int a = 0; a < _k; a++) sumSquares[a] += xi[a] * xi[a];
                    }
                o += n;
            }
        }
    }

    /// <summary>
    /// The blocks of the data in order: those held in memory, or (streamed) each block's descriptors computed now, scaled by σ,
    /// and its tensors disposed when the caller moves to the next block. A caller keeps nothing of a block past its turn.
    /// </summary>
    private IEnumerable<Chunk> Chunks()
    {
        if (_plan is null)
        {
            foreach (var c in _chunks) yield return c;
            yield break;
        }
        foreach (var (start, count) in _plan)
        {
            using (NewDisposeScope())
            {
                var sigma = tensor(_sigma, ScalarType.Float64);
                var part = new List<Structure>(count);
                for (int s = start; s < start + count; s++) part.Add(_source[s]);
                var sets = DatasetDescriptors.Compute(_d, part, _forces, _o.Threads);
                var c = MakeChunk([.. part.Zip(sets)], _forces, start, _energyScale);
                c.X.div_(sigma);
                c.Dx?.div_(sigma.view(1, _k, 1));
                yield return c;
            }
            LargeObjectGarbage.CollectWhenDue(); // the block's descriptor sets (large objects) are garbage now
        }
    }

    private Chunk MakeChunk(List<(Structure S, DescriptorSet Set)> items, bool forces, int firstStructure, double energyScale)
    {
        int atoms = items.Sum(t => t.S.Count);
        long pairs = forces ? items.Sum(t => (long)t.Set.Neighbors.PairCount) : 0;
        var x = new double[(long)atoms * _k];
        var atomStructure = new long[atoms];
        var elementOf = new int[atoms];
        var scale = new double[items.Count];
        var energy = new double[items.Count];
        var dx = forces ? new double[pairs * _k * 3] : [];
        var pc = new long[pairs]; var pn = new long[pairs];
        var force = new double[3L * atoms];
        var mask = new double[3L * atoms];
        int ao = 0; long po = 0;
        for (int s = 0; s < items.Count; s++)
        {
            var (st, set) = items[s];
            scale[s] = st.Energy is not null ? energyScale / st.Count : 0;
            energy[s] = st.Energy ?? 0;
            for (int i = 0; i < st.Count; i++)
            {
                int e = Array.IndexOf(_elements, st.AtomicNumbers[i]);
                if (e < 0) throw new MlipException($"{st.Source?.ToString() ?? $"structure {firstStructure + s}"}: element {Elements.Symbol(st.AtomicNumbers[i])} is not in the linear model");
                elementOf[ao + i] = e;
                atomStructure[ao + i] = s;
                set.Of(i).CopyTo(x.AsSpan((ao + i) * _k, _k));
                if (st.Forces is { } f)
                {
                    force[3L * (ao + i)] = f[i].X; force[3L * (ao + i) + 1] = f[i].Y; force[3L * (ao + i) + 2] = f[i].Z;
                    mask[3L * (ao + i)] = mask[3L * (ao + i) + 1] = mask[3L * (ao + i) + 2] = 1;
                }
            }
            if (forces)
            {
                var nl = set.Neighbors;
                for (int q = 0; q < nl.PairCount; q++) { pc[po + q] = ao + nl.Centers[q]; pn[po + q] = ao + nl.Neighbors[q]; }
                set.PairGradients!.AsSpan().CopyTo(dx.AsSpan((int)(po * _k * 3)));
                po += nl.PairCount;
            }
            ao += st.Count;
        }
        var c = new Chunk
        {
            Structures = items.Count, Atoms = atoms, Pairs = pairs,
            X = tensor(x, [atoms, _k], ScalarType.Float64),
            AtomStructure = tensor(atomStructure, ScalarType.Int64),
            EnergyScale = tensor(scale, ScalarType.Float64),
            EnergyTarget = tensor(energy, ScalarType.Float64),
            ElementAtoms = new Tensor[_elements.Length],
        };
        for (int e = 0; e < _elements.Length; e++)
            c.ElementAtoms[e] = tensor(Enumerable.Range(0, atoms).Where(i => elementOf[i] == e).Select(i => (long)i).ToArray(), ScalarType.Int64);
        if (forces)
        {
            c.Dx = tensor(dx, [pairs, _k, 3], ScalarType.Float64);
            c.Pc = tensor(pc, ScalarType.Int64);
            c.Pn = tensor(pn, ScalarType.Int64);
            c.ForceTarget = tensor(force, [atoms, 3], ScalarType.Float64);
            c.ForceMask = tensor(mask, [atoms, 3], ScalarType.Float64);
            c.ElementPairs = new Tensor?[_elements.Length];
            for (int e = 0; e < _elements.Length; e++)
            {
                var list = Enumerable.Range(0, (int)pairs).Where(q => elementOf[pc[q]] == e).Select(q => (long)q).ToArray();
                c.ElementPairs[e] = list.Length == pairs ? null : tensor(list, ScalarType.Int64);
            }
        }
        return c;
    }

    /// <summary>Per element: E0, then a[k, p] (k-major).</summary>
    public int PerElement => 1 + _k * _p;
    public double[] Parameters { get; }
    public int DensityCount => _p;
    /// <summary>Blocks of structures the data is held in (each bounded by <see cref="AceEmbeddingFitOptions.ChunkDoubles"/>).</summary>
    public int ChunkCount => _plan?.Count ?? _chunks.Count;

    /// <summary>True when the blocks are streamed (recomputed at every pass) rather than held in memory.</summary>
    public bool Streams => _plan is not null;
    /// <summary>Rows of the residual vector: one per structure, then 3 per atom when forces are fitted, then one per regularised coefficient.</summary>
    public int ResidualCount => _structures + (!_forces || _wF == 0 ? 0 : 3 * _atoms) + _penalised.Length;

    /// <summary>
    /// The parameters with each column's σ_k (the RMS of B_k over this training set) divided out: independent of the
    /// training set, so a later fit on more data can start from them (<see cref="StartFrom"/>).
    /// </summary>
    public double[] RawParameters()
    {
        var raw = (double[])Parameters.Clone();
        for (int e = 0; e < _elements.Length; e++)
            for (int a = 0; a < _k; a++)
                for (int q = 0; q < _p; q++) raw[e * PerElement + 1 + a * _p + q] /= _sigma[a];
        return raw;
    }

    /// <summary>
    /// Warm start: the parameters of an earlier fit of the same basis, elements and densities (<see cref="RawParameters"/>),
    /// taken as the start when their loss on this fit's data is below the start from the linear fit. Returns the two losses
    /// (previous, linear) and whether the previous parameters were taken; a vector of another length is refused.
    /// </summary>
    public (double Previous, double Linear, bool Taken) StartFrom(double[] raw)
    {
        if (raw.Length != Parameters.Length)
            throw new MlipException($"the warm start has {raw.Length} parameters, this embedding fit {Parameters.Length} (another basis, element set or FS parameters)");
        var scaled = (double[])raw.Clone();
        for (int e = 0; e < _elements.Length; e++)
            for (int a = 0; a < _k; a++)
                for (int q = 0; q < _p; q++) scaled[e * PerElement + 1 + a * _p + q] *= _sigma[a];
        double previous = Loss(scaled, null), linear = Loss(Parameters, null);
        bool take = previous < linear;
        if (take) Array.Copy(scaled, Parameters, scaled.Length);
        return (previous, linear, take);
    }

    /// <summary>The regulariser's part of the loss, λ Σ s_k (a_kp − a°_kp)² (0 without a ridge).</summary>
    public double Penalty(double[] parameters)
    {
        double sum = 0;
        foreach (int i in _penalised) sum += _penalty[i] * (parameters[i] - _center[i]) * (parameters[i] - _center[i]);
        return sum;
    }

    /// <summary>F(ρ; m), F'(ρ) and F''(ρ) of FinnisSinclairShiftedScaled (identity for m = 1), elementwise; F'' is 0 at ρ = 0 (F' has a kink there).</summary>
    private static (Tensor F, Tensor dF, Tensor d2F) Embed(Tensor rho, double m)
    {
        if (Math.Abs(m - 1) < 1e-10) return (rho, ones_like(rho), zeros_like(rho));
        double nx = 1 / m, x0 = Math.Pow(nx, nx / (1 - nx)), y0 = Math.Pow(nx, 1 / (1 - nx));
        // explicit Scalars kept alive to the end of the method (see TorchScalars: implicit ones are temporaries that a
        // collection may free while libtorch reads them)
        using Scalar sx0 = x0.ToScalar(), sy0 = y0.ToScalar(), sm = m.ToScalar(), smMinus1 = (m - 1).ToScalar(),
            smMinus2 = (m - 2).ToScalar(), smm1 = (m * (m - 1)).ToScalar();
        var a = rho.abs();
        var ex = exp(-a);
        var xoff = ex.mul(sx0);
        var yoff = ex.mul(sy0);
        var u = xoff.Plus(a);
        var sign = rho.sign();
        var oneMinusXoff = xoff.neg().Plus(TorchScalars.One);
        var uPowMMinus1 = u.pow(smMinus1);
        var f = sign * (u.pow(sm) - yoff);
        var df = yoff.Plus(oneMinusXoff.mul(sm) * uPowMMinus1);
        var d2f = sign * ((u.pow(smMinus2).mul(smm1) * oneMinusXoff.Squared()).Plus(uPowMMinus1.mul(sm) * xoff) - yoff);
        return (f, df, d2f);
    }

    /// <summary>Per element of chunk c: ρ [n_e, P], Σ_p w_p F, w_p F', w_p F'' ([n_e], [n_e, P], [n_e, P]).</summary>
    private (Tensor E, Tensor dF, Tensor d2F) Embedding(Chunk c, int e, Tensor a)
    {
        var rho = c.X.index_select(0, c.ElementAtoms[e]).matmul(a); // [n_e, P]
        var fs = new Tensor[_p]; var d1 = new Tensor[_p]; var d2 = new Tensor[_p];
        for (int q = 0; q < _p; q++)
        {
            var (f, df, d2f) = Embed(rho.select(1, q), _o.FsParameters[2 * q + 1]);
            fs[q] = f.Times(_w[q]); d1[q] = df.Times(_w[q]); d2[q] = d2f.Times(_w[q]);
        }
        return (stack(fs, 1).sum(1), stack(d1, 1), stack(d2, 1));
    }

    /// <summary>Energies of the chunk's structures and forces of its atoms [atoms, 3] (null without force data).</summary>
    private (Tensor E, Tensor? F) Predict(Chunk c, Tensor p)
    {
        var eAtom = zeros(c.Atoms, dtype: ScalarType.Float64);
        var dEdX = zeros(c.Atoms, _k, dtype: ScalarType.Float64);
        for (int e = 0; e < _elements.Length; e++)
        {
            if (c.ElementAtoms[e].shape[0] == 0) continue;
            long o = e * PerElement;
            var a = p.narrow(0, o + 1, _k * _p).view(_k, _p);
            var (ea, dF, _) = Embedding(c, e, a);
            eAtom = eAtom.index_add(0, c.ElementAtoms[e], ea.Plus(p[o]), TorchScalars.One);
            dEdX = dEdX.index_add(0, c.ElementAtoms[e], dF.matmul(a.t()), TorchScalars.One);
        }
        var energies = zeros(c.Structures, dtype: ScalarType.Float64).index_add(0, c.AtomStructure, eAtom, TorchScalars.One);
        if (c.Dx is null) return (energies, null);
        var gp = bmm(dEdX.index_select(0, c.Pc!).unsqueeze(1), c.Dx).squeeze(1);
        var forces = zeros(c.Atoms, 3, dtype: ScalarType.Float64).index_add(0, c.Pc!, gp, TorchScalars.One).index_add(0, c.Pn!, gp, TorchScalars.MinusOne);
        return (energies, forces);
    }

    /// <summary>The chunk's residuals: √(w_E/n_E) ΔE_s/N_s per structure, then √(w_F/n_F) ΔF per labelled force component (0 for unlabelled).</summary>
    private Tensor ChunkResiduals(Chunk c, Tensor p)
    {
        var (e, f) = Predict(c, p);
        var re = (e - c.EnergyTarget) * c.EnergyScale;
        if (f is null || _wF == 0) return re;
        return cat([re, ((f - c.ForceTarget!) * c.ForceMask!).Times(_forceScale).view(-1)], 0);
    }

    /// <summary>
    /// The residual vector at <paramref name="parameters"/>, in chunk order (energy rows then force rows of each chunk), then the
    /// regulariser's rows √(λ s_k) (a_kp − a°_kp); loss = Σ r².
    /// </summary>
    public double[] Residuals(double[] parameters)
    {
        using var scope = NewDisposeScope();
        var p = tensor(parameters, ScalarType.Float64);
        var data = new List<double>();
        foreach (var c in Chunks())
            using (NewDisposeScope()) data.AddRange(ChunkResiduals(c, p).data<double>().ToArray());
        return [.. data, .. _penalised.Select(i => Math.Sqrt(_penalty[i]) * (parameters[i] - _center[i]))];
    }

    /// <summary>The chunk's residuals r and their exact Jacobian J [rows, parameters] (analytic, no autograd).</summary>
    private (Tensor R, Tensor J) ChunkJacobian(Chunk c, Tensor p)
    {
        bool withForces = c.Dx is not null && _wF > 0;
        int n = Parameters.Length, kp = _k * _p;
        long rows = c.Structures + (withForces ? 3L * c.Atoms : 0);
        var jac = zeros(rows, n, dtype: ScalarType.Float64);
        var r = ChunkResiduals(c, p);
        var energyRows = jac.narrow(0, 0, c.Structures);
        for (int e = 0; e < _elements.Length; e++)
        {
            var atomsE = c.ElementAtoms[e];
            long ne = atomsE.shape[0];
            if (ne == 0) continue;
            long o = e * PerElement;
            var a = p.narrow(0, o + 1, kp).view(_k, _p);
            var (_, dF, d2F) = Embedding(c, e, a);
            // energy rows: ∂E_s/∂E0 = N_s(e), ∂E_s/∂a_kp = Σ_i w_p F'(ρ_ip) X_ik
            var structureE = c.AtomStructure.index_select(0, atomsE);
            var xe = c.X.index_select(0, atomsE);
            var block = cat([ones(ne, 1, dtype: ScalarType.Float64), (xe.unsqueeze(2) * dF.unsqueeze(1)).view(ne, kp)], 1);
            energyRows.narrow(1, o, 1 + kp).index_add_(0, structureE, block, TorchScalars.One);
            if (!withForces) continue;
            // force rows: per pair q (centre c, neighbour j), ∂g_q/∂a_kp with g_q = Σ_k (Σ_p w_p F'(ρ_cp) a_kp) ∂X_ck/∂r_j:
            // w_p F''(ρ_cp) X_ck D_qp + w_p F'(ρ_cp) ∂X_ck/∂r_j, D_qp = Σ_k' a_k'p ∂X_ck'/∂r_j
            var d1 = zeros(c.Atoms, _p, dtype: ScalarType.Float64).index_add(0, atomsE, dF, TorchScalars.One);
            var d2 = zeros(c.Atoms, _p, dtype: ScalarType.Float64).index_add(0, atomsE, d2F, TorchScalars.One);
            var pairsE = c.ElementPairs![e];
            var dx = pairsE is null ? c.Dx! : c.Dx!.index_select(0, pairsE);
            var pcE = pairsE is null ? c.Pc! : c.Pc!.index_select(0, pairsE);
            var pnE = pairsE is null ? c.Pn! : c.Pn!.index_select(0, pairsE);
            long q = dx.shape[0];
            if (q == 0) continue;
            var dxT = dx.transpose(1, 2); // [q, 3, K]
            var dq = dxT.matmul(a);       // [q, 3, P]
            var t1 = c.X.index_select(0, pcE).view(q, 1, _k, 1) * (d2.index_select(0, pcE).unsqueeze(1) * dq).unsqueeze(2);
            var pair = t1.PlusInPlace(dxT.unsqueeze(3) * d1.index_select(0, pcE).view(q, 1, 1, _p)).view(q, 3L * kp);
            var perAtom = zeros(c.Atoms, 3L * kp, dtype: ScalarType.Float64).index_add_(0, pcE, pair, TorchScalars.One).index_add_(0, pnE, pair, TorchScalars.MinusOne);
            perAtom = perAtom.view(c.Atoms, 3, kp) * c.ForceMask!.Times(_forceScale).unsqueeze(2);
            jac.narrow(0, c.Structures, 3L * c.Atoms).narrow(1, o + 1, kp).PlusInPlace(perAtom.view(3L * c.Atoms, kp));
        }
        energyRows.mul_(c.EnergyScale.unsqueeze(1));
        return (r, jac);
    }

    /// <summary>The exact Jacobian of <see cref="Residuals"/> [rows, parameters], row-major (for checks on small problems; the fit never holds it whole).</summary>
    public double[] Jacobian(double[] parameters)
    {
        using var scope = NewDisposeScope();
        var p = tensor(parameters, ScalarType.Float64);
        var rows = new List<double>();
        foreach (var c in Chunks())
            using (NewDisposeScope()) rows.AddRange(ChunkJacobian(c, p).J.data<double>().ToArray());
        var data = rows.ToArray();
        int n = parameters.Length;
        var jac = new double[data.Length + (long)_penalised.Length * n];
        data.CopyTo(jac, 0);
        for (int r = 0; r < _penalised.Length; r++) jac[data.Length + (long)r * n + _penalised[r]] = Math.Sqrt(_penalty[_penalised[r]]);
        return jac;
    }

    /// <summary>JᵀJ and Jᵀr accumulated over the chunks; returns the loss Σ r².</summary>
    public double NormalEquations(double[] parameters, double[] jtj, double[] jtr)
    {
        using var scope = NewDisposeScope();
        var p = tensor(parameters, ScalarType.Float64);
        int n = parameters.Length;
        var a = zeros(n, n, dtype: ScalarType.Float64);
        var g = zeros(n, dtype: ScalarType.Float64);
        double loss = 0;
        foreach (var c in Chunks())
            using (NewDisposeScope())
            {
                var (r, j) = ChunkJacobian(c, p);
                a.PlusInPlace(j.t().matmul(j));
                g.PlusInPlace(j.t().matmul(r));
                loss += r.dot(r).item<double>();
            }
        a.data<double>().CopyTo(jtj);
        g.data<double>().CopyTo(jtr);
        // under MPI the sums of every rank's blocks, added in rank order: the same normal equations on every rank
        _comm.AllreduceSum(jtj.AsSpan(0, n * n));
        loss = _comm.AllreduceSum(jtr.AsSpan(0, n), loss);
        // the regulariser's rows √(λ s_k) (a_kp − a°_kp): λ s_k on the diagonal of JᵀJ, λ s_k (a_kp − a°_kp) in Jᵀr
        foreach (int i in _penalised)
        {
            jtj[(long)i * n + i] += _penalty[i];
            jtr[i] += _penalty[i] * (parameters[i] - _center[i]);
        }
        return loss + Penalty(parameters);
    }

    /// <summary>The loss at <paramref name="parameters"/> (Σ r² of <see cref="Residuals"/>), its gradient into <paramref name="gradient"/> unless null.</summary>
    public double Loss(double[] parameters, double[]? gradient)
    {
        using var scope = NewDisposeScope();
        var p = tensor(parameters, ScalarType.Float64).requires_grad_(gradient is not null);
        if (gradient is not null) Array.Clear(gradient);
        double loss = 0;
        foreach (var c in Chunks())
            using (NewDisposeScope())
            {
                var r = ChunkResiduals(c, p);
                var l = r.dot(r);
                loss += l.item<double>();
                if (gradient is null) continue;
                l.backward();
                var g = p.grad!.data<double>();
                for (int i = 0; i < gradient.Length; i++) gradient[i] += g[i];
                p.grad!.zero_();
            }
        loss = _comm.AllreduceSum(gradient ?? [], loss); // under MPI: the sums of every rank's blocks
        if (gradient is not null)
            foreach (int i in _penalised) gradient[i] += 2 * _penalty[i] * (parameters[i] - _center[i]);
        return loss + Penalty(parameters);
    }

    /// <summary>Energies and forces of the model at the current parameters (for checks against the exported potential; under MPI this rank's structures).</summary>
    public (double[] Energies, double[]? Forces) Evaluate()
    {
        using var scope = NewDisposeScope();
        var p = tensor(Parameters, ScalarType.Float64);
        var e = new List<double>();
        List<double>? f = null;
        foreach (var c in Chunks())
            using (NewDisposeScope())
            {
                var (ce, cf) = Predict(c, p);
                e.AddRange(ce.data<double>().ToArray());
                if (cf is not null) (f ??= []).AddRange(cf.contiguous().view(-1).data<double>().ToArray());
            }
        return ([.. e], f?.ToArray());
    }

    /// <summary>
    /// Fits from the current parameters with the configured optimiser; returns the loss at the start and at the end.
    /// <paramref name="log"/> gets one line per iteration (loss, and λ for Levenberg–Marquardt).
    /// </summary>
    public (double Start, double End) Run(IProgress<WorkProgress>? progress = null, Action<string>? log = null)
    {
        TorchRuntime.SetThreads(_o.Threads);
        var ci = System.Globalization.CultureInfo.InvariantCulture;
        if (_o.Optimizer == AceEmbeddingOptimizer.LevenbergMarquardt)
        {
            var lm = new LevenbergMarquardt(new LevenbergMarquardtOptions { Iterations = _o.Iterations, Tolerance = _o.Tolerance });
            var (s, e, _) = lm.Minimize(Parameters, NormalEquations, x => Loss(x, null), step =>
            {
                log?.Invoke(string.Create(ci, $"fs embedding: LM {step.Iteration,4}  loss {step.Loss:E6}  lambda {step.Damping:E2}  {(step.Accepted ? "accepted" : "rejected")}  {step.Elapsed.TotalSeconds:F1} s"));
                progress?.Report(new WorkProgress(step.Iteration, _o.Iterations, step.Elapsed));
            });
            return (s, e);
        }
        var opt = new Lbfgs(Parameters.Length);
        double start = Loss(Parameters, null);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int it = 0; it < _o.Iterations; it++)
        {
            double f = opt.Step(Parameters, (xv, g) => Loss(xv, g));
            log?.Invoke(string.Create(ci, $"fs embedding: L-BFGS {it + 1,4}  loss {f:E6} (before the step)  {clock.Elapsed.TotalSeconds:F1} s"));
            progress?.Report(new WorkProgress(it + 1, _o.Iterations, clock.Elapsed));
        }
        return (start, Loss(Parameters, null));
    }

    /// <summary>The fitted potential in PACE's C-tilde form: c̃_{k s p} = c_ks a_kp / σ_k, E0 per element, the FS embedding.</summary>
    public AceBasisSet ToCTilde()
    {
        var sk = _d.Skeleton;
        int ne = sk.ElementCount;
        var e0 = new double[ne];
        var functions = new AceFunction[ne][];
        var embeddings = new AceEmbedding[ne];
        for (int mu = 0; mu < ne; mu++)
        {
            embeddings[mu] = new AceEmbedding
            {
                Npoti = "FinnisSinclairShiftedScaled", FsParameters = (double[])_o.FsParameters.Clone(), NDensity = _p,
                RhoCoreCut = sk.Embeddings[mu].RhoCoreCut, DRhoCoreCut = sk.Embeddings[mu].DRhoCoreCut,
            };
            int e = Array.IndexOf(_elements, Elements.Number(sk.Elements[mu]));
            if (e < 0) { functions[mu] = []; continue; }
            int o = e * PerElement;
            e0[mu] = Parameters[o];
            var list = new List<AceFunction>();
            for (int a = 0; a < _k; a++)
            {
                var c = new double[_p];
                bool any = false;
                for (int q = 0; q < _p; q++) { c[q] = Parameters[o + 1 + a * _p + q] / _sigma[a]; any |= c[q] != 0; }
                if (!any) continue;
                var f = _d.Functions[a];
                var ct = new double[f.Ctildes.Length * _p];
                for (int s = 0; s < f.Ctildes.Length; s++)
                    for (int q = 0; q < _p; q++) ct[s * _p + q] = f.Ctildes[s] * c[q];
                list.Add(new AceFunction { Mu0 = mu, Rank = f.Rank, NDensity = _p, Mus = f.Mus, Ns = f.Ns, Ls = f.Ls, Ms = f.Ms, Ctildes = ct });
            }
            functions[mu] = [.. list.Where(f => f.Rank == 1), .. list.Where(f => f.Rank > 1)];
        }
        var b = new AceBasisSet
        {
            Elements = sk.Elements, LMax = sk.LMax, NRadBase = sk.NRadBase, NRadMax = sk.NRadMax, RankMax = sk.RankMax, NDensityMax = _p,
            CutoffMax = sk.CutoffMax, DeltaSplineBins = sk.DeltaSplineBins, E0 = e0, Bonds = sk.Bonds, Embeddings = embeddings, Functions = functions,
        };
        b.Validate();
        return b;
    }
}
