using Mlip.Numerics;
using Mlip.Structures;

namespace Mlip.Descriptors;

/// <summary>Structures with their descriptors (and derivative blocks), ready for fitting.</summary>
public sealed class TrainingSet
{
    public TrainingSet(IReadOnlyList<Structure> structures, DescriptorSet[] descriptors)
    {
        if (structures.Count != descriptors.Length) throw new ArgumentException("one descriptor set per structure");
        Structures = structures;
        Descriptors = descriptors;
    }

    public IReadOnlyList<Structure> Structures { get; }
    public DescriptorSet[] Descriptors { get; }
    public int Count => Structures.Count;
    public int FeatureCount => Descriptors.Length == 0 ? 0 : Descriptors[0].Features;

    /// <summary>Distinct atomic numbers, increasing.</summary>
    public int[] Elements() => [.. Structures.SelectMany(s => s.AtomicNumbers).Distinct().Order()];

    public static TrainingSet Compute(IDescriptor descriptor, IReadOnlyList<Structure> structures, bool derivatives, int threads, IProgress<WorkProgress>? progress = null,
        double neighborCutoff = 0) =>
        new(structures, DatasetDescriptors.Compute(descriptor, structures, derivatives, threads, progress, neighborCutoff: neighborCutoff));

    /// <summary>Mean and standard deviation of every feature over all atoms (σ = 1 where a feature is constant).</summary>
    public (double[] Mean, double[] Scale) FeatureStatistics()
    {
        var stats = FeatureColumnStatistics();
        return (stats.Mean(), stats.Scale());
    }

    /// <summary>The running statistics of the first <paramref name="features"/> features (all when negative) over every atom, in structure order (to merge with other ranks' or chunks').</summary>
    public ColumnStatistics FeatureColumnStatistics(int features = -1)
    {
        int k = features >= 0 ? features : FeatureCount;
        var stats = new ColumnStatistics(k);
        foreach (var d in Descriptors)
            for (int i = 0; i < d.Atoms; i++) stats.Add(d.Of(i)[..k]);
        return stats;
    }
}
