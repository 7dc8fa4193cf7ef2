using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.Configuration;
using Mlip.Models;
using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Models.Uncertainty;

namespace Mlip.Training;

/// <summary>Settings of <c>model: {kind: gpr}</c> (docs/gpr.md).</summary>
public sealed record GaussianProcessSettings
{
    [Setting("sparse", "sparse points per element (fewer when an element has fewer distinct environments)", Min = 1)]
    public int Sparse { get; init; } = 500;

    [Setting("selection", "how the sparse points are picked: cur (leverage-weighted) or random", Choices = ["cur", "random"])]
    public string Selection { get; init; } = "cur";

    [Setting("kernel", "dot (normalised dot product to the power zeta) or rbf", Choices = ["dot", "rbf", "dot_product", "soap", "gaussian"])]
    public string Kernel { get; init; } = "dot";

    [Setting("zeta", "kernel exponents to try (the marginal likelihood picks one)", Min = 1)]
    public int[] Zeta { get; init; } = [2];

    [Setting("length_scale", "rbf length scales to try (the marginal likelihood picks one)", Min = 0)]
    public double[] LengthScale { get; init; } = [0.5];

    [Setting("bias", "constants appended to the normalised features to try, in units of their RMS norm", Min = 0)]
    public double[] Bias { get; init; } = [0];

    [Setting("normalize", "feature normalisation before the kernel: none, scale or standard", Choices = ["none", "scale", "standard"])]
    public string Normalize { get; init; } = "scale";

    [Setting("variance", "prior variance of a per-atom energy (eV^2); none: by the marginal likelihood", Min = 0)]
    public double? Variance { get; init; }

    [Setting("sigma_energy", "noise of the energy per atom (eV/atom); none: by the marginal likelihood", Min = 0)]
    public double? SigmaEnergy { get; init; }

    [Setting("sigma_force", "noise of a force component (eV/Å); none: by the marginal likelihood", Min = 0)]
    public double? SigmaForce { get; init; }

    [Setting("sigma_stress", "noise of a stress component (GPa); none: by the marginal likelihood", Min = 0)]
    public double? SigmaStress { get; init; }

    [Setting("noise", "noise levels not given: loss (in the ratios of the loss weights, one scale fitted) or likelihood (each fitted)", Choices = ["loss", "likelihood"])]
    public string Noise { get; init; } = "loss";

    [Setting("optimize", "maximise the marginal likelihood over the hyperparameters not given (false: fixed defaults)")]
    public bool Optimize { get; init; } = true;

    [Setting("jitter", "added to the diagonal of the unit-variance K_MM", Min = 0)]
    public double Jitter { get; init; } = 1e-8;

    [Setting("solver", "least-squares solver: default (libtorch QR when available, else managed), torch, torch-normal, managed", Choices = ["default", "torch", "qr", "torch-normal", "normal", "managed"])]
    public string Solver { get; init; } = "default";
}

/// <summary>Sparse Gaussian process regression on the descriptors (energies, forces and stresses), with its predictive variance as the uncertainty.</summary>
public sealed class GaussianProcessKind : ModelKind<GaussianProcessSettings>
{
    public override string Name => "gpr";
    public override string Doc => "sparse Gaussian process on the descriptors; hyperparameters by the marginal likelihood; predictive variance as the uncertainty";
    public override bool Refittable => true;
    public override ModelCodec? Codec => ModelFile.FindCodec("gpr");
    public override PerAtomVariant PerAtom { get; } = new PerAtomGaussianProcessVariant();
    public override string UncertaintyName => "gpr energy std per atom";

    public override IUncertaintyEstimator Uncertainty(Potential potential, TrainingSet set) => new GaussianProcessUncertainty(potential, includeForces: false);

    public static GaussianProcessFitOptions Options(GaussianProcessSettings s, LossWeights loss, int seed, int threads) => new()
    {
        Kernel = GaussianProcessKernel.ParseType(s.Kernel),
        Zeta = s.Zeta,
        LengthScale = s.LengthScale,
        Bias = s.Bias,
        Normalization = s.Normalize switch
        {
            "none" => FeatureNormalization.None,
            "scale" => FeatureNormalization.Scale,
            _ => FeatureNormalization.Standard,
        },
        SparsePoints = s.Sparse,
        Selection = s.Selection == "cur" ? SparseSelection.Cur : SparseSelection.Random,
        Weights = loss,
        Variance = s.Variance,
        SigmaEnergy = s.SigmaEnergy,
        SigmaForce = s.SigmaForce,
        SigmaStress = s.SigmaStress,
        Noise = s.Noise == "loss" ? NoiseLevels.Loss : NoiseLevels.Likelihood,
        Optimize = s.Optimize,
        Jitter = s.Jitter,
        Seed = seed,
        Threads = threads,
    };

    protected override ModelFitResult Fit(ModelFitContext ctx, GaussianProcessSettings s)
    {
        var options = Options(s, ctx.Loss, ctx.Seed, ctx.Threads);
        var (m, report) = GaussianProcessFit.Fit(ctx.Set!, options, LeastSquaresSolvers.ByName(s.Solver, ctx.Threads));
        var c = report.Chosen;
        var log = ctx.Log;
        foreach (var t in report.Trials)
        {
            string shape = options.Kernel == GaussianProcessKernelType.Rbf ? $"zeta {t.Zeta}, l {t.LengthScale:G3}, bias {t.Bias:G3}" : $"zeta {t.Zeta}, bias {t.Bias:G3}";
            string noise = (report.EnergyRows > 0 ? $", sigma_E {t.SigmaEnergy:G3} eV/atom" : "") + (report.ForceRows > 0 ? $", sigma_F {t.SigmaForce:G3} eV/A" : "")
                           + (report.StressRows > 0 ? $", sigma_S {t.SigmaStress:G3} GPa" : "");
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"gpr: {shape}: log marginal likelihood {t.LogMarginalLikelihood:F1} at sigma^2 {t.Variance:G4} eV^2{noise} ({t.Evaluations} evaluations){(t == c ? "  <- chosen" : "")}"));
        }
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fit: gpr, {report.SparsePoints} sparse points, {report.EnergyRows + report.ForceRows + report.StressRows} observations ({report.EnergyRows} energies, {report.ForceRows} forces, {report.StressRows} stresses); selection {report.SelectTime.TotalSeconds:F2} s, K_NM {report.BuildTime.TotalSeconds:F2} s, marginal likelihood {report.OptimizeTime.TotalSeconds:F2} s, solve {report.SolveTime.TotalSeconds:F2} s ({report.Method})"));
        return new ModelFitResult(m, new JsonObject
        {
            ["sparse_points"] = report.SparsePoints,
            ["energy_rows"] = report.EnergyRows, ["force_rows"] = report.ForceRows, ["stress_rows"] = report.StressRows,
            ["zeta"] = c.Zeta, ["length_scale"] = c.LengthScale, ["bias"] = c.Bias, ["variance"] = c.Variance,
            ["sigma_energy"] = report.EnergyRows > 0 ? c.SigmaEnergy : null,
            ["sigma_force"] = report.ForceRows > 0 ? c.SigmaForce : null,
            ["sigma_stress"] = report.StressRows > 0 ? c.SigmaStress : null,
            ["log_marginal_likelihood"] = c.LogMarginalLikelihood,
            ["select_seconds"] = report.SelectTime.TotalSeconds, ["build_seconds"] = report.BuildTime.TotalSeconds,
            ["optimize_seconds"] = report.OptimizeTime.TotalSeconds, ["solve_seconds"] = report.SolveTime.TotalSeconds,
            ["solver"] = report.Method,
        });
    }
}
