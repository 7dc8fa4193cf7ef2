using Mlip.Descriptors;
using Mlip.Distributed;
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

    /// <summary>Mean and standard deviation of every feature over the atoms of all ranks (sums added in rank order).</summary>
    public static (double[] Mean, double[] Scale) FeatureStatistics(ICommunicator comm, TrainingSet local, int features)
    {
        var (sum, sq, n) = local.FeatureSums(features);
        var all = new double[2 * features];
        sum.CopyTo(all, 0);
        sq.CopyTo(all, features);
        comm.AllreduceSum(all);
        Span<long> count = [n];
        comm.AllreduceSum(count);
        return TrainingSet.Statistics(all[..features], all[features..], count[0]);
    }
}
