using System.Text.Json.Nodes;
using Mlip.Configuration;
using Mlip.Descriptors;
using Mlip.Distributed;
using Mlip.Models;
using Mlip.Calculators;
using Mlip.Models.Uncertainty;
using Mlip.Structures;
using Mlip.Training.Streaming;

namespace Mlip.Training;

/// <summary>What a model kind's fit gets: the descriptor, the structures (and their descriptors), the loss and the run's seed, threads and output.</summary>
public sealed record ModelFitContext
{
    public required IDescriptor Descriptor { get; init; }
    public required DescriptorSpec Spec { get; init; }
    /// <summary>The element symbols of the data (sorted by atomic number).</summary>
    public required IReadOnlyList<string> Elements { get; init; }
    public required IReadOnlyList<Structure> Structures { get; init; }
    /// <summary>The structures' descriptors (with derivatives when forces or stresses are fitted); null for a kind whose <see cref="ModelKind.NeedsTrainingSet"/> is false.</summary>
    public TrainingSet? Set { get; init; }
    /// <summary>The descriptor store of the data (docs/scale.md) when the run streams (<see cref="ModelKind.Streams"/>); then <see cref="Set"/> is null.</summary>
    public DescriptorStore? Store { get; init; }
    public LossWeights Loss { get; init; } = new();
    public int Seed { get; init; } = 1;
    public int Threads { get; init; } = Environment.ProcessorCount;
    /// <summary>The run directory (checkpoints, learning curves); null in an active-learning refit.</summary>
    public string? Output { get; init; }
    public bool Resume { get; init; }
    public TextWriter Log { get; init; } = TextWriter.Null;
    public IProgress<WorkProgress>? Progress { get; init; }
    /// <summary>The config file, for errors.</summary>
    public string Source { get; init; } = "";
    /// <summary>
    /// The ranks of an MPI run (one process by default). With more than one, <see cref="Structures"/> and <see cref="Set"/>
    /// hold this rank's share of the training structures and the fit combines the ranks (kinds whose
    /// <see cref="ModelKind.Distributes"/> is true).
    /// </summary>
    public ICommunicator Communicator { get; init; } = SingleProcess.Instance;
    /// <summary>
    /// The <see cref="ModelFitResult.WarmStart"/> of an earlier fit of the same kind and settings on part of these
    /// structures (an active-learning refit), for kinds that can start from it; null: a fresh fit.
    /// </summary>
    public object? WarmStart { get; init; }
}

/// <summary>A fitted model (or a whole potential, for kinds that are not descriptor + model) and what the fit reports to training.json.</summary>
/// <remarks><see cref="WarmStart"/>: the fit's state a later refit on more data may start from (<see cref="ModelFitContext.WarmStart"/>), or null.</remarks>
public sealed record ModelFitResult(IAtomicModel? Model, JsonObject Info, Potential? Potential = null, object? WarmStart = null);

/// <summary>
/// One model kind: its name, its settings record (keys, defaults and docs: <see cref="SettingsBinder"/>), its fit,
/// the codec of its model file and the uncertainty it offers. Every verb finds kinds in <see cref="ModelKinds"/>.
/// </summary>
public abstract class ModelKind
{
    /// <summary>The name written as <c>model: {kind: NAME}</c> and in the model file.</summary>
    public abstract string Name { get; }
    /// <summary>One line for the schema and the docs.</summary>
    public abstract string Doc { get; }
    /// <summary>The settings record (a class with a parameterless constructor and <see cref="SettingAttribute"/> properties).</summary>
    public abstract Type SettingsType { get; }
    /// <summary>False for a kind whose fit reads the structures itself (ACE folds derivative blocks into its design matrix as it goes).</summary>
    public virtual bool NeedsTrainingSet => true;
    /// <summary>True when the fit with these settings combines the shares of the ranks of an MPI run (<see cref="ModelFitContext.Communicator"/>).</summary>
    public virtual bool Distributes(object settings) => false;
    /// <summary>True for kinds that fit from a <see cref="DescriptorStore"/> chunk by chunk (<see cref="ModelFitContext.Store"/>) when the run has one, with these settings.</summary>
    public virtual bool Streams(object settings) => false;
    /// <summary>True for kinds cheap enough to refit at every active-learning iteration (<c>mlip learn</c>).</summary>
    public virtual bool Refittable => false;
    /// <summary>
    /// Radius the training set's neighbour lists must reach for this kind's model when it exceeds the descriptor's cut-off
    /// (a PINN's bond-order term: 1.5 R_c); 0 when the descriptor's own list suffices.
    /// </summary>
    public virtual double NeighborCutoff(object settings, IDescriptor descriptor) => 0;
    /// <summary>The descriptor type the kind needs, or null for any.</summary>
    public virtual string? Descriptor => null;
    /// <summary>Read/write of the model in the Mlip model file; null when the kind's potentials are saved in another format.</summary>
    public abstract ModelCodec? Codec { get; }
    /// <summary>The per-atom variant (<c>target: {per_atom: NAME}</c>), or null when the kind has none.</summary>
    public virtual PerAtomVariant? PerAtom => null;
    /// <summary>The name of the uncertainty score <see cref="Uncertainty"/> gives, for reports.</summary>
    public virtual string UncertaintyName => "d-optimality max gamma";

    /// <summary>The uncertainty of a fitted potential of this kind over its training set (default: D-optimality over the descriptors).</summary>
    public virtual IUncertaintyEstimator Uncertainty(Potential potential, TrainingSet set) => new DOptimalityUncertainty(potential, DOptimality.Build(set));

    /// <summary>The settings with the section's values over the defaults (unknown keys and bad values are errors at their line).</summary>
    public object BindSettings(ConfigSection section) => SettingsBinder.Bind(SettingsType, section, $"a {Name} model");

    public object DefaultSettings() => Activator.CreateInstance(SettingsType)!;

    /// <summary>Fits a model of this kind with <paramref name="settings"/> (an instance of <see cref="SettingsType"/>).</summary>
    public abstract ModelFitResult Fit(ModelFitContext context, object settings);
}

/// <summary>A model kind with a typed settings record.</summary>
public abstract class ModelKind<TSettings> : ModelKind where TSettings : class, new()
{
    public sealed override Type SettingsType => typeof(TSettings);

    public sealed override ModelFitResult Fit(ModelFitContext context, object settings) => Fit(context, (TSettings)settings);

    protected abstract ModelFitResult Fit(ModelFitContext context, TSettings settings);
}
