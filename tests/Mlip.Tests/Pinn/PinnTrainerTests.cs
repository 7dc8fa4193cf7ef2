using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Training;
using Mlip.Tests.Support;

namespace Mlip.Tests.Pinn;

/// <summary>
/// The libtorch PINN used for training equals the managed PinnModel (the loss recomputed from the
/// model's energies, forces and stresses), its gradients equal finite differences of its loss in both
/// stages, and both stages lower the loss.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class PinnTrainerTests
{
    private static readonly PinnOptions Options = new()
    {
        Cutoff = 4.0, CutoffRange = 1.5, Hidden = [5], BopEpochs = 3, Epochs = 3, ValidationFraction = 0,
        Penalty = 0.01, L2 = 0, Weights = new LossWeights { Energy = 1, Force = 0.05, Stress = 0.01 }, Threads = 1, Seed = 3,
        InitialParameters = [6.8, 2.6, 4.2, 1.6, -0.33, 1.2, 0.6, 1.8],
    };

    /// <summary>Three rattled and strained diamond cells labelled with Stillinger–Weber, with pinn features or SO(4) (2J = 4, R_cut 4.2 Å, neighbour lists to the BOP's 1.5 R_c = 6 Å).</summary>
    private static (TrainingSet Set, IDescriptor Features) Data(string descriptor = "pinn")
    {
        var sw = StillingerWeber.Silicon();
        var list = new List<Structure>();
        for (int q = 0; q < 3; q++)
        {
            var s = Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.35 + 0.1 * q), Matrix3.Diagonal(0.01 * q, -0.01, 0.02)), 0.12, q + 1);
            var r = sw.Calculate(s);
            s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
            list.Add(s);
        }
        IDescriptor d = descriptor == "pinn"
            ? new PinnFeatures(new PinnFeatureParameters { Cutoff = 4.0, CutoffRange = 1.5, Centres = [2.3, 3.2, 4.1], Orders = [0, 1, 2] })
            : new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "4", ["rcutfac"] = "4.2" }).Create(["Si"]);
        return (TrainingSet.Compute(d, list, derivatives: true, threads: 1, neighborCutoff: 1.5 * Options.Cutoff), d);
    }

    private static double ManagedLoss(PinnModel model, IDescriptor d, TrainingSet set, int stage, PinnOptions o)
    {
        var pot = new Potential(d, model, new DescriptorSpec(d.Name, new Dictionary<string, string>()));
        var w = Options.Weights;
        double le = 0, lf = 0, ls = 0, pen = 0;
        int nf = 0, ns = 0, atoms = 0;
        var ws = new PinnModel.Workspace(model);
        var dp = new double[model.Layout.SetSize];
        for (int q = 0; q < set.Count; q++)
        {
            var s = set.Structures[q];
            var r = pot.Calculate(s);
            double de = (r.Energy - s.Energy!.Value) / s.Count;
            le += de * de;
            for (int i = 0; i < s.Count; i++) { lf += (r.Forces![i] - s.Forces![i]).NormSquared; nf += 3; }
            var a = r.Stress!.Value.ToVoigt(); var b = s.Stress!.Value.ToVoigt();
            for (int c = 0; c < 6; c++) { ls += (a[c] - b[c]) * (a[c] - b[c]); ns++; }
            for (int i = 0; i < s.Count; i++)
            {
                model.Forward(0, set.Descriptors[q].Of(i), dp, ws);
                for (int k = 0; k < dp.Length; k++) pen += (o.PenaltyWeights?[k] ?? 1) * dp[k] * dp[k];
                atoms++;
            }
        }
        double loss = w.Energy * le / set.Count + w.Force * lf / nf + w.Stress * ls / ns;
        return stage == 2 ? loss + o.Penalty * pen / atoms : loss;
    }

    private static double[] RandomNetwork(PinnTrainer t, int seed)
    {
        var x = t.InitialParameters();
        var rng = new Random(seed);
        for (int q = 8; q < x.Length; q++) x[q] += 0.05 * (2 * rng.NextDouble() - 1);
        return x;
    }

    /// <summary>weighted: penalty_weights, one weight per BOP parameter of the set in the penalty.</summary>
    [Theory]
    [InlineData("pinn", false)]
    [InlineData("so4", false)]
    [InlineData("pinn", true)]
    public void TorchLossEqualsTheManagedModelAndGradientsEqualFiniteDifferences(string descriptor, bool weighted)
    {
        var (set, d) = Data(descriptor);
        var o = weighted ? Options with { PenaltyWeights = [1, 30, 0.5, 2, 100, 1, 40, 0.2], Penalty = 0.1 } : Options;
        var t = new PinnTrainer(set, o);
        var x = RandomNetwork(t, 5);
        var g = new double[x.Length];
        foreach (int stage in new[] { 1, 2 })
        {
            double loss = t.LossAndGradient(x, g, stage);
            // stage 1 is the plain BOP (Δp = 0): compare with the model whose networks are zero
            var xm = (double[])x.Clone();
            if (stage == 1) Array.Clear(xm, 8, xm.Length - 8);
            double managed = ManagedLoss(t.ToModel(xm), d, set, stage, o);
            Assert.True(Math.Abs(loss - managed) <= 1e-9 * Math.Abs(managed), $"stage {stage}: torch loss {loss} vs managed {managed}");
            // finite differences on a few parameters of the stage
            int[] probe = stage == 1 ? [0, 1, 3, 4, 5, 6, 7] : [8, 20, x.Length - 9, x.Length - 1];
            foreach (int q in probe)
            {
                double h = 1e-6 * Math.Max(1, Math.Abs(x[q])), keep = x[q];
                var tmp = new double[x.Length];
                x[q] = keep + h; double lp = t.LossAndGradient(x, tmp, stage);
                x[q] = keep - h; double lm = t.LossAndGradient(x, tmp, stage);
                x[q] = keep;
                double fd = (lp - lm) / (2 * h);
                Assert.True(Math.Abs(fd - g[q]) <= 1e-5 * Math.Max(Math.Abs(fd), 1e-3 * Math.Abs(loss)), $"stage {stage} parameter {q}: gradient {g[q]} vs finite difference {fd}");
            }
        }
    }

    [Fact]
    public void BothStagesLowerTheLossAndTheCheckpointResumes()
    {
        var (set, _) = Data();
        var t = new PinnTrainer(set, Options);
        var x0 = t.InitialParameters();
        double start = t.LossAndGradient(x0, new double[x0.Length], 1);
        var dir = Directory.CreateTempSubdirectory("mlip-pinn-train");
        try
        {
            string cp = Path.Combine(dir.FullName, "checkpoint.json");
            var (model, curve, final) = t.Train(TextWriter.Null, cp);
            Assert.True(final < start, $"final loss {final} not below the start {start}");
            Assert.True(File.Exists(cp));
            // resume after the end: continues (nothing left) and returns the same model
            var (again, _, againFinal) = new PinnTrainer(set, Options).Train(TextWriter.Null, cp, resume: true);
            Assert.Equal(model.BaseParameters[0], again.BaseParameters[0]);
            // with no epoch run, the final loss is the loss at the checkpoint's parameters, not NaN
            Assert.True(double.IsFinite(againFinal) && againFinal < start, $"final loss after a resume with nothing left: {againFinal}");
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void AdamMiniBatchesResumeExactly()
    {
        var (set, _) = Data();
        var o = Options with { Optimizer = "adam", LearningRate = 1e-2, BatchStructures = 1, BopEpochs = 2, Epochs = 4, CheckpointEvery = 1 };
        var dir = Directory.CreateTempSubdirectory("mlip-pinn-resume");
        try
        {
            var (straight, _, _) = new PinnTrainer(set, o).Train(TextWriter.Null, Path.Combine(dir.FullName, "a.json"));
            string cp = Path.Combine(dir.FullName, "b.json");
            new PinnTrainer(set, o with { Epochs = 2 }).Train(TextWriter.Null, cp);
            var (resumed, _, _) = new PinnTrainer(set, o).Train(TextWriter.Null, cp, resume: true);
            // bit for bit, legitimately: every run sets libtorch to Options.Threads = 1 thread before it works (on the thread
            // that runs it) and does the same operations in the same order, so no sum is reordered between them
            Assert.Equal(straight.BaseParameters[0], resumed.BaseParameters[0]);
            for (int l = 0; l < straight.Networks[0].Layers.Count; l++)
            {
                Assert.Equal(straight.Networks[0].Layers[l].Weights, resumed.Networks[0].Layers[l].Weights);
                Assert.Equal(straight.Networks[0].Layers[l].Bias, resumed.Networks[0].Layers[l].Bias);
            }
            Assert.Contains(straight.Networks[0].Layers[^1].Weights, w => w != 0); // stage 2 moved the output layer
        }
        finally { dir.Delete(true); }
    }

    /// <summary>
    /// penalty_steps: the penalty drops after the given stage-2 epoch with a fresh optimiser; a run stopped at the step and
    /// resumed equals the straight run bit for bit, and the schedule changes the result (it is not ignored).
    /// </summary>
    [Fact]
    public void PenaltyStepsLowerThePenaltyAlongStage2AndResumeAtTheStep()
    {
        var o = Options with { Penalty = 1.0, PenaltySchedule = [(2, 1e-3)], BopEpochs = 2, Epochs = 4, CheckpointEvery = 1 };
        Assert.Equal([1.0, 1.0, 1e-3, 1e-3], Enumerable.Range(1, 4).Select(o.PenaltyAt));
        var (set, _) = Data();
        var dir = Directory.CreateTempSubdirectory("mlip-pinn-steps");
        try
        {
            var log = new StringWriter();
            var (straight, _, _) = new PinnTrainer(set, o).Train(log, Path.Combine(dir.FullName, "a.json"));
            Assert.Contains("penalty 1 -> 0.001 after epoch 2", log.ToString());
            string cp = Path.Combine(dir.FullName, "b.json");
            new PinnTrainer(set, o with { Epochs = 2 }).Train(TextWriter.Null, cp);
            var (resumed, _, _) = new PinnTrainer(set, o).Train(TextWriter.Null, cp, resume: true);
            var (constant, _, _) = new PinnTrainer(set, o with { PenaltySchedule = [] }).Train(TextWriter.Null, Path.Combine(dir.FullName, "c.json"));
            for (int l = 0; l < straight.Networks[0].Layers.Count; l++)
                Assert.Equal(straight.Networks[0].Layers[l].Weights, resumed.Networks[0].Layers[l].Weights);
            Assert.NotEqual(straight.Networks[0].Layers[^1].Weights, constant.Networks[0].Layers[^1].Weights);
        }
        finally { dir.Delete(true); }
    }
}
