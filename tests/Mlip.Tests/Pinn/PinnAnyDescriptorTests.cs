using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Interop;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Tests.Pinn;

/// <summary>
/// A PINN whose network reads another descriptor than the pinn features (so4, ace): forces and stress against
/// finite differences of its energy (the feature path through SO(4)'s adjoint and ACE's derivative blocks, the
/// BOP's own term to 1.5 R_c), rotation and permutation invariance, the model-file round trip with the
/// descriptor spec, and the .pinn export's refusal.
/// </summary>
public class PinnAnyDescriptorTests
{
    internal static DescriptorSpec Spec(string type) => type switch
    {
        "so4" => new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "4", ["rcutfac"] = "4.3" }),
        "ace" => new DescriptorSpec("ace", new Dictionary<string, string>
        {
            ["rc"] = "4.3", ["order"] = "2", ["nmax"] = "4,2", ["lmax"] = "0,2", ["radial"] = "ChebExpCos", ["lambda"] = "3",
        }),
        _ => throw new ArgumentException(type),
    };

    /// <summary>A PINN on the descriptor <paramref name="type"/> with random weights over the silicon example BOP.</summary>
    internal static Potential RandomPinn(string type, int seed, double outputScale = 0.05)
    {
        var spec = Spec(type);
        var d = spec.Create(["Si"]);
        var bop = PinnBop.SiliconExample();
        var rng = new Random(seed);
        var model = PinnModel.PlainBop([14], d.FeatureCount, bop.PairCutoff, bop.CutoffRange,
            [.. bop.Parameters.Select(p => p.ToArray())], [6, 5], Activation.Tanh, rng);
        var last = model.Networks[0].Layers[^1];
        for (int q = 0; q < last.Weights.Length; q++) last.Weights[q] = outputScale * (2 * rng.NextDouble() - 1);
        for (int q = 0; q < last.Bias.Length; q++) last.Bias[q] = outputScale * (2 * rng.NextDouble() - 1);
        // standardisation from the features of a diamond cell, so the network sees values of order one
        var x = d.Compute(Crystals.Rattle(Crystals.Diamond("Si", 5.4), 0.1, seed), false);
        var stats = new TrainingSet([Crystals.Diamond("Si", 5.4)], [x]).FeatureStatistics();
        Array.Copy(stats.Mean, model.Mean, d.FeatureCount);
        Array.Copy(stats.Scale, model.Scale, d.FeatureCount);
        return new Potential(d, model, spec);
    }

    private static Structure Cell(int seed) =>
        Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.35), new Matrix3(0.02, 0.03, -0.01, 0.0, -0.02, 0.04, 0.01, 0.0, 0.03)), 0.15, seed);

    [Theory]
    [InlineData("so4")]
    [InlineData("ace")]
    public void ForcesAndStressEqualFiniteDifferences(string type)
    {
        var pinn = RandomPinn(type, 1);
        var s = Cell(3);
        var r = pinn.Calculate(s);
        // the network's correction is not negligible: the energy differs from the plain BOP's
        var plain = PinnBop.SiliconExample().Calculate(s).Energy;
        Assert.True(Math.Abs(r.Energy - plain) > 1e-3 * s.Count, $"the network changed the energy by only {r.Energy - plain} eV");
        FiniteDifferences.AssertMatch($"PINN on {type}", x => pinn.Calculate(x, false, false).Energy, s, r.Forces!, r.Stress, 1e-6, 1e-5);
    }

    [Theory]
    [InlineData("so4")]
    [InlineData("ace")]
    public void RotationAndPermutationLeaveEnergyAndForcesAlone(string type)
    {
        var pinn = RandomPinn(type, 2);
        var s = Cell(4);
        var a = pinn.Calculate(s);
        double c = Math.Cos(0.7), sn = Math.Sin(0.7);
        var rot = Matrix3.FromRows(new Vec3(c, -sn, 0), new Vec3(sn * 0.6, c * 0.6, 0.8), new Vec3(-sn * 0.8, -c * 0.8, 0.6));
        var pos = s.Positions.Select(p => rot * p).Reverse().ToArray();
        var cell = Matrix3.FromRows(rot * s.Cell.Row(0), rot * s.Cell.Row(1), rot * s.Cell.Row(2));
        var turned = new Structure(cell, pos, [.. s.AtomicNumbers.Reverse()], s.Pbc);
        var b = pinn.Calculate(turned);
        Assert.True(Math.Abs(a.Energy - b.Energy) <= 1e-10 * Math.Abs(a.Energy), $"energy {a.Energy} vs {b.Energy}");
        for (int i = 0; i < s.Count; i++)
            Assert.True((rot * a.Forces![i] - b.Forces![s.Count - 1 - i]).Norm < 1e-9, $"force of atom {i}");
    }

    [Theory]
    [InlineData("so4")]
    [InlineData("ace")]
    public void FeaturesOnTheBopsLongerNeighbourListAreTheDescriptorsOwn(string type)
    {
        var d = Spec(type).Create(["Si"]);
        var s = Cell(5);
        var own = d.Compute(s, true);
        var longer = d.Compute(s, true, Mlip.Neighbors.NeighborList.Build(s, 6.0));
        Assert.True(longer.Neighbors.PairCount > own.Neighbors.PairCount);
        for (int q = 0; q < own.Values.Length; q++) Assert.Equal(own.Values[q], longer.Values[q], 12);
        var e = new double[s.Count * d.FeatureCount];
        for (int q = 0; q < e.Length; q++) e[q] = Math.Sin(q);
        var (f1, s1) = ForceContraction.Contract(own, e, s.Volume);
        var (f2, s2) = ForceContraction.Contract(longer, e, s.Volume);
        for (int i = 0; i < s.Count; i++) Assert.True((f1[i] - f2[i]).Norm < 1e-10, $"force {i}");
        var (v1, v2) = (s1!.Value.ToVoigt(), s2!.Value.ToVoigt());
        for (int c = 0; c < 6; c++) Assert.Equal(v1[c], v2[c], 10);
    }

    [Theory]
    [InlineData("so4")]
    [InlineData("ace")]
    public void ModelFileKeepsTheDescriptorAndTheResults(string type)
    {
        var pinn = RandomPinn(type, 6, outputScale: 0.1);
        string path = Path.Combine(TestPaths.TempDir(), "pinn.json");
        ModelFile.Save(path, pinn);
        var back = ModelFile.Load(path);
        Assert.Equal(type, back.Spec.Type);
        Assert.IsType<PinnModel>(back.Model);
        var s = Cell(7);
        var x = pinn.Calculate(s); var y = back.Calculate(s);
        Assert.Equal(x.Energy, y.Energy, 10);
        for (int i = 0; i < s.Count; i++) Assert.True((x.Forces![i] - y.Forces![i]).Norm < 1e-10, $"force {i}");
    }

    [Fact]
    public void PinnFileExportRefusesOtherFeaturesInOneLine()
    {
        var pinn = RandomPinn("so4", 8);
        var e = Assert.Throws<MlipException>(() => PinnFile.Text(pinn));
        Assert.Contains("pair_style pinn", e.Message);
        Assert.Contains("so4", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
