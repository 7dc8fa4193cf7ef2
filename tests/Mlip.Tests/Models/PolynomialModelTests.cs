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
        var f = r.Forces!;
        double fmax = f.Max(v => v.Norm);
        for (int i = 0; i < s.Count; i++)
            for (int c = 0; c < 3; c++)
            {
                var plus = s.Clone(); var minus = s.Clone();
                var d = new Vec3(c == 0 ? h : 0, c == 1 ? h : 0, c == 2 ? h : 0);
                plus.Positions[i] += d; minus.Positions[i] -= d;
                double fd = -(p.Calculate(plus, false, false).Energy - p.Calculate(minus, false, false).Energy) / (2 * h);
                Assert.True(Math.Abs(fd - f[i][c]) <= relTol * fmax, $"force {i},{c}: {f[i][c]} vs {fd}");
            }
        var st = r.Stress!.Value.ToVoigt();
        double smax = st.Max(Math.Abs);
        int[][] comps = [[0, 0], [1, 1], [2, 2], [1, 2], [0, 2], [0, 1]];
        for (int q = 0; q < 6; q++)
        {
            int a = comps[q][0], b = comps[q][1];
            var eps = new double[9];
            eps[a * 3 + b] += a == b ? h : h / 2;
            eps[b * 3 + a] += a == b ? 0 : h / 2;
            var ep = Matrix3.FromArray(eps);
            double fd = (p.Calculate(Crystals.Deform(s, ep), false, false).Energy - p.Calculate(Crystals.Deform(s, -1.0 * ep), false, false).Energy)
                        / (2 * h) / s.Volume * Stress.EvPerCubicAngstromInGpa;
            Assert.True(Math.Abs(fd - st[q]) <= relTol * smax, $"stress {q}: {st[q]} vs {fd}");
        }
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
