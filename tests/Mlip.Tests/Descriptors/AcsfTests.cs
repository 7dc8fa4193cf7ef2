using Mlip.Descriptors;
using Mlip.Structures;

namespace Mlip.Tests.Descriptors;

public class AcsfTests
{
    private static AcsfParameters Params(CutoffKind fc, AcsfWeighting weighting, double rc = 4.0) => new()
    {
        Cutoff = rc,
        CutoffFunction = fc,
        Elements = ["Si", "O"],
        Weighting = weighting,
        G2 = [.. AcsfParameters.CentredRadialGrid(3, rc), .. AcsfParameters.ShiftedRadialGrid(3, rc)],
        G4 = AcsfParameters.AngularGrid([0.01, 0.1], [1, 2.5], [1, -1]),
        G5 = AcsfParameters.AngularGrid([0.05], [1, 4], [1, -1]),
    };

    public static TheoryData<CutoffKind, AcsfWeighting> Cases()
    {
        var data = new TheoryData<CutoffKind, AcsfWeighting>();
        foreach (var fc in Enum.GetValues<CutoffKind>())
            foreach (var w in Enum.GetValues<AcsfWeighting>())
                data.Add(fc, w);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForcesAndStressEqualFiniteDifferences(CutoffKind fc, AcsfWeighting weighting)
    {
        var d = new Acsf(Params(fc, weighting));
        var s = DescriptorTestKit.RandomCell(17 + (int)fc, ["Si", "O"], atoms: 7);
        DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(d, s, seed: 5);
    }

    [Fact]
    public void AtomsNearTheCutoff()
    {
        // a neighbour 1e-3 Å inside the cutoff and one 1e-3 Å outside: derivatives stay exact
        var cell = Matrix3.Diagonal(9, 9.5, 10);
        var pos = new[] { new Vec3(1, 1, 1), new Vec3(1 + 3.999, 1, 1), new Vec3(1, 1 + 4.001, 1), new Vec3(2.2, 2.1, 1.3), new Vec3(3.0, 0.2, 2.0) };
        var s = new Structure(cell, pos, [14, 8, 14, 8, 14], PeriodicFlags.All);
        foreach (var fc in Enum.GetValues<CutoffKind>())
            DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(new Acsf(Params(fc, AcsfWeighting.ElementResolved)), s, seed: 3, h: 1e-6);
    }

    [Theory]
    [InlineData(AcsfWeighting.ElementResolved)]
    [InlineData(AcsfWeighting.AtomicNumber)]
    public void Invariances(AcsfWeighting weighting)
    {
        var d = new Acsf(Params(CutoffKind.Cosine, weighting));
        var s = DescriptorTestKit.RandomCell(99, ["Si", "O"], atoms: 9);
        DescriptorTestKit.AssertInvariances(d, s, seed: 4);
    }

    [Fact]
    public void FeatureCountAndNames()
    {
        var p = Params(CutoffKind.Cosine, AcsfWeighting.ElementResolved);
        var d = new Acsf(p);
        // 7 G2 terms x 2 elements + (8 G4 + 4 G5) x 3 element pairs
        Assert.Equal(7 * 2 + 12 * 3, d.FeatureCount);
        Assert.Equal(d.FeatureCount, d.FeatureNames.Count);
        Assert.Equal(d.FeatureCount, d.FeatureNames.Distinct().Count());
        Assert.StartsWith("G2[Si]", d.FeatureNames[0]);
        Assert.Contains(d.FeatureNames, n => n.StartsWith("G4[SiO]"));
        var w = new Acsf(p with { Weighting = AcsfWeighting.AtomicNumber });
        Assert.Equal(7 + 12, w.FeatureCount);
    }

    [Fact]
    public void G2OfADimerByHand()
    {
        // two Si atoms 2.0 Å apart in a big box: G2 = exp(-eta (r - Rs)^2) fc(r)
        var s = new Structure(Matrix3.Diagonal(20, 20, 20), [new Vec3(0, 0, 0), new Vec3(2, 0, 0)], [14, 14], PeriodicFlags.All);
        var p = new AcsfParameters { Cutoff = 5, Elements = ["Si"], G2 = [new RadialTerm(0.5, 1.0)], G4 = [], G5 = [] };
        var x = new Acsf(p).Compute(s, false).Values;
        double expected = Math.Exp(-0.5 * 1.0) * 0.5 * (Math.Cos(Math.PI * 2 / 5) + 1);
        Assert.Equal(expected, x[0], 14);
        Assert.Equal(expected, x[1], 14);
    }

    [Fact]
    public void UnknownElementIsReported() =>
        DescriptorTestKit.AssertUnknownElementIsReported(new Acsf(new AcsfParameters { Elements = ["Si"] }), "Si", "O");

    /// <summary>Values and derivative blocks (parallel over blocks of 16 centres) are the same bits on 1, 2 and 3 threads and on a repeat; 40 atoms cross block borders.</summary>
    [Fact]
    public void ComputeIsTheSameOnAnyThreadCount() =>
        DescriptorTestKit.AssertSameOnAnyThreadCount(new Acsf(Params(CutoffKind.Cosine, AcsfWeighting.ElementResolved)));
}
