using System.Diagnostics;
using Mlip.Descriptors;
using Mlip.Descriptors.Ace;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Structures;
using Mlip.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.Models.Ace;

/// <summary>
/// The ACE extrapolation grade (pacemaker's active set and γ): on Cu-PBE-core-rep.ace and on a linear ACE model,
/// the training atoms have γ ≤ 1 (MaxVol's tolerance), the active-set atoms γ = 1, a strongly compressed cell
/// extrapolates, γ does not change under rotation and permutation of the atoms, and the .asi file round-trips.
/// </summary>
public class AceExtrapolationTests(ITestOutputHelper output)
{
    private static List<Structure> CuTraining(int count, int seed)
    {
        var list = new List<Structure>();
        for (int q = 0; q < count; q++)
        {
            double a = 3.56 + 0.14 * q / Math.Max(1, count - 1);
            var s = Crystals.Supercell(Crystals.Fcc("Cu", a), 3, 3, 3);
            list.Add(Crystals.Rattle(s, 0.12, seed + q));
        }
        return list;
    }

    private static Structure Rotated(Structure s, Matrix3 r)
    {
        var pos = s.Positions.Select(p => r * p).ToArray();
        var cell = Matrix3.FromRows(r * s.Cell.Row(0), r * s.Cell.Row(1), r * s.Cell.Row(2));
        return new Structure(cell, pos, [.. s.AtomicNumbers], s.Pbc);
    }

    [Fact]
    public void CuPaceActiveSetBoundsTheTrainingAtomsAndFlagsCompression()
    {
        var p = ModelFile.Load(ManybodyReference.Potential("Cu-PBE-core-rep.ace"));
        var training = CuTraining(14, 11);
        var clock = Stopwatch.StartNew();
        var grade = AceExtrapolation.Build(p, training);
        output.WriteLine($"{training.Sum(s => s.Count)} atoms, {grade.ProjectionLength(0)} projections: active set ({grade.InverseOf("Cu")!.Value.Rows} rows) in {clock.Elapsed.TotalSeconds:F1} s");
        var trainGrades = training.Select(grade.Grades).ToArray();
        double maxTrain = trainGrades.Max(g => g.Max());
        output.WriteLine($"max γ over the training atoms {maxTrain:F6}");
        Assert.True(maxTrain <= 1.002, $"training atom with γ = {maxTrain}");
        double worstActive = grade.ActiveAtoms["Cu"].Max(a => Math.Abs(trainGrades[a.Structure][a.Atom] - 1));
        output.WriteLine($"active-set atoms: max |γ − 1| = {worstActive:E2}");
        Assert.True(worstActive < 1e-4, $"an active-set atom has |γ − 1| = {worstActive}");
        var compressed = Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Cu", 3.1), 2, 2, 2), 0.05, 3);
        double gc = grade.Estimate(compressed).MaxGrade;
        output.WriteLine($"fcc Cu at a = 3.1 Å: max γ {gc:G4}");
        Assert.True(gc > 2, $"compressed cell γ {gc}");

        // invariance: a rotated copy with the atoms in reverse order has the same γ per atom
        var probe = Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Cu", 3.62), 2, 2, 2), 0.15, 99);
        var g0 = grade.Grades(probe);
        double c = Math.Cos(0.7), sn = Math.Sin(0.7);
        var r = Matrix3.FromRows(new Vec3(c, -sn, 0), new Vec3(sn * 0.6, c * 0.6, 0.8), new Vec3(-sn * 0.8, -c * 0.8, 0.6));
        var turned = Rotated(probe, r);
        var reversed = new Structure(turned.Cell, [.. turned.Positions.Reverse()], [.. turned.AtomicNumbers.Reverse()], turned.Pbc);
        var g1 = grade.Grades(reversed);
        double worst = 0;
        for (int i = 0; i < g0.Length; i++) worst = Math.Max(worst, Math.Abs(g0[i] - g1[g0.Length - 1 - i]) / g0[i]);
        output.WriteLine($"probe (a = 3.62 Å, rattled 0.15 Å): max γ {g0.Max():F3}; rotated and permuted: max relative change {worst:E2}");
        Assert.True(worst < 1e-6, $"γ changed by {worst} (relative) under rotation and permutation");

        // the .asi file gives the same grades
        string asi = Path.Combine(TestPaths.TempDir(), "cu.asi");
        grade.Save(asi);
        var loaded = AceExtrapolation.Load(p, asi);
        var g2 = loaded.Grades(probe);
        for (int i = 0; i < g0.Length; i++) Assert.Equal(g0[i], g2[i], 12);
    }

    [Fact]
    public void LinearAceModelGradeBoundsTrainingAndFullEqualsLinear()
    {
        var prm = new Dictionary<string, string> { ["rc"] = "4.5", ["order"] = "3", ["nmax"] = "5,3,2", ["lmax"] = "0,2,1", ["radial"] = "ChebExpCos", ["lambda"] = "3" };
        var spec = new DescriptorSpec("ace", prm);
        var d = (AceBasisDescriptor)spec.Create(["Cu"]);
        int k = d.FeatureCount;
        var rng = new Random(9);
        double[][] coeff = [[-3.5, .. Enumerable.Range(0, k).Select(_ => 0.05 * (rng.NextDouble() - 0.5))]];
        var model = new Potential(d, new PolynomialModel(1, [29], k, coeff), spec);
        var training = new List<Structure>();
        for (int q = 0; q < 6; q++) training.Add(Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Cu", 3.55 + 0.03 * q), 2, 2, 2), 0.15, 20 + q));
        var linear = AceExtrapolation.Build(model, training, AceGradeKind.Linear);
        var full = AceExtrapolation.Build(model, training, AceGradeKind.Full);
        output.WriteLine($"{k} functions, {training.Sum(s => s.Count)} atoms, active set {linear.InverseOf("Cu")!.Value.Rows} rows");
        double maxTrain = training.Max(s => linear.Grades(s).Max());
        Assert.True(maxTrain <= 1.002, $"training atom with γ = {maxTrain}");
        // one density, identity embedding: ∂E/∂c = B, so the full grade is the linear grade
        var probe = Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Cu", 3.45), 2, 2, 2), 0.25, 4);
        var gl = linear.Grades(probe); var gf = full.Grades(probe);
        for (int i = 0; i < gl.Length; i++) Assert.Equal(gl[i], gf[i], 8);
        var squeezed = Crystals.Supercell(Crystals.Fcc("Cu", 3.0), 2, 2, 2);
        double gs = linear.Estimate(squeezed).MaxGrade;
        output.WriteLine($"max γ training {maxTrain:F6}, probe (a = 3.45 Å, rattled 0.25) {gl.Max():F3}, fcc a = 3.0 Å {gs:G4}");
        Assert.True(gs > 1.5, $"compressed cell γ {gs}");
    }
}
