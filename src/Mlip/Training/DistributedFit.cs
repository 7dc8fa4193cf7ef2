using Mlip.Descriptors;
using Mlip.Distributed;
using Mlip.Numerics;
using Mlip.Structures;

namespace Mlip.Training;

/// <summary>What a fit needs from all ranks of an MPI run when each holds a share of the structures: the elements, the feature statistics.</summary>
public static class DistributedFit
{
    /// <summary>The atomic numbers of every rank's structures, increasing.</summary>
    public static int[] Elements(ICommunicator comm, IEnumerable<Structure> local)
    {
        var mine = local.SelectMany(s => s.AtomicNumbers).Distinct().Select(z => (double)z).ToArray();
        return [.. comm.AllgatherVariable(mine).SelectMany(x => x).Distinct().Order().Select(z => (int)z)];
    }

    /// <summary>
    /// Mean and standard deviation of every feature over the atoms of all ranks: each rank's running statistics
    /// (<see cref="ColumnStatistics"/>) gathered and merged in rank order, so every rank gets the same numbers.
    /// </summary>
    public static (double[] Mean, double[] Scale) FeatureStatistics(ICommunicator comm, TrainingSet local, int features)
    {
        var parts = comm.AllgatherVariable(local.FeatureColumnStatistics(features).ToArray());
        var all = new ColumnStatistics(features);
        foreach (var p in parts) all.Merge(ColumnStatistics.FromArray(p));
        return (all.Mean(), all.Scale());
    }

    /// <summary>
    /// The mean and standard deviation of <see cref="TrainingSet.FeatureStatistics"/> of all ranks' structures, bit for bit as
    /// one process computes them: every rank's features (<paramref name="features"/> per atom) are gathered on every rank in rank
    /// order and added atom by atom (8 bytes per atom and feature travel, against a few per feature for
    /// <see cref="FeatureStatistics"/>, whose merge of the ranks' running statistics rounds otherwise).
    /// </summary>
    public static (double[] Mean, double[] Scale) FeatureStatisticsInOrder(ICommunicator comm, TrainingSet local, int features)
    {
        int k = features;
        var mine = new double[local.Descriptors.Sum(d => (long)d.Atoms) * k];
        long at = 0;
        foreach (var d in local.Descriptors)
            for (int i = 0; i < d.Atoms; i++, at += k) d.Of(i)[..k].CopyTo(mine.AsSpan((int)at, k));
        var all = new ColumnStatistics(k);
        foreach (var part in comm.AllgatherVariable(mine))
            for (int a = 0; k > 0 && a + k <= part.Length; a += k) all.Add(part.AsSpan(a, k));
        return (all.Mean(), all.Scale());
    }
}
