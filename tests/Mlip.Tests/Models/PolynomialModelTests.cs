using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Tests.Descriptors;
using Mlip.Training;

namespace Mlip.Tests.Models;

public class PolynomialModelTests
{
    internal static PolynomialModel RandomModel(int order, int[] elements, int k, int seed)
    {
        var rng = new Random(seed);
        int per = PolynomialModel.CoefficientsPerElement(order, k);
        var c = elements.Select(_ => Enumerable.Range(0, per).Select(_ => (rng.NextDouble() - 0.5) * 0.1).ToArray()).ToArray();
        var mean = Enumerable.Range(0, k).Select(_ => rng.NextDouble()).ToArray();
        var scale = Enumerable.Range(0, k).Select(_ => 0.5 + rng.NextDouble()).ToArray();
        return new PolynomialModel(order, elements, k, c, mean, scale);
    }

    /// <summary>Forces and stress of a potential equal central differences of its energy.</summary>
    internal static void AssertForcesAndStressMatchEnergy(Potential p, Structure s, double relTol = 1e-6, double h = 1e-5)
    {
        var r = p.Calculate(s);
        FiniteDifferences.AssertMatch(p.Name, x => p.Calculate(x, false, false).Energy, s, r.Forces!, r.Stress, relTol, h);
    }

    [Theory]
    [InlineData(1, "so4")]
    [InlineData(2, "so4")]
    [InlineData(1, "acsf")]
    [InlineData(2, "so3")]
    [InlineData(2, "ead")]
    public void ForcesAndStressAreDerivativesOfTheEnergy(int order, string descriptor)
    {
        var spec = new DescriptorSpec(descriptor, descriptor switch
        {
            "so4" => new Dictionary<string, string> { ["twojmax"] = "4", ["rcutfac"] = "3.5" },
            "so3" => new Dictionary<string, string> { ["rcutfac"] = "4.0", ["nmax"] = "3", ["lmax"] = "2" },
            "acsf" => new Dictionary<string, string> { ["rc"] = "4.0", ["g2_centred"] = "3" },
            _ => new Dictionary<string, string> { ["rc"] = "4.0", ["lmax"] = "2", ["rs"] = "0,1,2" },
        });
        var d = spec.Create(["O", "Si"]);
        var model = RandomModel(order, [8, 14], d.FeatureCount, 3);
        var p = new Potential(d, model, spec);
        var s = DescriptorTestKit.RandomCell(21, ["Si", "O"], atoms: 6);
        AssertForcesAndStressMatchEnergy(p, s);
    }

    [Fact]
    public void RefusesUnknownElements()
    {
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "2" });
        var d = spec.Create(["Si", "O"]);
        var p = new Potential(d, RandomModel(1, [14], d.FeatureCount, 1), spec);
        var s = DescriptorTestKit.RandomCell(2, ["Si", "O"], atoms: 4);
        s.Source = new Mlip.Validation.InputLocation("data.xyz", null, 5);
        var e = Assert.Throws<Mlip.Validation.MlipInputException>(() => p.Calculate(s));
        Assert.Contains("trained on Si", e.Message);
        Assert.Contains("cannot handle O", e.Message);
        Assert.Contains("structure 5", e.Message);
    }

    [Fact]
    public void FitRecoversAKnownQuadraticModel()
    {
        // labels made by a known quadratic model: the fit must give back its predictions exactly
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "2", ["rcutfac"] = "3.0" });
        var d = spec.Create(["O", "Si"]);
        var truth = new Potential(d, RandomModel(2, [8, 14], d.FeatureCount, 9), spec);
        var data = Enumerable.Range(0, 30).Select(i =>
        {
            var s = DescriptorTestKit.RandomCell(100 + i, ["Si", "O"], atoms: 5, length: 5.0);
            var r = truth.Calculate(s);
            s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
            return s;
        }).ToList();
        var set = TrainingSet.Compute(d, data, true, 2);
        var (model, report) = PolynomialFit.Fit(set, new PolynomialFitOptions { Order = 2, Ridge = 1e-9, Weights = new LossWeights { Energy = 1, Force = 1, Stress = 1 } }, new ManagedLeastSquares());
        Assert.True(report.WeightedResidual < 1e-8, $"residual {report.WeightedResidual}");
        var fitted = new Potential(d, model, spec);
        var probe = DescriptorTestKit.RandomCell(999, ["Si", "O"], atoms: 5, length: 5.0);
        var a = truth.Calculate(probe); var b = fitted.Calculate(probe);
        // equal up to the bias of the tiny ridge (1e-9)
        Assert.Equal(a.Energy, b.Energy, 7);
        for (int i = 0; i < probe.Count; i++) Assert.True((a.Forces![i] - b.Forces![i]).Norm < 1e-6);
    }
}
