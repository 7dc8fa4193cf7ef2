using System.Diagnostics;
using System.Text.Json.Nodes;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Tests.Descriptors;
using Mlip.Tests.Support;
using Mlip.Training;

namespace Mlip.Tests.Models;

[Collection(LibtorchCollection.Name), LibtorchThreads]
public class NeuralNetworkTests
{
    private static readonly DescriptorSpec Spec = new("so4", new Dictionary<string, string> { ["twojmax"] = "2", ["rcutfac"] = "3.0" });

    /// <summary>Small two-element data set labelled by a known quadratic model (energies, forces, stresses).</summary>
    internal static List<Structure> Data(int count, int seed)
    {
        var d = Spec.Create(["O", "Si"]);
        var truth = new Potential(d, PolynomialModelTests.RandomModel(2, [8, 14], d.FeatureCount, 9), Spec);
        return Enumerable.Range(seed, count).Select(i =>
        {
            var s = DescriptorTestKit.RandomCell(i, ["Si", "O"], atoms: 5, length: 5.0);
            var r = truth.Calculate(s);
            s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
            return s;
        }).ToList();
    }

    [Theory]
    [InlineData(Activation.Tanh)]
    [InlineData(Activation.Softplus)]
    [InlineData(Activation.Silu)]
    [InlineData(Activation.Sigmoid)]
    public void ForcesAndStressAreDerivativesOfTheEnergy(Activation activation)
    {
        var d = Spec.Create(["O", "Si"]);
        var rng = new Random(5);
        var nets = new[] { Mlp.Create(d.FeatureCount, [7, 5], activation, rng), Mlp.Create(d.FeatureCount, [7, 5], activation, rng) };
        var model = new NeuralNetworkModel([8, 14], d.FeatureCount, nets, [-3.0, -5.0],
            Enumerable.Range(0, d.FeatureCount).Select(_ => rng.NextDouble()).ToArray(), Enumerable.Range(0, d.FeatureCount).Select(_ => 0.5 + rng.NextDouble()).ToArray());
        var p = new Potential(d, model, Spec);
        PolynomialModelTests.AssertForcesAndStressMatchEnergy(p, DescriptorTestKit.RandomCell(12, ["Si", "O"], atoms: 6));
    }

    private static (NeuralNetworkTrainer Trainer, TrainingSet Set) Trainer(string optimizer = "lbfgs", double stress = 0.1)
    {
        var data = Data(12, 40);
        var d = Spec.Create(["O", "Si"]);
        var set = TrainingSet.Compute(d, data, true, 1);
        var o = new NeuralNetworkOptions
        {
            Hidden = [6, 4], Optimizer = optimizer, ValidationFraction = 0, Threads = 1, L2 = 1e-4,
            Weights = new LossWeights { Energy = 1, Force = 0.5, Stress = stress }, Epochs = 5,
        };
        return (new NeuralNetworkTrainer(set, o), set);
    }

    [Fact]
    public void LossGradientEqualsFiniteDifferences()
    {
        // the double-backprop graph (forces and stresses from dE/dX inside the loss) differentiates right
        var (t, _) = Trainer();
        var x = t.InitialParameters();
        var g = new double[x.Length];
        t.LossAndGradient(x, g);
        var scratch = new double[x.Length];
        var rng = new Random(3);
        double scale = g.Max(Math.Abs);
        for (int trial = 0; trial < 12; trial++)
        {
            int i = rng.Next(x.Length);
            const double h = 1e-6;
            var xp = (double[])x.Clone(); xp[i] += h;
            var xm = (double[])x.Clone(); xm[i] -= h;
            double fd = (t.LossAndGradient(xp, scratch) - t.LossAndGradient(xm, scratch)) / (2 * h);
            Assert.True(Math.Abs(fd - g[i]) <= 1e-6 * scale, $"parameter {i}: autograd {g[i]} vs finite difference {fd}");
        }
    }

    [Fact]
    public void TorchLossEqualsTheLossOfTheManagedModel()
    {
        // what libtorch trains is what the managed model (MD, relaxation) computes
        var (t, set) = Trainer(stress: 0.1);
        var x = t.InitialParameters();
        for (int i = 0; i < x.Length; i++) x[i] += 0.01 * Math.Sin(i);
        double loss = t.LossAndGradient(x, new double[x.Length]);
        var p = new Potential(set.Descriptors.Length > 0 ? Spec.Create(["O", "Si"]) : throw new InvalidOperationException(), t.ToModel(x), Spec);
        double e = 0, f = 0, s = 0, fc = 0, sc = 0;
        foreach (var st in set.Structures)
        {
            var r = p.Calculate(st);
            e += Math.Pow((r.Energy - st.Energy!.Value) / st.Count, 2);
            for (int i = 0; i < st.Count; i++) { f += (r.Forces![i] - st.Forces![i]).NormSquared; fc += 3; }
            var a = r.Stress!.Value.ToVoigt(); var b = st.Stress!.Value.ToVoigt();
            for (int q = 0; q < 6; q++) { s += (a[q] - b[q]) * (a[q] - b[q]); sc++; }
        }
        double l2 = 0;
        var model = t.ToModel(x);
        foreach (var net in model.Networks) foreach (var layer in net.Layers) foreach (double w in layer.Weights) l2 += w * w;
        double expected = e / set.Count + 0.5 * f / fc + 0.1 * s / sc + 1e-4 * l2;
        Assert.Equal(expected, loss, 10);
    }

    [Theory]
    [InlineData("lbfgs")]
    [InlineData("adam")]
    public void TrainingLowersTheLoss(string optimizer)
    {
        var (t, _) = Trainer(optimizer);
        var x = t.InitialParameters();
        double before = t.LossAndGradient(x, new double[x.Length]);
        var (model, curve, final) = t.Train(TextWriter.Null);
        Assert.True(final < before, $"{optimizer}: {before} -> {final}");
        Assert.NotEmpty(curve);
    }

    [Fact]
    public async Task KilledTrainingResumesAndEndsWithTheSameLoss()
    {
        string dir = TestPaths.TempDir();
        StructureIO.Write(Path.Combine(dir, "train.xyz"), Data(16, 60));
        string Config(string output) => """
            train: train.xyz
            descriptor:
              type: so4
              parameters: {twojmax: 2, rcutfac: 3.0}
            model: {kind: nn, hidden: [8, 8], optimizer: adam, learning_rate: 0.01, epochs: 400, batch: 4, validation: 0.25, evaluate_every: 1, checkpoint_every: 20}
            loss: {energy: 1, force: 0.5}
            seed: 3
            threads: 1
            """ + "\noutput: " + output + "\n";
        File.WriteAllText(Path.Combine(dir, "a.yaml"), Config("a"));
        File.WriteAllText(Path.Combine(dir, "b.yaml"), Config("b"));
        Process Start(string args) => CliProcess.Start(dir, args);

        // uninterrupted run
        using (var full = Start("train a.yaml"))
        {
            var err = full.StandardError.ReadToEndAsync();
            string o = full.StandardOutput.ReadToEnd();
            full.WaitForExit();
            Assert.True(full.ExitCode == 0, o + await err);
        }
        // a run killed after its checkpoint of epoch 100, then resumed. A handshake, not a time window: the run logs every
        // epoch to stdout (evaluate_every: 1) and writes the checkpoint of epoch 100 before the line of epoch 101; once the
        // test has read that line it stops reading and kills the run, which by then cannot be more than a pipe page
        // (4 KiB, about 55 lines) further: killed between epochs 101 and about 160, whatever the machine's load
        string checkpoint = Path.Combine(dir, "b", "checkpoint.json");
        using (var killed = CliProcess.StartHeld(dir, "train b.yaml"))
        {
            var epochLine = new System.Text.RegularExpressions.Regex(@"^epoch +(\d+):");
            while (true)
            {
                string? line = killed.ReadLine();
                // (the message only once it failed: reading stderr waits for the process to end)
                if (line is null) Assert.Fail("the run ended before it could be killed:\n" + killed.Output + killed.Error);
                var m = epochLine.Match(line);
                if (m.Success && int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 101) break;
            }
            killed.Kill();
        }
        int killedAt = (int)JsonNode.Parse(File.ReadAllText(checkpoint))!["epoch"]!;
        Assert.InRange(killedAt, 100, 380);
        Assert.False(File.Exists(Path.Combine(dir, "b", "model.json")), "the killed run must not have finished");
        using (var resumed = Start("train b.yaml --resume"))
        {
            var err = resumed.StandardError.ReadToEndAsync();
            string output = resumed.StandardOutput.ReadToEnd();
            resumed.WaitForExit();
            Assert.True(resumed.ExitCode == 0, output + await err);
            Assert.Contains("resuming", output);
        }
        double Final(string run) => (double)JsonNode.Parse(File.ReadAllText(Path.Combine(dir, run, "model.json")))!["training"]!["fit"]!["final_loss"]!;
        Assert.Equal(Final("a"), Final("b"));
        var pa = ModelFile.Load(Path.Combine(dir, "a", "model.json"));
        var pb = ModelFile.Load(Path.Combine(dir, "b", "model.json"));
        var probe = DescriptorTestKit.RandomCell(7, ["Si", "O"], atoms: 5, length: 5.0);
        Assert.Equal(pa.Calculate(probe).Energy, pb.Calculate(probe).Energy);
    }
}
