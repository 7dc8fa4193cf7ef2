using Mlip.Calculators;
using Mlip.Structures;
using Mlip.Descriptors;
using Mlip.Validation;

namespace Mlip.Models.Uncertainty;

/// <summary>Picks the uncertainty method that fits a model kind.</summary>
public static class UncertaintyEstimators
{
    /// <summary>
    /// Several models: a committee. One GPR model: its predictive variance. One linear or quadratic model (or any
    /// other descriptor model): D-optimality over <paramref name="training"/> (needed then). Threads: descriptor threads.
    /// </summary>
    public static IUncertaintyEstimator For(IReadOnlyList<ICalculator> models, IReadOnlyList<Structure>? training, int threads = 1, bool gprForces = true)
        => For(models, training, threads, gprForces, null, Ace.AceGradeKind.Linear);

    /// <summary>
    /// As above; ACE models (a PACE .ace/.yace, or a linear model on the ace descriptor) get pacemaker's extrapolation grade
    /// (<see cref="Ace.AceExtrapolation"/>): from the active-set file <paramref name="activeSet"/> (.asi) when given, otherwise
    /// built over <paramref name="training"/> with projections of kind <paramref name="aceGrade"/>.
    /// </summary>
    public static IUncertaintyEstimator For(IReadOnlyList<ICalculator> models, IReadOnlyList<Structure>? training, int threads, bool gprForces,
        string? activeSet, Ace.AceGradeKind aceGrade)
    {
        if (models.Count == 0) throw new ArgumentException("no model", nameof(models));
        if (models.Count > 1) return new CommitteeUncertainty(models);
        if (models[0] is not Potential p) throw new MlipException($"{models[0].Name}: no uncertainty for a calculator that is not a fitted model (give a committee of models)");
        if (p.Model is GaussianProcessModel gp && gp.SparseCholesky is not null) return new GaussianProcessUncertainty(p, gprForces);
        if (p.Descriptor is Descriptors.Ace.AceDensities || Ace.AceLinearExport.IsLinearAce(p))
        {
            if (activeSet is not null) return Ace.AceExtrapolation.Load(p, activeSet);
            if (training is null || training.Count == 0)
                throw new MlipException("an ACE model's extrapolation grade needs its active set (--active-set FILE.asi, made by `mlip activeset`) or its training data (--training)");
            return Ace.AceExtrapolation.Build(p, training, aceGrade);
        }
        if (activeSet is not null) throw new MlipException("an active-set file (.asi) goes with ACE models only");
        if (training is null || training.Count == 0)
            throw new MlipException($"a {p.Model.Kind} model has no variance of its own: give its training data for the D-optimality grade, or several models for a committee");
        var set = TrainingSet.Compute(p.Descriptor, training, derivatives: false, threads);
        return new DOptimalityUncertainty(p, DOptimality.Build(set));
    }
}
