using System.Text.Json.Nodes;
using Mlip.Configuration;
using Mlip.Models;

namespace Mlip.Training;

/// <summary>Settings of <c>model: {kind: nn}</c>.</summary>
public sealed record NeuralNetworkSettings
{
    [Setting("hidden", "hidden layer sizes of each element's network", Min = 1)]
    public int[] Hidden { get; init; } = [30, 30];

    [Setting("activation", "activation of the hidden layers", Choices = ["tanh", "sigmoid", "softplus", "silu", "swish", "relu", "linear", "identity", "halftanh"])]
    public string Activation { get; init; } = "tanh";

    [Setting("optimizer", "lbfgs (full batch), adam or sgd", Choices = ["lbfgs", "l-bfgs", "adam", "sgd"])]
    public string Optimizer { get; init; } = "lbfgs";

    [Setting("epochs", "training epochs (L-BFGS: iterations)", Min = 0)]
    public int Epochs { get; init; } = 1000;

    [Setting("learning_rate", "step size of adam and sgd; 0: the optimiser's default", Min = 0)]
    public double LearningRate { get; init; } = 0;

    [Setting("momentum", "momentum of sgd", Min = 0, Max = 1)]
    public double Momentum { get; init; } = 0.9;

    [Setting("batch", "structures per mini-batch; 0: all", Min = 0)]
    public int Batch { get; init; } = 0;

    [Setting("validation", "fraction of the training structures held out for validation", Min = 0, Max = 1)]
    public double Validation { get; init; } = 0.1;

    [Setting("patience", "stop after this many evaluations without a better validation loss; 0: never", Min = 0)]
    public int Patience { get; init; } = 0;

    [Setting("evaluate_every", "epochs between validation evaluations (learning_curve.csv)", Min = 1)]
    public int EvaluateEvery { get; init; } = 10;

    [Setting("checkpoint_every", "epochs between checkpoints (mlip train --resume)", Min = 1)]
    public int CheckpointEvery { get; init; } = 50;

    [Setting("l2", "L2 penalty on the network weights", Min = 0)]
    public double L2 { get; init; } = 1e-6;
}

/// <summary>A feed-forward network per element on the descriptors (Behler-Parrinello).</summary>
public sealed class NeuralNetworkKind : ModelKind<NeuralNetworkSettings>
{
    public override string Name => "nn";
    public override string Doc => "one feed-forward network per element on the descriptors (Behler-Parrinello), trained on energies, forces and stresses";
    public override ModelCodec? Codec => ModelFile.NetworkCodec;
    public override PerAtomVariant PerAtom { get; } = new PerAtomNetworkVariant();
    /// <summary>With mini-batches (batch &gt; 0) the network trains from the descriptor store, one batch in memory at a time.</summary>
    public override bool Streams(object settings) => ((NeuralNetworkSettings)settings).Batch > 0;

    /// <summary>Under MPI each rank computes the loss and gradient of its share of the structures (in memory); the sums drive one optimiser.</summary>
    public override bool Distributes(object settings) => true;

    protected override ModelFitResult Fit(ModelFitContext c, NeuralNetworkSettings s)
    {
        var options = new NeuralNetworkOptions
        {
            Hidden = s.Hidden,
            Activation = Mlp.ParseActivation(s.Activation),
            Optimizer = s.Optimizer,
            Epochs = s.Epochs,
            LearningRate = s.LearningRate,
            Momentum = s.Momentum,
            BatchStructures = s.Batch,
            ValidationFraction = s.Validation,
            Patience = s.Patience,
            EvaluateEvery = s.EvaluateEvery,
            CheckpointEvery = s.CheckpointEvery,
            L2 = s.L2,
            Weights = c.Loss,
            Seed = c.Seed,
            Threads = c.Threads,
            Communicator = c.Communicator,
        };
        if (c.Store is not null && c.Communicator.Size > 1)
            throw new Validation.MlipException($"{c.Source}: a network's mini-batches streamed from the descriptor store do not split over MPI ranks yet; add 'store: none' (each rank holds its share in memory) or run without mpirun");
        var trainer = c.Store is { } store
            ? new NeuralNetworkTrainer(c.Structures, c.Descriptor, StoreStatistics(store, c.Log, c.Threads), options)
            : new NeuralNetworkTrainer(c.Set!, options);
        c.Log.WriteLine($"network: {string.Join("-", new[] { c.Descriptor.FeatureCount }.Concat(options.Hidden).Append(1))} per element, {options.Activation}, {trainer.ParameterCount} parameters; " +
                        $"{options.Optimizer}, {trainer.TrainStructures} training / {trainer.ValidationStructures} validation structures");
        var (m, curve, finalLoss) = trainer.Train(c.Log, c.Output is null ? null : Path.Combine(c.Output, "checkpoint.json"), c.Resume);
        if (c.Output is not null && c.Communicator.IsRoot) TrainingRun.WriteLearningCurve(c.Output, curve);
        return new ModelFitResult(m, new JsonObject
        {
            ["optimizer"] = options.Optimizer, ["epochs"] = curve.Count > 0 ? curve[^1].Epoch : 0,
            ["final_loss"] = finalLoss, ["parameters"] = trainer.ParameterCount,
        });
    }

    /// <summary>The feature statistics from the store's feature chunks (computed and written when missing).</summary>
    private static (double[], double[]) StoreStatistics(Streaming.DescriptorStore store, TextWriter log, int threads)
    {
        int done = store.FeatureChunksDone();
        store.EnsureFeatures(threads);
        log.WriteLine(done == store.ChunkCount
            ? $"descriptor store: reusing the features of {store.Describe()}; mini-batches streamed (descriptors computed per batch)"
            : $"descriptor store: features of {store.Describe()}; mini-batches streamed (descriptors computed per batch)");
        return store.FeatureStatistics();
    }
}
