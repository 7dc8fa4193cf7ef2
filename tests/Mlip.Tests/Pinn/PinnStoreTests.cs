using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Tests.Support;
using Mlip.Tests.Training;
using Mlip.Training;
using Mlip.Training.Streaming;
using Xunit.Abstractions;

namespace Mlip.Tests.Pinn;

/// <summary>
/// The PINN trained from the descriptor store (docs/scale.md, "FS-ACE and PINN from the store"): batches built piece by piece
/// (at most a few structures each) give the in-memory trainer's loss and gradient in both stages to round-off, and the same
/// learning curve and model for full-batch L-BFGS and for Adam mini-batches.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class PinnStoreTests(ITestOutputHelper output)
{
    private static readonly PinnOptions Options = new()
    {
        Cutoff = 4.0, CutoffRange = 1.5, Hidden = [5], BopEpochs = 3, Epochs = 4, ValidationFraction = 0.25, EvaluateEvery = 1,
        Penalty = 0.01, L2 = 1e-4, Weights = new LossWeights { Energy = 1, Force = 0.05, Stress = 0.01 }, Threads = 1, Seed = 3,
        InitialParameters = [6.8, 2.6, 4.2, 1.6, -0.33, 1.2, 0.6, 1.8],
    };

    /// <summary>Eight rattled, strained diamond cells (8 and 16 atoms) labelled with Stillinger–Weber, one without forces; SO(4) 2J = 4.</summary>
    private static (List<Structure> Data, DescriptorSpec Spec, IDescriptor D) Data()
    {
        var sw = StillingerWeber.Silicon();
        var list = new List<Structure>();
        for (int q = 0; q < 8; q++)
        {
            var cell = Crystals.Deform(Crystals.Diamond("Si", 5.35 + 0.05 * q), Matrix3.Diagonal(0.01 * q, -0.01, 0.02));
            var s = Crystals.Rattle(q % 3 == 0 ? Crystals.Supercell(cell, 2, 1, 1) : cell, 0.12, q + 1);
            var r = sw.Calculate(s);
            s.Energy = r.Energy; s.Forces = q == 4 ? null : r.Forces; s.Stress = r.Stress;
            list.Add(s);
        }
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "4", ["rcutfac"] = "4.2" });
        return (list, spec, spec.Create(["Si"]));
    }

    private static (PinnTrainer Memory, PinnTrainer Streamed) Trainers(PinnOptions options)
    {
        var (data, spec, d) = Data();
        var set = TrainingSet.Compute(d, data, derivatives: true, threads: 1, neighborCutoff: 1.5 * options.Cutoff);
        var store = DescriptorStore.Open(TestPaths.TempDir(), spec, d, data, chunkAtoms: 20);
        store.EnsureFeatures(1);
        var memory = new PinnTrainer(set, options);
        var streamed = new PinnTrainer(data, d, store.FeatureStatistics(), options, pieceAtoms: 20);
        Assert.False(memory.Streams);
        Assert.True(streamed.Streams);
        return (memory, streamed);
    }

    [Fact]
    public void Streamed_loss_and_gradient_equal_the_in_memory_ones_in_both_stages()
    {
        var (memory, streamed) = Trainers(Options);
        var x = memory.InitialParameters();
        var rng = new Random(5);
        for (int q = 8; q < x.Length; q++) x[q] += 0.05 * (2 * rng.NextDouble() - 1);
        foreach (int stage in new[] { 1, 2 })
        {
            var g1 = new double[x.Length]; var g2 = new double[x.Length];
            double l1 = memory.LossAndGradient(x, g1, stage), l2 = streamed.LossAndGradient(x, g2, stage);
            output.WriteLine($"stage {stage}: loss {l1:R} in memory, {l2:R} streamed");
            Assert.Equal(l1, l2, 1e-12 * l1);
            StoreNonlinearFitTests.AssertClose(g1, g2, 1e-11, $"stage {stage} gradient");
            Assert.Contains(g2, v => v != 0);
        }
    }

    [Theory]
    [InlineData("lbfgs", 0)]
    [InlineData("adam", 2)]
    public void Streamed_training_follows_the_in_memory_learning_curve(string optimizer, int batch)
    {
        var options = Options with { Optimizer = optimizer, BatchStructures = batch, LearningRate = batch > 0 ? 1e-3 : 0 };
        var (memory, streamed) = Trainers(options);
        var (m1, c1, f1) = memory.Train(TextWriter.Null);
        var (m2, c2, f2) = streamed.Train(TextWriter.Null);
        Assert.Equal(c1.Count, c2.Count);
        Assert.True(c1.Count >= options.BopEpochs + options.Epochs);
        for (int i = 0; i < c1.Count; i++)
        {
            output.WriteLine($"{c1[i].Epoch}: loss {c1[i].Loss:R} / {c2[i].Loss:R}, validation {c1[i].ValidationEnergyMae:R} / {c2[i].ValidationEnergyMae:R} meV/atom");
            Assert.Equal(c1[i].Epoch, c2[i].Epoch);
            Assert.Equal(c1[i].Loss, c2[i].Loss, 1e-10 * Math.Abs(c1[i].Loss));
            Assert.Equal(c1[i].ValidationEnergyMae!.Value, c2[i].ValidationEnergyMae!.Value, 1e-8 * Math.Abs(c1[i].ValidationEnergyMae!.Value));
            Assert.Equal(c1[i].ValidationForceMae!.Value, c2[i].ValidationForceMae!.Value, 1e-8 * Math.Abs(c1[i].ValidationForceMae!.Value));
        }
        Assert.Equal(f1, f2, 1e-10 * Math.Abs(f1));
        Assert.True(c1[^1].Loss < c1[0].Loss);
        // the same model: its energies on the data
        var (data, spec, d) = Data();
        foreach (var s in data)
        {
            double e1 = new Potential(d, m1, spec).Calculate(s).Energy, e2 = new Potential(d, m2, spec).Calculate(s).Energy;
            Assert.Equal(e1, e2, 1e-9 * Math.Abs(e1));
        }
    }
}
