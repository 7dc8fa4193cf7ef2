using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Structures;

namespace Mlip.Tests.Descriptors;

/// <summary>
/// The multi-range composition: its blocks are the single-cutoff bispectra (scaled by 1/√size), the
/// structure average is the mean over atoms, and its derivative blocks give forces and stress equal to
/// finite differences of an energy built on it.
/// </summary>
public sealed class MultiRangeDescriptorTests
{
    private static Dictionary<string, string> P(params (string, string)[] kv) => kv.ToDictionary(x => x.Item1, x => x.Item2, StringComparer.OrdinalIgnoreCase);

    [Fact]
    public void BlocksAreTheSingleCutoffBispectraAndAverageIsTheMean()
    {
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.43), 1, 1, 2), 0.1, 4);
        var multi = (MultiRangeDescriptor)DescriptorFactory.Create("multi", P(("cutoffs", "3.0,4.5"), ("twojmax", "4"), ("average", "1")), ["Si"]);
        var x = multi.Compute(s, derivatives: false);
        int off = 0, f = multi.FeatureCount, perAtom = f / 2;
        foreach (var rc in new[] { "3.0", "4.5" })
        {
            var single = DescriptorFactory.Create("so4", P(("rcutfac", rc), ("twojmax", "4")), ["Si"]).Compute(s, derivatives: false);
            double scale = 1 / Math.Sqrt(single.Features);
            for (int i = 0; i < s.Count; i++)
                for (int q = 0; q < single.Features; q++)
                    Assert.Equal(scale * single.Of(i)[q], x.Of(i)[off + q], 12);
            off += single.Features;
        }
        Assert.Equal(perAtom, off);
        for (int q = 0; q < perAtom; q++)
        {
            double mean = Enumerable.Range(0, s.Count).Average(i => x.Of(i)[q]);
            for (int i = 0; i < s.Count; i++) Assert.Equal(mean, x.Of(i)[perAtom + q], 12);
        }
        Assert.Throws<Mlip.Validation.MlipException>(() => multi.Compute(s, derivatives: true));
    }

    [Fact]
    public void DerivativeBlocksGiveFiniteDifferenceForcesAndStress()
    {
        var spec = new DescriptorSpec("multi", P(("cutoffs", "2.8,4.0"), ("twojmax", "4")));
        var d = spec.Create(["Si"]);
        var rng = new Random(3);
        var c = new double[1 + d.FeatureCount];
        for (int q = 0; q < c.Length; q++) c[q] = rng.NextDouble() - 0.5;
        var potential = new Potential(d, new PolynomialModel(1, [14], d.FeatureCount, [c]), spec);
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.43), 1, 1, 1), 0.12, 8);
        var r = potential.Calculate(s, forces: true, stress: true);
        FiniteDifferences.AssertMatch("multi-range linear", x => potential.Calculate(x, forces: false, stress: false).Energy, s, r.Forces!, r.Stress, 1e-6, 1e-5);
    }
}
