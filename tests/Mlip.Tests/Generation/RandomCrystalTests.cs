using Mlip.Generation;
using Mlip.Structures;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.Generation;

public class RandomCrystalTests(ITestOutputHelper output)
{
    /// <summary>Multiplicities of the Wyckoff positions, from the International Tables for Crystallography Vol. A.</summary>
    [Theory]
    [InlineData(1, new[] { 1 })]
    [InlineData(2, new[] { 1, 1, 1, 1, 1, 1, 1, 1, 2 })]
    [InlineData(19, new[] { 4 })]
    [InlineData(47, new[] { 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4, 8 })]
    [InlineData(62, new[] { 4, 4, 4, 8 })]
    [InlineData(166, new[] { 3, 3, 6, 9, 9, 18, 18, 18, 36 })]
    [InlineData(191, new[] { 1, 1, 2, 2, 2, 3, 3, 4, 6, 6, 6, 6, 6, 12, 12, 12, 12, 24 })]
    [InlineData(221, new[] { 1, 1, 3, 3, 6, 6, 8, 12, 12, 12, 24, 24, 24, 48 })]
    [InlineData(227, new[] { 8, 8, 16, 16, 32, 48, 96, 96, 192 })]
    [InlineData(230, new[] { 16, 16, 24, 24, 32, 48, 48, 96 })]
    public void Wyckoff_positions_derived_from_the_operations_match_the_international_tables(int number, int[] multiplicities)
    {
        var group = SpaceGroup.Get(number);
        var got = group.WyckoffPositions.Select(w => w.Multiplicity).OrderBy(m => m).ToArray();
        output.WriteLine($"{group}: {string.Join(" ", group.WyckoffPositions)}");
        Assert.Equal(multiplicities, got);
        // every position: a generic point on it has exactly Multiplicity images, and |G| = multiplicity × site order
        var rng = new Random(number);
        var orbit = new List<Vec3>();
        foreach (var w in group.WyckoffPositions)
        {
            var u = new double[w.Dof];
            for (int k = 0; k < u.Length; k++) u[k] = rng.NextDouble();
            RandomCrystalGenerator.Orbit(group, w.Point(u), orbit);
            Assert.Equal(w.Multiplicity, orbit.Count);
            Assert.Equal(group.Operations.Length, w.Multiplicity * w.SiteSymmetryOrder);
        }
    }

    [Fact]
    public void Two_hundred_random_crystals_keep_their_distances_and_have_the_requested_symmetry_or_a_reported_supergroup()
    {
        var rng = new Random(12);
        var generator = new RandomCrystalGenerator();
        string[] pool = ["Si", "C", "O", "Ga", "As", "Mg", "Cu", "Al"];
        int supergroups = 0, tried = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int draw = 0; draw < 200; draw++)
        {
            // a random composition of 1-3 elements and 2-24 atoms, and a random group it fits
            GeneratedCrystal? crystal = null;
            while (crystal is null)
            {
                tried++;
                int nSpecies = rng.Next(1, 4);
                var elements = pool.OrderBy(_ => rng.Next()).Take(nSpecies).ToArray();
                var comp = new Composition(elements.Select(e => (e, rng.Next(1, 9))).ToList());
                int number = rng.Next(1, 231);
                if (!RandomCrystalGenerator.Fits(comp, SpaceGroup.Get(number)))
                {
                    Assert.Throws<CompositionDoesNotFitException>(() => generator.Generate(comp, number, rng));
                    continue;
                }
                crystal = generator.Generate(comp, number, rng);
                Assert.Equal(comp.AtomCount, crystal.Structure.Count);
            }
            var s = crystal.Structure;
            AssertDistances(s, generator.Options.DistanceFraction);
            // spglib, on the structure alone: every requested operation is one of its symmetries (so the detected
            // group is the requested one or a supergroup), and the detected number is reported
            var found = Spglib.Symmetry(s, 1e-3);
            foreach (var op in crystal.Requested.Operations)
                Assert.True(found.Any(f => f.EqualsModuloLattice(op, 1e-3)),
                    $"{crystal.Requested} {crystal.Structure.Info["wyckoff"]}: operation {string.Join(",", op.Rotation)} + {op.Translation} is not a symmetry of the structure; spglib finds {found.Length} operations");
            var (detected, _) = Spglib.DetectSpaceGroup(s, 1e-3);
            Assert.Equal(detected, crystal.DetectedNumber);
            Assert.Equal((long)detected, s.Info["spacegroup_detected"]);
            if (detected != crystal.Requested.Number)
            {
                Assert.True(crystal.IsSupergroup);
                Assert.True(found.Length > crystal.Requested.Operations.Length, "a supergroup has more operations");
                supergroups++;
            }
        }
        output.WriteLine($"200 crystals ({tried} draws) in {clock.Elapsed.TotalSeconds:F1} s; {supergroups} landed in a supergroup");
    }

    [Fact]
    public void A_composition_that_cannot_fit_the_group_is_a_clear_error()
    {
        var generator = new RandomCrystalGenerator();
        var e = Assert.Throws<CompositionDoesNotFitException>(() => generator.Generate(Composition.Parse("Si3"), 227, new Random(1)));
        Assert.Contains("227", e.Message);
        Assert.Equal(8, generator.Generate(Composition.Parse("Si8"), 227, new Random(1)).Structure.Count);
        Assert.Equal([("Ga", 12), ("As", 12)], Composition.Parse("Ga12As12").Species);
        Assert.Throws<Mlip.Validation.UnknownElementException>(() => Composition.Parse("Xx2"));
    }

    private static void AssertDistances(Structure s, double fraction)
    {
        var images = RandomCrystalGenerator.ImageTranslations(s.Cell, 8.0);
        for (int i = 0; i < s.Count; i++)
            for (int j = i; j < s.Count; j++)
            {
                double min = fraction * (CovalentRadii.Of(s.AtomicNumbers[i]) + CovalentRadii.Of(s.AtomicNumbers[j]));
                foreach (var t in images)
                {
                    if (i == j && t.NormSquared == 0) continue;
                    double d = (s.Positions[j] + t - s.Positions[i]).Norm;
                    Assert.True(d >= min - 1e-9, $"{s}: atoms {i},{j} {d:F3} Å apart < {min:F3}");
                }
            }
    }
}
