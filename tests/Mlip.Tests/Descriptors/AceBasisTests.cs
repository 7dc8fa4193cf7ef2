using Mlip.Descriptors.Ace;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Structures;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.Descriptors;

/// <summary>
/// The linear ACE basis: the number of independent couplings against known invariant counts, exact
/// per-pair derivatives against finite differences (two elements, forces and stress), rotation/translation/
/// permutation invariance, and the C-tilde form of a linear model giving the same energies and forces
/// through the PACE evaluator, also after writing and reading .yace and .ace.
/// </summary>
public class AceBasisTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(new[] { 2, 2 }, new[] { 0, 0 }, 1)]            // |Q|²
    [InlineData(new[] { 2, 2, 2 }, new[] { 0, 0, 0 }, 1)]      // tr Q³
    [InlineData(new[] { 2, 2, 2, 2 }, new[] { 0, 0, 0, 0 }, 1)] // (tr Q²)², tr Q⁴ dependent for 3x3 traceless
    [InlineData(new[] { 1, 1, 1, 1 }, new[] { 0, 1, 2, 3 }, 3)] // (a·b)(c·d), (a·c)(b·d), (a·d)(b·c)
    [InlineData(new[] { 1, 1, 1, 1 }, new[] { 0, 0, 0, 0 }, 1)] // (a·a)²
    [InlineData(new[] { 1, 1, 2 }, new[] { 0, 0, 1 }, 1)]       // a·Q·a
    [InlineData(new[] { 1, 1, 2 }, new[] { 0, 1, 2 }, 1)]       // a·Q·b
    [InlineData(new[] { 1, 2, 3 }, new[] { 0, 1, 2 }, 1)]
    public void IndependentCouplingsMatchInvariantCounts(int[] ls, int[] groups, int expected)
    {
        var (_, c) = AceCouplings.Independent(ls, groups);
        Assert.Equal(expected, c.Count);
    }

    private static AceBasisDescriptor Small(string[] elements, string radial = "SBessel") => new(new AceBasisSpec
    {
        Elements = elements, Cutoff = 4.2, RadialBasis = radial, Lambda = 3.0, MaxRank = 4, NMax = [4, 3, 2, 1], LMax = [0, 2, 2, 1],
    });

    [Fact]
    public void DerivativesMatchFiniteDifferencesTwoElements()
    {
        var d = Small(["Cu", "Ni"]);
        output.WriteLine($"{d.FeatureCount} functions");
        var s = DescriptorTestKit.RandomCell(3, ["Cu", "Ni"], atoms: 6, minDistance: 1.9, length: 4.6);
        DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(d, s, seed: 5, relTol: 1e-6, h: 1e-5);
        DescriptorTestKit.AssertInvariances(d, s, seed: 7);
    }

    [Fact]
    public void LinearModelInCTildeFormIsTheSamePotential()
    {
        var d = Small(["Cu", "Ni"], "ChebExpCos");
        int k = d.FeatureCount;
        var rng = new Random(11);
        double[][] coeff = [.. Enumerable.Range(0, 2).Select(_ => Enumerable.Range(0, k + 1).Select(_ => rng.NextDouble() - 0.5).ToArray())];
        var mean = Enumerable.Range(0, k).Select(_ => rng.NextDouble()).ToArray();
        var scale = Enumerable.Range(0, k).Select(_ => 0.5 + rng.NextDouble()).ToArray();
        var linear = new Potential(d, new PolynomialModel(1, [29, 28], k, coeff, mean, scale), new DescriptorSpec("ace", new Dictionary<string, string>()));
        var basis = AceLinearExport.ToCTilde(linear);
        var s = DescriptorTestKit.RandomCell(4, ["Cu", "Ni"], atoms: 8, minDistance: 1.9, length: 5.0);
        // the reference: the linear model on the descriptor's values and per-pair derivative blocks (no C-tilde form)
        var set = d.Compute(s, derivatives: true);
        var atomEnergies = new double[s.Count];
        var dEdX = new double[s.Count * k];
        linear.Model.Evaluate(set.Values, s.AtomicNumbers, atomEnergies, dEdX);
        var (blockForces, blockStress) = ForceContraction.Contract(set, dEdX, s.Volume);
        var a = new Mlip.Calculators.CalculatorResult(atomEnergies.Sum(), blockForces, blockStress);
        string dir = TestPaths.TempDir();
        // "potential": the linear Potential itself, which evaluates through its C-tilde form
        foreach (var name in new[] { "direct", "potential", "fit.yace", "fit.ace" })
        {
            Potential pace;
            if (name == "direct") pace = AcePotential.Create(basis);
            else if (name == "potential") pace = linear;
            else
            {
                var path = Path.Combine(dir, name);
                AcePotential.Save(path, basis);
                pace = ModelFile.Load(path);
            }
            var b = pace.Calculate(s);
            output.WriteLine($"{name}: E linear {a.Energy:R} C-tilde {b.Energy:R}");
            Assert.True(Math.Abs(a.Energy - b.Energy) < 1e-10 * Math.Max(1, Math.Abs(a.Energy)), $"{name}: energy {b.Energy:R} vs {a.Energy:R}");
            double fmax = a.Forces!.Max(f => f.Norm);
            for (int i = 0; i < s.Count; i++) Assert.True((a.Forces![i] - b.Forces![i]).Norm < 1e-10 * fmax, $"{name}: force {i}");
            var sa = a.Stress!.Value.ToVoigt(); var sb = b.Stress!.Value.ToVoigt();
            for (int q = 0; q < 6; q++) Assert.True(Math.Abs(sa[q] - sb[q]) < 1e-10 * sa.Max(Math.Abs), $"{name}: stress {q}");
        }
    }
}
