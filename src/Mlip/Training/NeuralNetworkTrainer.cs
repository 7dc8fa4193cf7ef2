using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlip.Descriptors;
using Mlip.IO;
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
}

/// <summary>One line of the learning curve.</summary>
public sealed record LearningPoint(int Epoch, double Loss, double? ValidationEnergyMae, double? ValidationForceMae, double Seconds);

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
    private readonly List<Batch> _batches = [];
    private readonly Batch? _validation;
    private readonly List<(int Element, int Layer, bool Bias, int Rows, int Cols)> _shapes = [];
    private readonly int _parameterCount;

    public NeuralNetworkTrainer(TrainingSet data, NeuralNetworkOptions options)
    {
        TorchRuntime.EnsureLoaded();
        _o = options;
        _elements = data.Elements();
        _k = data.FeatureCount;
        (_mean, _scale) = data.FeatureStatistics();
        _offsets = ReferenceEnergies(data, _elements);
        bool needDerivatives = options.Weights.Force > 0 || options.Weights.Stress > 0;
        if (options.Optimizer.Equals("lbfgs", StringComparison.OrdinalIgnoreCase) && options.BatchStructures > 0)
            throw new MlipException("L-BFGS needs the full batch (batch: 0); use adam or sgd for mini-batches");

        // validation split and batches, from the seed
        var rng = new Random(options.Seed);
        var order = Enumerable.Range(0, data.Count).OrderBy(_ => rng.Next()).ToArray();
        int nVal = options.ValidationFraction > 0 ? Math.Max(1, (int)Math.Round(options.ValidationFraction * data.Count)) : 0;
        if (nVal >= data.Count) nVal = 0;
        var val = order.Take(nVal).Order().ToArray();
        var train = order.Skip(nVal).Order().ToArray();
        if (nVal > 0) _validation = new Batch(data, val, this, needDerivatives);
        int size = options.BatchStructures > 0 ? options.BatchStructures : train.Length;
        var shuffled = train.OrderBy(_ => rng.Next()).ToArray();
        for (int start = 0; start < shuffled.Length; start += size)
            _batches.Add(new Batch(data, [.. shuffled.Skip(start).Take(size).Order()], this, needDerivatives));

        var sizes = new List<int> { _k };
        sizes.AddRange(options.Hidden);
        sizes.Add(1);
        for (int e = 0; e < _elements.Length; e++)
            for (int l = 0; l + 1 < sizes.Count; l++)
            {
                _shapes.Add((e, l, false, sizes[l + 1], sizes[l]));
                _shapes.Add((e, l, true, sizes[l + 1], 1));
            }
        _parameterCount = _shapes.Sum(s => s.Rows * s.Cols);
        TrainStructures = train.Length;
        ValidationStructures = nVal;
    }

    public int TrainStructures { get; }
    public int ValidationStructures { get; }
    public int ParameterCount => _parameterCount;

    /// <summary>Per-element reference energies (eV/atom): least squares of E against element counts.</summary>
    private static double[] ReferenceEnergies(TrainingSet data, int[] elements)
    {
        int ne = elements.Length;
        var ata = new double[ne * ne];
        var atb = new double[ne];
        foreach (var s in data.Structures)
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
        for (int a = 0; a < ne; a++) ata[a * ne + a] += 1e-10;
        var sol = new ManagedLeastSquares().Solve(new LeastSquaresProblem(ata, ne, atb, null, null));
        return sol.Coefficients;
    }

    /// <summary>Initial parameters (Xavier uniform from the seed), in the flat order of the model's layers.</summary>
    public double[] InitialParameters()
    {
        var rng = new Random(_o.Seed + 7919);
        var x = new double[_parameterCount];
        int o = 0;
        foreach (var (_, _, bias, rows, cols) in _shapes)
        {
            if (!bias)
            {
                double limit = Math.Sqrt(6.0 / (rows + cols));
                for (int q = 0; q < rows * cols; q++) x[o + q] = (2 * rng.NextDouble() - 1) * limit;
            }
            o += rows * cols;
        }
        return x;
    }

    public NeuralNetworkModel ToModel(double[] x)
    {
        var nets = new Mlp[_elements.Length];
        int o = 0;
        for (int e = 0; e < _elements.Length; e++)
        {
            var layers = new List<DenseLayer>();
            for (int l = 0; l < _o.Hidden.Count + 1; l++)
            {
                var (_, _, _, rows, cols) = _shapes[(e * (_o.Hidden.Count + 1) + l) * 2];
                var w = x.AsSpan(o, rows * cols).ToArray(); o += rows * cols;
                var b = x.AsSpan(o, rows).ToArray(); o += rows;
                layers.Add(new DenseLayer(cols, rows, w, b));
            }
            nets[e] = new Mlp(layers, _o.Activation);
        }
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
        var optimizer = Optimizers.Create(_o.Optimizer, _parameterCount, _o.LearningRate, _o.Momentum);
        var curve = new List<LearningPoint>();
        int startEpoch = 0;
        double bestVal = double.PositiveInfinity;
        double[] best = (double[])x.Clone();
        int sinceBest = 0;
        double elapsedBefore = 0;
        if (resume && checkpointPath is not null && File.Exists(checkpointPath))
        {
            var cp = JsonNode.Parse(File.ReadAllText(checkpointPath))!.AsObject();
            if ((int?)cp["parameter_count"] != _parameterCount || (string?)cp["optimizer"] != optimizer.Name)
                throw new MlipException($"{checkpointPath} was written for another network or optimizer; remove it to start afresh");
            startEpoch = (int)cp["epoch"]!;
            x = Optimizers.Read(cp["parameters"]);
            best = Optimizers.Read(cp["best_parameters"]);
            bestVal = (double)cp["best_validation"]!;
            sinceBest = (int)cp["since_best"]!;
            elapsedBefore = (double)cp["seconds"]!;
            optimizer.LoadState(cp["optimizer_state"]!.AsObject());
            foreach (var p in cp["curve"]!.AsArray())
                curve.Add(new LearningPoint((int)p!["epoch"]!, (double)p["loss"]!, (double?)p["val_energy_mae"], (double?)p["val_force_mae"], (double)p["seconds"]!));
            log.WriteLine($"resuming from {checkpointPath} after epoch {startEpoch}");
        }

        var clock = Stopwatch.StartNew();
        double lastLoss = double.NaN;
        for (int epoch = startEpoch + 1; epoch <= _o.Epochs; epoch++)
        {
            // batch order of this epoch from (seed, epoch): the same after a resume
            var rng = new Random(unchecked(_o.Seed * 1_000_003 + epoch)); // deterministic across processes (HashCode is not)
            var order = Enumerable.Range(0, _batches.Count).OrderBy(_ => rng.Next()).ToArray();
            double sum = 0;
            foreach (int b in order)
            {
                var batch = _batches[b];
                sum += optimizer.Step(x, (p, g) => batch.LossAndGradient(p, g, this));
            }
            lastLoss = sum / _batches.Count;
            if (!double.IsFinite(lastLoss)) throw new MlipException($"the loss became {lastLoss} at epoch {epoch}; lower the learning rate");

            bool evaluate = epoch % Math.Max(1, _o.EvaluateEvery) == 0 || epoch == _o.Epochs;
            double? vE = null, vF = null;
            if (evaluate && _validation is not null)
            {
                var (ve, vf, vl) = _validation.Errors(x, this);
                vE = ve; vF = vf;
                if (vl < bestVal) { bestVal = vl; best = (double[])x.Clone(); sinceBest = 0; }
                else sinceBest++;
            }
            else if (_validation is null) best = (double[])x.Clone();
            double seconds = elapsedBefore + clock.Elapsed.TotalSeconds;
            if (evaluate)
            {
                curve.Add(new LearningPoint(epoch, lastLoss, vE, vF, seconds));
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"epoch {epoch,5}: loss {lastLoss:E4}{(vE is double e ? $", validation {e:F2} meV/atom, {vF:F4} eV/Å" : "")}, {seconds:F0} s"));
            }
            if (checkpointPath is not null && (epoch % Math.Max(1, _o.CheckpointEvery) == 0))
                WriteCheckpoint(checkpointPath, epoch, x, best, bestVal, sinceBest, seconds, optimizer, curve);
            if (_o.Patience > 0 && sinceBest >= _o.Patience)
            {
                log.WriteLine($"early stop at epoch {epoch}: no better validation loss in {_o.Patience} evaluations");
                break;
            }
        }
        return (ToModel(_validation is null ? x : best), curve, lastLoss);
    }

    private void WriteCheckpoint(string path, int epoch, double[] x, double[] best, double bestVal, int sinceBest, double seconds, IOptimizer optimizer, List<LearningPoint> curve)
    {
        var root = new JsonObject
        {
            ["epoch"] = epoch,
            ["parameter_count"] = _parameterCount,
            ["optimizer"] = optimizer.Name,
            ["parameters"] = Optimizers.Array(x),
            ["best_parameters"] = Optimizers.Array(best),
            ["best_validation"] = double.IsFinite(bestVal) ? bestVal : double.MaxValue,
            ["since_best"] = sinceBest,
            ["seconds"] = seconds,
            ["optimizer_state"] = optimizer.SaveState(),
            ["curve"] = new JsonArray([.. curve.Select(p => (JsonNode)new JsonObject
            {
                ["epoch"] = p.Epoch, ["loss"] = p.Loss, ["val_energy_mae"] = p.ValidationEnergyMae, ["val_force_mae"] = p.ValidationForceMae, ["seconds"] = p.Seconds,
            })]),
        };
        AtomicFile.Write(path, s =>
        {
            using var w = new Utf8JsonWriter(s);
            root.WriteTo(w);
        });
    }

    /// <summary>The training loss over all batches at <paramref name="x"/> and its gradient (for tests and diagnostics).</summary>
    public double LossAndGradient(double[] x, double[] gradient)
    {
        TorchRuntime.SetThreads(_o.Threads);
        var g = new double[gradient.Length];
        Array.Clear(gradient);
        double loss = 0;
        foreach (var b in _batches)
        {
            loss += b.LossAndGradient(x, g, this);
            for (int i = 0; i < g.Length; i++) gradient[i] += g[i];
        }
        return loss;
    }

    /// <summary>Builds per-element torch modules' parameters from the flat vector (fresh leaf tensors).</summary>
    private List<Tensor> ParameterTensors(double[] x)
    {
        var list = new List<Tensor>(_shapes.Count);
        int o = 0;
        foreach (var (_, _, bias, rows, cols) in _shapes)
        {
            int count = rows * cols;
            var t = tensor(x.AsSpan(o, count).ToArray(), bias ? [rows] : [rows, (long)cols], dtype: ScalarType.Float64).requires_grad_(true);
            list.Add(t);
            o += count;
        }
        return list;
    }

    private Tensor Forward(List<Tensor> p, int element, Tensor input)
    {
        int layers = _o.Hidden.Count + 1;
        var h = input;
        for (int l = 0; l < layers; l++)
        {
            var w = p[(element * layers + l) * 2];
            var b = p[(element * layers + l) * 2 + 1];
            h = nn.functional.linear(h, w, b);
            if (l < layers - 1) h = _o.Activation switch
            {
                Activation.Tanh => tanh(h),
                Activation.Sigmoid => sigmoid(h),
                Activation.Softplus => nn.functional.softplus(h),
                Activation.Silu => nn.functional.silu(h),
                Activation.Relu => nn.functional.relu(h),
                Activation.HalfTanh => sigmoid(h) - 0.5,
                _ => h,
            };
        }
        return h.squeeze(-1);
    }

    /// <summary>Tensors of a set of structures: normalised features, per-element atom indices, labels, derivative blocks.</summary>
    private sealed class Batch
    {
        private readonly Tensor _x;
        private readonly Tensor[] _elementAtoms;
        private readonly Tensor _atomStructure, _atomsPer, _energyTarget, _offsetPer;
        private readonly Tensor? _d, _pc, _pn, _pv, _ps, _forceTarget, _volume, _stressTarget, _stressMask;
        private readonly int _structures, _atoms;
        private readonly long _forceComponents, _stressComponents;

        public Batch(TrainingSet data, int[] structures, NeuralNetworkTrainer t, bool derivatives)
        {
            int k = t._k;
            int atoms = structures.Sum(s => data.Structures[s].Count);
            int pairs = derivatives ? structures.Sum(s => data.Descriptors[s].Neighbors.PairCount) : 0;
            var x = new double[(long)atoms * k];
            var atomStructure = new long[atoms];
            var elementOf = new int[atoms];
            var atomsPer = new double[structures.Length];
            var energy = new double[structures.Length];
            var offset = new double[structures.Length];
            var force = derivatives ? new double[3L * atoms] : [];
            var d = derivatives ? new double[(long)pairs * k * 3] : [];
            var pc = new long[pairs]; var pn = new long[pairs]; var ps = new long[pairs];
            var pv = new double[3L * pairs];
            var volume = new double[structures.Length];
            var stress = new double[6 * structures.Length];
            var stressMask = new double[6 * structures.Length];
            int ao = 0, po = 0;
            long fc = 0, sc = 0;
            for (int q = 0; q < structures.Length; q++)
            {
                var st = data.Structures[structures[q]];
                var set = data.Descriptors[structures[q]];
                atomsPer[q] = st.Count;
                energy[q] = st.Energy ?? 0;
                volume[q] = st.Pbc.AllPeriodic ? st.Volume : 0;
                for (int i = 0; i < st.Count; i++)
                {
                    int e = Array.IndexOf(t._elements, st.AtomicNumbers[i]);
                    elementOf[ao + i] = e;
                    offset[q] += t._offsets[e];
                    atomStructure[ao + i] = q;
                    var xi = set.Of(i);
                    for (int a = 0; a < k; a++) x[(long)(ao + i) * k + a] = (xi[a] - t._mean[a]) / t._scale[a];
                    if (derivatives && st.Forces is { } f) { force[3L * (ao + i)] = f[i].X; force[3L * (ao + i) + 1] = f[i].Y; force[3L * (ao + i) + 2] = f[i].Z; }
                }
                if (derivatives)
                {
                    if (st.Forces is not null) fc += 3 * st.Count;
                    if (st.Stress is Stress sv && st.Pbc.AllPeriodic)
                    {
                        var v = sv.ToVoigt();
                        for (int c = 0; c < 6; c++) { stress[6 * q + c] = v[c]; stressMask[6 * q + c] = 1; }
                        sc += 6;
                    }
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
            _atomsPer = tensor(atomsPer, dtype: ScalarType.Float64);
            _energyTarget = tensor(energy, dtype: ScalarType.Float64);
            _offsetPer = tensor(offset, dtype: ScalarType.Float64);
            if (derivatives)
            {
                _d = tensor(d, [pairs, k, 3], dtype: ScalarType.Float64);
                _pc = tensor(pc, dtype: ScalarType.Int64);
                _pn = tensor(pn, dtype: ScalarType.Int64);
                _ps = tensor(ps, dtype: ScalarType.Int64);
                _pv = tensor(pv, [pairs, 3], dtype: ScalarType.Float64);
                _forceTarget = tensor(force, [atoms, 3], dtype: ScalarType.Float64);
                _volume = tensor(volume.Select(v => v > 0 ? Stress.EvPerCubicAngstromInGpa / v : 0).ToArray(), dtype: ScalarType.Float64);
                _stressTarget = tensor(stress, [structures.Length, 6], dtype: ScalarType.Float64);
                _stressMask = tensor(stressMask, [structures.Length, 6], dtype: ScalarType.Float64);
                _forceComponents = fc;
                _stressComponents = sc;
            }
        }

        /// <summary>Energies per structure, and forces and stresses when the graph for them is asked for.</summary>
        private (Tensor E, Tensor? F, Tensor? S) Predict(List<Tensor> p, NeuralNetworkTrainer t, bool forces, bool createGraph)
        {
            var x = _x.detach().requires_grad_(forces);
            var eAtom = zeros(_atoms, dtype: ScalarType.Float64);
            for (int e = 0; e < _elementAtoms.Length; e++)
            {
                if (_elementAtoms[e].shape[0] == 0) continue;
                eAtom = eAtom.index_copy(0, _elementAtoms[e], t.Forward(p, e, x.index_select(0, _elementAtoms[e])));
            }
            var energies = zeros(_structures, dtype: ScalarType.Float64).index_add(0, _atomStructure, eAtom, 1.0) + _offsetPer;
            if (!forces || _d is null) return (energies, null, null);
            var g = autograd.grad([eAtom.sum()], [x], retain_graph: true, create_graph: createGraph)[0]; // dE/dX̃ [atoms, k]
            var gp = bmm(g.index_select(0, _pc!).unsqueeze(1), _d).squeeze(1);                          // dE/dr_ij [pairs, 3]
            var f = zeros(_atoms, 3, dtype: ScalarType.Float64).index_add(0, _pc!, gp, 1.0).index_add(0, _pn!, gp, -1.0);
            Tensor? s = null;
            if (_stressComponents > 0)
            {
                var w = gp.unsqueeze(2) * _pv!.unsqueeze(1);                                             // [pairs, 3, 3]
                var ws = zeros(_structures, 3, 3, dtype: ScalarType.Float64).index_add(0, _ps!, w, 1.0);
                var voigt = stack([ws[.., 0, 0], ws[.., 1, 1], ws[.., 2, 2],
                    0.5 * (ws[.., 1, 2] + ws[.., 2, 1]), 0.5 * (ws[.., 0, 2] + ws[.., 2, 0]), 0.5 * (ws[.., 0, 1] + ws[.., 1, 0])], 1);
                s = voigt * _volume!.unsqueeze(1);
            }
            return (energies, f, s);
        }

        public double LossAndGradient(double[] x, double[] gradient, NeuralNetworkTrainer t)
        {
            using var scope = NewDisposeScope();
            var p = t.ParameterTensors(x);
            var w = t._o.Weights;
            bool forces = _d is not null && (w.Force > 0 || w.Stress > 0);
            var (e, f, s) = Predict(p, t, forces, createGraph: true);
            var de = (e - _energyTarget) / _atomsPer;
            var loss = w.Energy * (de * de).mean();
            if (f is not null && w.Force > 0 && _forceComponents > 0)
                loss = loss + w.Force * (f - _forceTarget!).pow(2).sum() / _forceComponents;
            if (s is not null && w.Stress > 0 && _stressComponents > 0)
                loss = loss + w.Stress * ((s - _stressTarget!).pow(2) * _stressMask!).sum() / _stressComponents;
            if (t._o.L2 > 0)
                for (int q = 0; q < p.Count; q++)
                    if (!t._shapes[q].Bias) loss = loss + t._o.L2 * p[q].pow(2).sum();
            var grads = autograd.grad([loss], p);
            int o = 0;
            foreach (var gq in grads)
            {
                var arr = gq.contiguous().data<double>().ToArray();
                Array.Copy(arr, 0, gradient, o, arr.Length);
                o += arr.Length;
            }
            return loss.item<double>();
        }

        /// <summary>Energy MAE (meV/atom), force MAE (eV/Å) and the loss of this set.</summary>
        public (double EnergyMae, double ForceMae, double Loss) Errors(double[] x, NeuralNetworkTrainer t)
        {
            using var scope = NewDisposeScope();
            var p = t.ParameterTensors(x);
            var w = t._o.Weights;
            var (e, f, _) = Predict(p, t, _d is not null, createGraph: false);
            var de = (e - _energyTarget) / _atomsPer;
            double eMae = 1000 * de.abs().mean().item<double>();
            double loss = w.Energy * (de * de).mean().item<double>();
            double fMae = double.NaN;
            if (f is not null && _forceComponents > 0)
            {
                var df = f - _forceTarget!;
                fMae = df.abs().sum().item<double>() / _forceComponents;
                loss += w.Force * df.pow(2).sum().item<double>() / _forceComponents;
            }
            return (eMae, fMae, loss);
        }
    }
}
