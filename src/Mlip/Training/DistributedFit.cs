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
}
