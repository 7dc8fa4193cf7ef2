using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace Mlip.Training;

/// <summary>How the sparse (representative) environments of a GPR are chosen.</summary>
public enum SparseSelection
{
    /// <summary>
    /// CUR: leverage-score sampling of the rows of the normalised descriptor matrix X̂ (N_e × K): with the
    /// top k = min(rank, M) eigenpairs (λ_j, v_j) of X̂ᵀX̂, the leverage of atom i is Σ_j (x̂_i·v_j)²/λ_j;
    /// M atoms are drawn without replacement with probability proportional to it (seeded).
    /// </summary>
    Cur,

    /// <summary>M atoms drawn uniformly without replacement (seeded).</summary>
    Random,
}

/// <summary>How the noise levels σ_E, σ_F, σ_S that the options do not give are chosen.</summary>
public enum NoiseLevels
{
    /// <summary>
    /// In the ratios of the loss weights, σ_T ∝ sqrt(n_T / w_T) (n_T observations of type T, w_T its weight),
    /// so that −log p(y) weighs the residuals as the loss of <see cref="LossWeights"/> does; their common scale
    /// (and σ²) maximise the marginal likelihood.
    /// </summary>
    Loss,

    /// <summary>Each σ_T maximises the marginal likelihood on its own.</summary>
    Likelihood,
}

/// <summary>Settings of a sparse Gaussian process fit (<see cref="GaussianProcessFit"/>).</summary>
public sealed record GaussianProcessFitOptions
{
    public GaussianProcessKernelType Kernel { get; init; } = GaussianProcessKernelType.Dot;

    /// <summary>ζ values to try (the marginal likelihood picks one).</summary>
    public IReadOnlyList<int> Zeta { get; init; } = [2];

    /// <summary>Length scales l to try for the RBF kernel (the marginal likelihood picks one).</summary>
    public IReadOnlyList<double> LengthScale { get; init; } = [0.5];

    /// <summary>Sparse points per element (fewer when an element has fewer distinct environments).</summary>
    public int SparsePoints { get; init; } = 500;

    public SparseSelection Selection { get; init; } = SparseSelection.Cur;

    public FeatureNormalization Normalization { get; init; } = FeatureNormalization.Scale;

    /// <summary>Which observations enter: energies, forces, stresses with a weight above 0 (the noise levels are separate).</summary>
    public LossWeights Weights { get; init; } = new();

    /// <summary>σ², the prior variance of a per-atom energy (eV²); null: maximise the marginal likelihood.</summary>
    public double? Variance { get; init; }

    /// <summary>σ_E, noise of the energy per atom (eV/atom); null: maximise the marginal likelihood.</summary>
    public double? SigmaEnergy { get; init; }

    /// <summary>σ_F, noise of a force component (eV/Å); null: maximise the marginal likelihood.</summary>
    public double? SigmaForce { get; init; }

    /// <summary>σ_S, noise of a stress component (GPa); null: maximise the marginal likelihood.</summary>
    public double? SigmaStress { get; init; }

    /// <summary>How the noise levels not given are found (default: in the ratios of the loss weights, one scale by the marginal likelihood).</summary>
    public NoiseLevels Noise { get; init; } = NoiseLevels.Loss;

    /// <summary>False: hyperparameters not given are held at <see cref="DefaultVariance"/> etc. instead of being optimised.</summary>
    public bool Optimize { get; init; } = true;

    /// <summary>
    /// Values to try (the marginal likelihood picks one) of the constant b appended to x̃ before normalising
    /// (<see cref="GaussianProcessModel.Bias"/>), in units of the RMS |x̃| of the training atoms; 0: x̂ = x̃/|x̃|.
    /// </summary>
    public IReadOnlyList<double> Bias { get; init; } = [0];

    /// <summary>Added to the diagonal of the unit-variance K̃_MM (relative to k(x, x) = 1).</summary>
    public double Jitter { get; init; } = 1e-8;

    public int Seed { get; init; } = 1;

    public int Threads { get; init; } = Environment.ProcessorCount;

    public const double DefaultVariance = 1.0;
    public const double DefaultSigmaEnergy = 0.005;
    public const double DefaultSigmaForce = 0.1;
    public const double DefaultSigmaStress = 0.5;
}

/// <summary>One kernel shape tried, with its optimised hyperparameters and log marginal likelihood.</summary>
public sealed record GaussianProcessTrial(int Zeta, double LengthScale, double Bias, double Variance, double SigmaEnergy, double SigmaForce,
    double SigmaStress, double LogMarginalLikelihood, int Evaluations);

/// <summary>Size and timing of a GPR fit.</summary>
public sealed record GaussianProcessFitReport(
    int EnergyRows, int ForceRows, int StressRows, int SparsePoints,
    IReadOnlyList<GaussianProcessTrial> Trials, GaussianProcessTrial Chosen,
    TimeSpan SelectTime, TimeSpan BuildTime, TimeSpan OptimizeTime, TimeSpan SolveTime, string Method, double ConditionNumber)
{
    public TimeSpan Total => SelectTime + BuildTime + OptimizeTime + SolveTime;
}

/// <summary>
/// Sparse Gaussian process regression (GAP-like subset of regressors / projected process) of per-atom
/// energies on descriptors, fitted to energies, forces and stresses.
/// </summary>
/// <remarks>
/// <para>
/// With M sparse points x_m per element, the model is E_i = c_e + Σ_m α_m k(x_i, x_m) (see
/// <see cref="GaussianProcessModel"/>). Each observation is linear in α: an energy row is
/// Σ_i k(x_i, x_m)/N against (E − Σ_i c_e)/N; a force row is the contraction of ∂k(x_i, x_m)/∂x_i with the
/// descriptor derivative blocks, F_i += g_p, F_j −= g_p with g_p,m = ∂k(x_i, x_m)/∂x_i · ∂x_i/∂r_ij (exactly
/// the rows of <see cref="PolynomialFit"/>); a stress row is (160.2/V) Σ_p g_p,a r_p,b, symmetrised. These rows
/// form K_NM. With Λ the noise (σ_E², σ_F², σ_S² per row, divided by the structure weight),
/// α = (K_MM + K_MN Λ⁻¹ K_NM)⁻¹ K_MN Λ⁻¹ y. It is solved as the least-squares problem
/// [Λ^(−1/2) K_NM; L_MMᵀ] α ≈ [Λ^(−1/2) y; 0] (K_MM = L_MM L_MMᵀ, with jitter) taken to the whitened basis
/// Φ = K̃_NM L⁻ᵀ, where it is a plain ridge problem (ridge 1/σ² on every column) for the shared
/// <see cref="ILeastSquaresSolver"/> (libtorch QR by default); nothing ever factorises K_MM + K_MN Λ⁻¹ K_NM
/// itself, only L (jittered) and I + σ² ΦᵀΛ⁻¹Φ (≥ I).
/// </para>
/// <para>
/// The per-element constants c_e are fixed before the GP: least squares of the energies per atom on the
/// composition (for one element, the mean energy per atom). σ² and the noise levels that the options do not
/// fix maximise the log marginal likelihood of the sparse (DTC) model,
/// log p(y) = −½ yᵀ(Q + Λ)⁻¹y − ½ log|Q + Λ| − (n/2) log 2π with Q = K_NM K_MM⁻¹ K_MN = σ² ΦΦᵀ, evaluated
/// through M × M matrices only (Woodbury; Φ_TᵀWΦ_T per observation type formed once per kernel shape on
/// libtorch), by Nelder–Mead in log space with the overall scale in closed form when everything is free
/// (see <see cref="NoiseLevels"/>); the kernel shape (ζ, the bias b, and l for the RBF kernel) is chosen from
/// the given grid by the same likelihood. Everything random takes <see cref="GaussianProcessFitOptions.Seed"/>.
/// </para>
/// <para>
/// Memory: K_NM is (energy + 3·atoms + 6·stress rows) × M float64 (39913 × 500: 160 MB for the mlearn Si
/// training set), plus one copy inside libtorch while the products and the QR run.
/// </para>
/// </remarks>
public static class GaussianProcessFit
{
    private const int Energy = 0, Force = 1, StressType = 2;

    /// <summary>Fits a <see cref="GaussianProcessModel"/>; <paramref name="solver"/> defaults to libtorch QR.</summary>
    public static (GaussianProcessModel Model, GaussianProcessFitReport Report) Fit(TrainingSet data, GaussianProcessFitOptions options, ILeastSquaresSolver? solver = null)
    {
        if (data.Count == 0) throw new MlipException("no structures to fit");
        if (options.SparsePoints < 1) throw new MlipException($"the number of sparse points must be positive (got {options.SparsePoints})");
        if (options.Zeta.Count == 0 || options.Bias.Count == 0 || (options.Kernel == GaussianProcessKernelType.Rbf && options.LengthScale.Count == 0))
            throw new MlipException("give at least one zeta and bias (and length scale for the RBF kernel)");
        foreach (double b in options.Bias)
            if (!(b >= 0) || !double.IsFinite(b)) throw new MlipException($"the bias must be >= 0 (got {b})");
        if (!(options.Jitter >= 0)) throw new MlipException($"the jitter must be >= 0 (got {options.Jitter})");
        TorchRuntime.EnsureLoaded();
        TorchRuntime.SetThreads(options.Threads);
        solver ??= new TorchLeastSquares(options.Threads);

        var clock = Stopwatch.StartNew();
        var p = Prepared.Create(data, options);
        var selectTime = clock.Elapsed;
        int cols = p.TotalSparse;
        long length = (long)p.Rows * cols;
        if (length > Array.MaxLength) throw new MlipException($"K_NM ({p.Rows} x {cols}) is too large; use fewer sparse points or structures");
        var a = new double[length];

        var shapes = new List<(int Zeta, double Length, double Bias)>();
        foreach (double b in options.Bias)
            foreach (int z in options.Zeta)
                if (options.Kernel == GaussianProcessKernelType.Dot) shapes.Add((z, 1.0, b));
                else foreach (double l in options.LengthScale) shapes.Add((z, l, b));
        var trials = new List<GaussianProcessTrial>();
        TimeSpan buildTime = TimeSpan.Zero, optimizeTime = TimeSpan.Zero, solveTime;
        int best = -1;
        Prepared.Statistics? statistics = null;
        (double[][] Alpha, double[] SparseCholesky, double[] PosteriorCholesky, string Method, double Condition) solution;
        try
        {
            for (int t = 0; t < shapes.Count; t++)
            {
                clock.Restart();
                statistics?.Dispose();
                p.SetBias(shapes[t].Bias);
                statistics = p.Design(new GaussianProcessKernel(options.Kernel, 1.0, shapes[t].Zeta, shapes[t].Length), a);
                buildTime += clock.Elapsed;
                clock.Restart();
                var trial = p.Optimise(shapes[t].Zeta, shapes[t].Length, shapes[t].Bias, statistics);
                optimizeTime += clock.Elapsed;
                trials.Add(trial);
                if (best < 0 || trial.LogMarginalLikelihood > trials[best].LogMarginalLikelihood) best = t;
            }
            if (best != shapes.Count - 1)
            {
                // K̃_NM of the last shape is in a: build the chosen one again
                clock.Restart();
                statistics!.Dispose();
                p.SetBias(shapes[best].Bias);
                statistics = p.Design(new GaussianProcessKernel(options.Kernel, 1.0, shapes[best].Zeta, shapes[best].Length), a);
                buildTime += clock.Elapsed;
            }
            clock.Restart();
            solution = p.Solve(statistics!, trials[best], a, solver);
            solveTime = clock.Elapsed;
        }
        finally
        {
            statistics?.Dispose();
        }

        var chosen = trials[best];
        var kernel = new GaussianProcessKernel(options.Kernel, chosen.Variance, chosen.Zeta, chosen.LengthScale);
        var model = new GaussianProcessModel(p.Elements, p.K, kernel, p.Mean, p.Scale, p.SparseRaw, solution.Alpha, p.Offsets,
            solution.SparseCholesky, solution.PosteriorCholesky, p.Bias)
        {
            Hyperparameters = new System.Text.Json.Nodes.JsonObject
            {
                ["sigma_energy"] = p.Count[Energy] > 0 ? chosen.SigmaEnergy : null,
                ["sigma_force"] = p.Count[Force] > 0 ? chosen.SigmaForce : null,
                ["sigma_stress"] = p.Count[StressType] > 0 ? chosen.SigmaStress : null,
                ["log_marginal_likelihood"] = chosen.LogMarginalLikelihood,
                ["bias_relative"] = chosen.Bias,
                ["jitter"] = options.Jitter,
                ["selection"] = options.Selection.ToString().ToLowerInvariant(),
                ["normalization"] = options.Normalization.ToString().ToLowerInvariant(),
                ["noise"] = options.Noise == NoiseLevels.Loss ? "loss" : "likelihood",
                ["seed"] = options.Seed,
            },
        };
        var report = new GaussianProcessFitReport(p.Count[Energy], p.Count[Force], p.Count[StressType], cols, trials, chosen,
            selectTime, buildTime, optimizeTime, solveTime, solution.Method, solution.Condition);
        return (model, report);
    }

    /// <summary>
    /// Indices (into <paramref name="rows"/> rows of <paramref name="unit"/>, K values each, unit vectors) of
    /// at most <paramref name="count"/> distinct environments chosen by <paramref name="selection"/>.
    /// </summary>
    public static int[] SelectSparse(ReadOnlySpan<double> unit, int rows, int k, int count, SparseSelection selection, Random random)
    {
        var weight = new double[rows];
        if (selection == SparseSelection.Random) Array.Fill(weight, 1.0);
        else Leverage(unit, rows, k, count, weight);
        // Efraimidis–Spirakis: key = ln(u)/w, the largest keys are a weighted sample without replacement.
        var key = new double[rows];
        for (int i = 0; i < rows; i++)
        {
            double u = random.NextDouble();
            key[i] = weight[i] > 0 ? Math.Log(1 - u) / weight[i] : double.NegativeInfinity;
        }
        var order = Enumerable.Range(0, rows).ToArray();
        Array.Sort(key.Select(x => -x).ToArray(), order);
        var chosen = new List<int>(Math.Min(count, rows));
        foreach (int i in order)
        {
            if (chosen.Count == count) break;
            var xi = unit.Slice(i * k, k);
            bool duplicate = false;
            foreach (int c in chosen)
            {
                double d2 = TensorPrimitives.Distance(xi, unit.Slice(c * k, k));
                if (d2 < 1e-7) { duplicate = true; break; }
            }
            if (!duplicate) chosen.Add(i);
        }
        return [.. chosen];
    }

    /// <summary>Leverage scores of the rows of X̂ from the top min(rank, count) eigenpairs of X̂ᵀX̂.</summary>
    private static void Leverage(ReadOnlySpan<double> unit, int rows, int k, int count, double[] leverage)
    {
        var gram = new double[k * k];
        for (int i = 0; i < rows; i++)
        {
            var x = unit.Slice(i * k, k);
            for (int a = 0; a < k; a++)
                TensorPrimitives.MultiplyAdd(x, x[a], gram.AsSpan(a * k, k), gram.AsSpan(a * k, k));
        }
        double[] values, vectors;
        using (NewDisposeScope())
        {
            var (l, v) = linalg.eigh(tensor(gram, [k, k], ScalarType.Float64));
            values = l.data<double>().ToArray();     // ascending
            vectors = v.contiguous().data<double>().ToArray(); // columns are eigenvectors
        }
        double max = values[^1];
        var use = new List<int>();
        for (int j = k - 1; j >= 0 && use.Count < count; j--)
            if (values[j] > 1e-12 * max) use.Add(j);
        var vj = new double[k];
        for (int i = 0; i < rows; i++)
        {
            var x = unit.Slice(i * k, k);
            double s = 0;
            foreach (int j in use)
            {
                for (int a = 0; a < k; a++) vj[a] = vectors[a * k + j];
                double c = TensorPrimitives.Dot<double>(x, vj);
                s += c * c / values[j];
            }
            leverage[i] = s;
        }
    }

    /// <summary>Everything that does not depend on the kernel: unit vectors, sparse points, offsets, row layout, targets.</summary>
    private sealed class Prepared
    {
        public required TrainingSet Data { get; init; }
        public required GaussianProcessFitOptions Options { get; init; }
        public required int K { get; init; }
        public int KU => K + 1;                                  // normalised vectors: K + 1 values (last: b/n, 0 without a bias)
        public required int[] Elements { get; init; }
        public required double[] Mean { get; init; }
        public required double[] Scale { get; init; }
        public required double[] InverseScale { get; init; }
        public required int[][] ElementOf { get; init; }
        public required double RmsNorm { get; init; }            // sqrt(mean |x̃|²) over the training atoms
        public required double[][] Units { get; init; }          // per structure: N × KU normalised vectors
        public required double[][] Norms { get; init; }          // per structure: the norms n_i
        public double Bias { get; private set; }                 // absolute b
        public double[][] SparseUnit { get; private set; } = []; // per element: M_e × KU
        public double[][] SparseRaw { get; set; } = null!;       // per element: M_e × K raw descriptors
        public int[] BlockStart { get; set; } = [];              // per element (+1): first column
        public double[] Offsets { get; set; } = [];
        public int[] EnergyRow { get; set; } = [];
        public int[] ForceRow { get; set; } = [];
        public int[] StressRow { get; set; } = [];
        public int[] Start { get; set; } = [];                   // first row of each observation type (+ end)
        public double[] Target { get; set; } = [];
        public double[] RowWeight { get; set; } = [];
        public int Rows => Start[3];
        public int TotalSparse => BlockStart[^1];
        public int[] Count => [Start[1] - Start[0], Start[2] - Start[1], Start[3] - Start[2]];

        public static Prepared Create(TrainingSet data, GaussianProcessFitOptions o)
        {
            int k = data.FeatureCount;
            int[] elements = data.Elements();
            int ne = elements.Length;
            var (mean, std) = data.FeatureStatistics();
            var meanUsed = o.Normalization == FeatureNormalization.Standard ? mean : new double[k];
            var scaleUsed = o.Normalization == FeatureNormalization.None ? Enumerable.Repeat(1.0, k).ToArray() : std;
            var elementOf = new int[data.Count][];
            var perElement = new List<(int S, int I)>[ne];
            for (int e = 0; e < ne; e++) perElement[e] = [];
            double sumSquares = 0;
            int atomCount = 0;
            for (int s = 0; s < data.Count; s++)
            {
                var st = data.Structures[s];
                var x = data.Descriptors[s];
                elementOf[s] = new int[st.Count];
                for (int i = 0; i < st.Count; i++)
                {
                    int e = elementOf[s][i] = Array.IndexOf(elements, st.AtomicNumbers[i]);
                    perElement[e].Add((s, i));
                    var xi = x.Of(i);
                    for (int a = 0; a < k; a++)
                    {
                        double v = (xi[a] - meanUsed[a]) / scaleUsed[a];
                        sumSquares += v * v;
                    }
                    atomCount++;
                }
            }
            var p = new Prepared
            {
                Data = data, Options = o, K = k, Elements = elements, Mean = meanUsed, Scale = scaleUsed, ElementOf = elementOf,
                InverseScale = [.. scaleUsed.Select(v => 1 / v)],
                RmsNorm = Math.Sqrt(sumSquares / Math.Max(1, atomCount)),
                Units = [.. data.Structures.Select(st => new double[st.Count * (k + 1)])],
                Norms = [.. data.Structures.Select(st => new double[st.Count])],
            };
            p.SetBias(o.Bias[0]);

            // sparse points per element, chosen with the normalised vectors of the first bias
            var random = new Random(o.Seed);
            var sparseRaw = new double[ne][];
            var blockStart = new int[ne + 1];
            int ku = k + 1;
            for (int e = 0; e < ne; e++)
            {
                var atoms = perElement[e];
                var x = new double[atoms.Count * ku];
                for (int r = 0; r < atoms.Count; r++) p.Units[atoms[r].S].AsSpan(atoms[r].I * ku, ku).CopyTo(x.AsSpan(r * ku, ku));
                var pick = SelectSparse(x, atoms.Count, ku, o.SparsePoints, o.Selection, random);
                sparseRaw[e] = new double[pick.Length * k];
                for (int m = 0; m < pick.Length; m++)
                {
                    var (s, i) = atoms[pick[m]];
                    data.Descriptors[s].Of(i).CopyTo(sparseRaw[e].AsSpan(m * k, k));
                }
                blockStart[e + 1] = blockStart[e] + pick.Length;
            }
            p.SparseRaw = sparseRaw;
            p.BlockStart = blockStart;
            p.SetBias(o.Bias[0]);

            // row layout: all energy rows, then all force rows, then all stress rows
            var w = o.Weights;
            var energyRow = new int[data.Count];
            var forceRow = new int[data.Count];
            var stressRow = new int[data.Count];
            var start = new int[4];
            for (int type = 0; type < 3; type++)
            {
                int row = start[type];
                for (int s = 0; s < data.Count; s++)
                {
                    var st = data.Structures[s];
                    bool use = st.Weight > 0 && type switch
                    {
                        Energy => w.Energy > 0 && st.Energy is not null,
                        Force => w.Force > 0 && st.Forces is not null,
                        _ => w.Stress > 0 && st.Stress is not null && st.Pbc.AllPeriodic,
                    };
                    int at = use ? row : -1;
                    if (type == Energy) energyRow[s] = at;
                    else if (type == Force) forceRow[s] = at;
                    else stressRow[s] = at;
                    if (!use) continue;
                    if (type != Energy && !data.Descriptors[s].HasDerivatives)
                        throw new MlipException("force and stress rows need descriptor derivatives");
                    row += type switch { Energy => 1, Force => 3 * st.Count, _ => 6 };
                }
                start[type + 1] = row;
            }
            if (start[3] == 0) throw new MlipException("the training data has no labels to fit (energy, forces or stress with non-zero weight)");

            var offsets = FitOffsets(data, elements, elementOf, energyRow);
            var target = new double[start[3]];
            var rowWeight = new double[start[3]];
            for (int s = 0; s < data.Count; s++)
            {
                var st = data.Structures[s];
                int n = st.Count;
                if (energyRow[s] >= 0)
                {
                    double e0 = 0;
                    for (int i = 0; i < n; i++) e0 += offsets[elementOf[s][i]];
                    target[energyRow[s]] = (st.Energy!.Value - e0) / n;
                    rowWeight[energyRow[s]] = st.Weight;
                }
                if (forceRow[s] >= 0)
                    for (int i = 0; i < n; i++)
                        for (int c = 0; c < 3; c++)
                        {
                            target[forceRow[s] + 3 * i + c] = st.Forces![i][c];
                            rowWeight[forceRow[s] + 3 * i + c] = st.Weight;
                        }
                if (stressRow[s] >= 0)
                {
                    var v = st.Stress!.Value.ToVoigt();
                    for (int q = 0; q < 6; q++)
                    {
                        target[stressRow[s] + q] = v[q];
                        rowWeight[stressRow[s] + q] = st.Weight;
                    }
                }
            }
            p.Offsets = offsets;
            p.EnergyRow = energyRow;
            p.ForceRow = forceRow;
            p.StressRow = stressRow;
            p.Start = start;
            p.Target = target;
            p.RowWeight = rowWeight;
            return p;
        }

        /// <summary>The prototype of the model's normalisation with absolute bias <paramref name="bias"/>.</summary>
        public GaussianProcessModel Probe(double bias)
        {
            int ne = Elements.Length;
            return new GaussianProcessModel(Elements, K, new GaussianProcessKernel(Options.Kernel, 1, 1), Mean, Scale,
                [.. Enumerable.Range(0, ne).Select(_ => Array.Empty<double>())], [.. Enumerable.Range(0, ne).Select(_ => Array.Empty<double>())],
                new double[ne], bias: bias);
        }

        /// <summary>
        /// Normalised vectors of every atom (and of the sparse points, once chosen) for the bias
        /// <paramref name="relative"/> × the RMS |x̃| of the training atoms, computed by the model's own
        /// <see cref="GaussianProcessModel.Unit"/>; always K + 1 values (the last one 0 without a bias).
        /// </summary>
        public void SetBias(double relative)
        {
            Bias = relative * RmsNorm;
            var probe = Probe(Bias);
            int k = K, ku = K + 1, kp = probe.UnitLength;
            var scratch = new double[ku];
            for (int s = 0; s < Data.Count; s++)
            {
                var d = Data.Descriptors[s];
                for (int i = 0; i < Data.Structures[s].Count; i++)
                {
                    Array.Clear(scratch);
                    Norms[s][i] = probe.Unit(d.Of(i), scratch.AsSpan(0, kp));
                    scratch.CopyTo(Units[s], i * ku);
                }
            }
            if (SparseRaw is null) return;
            SparseUnit = new double[Elements.Length][];
            for (int e = 0; e < Elements.Length; e++)
            {
                int me = SparseRaw[e].Length / k;
                SparseUnit[e] = new double[me * ku];
                for (int m = 0; m < me; m++) probe.Unit(SparseRaw[e].AsSpan(m * k, k), SparseUnit[e].AsSpan(m * ku, kp));
            }
        }

        /// <summary>Per-element constants: weighted least squares of E/N on the composition (a tiny ridge pins a fixed stoichiometry).</summary>
        private static double[] FitOffsets(TrainingSet data, int[] elements, int[][] elementOf, int[] energyRow)
        {
            int ne = elements.Length;
            var used = Enumerable.Range(0, data.Count).Where(s => energyRow[s] >= 0).ToArray();
            if (used.Length == 0) return new double[ne];
            var fraction = new double[used.Length * ne];
            var y = new double[used.Length];
            var w = new double[used.Length];
            double trace = 0;
            for (int r = 0; r < used.Length; r++)
            {
                var st = data.Structures[used[r]];
                foreach (int e in elementOf[used[r]]) fraction[r * ne + e] += 1.0 / st.Count;
                y[r] = st.Energy!.Value / st.Count;
                w[r] = st.Weight;
                for (int e = 0; e < ne; e++) trace += w[r] * fraction[r * ne + e] * fraction[r * ne + e];
            }
            var problem = new LeastSquaresProblem(fraction, used.Length, y, w, LeastSquaresProblem.RidgeVector(ne, 1e-10 * trace / ne));
            return new ManagedLeastSquares(1).Solve(problem).Coefficients;
        }

        // ---- K_NM ----

        private sealed class Scratch(int k, int maxSparse)
        {
            public readonly double[] Slope = new double[maxSparse];      // k'(d_m)/|x̃_i|
            public readonly double[] SlopeD = new double[maxSparse];     // k'(d_m) d_m/|x̃_i|
            public readonly double[] B = new double[3 * k];              // ∂x̃/∂r_ij, one row per Cartesian component (0 for the bias)
            public readonly double[] Projection = new double[3 * maxSparse];
            public readonly double[] G = new double[3 * maxSparse];
            public int Stride => Slope.Length;
        }

        /// <summary>Fills rows 0..Rows of <paramref name="a"/> (row-major, TotalSparse columns) with K̃_NM.</summary>
        public void BuildDesign(GaussianProcessKernel kernel, double[] a)
        {
            Array.Clear(a, 0, Rows * TotalSparse);
            int maxSparse = 0;
            foreach (var u in SparseUnit) maxSparse = Math.Max(maxSparse, u.Length / KU);
            var po = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Options.Threads) };
            // larger structures first, so that the last ones to finish are small
            var order = Enumerable.Range(0, Data.Count).OrderByDescending(s => Data.Descriptors[s].Neighbors.PairCount).ToArray();
            MlipParallel.Run(() => Parallel.For(0, order.Length, po, () => new Scratch(KU, maxSparse), (q, _, scratch) =>
            {
                FillStructure(order[q], kernel, a, scratch);
                return scratch;
            }, _ => { }));
        }

        private void FillStructure(int s, GaussianProcessKernel kernel, double[] a, Scratch t)
        {
            var st = Data.Structures[s];
            var desc = Data.Descriptors[s];
            int n = st.Count, k = K, ku = KU, cols = TotalSparse;
            var units = Units[s];
            var norms = Norms[s];
            var elementOf = ElementOf[s];
            int eRow = EnergyRow[s], fRow = ForceRow[s], sRow = StressRow[s];
            if (eRow >= 0)
            {
                var row = a.AsSpan(eRow * cols, cols);
                for (int i = 0; i < n; i++)
                {
                    int e = elementOf[i];
                    var sparse = SparseUnit[e];
                    int me = sparse.Length / ku, c0 = BlockStart[e];
                    var u = units.AsSpan(i * ku, ku);
                    for (int m = 0; m < me; m++)
                        row[c0 + m] += kernel.Value(TensorPrimitives.Dot<double>(u, sparse.AsSpan(m * ku, ku))) / n;
                }
            }
            if (fRow < 0 && sRow < 0) return;

            var nl = desc.Neighbors;
            var neighbors = nl.Neighbors;
            var vectors = nl.Vectors;
            double virial = sRow >= 0 ? Stress.EvPerCubicAngstromInGpa / st.Volume : 0;
            for (int i = 0; i < n; i++)
            {
                var range = nl.PairRange(i);
                if (range.Start == range.End) continue;
                int e = elementOf[i];
                var sparse = SparseUnit[e];
                int me = sparse.Length / ku, c0 = BlockStart[e];
                var u = units.AsSpan(i * ku, ku);
                double inverseNorm = 1 / norms[i];
                for (int m = 0; m < me; m++)
                {
                    double d = TensorPrimitives.Dot<double>(u, sparse.AsSpan(m * ku, ku));
                    kernel.Value(d, out double slope);
                    t.Slope[m] = slope * inverseNorm;
                    t.SlopeD[m] = slope * d * inverseNorm;
                }
                var slopeM = t.Slope.AsSpan(0, me);
                var slopeD = t.SlopeD.AsSpan(0, me);
                for (int p = range.Start; p < range.End; p++)
                {
                    int j = neighbors[p];
                    var block = desc.PairBlock(p);
                    var inverseScale = InverseScale;
                    for (int f = 0; f < k; f++)
                    {
                        double inv = inverseScale[f];
                        t.B[f] = block[3 * f] * inv;
                        t.B[ku + f] = block[3 * f + 1] * inv;
                        t.B[2 * ku + f] = block[3 * f + 2] * inv;
                    }
                    Project(sparse, me, ku, t.B, t.Projection);
                    for (int c = 0; c < 3; c++)
                    {
                        // g_m = k'(d_m)/|x̃| (x̂_m·b_c − d_m x̂·b_c)
                        double uc = TensorPrimitives.Dot<double>(u, t.B.AsSpan(c * ku, ku));
                        var g = t.G.AsSpan(c * t.Stride, me);
                        TensorPrimitives.Multiply(slopeM, t.Projection.AsSpan(c * t.Stride, me), g);
                        TensorPrimitives.MultiplyAdd(slopeD, -uc, g, g);
                        if (fRow >= 0)
                        {
                            var ri = a.AsSpan((fRow + 3 * i + c) * cols + c0, me);
                            var rj = a.AsSpan((fRow + 3 * j + c) * cols + c0, me);
                            TensorPrimitives.Add(ri, g, ri);
                            TensorPrimitives.Subtract(rj, g, rj);
                        }
                    }
                    if (sRow >= 0)
                    {
                        var r = vectors[p];
                        int span = t.Stride;
                        var gx = t.G.AsSpan(0, me);
                        var gy = t.G.AsSpan(span, me);
                        var gz = t.G.AsSpan(2 * span, me);
                        // Voigt xx yy zz yz xz xy: σ_ab = (160.2/V) Σ_p g_a r_b, symmetrised
                        AddStress(a, cols, c0, sRow + 0, gx, virial * r.X, gx, 0);
                        AddStress(a, cols, c0, sRow + 1, gy, virial * r.Y, gy, 0);
                        AddStress(a, cols, c0, sRow + 2, gz, virial * r.Z, gz, 0);
                        AddStress(a, cols, c0, sRow + 3, gy, 0.5 * virial * r.Z, gz, 0.5 * virial * r.Y);
                        AddStress(a, cols, c0, sRow + 4, gx, 0.5 * virial * r.Z, gz, 0.5 * virial * r.X);
                        AddStress(a, cols, c0, sRow + 5, gx, 0.5 * virial * r.Y, gy, 0.5 * virial * r.X);
                    }
                }
            }
        }

        /// <summary>row += f1·g1 + f2·g2 over the element's block.</summary>
        private static void AddStress(double[] a, int cols, int c0, int row, ReadOnlySpan<double> g1, double f1, ReadOnlySpan<double> g2, double f2)
        {
            var dst = a.AsSpan(row * cols + c0, g1.Length);
            TensorPrimitives.MultiplyAdd(g1, f1, dst, dst);
            if (f2 != 0) TensorPrimitives.MultiplyAdd(g2, f2, dst, dst);
        }

        /// <summary>projection[c·stride + m] = x̂_m · b_c for the three rows b_c of <paramref name="b"/> (stride = projection.Length / 3).</summary>
        private static void Project(double[] sparse, int count, int k, double[] b, double[] projection)
        {
            int stride = projection.Length / 3;
            ref double s0 = ref MemoryMarshal.GetArrayDataReference(sparse);
            ref double b0 = ref MemoryMarshal.GetArrayDataReference(b);
            int vectorEnd = Vector256.IsHardwareAccelerated ? k - k % Vector256<double>.Count : 0;
            for (int m = 0; m < count; m++)
            {
                ref double x = ref Unsafe.Add(ref s0, m * k);
                var ax = Vector256<double>.Zero;
                var ay = Vector256<double>.Zero;
                var az = Vector256<double>.Zero;
                int f = 0;
                for (; f < vectorEnd; f += Vector256<double>.Count)
                {
                    var v = Vector256.LoadUnsafe(ref x, (nuint)f);
                    ax = Vector256.FusedMultiplyAdd(v, Vector256.LoadUnsafe(ref b0, (nuint)f), ax);
                    ay = Vector256.FusedMultiplyAdd(v, Vector256.LoadUnsafe(ref b0, (nuint)(k + f)), ay);
                    az = Vector256.FusedMultiplyAdd(v, Vector256.LoadUnsafe(ref b0, (nuint)(2 * k + f)), az);
                }
                double sx = Vector256.Sum(ax), sy = Vector256.Sum(ay), sz = Vector256.Sum(az);
                for (; f < k; f++)
                {
                    double v = Unsafe.Add(ref x, f);
                    sx += v * Unsafe.Add(ref b0, f);
                    sy += v * Unsafe.Add(ref b0, k + f);
                    sz += v * Unsafe.Add(ref b0, 2 * k + f);
                }
                projection[m] = sx;
                projection[stride + m] = sy;
                projection[2 * stride + m] = sz;
            }
        }

        /// <summary>The unit-variance K̃_MM + jitter·I over all sparse points (block-diagonal by element).</summary>
        public double[] SparseKernel(GaussianProcessKernel kernel)
        {
            int total = TotalSparse, k = KU;
            var kmm = new double[total * total];
            for (int e = 0; e < Elements.Length; e++)
            {
                var x = SparseUnit[e];
                int me = x.Length / k, c0 = BlockStart[e];
                for (int m = 0; m < me; m++)
                    for (int q = 0; q <= m; q++)
                    {
                        double v = kernel.Value(TensorPrimitives.Dot<double>(x.AsSpan(m * k, k), x.AsSpan(q * k, k)));
                        kmm[(c0 + m) * total + c0 + q] = kmm[(c0 + q) * total + c0 + m] = v;
                    }
            }
            for (int m = 0; m < total; m++) kmm[m * total + m] += Options.Jitter;
            return kmm;
        }

        // ---- marginal likelihood ----

        /// <summary>
        /// The sufficient statistics of the DTC likelihood for one kernel shape (libtorch tensors), in the
        /// whitened basis Φ = K̃_NM L⁻ᵀ (K̃_MM + jitter = L Lᵀ), so that Q = Φ Φᵀ and every matrix to factorise is
        /// I + (positive semi-definite): no loss of precision when K̃_MM is nearly singular.
        /// </summary>
        public sealed class Statistics : IDisposable
        {
            public required Tensor SparseCholesky;  // L
            public required Tensor[] C;             // per type: Φ_Tᵀ W Φ_T
            public required Tensor[] V;             // per type: Φ_Tᵀ W y_T
            public required double[] Q;             // per type: y_Tᵀ W y_T
            public required int[] N;                // rows per type
            public required double SumLogWeight;
            public required DisposeScope Scope;
            public void Dispose() => Scope.Dispose();
        }

        /// <summary>
        /// Builds K̃_NM for <paramref name="kernel"/> (unit variance) into <paramref name="a"/>, whitens it in place
        /// (a ← K̃_NM L⁻ᵀ) and gathers the statistics of the likelihood.
        /// </summary>
        public unsafe Statistics Design(GaussianProcessKernel kernel, double[] a)
        {
            BuildDesign(kernel, a);
            int cols = TotalSparse;
            var scope = NewDisposeScope();
            try
            {
                var kmm = tensor(SparseKernel(kernel), [cols, cols], ScalarType.Float64);
                var (l, info) = linalg.cholesky_ex(kmm);
                if (info.item<int>() != 0) throw new MlipException("K_MM is not positive definite; raise the jitter");
                // a ← a L⁻ᵀ, in blocks of rows (Φᵀ = L⁻¹ K̃_MN)
                const int block = 4096;
                for (int first = 0; first < Rows; first += block)
                {
                    int rows = Math.Min(block, Rows - first);
                    using var _ = NewDisposeScope();
                    var chunk = empty([rows, cols], ScalarType.Float64);
                    a.AsSpan(first * cols, rows * cols).CopyTo(new Span<double>(TorchLeastSquares.DataPointer(chunk), rows * cols));
                    var white = linalg.solve_triangular(l, chunk.t(), upper: false).t().contiguous();
                    white.data<double>().CopyTo(a.AsSpan(first * cols, rows * cols));
                }
                var c = new Tensor[3];
                var v = new Tensor[3];
                var q = new double[3];
                var count = Count;
                double sumLog = 0;
                for (int type = 0; type < 3; type++)
                {
                    int rows = count[type], first = Start[type];
                    if (rows == 0)
                    {
                        c[type] = zeros(cols, cols, ScalarType.Float64);
                        v[type] = zeros(cols, ScalarType.Float64);
                        continue;
                    }
                    using var inner = NewDisposeScope();
                    var kt = empty([rows, cols], ScalarType.Float64);
                    var yt = empty([rows], ScalarType.Float64);
                    nint addressK = (nint)TorchLeastSquares.DataPointer(kt), addressY = (nint)TorchLeastSquares.DataPointer(yt);
                    double qt = 0;
                    for (int r = 0; r < rows; r++)
                    {
                        double w = RowWeight[first + r];
                        qt += w * Target[first + r] * Target[first + r];
                        sumLog += Math.Log(w);
                    }
                    Parallel.For(0, rows, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Options.Threads) }, r =>
                    {
                        double sw = Math.Sqrt(RowWeight[first + r]);
                        var dst = new Span<double>((double*)addressK + (long)r * cols, cols);
                        TensorPrimitives.Multiply(a.AsSpan((first + r) * cols, cols), sw, dst);
                        ((double*)addressY)[r] = sw * Target[first + r];
                    });
                    c[type] = kt.t().matmul(kt).MoveToOuterDisposeScope();
                    v[type] = kt.t().matmul(yt).MoveToOuterDisposeScope();
                    q[type] = qt;
                }
                return new Statistics { SparseCholesky = l, C = c, V = v, Q = q, N = count, SumLogWeight = sumLog, Scope = scope };
            }
            catch
            {
                scope.Dispose();
                throw;
            }
        }

        /// <summary>
        /// The two data terms of −log p(y) of the DTC model at σ² = s and noise σ_T: yᵀ(Q + Λ)⁻¹y and
        /// log|Q + Λ|, and the number of observations; null where B is not positive definite.
        /// </summary>
        private static (double Quad, double LogDet, int N)? LikelihoodTerms(Statistics st, double s, double[] sigma)
        {
            using var _ = NewDisposeScope();
            int cols = (int)st.C[0].shape[0];
            var b = eye(cols, dtype: ScalarType.Float64);
            var v = zeros_like(st.V[0]);
            double quad = 0, logDet = -st.SumLogWeight;
            int n = 0;
            for (int t = 0; t < 3; t++)
            {
                if (st.N[t] == 0) continue;
                double inv = 1 / (sigma[t] * sigma[t]);
                b.add_(st.C[t], alpha: s * inv);
                v.add_(st.V[t], alpha: inv);
                quad += st.Q[t] * inv;
                logDet += st.N[t] * Math.Log(sigma[t] * sigma[t]);
                n += st.N[t];
            }
            var (l, info) = linalg.cholesky_ex(b);
            if (info.item<int>() != 0) return null;
            // Woodbury with B = I + σ² Φᵀ Λ⁻¹ Φ: yᵀ(Q+Λ)⁻¹y = yᵀΛ⁻¹y − σ² |L_B⁻¹ Φᵀ Λ⁻¹ y|²; log|Q+Λ| = log|Λ| + log|B|
            var z = linalg.solve_triangular(l, v.unsqueeze(1), upper: false);
            quad -= s * z.square().sum().item<double>();
            logDet += 2 * l.diagonal().log().sum().item<double>();
            return double.IsFinite(quad) && double.IsFinite(logDet) && quad > 0 ? (quad, logDet, n) : null;
        }

        private static double NegativeLogLikelihood((double Quad, double LogDet, int N)? terms) =>
            terms is var (quad, logDet, n) ? 0.5 * (quad + logDet + n * Math.Log(2 * Math.PI)) : double.PositiveInfinity;

        /// <summary>
        /// −log p(y) with the overall scale c of σ² and every σ_T² profiled out: at s = 1 and σ_T² = ρ_T,
        /// Q + Λ = (Q̃ + Λ̃)·c is optimal at c = yᵀ(Q̃ + Λ̃)⁻¹y / n.
        /// </summary>
        private static double ProfiledNegativeLogLikelihood((double Quad, double LogDet, int N)? terms) =>
            terms is var (quad, logDet, n) ? 0.5 * (n + n * Math.Log(quad / n) + logDet + n * Math.Log(2 * Math.PI)) : double.PositiveInfinity;

        /// <summary>
        /// Maximises the marginal likelihood over the free hyperparameters for the kernel shape of <paramref name="st"/>. Free: σ² (unless given) and one scale per group of noise levels that share
        /// it (<see cref="NoiseLevels.Loss"/>: every σ_T not given, in the ratios of the loss weights;
        /// <see cref="NoiseLevels.Likelihood"/>: each σ_T not given on its own).
        /// </summary>
        public GaussianProcessTrial Optimise(int zeta, double lengthScale, double bias, Statistics st)
        {
            var o = Options;
            var count = Count;
            double?[] given = [o.SigmaEnergy, o.SigmaForce, o.SigmaStress];
            double[] sigma = [GaussianProcessFitOptions.DefaultSigmaEnergy, GaussianProcessFitOptions.DefaultSigmaForce, GaussianProcessFitOptions.DefaultSigmaStress];
            var ratio = NoiseRatios();
            var groups = new List<int[]>();
            var open = Enumerable.Range(0, 3).Where(t => count[t] > 0 && given[t] is null).ToArray();
            if (o.Noise == NoiseLevels.Loss && open.Length > 0)
            {
                groups.Add(open);
                for (int t = 0; t < 3; t++) sigma[t] = GaussianProcessFitOptions.DefaultSigmaEnergy * ratio[t];
            }
            else groups.AddRange(open.Select(t => new[] { t }));
            for (int t = 0; t < 3; t++) if (given[t] is double g) sigma[t] = g;
            double s = o.Variance ?? StartVariance();

            // x = [ln σ² (when free), ln τ_g per group]; σ_T = τ_g·ratio_T within group g (ratio 1 for a lone type)
            bool varianceFree = o.Optimize && o.Variance is null;
            int groupCount = o.Optimize ? groups.Count : 0;
            var unit = new double[3];
            for (int g = 0; g < groups.Count; g++)
                foreach (int t in groups[g]) unit[t] = groups[g].Length > 1 ? ratio[t] / ratio[groups[g][0]] : 1;
            double[] Sigmas(ReadOnlySpan<double> lnTau)
            {
                var result = (double[])sigma.Clone();
                for (int g = 0; g < lnTau.Length; g++)
                    foreach (int t in groups[g]) result[t] = Math.Exp(lnTau[g]) * unit[t];
                return result;
            }
            var tau0 = groups.Take(groupCount).Select(g => Math.Log(sigma[g[0]] / unit[g[0]])).ToArray();
            int evaluations = 0;
            // the M × M work of one evaluation is far too small for several libtorch threads
            TorchRuntime.SetThreads(1);
            try
            {
                bool profiled = varianceFree && groupCount > 0 && open.Length == Enumerable.Range(0, 3).Count(t => count[t] > 0);
                if (profiled)
                {
                    // σ² and every noise level free: the overall scale c of (σ², σ_T²) in closed form
                    double Profiled(double[] x)
                    {
                        evaluations++;
                        return ProfiledNegativeLogLikelihood(LikelihoodTerms(st, 1.0, Sigmas(x)));
                    }
                    var x0 = tau0.Select(v => v - 0.5 * Math.Log(s)).ToArray();
                    var (x, _) = NelderMead.Minimise(Profiled, x0, step: 1.0, tolerance: 1e-3, maxEvaluations: 300);
                    if (LikelihoodTerms(st, 1.0, Sigmas(x)) is var (quad, _, n))
                    {
                        double c = quad / n;
                        s = c;
                        sigma = Sigmas([.. x.Select(v => v + 0.5 * Math.Log(c))]);
                    }
                }
                else if (varianceFree || groupCount > 0)
                {
                    int offset = varianceFree ? 1 : 0;
                    double Objective(double[] x)
                    {
                        evaluations++;
                        double sv = varianceFree ? Math.Exp(x[0]) : s;
                        return NegativeLogLikelihood(LikelihoodTerms(st, sv, Sigmas(x.AsSpan(offset))));
                    }
                    double[] x0 = varianceFree ? [Math.Log(s), .. tau0] : tau0;
                    var (x, _) = NelderMead.Minimise(Objective, x0, step: 1.0, tolerance: 1e-3, maxEvaluations: 300);
                    if (varianceFree) s = Math.Exp(x[0]);
                    sigma = Sigmas(x.AsSpan(offset));
                }
                double best = NegativeLogLikelihood(LikelihoodTerms(st, s, sigma));
                if (!double.IsFinite(best))
                    throw new MlipException("the marginal likelihood could not be evaluated (the kernel matrix is not positive definite); raise the jitter or fix the noise levels");
                return new GaussianProcessTrial(zeta, lengthScale, bias, s, sigma[0], sigma[1], sigma[2], -best, evaluations);
            }
            finally
            {
                TorchRuntime.SetThreads(o.Threads);
            }
        }

        /// <summary>
        /// σ_T ∝ sqrt(n_T / w_T): the noise levels under which the negative log likelihood is the weighted loss
        /// Σ_T (w_T/n_T) Σ Δ² of <see cref="LossWeights"/> (mean squared error per observation type).
        /// </summary>
        private double[] NoiseRatios()
        {
            var count = Count;
            var w = Options.Weights;
            double[] weight = [w.Energy, w.Force, w.Stress];
            var r = new double[3];
            for (int t = 0; t < 3; t++) r[t] = count[t] > 0 && weight[t] > 0 ? Math.Sqrt(count[t] / weight[t]) : 1;
            int reference = Enumerable.Range(0, 3).FirstOrDefault(t => count[t] > 0);
            double r0 = r[reference];
            for (int t = 0; t < 3; t++) r[t] /= r0;
            return r;
        }

        private double StartVariance()
        {
            int n = Start[1] - Start[0];
            if (n < 2) return GaussianProcessFitOptions.DefaultVariance;
            double mean = 0, sq = 0;
            for (int r = Start[0]; r < Start[1]; r++) { mean += Target[r]; sq += Target[r] * Target[r]; }
            mean /= n;
            double v = sq / n - mean * mean;
            return Math.Clamp(v, 1e-4, 1e2);
        }

        // ---- the final solve ----

        /// <summary>
        /// α by ridge least squares in the whitened basis, and the two Cholesky factors of the variance. With
        /// β = σ² α and γ = Lᵀβ, the problem min ||Λ^(−1/2)(K_NM α − y)||² + αᵀK_MM α becomes
        /// min ||Λ^(−1/2)(Φ γ − y)||² + |γ|²/σ² (the augmented matrix [Λ^(−1/2) K_NM; L_MMᵀ] multiplied by L⁻ᵀ on
        /// the right), solved by <paramref name="solver"/> with ridge 1/σ² on every column; then α = L⁻ᵀγ/σ².
        /// </summary>
        public (double[][] Alpha, double[] SparseCholesky, double[] PosteriorCholesky, string Method, double Condition) Solve(
            Statistics st, GaussianProcessTrial h, double[] a, ILeastSquaresSolver solver)
        {
            int cols = TotalSparse, rows = Rows;
            double s = h.Variance;
            double[] sigma = [h.SigmaEnergy, h.SigmaForce, h.SigmaStress];
            var weights = new double[rows];
            for (int t = 0; t < 3; t++)
                for (int r = Start[t]; r < Start[t + 1]; r++) weights[r] = RowWeight[r] / (sigma[t] * sigma[t]);
            var solution = solver.Solve(new LeastSquaresProblem(a, rows, Target, weights, LeastSquaresProblem.RidgeVector(cols, 1 / s)));
            double[] beta, lk, lb;
            using (NewDisposeScope())
            {
                var l = st.SparseCholesky;
                var gamma = tensor(solution.Coefficients, [cols, 1L], ScalarType.Float64);
                beta = linalg.solve_triangular(l.t(), gamma, upper: true).contiguous().data<double>().ToArray();
                var b = eye(cols, dtype: ScalarType.Float64);
                for (int t = 0; t < 3; t++)
                    if (st.N[t] > 0) b.add_(st.C[t], alpha: s / (sigma[t] * sigma[t]));
                var (lb0, info) = linalg.cholesky_ex(b);
                if (info.item<int>() != 0) throw new MlipException("the posterior matrix is not positive definite");
                lk = l.contiguous().data<double>().ToArray();
                lb = lb0.contiguous().data<double>().ToArray();
            }
            var alpha = new double[Elements.Length][];
            for (int e = 0; e < Elements.Length; e++)
            {
                alpha[e] = beta.AsSpan(BlockStart[e], BlockStart[e + 1] - BlockStart[e]).ToArray();
                TensorPrimitives.Multiply(alpha[e], 1 / s, alpha[e]);
            }
            return (alpha, lk, lb, solution.Method, solution.ConditionNumber);
        }
    }
}

/// <summary>Nelder–Mead simplex minimisation (deterministic; standard coefficients 1, 2, ½, ½).</summary>
internal static class NelderMead
{
    /// <summary>
    /// Minimises <paramref name="f"/> from <paramref name="x0"/> with an initial simplex of edge <paramref name="step"/>,
    /// until the values at the simplex's vertices differ by at most <paramref name="tolerance"/> (absolute).
    /// </summary>
    public static (double[] X, double Value) Minimise(Func<double[], double> f, double[] x0, double step, double tolerance, int maxEvaluations)
    {
        int n = x0.Length;
        var points = new double[n + 1][];
        var values = new double[n + 1];
        points[0] = (double[])x0.Clone();
        values[0] = f(points[0]);
        for (int i = 0; i < n; i++)
        {
            points[i + 1] = (double[])x0.Clone();
            points[i + 1][i] += step;
            values[i + 1] = f(points[i + 1]);
        }
        int evaluations = n + 1;
        var centroid = new double[n];
        double[] Along(double t, double[] worst)
        {
            var x = new double[n];
            for (int k = 0; k < n; k++) x[k] = centroid[k] + t * (worst[k] - centroid[k]);
            return x;
        }
        while (evaluations < maxEvaluations)
        {
            var order = Enumerable.Range(0, n + 1).OrderBy(i => values[i]).ToArray();
            points = order.Select(i => points[i]).ToArray();
            values = order.Select(i => values[i]).ToArray();
            if (double.IsFinite(values[n]) && values[n] - values[0] <= tolerance) break;
            Array.Clear(centroid);
            for (int i = 0; i < n; i++)
                for (int k = 0; k < n; k++) centroid[k] += points[i][k] / n;
            var reflected = Along(-1, points[n]);
            double fr = f(reflected); evaluations++;
            if (fr < values[0])
            {
                var expanded = Along(-2, points[n]);
                double fe = f(expanded); evaluations++;
                (points[n], values[n]) = fe < fr ? (expanded, fe) : (reflected, fr);
                continue;
            }
            if (fr < values[n - 1])
            {
                (points[n], values[n]) = (reflected, fr);
                continue;
            }
            var contracted = fr < values[n] ? Along(-0.5, points[n]) : Along(0.5, points[n]);
            double fc = f(contracted); evaluations++;
            if (fc < Math.Min(fr, values[n]))
            {
                (points[n], values[n]) = (contracted, fc);
                continue;
            }
            for (int i = 1; i <= n; i++)
            {
                for (int k = 0; k < n; k++) points[i][k] = points[0][k] + 0.5 * (points[i][k] - points[0][k]);
                values[i] = f(points[i]); evaluations++;
            }
        }
        int bestIndex = 0;
        for (int i = 1; i <= n; i++) if (values[i] < values[bestIndex]) bestIndex = i;
        return (points[bestIndex], values[bestIndex]);
    }
}
