using Mlip.Descriptors;
using Mlip.Models;

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
