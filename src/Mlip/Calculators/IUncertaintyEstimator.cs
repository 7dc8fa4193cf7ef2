using Mlip.Structures;

namespace Mlip.Calculators;

/// <summary>
/// A prediction with its uncertainty. <see cref="EnergyStd"/> (eV, total energy) and <see cref="ForceStd"/>
/// (eV/Å, per atom: the root mean square over the three components) are standard deviations where the method
/// gives them (GPR, committees); <see cref="AtomGrade"/> is the per-atom extrapolation grade γ of D-optimality
/// (γ ≤ 1 interpolation, γ > 1 extrapolation). <see cref="Score"/> is the one number used to rank structures.
/// <see cref="Stress"/> (GPa; a committee's mean) is given for periodic structures when the estimator was asked
/// for it (<see cref="IUncertaintyEstimator.IncludeStress"/>), null otherwise.
/// </summary>
public sealed record UncertaintyResult(double Energy, Vec3[] Forces, double? EnergyStd, double[]? ForceStd, double[]? AtomGrade, double Score, Stress? Stress = null)
{
    public double MaxForceStd => ForceStd is null || ForceStd.Length == 0 ? 0 : ForceStd.Max();
    public double MaxGrade => AtomGrade is null || AtomGrade.Length == 0 ? 0 : AtomGrade.Max();

    /// <summary>Writes this result into a copy-ready structure: energy/forces/stress (the stress is dropped when the result has none), energy_std (info), force_std and gamma (per-atom arrays).</summary>
    public void Annotate(Structure s)
    {
        s.Energy = Energy;
        s.Forces = Forces;
        s.Stress = Stress;
        if (EnergyStd is double e) s.Info["energy_std"] = e;
        if (ForceStd is { } f) s.AtomArrays["force_std"] = new AtomArray(s.Count, 1, f);
        if (AtomGrade is { } g) s.AtomArrays["gamma"] = new AtomArray(s.Count, 1, g);
        s.Info["uncertainty"] = Score;
    }
}

/// <summary>Uncertainty of a model's predictions, the same seam for every model kind (GPR variance, committees, D-optimality).</summary>
public interface IUncertaintyEstimator
{
    /// <summary>"gpr variance", "committee of 4", "d-optimality" ...</summary>
    string Kind { get; }

    /// <summary>What <see cref="UncertaintyResult.Score"/> measures, for reports ("max force std (eV/Å)").</summary>
    string ScoreName { get; }

    /// <summary>Whether <see cref="Estimate"/> also predicts the stress of periodic structures (off in the learning loop, where only scores matter).</summary>
    bool IncludeStress { get; set; }

    UncertaintyResult Estimate(Structure structure);
}
