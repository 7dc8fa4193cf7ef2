using System.Diagnostics;
using System.Globalization;
using Mlip.Descriptors;
using Mlip.Distributed;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace Mlip.Training;

/// <summary>Settings of a neural-network fit.</summary>
public sealed record NeuralNetworkOptions
{
    public IReadOnlyList<int> Hidden { get; init; } = [30, 30];
    public Activation Activation { get; init; } = Activation.Tanh;
    public string Optimizer { get; init; } = "lbfgs";
    public int Epochs { get; init; } = 1000;

    /// <summary>Step size: L-BFGS initial step (1), Adam/SGD learning rate (1e-3); ≤ 0 for the default.</summary>
    public double LearningRate { get; init; }
    public double Momentum { get; init; } = 0.9;

    /// <summary>Structures per mini-batch; 0 = full batch (required for L-BFGS).</summary>
    public int BatchStructures { get; init; }
    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>Stop after this many evaluations without a better validation loss (0: never).</summary>
    public int Patience { get; init; } = 0;
    public int EvaluateEvery { get; init; } = 10;
    public int CheckpointEvery { get; init; } = 50;
    public double L2 { get; init; } = 1e-6;
    public LossWeights Weights { get; init; } = new() { Force = 0.02 };
    public int Seed { get; init; } = 1;
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// The ranks of an MPI run (docs/scale.md): each holds a contiguous share of the training structures (in the order of the
    /// data), computes the loss and gradient of its part of every batch, and the sums over ranks (in rank order) drive the same
    /// optimiser step on every rank; the validation split and the batches are those of one process.
    /// </summary>
    public ICommunicator Communicator { get; init; } = SingleProcess.Instance;
}

/// <summary>One line of the learning curve.</summary>
public sealed record LearningPoint(int Epoch, double Loss, double? ValidationEnergyMae, double? ValidationForceMae, double Seconds)
{
    /// <summary>The log line of this point: "<paramref name="label"/> epoch: loss, validation errors, seconds" (|Epoch|: PINN stage 1 is stored negative).</summary>
    internal string LogLine(string label) => string.Create(CultureInfo.InvariantCulture,
        $"{label} {Math.Abs(Epoch),5}: loss {Loss:E4}{(ValidationEnergyMae is double e ? $", validation {e:F2} meV/atom, {ValidationForceMae:F4} eV/Å" : "")}, {Seconds:F0} s");
}

/// <summary>
/// Trains per-element networks (<see cref="NeuralNetworkModel"/>) with libtorch in float64 on the loss
/// of the PyXtal_FF thesis (eq. 2.74): mean over structures of (ΔE/N)² + w_F · mean ΔF² + w_S · mean Δσ²
/// + λ Σ W². Forces need dE/dX inside the graph (double backprop: create_graph and retain_graph),
/// contracted with the sparse descriptor derivative blocks. The optimiser runs in managed code on the
/// flat parameter vector, so checkpoints hold its whole state and <c>--resume</c> continues exactly.
/// </summary>
public sealed class NeuralNetworkTrainer
{
    private readonly NeuralNetworkOptions _o;
    private readonly int[] _elements;
    private readonly int _k;
    private readonly double[] _mean, _scale, _offsets;
    private readonly List<Batch?> _batches = [];
    private readonly Batch? _validation;
    private readonly ElementNetworks _networks;
    // streamed mini-batches (docs/scale.md): the structures of each batch, whose descriptors are computed when the batch is used
    private readonly IDescriptor? _descriptor;
    private readonly IReadOnlyList<Structure>? _structures;
    private readonly List<int[]> _batchStructures = [];
    private readonly int[] _validationStructures = [];
    private readonly bool _derivatives;
    // under MPI: this rank holds a contiguous share of the structures (local indices above); the labelled counts of each
    // batch and of the validation set over all ranks, which normalise every rank's part of the loss
    private readonly ICommunicator _comm;
    private readonly List<LossCounts> _batchCounts = [];
    private readonly LossCounts _validationCounts;

    public NeuralNetworkTrainer(TrainingSet data, NeuralNetworkOptions options)
        : this(data.Structures,
            options.Communicator.Size > 1 ? DistributedFit.Elements(options.Communicator, data.Structures) : data.Elements(), data.FeatureCount,
            options.Communicator.Size > 1 ? DistributedFit.FeatureStatistics(options.Communicator, data, data.FeatureCount) : data.FeatureStatistics(), options)
    {
        if (_validationStructures.Length > 0) _validation = new Batch(data, _validationStructures, this, _derivatives);
        foreach (var batch in _batchStructures) _batches.Add(batch.Length > 0 ? new Batch(data, batch, this, _derivatives) : null);
    }

    /// <summary>
    /// A trainer whose mini-batches stream (docs/scale.md): each batch's descriptors (and derivative blocks) are computed when
    /// the batch is used and dropped after its step, so memory is bounded by one batch whatever the size of the data. The
    /// feature statistics come from the descriptor store (<c>DescriptorStore.FeatureStatistics</c>, the same numbers as
    /// <see cref="TrainingSet.FeatureStatistics"/>). Needs mini-batches (batch &gt; 0; Adam or SGD).
    /// </summary>
    public NeuralNetworkTrainer(IReadOnlyList<Structure> structures, IDescriptor descriptor, (double[] Mean, double[] Scale) statistics, NeuralNetworkOptions options)
        : this(structures, [.. structures.SelectMany(s => s.AtomicNumbers).Distinct().Order()], descriptor.FeatureCount, statistics, options)
    {
        if (options.BatchStructures <= 0) throw new MlipException("streamed network training needs mini-batches (batch > 0)");
        if (options.Communicator.Size > 1) throw new MlipException("a network's mini-batches streamed from the descriptor store do not split over MPI ranks yet (store: none)");
        _descriptor = descriptor;
        _structures = structures;
    }

    private NeuralNetworkTrainer(IReadOnlyList<Structure> structures, int[] elements, int k, (double[] Mean, double[] Scale) statistics, NeuralNetworkOptions options)
    {
        TorchRuntime.EnsureLoaded();
        TorchRuntime.ReuseFreedMemory(); // the same large tensors at every loss evaluation: no page faults for them (the PINN trainer does the same)
        _o = options;
        _comm = options.Communicator;
        _elements = elements;
        _k = k;
        (_mean, _scale) = statistics;
        _offsets = ReferenceEnergies(structures, _elements, _comm);
        _derivatives = options.Weights.Force > 0 || options.Weights.Stress > 0;
        if (options.Optimizer.Equals("lbfgs", StringComparison.OrdinalIgnoreCase) && options.BatchStructures > 0)
            throw new MlipException("L-BFGS needs the full batch (batch: 0); use adam or sgd for mini-batches");

        // validation split and batches, from the seed, over the structures of all ranks; each rank keeps its own (local indices)
        var (first, total) = GlobalRange(_comm, structures.Count);
        var split = new TrainingSplit(total, options.ValidationFraction, options.BatchStructures, options.Seed);
        int[] Local(int[] global) => [.. global.Where(i => i >= first && i < first + structures.Count).Select(i => i - first)];
        _validationStructures = Local(split.Validation);
        _batchStructures.AddRange(split.Batches.Select(Local));
        _networks = new ElementNetworks(_elements.Length, _k, options.Hidden, 1, options.Activation);
        TrainStructures = split.Train.Length;
        ValidationStructures = split.Validation.Length;
        if (_comm.Size > 1)
        {
            foreach (var b in _batchStructures) _batchCounts.Add(LossCounts.Of(structures, b, _comm));
            _validationCounts = LossCounts.Of(structures, _validationStructures, _comm);
        }
    }

    /// <summary>The index of this rank's first structure among all ranks' and the number of structures of all ranks.</summary>
    internal static (int First, int Total) GlobalRange(ICommunicator comm, int local)
    {
        if (comm.Size == 1) return (0, local);
        var counts = comm.AllgatherVariable([(double)local]);
        return ((int)counts.Take(comm.Rank).Sum(c => c[0]), (int)counts.Sum(c => c[0]));
    }

    /// <summary>The structures, labelled force components, labelled stress components and atoms of a set of structures over all ranks (the loss's denominators).</summary>
    internal readonly record struct LossCounts(long Structures, long ForceComponents, long StressComponents, long Atoms)
    {
        public static LossCounts Of(IReadOnlyList<Structure> structures, int[] local, ICommunicator comm)
        {
            Span<long> c = [local.Length, local.Sum(i => structures[i].Forces is null ? 0L : 3L * structures[i].Count),
                local.Sum(i => structures[i].Stress is not null && structures[i].Pbc.AllPeriodic ? 6L : 0L), local.Sum(i => (long)structures[i].Count)];
            comm.AllreduceSum(c);
            return new LossCounts(c[0], c[1], c[2], c[3]);
        }

        /// <summary>Energy MAE (meV/atom), force MAE (eV/Å; NaN without forces) and the energy + force loss from the sums of BatchLabels.ErrorSums over all ranks.</summary>
        public (double EnergyMae, double ForceMae, double Loss) Errors(ReadOnlySpan<double> sums, LossWeights w)
        {
            double fMae = ForceComponents > 0 ? sums[2] / ForceComponents : double.NaN;
            double loss = w.Energy * sums[1] / Structures + (ForceComponents > 0 ? w.Force * sums[3] / ForceComponents : 0);
            return (1000 * sums[0] / Structures, fMae, loss);
        }
    }

    /// <summary>True when the batches are computed as they are used (see the streaming constructor).</summary>
    public bool Streams => _structures is not null;

    /// <summary>Runs <paramref name="use"/> on batch <paramref name="b"/> (built for the call when streaming, then disposed).</summary>
    private T WithBatch<T>(int b, Func<Batch?, T> use) =>
        _batchStructures[b].Length == 0 ? use(null) : Streams ? WithStreamed(_batchStructures[b], use) : use(_batches[b]);

    private T WithStreamed<T>(int[] structures, Func<Batch, T> use)
    {
        var batchStructures = structures.Select(i => _structures![i]).ToList();
        var sets = DatasetDescriptors.Compute(_descriptor!, batchStructures, _derivatives, _o.Threads);
        using var batch = new Batch(new TrainingSet(batchStructures, sets), [.. Enumerable.Range(0, structures.Length)], this, _derivatives);
        return use(batch);
    }

    /// <summary>
    /// The validation errors: of the whole validation set in memory; streamed, over pieces of one batch size, combined
    /// (energy MAE weighted by structures, force MAE by force components, loss by structures).
    /// </summary>
    private (double EnergyMae, double ForceMae, double Loss) ValidationErrors(double[] x)
    {
        if (_comm.Size > 1)
        {
            // each rank's sums over its validation structures, added over the ranks and divided by the counts of all
            Span<double> sums = _validation is null ? stackalloc double[5] : _validation.ErrorSums(x, this);
            _comm.AllreduceSum(sums);
            return _validationCounts.Errors(sums, _o.Weights);
        }
        if (!Streams) return _validation!.Errors(x, this);
        double e = 0, f = 0, l = 0, ne = 0, nf = 0;
        for (int start = 0; start < _validationStructures.Length; start += _o.BatchStructures)
        {
            var piece = _validationStructures[start..Math.Min(_validationStructures.Length, start + _o.BatchStructures)];
            var (pe, pf, pl) = WithStreamed(piece, b => b.Errors(x, this));
            int components = piece.Sum(i => _structures![i].Forces is null ? 0 : 3 * _structures[i].Count);
            e += pe * piece.Length; l += pl * piece.Length; ne += piece.Length;
            if (double.IsFinite(pf) && components > 0) { f += pf * components; nf += components; }
        }
        return (e / ne, nf > 0 ? f / nf : double.NaN, l / ne);
    }

    private bool HasValidation => _validationStructures.Length > 0;

    public int TrainStructures { get; }
    public int ValidationStructures { get; }
    public int ParameterCount => _networks.Count;

    /// <summary>Per-element reference energies (eV/atom): least squares of E against element counts (the normal equations summed over the ranks).</summary>
    private static double[] ReferenceEnergies(IReadOnlyList<Structure> structures, int[] elements, ICommunicator comm)
    {
        int ne = elements.Length;
        var ata = new double[ne * ne];
        var atb = new double[ne];
        foreach (var s in structures)
        {
            if (s.Energy is not double e) continue;
            var c = new double[ne];
            foreach (int z in s.AtomicNumbers) c[Array.IndexOf(elements, z)] += 1;
            double n = s.Count;
            for (int a = 0; a < ne; a++)
            {
                atb[a] += c[a] / n * e / n;
                for (int b = 0; b < ne; b++) ata[a * ne + b] += c[a] / n * c[b] / n;
            }
        }
        if (comm.Size > 1)
        {
            comm.AllreduceSum(ata);
            comm.AllreduceSum(atb);
        }
        for (int a = 0; a < ne; a++) ata[a * ne + a] += 1e-10;
        var sol = new ManagedLeastSquares().Solve(new LeastSquaresProblem(ata, ne, atb, null, null));
        return sol.Coefficients;
    }

    /// <summary>Initial parameters (Xavier uniform from the seed), in the flat order of the model's layers.</summary>
    public double[] InitialParameters()
    {
        var x = new double[ParameterCount];
        _networks.Initialize(x, new Random(_o.Seed + 7919));
        return x;
    }

    public NeuralNetworkModel ToModel(double[] x)
    {
        var nets = _networks.ToMlps(x, _elements.Length);
        return new NeuralNetworkModel(_elements, _k, nets, (double[])_offsets.Clone(), (double[])_mean.Clone(), (double[])_scale.Clone());
    }

    /// <summary>
    /// Runs the optimisation. With <paramref name="checkpointPath"/> a checkpoint is written every
    /// CheckpointEvery epochs (atomically); with <paramref name="resume"/> and an existing checkpoint the
    /// run continues from it. Returns the model with the best validation loss (the last one without a
    /// validation split) and the learning curve.
    /// </summary>
    public (NeuralNetworkModel Model, IReadOnlyList<LearningPoint> Curve, double FinalLoss) Train(TextWriter log, string? checkpointPath = null, bool resume = false)
    {
        TorchRuntime.SetThreads(_o.Threads);
        var x = InitialParameters();
        var optimizer = Optimizers.Create(_o.Optimizer, ParameterCount, _o.LearningRate, _o.Momentum);
        var curve = new List<LearningPoint>();
        int startEpoch = 0;
        double bestVal = double.PositiveInfinity;
        double[] best = (double[])x.Clone();
        int sinceBest = 0;
        double elapsedBefore = 0;
        if (resume && checkpointPath is not null && File.Exists(checkpointPath))
        {
            var cp = TrainingCheckpoint.Read(checkpointPath);
            if (cp.ParameterCount != ParameterCount || cp.Optimizer != optimizer.Name || cp.SinceBest is not int since || cp.OptimizerState is null)
                throw new MlipException($"{checkpointPath} was written for another network or optimizer; remove it to start afresh");
            startEpoch = cp.Epoch;
            x = cp.Parameters;
            best = cp.BestParameters;
            bestVal = cp.BestValidation;
            sinceBest = since;
            elapsedBefore = cp.Seconds;
            optimizer.LoadState(cp.OptimizerState);
            curve.AddRange(cp.Curve);
            log.WriteLine($"resuming from {checkpointPath} after epoch {startEpoch}");
        }

        var clock = Stopwatch.StartNew();
        double lastLoss = double.NaN;
        for (int epoch = startEpoch + 1; epoch <= _o.Epochs; epoch++)
        {
            // batch order of this epoch from (seed, epoch): the same after a resume
            var order = TrainingSplit.EpochOrder(_o.Seed, epoch, _batchStructures.Count);
            double sum = 0;
            foreach (int b in order)
                sum += WithBatch(b, batch => optimizer.Step(x, (p, g) => BatchLossAndGradient(b, batch, p, g)));
            lastLoss = sum / _batchStructures.Count;
            if (!double.IsFinite(lastLoss)) throw new MlipException($"the loss became {lastLoss} at epoch {epoch}; lower the learning rate");

            bool evaluate = epoch % Math.Max(1, _o.EvaluateEvery) == 0 || epoch == _o.Epochs;
            double? vE = null, vF = null;
            if (evaluate && HasValidation)
            {
                var (ve, vf, vl) = ValidationErrors(x);
                vE = ve; vF = vf;
                if (vl < bestVal) { bestVal = vl; best = (double[])x.Clone(); sinceBest = 0; }
                else sinceBest++;
            }
            else if (!HasValidation) best = (double[])x.Clone();
            double seconds = elapsedBefore + clock.Elapsed.TotalSeconds;
            if (evaluate)
            {
                curve.Add(new LearningPoint(epoch, lastLoss, vE, vF, seconds));
                log.WriteLine(curve[^1].LogLine("epoch"));
            }
            if (checkpointPath is not null && _comm.IsRoot && (epoch % Math.Max(1, _o.CheckpointEvery) == 0))
                new TrainingCheckpoint
                {
                    Epoch = epoch, ParameterCount = ParameterCount, Optimizer = optimizer.Name, Parameters = x, BestParameters = best,
                    BestValidation = bestVal, SinceBest = sinceBest, Seconds = seconds, OptimizerState = optimizer.SaveState(), Curve = curve,
                }.Write(checkpointPath);
            if (_o.Patience > 0 && sinceBest >= _o.Patience)
            {
                log.WriteLine($"early stop at epoch {epoch}: no better validation loss in {_o.Patience} evaluations");
                break;
            }
        }
        // a resume with no epoch left runs none: the loss is then that of the checkpoint's parameters (mean over batches, as an epoch's)
        if (double.IsNaN(lastLoss)) lastLoss = LossAndGradient(x, new double[x.Length]) / _batchStructures.Count;
        return (ToModel(HasValidation ? best : x), curve, lastLoss);
    }

    /// <summary>The training loss over all batches at <paramref name="x"/> and its gradient (for tests and diagnostics).</summary>
    public double LossAndGradient(double[] x, double[] gradient)
    {
        TorchRuntime.SetThreads(_o.Threads);
        var g = new double[gradient.Length];
        Array.Clear(gradient);
        double loss = 0;
        for (int b = 0; b < _batchStructures.Count; b++)
        {
            loss += WithBatch(b, batch => BatchLossAndGradient(b, batch, x, g));
            for (int i = 0; i < g.Length; i++) gradient[i] += g[i];
        }
        return loss;
    }

    /// <summary>
    /// The loss of batch <paramref name="b"/> and its gradient. Under MPI each rank computes its part (normalised by the batch's
    /// counts over all ranks; the L2 penalty on rank 0 only; nothing on a rank without structures in the batch), and the parts
    /// are added over the ranks in rank order, so every rank gets the same bits and takes the same optimiser step.
    /// </summary>
    private double BatchLossAndGradient(int b, Batch? batch, double[] x, double[] gradient)
    {
        if (_comm.Size == 1) return batch!.LossAndGradient(x, gradient, this);
        Array.Clear(gradient);
        double loss = batch is not null ? batch.LossAndGradient(x, gradient, this, _batchCounts[b], l2: _comm.IsRoot)
            : _comm.IsRoot ? _networks.L2Only(x, gradient, _o.L2) : 0;
        return _comm.AllreduceSum(gradient, loss);
    }

    /// <summary>Tensors of a set of structures: normalised features, per-element atom indices, labels, derivative blocks.</summary>
    private sealed class Batch : IDisposable
    {
        private readonly Tensor _x;
        private readonly Tensor[] _elementAtoms;
        private readonly Tensor _atomStructure, _offsetPer;
        private readonly Tensor? _d, _pc, _pn, _pv, _ps;
        private readonly BatchLabels _labels;
        private readonly int _structures, _atoms;

        public Batch(TrainingSet data, int[] structures, NeuralNetworkTrainer t, bool derivatives)
        {
            int k = t._k;
            int atoms = structures.Sum(s => data.Structures[s].Count);
            int pairs = derivatives ? structures.Sum(s => data.Descriptors[s].Neighbors.PairCount) : 0;
            var x = new double[(long)atoms * k];
            var atomStructure = new long[atoms];
            var elementOf = new int[atoms];
            var offset = new double[structures.Length];
            var d = derivatives ? new double[(long)pairs * k * 3] : [];
            var pc = new long[pairs]; var pn = new long[pairs]; var ps = new long[pairs];
            var pv = new double[3L * pairs];
            int ao = 0, po = 0;
            for (int q = 0; q < structures.Length; q++)
            {
                var st = data.Structures[structures[q]];
                var set = data.Descriptors[structures[q]];
                for (int i = 0; i < st.Count; i++)
                {
                    int e = Array.IndexOf(t._elements, st.AtomicNumbers[i]);
                    elementOf[ao + i] = e;
                    offset[q] += t._offsets[e];
                    atomStructure[ao + i] = q;
                    var xi = set.Of(i);
                    for (int a = 0; a < k; a++) x[(long)(ao + i) * k + a] = (xi[a] - t._mean[a]) / t._scale[a];
                }
                if (derivatives)
                {
                    var nl = set.Neighbors;
                    var cs = nl.Centers; var ns = nl.Neighbors; var vs = nl.Vectors;
                    var grad = set.PairGradients!;
                    for (int p = 0; p < nl.PairCount; p++)
                    {
                        pc[po + p] = ao + cs[p];
                        pn[po + p] = ao + ns[p];
                        ps[po + p] = q;
                        pv[3L * (po + p)] = vs[p].X; pv[3L * (po + p) + 1] = vs[p].Y; pv[3L * (po + p) + 2] = vs[p].Z;
                        // dX̃/dr = dX/dr / scale
                        long src = (long)p * k * 3, dst = (long)(po + p) * k * 3;
                        for (int a = 0; a < k; a++)
                        {
                            double inv = 1 / t._scale[a];
                            d[dst + 3 * a] = grad[src + 3 * a] * inv;
                            d[dst + 3 * a + 1] = grad[src + 3 * a + 1] * inv;
                            d[dst + 3 * a + 2] = grad[src + 3 * a + 2] * inv;
                        }
                    }
                    po += nl.PairCount;
                }
                ao += st.Count;
            }
            _structures = structures.Length;
            _atoms = atoms;
            _x = tensor(x, [atoms, k], dtype: ScalarType.Float64);
            _elementAtoms = new Tensor[t._elements.Length];
            for (int e = 0; e < t._elements.Length; e++)
                _elementAtoms[e] = tensor(Enumerable.Range(0, atoms).Where(i => elementOf[i] == e).Select(i => (long)i).ToArray(), dtype: ScalarType.Int64);
            _atomStructure = tensor(atomStructure, dtype: ScalarType.Int64);
            _labels = new BatchLabels(data, structures, derivatives);
            _offsetPer = tensor(offset, dtype: ScalarType.Float64);
            if (derivatives)
            {
                _d = tensor(d, [pairs, k, 3], dtype: ScalarType.Float64);
                _pc = tensor(pc, dtype: ScalarType.Int64);
                _pn = tensor(pn, dtype: ScalarType.Int64);
                _ps = tensor(ps, dtype: ScalarType.Int64);
                _pv = tensor(pv, [pairs, 3], dtype: ScalarType.Float64);
            }
        }

        public void Dispose()
        {
            _x.Dispose();
            foreach (var t in _elementAtoms) t.Dispose();
            _atomStructure.Dispose();
            _offsetPer.Dispose();
            _d?.Dispose(); _pc?.Dispose(); _pn?.Dispose(); _pv?.Dispose(); _ps?.Dispose();
            _labels.Dispose();
        }

        /// <summary>Energies per structure, and forces and stresses when the graph for them is asked for.</summary>
        private (Tensor E, Tensor? F, Tensor? S) Predict(List<Tensor> p, NeuralNetworkTrainer t, bool forces, bool createGraph)
        {
            var x = _x.detach().requires_grad_(forces);
            var eAtom = zeros(_atoms, dtype: ScalarType.Float64);
            for (int e = 0; e < _elementAtoms.Length; e++)
            {
                if (_elementAtoms[e].shape[0] == 0) continue;
                eAtom = eAtom.index_copy(0, _elementAtoms[e], t._networks.Forward(p, e, x.index_select(0, _elementAtoms[e])).squeeze(-1));
            }
            var energies = zeros(_structures, dtype: ScalarType.Float64).index_add(0, _atomStructure, eAtom, TorchScalars.One).Plus(_offsetPer);
            if (!forces || _d is null) return (energies, null, null);
            var g = autograd.grad([eAtom.sum()], [x], retain_graph: true, create_graph: createGraph)[0]; // dE/dX̃ [atoms, k]
            var gp = bmm(g.index_select(0, _pc!).unsqueeze(1), _d).squeeze(1);                          // dE/dr_ij [pairs, 3]
            var f = zeros(_atoms, 3, dtype: ScalarType.Float64).index_add(0, _pc!, gp, TorchScalars.One).index_add(0, _pn!, gp, TorchScalars.MinusOne);
            var s = _labels.HasStress ? _labels.Stress(gp, _pv!, _ps!) : null;
            return (energies, f, s);
        }

        /// <summary>
        /// The loss of this batch with the L2 penalty, and its gradient. With <paramref name="counts"/> this is one MPI rank's part
        /// of a batch spread over the ranks: its squared errors divided by the batch's counts over all ranks, the L2 penalty only
        /// when <paramref name="l2"/> (one rank adds it), and every parameter in the graph (an element this rank's structures lack
        /// gets a zero gradient).
        /// </summary>
        public double LossAndGradient(double[] x, double[] gradient, NeuralNetworkTrainer t, LossCounts? counts = null, bool l2 = true)
        {
            using var scope = NewDisposeScope();
            var p = t._networks.Tensors(x, grad: true);
            var w = t._o.Weights;
            bool forces = _d is not null && (w.Force > 0 || w.Stress > 0);
            var (e, f, s) = Predict(p, t, forces, createGraph: true);
            var loss = _labels.Loss(w, e, f, s, counts);
            if (counts is not null) loss = loss.Plus(t._networks.Touch(p));
            if (l2) loss = t._networks.AddL2(loss, p, t._o.L2);
            t._networks.Gradient(loss, p, gradient);
            return loss.item<double>();
        }

        /// <summary>Σ|ΔE/N|, Σ(ΔE/N)², Σ|ΔF|, ΣΔF² over this set (the validation errors of an MPI run are these summed over the ranks).</summary>
        public double[] ErrorSums(double[] x, NeuralNetworkTrainer t)
        {
            using var scope = NewDisposeScope();
            var p = t._networks.Tensors(x, grad: true);
            var (e, f, _) = Predict(p, t, _d is not null, createGraph: false);
            return _labels.ErrorSums(e, f);
        }

        /// <summary>Energy MAE (meV/atom), force MAE (eV/Å) and the loss of this set.</summary>
        public (double EnergyMae, double ForceMae, double Loss) Errors(double[] x, NeuralNetworkTrainer t)
        {
            using var scope = NewDisposeScope();
            var p = t._networks.Tensors(x, grad: true);
            var (e, f, _) = Predict(p, t, _d is not null, createGraph: false);
            return _labels.Errors(t._o.Weights, e, f);
        }
    }
}
