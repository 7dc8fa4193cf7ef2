using Mlip.Descriptors;
using Mlip.Structures;

namespace Mlip.ActiveLearning;

/// <summary>
/// Picks the batch to label. Active: candidates by decreasing uncertainty, skipping one whose fingerprint
/// (mean descriptor over its atoms, standardised by the training features' mean and spread) lies within
/// <c>minDistance</c> (RMS over components) of a pick already made; the batch is filled by score if too few are
/// diverse. Random: a seeded uniform draw (the baseline of the learning curve).
/// </summary>
public static class BatchSelector
{
    public static int[] Active(IReadOnlyList<double> scores, IReadOnlyList<double[]> fingerprints, int batch, double minDistance)
    {
        var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => double.IsNaN(scores[i]) ? double.PositiveInfinity : scores[i]).ThenBy(i => i).ToArray();
        var picked = new List<int>();
        var taken = new bool[scores.Count];
        foreach (int i in order)
        {
            if (picked.Count == batch) break;
            bool close = false;
            foreach (int j in picked)
                if (Distance(fingerprints[i], fingerprints[j]) < minDistance) { close = true; break; }
            if (close) continue;
            picked.Add(i);
            taken[i] = true;
        }
        foreach (int i in order)
        {
            if (picked.Count == batch) break;
            if (!taken[i]) { picked.Add(i); taken[i] = true; }
        }
        return [.. picked];
    }

    /// <summary>
    /// Greedy D-optimal batch: pick the candidate of largest max γ, add its atoms to the active sets
    /// (<see cref="Models.Uncertainty.IActiveSets.With"/>), re-grade the rest, repeat. A candidate similar to one
    /// already picked no longer extrapolates, so the batch is diverse without a distance threshold. The same for
    /// D-optimality over descriptors (linear/quadratic models) and the ACE extrapolation grade.
    /// </summary>
    public static int[] DOptimal(Models.Uncertainty.IActiveSets activeSets, IReadOnlyList<Models.Uncertainty.AtomVectors> candidates, int batch)
    {
        var picked = new List<int>();
        var taken = new bool[candidates.Count];
        var current = activeSets;
        for (int b = 0; b < batch && picked.Count < candidates.Count; b++)
        {
            int best = -1; double bestGrade = double.NegativeInfinity;
            for (int c = 0; c < candidates.Count; c++)
            {
                if (taken[c]) continue;
                double g = current.MaxGrade(candidates[c]);
                if (g > bestGrade) { bestGrade = g; best = c; }
            }
            picked.Add(best);
            taken[best] = true;
            if (picked.Count < batch) current = current.With(candidates[best]);
        }
        return [.. picked];
    }

    /// <summary>
    /// The candidates a batch may come from: those scored at or below <paramref name="maxScore"/>, but never fewer than
    /// the <paramref name="fraction"/> of all candidates with the lowest scores (nor fewer than a batch; ties by index).
    /// So early on, when nearly every candidate extrapolates, the batch is still chosen by informativeness among the
    /// moderate half instead of from the few near-copies of the training data that pass an absolute threshold, and the
    /// wildest candidates (model breakdowns) stay out. Once most candidates pass the threshold it alone decides.
    /// </summary>
    public static List<int> Pool(IReadOnlyList<double> scores, int batch, double maxScore, double fraction)
    {
        var below = Enumerable.Range(0, scores.Count).Where(i => scores[i] <= maxScore).ToList();
        int size = Math.Min(scores.Count, Math.Max(batch, (int)Math.Ceiling(fraction * scores.Count)));
        if (below.Count >= size) return below;
        return [.. Enumerable.Range(0, scores.Count).OrderBy(i => double.IsNaN(scores[i]) ? double.PositiveInfinity : scores[i]).ThenBy(i => i).Take(size)];
    }

    public static int[] Random(int count, int batch, Random rng)
    {
        var idx = Enumerable.Range(0, count).ToArray();
        rng.Shuffle(idx);
        return idx.Take(Math.Min(batch, count)).ToArray();
    }

    /// <summary>Mean descriptor over the atoms, standardised.</summary>
    public static double[] Fingerprint(DescriptorSet set, double[] mean, double[] scale)
    {
        int k = set.Features;
        var f = new double[k];
        for (int i = 0; i < set.Atoms; i++)
        {
            var x = set.Of(i);
            for (int a = 0; a < k; a++) f[a] += x[a];
        }
        for (int a = 0; a < k; a++) f[a] = (f[a] / Math.Max(1, set.Atoms) - mean[a]) / scale[a];
        return f;
    }

    public static double Distance(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
        return Math.Sqrt(s / Math.Max(1, a.Length));
    }
}
