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
    /// <summary>A small PINN fit of a few iterations per stage (shared with <see cref="PinnStageOneTests"/>).</summary>
    internal static readonly PinnOptions Options = new()
    {
        Cutoff = 4.0, CutoffRange = 1.5, Hidden = [5], BopEpochs = 3, Epochs = 3, ValidationFraction = 0,
        Penalty = 0.01, L2 = 0, Weights = new LossWeights { Energy = 1, Force = 0.05, Stress = 0.01 }, Threads = 1, Seed = 3,
        InitialParameters = [6.8, 2.6, 4.2, 1.6, -0.33, 1.2, 0.6, 1.8],
    };

    /// <summary>Three rattled and strained diamond cells labelled with Stillinger–Weber, with pinn features or SO(4) (2J = 4, R_cut 4.2 Å, neighbour lists to the BOP's 1.5 R_c = 6 Å).</summary>
    private static (TrainingSet Set, IDescriptor Features) Data(string descriptor = "pinn")
    {
        var list = SwLabelled(q => Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.35 + 0.1 * q), Matrix3.Diagonal(0.01 * q, -0.01, 0.02)), 0.12, q + 1));
        IDescriptor d = descriptor == "pinn"
            ? SmallPinnFeatures()
            : new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "4", ["rcutfac"] = "4.2" }).Create(["Si"]);
        return (TrainingSet.Compute(d, list, derivatives: true, threads: 1, neighborCutoff: 1.5 * Options.Cutoff), d);
    }

    /// <summary>Three cells made by <paramref name="cell"/>(q), q = 0, 1, 2, labelled with Stillinger–Weber (energy, forces, stress).</summary>
    internal static List<Structure> SwLabelled(Func<int, Structure> cell)
    {
        var sw = StillingerWeber.Silicon();
        var list = new List<Structure>();
        for (int q = 0; q < 3; q++)
        {
            var s = cell(q);
            var r = sw.Calculate(s);
            s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
            list.Add(s);
        }
        return list;
    }

    /// <summary>PINN features of the BOP's R_c = 4 Å, d_c = 1.5 Å: three Gaussian centres, Legendre orders 0-2.</summary>
    internal static PinnFeatures SmallPinnFeatures() =>
        new(new PinnFeatureParameters { Cutoff = 4.0, CutoffRange = 1.5, Centres = [2.3, 3.2, 4.1], Orders = [0, 1, 2] });

    private static double ManagedLoss(PinnModel model, IDescriptor d, TrainingSet set, int stage, PinnOptions o)
    {
        var pot = new Potential(d, model, new DescriptorSpec(d.Name, new Dictionary<string, string>()));
        var w = Options.Weights;
        double le = 0, lf = 0, ls = 0, pen = 0, jac = 0;
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
                if (o.GradientPenaltyAtData) jac += JacobianSquared(model, set.Descriptors[q].Of(i), o.PenaltyWeights);
                atoms++;
            }
        }
        double loss = w.Energy * le / set.Count + w.Force * lf / nf + w.Stress * ls / ns;
        if (stage == 2 && o.GradientPenalty > 0 && o.GradientPenaltyAtData) loss += o.GradientPenalty * jac / atoms;
        if (stage == 2 && o.NeedsCopies)
        {
            // the unlabelled term: the copies made again and their descriptors computed here, Δp from the managed networks
            var copies = DistortedCopies.Make(set.Structures, [.. Enumerable.Range(0, set.Count)], o.UnlabelledCopies, o.UnlabelledStrain, o.UnlabelledVolume, o.Seed);
            double upen = 0, ujac = 0;
            int uatoms = 0;
            var dpCell = new double[dp.Length];
            for (int q = 0; q < copies.Length; q++)
            {
                var c = copies[q];
                var ds = d.Compute(c, false);
                var dc = d.Compute(set.Structures[q / o.UnlabelledCopies], false);
                for (int i = 0; i < c.Count; i++)
                {
                    if (o.GradientPenaltyAtCopies) ujac += JacobianSquared(model, ds.Of(i), o.PenaltyWeights);
                    model.Forward(0, ds.Of(i), dp, ws);
                    if (o.UnlabelledAgainstCell)
                    {
                        model.Forward(0, dc.Of(i), dpCell, ws);
                        for (int k = 0; k < dp.Length; k++) dp[k] -= dpCell[k];
                    }
                    for (int k = 0; k < dp.Length; k++) upen += (o.PenaltyWeights?[k] ?? 1) * dp[k] * dp[k];
                    uatoms++;
                }
            }
            loss += o.UnlabelledPenalty * upen / uatoms;
            if (o.GradientPenalty > 0 && o.GradientPenaltyAtCopies) loss += o.GradientPenalty * ujac / uatoms;
        }
        return stage == 2 ? loss + o.Penalty * pen / atoms : loss;
    }

    /// <summary>Σ_c w_c Σ_a (∂Δp_c/∂X_a)² of the managed model at raw features <paramref name="g"/>, X = (g − mean)/scale, by central differences.</summary>
    private static double JacobianSquared(PinnModel model, ReadOnlySpan<double> g, IReadOnlyList<double>? weights)
    {
        var ws = new PinnModel.Workspace(model);
        int set = model.Layout.SetSize;
        var plus = new double[set]; var minus = new double[set];
        var gx = g.ToArray();
        double sum = 0, h = 1e-5; // in standardised units
        for (int a = 0; a < gx.Length; a++)
        {
            double keep = gx[a];
            gx[a] = keep + h * model.Scale[a]; model.Forward(0, gx, plus, ws);
            gx[a] = keep - h * model.Scale[a]; model.Forward(0, gx, minus, ws);
            gx[a] = keep;
            for (int c = 0; c < set; c++) { double d = (plus[c] - minus[c]) / (2 * h); sum += (weights?[c] ?? 1) * d * d; }
        }
        return sum;
    }

    private static double[] RandomNetwork(PinnTrainer t, int seed)
    {
        var x = t.InitialParameters();
        var rng = new Random(seed);
        for (int q = 8; q < x.Length; q++) x[q] += 0.05 * (2 * rng.NextDouble() - 1);
        return x;
    }

    /// <summary>weighted: penalty_weights, one weight per BOP parameter of the set in the penalty; unlabelled: the penalty at
    /// distorted copies of the training cells (unlabelled_penalty, two copies each, strong enough to dominate the loss's gradient);
    /// againstCell: that penalty on the difference from the same atom's correction in the undistorted cell.</summary>
    [Theory]
    [InlineData("pinn", false, false, false, "none")]
    [InlineData("so4", false, false, false, "none")]
    [InlineData("pinn", true, false, false, "none")]
    [InlineData("so4", false, true, false, "none")]
    [InlineData("pinn", true, true, false, "none")]
    [InlineData("so4", false, true, true, "none")]
    [InlineData("pinn", true, true, true, "none")]
    [InlineData("so4", false, false, false, "data")]
    [InlineData("pinn", true, false, false, "data")]
    [InlineData("so4", false, false, false, "copies")]
    [InlineData("pinn", true, true, true, "both")]
    public void TorchLossEqualsTheManagedModelAndGradientsEqualFiniteDifferences(string descriptor, bool weighted, bool unlabelled, bool againstCell, string gradient)
    {
        var (set, d) = Data(descriptor);
        var o = weighted ? Options with { PenaltyWeights = [1, 30, 0.5, 2, 100, 1, 40, 0.2], Penalty = 0.1 } : Options;
        if (unlabelled) o = o with { UnlabelledPenalty = againstCell ? 300.0 : 3.0, UnlabelledCopies = 2, UnlabelledStrain = 0.08, UnlabelledVolume = 0.1, UnlabelledAgainstCell = againstCell };
        // gradient: the Jacobian penalty τ_g |∂Δp/∂X|² at the training atoms, at the distorted copies (made for it alone when τ_u = 0), or both
        if (gradient != "none")
            o = o with { GradientPenalty = 30.0, GradientPenaltyAtData = gradient is "data" or "both", GradientPenaltyAtCopies = gradient is "copies" or "both", UnlabelledCopies = 2, UnlabelledStrain = 0.08, UnlabelledVolume = 0.1 };
        var t = new PinnTrainer(set, o, d);
        if (unlabelled || gradient != "none")
        {
            // the term is in the loss (not ignored): the loss without it differs
            var x1 = RandomNetwork(t, 5);
            double with = t.LossAndGradient(x1, new double[x1.Length], 2);
            double without = new PinnTrainer(set, gradient == "none" ? o with { UnlabelledPenalty = 0 } : o with { GradientPenalty = 0 }, d).LossAndGradient(x1, new double[x1.Length], 2);
            Assert.True(with > without * 1.01, $"{(gradient == "none" ? "unlabelled" : "gradient")} term missing: {with} vs {without}");
        }
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

    /// <summary>
    /// unlabelled_penalty: a run stopped and resumed equals the straight run bit for bit (the copies are made again from the
    /// seed), the term changes the result, and without the descriptor the trainer refuses it in one line.
    /// </summary>
    [Fact]
    public void UnlabelledPenaltyResumesExactlyAndActs()
    {
        var o = Options with { UnlabelledPenalty = 1.0, BopEpochs = 2, Epochs = 4, CheckpointEvery = 1 };
        var (set, d) = Data();
        Assert.Throws<Mlip.Validation.MlipException>(() => new PinnTrainer(set, o));
        // unlabelled_groups: only the cells of those groups get copies; none of the group: refused in one line naming it
        Assert.Contains("Elastic", Assert.Throws<Mlip.Validation.MlipException>(() => new PinnTrainer(set, o with { UnlabelledGroups = ["Elastic"] }, d)).Message);
        set.Structures[1].Group = "Elastic";
        Assert.Equal(set.Structures[1].Count, new PinnTrainer(set, o with { UnlabelledGroups = ["Elastic"] }, d).UnlabelledAtoms);
        set.Structures[1].Group = null;
        var dir = Directory.CreateTempSubdirectory("mlip-pinn-unlabelled");
        try
        {
            var (straight, _, _) = new PinnTrainer(set, o, d).Train(TextWriter.Null, Path.Combine(dir.FullName, "a.json"));
            string cp = Path.Combine(dir.FullName, "b.json");
            new PinnTrainer(set, o with { Epochs = 2 }, d).Train(TextWriter.Null, cp);
            var (resumed, _, _) = new PinnTrainer(set, o, d).Train(TextWriter.Null, cp, resume: true);
            var (without, _, _) = new PinnTrainer(set, o with { UnlabelledPenalty = 0 }, d).Train(TextWriter.Null, Path.Combine(dir.FullName, "c.json"));
            for (int l = 0; l < straight.Networks[0].Layers.Count; l++)
            {
                Assert.Equal(straight.Networks[0].Layers[l].Weights, resumed.Networks[0].Layers[l].Weights);
                Assert.Equal(straight.Networks[0].Layers[l].Bias, resumed.Networks[0].Layers[l].Bias);
            }
            Assert.NotEqual(straight.Networks[0].Layers[^1].Weights, without.Networks[0].Layers[^1].Weights);
        }
        finally { dir.Delete(true); }
    }

    /// <summary>
    /// unlabelled_penalty_steps: τ_u rises after the given stage-2 epoch with a fresh optimiser; a run stopped at the step and
    /// resumed equals the straight run bit for bit; the schedule acts (another result than τ_u constant); a schedule that starts
    /// at τ_u 0 still makes the copies; a negative value is refused in one line naming the key.
    /// </summary>
    [Fact]
    public void UnlabelledPenaltyStepsRaiseTauAlongStage2AndResumeAtTheStep()
    {
        var o = Options with { UnlabelledPenalty = 0.1, UnlabelledPenaltySchedule = [(2, 10.0)], UnlabelledAgainstCell = true, BopEpochs = 2, Epochs = 4, CheckpointEvery = 1 };
        Assert.Equal([0.1, 0.1, 10.0, 10.0], Enumerable.Range(1, 4).Select(o.UnlabelledPenaltyAt));
        var (set, d) = Data();
        Assert.Contains("unlabelled_penalty_steps", Assert.Throws<Mlip.Validation.MlipException>(() => new PinnTrainer(set, o with { UnlabelledPenaltySchedule = [(2, -1.0)] }, d)).Message);
        Assert.True(new PinnTrainer(set, o with { UnlabelledPenalty = 0 }, d).UnlabelledAtoms > 0);
        var dir = Directory.CreateTempSubdirectory("mlip-pinn-usteps");
        try
        {
            var log = new StringWriter();
            var (straight, _, _) = new PinnTrainer(set, o, d).Train(log, Path.Combine(dir.FullName, "a.json"));
            Assert.Contains("unlabelled penalty 0.1 -> 10 after epoch 2", log.ToString());
            string cp = Path.Combine(dir.FullName, "b.json");
            new PinnTrainer(set, o with { Epochs = 2 }, d).Train(TextWriter.Null, cp);
            var (resumed, _, _) = new PinnTrainer(set, o, d).Train(TextWriter.Null, cp, resume: true);
            var (constant, _, _) = new PinnTrainer(set, o with { UnlabelledPenaltySchedule = [] }, d).Train(TextWriter.Null, Path.Combine(dir.FullName, "c.json"));
            for (int l = 0; l < straight.Networks[0].Layers.Count; l++)
            {
                Assert.Equal(straight.Networks[0].Layers[l].Weights, resumed.Networks[0].Layers[l].Weights);
                Assert.Equal(straight.Networks[0].Layers[l].Bias, resumed.Networks[0].Layers[l].Bias);
            }
            Assert.NotEqual(straight.Networks[0].Layers[^1].Weights, constant.Networks[0].Layers[^1].Weights);
        }
        finally { dir.Delete(true); }
    }

    /// <summary>The copies: F = s (I + ε) with ε symmetric, |ε_ij| ≤ strain, |s³ − 1| ≤ volume; positions follow the cell; the same seed and index give the same copy, another index another.</summary>
    [Fact]
    public void DistortedCopiesAreBoundedDeterministicStrains()
    {
        var cell = Crystals.Rattle(Crystals.Diamond("Si", 5.43), 0.05, 2);
        for (int index = 0; index < 50; index++)
        {
            var f = DistortedCopies.Deformation(1, index, 0, 0.06, 0.04);
            Assert.Equal(f, DistortedCopies.Deformation(1, index, 0, 0.06, 0.04));
            Assert.NotEqual(f, DistortedCopies.Deformation(1, index, 1, 0.06, 0.04));
            Assert.Equal(f.M01, f.M10); Assert.Equal(f.M02, f.M20); Assert.Equal(f.M12, f.M21);
            // s from the trace is not separable: bound the parts through s ∈ [(1 − v)^(1/3), (1 + v)^(1/3)]
            double sMin = Math.Cbrt(1 - 0.04), sMax = Math.Cbrt(1 + 0.04);
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                {
                    double e = f[i, j] - (i == j ? 1.0 : 0.0);
                    double lo = i == j ? sMin * 0.94 - 1 : -sMax * 0.06, hi = i == j ? sMax * 1.06 - 1 : sMax * 0.06;
                    Assert.InRange(e, lo - 1e-15, hi + 1e-15);
                }
        }
        var copies = DistortedCopies.Make([cell, cell], [3, 4], 2, 0.06, 0.04, 1);
        Assert.Equal(4, copies.Length);
        var f3 = DistortedCopies.Deformation(1, 3, 1, 0.06, 0.04);
        Assert.Equal(cell.Cell * f3, copies[1].Cell);
        for (int i = 0; i < cell.Count; i++) Assert.Equal(cell.Positions[i] * f3, copies[1].Positions[i]);
        Assert.Null(copies[1].Energy);
        Assert.NotEqual(copies[0].Cell, copies[2].Cell);
    }
}
