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
    public static int[] Active(IReadOnlyList<double> scores, IReadOnlyList<double[]> fingerprints, int batch, double minDistance, Quota? quota = null)
    {
        var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => double.IsNaN(scores[i]) ? double.PositiveInfinity : scores[i]).ThenBy(i => i).ToArray();
        var picked = new List<int>();
        var taken = new bool[scores.Count];
        var left = quota?.Slots.ToArray();
        foreach (int i in order)
        {
            if (picked.Count == batch) break;
            if (left is not null && left[quota!.Stratum[i]] == 0) continue;
            bool close = false;
            foreach (int j in picked)
                if (Distance(fingerprints[i], fingerprints[j]) < minDistance) { close = true; break; }
            if (close) continue;
            picked.Add(i);
            taken[i] = true;
            if (left is not null) left[quota!.Stratum[i]]--;
        }
        // too few diverse picks: by score, still within the strata's slots, then any
        if (left is not null)
            foreach (int i in order)
            {
                if (picked.Count == batch) break;
                if (!taken[i] && left[quota!.Stratum[i]] > 0) { picked.Add(i); taken[i] = true; left[quota.Stratum[i]]--; }
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
    public static int[] DOptimal(Models.Uncertainty.IActiveSets activeSets, IReadOnlyList<Models.Uncertainty.AtomVectors> candidates, int batch, Quota? quota = null)
    {
        var picked = new List<int>();
        var taken = new bool[candidates.Count];
        var left = quota?.Slots.ToArray();
        var current = activeSets;
        for (int b = 0; b < batch && picked.Count < candidates.Count; b++)
        {
            int best = -1; double bestGrade = double.NegativeInfinity;
            for (int c = 0; c < candidates.Count; c++)
            {
                if (taken[c] || left is not null && left[quota!.Stratum[c]] == 0) continue;
                double g = current.MaxGrade(candidates[c]);
                if (g > bestGrade || best < 0) { bestGrade = g; best = c; }
            }
            if (best < 0) break; // every stratum's slots used (they add up to the batch, so only when candidates ran out)
            picked.Add(best);
            taken[best] = true;
            if (left is not null) left[quota!.Stratum[best]]--;
            if (picked.Count < batch) current = current.With(candidates[best]);
        }
        return [.. picked];
    }

    /// <summary>
    /// Slots of a stratified batch: <see cref="Slots"/>[g] picks from stratum g, where <see cref="Stratum"/>[i] is
    /// candidate i's stratum (its exploration kind: MD at one temperature, rattles, strains, vacancies, swaps, each
    /// surface orientation, random crystals).
    /// </summary>
    public sealed record Quota(int[] Stratum, int[] Slots);

    /// <summary>
    /// Uncertainty-weighted strata (<c>select.strata: true</c>): the batch is shared among the kinds of candidates in
    /// proportion to count × (½ + the kind's mean score rank, 0–1 over all candidates), by largest remainders, no kind
    /// given more slots than it has candidates. So every kind keeps about the share of the batch random selection would
    /// give it (the validation set is made of the same kinds), shifted by at most a factor of three towards the kinds the
    /// model knows least; within a kind the picks are the most informative (D-optimal or by score). Without it the
    /// largest grades come from one kind (the surface atoms of near-identical slabs, swaps) and the batch is spent there.
    /// Ranks instead of raw scores keep the weights bounded when grades span orders of magnitude. Ties and remainders
    /// go to the lower stratum index, so the result depends only on the inputs.
    /// </summary>
    public static Quota Strata(IReadOnlyList<string> kinds, IReadOnlyList<double> scores, int batch)
    {
        int n = kinds.Count;
        var names = kinds.Distinct().ToList(); // first appearance order
        var stratum = kinds.Select(k => names.IndexOf(k)).ToArray();
        var ranks = Statistics.Ranks([.. scores.Select(v => double.IsNaN(v) ? double.PositiveInfinity : v)]);
        int s = names.Count;
        var count = new int[s];
        var rankSum = new double[s];
        for (int i = 0; i < n; i++) { count[stratum[i]]++; rankSum[stratum[i]] += ranks[i] / n; }
        var weight = new double[s];
        for (int g = 0; g < s; g++) weight[g] = count[g] * (0.5 + rankSum[g] / count[g]);
        int total = Math.Min(batch, n);
        var slots = new int[s];
        var share = new double[s];
        var active = Enumerable.Range(0, s).ToList();
        int given = 0;
        // proportional shares; a stratum whose share exceeds its count is capped and the rest shared again
        while (active.Count > 0)
        {
            double w = active.Sum(g => weight[g]);
            int rest = total - given;
            var capped = active.Where(g => rest * weight[g] / w >= count[g]).ToList();
            if (capped.Count == 0)
            {
                foreach (int g in active) share[g] = rest * weight[g] / w;
                break;
            }
            foreach (int g in capped) { slots[g] = count[g]; given += count[g]; active.Remove(g); }
        }
        foreach (int g in active) { slots[g] = (int)Math.Floor(share[g]); given += slots[g]; }
        foreach (int g in active.OrderByDescending(g => share[g] - Math.Floor(share[g])).ThenBy(g => g))
        {
            if (given >= total) break;
            if (slots[g] < count[g]) { slots[g]++; given++; }
        }
        return new Quota(stratum, slots);
    }

    /// <summary>
    /// Uniform picks within each stratum (<c>select.within: random</c>): the slots of <paramref name="quota"/> filled by a
    /// seeded draw among the stratum's candidates, so the uncertainty decides only how the batch is shared among the kinds.
    /// </summary>
    public static int[] WithinStrataAtRandom(Quota quota, Random rng)
    {
        var order = Enumerable.Range(0, quota.Stratum.Length).ToArray();
        rng.Shuffle(order);
        var left = quota.Slots.ToArray();
        var picked = new List<int>();
        foreach (int i in order)
            if (left[quota.Stratum[i]] > 0) { picked.Add(i); left[quota.Stratum[i]]--; }
        return [.. picked];
    }

    /// <summary>
    /// The stratum of a candidate: the explorer's group (<c>md_300K</c>, <c>rattle</c>, <c>surface_110</c> ...), with the
    /// random crystals of every space group (<c>random_NNN</c>) one kind.
    /// </summary>
    public static string Kind(Structure s) => s.Group is { } g ? g.StartsWith("random_", StringComparison.Ordinal) ? "random" : g : "other";

    /// <summary>The shortest interatomic distance of a structure (periodic images included); infinity for one atom alone.</summary>
    public static double ShortestDistance(Structure s, double within = 4.0)
    {
        var nl = Neighbors.NeighborList.Build(s, within);
        double d = double.PositiveInfinity;
        foreach (double x in nl.Distances) d = Math.Min(d, x);
        return d;
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

    /// <summary>
    /// <paramref name="count"/> candidates drawn uniformly (seeded) from those not in <paramref name="picked"/>: the random
    /// share of an active batch (<c>select.random_share</c>), which keeps the training set close to the distribution the
    /// exploration samples whatever the uncertainty ranks first.
    /// </summary>
    public static int[] RandomRest(int candidates, IReadOnlyCollection<int> picked, int count, Random rng)
    {
        var rest = Enumerable.Range(0, candidates).Where(i => !picked.Contains(i)).ToArray();
        rng.Shuffle(rest);
        return rest.Take(Math.Min(count, rest.Length)).ToArray();
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
