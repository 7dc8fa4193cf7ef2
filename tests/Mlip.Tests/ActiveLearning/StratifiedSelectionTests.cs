using Mlip.ActiveLearning;
using Mlip.Calculators;
using Mlip.Models.Uncertainty;
using Mlip.Structures;
using Mlip.Tests.Support;
using Xunit;

namespace Mlip.Tests.ActiveLearning;

/// <summary>
/// The robust selection rule: uncertainty-weighted strata (each kind of candidate keeps about its share of the batch, the
/// most informative picks within it) and the closest-approach guard against collided MD frames.
/// </summary>
public class StratifiedSelectionTests
{
    // four MD frames of low score, four rattles in the middle, two surfaces far out
    private static readonly string[] Kinds = ["md", "md", "md", "md", "rattle", "rattle", "rattle", "rattle", "surface", "surface"];
    private static readonly double[] Scores = [1, 2, 3, 4, 5, 6, 7, 8, 100, 200];

    [Fact]
    public void Slots_follow_counts_weighted_by_mean_score_rank_by_largest_remainders()
    {
        // ranks/10: md mean 0.25, rattle 0.65, surface 0.95; weights 4 x 0.75 = 3, 4 x 1.15 = 4.6, 2 x 1.45 = 2.9 (sum 10.5)
        // batch 5: shares 1.429, 2.190, 1.381 -> floors 1, 2, 1, the one left to the largest remainder (md)
        var q = BatchSelector.Strata(Kinds, Scores, 5);
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1, 2, 2], q.Stratum);
        Assert.Equal([2, 2, 1], q.Slots);
        // batch 8: the surfaces' share 2.21 exceeds their 2 candidates: capped, the other 6 shared 3 : 4.6 -> 2.37, 3.63 -> 2, 4
        Assert.Equal([2, 4, 2], BatchSelector.Strata(Kinds, Scores, 8).Slots);
        // more than there are: everything
        Assert.Equal([4, 4, 2], BatchSelector.Strata(Kinds, Scores, 30).Slots);
        // one kind only: the whole batch
        Assert.Equal([3], BatchSelector.Strata(["a", "a", "a", "a"], [4, 3, 2, 1], 3).Slots);
    }

    [Fact]
    public void Uniform_picks_within_strata_fill_each_kinds_slots_and_depend_only_on_the_seed()
    {
        var q = BatchSelector.Strata(Kinds, Scores, 5); // slots 2, 2, 1
        var pick = BatchSelector.WithinStrataAtRandom(q, new Random(4));
        Assert.Equal(5, pick.Length);
        Assert.Equal(5, pick.Distinct().Count());
        Assert.Equal([2, 2, 1], Enumerable.Range(0, 3).Select(g => pick.Count(i => q.Stratum[i] == g)));
        Assert.Equal(pick, BatchSelector.WithinStrataAtRandom(q, new Random(4)));
        // not by score: over seeds every rattle is drawn, not only the two highest
        var rattles = Enumerable.Range(0, 100).SelectMany(k => BatchSelector.WithinStrataAtRandom(q, new Random(k))).Where(i => q.Stratum[i] == 1).ToHashSet();
        Assert.Equal(4, rattles.Count);
    }

    [Fact]
    public void Random_crystals_of_all_space_groups_are_one_kind()
    {
        var a = Crystals.Diamond("Si", 5.43); a.Group = "random_227";
        var b = Crystals.Diamond("Si", 5.43); b.Group = "random_12";
        var c = Crystals.Diamond("Si", 5.43); c.Group = "surface_110";
        var d = Crystals.Diamond("Si", 5.43); d.Group = null;
        Assert.Equal(["random", "random", "surface_110", "other"], new[] { a, b, c, d }.Select(BatchSelector.Kind));
    }

    [Fact]
    public void Score_ranked_batches_keep_to_the_slots_and_are_deterministic()
    {
        var fp = Scores.Select((_, i) => new double[] { i }).ToList();
        // without strata the two surfaces and the top rattles take the batch
        Assert.Equal([9, 8, 7, 6, 5], BatchSelector.Active(Scores, fp, 5, 0));
        var q = BatchSelector.Strata(Kinds, Scores, 5);
        var pick = BatchSelector.Active(Scores, fp, 5, 0, q);
        Assert.Equal([9, 7, 6, 3, 2], pick);
        Assert.Equal(pick, BatchSelector.Active(Scores, fp, 5, 0, BatchSelector.Strata(Kinds, Scores, 5)));
        // near-duplicates inside a stratum are skipped first, then the stratum's slots are filled by score
        var same = Scores.Select(_ => new double[] { 0 }).ToList();
        Assert.Equal([9, 7, 6, 3, 2], BatchSelector.Active(Scores, same, 5, 0.1, q));
    }

    /// <summary>A one-dimensional stand-in for active sets: γ = distance to the nearest known value.</summary>
    private sealed class LineSets(IReadOnlyList<double> known) : IActiveSets
    {
        public double MaxGrade(AtomVectors atoms) => atoms.Values.Max(v => known.Min(k => Math.Abs(v - k)));
        public IActiveSets With(AtomVectors atoms) => new LineSets([.. known, .. atoms.Values]);
    }

    private static AtomVectors One(double v) => new([0], [v], [0, 1]);

    [Fact]
    public void Greedy_d_optimal_batches_keep_to_the_slots()
    {
        var sets = new LineSets([0]);
        var candidates = new[] { 10, 9.9, 5, 1, 1.1 }.Select(One).ToList();
        // unconstrained: 10, then 5 (9.9 is now 0.1 from a known value)
        Assert.Equal([0, 2], BatchSelector.DOptimal(sets, candidates, 2));
        // ranks 5, 4, 3 (x: mean 0.8, weight 3.9) and 1, 2 (y: mean 0.3, weight 1.6): shares 1.42 / 0.58 -> one slot each
        var q = BatchSelector.Strata(["x", "x", "x", "y", "y"], [10, 9.9, 5, 1, 1.1], 2);
        Assert.Equal([1, 1], q.Slots);
        Assert.Equal([0, 4], BatchSelector.DOptimal(sets, candidates, 2, q));
    }

    [Fact]
    public void The_random_share_comes_from_the_candidates_not_yet_picked_and_depends_only_on_the_seed()
    {
        var a = BatchSelector.RandomRest(10, [3, 7], 4, new Random(5));
        Assert.Equal(4, a.Length);
        Assert.Equal(4, a.Distinct().Count());
        Assert.DoesNotContain(3, a);
        Assert.DoesNotContain(7, a);
        Assert.All(a, i => Assert.InRange(i, 0, 9));
        Assert.Equal(a, BatchSelector.RandomRest(10, [3, 7], 4, new Random(5)));
        // fewer left than asked: all of them
        Assert.Equal([2], BatchSelector.RandomRest(3, [0, 1], 5, new Random(1)));
        // over many seeds every remaining candidate is drawn
        var seen = Enumerable.Range(0, 200).SelectMany(k => BatchSelector.RandomRest(10, [3, 7], 2, new Random(k))).ToHashSet();
        Assert.Equal(8, seen.Count);
    }

    [Fact]
    public void Md_waits_until_a_labelled_structure_has_forces()
    {
        var crystal = Crystals.Diamond("Si", 5.431);
        crystal.Energy = -34.7; crystal.Forces = new Vec3[crystal.Count];
        Assert.False(Explorer.ModelHasSeenForces([crystal]));
        var rattled = crystal.Clone();
        rattled.Forces![2] = new Vec3(0, 0.05, 0);
        Assert.True(Explorer.ModelHasSeenForces([crystal, rattled]));
        // and the explorer proposes no MD snapshot before that (only the other operations)
        string dir = TestPaths.TempDir();
        string path = Path.Combine(dir, "m.yaml");
        File.WriteAllText(path, "element: Si\nreference: sw\nexplore:\n  md: {temperatures: [300], steps: 20, snapshots: 2, cells: 1}\n  rattle: {count: 3}\n");
        var c = LearnConfig.Load(path);
        var model = ClassicalPotentials.Parse("sw");
        var none = Explorer.Candidates(c, ExplorationSeeds.From(c), model, [crystal], new Random(1));
        Assert.Equal(3, none.Count);
        Assert.All(none, s => Assert.Equal("rattle", s.Group));
        var some = Explorer.Candidates(c, ExplorationSeeds.From(c), model, [crystal, rattled], new Random(1));
        Assert.Contains(some, s => s.Group is { } g && g.StartsWith("md", StringComparison.Ordinal));
    }

    [Fact]
    public void The_shortest_distance_counts_periodic_images()
    {
        Assert.Equal(5.43 * Math.Sqrt(3) / 4, BatchSelector.ShortestDistance(Crystals.Diamond("Si", 5.43)), 10);
        Assert.Equal(3.61 / Math.Sqrt(2), BatchSelector.ShortestDistance(Crystals.Fcc("Cu", 3.61)), 10);
        var squeezed = Crystals.Fcc("Cu", 3.61);
        var p = squeezed.Positions[1];
        squeezed.Positions[1] = squeezed.Positions[0] + 0.6 * (p - squeezed.Positions[0]);
        Assert.Equal(0.6 * 3.61 / Math.Sqrt(2), BatchSelector.ShortestDistance(squeezed), 10);
    }

    [Fact]
    public void I_optimal_batches_weigh_the_unknown_directions_by_the_pool_and_keep_to_the_slots()
    {
        // training atoms [1, 0] and [0, 1] (A = I); candidate 0 lies far out along x, candidates 1..20 are typical, along y.
        // Pool S = diag(9, 20). Gain of z: zᵀ M S M z / (1 + zᵀ M z) with M = A⁻¹: [3, 0] -> 81 / 10 = 8.1, [0, 1] -> 20 / 2 = 10,
        // so the typical one goes first (D-optimality, max γ, takes the outlier: γ 3 against 1). After it A = diag(1, 2): another
        // y gains 20 / 4 / 1.5 = 3.3 < 8.1, so the outlier is second.
        var training = new[] { Vec(0, 1, 0), Vec(0, 0, 1) };
        var candidates = new List<AtomVectors> { Vec(0, 3, 0) };
        for (int i = 0; i < 20; i++) candidates.Add(Vec(0, 0, 1));
        Assert.Equal([1, 0], PoolVariance.Select(training, candidates, 2));
        Assert.Equal([1, 0, 2], PoolVariance.Select(training, candidates, 3));
        // slots: only the y kind -> two of its members, in index order (ties)
        var stratum = Enumerable.Range(0, candidates.Count).Select(i => i == 0 ? 0 : 1).ToArray();
        Assert.Equal([1, 2], PoolVariance.Select(training, candidates, 2, new BatchSelector.Quota(stratum, [0, 2])));
        Assert.Equal([0], PoolVariance.Select(training, candidates, 1, new BatchSelector.Quota(stratum, [1, 0])));
        // keys are separate models: the same vectors under another key (an element without training atoms) gain the most
        var other = new List<AtomVectors>(candidates) { Vec(1, 0, 1) };
        Assert.Equal(21, PoolVariance.Select(training, other, 1)[0]);
        Assert.Equal(PoolVariance.Select(training, candidates, 5), PoolVariance.Select(training, candidates, 5));
    }

    [Fact]
    public void I_optimal_and_the_ace_grade_are_read_and_checked_at_their_line()
    {
        string dir = TestPaths.TempDir();
        string path = Path.Combine(dir, "s.yaml");
        Assert.False(LearnConfig.Load(WriteDefault(dir)).IOptimalBatch);
        Assert.Null(LearnConfig.Load(WriteDefault(dir)).AceGrade);
        File.WriteAllText(path, "element: Si\nreference: sw\nselect: {i_optimal: true, grade: linear}\n");
        var c = LearnConfig.Load(path);
        Assert.True(c.IOptimalBatch);
        Assert.Equal(Mlip.Models.Ace.AceGradeKind.Linear, c.AceGrade);
        File.WriteAllText(path, "element: Si\nreference: sw\nselect:\n  grade: quadratic\n");
        var e = Assert.Throws<Mlip.Validation.FileFormatException>(() => LearnConfig.Load(path));
        Assert.Contains("s.yaml:4", e.Message);
        Assert.Contains("select.grade", e.Message);
    }

    private static AtomVectors Vec(int key, params double[] x) => AtomVectors.Uniform([key], x, x.Length);

    [Fact]
    public void Strata_and_the_closest_approach_guard_are_read_and_checked_at_their_line()
    {
        string dir = TestPaths.TempDir();
        string path = Path.Combine(dir, "s.yaml");
        File.WriteAllText(path, "element: Si\nreference: sw\nexplore:\n  min_pair_ratio: 0.7\n  rattle: {count: 4}\nselect: {strata: true}\n");
        var c = LearnConfig.Load(path);
        Assert.True(c.Strata);
        File.WriteAllText(path, "element: Si\nreference: sw\nselect: {random_share: 2}\n");
        Assert.Contains("random_share", Assert.Throws<Mlip.Validation.FileFormatException>(() => LearnConfig.Load(path)).Message);
        File.WriteAllText(path, "element: Si\nreference: sw\nselect: {random_share: 0.25}\n");
        Assert.Equal(0.25, LearnConfig.Load(path).RandomShare);
        File.WriteAllText(path, "element: Si\nreference: sw\nselect: {strata: true, within: random}\n");
        Assert.True(LearnConfig.Load(path).WithinStrataAtRandom);
        File.WriteAllText(path, "element: Si\nreference: sw\nselect: {within: sometimes}\n");
        Assert.Contains("select.within", Assert.Throws<Mlip.Validation.FileFormatException>(() => LearnConfig.Load(path)).Message);
        Assert.Equal(0.7, c.MinPairRatio);
        File.WriteAllText(path, "element: Si\nreference: sw\nexplore:\n  min_pair_ratio: 1.5\n");
        var e = Assert.Throws<Mlip.Validation.FileFormatException>(() => LearnConfig.Load(path));
        Assert.Contains("s.yaml:4", e.Message);
        Assert.Contains("min_pair_ratio", e.Message);
        Assert.False(LearnConfig.Load(WriteDefault(dir)).Strata);
    }

    private static string WriteDefault(string dir)
    {
        string path = Path.Combine(dir, "d.yaml");
        File.WriteAllText(path, "element: Si\nreference: sw\n");
        return path;
    }
}
