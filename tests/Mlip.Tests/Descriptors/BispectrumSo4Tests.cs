using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Structures;

namespace Mlip.Tests.Descriptors;

public class BispectrumSo4Tests
{
    internal static So4Parameters TwoElements(int twojmax) => new()
    {
        TwoJMax = twojmax,
        RcutFac = 3.6,
        Elements = [new So4Element("Si", 0.5, 1.0), new So4Element("O", 0.42, 0.7)],
    };

    [Theory]
    [InlineData(6, 30)]
    [InlineData(8, 55)]
    [InlineData(10, 91)]
    public void ComponentCountsMatchLammps(int twojmax, int count)
    {
        Assert.Equal(count, So4Parameters.ComponentCount(twojmax));
        var d = new BispectrumSo4(new So4Parameters { TwoJMax = twojmax });
        Assert.Equal(count, d.FeatureCount);
        Assert.Equal((0, 0, 0), d.Component(0));
        Assert.Equal("B[0,0,0]", d.FeatureNames[0]);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    [InlineData(8)]
    public void ForcesAndStressEqualFiniteDifferences(int twojmax)
    {
        var d = new BispectrumSo4(TwoElements(twojmax));
        var s = DescriptorTestKit.RandomCell(31 + twojmax, ["Si", "O"], atoms: 6);
        DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(d, s, seed: 7);
    }

    [Fact]
    public void WithoutSwitchingOrBzero()
    {
        var p = TwoElements(4) with { SwitchFlag = false, BzeroFlag = false, Rmin0 = 0.2 };
        var s = DescriptorTestKit.RandomCell(5, ["Si", "O"], atoms: 6);
        DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(new BispectrumSo4(p) , s, seed: 2);
    }

    [Fact]
    public void QuadraticFeaturesAndTheirDerivatives()
    {
        var p = TwoElements(4) with { QuadraticFlag = true };
        var d = new BispectrumSo4(p);
        int nb = d.LinearCount;
        Assert.Equal(nb + nb * (nb + 1) / 2, d.FeatureCount);
        var s = DescriptorTestKit.RandomCell(8, ["Si", "O"], atoms: 6);
        DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(d, s, seed: 4);
        var x = d.Compute(s, false).Of(2).ToArray();
        Assert.Equal(0.5 * x[0] * x[0], x[nb], 14);
        Assert.Equal(x[0] * x[1], x[nb + 1], 14);
        Assert.Equal(0.5 * x[1] * x[1], x[nb + nb], 14);
    }

    [Fact]
    public void Invariances()
    {
        var d = new BispectrumSo4(TwoElements(6));
        var s = DescriptorTestKit.RandomCell(77, ["Si", "O"], atoms: 8);
        DescriptorTestKit.AssertInvariances(d, s, seed: 9);
    }

    [Theory]
    [InlineData(6, false)]
    [InlineData(8, false)]
    [InlineData(6, true)]
    public void AdjointForcesEqualFullDerivatives(int twojmax, bool quadratic)
    {
        var d = new BispectrumSo4(TwoElements(twojmax) with { QuadraticFlag = quadratic });
        var s = DescriptorTestKit.RandomCell(3, ["Si", "O"], atoms: 10);
        var beta = DescriptorTestKit.RandomWeights(s.Count * d.FeatureCount, 11);
        var set = d.Compute(s, derivatives: true);
        var (full, fullStress) = ForceContraction.Contract(set, beta, s.Volume);
        var (adj, adjStress) = d.ForcesFromAdjoint(s, beta);
        double scale = full.Max(f => f.Norm);
        for (int i = 0; i < s.Count; i++) Assert.True((full[i] - adj[i]).Norm <= 1e-10 * scale, $"atom {i}: {full[i]} vs {adj[i]}");
        var a = fullStress!.Value.ToVoigt(); var b = adjStress!.Value.ToVoigt();
        double sscale = a.Max(Math.Abs);
        for (int q = 0; q < 6; q++) Assert.True(Math.Abs(a[q] - b[q]) <= 1e-10 * sscale);
    }

    [Fact]
    public void IsolatedAtomHasZeroBispectrumWithBzero()
    {
        var s = new Structure(Matrix3.Diagonal(30, 30, 30), [new Vec3(1, 1, 1)], [14], PeriodicFlags.All);
        var x = new BispectrumSo4(new So4Parameters { TwoJMax = 6 }).Compute(s, false).Values;
        Assert.All(x, v => Assert.Equal(0.0, v, 14));
        var raw = new BispectrumSo4(new So4Parameters { TwoJMax = 6, BzeroFlag = false }).Compute(s, false).Values;
        var d = new BispectrumSo4(new So4Parameters { TwoJMax = 6 });
        for (int k = 0; k < raw.Length; k++) Assert.Equal(d.Component(k).J + 1, raw[k], 12);
    }

    [Fact]
    public void UnknownElementIsReported() =>
        DescriptorTestKit.AssertUnknownElementIsReported(new BispectrumSo4(new So4Parameters()), "Si", "O");
}
