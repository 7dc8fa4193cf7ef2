using System.Text.Json;
using Mlip.IO;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Models.Uncertainty;
using Mlip.Simulation;
using Mlip.Structures;
using Mlip.Tests.Cli;
using Mlip.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.Simulation;

/// <summary>
/// Uncertainty during MD: with Cu-PBE-core-rep.ace and an active set from rattled fcc Cu (made by <c>mlip activeset</c>),
/// a hot Langevin run is stopped by <c>--uncertainty-threshold</c> with the trajectory and the offending frame kept, while a
/// cold run stays below the threshold; the library monitor dumps the frames it flags, each with γ over the threshold.
/// </summary>
public class UncertaintyMdTests(ITestOutputHelper output)
{
    private static List<Structure> CuTraining()
    {
        var list = new List<Structure>();
        for (int q = 0; q < 14; q++)
            list.Add(Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Cu", 3.56 + 0.01 * q), 3, 3, 3), 0.12, 11 + q));
        return list;
    }

    [Fact]
    public void HotMdStopsWhenTheAceGradePassesTheThresholdAndColdMdDoesNot()
    {
        string dir = TestPaths.TempDir();
        string pot = Path.Combine(dir, "Cu.ace");
        File.Copy(ManybodyReference.Potential("Cu-PBE-core-rep.ace"), pot);
        StructureIO.Write(Path.Combine(dir, "train.xyz"), CuTraining());
        var (code, stdout, err) = CliTests.Run("activeset", pot, "--training", Path.Combine(dir, "train.xyz"));
        output.WriteLine(stdout);
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(dir, "Cu.asi")));
        StructureIO.Write(Path.Combine(dir, "cu32.xyz"), [Crystals.Supercell(Crystals.Fcc("Cu", 3.62), 2, 2, 2)]);

        // predict --uncertainty: per-atom gamma column and the max γ per structure (a training frame and a compressed cell)
        StructureIO.Write(Path.Combine(dir, "probe.xyz"), [CuTraining()[3], Crystals.Supercell(Crystals.Fcc("Cu", 3.2), 2, 2, 2)]);
        (code, stdout, err) = CliTests.Run("predict", pot, Path.Combine(dir, "probe.xyz"), "-o", Path.Combine(dir, "pred.xyz"), "--uncertainty", "-j", "1");
        Assert.True(code == 0, err);
        output.WriteLine(stdout);
        Assert.Contains("ace extrapolation grade", stdout);
        var pred = StructureIO.Read(Path.Combine(dir, "pred.xyz"));
        Assert.True(pred[0].AtomArrays["gamma"].Values.Max() <= 1.002, "a training structure interpolates");
        Assert.True((double)pred[1].Info["uncertainty"] > 3, "the compressed cell extrapolates");
        Assert.Equal(pred[1].AtomArrays["gamma"].Values.Max(), (double)pred[1].Info["uncertainty"], 12);

        // hot: 5000 K Langevin; the Cu.asi beside Cu.ace is found by itself
        string traj = Path.Combine(dir, "hot.xyz");
        (code, stdout, err) = CliTests.Run("md", Path.Combine(dir, "cu32.xyz"), "-m", pot, "--ensemble", "nvt-langevin", "-T", "5000", "--friction", "0.05",
            "--steps", "600", "--traj-every", "50", "-o", traj, "--uncertainty-threshold", "3", "--uncertainty-every", "5", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        var u = doc.RootElement.GetProperty("uncertainty");
        output.WriteLine($"hot: {doc.RootElement.GetProperty("steps").GetInt64()} steps, max γ {u.GetProperty("max").GetDouble():F2}, stopped {u.GetProperty("stopped").GetBoolean()}");
        Assert.True(u.GetProperty("stopped").GetBoolean(), "the hot run was not stopped");
        long stoppedAt = doc.RootElement.GetProperty("steps").GetInt64();
        Assert.True(stoppedAt < 600 && stoppedAt % 5 == 0);
        Assert.True(u.GetProperty("max").GetDouble() > 3);
        var frames = StructureIO.Read(traj);
        Assert.Equal(stoppedAt, Convert.ToInt64(frames[^1].Info["step"]));
        var flagged = StructureIO.Read(Path.Combine(dir, "hot.extrapolative.xyz"));
        Assert.Single(flagged);
        Assert.True(flagged[0].AtomArrays["gamma"].Values.Max() > 3);

        // the flagged frame's γ is what the library computes for it
        var p = ModelFile.Load(pot);
        var grade = AceExtrapolation.Load(p, Path.Combine(dir, "Cu.asi"));
        Assert.Equal(flagged[0].AtomArrays["gamma"].Values.Max(), grade.Grades(flagged[0]).Max(), 6);

        // cold: 100 K, 100 steps, never over the threshold; dump action runs to the end
        (code, stdout, err) = CliTests.Run("md", Path.Combine(dir, "cu32.xyz"), "-m", pot, "--ensemble", "nvt-langevin", "-T", "100",
            "--steps", "100", "--uncertainty-threshold", "3", "--uncertainty-every", "10", "--uncertainty-action", "dump",
            "--uncertainty-dump", Path.Combine(dir, "cold-flagged.xyz"), "--json");
        Assert.True(code == 0, err);
        using var cold = JsonDocument.Parse(stdout);
        var cu = cold.RootElement.GetProperty("uncertainty");
        output.WriteLine($"cold: max γ {cu.GetProperty("max").GetDouble():F3} over {cu.GetProperty("checks").GetInt32()} checks");
        Assert.Equal(100, cold.RootElement.GetProperty("steps").GetInt64());
        Assert.Equal(0, cu.GetProperty("exceeded").GetInt32());
        Assert.False(File.Exists(Path.Combine(dir, "cold-flagged.xyz")));
    }

    [Fact]
    public void MonitorDumpsFramesOverTheThresholdOfALinearModel()
    {
        // a linear SNAP-type model with its training data: D-optimality γ through the same seam
        var sw = Mlip.Calculators.ClassicalPotentials.Parse("sw");
        var data = Enumerable.Range(0, 6).Select(i =>
        {
            var s = Crystals.Rattle(Crystals.Diamond("Si", 5.43), 0.05, i);
            var r = sw.Calculate(s); s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
            return s;
        }).ToList();
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "2", ["rcutfac"] = "4.5" });
        var d = spec.Create(["Si"]);
        var fit = Mlip.Training.PolynomialFit.Fit(Mlip.Descriptors.TrainingSet.Compute(d, data, true, 1),
            new Mlip.Training.PolynomialFitOptions { Order = 1, Threads = 1 }, new Mlip.Training.ManagedLeastSquares(1)).Model;
        var model = new Potential(d, fit, spec);
        var estimator = UncertaintyEstimators.For([model], data);
        string dump = Path.Combine(TestPaths.TempDir(), "flagged.xyz");
        var state = new MdState(Crystals.Diamond("Si", 5.43));
        MaxwellBoltzmann.Initialize(state, 3000, seed: 2);
        using (var monitor = new UncertaintyMonitor(estimator, 1.5, 5, UncertaintyAction.Dump, dump))
        {
            var md = new MolecularDynamics(new Langevin(model, 1.0, 3000, 0.02, 5), state) { StopWhen = monitor.Check };
            long done = md.Run(100);
            output.WriteLine($"{monitor.Checks} checks, max γ {monitor.MaxScore:F2} at step {monitor.MaxScoreStep}, {monitor.Exceeded} frames dumped");
            Assert.Equal(100, done);
            Assert.Equal(20, monitor.Checks); // steps 5, 10, ..., 100 (StopWhen runs after each step)
            Assert.True(monitor.Exceeded > 0, "nothing over the threshold at 3000 K");
            Assert.False(monitor.Stopped);
        }
        var frames = StructureIO.Read(dump);
        Assert.True(frames.Count > 0);
        foreach (var f in frames)
        {
            Assert.True((double)f.Info["uncertainty"] > 1.5);
            Assert.Equal(0, Convert.ToInt64(f.Info["step"]) % 5);
        }
    }
}
