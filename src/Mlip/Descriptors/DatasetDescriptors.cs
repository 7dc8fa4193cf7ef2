using System.Diagnostics;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Descriptors;

/// <summary>Progress of a long computation: items done out of a total, and the time so far.</summary>
public readonly record struct WorkProgress(int Done, int Total, TimeSpan Elapsed);

/// <summary>Descriptors of a whole data set, structures in parallel; a structure's own atoms get the threads left over (all of them for a single structure, one each when there are at least as many structures as threads).</summary>
public static class DatasetDescriptors
{
    /// <summary>
    /// Computes <paramref name="descriptor"/> for every structure, in order. <paramref name="threads"/>
    /// bounds the parallelism (1 = serial); <paramref name="progress"/> is told after each structure. With
    /// <paramref name="neighborCutoff"/> above the descriptor's cut-off the sets hold neighbour lists to that radius
    /// (the pairs beyond the descriptor's cut-off with zero blocks), for models with a longer geometric term (PINN).
    /// </summary>
    public static DescriptorSet[] Compute(IDescriptor descriptor, IReadOnlyList<Structure> structures, bool derivatives,
        int threads = 1, IProgress<WorkProgress>? progress = null, CancellationToken cancel = default, double neighborCutoff = 0)
    {
        var results = new DescriptorSet[structures.Count];
        var clock = Stopwatch.StartNew();
        int done = 0;
        // largest structures first balances the threads; results stay in input order
        var order = Enumerable.Range(0, structures.Count).OrderByDescending(i => structures[i].Count).ToArray();
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads), CancellationToken = cancel };
        // the limit flows into the workers (execution context), so threads = 1 means one core in all
        using var inner = MlipParallel.LimitThreads(MlipParallel.InnerThreads(threads, structures.Count));
        MlipParallel.ForEach(order, options, i =>
        {
            results[i] = neighborCutoff > descriptor.Cutoff
                ? descriptor.Compute(structures[i], derivatives, Neighbors.NeighborList.Build(structures[i], neighborCutoff))
                : descriptor.Compute(structures[i], derivatives);
            int d = Interlocked.Increment(ref done);
            progress?.Report(new WorkProgress(d, structures.Count, clock.Elapsed));
        });
        return results;
    }
}
