using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Distributed;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace Mlip.Training;

/// <summary>Settings of a PINN fit (docs/pinn.md, "Training").</summary>
public sealed record PinnOptions
{
    /// <summary>R_c and d_c of the bond-order potential (the features' own, 1.5 R_c, follow from them).</summary>
    public double Cutoff { get; init; } = 4.0;
    public double CutoffRange { get; init; } = 1.5;

    /// <summary>Starting base parameters of every element (one set, <see cref="PinnBopLayout.SetSize"/> for one element; repeated for more).</summary>
    public IReadOnlyList<double>? InitialParameters { get; init; }
    public IReadOnlyList<int> Hidden { get; init; } = [16, 16];
    public Activation Activation { get; init; } = Activation.Tanh;

    /// <summary>Stage 1: L-BFGS iterations on the base parameters of the plain BOP.</summary>
    public int BopEpochs { get; init; } = 100;

    /// <summary>Stage 1: the stress weight of the BOP's loss; null: that of <see cref="Weights"/>.</summary>
    public double? BopStress { get; init; }

    /// <summary>
    /// Stage 1: each group (config type) of the training structures gets the same share of each term of the BOP's loss: the squared
    /// energy errors of a structure of group g are weighed by N/(G n_g) (N structures in G groups, n_g in g), its force components by
    /// F/(G f_g) and its stress components by S/(G s_g) (the components of all and of g's structures), so each weight averages 1.
    /// </summary>
    public bool BopGroupsEqual { get; init; }

    /// <summary>The loss weights of stage 1: <see cref="Weights"/> with <see cref="BopStress"/> when given.</summary>
    public LossWeights StageOneWeights => BopStress is { } s ? Weights with { Stress = s } : Weights;

    /// <summary>Stage 2: the network's optimiser and epochs.</summary>
    public string Optimizer { get; init; } = "lbfgs";
    public int Epochs { get; init; } = 200;
    public double LearningRate { get; init; }
    public int BatchStructures { get; init; }
    public double ValidationFraction { get; init; } = 0.1;
    public int EvaluateEvery { get; init; } = 10;
    public int CheckpointEvery { get; init; } = 20;

    /// <summary>τ of the penalty τ · mean over atoms of |Δp_i|² that keeps the parameters near p0.</summary>
    public double Penalty { get; init; } = 1e-3;

    /// <summary>Continuation: after stage-2 epoch AfterEpoch the penalty is Penalty (increasing epochs); before the first, <see cref="Penalty"/>.</summary>
    public IReadOnlyList<(int AfterEpoch, double Penalty)> PenaltySchedule { get; init; } = [];

    /// <summary>τ of stage-2 epoch <paramref name="epoch"/> (1-based).</summary>
    public double PenaltyAt(int epoch)
    {
        double tau = Penalty;
        foreach (var (after, value) in PenaltySchedule)
            if (epoch > after) tau = value;
        return tau;
    }

    /// <summary>Weight of each parameter of a host element's set in |Δp_i|² (Σ_k w_k Δp_ik²; the set's order, docs/pinn.md); null: all 1.</summary>
    public IReadOnlyList<double>? PenaltyWeights { get; init; }

    /// <summary>
    /// τ_u of the penalty τ_u · mean over the atoms of unlabelled distorted copies of the training cells of |Δp_i|² (weighted as
    /// the penalty when <see cref="PenaltyWeights"/> is given; changed along stage 2 by <see cref="UnlabelledPenaltySchedule"/>); 0: none (docs/pinn.md, "A penalty at
    /// unlabelled distorted copies"). The copies: <see cref="DistortedCopies"/>.
    /// </summary>
    public double UnlabelledPenalty { get; init; }

    /// <summary>
    /// τ_u rising (or falling) along stage 2: after stage-2 epoch AfterEpoch τ_u is Penalty (increasing epochs); before the first,
    /// <see cref="UnlabelledPenalty"/>. Each change is a new objective: a fresh optimiser, as for <see cref="PenaltySchedule"/>.
    /// </summary>
    public IReadOnlyList<(int AfterEpoch, double Penalty)> UnlabelledPenaltySchedule { get; init; } = [];

    /// <summary>τ_u of stage-2 epoch <paramref name="epoch"/> (1-based).</summary>
    public double UnlabelledPenaltyAt(int epoch)
    {
        double tau = UnlabelledPenalty;
        foreach (var (after, value) in UnlabelledPenaltySchedule)
            if (epoch > after) tau = value;
        return tau;
    }

    /// <summary>True when some stage-2 epoch has τ_u &gt; 0 (the copies are then made).</summary>
    public bool HasUnlabelledPenalty => UnlabelledPenalty > 0 || UnlabelledPenaltySchedule.Any(s => s.Penalty > 0);

    /// <summary>Distorted copies per training cell, the largest strain component and the largest relative volume change of a copy.</summary>
    public int UnlabelledCopies { get; init; } = 1;
    public double UnlabelledStrain { get; init; } = 0.05;
    public double UnlabelledVolume { get; init; } = 0.05;

    /// <summary>
    /// What the correction at a copy is held to: false (zero) |Δp_i|²; true (cell) |Δp_i(copy) − Δp_i(cell)|², the same atom in the
    /// undistorted training cell: the correction is held to vary slowly under strain (the strain response left to the BOP) while its
    /// value at the data stays free.
    /// </summary>
    public bool UnlabelledAgainstCell { get; init; }

    /// <summary>Only the training cells of these groups (config types) get copies; null: every training cell.</summary>
    public IReadOnlyList<string>? UnlabelledGroups { get; init; }

    /// <summary>
    /// τ_g of the Jacobian penalty τ_g · mean over atoms of Σ_c w_c |∂Δp_ic/∂X_i|² (X_i the standardised descriptor, w_c the
    /// <see cref="PenaltyWeights"/> or 1): binds the network's correction in every direction of the descriptor space around the
    /// atoms it is taken at (<see cref="GradientPenaltyAtData"/>, <see cref="GradientPenaltyAtCopies"/>); 0: none (docs/pinn.md,
    /// "A penalty on the correction's gradient").
    /// </summary>
    public double GradientPenalty { get; init; }

    /// <summary>The Jacobian penalty at the atoms of the training batch (a mean over the batch's atoms, as the Δp penalty).</summary>
    public bool GradientPenaltyAtData { get; init; } = true;

    /// <summary>The Jacobian penalty at the atoms of the unlabelled distorted copies (<see cref="UnlabelledCopies"/>, made also when τ_u = 0).</summary>
    public bool GradientPenaltyAtCopies { get; init; }

    /// <summary>
    /// τ_r of the energy-response term τ_r · mean over the distorted copies (<see cref="UnlabelledCopies"/> ...) of
    /// ((E(copy) − E(cell)) − (E0(copy) − E0(cell)))² / N², E the PINN's energy and E0 the plain BOP's at p0 (Δp = 0), N the atoms of
    /// the cell: the PINN's energy change under the copy's strain is held near the stage-1 BOP's (docs/pinn.md, "The energy response
    /// at strained copies"); 0: none.
    /// </summary>
    public double ResponsePenalty { get; init; }

    /// <summary>True when the distorted copies are needed: an unlabelled penalty, the Jacobian penalty at the copies, or the energy response.</summary>
    public bool NeedsCopies => HasUnlabelledPenalty || (GradientPenalty > 0 && GradientPenaltyAtCopies) || ResponsePenalty > 0;

    public double L2 { get; init; } = 1e-6;
    public LossWeights Weights { get; init; } = new() { Force = 0.02 };
    public int Seed { get; init; } = 1;
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// The ranks of an MPI run (docs/scale.md): each holds a contiguous share of the training structures and computes its part of
    /// every batch's loss and gradient (both stages); the sums over the ranks, in rank order, drive the same optimiser step on
    /// every rank; the validation split and the batches are those of one process.
    /// </summary>
    public Distributed.ICommunicator Communicator { get; init; } = Distributed.SingleProcess.Instance;
}

/// <summary>
/// Trains a <see cref="PinnModel"/> in two stages with libtorch (float64): first the base parameters p0 of
/// the plain bond-order potential (L-BFGS, energy + force + stress loss), then the per-element networks
/// with p0 fixed and the penalty τ·|Δp|². The BOP is written with tensor operations over the pairs and
/// triplets of each batch (fixed geometry: the lists of pairs inside R_c, of angular triplets and of
/// screening triplets are built once), so forces are the gradient with respect to the pair vectors plus
/// the feature path contracted with the descriptor derivative blocks, and their loss is differentiated
/// again (create_graph). The optimisers are the managed ones of the NN trainer (checkpoints, resume).
/// </summary>
public sealed class PinnTrainer
{
    private readonly PinnOptions _o;
    private readonly int[] _elements;
    private readonly int _k, _set, _nbase;
    private readonly PinnBopLayout _layout;
    private readonly double[] _mean, _scale;
    private readonly List<Batch?> _batches = [];
    private readonly Batch? _validation;
    // the local structure indices of every batch and of the validation set (under MPI this rank's part)
    private readonly List<int[]> _batchIndices = [];
    private readonly int[] _validationIndices;
    private readonly bool _derivatives;
    // streamed (docs/scale.md): the structures, their descriptor and the atoms of one piece; null in memory
    private readonly IReadOnlyList<Structure>? _source;
    private readonly IDescriptor? _descriptor;
    private readonly int _pieceAtoms;
    private readonly ElementNetworks _networks;
    // under MPI (PinnOptions.Communicator): each rank's batches hold its share of the structures; the counts of every batch
    // and of the validation set over all ranks normalise each rank's part of the loss
    private readonly ICommunicator _comm;
    private readonly List<NeuralNetworkTrainer.LossCounts> _batchCounts = [];
    private NeuralNetworkTrainer.LossCounts _validationCounts;
    // τ of the stage-2 epoch being run (PinnOptions.PenaltyAt); before Train PinnOptions.Penalty, after it the last epoch's
    private double _penalty;
    // τ_u of the stage-2 epoch being run (PinnOptions.UnlabelledPenaltyAt), as _penalty
    private double _unlabelledPenalty;
    // the training structures of this process (local indices) and, with an unlabelled penalty, the standardised descriptors of
    // their distorted copies, the copies' atoms of each element, and the number of copy atoms over all ranks
    private readonly int[] _trainIndices;
    // stage 1 with bop_group_weights: equal: the weight of each group's squared errors, from the training split; null otherwise
    private readonly Dictionary<string, GroupWeights>? _groupWeights;
    private readonly int _firstStructure;
    private Tensor? _unlabelled, _unlabelledCell;
    // with a response penalty: the copies and their cells (one cell per copy) as energy-only batches, atoms per copy, copies over all ranks
    private Batch? _responseCopies, _responseCells;
    private Tensor? _responseAtoms;
    private double _responseCount;
    private double[]? _responseReference;
    private double[] _responseP0 = [];
    private Tensor[] _unlabelledElements = [];
    private double _unlabelledAtoms;

    /// <summary>In memory. <paramref name="descriptor"/>: the descriptor of <paramref name="data"/>, needed only for an unlabelled penalty (its copies' features).</summary>
    public PinnTrainer(TrainingSet data, PinnOptions options, IDescriptor? descriptor = null)
        : this(data.Structures, options.Communicator.Size > 1 ? DistributedFit.Elements(options.Communicator, data.Structures) : data.Elements(), data.FeatureCount,
            options.Communicator.Size > 1 ? DistributedFit.FeatureStatistics(options.Communicator, data, data.FeatureCount) : data.FeatureStatistics(), options)
    {
        foreach (var d in data.Descriptors)
            if (d.Neighbors.Cutoff < 1.5 * options.Cutoff)
                throw new MlipException($"the PINN needs descriptors computed on a neighbour list to 1.5 R_c = {1.5 * options.Cutoff} Å");
        if (_validationIndices.Length > 0) _validation = new Batch(data, _validationIndices, this, _derivatives);
        foreach (var batch in _batchIndices) _batches.Add(batch.Length > 0 ? new Batch(data, batch, this, _derivatives) : null);
        PrepareUnlabelled(data.Structures, descriptor);
    }

    /// <summary>
    /// A trainer that streams (docs/scale.md, "FS-ACE and PINN from the store"): the descriptors (values, derivative blocks on the
    /// neighbour list to 1.5 R_c) and the BOP's pair and triplet geometry of a piece of at most <paramref name="pieceAtoms"/> atoms of
    /// a batch are computed when the batch is used and dropped after it; a full batch (L-BFGS) or a mini-batch is the sum of its
    /// pieces' losses and gradients, each normalised by the batch's counts, so memory holds one piece whatever the data.
    /// <paramref name="statistics"/>: the feature statistics of all training structures (<c>DescriptorStore.FeatureStatistics</c>);
    /// <paramref name="structures"/>: the training structures, or under MPI this rank's contiguous share.
    /// </summary>
    public PinnTrainer(IReadOnlyList<Structure> structures, IDescriptor descriptor, (double[] Mean, double[] Scale) statistics, PinnOptions options, int pieceAtoms)
        : this(structures, options.Communicator.Size > 1 ? DistributedFit.Elements(options.Communicator, structures) : [.. structures.SelectMany(s => s.AtomicNumbers).Distinct().Order()],
            descriptor.FeatureCount, statistics, options)
    {
        if (pieceAtoms < 1) throw new MlipException($"store_chunk_atoms must be at least 1 (got {pieceAtoms})");
        _source = structures;
        _descriptor = descriptor;
        _pieceAtoms = pieceAtoms;
        if (_comm.Size == 1)
        {
            // the loss of each piece is normalised by its batch's counts (as an MPI rank's part of a batch)
            foreach (var b in _batchIndices) _batchCounts.Add(NeuralNetworkTrainer.LossCounts.Of(structures, b, _comm));
            _validationCounts = NeuralNetworkTrainer.LossCounts.Of(structures, _validationIndices, _comm);
        }
        PrepareUnlabelled(structures, descriptor);
    }

    private PinnTrainer(IReadOnlyList<Structure> structures, int[] elements, int k, (double[] Mean, double[] Scale) statistics, PinnOptions options)
    {
        TorchRuntime.EnsureLoaded();
        TorchRuntime.ReuseFreedMemory();
        _o = options;
        _penalty = options.Penalty;
        _unlabelledPenalty = options.UnlabelledPenalty;
        _comm = options.Communicator;
        _elements = elements;
        _k = k;
        _layout = new PinnBopLayout(_elements.Length);
        _set = _layout.SetSize;
        if (options.PenaltyWeights is { } pw && pw.Count != _set)
            throw new MlipException($"model: penalty_weights has {pw.Count} values; the BOP parameter set of one element has {_set} ({string.Join(", ", _layout.Names([.. elements.Select(Elements.Symbol)]).Take(_set))})");
        _nbase = _elements.Length * _set;
        (_mean, _scale) = statistics;
        _derivatives = options.Weights.Force > 0 || options.Weights.Stress > 0 || (options.BopEpochs > 0 && options.StageOneWeights.Stress > 0);
        if (options.BopStress is { } bs && !(bs >= 0 && double.IsFinite(bs)))
            throw new MlipException($"model: bop_stress must be a finite number >= 0 (got {bs})");
        if (options.Optimizer.Equals("lbfgs", StringComparison.OrdinalIgnoreCase) && options.BatchStructures > 0)
            throw new MlipException("L-BFGS needs the full batch (batch: 0); use adam for mini-batches");

        // the split over the structures of all ranks, as one process draws it; each rank keeps its own (local indices)
        var (first, total) = NeuralNetworkTrainer.GlobalRange(_comm, structures.Count);
        var split = new TrainingSplit(total, options.ValidationFraction, options.BatchStructures, options.Seed);
        int[] Local(int[] global) => [.. global.Where(i => i >= first && i < first + structures.Count).Select(i => i - first)];
        _validationIndices = Local(split.Validation);
        _trainIndices = Local(split.Train);
        _firstStructure = first;
        foreach (var (after, value) in options.UnlabelledPenaltySchedule)
            if (!(value >= 0) || after < 1)
                throw new MlipException($"model: unlabelled_penalty_steps: {value} after epoch {after}; each value must be >= 0 and each epoch >= 1");
        if (options.UnlabelledPenalty < 0 || options.UnlabelledCopies < 1 || options.UnlabelledStrain < 0 || options.UnlabelledVolume is < 0 or >= 1)
            throw new MlipException($"model: unlabelled_penalty must be >= 0, unlabelled_copies >= 1, unlabelled_strain >= 0 and unlabelled_volume in [0, 1) " +
                                    $"(got {options.UnlabelledPenalty}, {options.UnlabelledCopies}, {options.UnlabelledStrain}, {options.UnlabelledVolume})");
        if (!(options.ResponsePenalty >= 0) || double.IsInfinity(options.ResponsePenalty))
            throw new MlipException($"model: response_penalty must be a finite number >= 0 (got {options.ResponsePenalty})");
        if (!(options.GradientPenalty >= 0) || double.IsInfinity(options.GradientPenalty))
            throw new MlipException($"model: gradient_penalty must be a finite number >= 0 (got {options.GradientPenalty})");
        _batchIndices.AddRange(split.Batches.Select(Local));
        if (options.BopGroupsEqual)
        {
            if (_comm.Size > 1) throw new MlipException("model: bop_group_weights: equal is not supported under MPI; run stage 1 in one process");
            _groupWeights = GroupWeights.Of(_trainIndices.Select(i => structures[i]));
        }
        if (_comm.Size > 1)
        {
            foreach (var batch in _batchIndices) _batchCounts.Add(NeuralNetworkTrainer.LossCounts.Of(structures, batch, _comm));
            _validationCounts = NeuralNetworkTrainer.LossCounts.Of(structures, _validationIndices, _comm);
        }
        _networks = new ElementNetworks(_elements.Length, _k, options.Hidden, _set, options.Activation, offset: _nbase);
        TrainStructures = split.Train.Length;
        ValidationStructures = split.Validation.Length;
    }

    /// <summary>With an unlabelled penalty: the distorted copies of this process's training cells, their descriptors (values only), standardised.</summary>
    private void PrepareUnlabelled(IReadOnlyList<Structure> structures, IDescriptor? descriptor)
    {
        if (!_o.NeedsCopies) return;
        if (descriptor is null) throw new MlipException("the unlabelled penalty needs the descriptor of the training set (internal: pass it to the PinnTrainer)");
        var chosen = _trainIndices.Where(i => _o.UnlabelledGroups is not { } g || g.Contains(structures[i].Group ?? "")).ToArray();
        var cells = chosen.Select(i => structures[i]).ToArray();
        var copies = DistortedCopies.Make(cells, [.. chosen.Select(i => i + _firstStructure)], _o.UnlabelledCopies, _o.UnlabelledStrain, _o.UnlabelledVolume, _o.Seed);
        var sets = DatasetDescriptors.Compute(descriptor, copies, derivatives: false, _o.Threads);
        // against the cell: the same atoms' features in the undistorted cells, copy by copy
        var cellSets = _o.UnlabelledAgainstCell ? DatasetDescriptors.Compute(descriptor, cells, derivatives: false, _o.Threads) : null;
        int atoms = copies.Sum(c => c.Count);
        var x = new double[(long)atoms * _k];
        var xc = cellSets is null ? null : new double[(long)atoms * _k];
        var type = new int[atoms];
        int ao = 0;
        for (int q = 0; q < copies.Length; q++)
            for (int i = 0; i < copies[q].Count; i++, ao++)
            {
                type[ao] = Array.IndexOf(_elements, copies[q].AtomicNumbers[i]);
                var xi = sets[q].Of(i);
                for (int a = 0; a < _k; a++) x[(long)ao * _k + a] = (xi[a] - _mean[a]) / _scale[a];
                if (xc is null) continue;
                var ci = cellSets![q / _o.UnlabelledCopies].Of(i);
                for (int a = 0; a < _k; a++) xc[(long)ao * _k + a] = (ci[a] - _mean[a]) / _scale[a];
            }
        if (_o.ResponsePenalty > 0)
        {
            // energy-only batches (no derivative blocks) on the BOP's neighbour lists (1.5 R_c)
            var cellOfCopy = copies.Select((_, q) => cells[q / _o.UnlabelledCopies]).ToArray();
            var all = Enumerable.Range(0, copies.Length).ToArray();
            _responseCopies = new Batch(new TrainingSet(copies, DatasetDescriptors.Compute(descriptor, copies, false, _o.Threads, neighborCutoff: 1.5 * _o.Cutoff)), all, this, false);
            _responseCells = new Batch(new TrainingSet(cellOfCopy, DatasetDescriptors.Compute(descriptor, cellOfCopy, false, _o.Threads, neighborCutoff: 1.5 * _o.Cutoff)), all, this, false);
            _responseAtoms = tensor(copies.Select(c => (double)c.Count).ToArray(), dtype: ScalarType.Float64);
            var count = new double[] { copies.Length };
            _comm.AllreduceSum(count);
            _responseCount = count[0];
        }
        _unlabelled = tensor(x, [atoms, _k], dtype: ScalarType.Float64);
        if (xc is not null) _unlabelledCell = tensor(xc, [atoms, _k], dtype: ScalarType.Float64);
        _unlabelledElements = [.. Enumerable.Range(0, _elements.Length).Select(e =>
            tensor(Enumerable.Range(0, atoms).Where(i => type[i] == e).Select(i => (long)i).ToArray(), dtype: ScalarType.Int64))];
        var total = new double[] { atoms };
        _comm.AllreduceSum(total);
        _unlabelledAtoms = total[0];
        if (_unlabelledAtoms == 0)
            throw new MlipException($"model: unlabelled_groups: no training structure is in the group(s) {string.Join(", ", _o.UnlabelledGroups ?? [])}");
        UnlabelledAtoms = atoms;
    }

    /// <summary>The atoms of this process's unlabelled distorted copies (0 without an unlabelled penalty).</summary>
    public int UnlabelledAtoms { get; private set; }

    /// <summary>
    /// This process's part of τ_u · Σ over the copies' atoms of Σ_k w_k Δp_ik² / (copy atoms over all ranks) (with
    /// <see cref="PinnOptions.UnlabelledAgainstCell"/> Δp_i(copy) − Δp_i(cell) in place of Δp_i), added to
    /// <paramref name="gradient"/> (the networks' part); the loss term's value.
    /// </summary>
    private double AddUnlabelledTerm(double[] x, double[] gradient)
    {
        using var scope = NewDisposeScope();
        var net = _networks.Tensors(x, grad: true);
        var sum = _networks.Touch(net);
        var w = _o.PenaltyWeights is { } pw ? tensor(pw.ToArray(), dtype: ScalarType.Float64) : null;
        var jac = _networks.Touch(net);
        bool withJacobian = _o.GradientPenalty > 0 && _o.GradientPenaltyAtCopies;
        for (int e = 0; e < _unlabelledElements.Length; e++)
        {
            if (_unlabelledElements[e].shape[0] == 0) continue;
            var xe = _unlabelled!.index_select(0, _unlabelledElements[e]);
            if (withJacobian) jac = jac.Plus(_networks.JacobianSquared(net, e, xe, w).sum());
            if (_unlabelledPenalty <= 0) continue;
            var dp = _networks.Forward(net, e, xe);
            if (_unlabelledCell is not null) dp = dp - _networks.Forward(net, e, _unlabelledCell.index_select(0, _unlabelledElements[e]));
            var dp2 = dp.pow(TorchScalars.Of(2));
            sum = sum.Plus(w is null ? dp2.sum() : (dp2 * w).sum());
        }
        var term = sum.Times(_unlabelledPenalty / _unlabelledAtoms).Plus(jac.Times(withJacobian ? _o.GradientPenalty / _unlabelledAtoms : 0));
        if (_o.ResponsePenalty > 0)
        {
            // (ΔE_PINN − ΔE_BOP0)/N per copy; the BOP0 difference depends on p0 only (fixed in stage 2)
            // the BOP0 difference depends on p0 only: computed once per p0 (stage 2 holds it fixed)
            if (_responseReference is null || !x.AsSpan(0, _nbase).SequenceEqual(_responseP0))
                using (no_grad())
                {
                    _responseReference = (_responseCopies!.Energies(x, this, null) - _responseCells!.Energies(x, this, null)).data<double>().ToArray();
                    _responseP0 = x[.._nbase];
                }
            var reference = tensor(_responseReference, dtype: ScalarType.Float64);
            var response = (_responseCopies!.Energies(x, this, net) - _responseCells!.Energies(x, this, net) - reference) / _responseAtoms!;
            term = term.Plus((response * response).sum().Times(_o.ResponsePenalty / _responseCount));
        }
        var g = new double[gradient.Length];
        _networks.Gradient(term, net, g);
        for (int i = _nbase; i < g.Length; i++) gradient[i] += g[i];
        return term.item<double>();
    }

    /// <summary>True when the batches are computed piece by piece as they are used (the streaming constructor).</summary>
    public bool Streams => _source is not null;

    public int TrainStructures { get; }
    public int ValidationStructures { get; }
    public int ParameterCount => _nbase + _networks.Count;

    /// <summary>A rough silicon-like start (R_c ≈ 4 Å); stage 1 moves it to the data.</summary>
    public static readonly double[] DefaultStart = [8.0, 3.0, 5.5, 2.0, -0.33, 2.5, 0.5, 1.5];

    /// <summary>The starting vector: p0 for every element, then the networks (Xavier hidden layers, zero output layer: Δp = 0).</summary>
    public double[] InitialParameters()
    {
        var x = new double[ParameterCount];
        var start = _o.InitialParameters?.ToArray() ?? DefaultStart;
        for (int e = 0; e < _elements.Length; e++)
        {
            if (start.Length == _set) Array.Copy(start, 0, x, e * _set, _set);
            else if (start.Length == _nbase) Array.Copy(start, e * _set, x, e * _set, _set);
            else if (start.Length == 8) // one-element set: spread to every (β, γ)
                for (int b = 0; b < _elements.Length; b++)
                {
                    x[e * _set + _layout.A(b)] = start[0]; x[e * _set + _layout.Alpha(b)] = start[1];
                    x[e * _set + _layout.B(b)] = start[2]; x[e * _set + _layout.Beta(b)] = start[3];
                    for (int c = 0; c < _elements.Length; c++)
                    {
                        x[e * _set + _layout.H(b, c)] = start[4];
                        x[e * _set + _layout.Zeta(b, c)] = start[6];
                        x[e * _set + _layout.Lambda(b, c)] = start[7];
                    }
                    x[e * _set + _layout.Sigma] = start[5];
                }
            else throw new MlipException($"initial BOP parameters: give {_set} (one element's set) or {_nbase} numbers");
        }
        _networks.Initialize(x, new Random(_o.Seed + 7919), zeroOutput: true);
        return x;
    }

    public PinnModel ToModel(double[] x)
    {
        var nets = _networks.ToMlps(x, _elements.Length);
        var p0 = Enumerable.Range(0, _elements.Length).Select(e => x.AsSpan(e * _set, _set).ToArray()).ToArray();
        return new PinnModel(_elements, _k, _o.Cutoff, _o.CutoffRange, p0, nets, (double[])_mean.Clone(), (double[])_scale.Clone());
    }

    /// <summary>
    /// Both stages. A checkpoint (atomic, every CheckpointEvery epochs and at the end of stage 1) holds the
    /// stage, the epoch, the parameters and the optimiser state; <paramref name="resume"/> continues from it.
    /// </summary>
    public (PinnModel Model, IReadOnlyList<LearningPoint> Curve, double FinalLoss) Train(TextWriter log, string? checkpointPath = null, bool resume = false)
    {
        TorchRuntime.SetThreads(_o.Threads);
        var x = InitialParameters();
        var curve = new List<LearningPoint>();
        int stage = 1, startEpoch = 0;
        JsonObject? optimizerState = null;
        double bestVal = double.PositiveInfinity;
        double[] best = (double[])x.Clone();
        double elapsedBefore = 0;
        if (resume && checkpointPath is not null && File.Exists(checkpointPath))
        {
            var cp = TrainingCheckpoint.Read(checkpointPath);
            if (cp.ParameterCount != ParameterCount || cp.Stage is not int cpStage)
                throw new MlipException($"{checkpointPath} was written for another PINN; remove it to start afresh");
            stage = cpStage;
            startEpoch = cp.Epoch;
            x = cp.Parameters;
            best = cp.BestParameters;
            bestVal = cp.BestValidation;
            elapsedBefore = cp.Seconds;
            optimizerState = cp.OptimizerState;
            curve.AddRange(cp.Curve);
            log.WriteLine($"resuming from {checkpointPath}: stage {stage} after epoch {startEpoch}");
        }
        var clock = Stopwatch.StartNew();
        double lastLoss = double.NaN;

        // stage 1: the plain BOP's base parameters (full batch, L-BFGS)
        if (stage == 1)
        {
            var p0 = x[.._nbase];
            var opt = Optimizers.Create("lbfgs", _nbase, 1.0, 0);
            if (optimizerState is not null) opt.LoadState(optimizerState);
            for (int epoch = startEpoch + 1; epoch <= _o.BopEpochs; epoch++)
            {
                lastLoss = opt.Step(p0, (p, g) =>
                {
                    Array.Copy(p, x, _nbase);
                    var full = new double[ParameterCount];
                    Array.Clear(g);
                    double loss = 0;
                    for (int bi = 0; bi < _batchIndices.Count; bi++)
                    {
                        loss += PartLossAndGradient(bi, x, full, stage: 1, l2: false);
                        for (int q = 0; q < _nbase; q++) g[q] += full[q];
                    }
                    return _comm.AllreduceSum(g, loss);
                });
                Array.Copy(p0, x, _nbase);
                if (!double.IsFinite(lastLoss)) throw new MlipException($"the BOP loss became {lastLoss} at iteration {epoch}; change the initial parameters");
                double seconds = elapsedBefore + clock.Elapsed.TotalSeconds;
                if (epoch % Math.Max(1, _o.EvaluateEvery) == 0 || epoch == _o.BopEpochs)
                {
                    double? vE = null, vF = null;
                    if (HasValidation) { var (ve, vf, _) = ValidationErrors(x); vE = ve; vF = vf; }
                    curve.Add(new LearningPoint(-epoch, lastLoss, vE, vF, seconds));
                    log.WriteLine(curve[^1].LogLine("BOP  "));
                }
                if (checkpointPath is not null && _comm.IsRoot && epoch % Math.Max(1, _o.CheckpointEvery) == 0)
                    WriteCheckpoint(checkpointPath, 1, epoch, x, best, bestVal, seconds, opt.SaveState(), curve);
            }
            log.WriteLine("BOP base parameters: " + string.Join(", ", _layout.Names([.. _elements.Select(Elements.Symbol)])
                .Select((n, q) => string.Create(CultureInfo.InvariantCulture, $"{n} {x[q]:G6}"))));
            stage = 2; startEpoch = 0; optimizerState = null;
            best = (double[])x.Clone(); bestVal = double.PositiveInfinity;
            if (checkpointPath is not null && _comm.IsRoot)
                WriteCheckpoint(checkpointPath, 2, 0, x, best, bestVal, elapsedBefore + clock.Elapsed.TotalSeconds, null, curve);
        }

        // stage 2: the networks, p0 fixed
        var net = x[_nbase..];
        var optimizer = Optimizers.Create(_o.Optimizer, _networks.Count, _o.LearningRate, 0.9);
        if (optimizerState is not null) optimizer.LoadState(optimizerState);
        long evaluations = 0;
        double evaluationCpu = 0;
        for (int epoch = startEpoch + 1; epoch <= _o.Epochs; epoch++)
        {
            _penalty = _o.PenaltyAt(epoch);
            _unlabelledPenalty = _o.UnlabelledPenaltyAt(epoch);
            bool newPenalty = epoch > 1 && _penalty != _o.PenaltyAt(epoch - 1), newUnlabelled = epoch > 1 && _unlabelledPenalty != _o.UnlabelledPenaltyAt(epoch - 1);
            if (newPenalty || newUnlabelled)
            {
                // a new objective: a fresh optimiser (L-BFGS would reuse the last evaluation and curvature pairs of the old τ), also when resumed here
                optimizer = Optimizers.Create(_o.Optimizer, _networks.Count, _o.LearningRate, 0.9);
                if (newPenalty) log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"penalty {_o.PenaltyAt(epoch - 1):G4} -> {_penalty:G4} after epoch {epoch - 1}"));
                if (newUnlabelled) log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"unlabelled penalty {_o.UnlabelledPenaltyAt(epoch - 1):G4} -> {_unlabelledPenalty:G4} after epoch {epoch - 1}"));
            }
            var order = TrainingSplit.EpochOrder(_o.Seed, epoch, _batchIndices.Count);
            double sum = 0;
            foreach (int bi in order)
            {
                sum += optimizer.Step(net, (p, g) =>
                {
                    var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                    Array.Copy(p, 0, x, _nbase, _networks.Count);
                    var full = new double[ParameterCount];
                    // this rank's part of the batch (under MPI rank 0 adds the L2 penalty), then the sums over the ranks
                    double loss = _comm.AllreduceSum(full, PartLossAndGradient(bi, x, full, stage: 2, l2: _comm.IsRoot));
                    Array.Copy(full, _nbase, g, 0, _networks.Count);
                    evaluations++;
                    evaluationCpu += (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
                    return loss;
                });
            }
            Array.Copy(net, 0, x, _nbase, _networks.Count);
            lastLoss = sum / _batchIndices.Count;
            if (!double.IsFinite(lastLoss)) throw new MlipException($"the loss became {lastLoss} at epoch {epoch}; lower the learning rate");
            double seconds = elapsedBefore + clock.Elapsed.TotalSeconds;
            bool evaluate = epoch % Math.Max(1, _o.EvaluateEvery) == 0 || epoch == _o.Epochs;
            if (evaluate)
            {
                double? vE = null, vF = null;
                if (HasValidation)
                {
                    var (ve, vf, vl) = ValidationErrors(x);
                    vE = ve; vF = vf;
                    if (vl < bestVal) { bestVal = vl; best = (double[])x.Clone(); }
                }
                else best = (double[])x.Clone();
                curve.Add(new LearningPoint(epoch, lastLoss, vE, vF, seconds));
                // loss evaluations (with their gradient) of this run so far and their process CPU time (load-independent)
                log.WriteLine(curve[^1].LogLine("PINN ") + string.Create(CultureInfo.InvariantCulture,
                    $"; {evaluations} loss evaluations, {evaluationCpu / Math.Max(1, evaluations):F2} s CPU each"));
            }
            if (checkpointPath is not null && _comm.IsRoot && epoch % Math.Max(1, _o.CheckpointEvery) == 0)
                WriteCheckpoint(checkpointPath, 2, epoch, x, best, bestVal, seconds, optimizer.SaveState(), curve);
        }
        if (_o.Epochs == 0 || !double.IsFinite(bestVal)) best = x;
        // a resume with no epoch left runs none: the loss is then that of the checkpoint's parameters (mean over batches, as an epoch's)
        _penalty = _o.PenaltyAt(Math.Max(1, _o.Epochs));
        _unlabelledPenalty = _o.UnlabelledPenaltyAt(Math.Max(1, _o.Epochs));
        if (double.IsNaN(lastLoss)) lastLoss = LossAndGradient(x, new double[ParameterCount], stage: 2) / _batchIndices.Count;
        return (ToModel(best), curve, lastLoss);
    }

    private void WriteCheckpoint(string path, int stage, int epoch, double[] x, double[] best, double bestVal, double seconds, JsonObject? optimizerState, List<LearningPoint> curve) =>
        new TrainingCheckpoint
        {
            Stage = stage, Epoch = epoch, ParameterCount = ParameterCount, Parameters = x, BestParameters = best,
            BestValidation = bestVal, Seconds = seconds, OptimizerState = optimizerState, Curve = curve,
        }.Write(path);

    /// <summary>The loss of all training batches at <paramref name="x"/> (full vector) and its gradient, for a stage (under MPI summed over the ranks).</summary>
    public double LossAndGradient(double[] x, double[] gradient, int stage)
    {
        TorchRuntime.SetThreads(_o.Threads);
        Array.Clear(gradient);
        var g = new double[gradient.Length];
        double loss = 0;
        for (int bi = 0; bi < _batchIndices.Count; bi++)
        {
            if (_batchIndices[bi].Length == 0) continue;
            loss += PartLossAndGradient(bi, x, g, stage, l2: _comm.IsRoot);
            for (int i = 0; i < g.Length; i++) gradient[i] += g[i];
        }
        return _comm.AllreduceSum(gradient, loss);
    }

    /// <summary>
    /// This process's part of batch <paramref name="bi"/>: its loss and gradient (into <paramref name="gradient"/>, cleared first),
    /// not yet summed over MPI ranks. In memory the batch's tensors; streamed the sum over its pieces, each built now and dropped
    /// after (the L2 penalty with the first). A rank without structures in the batch gives the L2 penalty alone (stage 2, <paramref name="l2"/>).
    /// </summary>
    private double PartLossAndGradient(int bi, double[] x, double[] gradient, int stage, bool l2)
    {
        double loss = BatchPart(bi, x, gradient, stage, l2);
        // the unlabelled penalty: once per batch evaluation, each rank its copies' share
        return stage == 2 && _unlabelled is not null && (_unlabelledPenalty > 0 || (_o.GradientPenalty > 0 && _o.GradientPenaltyAtCopies) || _o.ResponsePenalty > 0)
            ? loss + AddUnlabelledTerm(x, gradient) : loss;
    }

    private double BatchPart(int bi, double[] x, double[] gradient, int stage, bool l2)
    {
        Array.Clear(gradient);
        var indices = _batchIndices[bi];
        if (indices.Length == 0) return stage == 2 && l2 ? _networks.L2Only(x, gradient, _o.L2) : 0;
        if (!Streams) return _batches[bi]!.LossAndGradient(x, gradient, this, stage, CountsOf(bi), l2);
        var g = new double[gradient.Length];
        double loss = 0;
        bool first = true;
        foreach (var piece in Pieces(indices))
        {
            bool withL2 = l2 && first;
            Array.Clear(g);
            loss += WithPiece(piece, b => b.LossAndGradient(x, g, this, stage, _batchCounts[bi], withL2));
            for (int i = 0; i < g.Length; i++) gradient[i] += g[i];
            first = false;
        }
        return loss;
    }

    /// <summary>Consecutive pieces of <paramref name="indices"/> of at most <see cref="_pieceAtoms"/> atoms (at least one structure each).</summary>
    private IEnumerable<int[]> Pieces(int[] indices)
    {
        int start = 0, atoms = 0;
        for (int i = 0; i < indices.Length; i++)
        {
            int n = _source![indices[i]].Count;
            if (i > start && atoms + n > _pieceAtoms) { yield return indices[start..i]; start = i; atoms = 0; }
            atoms += n;
        }
        if (indices.Length > start) yield return indices[start..];
    }

    /// <summary>Builds the tensors of the structures <paramref name="piece"/> (descriptors on the neighbour list to 1.5 R_c), runs <paramref name="use"/>, frees them.</summary>
    private T WithPiece<T>(int[] piece, Func<Batch, T> use)
    {
        var structures = piece.Select(i => _source![i]).ToList();
        T result;
        using (NewDisposeScope())
        {
            var sets = DatasetDescriptors.Compute(_descriptor!, structures, _derivatives, _o.Threads, neighborCutoff: 1.5 * _o.Cutoff);
            var batch = new Batch(new TrainingSet(structures, sets), [.. Enumerable.Range(0, piece.Length)], this, _derivatives);
            result = use(batch); // every tensor of the piece (labels, geometry, blocks) belongs to this scope
        }
        LargeObjectGarbage.CollectWhenDue(); // the piece's descriptor sets (large objects) are garbage now
        return result;
    }

    /// <summary>Under MPI, or streamed, the counts of batch <paramref name="b"/> over all ranks (the loss's denominators); null in one process in memory.</summary>
    private NeuralNetworkTrainer.LossCounts? CountsOf(int b) => _comm.Size > 1 || Streams ? _batchCounts[b] : null;

    private bool HasValidation => ValidationStructures > 0;

    /// <summary>
    /// Validation energy MAE, force MAE and loss: of this process's validation set in memory, or (under MPI, or streamed piece by
    /// piece) the sums of the pieces and ranks over the counts of all.
    /// </summary>
    private (double EnergyMae, double ForceMae, double Loss) ValidationErrors(double[] x)
    {
        if (_comm.Size == 1 && !Streams) return _validation!.Errors(x, this);
        var sums = new double[5];
        if (Streams)
            foreach (var piece in Pieces(_validationIndices))
            {
                var part = WithPiece(piece, b => b.ErrorSums(x, this));
                for (int i = 0; i < sums.Length; i++) sums[i] += part[i];
            }
        else if (_validation is not null) sums = _validation.ErrorSums(x, this);
        _comm.AllreduceSum(sums);
        return _validationCounts.Errors(sums, _o.Weights);
    }

    /// <summary>Tensors of a set of structures: features, labels, pairs, angular and screening triplets, derivative blocks.</summary>
    private sealed class Batch
    {
        private readonly Tensor _x, _atomStructure, _atomType;
        private readonly Tensor[] _elementAtoms;
        private readonly Tensor _pc, _pn, _ps, _pv;            // all pairs (to 1.5 R_c)
        private readonly Tensor _rPair, _rCenter;              // pairs inside R_c: their pair index and centre
        private readonly Tensor _colA, _colAlpha, _colB, _colBeta;
        private readonly Tensor _zA, _zB, _zCenter, _colH, _colZeta;  // angular triplets (indices into the R_c pairs)
        private readonly Tensor _sA, _sB, _sCenter, _colLambda;       // screening: R_c pair a, any pair b
        private readonly Tensor _colSigma;
        // the fixed geometry: distances of the R_c pairs, screening distances x_ab, angular cosines, and their
        // derivatives with respect to the pair vectors (the energy depends on the positions only through them)
        private readonly Tensor _r0, _xs0, _cos0;
        private readonly Tensor _uR, _jxA, _jxB, _jcA, _jcB, _sAPair, _zAPair, _zBPair;
        private readonly Tensor? _d, _dPair, _dCenter;         // nonzero derivative blocks, their pair and centre
        private readonly BatchLabels _labels;
        private readonly int _structures, _atoms, _rCount;
        private readonly double _rc, _dc;

        public Batch(TrainingSet data, int[] structures, PinnTrainer t, bool derivatives)
        {
            int k = t._k;
            var L = t._layout;
            int set = t._set;
            _rc = t._o.Cutoff; _dc = t._o.CutoffRange;
            int atoms = structures.Sum(s => data.Structures[s].Count);
            var x = new double[(long)atoms * k];
            var atomStructure = new long[atoms];
            var atomType = new long[atoms];
            var pc = new List<long>(); var pn = new List<long>(); var ps = new List<long>(); var pv = new List<double>();
            var rPair = new List<long>(); var rCenter = new List<long>();
            var cA = new List<long>(); var cAl = new List<long>(); var cB = new List<long>(); var cBe = new List<long>();
            var zA = new List<long>(); var zB = new List<long>(); var zC = new List<long>(); var cH = new List<long>(); var cZ = new List<long>();
            var sA = new List<long>(); var sB = new List<long>(); var sC = new List<long>(); var cL = new List<long>();
            var d = new List<double[]>();
            var dPair = new List<long>(); var dCenter = new List<long>();
            int ao = 0;
            var localR = new List<int>();
            for (int q = 0; q < structures.Length; q++)
            {
                var st = data.Structures[structures[q]];
                var ds = data.Descriptors[structures[q]];
                var types = st.AtomicNumbers.Select(z => Array.IndexOf(t._elements, z)).ToArray();
                for (int i = 0; i < st.Count; i++)
                {
                    atomStructure[ao + i] = q;
                    atomType[ao + i] = types[i];
                    var xi = ds.Of(i);
                    for (int a = 0; a < k; a++) x[(long)(ao + i) * k + a] = (xi[a] - t._mean[a]) / t._scale[a];
                }
                var nl = ds.Neighbors;
                var vs = nl.Vectors; var rs = nl.Distances; var nb = nl.Neighbors;
                int pBase = pc.Count;
                for (int i = 0; i < st.Count; i++)
                {
                    int start = nl.Offsets[i], end = nl.Offsets[i + 1];
                    int ti = types[i];
                    long gi = ao + i;
                    localR.Clear();
                    int rBase = rPair.Count;
                    for (int p = start; p < end; p++)
                    {
                        pc.Add(gi); pn.Add(ao + nb[p]); ps.Add(q);
                        pv.Add(vs[p].X); pv.Add(vs[p].Y); pv.Add(vs[p].Z);
                        // pairs beyond the descriptor's own cut-off (listed for the BOP's 1.5 R_c) have zero blocks: not kept
                        if (derivatives && ds.PairBlock(p).ContainsAnyExcept(0.0))
                        {
                            var block = new double[k * 3];
                            var src = ds.PairBlock(p);
                            dPair.Add(pBase + p); dCenter.Add(gi);
                            for (int a = 0; a < k; a++)
                            {
                                double inv = 1 / t._scale[a];
                                block[3 * a] = src[3 * a] * inv; block[3 * a + 1] = src[3 * a + 1] * inv; block[3 * a + 2] = src[3 * a + 2] * inv;
                            }
                            d.Add(block);
                        }
                        if (rs[p] < _rc)
                        {
                            int tj = types[nb[p]];
                            localR.Add(p);
                            rPair.Add(pBase + p); rCenter.Add(gi);
                            long row = gi * set;
                            cA.Add(row + L.A(tj)); cAl.Add(row + L.Alpha(tj)); cB.Add(row + L.B(tj)); cBe.Add(row + L.Beta(tj));
                        }
                    }
                    for (int a = 0; a < localR.Count; a++)
                    {
                        int pa = localR[a], ta = types[nb[pa]];
                        long row = gi * set;
                        for (int b = 0; b < localR.Count; b++)
                        {
                            if (b == a) continue;
                            int tb = types[nb[localR[b]]];
                            zA.Add(rBase + a); zB.Add(rBase + b); zC.Add(gi);
                            cH.Add(row + L.H(ta, tb)); cZ.Add(row + L.Zeta(ta, tb));
                        }
                        for (int p = start; p < end; p++)
                        {
                            if (p == pa) continue;
                            double xab = rs[p] + (vs[p] - vs[pa]).Norm - rs[pa];
                            if (xab >= _rc) continue;
                            sA.Add(rBase + a); sB.Add(pBase + p); sC.Add(gi);
                            cL.Add(row + L.Lambda(ta, types[nb[p]]));
                        }
                    }
                }
                ao += st.Count;
            }
            _structures = structures.Length;
            _atoms = atoms;
            _rCount = rPair.Count;
            _x = tensor(x, [atoms, k], dtype: ScalarType.Float64);
            _atomStructure = tensor(atomStructure, dtype: ScalarType.Int64);
            _atomType = tensor(atomType, dtype: ScalarType.Int64);
            _elementAtoms = new Tensor[t._elements.Length];
            for (int e = 0; e < t._elements.Length; e++)
                _elementAtoms[e] = tensor(Enumerable.Range(0, atoms).Where(i => atomType[i] == e).Select(i => (long)i).ToArray(), dtype: ScalarType.Int64);
            _labels = new BatchLabels(data, structures, derivatives, t._groupWeights);
            Tensor I(List<long> v) => tensor(v.ToArray(), dtype: ScalarType.Int64);
            _pc = I(pc); _pn = I(pn); _ps = I(ps);
            _pv = tensor(pv.ToArray(), [pc.Count, 3], dtype: ScalarType.Float64);
            _rPair = I(rPair); _rCenter = I(rCenter);
            _colA = I(cA); _colAlpha = I(cAl); _colB = I(cB); _colBeta = I(cBe);
            _zA = I(zA); _zB = I(zB); _zCenter = I(zC); _colH = I(cH); _colZeta = I(cZ);
            _sA = I(sA); _sB = I(sB); _sCenter = I(sC); _colLambda = I(cL);
            _colSigma = tensor(Enumerable.Range(0, atoms).Select(i => (long)i * set + L.Sigma).ToArray(), dtype: ScalarType.Int64);
            using (no_grad())
            {
                var vR = _pv.index_select(0, _rPair);
                _r0 = vR.pow(TorchScalars.Of(2)).sum(1).sqrt();
                _uR = vR / _r0.unsqueeze(1);
                _sAPair = _rPair.index_select(0, _sA);
                var vB = _pv.index_select(0, _sB);
                var rB = vB.pow(TorchScalars.Of(2)).sum(1).sqrt();
                var dAB = vB - vR.index_select(0, _sA);
                var rAB = dAB.pow(TorchScalars.Of(2)).sum(1).sqrt();
                var uAB = dAB / rAB.unsqueeze(1);
                _xs0 = rB.Plus(rAB) - _r0.index_select(0, _sA);
                _jxA = -uAB - _uR.index_select(0, _sA);                  // ∂x_ab/∂v_a
                _jxB = (vB / rB.unsqueeze(1)).Plus(uAB);                 // ∂x_ab/∂v_b
                var uA = _uR.index_select(0, _zA); var uB = _uR.index_select(0, _zB);
                _cos0 = (uA * uB).sum(1);
                _jcA = (uB - _cos0.unsqueeze(1) * uA) / _r0.index_select(0, _zA).unsqueeze(1);   // ∂cos/∂v_a
                _jcB = (uA - _cos0.unsqueeze(1) * uB) / _r0.index_select(0, _zB).unsqueeze(1);   // ∂cos/∂v_b
                _zAPair = _rPair.index_select(0, _zA);
                _zBPair = _rPair.index_select(0, _zB);
            }
            if (derivatives)
            {
                var flat = new double[(long)d.Count * k * 3];
                for (int p = 0; p < d.Count; p++) Array.Copy(d[p], 0, flat, (long)p * k * 3, k * 3);
                _d = tensor(flat, [d.Count, k, 3], dtype: ScalarType.Float64);
                _dPair = I(dPair); _dCenter = I(dCenter);
            }
        }

        private Tensor Fc(Tensor r)
        {
            var x = r.Minus(_rc).Over(_dc);
            var x4 = x.pow(TorchScalars.Of(4));
            return x4 / x4.Plus(TorchScalars.Of(1)); // 1 + x4
        }

        /// <summary>Energies per structure; forces and stresses when asked; the penalty mean |Δp|².</summary>
        private (Tensor E, Tensor? F, Tensor? S, Tensor Penalty) Predict(double[] xv, PinnTrainer t, int stage, bool forces, bool createGraph, List<Tensor>? net)
        {
            int set = t._set;
            var p0 = tensor(xv.AsSpan(0, t._nbase).ToArray(), [t._elements.Length, set], dtype: ScalarType.Float64);
            if (stage == 1) p0 = p0.requires_grad_(true);
            _lastP0 = p0;
            bool networkPath = stage == 2 && net is not null;
            var xf = _x.detach().requires_grad_(forces && networkPath);
            var dp = zeros(_atoms, set, dtype: ScalarType.Float64);
            if (networkPath)
                for (int e = 0; e < _elementAtoms.Length; e++)
                {
                    if (_elementAtoms[e].shape[0] == 0) continue;
                    dp = dp.index_copy(0, _elementAtoms[e], t._networks.Forward(net!, e, xf.index_select(0, _elementAtoms[e])));
                }
            var P = p0.index_select(0, _atomType).Plus(dp).reshape(-1);
            // the geometry enters only through r (R_c pairs), x_ab (screening) and cos θ (angular triplets): leaves for the forces
            var rR = _r0.detach().requires_grad_(forces);
            var xs = _xs0.detach().requires_grad_(forces);
            var cos = _cos0.detach().requires_grad_(forces);
            var fcR = Fc(rR);
            // screening
            var s = (Fc(xs) * exp(-P.index_select(0, _colLambda) * xs)).negative().Plus(TorchScalars.Of(1)); // 1 - fc(x) e^{-λx}
            var S = exp(zeros(_rCount, dtype: ScalarType.Float64).index_add(0, _sA, log(s.clamp_min(TorchScalars.Of(1e-300))), TorchScalars.One));
            // coordination and bond order
            var dh = cos - P.index_select(0, _colH);
            var term = P.index_select(0, _colZeta) * S.index_select(0, _zB) * fcR.index_select(0, _zB) * dh * dh;
            var Z = zeros(_rCount, dtype: ScalarType.Float64).index_add(0, _zA, term, TorchScalars.One);
            var phi = Z.Plus(TorchScalars.Of(1)).clamp_min(TorchScalars.Of(1e-300)).pow(TorchScalars.Of(-0.5));
            var eR = exp(P.index_select(0, _colA) - P.index_select(0, _colAlpha) * rR);
            var eA = exp(P.index_select(0, _colB) - P.index_select(0, _colBeta) * rR);
            var pair = (eR - S * phi * eA).mul(TorchScalars.Of(0.5)) * fcR;
            var eAtom = zeros(_atoms, dtype: ScalarType.Float64).index_add(0, _rCenter, pair, TorchScalars.One);
            var psi = zeros(_atoms, dtype: ScalarType.Float64).index_add(0, _rCenter, S * phi * fcR, TorchScalars.One);
            var sigma = P.index_select(0, _colSigma);
            eAtom = eAtom - sigma * psi.clamp_min(TorchScalars.Of(1e-300)).sqrt();
            var energies = zeros(_structures, dtype: ScalarType.Float64).index_add(0, _atomStructure, eAtom, TorchScalars.One);
            var penalty = !networkPath ? zeros(1, dtype: ScalarType.Float64).sum()
                : t._o.PenaltyWeights is { } pw ? (dp.pow(TorchScalars.Of(2)) * tensor(pw.ToArray(), dtype: ScalarType.Float64)).sum(1).mean() : dp.pow(TorchScalars.Of(2)).sum(1).mean();
            if (!forces || _d is null) return (energies, null, null, penalty);
            var g = autograd.grad([eAtom.sum()], networkPath ? [rR, xs, cos, xf] : [rR, xs, cos], retain_graph: true, create_graph: createGraph);
            // dE/dv of every pair: the chain rule through the fixed geometric derivatives
            var gx = g[1].unsqueeze(1); var gc = g[2].unsqueeze(1);
            var gp = zeros(_pv.shape[0], 3, dtype: ScalarType.Float64)
                .index_add(0, _rPair, g[0].unsqueeze(1) * _uR, TorchScalars.One)
                .index_add(0, _sAPair, gx * _jxA, TorchScalars.One).index_add(0, _sB, gx * _jxB, TorchScalars.One)
                .index_add(0, _zAPair, gc * _jcA, TorchScalars.One).index_add(0, _zBPair, gc * _jcB, TorchScalars.One);
            if (networkPath)
                gp = gp.index_add(0, _dPair!, bmm(g[3].index_select(0, _dCenter!).unsqueeze(1), _d).squeeze(1), TorchScalars.One);
            var f = zeros(_atoms, 3, dtype: ScalarType.Float64).index_add(0, _pc, gp, TorchScalars.One).index_add(0, _pn, gp, TorchScalars.MinusOne);
            var st = _labels.HasStress ? _labels.Stress(gp, _pv, _ps) : null;
            return (energies, f, st, penalty);
        }

        /// <summary>
        /// The loss of this batch for a stage and its gradient (stage 1: with respect to the base parameters; stage 2: the
        /// networks', with the Δp penalty and, when <paramref name="l2"/>, the L2 penalty). With <paramref name="counts"/> this is
        /// one MPI rank's part of a batch spread over the ranks: squared errors and the Δp penalty divided by the batch's counts
        /// over all ranks, and every network parameter in the graph.
        /// </summary>
        public double LossAndGradient(double[] xv, double[] gradient, PinnTrainer t, int stage, NeuralNetworkTrainer.LossCounts? counts = null, bool l2 = true)
        {
            using var scope = NewDisposeScope();
            var w = stage == 1 ? t._o.StageOneWeights : t._o.Weights;
            bool forces = _d is not null && (w.Force > 0 || w.Stress > 0);
            var net = t._networks.Tensors(xv, grad: stage == 2);
            var (e, f, s, penalty) = Predict(xv, t, stage, forces, createGraph: true, net);
            var p0Leaf = _lastP0!;
            var loss = _labels.Loss(w, e, f, s, counts, weighted: stage == 1 && t._groupWeights is not null);
            if (stage == 2)
            {
                if (counts is { } c)
                    // Predict's penalty is the mean over this part's atoms: as a share of the batch's mean over all ranks' atoms
                    loss = loss.Plus(penalty.Times(t._penalty).Times((double)_atoms / c.Atoms)).Plus(t._networks.Touch(net));
                else loss = loss.Plus(penalty.Times(t._penalty));
                if (t._o.GradientPenalty > 0 && t._o.GradientPenaltyAtData)
                {
                    // τ_g · Σ over this part's atoms of Σ_c w_c |∂Δp_ic/∂X_i|², over the batch's atoms (all ranks' under MPI)
                    var pw = t._o.PenaltyWeights is { } wq ? tensor(wq.ToArray(), dtype: ScalarType.Float64) : null;
                    var jac = t._networks.Touch(net);
                    for (int el = 0; el < _elementAtoms.Length; el++)
                        if (_elementAtoms[el].shape[0] > 0) jac = jac.Plus(t._networks.JacobianSquared(net, el, _x.index_select(0, _elementAtoms[el]), pw).sum());
                    loss = loss.Plus(jac.Times(t._o.GradientPenalty / (counts is { } cj ? cj.Atoms : _atoms)));
                }
                if (l2) loss = t._networks.AddL2(loss, net, t._o.L2);
                t._networks.Gradient(loss, net, gradient);
            }
            else
            {
                var g = autograd.grad([loss], [p0Leaf])[0].contiguous().data<double>().ToArray();
                Array.Copy(g, 0, gradient, 0, g.Length);
            }
            return loss.item<double>();
        }

        /// <summary>Σ|ΔE/N|, Σ(ΔE/N)², Σ|ΔF|, ΣΔF² of this set (an MPI run's validation errors are these summed over the ranks).</summary>
        public double[] ErrorSums(double[] xv, PinnTrainer t)
        {
            using var scope = NewDisposeScope();
            var net = t._networks.Tensors(xv, grad: false);
            var (e, f, _, _) = Predict(xv, t, 2, _d is not null, createGraph: false, net);
            return _labels.ErrorSums(e, f);
        }

        /// <summary>Energies per structure: the PINN's with the networks <paramref name="net"/>, the plain BOP's at p0 with null (no forces).</summary>
        public Tensor Energies(double[] xv, PinnTrainer t, List<Tensor>? net) => Predict(xv, t, net is null ? 1 : 2, false, false, net).E;

        /// <summary>The base-parameter leaf of the last <see cref="Predict"/> (stage 1 takes its gradient).</summary>
        private Tensor? _lastP0;

        /// <summary>Energy MAE (meV/atom), force MAE (eV/Å) and the loss of this set.</summary>
        public (double EnergyMae, double ForceMae, double Loss) Errors(double[] xv, PinnTrainer t)
        {
            using var scope = NewDisposeScope();
            var net = t._networks.Tensors(xv, grad: false);
            var (e, f, _, _) = Predict(xv, t, 2, _d is not null, createGraph: false, net);
            return _labels.Errors(t._o.Weights, e, f);
        }
    }
}
