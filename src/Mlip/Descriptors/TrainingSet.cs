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

    public static TrainingSet Compute(IDescriptor descriptor, IReadOnlyList<Structure> structures, bool derivatives, int threads, IProgress<WorkProgress>? progress = null) =>
        new(structures, DatasetDescriptors.Compute(descriptor, structures, derivatives, threads, progress));

    /// <summary>Mean and standard deviation of every feature over all atoms (σ = 1 where a feature is constant).</summary>
    public (double[] Mean, double[] Scale) FeatureStatistics()
    {
        int k = FeatureCount;
        var sum = new double[k];
        var sq = new double[k];
        long n = 0;
        foreach (var d in Descriptors)
        {
            for (int i = 0; i < d.Atoms; i++)
            {
                var x = d.Of(i);
                for (int a = 0; a < k; a++) { sum[a] += x[a]; sq[a] += x[a] * x[a]; }
            }
            n += d.Atoms;
        }
        return Statistics(sum, sq, n);
    }

    /// <summary>Mean and standard deviation from per-feature sums of x and x² over <paramref name="n"/> atoms (σ = 1 where a feature is constant).</summary>
    public static (double[] Mean, double[] Scale) Statistics(double[] sum, double[] sq, long n)
    {
        int k = sum.Length;
        var mean = new double[k];
        var scale = new double[k];
        for (int a = 0; a < k; a++)
        {
            mean[a] = sum[a] / Math.Max(1, n);
            double v = sq[a] / Math.Max(1, n) - mean[a] * mean[a];
            scale[a] = v > 1e-24 * Math.Max(1, mean[a] * mean[a]) ? Math.Sqrt(v) : 1.0;
        }
        return (mean, scale);
    }
}
