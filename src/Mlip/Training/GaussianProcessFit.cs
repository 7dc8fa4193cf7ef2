using System.Diagnostics;
using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Validation;

namespace Mlip.Training;

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
public static partial class GaussianProcessFit
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
}
