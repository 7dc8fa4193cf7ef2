namespace Mlip.Training;

/// <summary>
/// Weights of the terms of the loss (PyXtal_FF thesis eq. 2.74): Energy × mean over structures of
/// (ΔE/N)² (eV/atom) + Force × mean over force components of ΔF² ((eV/Å)²) + Stress × mean over
/// stress components of Δσ² (GPa²); each structure's rows are also scaled by its weight.
/// </summary>
public sealed record LossWeights
{
    public double Energy { get; init; } = 1.0;
    public double Force { get; init; } = 0.01;
    public double Stress { get; init; }
}
