using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Numerics;
using Mlip.Structures;
using Mlip.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace Mlip.Training;

/// <summary>Per-atom rows of a data set: features X [atoms, K], targets Y [atoms, D], atomic numbers, the structure of each atom.</summary>
public sealed class PerAtomData
{
    public PerAtomData(double[] x, double[] y, int[] atomicNumbers, int[] structureOf, int features, int outputs)
    {
        X = x; Y = y; AtomicNumbers = atomicNumbers; StructureOf = structureOf; Features = features; Outputs = outputs;
    }

    public double[] X { get; }
    public double[] Y { get; }
    public int[] AtomicNumbers { get; }
    public int[] StructureOf { get; }
    public int Features { get; }
    public int Outputs { get; }
    public int Atoms => AtomicNumbers.Length;

    public int[] Elements() => [.. AtomicNumbers.Distinct().Order()];

    /// <summary>
    /// Descriptors of every structure (per-atom values only) and the per-atom array <paramref name="target"/>,
    /// which every structure must carry with the same number of components.
    /// </summary>
    public static PerAtomData Build(IDescriptor descriptor, IReadOnlyList<Structure> structures, string target, int threads = 1, IProgress<WorkProgress>? progress = null)
    {
        int d = -1;
        foreach (var s in structures)
        {
            if (!s.AtomArrays.TryGetValue(target, out var a))
                throw new MissingLabelException(s.Source ?? InputLocation.Unknown, target);
            if (d < 0) d = a.Components;
            else if (a.Components != d)
                throw new MlipInputException(s.Source ?? InputLocation.Unknown, $"per-atom target '{target}' has {a.Components} components here but {d} in the first structure");
        }
        var sets = DatasetDescriptors.Compute(descriptor, structures, derivatives: false, threads, progress);
        return FromSets(sets, structures, target, Math.Max(d, 1));
    }

    public static PerAtomData FromSets(IReadOnlyList<DescriptorSet> sets, IReadOnlyList<Structure> structures, string? target, int outputs)
    {
        int atoms = structures.Sum(s => s.Count), k = sets.Count > 0 ? sets[0].Features : 0;
        var x = new double[(long)atoms * k];
        var y = new double[(long)atoms * outputs];
        var z = new int[atoms];
        var of = new int[atoms];
        int row = 0;
        for (int s = 0; s < structures.Count; s++)
        {
            var st = structures[s];
            sets[s].Values.CopyTo(x.AsSpan(row * k));
            if (target is not null && st.AtomArrays.TryGetValue(target, out var a)) a.Values.CopyTo(y.AsSpan(row * outputs));
            for (int i = 0; i < st.Count; i++) { z[row + i] = st.AtomicNumbers[i]; of[row + i] = s; }
            row += st.Count;
        }
        return new PerAtomData(x, y, z, of, k, outputs);
    }

    /// <summary>Row indices of the atoms of element <paramref name="z"/>.</summary>
    public int[] RowsOf(int z) => [.. Enumerable.Range(0, Atoms).Where(i => AtomicNumbers[i] == z)];
}

/// <summary>Settings of per-atom fits (model keys of a per-atom training config).</summary>
public sealed record PerAtomFitOptions
{
    /// <summary>Ridge λ on the standardised problem, per atom (constant column unpenalised).</summary>
    public double Ridge { get; init; } = 1e-8;

    public IReadOnlyList<int> Hidden { get; init; } = [64, 64];
    public Activation Activation { get; init; } = Activation.Tanh;
    public string Optimizer { get; init; } = "lbfgs";
    public int Epochs { get; init; } = 500;
    public double LearningRate { get; init; }
    public double L2 { get; init; } = 1e-6;

    /// <summary>GPR: sparse points per element (all atoms when fewer).</summary>
    public int SparsePoints { get; init; } = 600;
    public double LengthScale { get; init; } = 1.0;

    /// <summary>GPR noise variance in standardised target units.</summary>
    public double Noise { get; init; } = 1e-4;

    /// <summary>
    /// nn: when set (the exponents of a Gaussian-expansion target), the loss is the squared L2 error of the
    /// reconstructed function V(r) = Σ_k A_k e^{−α_k r²} on the metric's radial grid (summed over atoms,
    /// divided by Σ‖V_ref‖²) instead of the mean squared error of the standardised components.
    /// </summary>
    public double[]? FunctionLossAlphas { get; init; }

    public int Seed { get; init; } = 1;
    public int Threads { get; init; } = Environment.ProcessorCount;
}

/// <summary>The per-atom fits: multi-output ridge (linear, quadratic), networks (TorchSharp gradients), sparse GPR.</summary>
public static class PerAtomFit
{
    private static readonly CholeskyJitter NormalEquations = new(1e-12, 100, 8, "the normal equations are not positive definite even with jitter (raise the ridge)");
    private static readonly CholeskyJitter FunctionMetric = new(1e-14, 10, 12, "the function metric is not positive definite");

    /// <summary>Fits the per-atom variant of the model kind <paramref name="kind"/> (<see cref="ModelKind.PerAtom"/>) with its default settings over <paramref name="settings"/>.</summary>
    public static IPerAtomModel Fit(string kind, PerAtomFitContext context, object? settings = null)
    {
        var k = ModelKinds.Get(kind);
        var variant = k.PerAtom ?? throw new MlipException($"model kind '{k.Name}' has no per-atom variant ({string.Join(", ", ModelKinds.All.Where(x => x.PerAtom is not null).Select(x => x.Name))})");
        return variant.Fit(context, settings ?? Activator.CreateInstance(variant.SettingsType)!);
    }

    /// <summary>Standardised features [rows, K] and targets [rows, D] of the given rows.</summary>
    private static (double[] X, double[] Y) Standardized(PerAtomData data, int[] rows, Standardization fs, Standardization ts)
    {
        int k = data.Features, d = data.Outputs;
        var x = new double[(long)rows.Length * k];
        var y = new double[(long)rows.Length * d];
        for (int r = 0; r < rows.Length; r++)
        {
            fs.Forward(data.X.AsSpan(rows[r] * k, k), x.AsSpan(r * k, k));
            ts.Forward(data.Y.AsSpan(rows[r] * d, d), y.AsSpan(r * d, d));
        }
        return (x, y);
    }

    public static PerAtomPolynomialModel Polynomial(PerAtomData data, int order, PerAtomFitOptions o)
    {
        int k = data.Features, d = data.Outputs, p = PerAtomPolynomialModel.BasisSize(order, k);
        if (p > 6000) throw new MlipException($"a {(order == 1 ? "linear" : "quadratic")} model on {k} features has {p} basis functions per element; use fewer features (e.g. a smaller twojmax) for a quadratic model");
        var fs = Standardization.Of(data.X, k);
        var ts = Standardization.Of(data.Y, d);
        var elements = data.Elements();
        var weights = new double[elements.Length][];
        for (int e = 0; e < elements.Length; e++)
        {
            var rows = data.RowsOf(elements[e]);
            var (x, y) = Standardized(data, rows, fs, ts);
            var ata = new double[p * p];
            var aty = new double[p * d];
            var phi = new double[p];
            for (int r = 0; r < rows.Length; r++)
            {
                PerAtomPolynomialModel.Basis(order, x.AsSpan(r * k, k), phi);
                var yr = y.AsSpan(r * d, d);
                for (int a = 0; a < p; a++)
                {
                    double fa = phi[a];
                    if (fa == 0) continue;
                    var row = ata.AsSpan(a * p, p);
                    for (int b = a; b < p; b++) row[b] += fa * phi[b];
                    var t = aty.AsSpan(a * d, d);
                    for (int c = 0; c < d; c++) t[c] += fa * yr[c];
                }
            }
            for (int a = 0; a < p; a++)
                for (int b = 0; b < a; b++) ata[a * p + b] = ata[b * p + a];
            double lambda = o.Ridge * rows.Length;
            for (int a = 1; a < p; a++) ata[a * p + a] += lambda;
            ata[0] += 1e-12 * rows.Length;
            weights[e] = DenseCholesky.Solve(ata, p, aty, d, NormalEquations);
        }
        return new PerAtomPolynomialModel(order, elements, fs, ts, weights);
    }

    public static PerAtomGaussianProcessModel GaussianProcess(PerAtomData data, PerAtomFitOptions o)
    {
        int k = data.Features, d = data.Outputs;
        var fs = Standardization.Of(data.X, k);
        var ts = Standardization.Of(data.Y, d);
        var elements = data.Elements();
        var rng = new Random(o.Seed);
        var points = new double[elements.Length][];
        var alpha = new double[elements.Length][];
        for (int e = 0; e < elements.Length; e++)
        {
            var rows = data.RowsOf(elements[e]);
            var (x, y) = Standardized(data, rows, fs, ts);
            int n = rows.Length;
            var order = Enumerable.Range(0, n).ToArray();
            rng.Shuffle(order);
            int m = Math.Min(o.SparsePoints, n);
            var z = new double[m * k];
            for (int j = 0; j < m; j++) x.AsSpan(order[j] * k, k).CopyTo(z.AsSpan(j * k, k));
            // (K_MN K_NM + σ² K_MM) α = K_MN Y
            var kmn = new double[(long)m * n];
            Parallel.For(0, m, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, o.Threads) }, j =>
            {
                for (int i = 0; i < n; i++) kmn[(long)j * n + i] = PerAtomGaussianProcessModel.Kernel(z.AsSpan(j * k, k), x.AsSpan(i * k, k), o.LengthScale, 1.0);
            });
            var a = new double[m * m];
            Parallel.For(0, m, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, o.Threads) }, j =>
            {
                var rj = kmn.AsSpan((int)((long)j * n), n);
                for (int l = j; l < m; l++)
                {
                    var rl = kmn.AsSpan((int)((long)l * n), n);
                    double s = 0;
                    for (int i = 0; i < n; i++) s += rj[i] * rl[i];
                    s += o.Noise * PerAtomGaussianProcessModel.Kernel(z.AsSpan(j * k, k), z.AsSpan(l * k, k), o.LengthScale, 1.0);
                    a[j * m + l] = s;
                    a[l * m + j] = s;
                }
            });
            for (int j = 0; j < m; j++) a[j * m + j] += 1e-10 * n;
            var b = new double[m * d];
            for (int j = 0; j < m; j++)
                for (int i = 0; i < n; i++)
                {
                    double kv = kmn[(long)j * n + i];
                    for (int c = 0; c < d; c++) b[j * d + c] += kv * y[i * d + c];
                }
            points[e] = z;
            alpha[e] = DenseCholesky.Solve(a, m, b, d, NormalEquations);
        }
        return new PerAtomGaussianProcessModel(elements, fs, ts, points, alpha, o.LengthScale, 1.0);
    }

    /// <summary>
    /// Per-element networks (shared hidden layers, one linear output per component) trained on the mean
    /// squared error of the standardised targets plus L2 on the weights, gradients from libtorch, the
    /// managed optimisers of <see cref="Optimizers"/>; Xavier-uniform start from the seed.
    /// </summary>
    public static PerAtomNetworkModel Network(PerAtomData data, PerAtomFitOptions o, TextWriter? log = null)
    {
        TorchRuntime.EnsureLoaded();
        TorchRuntime.SetThreads(o.Threads);
        int k = data.Features, d = data.Outputs;
        var fs = Standardization.Of(data.X, k);
        var ts = Standardization.Of(data.Y, d);
        var elements = data.Elements();
        var networks = new ElementNetworks(elements.Length, k, o.Hidden, d, o.Activation);
        var theta = new double[networks.Count];
        networks.Initialize(theta, new Random(o.Seed));
        var xs = new Tensor[elements.Length];
        var ys = new Tensor[elements.Length];
        for (int e = 0; e < elements.Length; e++)
        {
            var rows = data.RowsOf(elements[e]);
            var (x, y) = Standardized(data, rows, fs, ts);
            xs[e] = tensor(x, [rows.Length, (long)k], dtype: ScalarType.Float64);
            ys[e] = tensor(y, [rows.Length, (long)d], dtype: ScalarType.Float64);
        }
        double total = data.Atoms * (double)d;
        // function-space loss: ‖ΔA‖²_G with G_kl = Σ_g r_g² e^{−α_k r_g²} e^{−α_l r_g²}; ΔA = scale ⊙ Δỹ, so
        // the metric on standardised outputs is M = diag(scale) G diag(scale), applied as ‖Δỹ Lᵀ‖² with M = L Lᵀ
        Tensor? metric = null;
        if (o.FunctionLossAlphas is { } fa)
        {
            if (fa.Length != d) throw new MlipException($"{fa.Length} exponents for {d} components");
            var g = Mlip.Data.GaussianExpansion.Gram(fa);
            var mm = new double[d * d];
            for (int a = 0; a < d; a++) for (int b = 0; b < d; b++) mm[a * d + b] = ts.Scale[a] * g[a * d + b] * ts.Scale[b];
            double refNorm = 0;
            for (int i = 0; i < data.Atoms; i++)
                for (int a = 0; a < d; a++) for (int b = 0; b < d; b++) refNorm += data.Y[i * d + a] * g[a * d + b] * data.Y[i * d + b];
            for (int q = 0; q < mm.Length; q++) mm[q] /= refNorm;
            var lower = DenseCholesky.Factor(mm, d, FunctionMetric);
            metric = tensor(lower, [d, (long)d], dtype: ScalarType.Float64).t(); // Lᵀ: Δỹ @ Lᵀ
        }

        double Objective(double[] x, double[] gradient)
        {
            using var scope = NewDisposeScope();
            var p = networks.Tensors(x, grad: true);
            Tensor loss = zeros(1, dtype: ScalarType.Float64);
            for (int e = 0; e < elements.Length; e++)
            {
                var diff = networks.Forward(p, e, xs[e]) - ys[e];
                loss = loss.Plus(metric is null ? diff.pow(TorchScalars.Of(2)).sum().Over(total) : diff.matmul(metric).pow(TorchScalars.Of(2)).sum());
            }
            loss = networks.AddL2(loss, p, o.L2);
            networks.Gradient(loss, p, gradient);
            return loss.item<double>();
        }

        var optimizer = Optimizers.Create(o.Optimizer, networks.Count, o.LearningRate, 0.9);
        double last = double.NaN;
        for (int epoch = 1; epoch <= o.Epochs; epoch++)
        {
            last = optimizer.Step(theta, Objective);
            if (log is not null && (epoch % Math.Max(1, o.Epochs / 10) == 0 || epoch == 1))
                log.WriteLine(FormattableString.Invariant($"nn: epoch {epoch}, loss {last:E4}"));
        }
        metric?.Dispose();
        foreach (var t in xs) t.Dispose();
        foreach (var t in ys) t.Dispose();

        var layers = networks.ToMlps(theta, elements.Length).Select(m => m.Layers).ToArray();
        return new PerAtomNetworkModel(elements, fs, ts, layers, o.Activation);
    }
}
