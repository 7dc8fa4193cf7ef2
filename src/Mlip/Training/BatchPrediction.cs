using Mlip.Calculators;
using Mlip.Data;
using Mlip.Models;
using Mlip.Descriptors;
using Mlip.Models.Uncertainty;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Training;

/// <summary>
/// Predictions for many structures in parallel (<c>mlip predict</c>): each result is a copy of its structure
/// with the predicted labels. A user error in one structure surfaces as its typed <see cref="MlipException"/>
/// (<see cref="MlipParallel"/>), not an <see cref="AggregateException"/>.
/// </summary>
public static class BatchPrediction
{
    /// <summary>
    /// Energy, forces, stress (periodic structures), per-atom energies and energy variance where the
    /// calculator gives them; the structure's own energy is kept as info reference_energy. With an
    /// <paramref name="estimator"/> the labels and the uncertainty come from it instead
    /// (<see cref="UncertaintyResult.Annotate"/>).
    /// </summary>
    public static Structure[] Run(ICalculator calculator, IReadOnlyList<Structure> structures, IUncertaintyEstimator? estimator = null,
        int threads = 0, IProgress<WorkProgress>? progress = null) =>
        Map(structures, threads, progress, s =>
        {
            var copy = s.Clone();
            if (s.Energy is double e) copy.Info["reference_energy"] = e;
            if (estimator is not null)
            {
                estimator.Estimate(s).Annotate(copy);
                return copy;
            }
            var r = calculator.Calculate(s, forces: true, stress: s.Pbc.AllPeriodic);
            copy.Energy = r.Energy;
            copy.Forces = r.Forces;
            copy.Stress = r.Stress;
            if (r.AtomEnergies is { } ae) copy.AtomArrays["energies"] = new AtomArray(s.Count, 1, ae);
            if (r.EnergyVariance is double v) copy.Info["energy_variance"] = v;
            return copy;
        });

    /// <summary>
    /// Per-atom targets: the predicted array under the target's name (a reference array of that name is kept
    /// as reference_NAME) and the Gaussian exponents as info where the target has them.
    /// </summary>
    public static Structure[] RunPerAtom(PerAtomPredictor predictor, IReadOnlyList<Structure> structures, int threads = 0, IProgress<WorkProgress>? progress = null) =>
        Map(structures, threads, progress, s =>
        {
            var y = predictor.Predict(s);
            var copy = s.Clone();
            if (copy.AtomArrays.Remove(predictor.TargetName, out var reference)) copy.AtomArrays["reference_" + predictor.TargetName] = reference;
            copy.AtomArrays[predictor.TargetName] = new AtomArray(s.Count, predictor.Outputs, y);
            if (predictor.Alphas is { } a) copy.Info[GaussianPotentialTarget.AlphasKey] = (double[])a.Clone();
            return copy;
        });

    /// <summary><paramref name="one"/> over every structure on up to <paramref name="threads"/> threads (0 or less: all cores), in order.</summary>
    internal static Structure[] Map(IReadOnlyList<Structure> structures, int threads, IProgress<WorkProgress>? progress, Func<Structure, Structure> one)
    {
        var results = new Structure[structures.Count];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int done = 0;
        MlipParallel.For(0, structures.Count, new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount }, i =>
        {
            results[i] = one(structures[i]);
            progress?.Report(new WorkProgress(Interlocked.Increment(ref done), structures.Count, clock.Elapsed));
        });
        return results;
    }
}
