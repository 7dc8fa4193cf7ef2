using Mlip.Descriptors;
using Mlip.Neighbors;
using Mlip.Structures;

namespace Mlip.Tests.Descriptors;

public class EadTests
{
    private static EadParameters Params(CutoffKind fc, int lmax, EadConvention convention = EadConvention.PyXtalFF, double rc = 4.0) => new()
    {
        Cutoff = rc,
        CutoffFunction = fc,
        Lmax = lmax,
        Eta = [0.36, 0.1],
        Rs = [0, 1.5, 3.0],
        Elements = ["Si", "O"],
        Convention = convention,
    };

    public static TheoryData<CutoffKind, int, EadConvention> Cases()
    {
        var data = new TheoryData<CutoffKind, int, EadConvention>();
        foreach (var fc in Enum.GetValues<CutoffKind>())
            for (int l = 0; l <= Ead.MaxL; l++)
                foreach (var c in Enum.GetValues<EadConvention>())
                    data.Add(fc, l, c);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForcesAndStressEqualFiniteDifferences(CutoffKind fc, int lmax, EadConvention convention)
    {
        var d = new Ead(Params(fc, lmax, convention));
        var s = DescriptorTestKit.RandomCell(31 + 4 * (int)fc + lmax, ["Si", "O"], atoms: 7);
        DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(d, s, seed: 5 + lmax);
    }

    [Fact]
    public void ForcesWithCustomWeightsAndThePyXtalFF30Setting()
    {
        var weighted = new Ead(Params(CutoffKind.Polynomial2, 3) with { Weights = [0.7, -1.3] });
        DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(weighted, DescriptorTestKit.RandomCell(8, ["Si", "O"], atoms: 6), seed: 2);
        var si = Crystals.Rattle(Crystals.Diamond("Si", 5.431), 0.1, 7);
        DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(new Ead(EadParameters.PyXtalFF30()), si, seed: 9);
    }

    [Fact]
    public void AtomsNearTheCutoff()
    {
        // a neighbour 1e-3 Å inside the cutoff and one 1e-3 Å outside: derivatives stay exact
        var cell = Matrix3.Diagonal(9, 9.5, 10);
        var pos = new[] { new Vec3(1, 1, 1), new Vec3(1 + 3.999, 1, 1), new Vec3(1, 1 + 4.001, 1), new Vec3(2.2, 2.1, 1.3), new Vec3(3.0, 0.2, 2.0) };
        var s = new Structure(cell, pos, [14, 8, 14, 8, 14], PeriodicFlags.All);
        foreach (var fc in Enum.GetValues<CutoffKind>())
            DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(new Ead(Params(fc, 3)), s, seed: 3, h: 1e-6);
    }

    [Theory]
    [InlineData(EadConvention.PyXtalFF)]
    [InlineData(EadConvention.Paper)]
    public void Invariances(EadConvention convention)
    {
        var d = new Ead(Params(CutoffKind.Cosine, 3, convention));
        var s = DescriptorTestKit.RandomCell(99, ["Si", "O"], atoms: 9);
        DescriptorTestKit.AssertInvariances(d, s, seed: 4);
    }

    [Fact]
    public void FeatureCountAndNames()
    {
        var d = new Ead(Params(CutoffKind.Cosine, 3));
        Assert.Equal(4 * 2 * 3, d.FeatureCount);
        Assert.Equal(d.FeatureCount, d.FeatureNames.Count);
        Assert.Equal(d.FeatureCount, d.FeatureNames.Distinct().Count());
        // L outermost, then eta, then Rs (PyXtal_FF's order)
        Assert.Equal("EAD(L=0,eta=0.36,Rs=0)", d.FeatureNames[0]);
        Assert.Equal("EAD(L=0,eta=0.36,Rs=1.5)", d.FeatureNames[1]);
        Assert.Equal("EAD(L=0,eta=0.1,Rs=0)", d.FeatureNames[3]);
        Assert.Equal("EAD(L=1,eta=0.36,Rs=0)", d.FeatureNames[6]);
        Assert.Equal("EAD(L=3,eta=0.1,Rs=3)", d.FeatureNames[^1]);
        Assert.Equal("ead", d.Name);

        // PyXtal_FF's EAD-30: L 2, one eta, ten shifts 0..4.5, rc 4.9
        var p = EadParameters.PyXtalFF30();
        var e30 = new Ead(p);
        Assert.Equal(30, e30.FeatureCount);
        Assert.Equal(4.9, e30.Cutoff);
        Assert.Equal([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5], p.Rs);
        Assert.Equal(30, new Ead(new EadParameters()).FeatureCount);
    }

    [Fact]
    public void DimerByHand()
    {
        // Si dimer, r = 2: S_{lx,ly,lz} = Z g x^lx y^ly z^lz with g = exp(-eta (r-Rs)^2) fc(r), and by the
        // multinomial theorem Σ_{lx+ly+lz=n} S²/(lx! ly! lz!) = Z² g² r^(2n) / n!, so in PyXtal_FF's convention
        // X_0 = Z² g², X_1 = (1/Rc²) Z² g² (1 + r²), X_2 = (2/Rc⁴) Z² g² (1 + r² + r⁴/2).
        var s = new Structure(Matrix3.Diagonal(20, 20, 20), [new Vec3(0, 0, 0), new Vec3(2, 0, 0)], [14, 14], PeriodicFlags.All);
        var p = new EadParameters { Cutoff = 5, Lmax = 2, Eta = [0.5], Rs = [1.0], Elements = ["Si"] };
        var x = new Ead(p).Compute(s, false).Values;
        double g = 14 * Math.Exp(-0.5 * 1.0) * 0.5 * (Math.Cos(Math.PI * 2 / 5) + 1);
        double g2 = g * g;
        Assert.Equal(g2, x[0], 10);
        Assert.Equal(g2 * (1 + 4) / 25, x[1], 10);
        Assert.Equal(2 * g2 * (1 + 4 + 8) / 625, x[2], 10);
        for (int f = 0; f < 3; f++) Assert.Equal(x[f], x[3 + f], 12);

        // the paper's convention: X_L = Z² g² r^(2L)
        var xp = new Ead(p with { Convention = EadConvention.Paper }).Compute(s, false).Values;
        Assert.Equal(g2, xp[0], 10);
        Assert.Equal(g2 * 4, xp[1], 10);
        Assert.Equal(g2 * 16, xp[2], 10);
    }

    [Fact]
    public void TrimerByHand()
    {
        // centre Si at the origin with an O at r1 and a Si at r2 (and no other pair inside the cutoff seen from the centre):
        // Σ_{lx+ly+lz=L} L!/(lx! ly! lz!) S² = a² r1^(2L) + b² r2^(2L) + 2ab (r1·r2)^L with a = 8 g(r1), b = 14 g(r2)
        var r1 = new Vec3(1.1, 0.9, -0.4);
        var r2 = new Vec3(-0.3, 1.6, 0.8);
        var s = new Structure(Matrix3.Diagonal(30, 30, 30), [new Vec3(0, 0, 0), r1, r2], [14, 8, 14], PeriodicFlags.All);
        var p = new EadParameters
        {
            Cutoff = 4.5, CutoffFunction = CutoffKind.Polynomial3, Lmax = 3, Eta = [0.2], Rs = [0.5],
            Elements = ["Si", "O"], Convention = EadConvention.Paper,
        };
        var fc = new CutoffFunction(CutoffKind.Polynomial3, 4.5);
        double G(Vec3 v) => Math.Exp(-0.2 * (v.Norm - 0.5) * (v.Norm - 0.5)) * fc.Value(v.Norm);
        double a = 8 * G(r1), b = 14 * G(r2);
        double d11 = Vec3.Dot(r1, r1), d22 = Vec3.Dot(r2, r2), d12 = Vec3.Dot(r1, r2);
        var x = new Ead(p).Compute(s, false).Of(0);
        for (int l = 0; l <= 3; l++)
        {
            double expected = a * a * Math.Pow(d11, l) + b * b * Math.Pow(d22, l) + 2 * a * b * Math.Pow(d12, l);
            Assert.True(Math.Abs(x[l] - expected) <= 1e-12 * Math.Abs(expected), $"L={l}: {x[l]} vs {expected}");
        }

        // PyXtal_FF's convention is the cumulative mix X_L = (L!/Rc^(2L)) Σ_{n≤L} ρ_n / n! of the paper's ρ_n
        var y = new Ead(p with { Convention = EadConvention.PyXtalFF }).Compute(s, false).Of(0);
        double sum = 0, fact = 1;
        for (int l = 0; l <= 3; l++)
        {
            if (l > 0) fact *= l;
            sum += x[l] / fact;
            double expected = fact / Math.Pow(4.5, 2 * l) * sum;
            Assert.True(Math.Abs(y[l] - expected) <= 1e-12 * Math.Abs(expected), $"L={l}: {y[l]} vs {expected}");
        }
    }

    [Fact]
    public void ReusedLongerNeighbourListGivesTheSameResult()
    {
        var d = new Ead(Params(CutoffKind.Tanh, 2));
        var s = DescriptorTestKit.RandomCell(5, ["Si", "O"], atoms: 8);
        var own = d.Compute(s, true);
        var nl = NeighborList.Build(s, 5.5);
        var reused = d.Compute(s, true, nl);
        DescriptorTestKit.AssertSameFeatures(own, reused, tol: 1e-14);
        var w = DescriptorTestKit.RandomWeights(s.Count * d.FeatureCount, 1);
        var (f1, s1) = Mlip.Models.ForceContraction.Contract(own, w, s.Volume);
        var (f2, s2) = Mlip.Models.ForceContraction.Contract(reused, w, s.Volume);
        for (int i = 0; i < s.Count; i++) Assert.True((f1[i] - f2[i]).Norm < 1e-10);
        var v1 = s1!.Value.ToVoigt(); var v2 = s2!.Value.ToVoigt();
        for (int q = 0; q < 6; q++) Assert.Equal(v1[q], v2[q], 10);
    }

    [Fact]
    public void UnknownElementIsReported() =>
        DescriptorTestKit.AssertUnknownElementIsReported(new Ead(new EadParameters { Elements = ["Si"] }), "Si", "O");

    [Fact]
    public void BadParametersAreRejected()
    {
        Assert.Throws<Mlip.Validation.MlipException>(() => new Ead(new EadParameters { Lmax = 4 }));
        Assert.Throws<Mlip.Validation.MlipException>(() => new Ead(new EadParameters { Lmax = -1 }));
        Assert.Throws<Mlip.Validation.MlipException>(() => new Ead(new EadParameters { Eta = [] }));
        Assert.Throws<Mlip.Validation.MlipException>(() => new Ead(new EadParameters { Rs = [] }));
        Assert.Throws<Mlip.Validation.MlipException>(() => new Ead(new EadParameters { Cutoff = 0 }));
        Assert.Throws<Mlip.Validation.MlipException>(() => new Ead(new EadParameters { Elements = ["Si", "O"], Weights = [1] }));
        Assert.Throws<Mlip.Validation.MlipException>(() => new Ead(new EadParameters { Elements = ["Si", "Si"] }));
    }

    /// <summary>Values and derivative blocks (parallel over blocks of 16 centres) are the same bits on 1, 2 and 3 threads and on a repeat; 40 atoms cross block borders.</summary>
    [Fact]
    public void ComputeIsTheSameOnAnyThreadCount() =>
        DescriptorTestKit.AssertSameOnAnyThreadCount(new Ead(Params(CutoffKind.Cosine, 3)));
}
