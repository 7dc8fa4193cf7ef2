using System.Text.Json.Nodes;
using Mlip.Configuration;
using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Validation;

namespace Mlip.Training;

/// <summary>Settings of <c>model: {kind: pinn}</c> (docs/pinn.md).</summary>
public sealed record PinnSettings
{
    [Setting("hidden", "hidden layer sizes of each element's network", Min = 1)]
    public int[] Hidden { get; init; } = [16, 16];

    [Setting("activation", "activation of the hidden layers", Choices = ["tanh", "sigmoid", "softplus", "silu", "swish", "relu", "linear", "identity", "halftanh"])]
    public string Activation { get; init; } = "tanh";

    [Setting("optimizer", "stage 2 optimiser: lbfgs (full batch), adam or sgd", Choices = ["lbfgs", "l-bfgs", "adam", "sgd"])]
    public string Optimizer { get; init; } = "lbfgs";

    [Setting("epochs", "stage 2 epochs (network and BOP together)", Min = 0)]
    public int Epochs { get; init; } = 200;

    [Setting("bop_epochs", "stage 1: L-BFGS iterations on the BOP parameters alone", Min = 0)]
    public int BopEpochs { get; init; } = 100;

    [Setting("bop_stress", "stage 1: weight of the stress term in the BOP's loss (GPa^2; the data's stresses fix the BOP's elastic response); none: the loss's stress weight", Min = 0, DefaultText = "none")]
    public double? BopStress { get; init; }

    [Setting("bop_group_weights", "stage 1: none (every structure, force component and stress component alike) or equal (each group, config_type, has the same share of each term of the BOP's loss, whatever its size; docs/pinn.md)", Choices = ["none", "equal"])]
    public string BopGroupWeights { get; init; } = "none";

    [Setting("bop_initial", "initial BOP parameters (one set per element); none: the built-in start", DefaultText = "none")]
    public double[]? BopInitial { get; init; }

    [Setting("learning_rate", "step size of adam and sgd; 0: the optimiser's default", Min = 0)]
    public double LearningRate { get; init; } = 0;

    [Setting("batch", "structures per mini-batch; 0: all", Min = 0)]
    public int Batch { get; init; } = 0;

    [Setting("validation", "fraction of the training structures held out for validation", Min = 0, Max = 1)]
    public double Validation { get; init; } = 0.1;

    [Setting("penalty", "weight of the penalty keeping the predicted BOP parameters near their mean", Min = 0)]
    public double Penalty { get; init; } = 1e-3;

    [Setting("penalty_steps", "later values of the penalty, lowered along stage 2 (continuation: a fresh optimiser at each change); none: penalty throughout", Min = 0, DefaultText = "none")]
    public double[]? PenaltySteps { get; init; }

    [Setting("penalty_step_epochs", "the stage-2 epochs after which the values of penalty_steps take over, increasing, one per value", Min = 1, DefaultText = "none")]
    public int[]? PenaltyStepEpochs { get; init; }

    /// <summary>The (after epoch, τ) steps of the penalty; one line naming the keys when they do not pair up.</summary>
    public IReadOnlyList<(int AfterEpoch, double Penalty)> PenaltySchedule() => Steps(PenaltySteps, PenaltyStepEpochs, "penalty_steps", "penalty_step_epochs");

    [Setting("penalty_weights", "weight of each BOP parameter of an element's set in the penalty (A, alpha, B, beta, h, sigma, zeta, lambda for one element; docs/pinn.md); none: all 1", Min = 0, DefaultText = "none")]
    public double[]? PenaltyWeights { get; init; }

    [Setting("unlabelled_penalty", "weight of a penalty on the network's correction |dp|^2 at unlabelled distorted copies of the training cells (holds the correction small where the data end; docs/pinn.md); 0: none", Min = 0)]
    public double UnlabelledPenalty { get; init; }

    [Setting("unlabelled_penalty_steps", "later values of unlabelled_penalty, e.g. raised along stage 2 so that the correction is held harder as the fit tightens (a fresh optimiser at each change); none: unlabelled_penalty throughout", Min = 0, DefaultText = "none")]
    public double[]? UnlabelledPenaltySteps { get; init; }

    [Setting("unlabelled_penalty_step_epochs", "the stage-2 epochs after which the values of unlabelled_penalty_steps take over, increasing, one per value", Min = 1, DefaultText = "none")]
    public int[]? UnlabelledPenaltyStepEpochs { get; init; }

    /// <summary>The (after epoch, τ_u) steps of the unlabelled penalty; one line naming the keys when they do not pair up.</summary>
    public IReadOnlyList<(int AfterEpoch, double Penalty)> UnlabelledPenaltySchedule() =>
        Steps(UnlabelledPenaltySteps, UnlabelledPenaltyStepEpochs, "unlabelled_penalty_steps", "unlabelled_penalty_step_epochs");

    private static IReadOnlyList<(int AfterEpoch, double Penalty)> Steps(double[]? steps, int[]? stepEpochs, string valuesKey, string epochsKey)
    {
        var values = steps ?? [];
        var epochs = stepEpochs ?? [];
        if (values.Length != epochs.Length)
            throw new MlipException($"model: {valuesKey} has {values.Length} values and {epochsKey} {epochs.Length} epochs; give one epoch per value");
        for (int q = 1; q < epochs.Length; q++)
            if (epochs[q] <= epochs[q - 1]) throw new MlipException($"model: {epochsKey} must increase ({epochs[q - 1]} then {epochs[q]})");
        return [.. epochs.Zip(values)];
    }

    [Setting("unlabelled_copies", "distorted copies of each training cell for unlabelled_penalty", Min = 1, Max = 100)]
    public int UnlabelledCopies { get; init; } = 1;

    [Setting("unlabelled_strain", "largest component of the random symmetric strain of a copy for unlabelled_penalty", Min = 0, Max = 0.5)]
    public double UnlabelledStrain { get; init; } = 0.05;

    [Setting("unlabelled_volume", "largest relative volume change of a copy (an extra isotropic scaling) for unlabelled_penalty", Min = 0, Max = 0.5)]
    public double UnlabelledVolume { get; init; } = 0.05;

    [Setting("unlabelled_reference", "what unlabelled_penalty holds the correction at a copy to: zero (|dp|^2) or cell (|dp(copy) - dp(same atom in the undistorted cell)|^2: the correction varies slowly under strain, free at the data)", Choices = ["zero", "cell"])]
    public string UnlabelledReference { get; init; } = "zero";

    [Setting("unlabelled_groups", "groups (config types, comma-separated) whose training cells get the copies of unlabelled_penalty; none: every training cell", DefaultText = "none")]
    public string? UnlabelledGroups { get; init; }

    [Setting("gradient_penalty", "weight tau_g of a penalty on the gradient of the network's correction with respect to its input: tau_g * mean over atoms of sum_c w_c |d dp_c / d X|^2, X the standardised descriptor, w the penalty_weights or 1 (binds the correction in every direction around the atoms of gradient_penalty_at; docs/pinn.md); 0: none", Min = 0)]
    public double GradientPenalty { get; init; }

    [Setting("gradient_penalty_at", "where gradient_penalty is taken: data (the training atoms), copies (the atoms of the distorted copies of unlabelled_copies, unlabelled_strain, unlabelled_volume, unlabelled_groups; made also when unlabelled_penalty is 0) or both (each a mean over its atoms)", Choices = ["data", "copies", "both"])]
    public string GradientPenaltyAt { get; init; } = "data";

    [Setting("response_penalty", "weight tau_r of a term holding the PINN's energy change under the strain of each distorted copy (unlabelled_copies, unlabelled_strain, unlabelled_volume, unlabelled_groups) near the stage-1 BOP's: tau_r * mean over copies of ((E(copy) - E(cell)) - (E0(copy) - E0(cell)))^2 / N^2 (docs/pinn.md); 0: none", Min = 0)]
    public double ResponsePenalty { get; init; }

    [Setting("evaluate_every", "epochs between validation evaluations (learning_curve.csv)", Min = 1)]
    public int EvaluateEvery { get; init; } = 10;

    [Setting("checkpoint_every", "epochs between checkpoints (mlip train --resume)", Min = 1)]
    public int CheckpointEvery { get; init; } = 20;

    [Setting("l2", "L2 penalty on the network weights", Min = 0)]
    public double L2 { get; init; } = 1e-6;

    [Setting("bop_rc", "cut-off radius R_c of the bond-order potential (Å; screening atoms reach 1.5 R_c); none: the pinn descriptor's rc, 4 Å with other descriptors", Min = 0.5, Max = 15, DefaultText = "none")]
    public double? BopRc { get; init; }

    [Setting("bop_dc", "range d_c of the BOP's cut-off function (Å, at most bop_rc); none: the pinn descriptor's dc, 1.5 Å with other descriptors", Min = 0.01, Max = 15, DefaultText = "none")]
    public double? BopDc { get; init; }

    /// <summary>R_c and d_c of the BOP: the keys, else the pinn descriptor's own, else 4 and 1.5 Å.</summary>
    public (double Rc, double Dc) BopCutoff(IDescriptor descriptor)
    {
        double rc = BopRc ?? (descriptor is PinnFeatures pf ? pf.Parameters.Cutoff : 4.0);
        double dc = BopDc ?? (descriptor is PinnFeatures pd ? pd.Parameters.CutoffRange : 1.5);
        if (dc > rc) throw new MlipException($"model: bop_dc = {dc} Å must not exceed bop_rc = {rc} Å");
        return (rc, dc);
    }
}

/// <summary>
/// Physics-informed network: per-atom networks on any descriptor (pinn, so4, so3, ace, acsf ...) predict the parameters
/// of a bond-order potential whose own cut-off is bop_rc, bop_dc (docs/pinn.md).
/// </summary>
public sealed class PinnKind : ModelKind<PinnSettings>
{
    public override string Name => "pinn";
    public override string Doc => "physically informed network: per-element networks on any descriptor predict the parameters of a bond-order potential";
    public override ModelCodec? Codec => ModelFile.FindCodec("pinn");
    /// <summary>Under MPI each rank computes its part of every batch's loss and gradient (both stages); the sums drive one optimiser.</summary>
    public override bool Distributes(object settings) => true;
    /// <summary>With a descriptor store both stages stream: each batch (the full batch of L-BFGS, or a mini-batch) piece by piece, one piece in memory.</summary>
    public override bool Streams(object settings) => true;

    /// <summary>The BOP's screening atoms reach 1.5 R_c: the training set's neighbour lists must too. (Asked before any descriptor
    /// is computed, so a penalty schedule that does not pair up is refused here, at no cost.)</summary>
    public override double NeighborCutoff(object settings, IDescriptor descriptor)
    {
        var s = (PinnSettings)settings;
        s.PenaltySchedule();
        s.UnlabelledPenaltySchedule();
        return 1.5 * s.BopCutoff(descriptor).Rc;
    }

    private static string BopLossText(PinnOptions o) =>
        (o.BopStress is { } bs ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $" (stress weight {bs:G4})") : "") +
        (o.BopGroupsEqual ? " with each group weighed equally" : "");

    protected override ModelFitResult Fit(ModelFitContext c, PinnSettings s)
    {
        var (rc, dc) = s.BopCutoff(c.Descriptor);
        var options = new PinnOptions
        {
            Cutoff = rc,
            CutoffRange = dc,
            InitialParameters = s.BopInitial,
            Hidden = s.Hidden,
            Activation = Mlp.ParseActivation(s.Activation),
            Optimizer = s.Optimizer,
            BopEpochs = s.BopEpochs,
            BopStress = s.BopStress,
            BopGroupsEqual = s.BopGroupWeights == "equal",
            Epochs = s.Epochs,
            LearningRate = s.LearningRate,
            BatchStructures = s.Batch,
            ValidationFraction = s.Validation,
            Penalty = s.Penalty,
            PenaltySchedule = s.PenaltySchedule(),
            PenaltyWeights = s.PenaltyWeights,
            UnlabelledPenalty = s.UnlabelledPenalty,
            UnlabelledPenaltySchedule = s.UnlabelledPenaltySchedule(),
            UnlabelledCopies = s.UnlabelledCopies,
            UnlabelledStrain = s.UnlabelledStrain,
            UnlabelledVolume = s.UnlabelledVolume,
            UnlabelledAgainstCell = s.UnlabelledReference == "cell",
            UnlabelledGroups = s.UnlabelledGroups?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            GradientPenalty = s.GradientPenalty,
            ResponsePenalty = s.ResponsePenalty,
            GradientPenaltyAtData = s.GradientPenaltyAt is "data" or "both",
            GradientPenaltyAtCopies = s.GradientPenaltyAt is "copies" or "both",
            EvaluateEvery = s.EvaluateEvery,
            CheckpointEvery = s.CheckpointEvery,
            L2 = s.L2,
            Weights = c.Loss,
            Seed = c.Seed,
            Threads = c.Threads,
            Communicator = c.Communicator,
        };
        PinnTrainer trainer;
        if (c.Store is { } store)
        {
            int done = store.FeatureChunksDone();
            // under MPI each rank writes its share of the feature chunks (as the linear kinds), then every rank reads them all
            int rank = c.Communicator.Rank, size = c.Communicator.Size, chunks = store.ChunkCount;
            store.EnsureFeatures(c.Threads, chunks: Enumerable.Range(chunks * rank / size, chunks * (rank + 1) / size - chunks * rank / size));
            c.Communicator.Barrier();
            trainer = new PinnTrainer(c.Structures, c.Descriptor, store.FeatureStatistics(), options, store.ChunkAtoms);
            c.Log.WriteLine($"descriptor store: {(done == store.ChunkCount ? "reusing the features of" : "features of")} {store.Describe()}; batches streamed in pieces of at most {store.ChunkAtoms} atoms " +
                            "(descriptors, derivative blocks and BOP geometry computed per piece at every loss evaluation; store: none holds them all)");
        }
        else trainer = new PinnTrainer(c.Set!, options, c.Descriptor);
        string gradientAt = s.GradientPenaltyAt switch
        {
            "data" => "training atoms",
            "copies" => $"{trainer.UnlabelledAtoms} atoms of the distorted copies",
            _ => $"training atoms and the {trainer.UnlabelledAtoms} atoms of the distorted copies",
        };
        c.Log.WriteLine($"pinn: {string.Join("-", new[] { c.Descriptor.FeatureCount }.Concat(options.Hidden).Append(new Calculators.PinnBopLayout(c.Elements.Count).SetSize))} network per element on {c.Descriptor.Name}, {options.Activation}, BOP R_c {rc} Å, d_c {dc} Å, " +
                        $"{trainer.ParameterCount} parameters; stage 1: {options.BopEpochs} L-BFGS iterations on the BOP{BopLossText(options)}, stage 2: {options.Optimizer} {options.Epochs} epochs, " +
                        $"{trainer.TrainStructures} training / {trainer.ValidationStructures} validation structures" +
                        (options.HasUnlabelledPenalty ? string.Create(System.Globalization.CultureInfo.InvariantCulture,
                            $"; unlabelled penalty {options.UnlabelledPenalty:G4}{string.Concat(options.UnlabelledPenaltySchedule.Select(q => $", {q.Penalty:G4} after epoch {q.AfterEpoch}"))} (against {s.UnlabelledReference}) on {options.UnlabelledCopies} distorted cop{(options.UnlabelledCopies == 1 ? "y" : "ies")} of each training cell{(s.UnlabelledGroups is { } ug ? $" of {ug}" : "")} (strain ±{options.UnlabelledStrain:G3}, volume ±{options.UnlabelledVolume:G3}), {trainer.UnlabelledAtoms} atoms") : "") +
                        (options.ResponsePenalty > 0 ? string.Create(System.Globalization.CultureInfo.InvariantCulture,
                            $"; energy-response penalty {options.ResponsePenalty:G4} on {options.UnlabelledCopies} distorted cop{(options.UnlabelledCopies == 1 ? "y" : "ies")} of each training cell (strain ±{options.UnlabelledStrain:G3}, volume ±{options.UnlabelledVolume:G3})") : "") +
                        (options.GradientPenalty > 0 ? string.Create(System.Globalization.CultureInfo.InvariantCulture,
                            $"; gradient penalty {options.GradientPenalty:G4} at the {gradientAt}") : ""));
        var (m, curve, finalLoss) = trainer.Train(c.Log, c.Output is null ? null : Path.Combine(c.Output, "checkpoint.json"), c.Resume);
        if (c.Output is not null && c.Communicator.IsRoot) TrainingRun.WriteLearningCurve(c.Output, curve);
        return new ModelFitResult(m, new JsonObject
        {
            ["optimizer"] = options.Optimizer, ["bop_epochs"] = options.BopEpochs, ["bop_stress"] = options.StageOneWeights.Stress, ["bop_group_weights"] = s.BopGroupWeights, ["epochs"] = options.Epochs,
            ["penalty"] = options.Penalty, ["penalty_final"] = options.PenaltyAt(options.Epochs), ["unlabelled_penalty"] = options.UnlabelledPenalty, ["unlabelled_penalty_final"] = options.UnlabelledPenaltyAt(Math.Max(1, options.Epochs)), ["gradient_penalty"] = options.GradientPenalty, ["response_penalty"] = options.ResponsePenalty, ["final_loss"] = finalLoss, ["parameters"] = trainer.ParameterCount, ["streamed"] = trainer.Streams,
        });
    }
}
