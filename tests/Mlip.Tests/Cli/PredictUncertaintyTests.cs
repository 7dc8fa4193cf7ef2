using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Training;
using Xunit;

namespace Mlip.Tests.Cli;

/// <summary>
/// <c>mlip predict --uncertainty</c> keeps the prediction: energy, forces and stress of the model (D-optimality) or
/// the committee's mean (committee) beside the uncertainty, equal to the models evaluated directly.
/// </summary>
public class PredictUncertaintyTests
{
    [Fact]
    public void Predict_uncertainty_keeps_energy_forces_and_stress_of_the_model_and_of_the_committee_mean()
    {
        string dir = TestPaths.TempDir();
        var sw = ClassicalPotentials.Parse("sw");
        var data = Enumerable.Range(0, 8).Select(i =>
        {
            var s = Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.43), Matrix3.Diagonal(0.01 * (i % 3), -0.01 * (i % 2), 0.005 * i)), 0.1, i);
            var r = sw.Calculate(s); s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
            return s;
        }).ToList();
        StructureIO.Write(Path.Combine(dir, "train.xyz"), data);
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "2", ["rcutfac"] = "4.5" });
        var d = spec.Create(["Si"]);
        var set = TrainingSet.Compute(d, data, true, 1);
        var models = new[] { 1, 2 }.Select(order => new Potential(d,
            PolynomialFit.Fit(set, new PolynomialFitOptions { Order = order, Ridge = 1e-6, Threads = 1 }, new ManagedLeastSquares(1)).Model, spec)).ToArray();
        ModelFile.Save(Path.Combine(dir, "m1.json"), models[0]);
        ModelFile.Save(Path.Combine(dir, "m2.json"), models[1]);
        // a triclinic probe (all six stress components non-zero) and a training structure
        var probe = Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.43), new Matrix3(0.03, 0.02, -0.01, 0.0, -0.02, 0.015, 0.01, 0.0, 0.02)), 0.15, 9);
        var probes = new[] { probe, data[0] };
        StructureIO.Write(Path.Combine(dir, "probe.xyz"), probes);

        var (code, stdout, err) = CliTests.Run("predict", Path.Combine(dir, "m1.json"), Path.Combine(dir, "probe.xyz"), "-o", Path.Combine(dir, "dopt.xyz"),
            "--uncertainty", "--training", Path.Combine(dir, "train.xyz"), "-j", "1");
        Assert.True(code == 0, err);
        (code, stdout, err) = CliTests.Run("predict", Path.Combine(dir, "m1.json"), Path.Combine(dir, "probe.xyz"), "-o", Path.Combine(dir, "committee.xyz"),
            "--uncertainty", "--committee", Path.Combine(dir, "m2.json"), "-j", "1");
        Assert.True(code == 0, err);
        Assert.Contains("committee of 2", stdout);
        var dopt = StructureIO.Read(Path.Combine(dir, "dopt.xyz"));
        var committee = StructureIO.Read(Path.Combine(dir, "committee.xyz"));
        for (int k = 0; k < probes.Length; k++)
        {
            var s = probes[k];
            var r1 = models[0].Calculate(s);
            var r2 = models[1].Calculate(s);
            Assert.True(dopt[k].Info.ContainsKey("uncertainty") && dopt[k].AtomArrays.ContainsKey("gamma"));
            Assert.True(committee[k].Info.ContainsKey("energy_std") && committee[k].AtomArrays.ContainsKey("force_std"));
            Same(r1.Energy, r1.Forces!, r1.Stress!.Value, dopt[k]);
            var meanForces = r1.Forces!.Zip(r2.Forces!, (a, b) => 0.5 * (a + b)).ToArray();
            var meanStress = Stress.FromMatrix(0.5 * (r1.Stress!.Value.ToMatrix() + r2.Stress!.Value.ToMatrix()));
            Same(0.5 * (r1.Energy + r2.Energy), meanForces, meanStress, committee[k]);
            // the two members differ, so the committee's stress is not simply one model's
            Assert.True(Math.Abs(r1.Stress!.Value.Xy - r2.Stress!.Value.Xy) > 1e-4 || Math.Abs(r1.Stress!.Value.Xx - r2.Stress!.Value.Xx) > 1e-4);
        }
    }

    private static void Same(double energy, Vec3[] forces, Stress stress, Structure written)
    {
        Assert.Equal(energy, written.Energy!.Value, 1e-8 * (1 + Math.Abs(energy)));
        for (int i = 0; i < forces.Length; i++) Assert.True((forces[i] - written.Forces![i]).Norm < 1e-8, $"force {i}");
        Assert.NotNull(written.Stress);
        var a = stress.ToVoigt(); var b = written.Stress!.Value.ToVoigt();
        Assert.True(a.Max(Math.Abs) > 1e-3, "a non-trivial stress");
        for (int q = 0; q < 6; q++) Assert.True(Math.Abs(a[q] - b[q]) < 1e-8 * (1 + Math.Abs(a[q])), $"stress {q}: {a[q]} vs {b[q]}");
    }
}
