using Mlip.Configuration;
using Mlip.Models;
using Mlip.Validation;

namespace Mlip.Training;

/// <summary>What a per-atom fit gets besides its settings: the data, the loss's exponents for a function loss, seed, threads and log.</summary>
public sealed record PerAtomFitContext
{
    public required PerAtomData Data { get; init; }
    /// <summary>The exponents of a Gaussian-expansion target (OLCAO), or null.</summary>
    public double[]? Alphas { get; init; }
    public int Seed { get; init; } = 1;
    public int Threads { get; init; } = Environment.ProcessorCount;
    public TextWriter Log { get; init; } = TextWriter.Null;
    /// <summary>The config file, for errors.</summary>
    public string Source { get; init; } = "";
}

/// <summary>
/// The per-atom variant of a model kind (<c>target: {per_atom: NAME}</c>; docs/per-atom-targets.md): a regressor from
/// per-atom descriptors to per-atom vectors, with its own settings record (the model keys of a per-atom config).
/// A kind offers one through <see cref="ModelKind.PerAtom"/>; its model file codec is in <see cref="PerAtomModelFile"/>.
/// </summary>
public abstract class PerAtomVariant
{
    /// <summary>The settings record (a class with <see cref="SettingAttribute"/> properties).</summary>
    public abstract Type SettingsType { get; }

    /// <summary>The settings with the section's values over the defaults (unknown keys and bad values are errors at their line).</summary>
    public object BindSettings(ConfigSection section, string kindName) => SettingsBinder.Bind(SettingsType, section, $"a per-atom {kindName} model");

    public abstract IPerAtomModel Fit(PerAtomFitContext context, object settings);

    /// <summary>
    /// The read/write of its models in the per-atom model file, registered with <see cref="PerAtomModelFile"/> by
    /// <see cref="ModelKinds.Register"/>; null for the library's kinds, whose codecs are in that file's table already.
    /// </summary>
    public virtual PerAtomCodec? Codec => null;
}

/// <summary>A per-atom variant with a typed settings record.</summary>
public abstract class PerAtomVariant<TSettings> : PerAtomVariant where TSettings : class, new()
{
    public sealed override Type SettingsType => typeof(TSettings);

    public sealed override IPerAtomModel Fit(PerAtomFitContext context, object settings) => Fit(context, (TSettings)settings);

    protected abstract IPerAtomModel Fit(PerAtomFitContext context, TSettings settings);
}

/// <summary>Settings of a per-atom linear or quadratic model.</summary>
public sealed record PerAtomPolynomialSettings
{
    [Setting("ridge", "ridge on the standardised problem, per atom (the constant column unpenalised)", Min = 0)]
    public double Ridge { get; init; } = 1e-8;
}

/// <summary>Settings of a per-atom network.</summary>
public sealed record PerAtomNetworkSettings
{
    [Setting("hidden", "hidden layer sizes of each element's network", Min = 1)]
    public int[] Hidden { get; init; } = [64, 64];

    [Setting("activation", "activation of the hidden layers", Choices = ["tanh", "sigmoid", "softplus", "silu", "swish", "relu", "linear", "identity", "halftanh"])]
    public string Activation { get; init; } = "tanh";

    [Setting("optimizer", "lbfgs (full batch), adam or sgd (momentum 0.9)", Choices = ["lbfgs", "l-bfgs", "adam", "sgd"])]
    public string Optimizer { get; init; } = "lbfgs";

    [Setting("epochs", "training epochs (L-BFGS: iterations)", Min = 0)]
    public int Epochs { get; init; } = 500;

    [Setting("learning_rate", "step size of adam and sgd; 0: the optimiser's default", Min = 0)]
    public double LearningRate { get; init; } = 0;

    [Setting("l2", "L2 penalty on the weights", Min = 0)]
    public double L2 { get; init; } = 1e-6;

    [Setting("loss", "components: mean squared error of the standardised components; function: L2 error of the reconstructed V(r) of a Gaussian-expansion target", Choices = ["components", "function"])]
    public string Loss { get; init; } = "components";
}

/// <summary>Settings of a per-atom sparse Gaussian process.</summary>
public sealed record PerAtomGaussianProcessSettings
{
    [Setting("sparse", "sparse points per element (all atoms when fewer)", Min = 1)]
    public int Sparse { get; init; } = 600;

    [Setting("length_scale", "length scale of the squared-exponential kernel in standardised features", Min = 0)]
    public double LengthScale { get; init; } = 1.0;

    [Setting("noise", "noise variance in standardised target units", Min = 0)]
    public double Noise { get; init; } = 1e-4;
}

/// <summary>Per-atom linear (order 1) or quadratic (order 2) polynomials, multi-output ridge.</summary>
public sealed class PerAtomPolynomialVariant(int order) : PerAtomVariant<PerAtomPolynomialSettings>
{
    protected override IPerAtomModel Fit(PerAtomFitContext c, PerAtomPolynomialSettings s) =>
        PerAtomFit.Polynomial(c.Data, order, new PerAtomFitOptions { Ridge = s.Ridge, Seed = c.Seed, Threads = c.Threads });
}

/// <summary>Per-atom networks (one per element), TorchSharp gradients.</summary>
public sealed class PerAtomNetworkVariant : PerAtomVariant<PerAtomNetworkSettings>
{
    protected override IPerAtomModel Fit(PerAtomFitContext c, PerAtomNetworkSettings s)
    {
        bool functionLoss = s.Loss == "function";
        if (functionLoss && c.Alphas is null)
            throw new MlipException($"{c.Source}: model.loss: function needs a Gaussian-expansion target (exponents in Info['{Data.GaussianPotentialTarget.AlphasKey}'])");
        return PerAtomFit.Network(c.Data, new PerAtomFitOptions
        {
            Hidden = s.Hidden, Activation = Mlp.ParseActivation(s.Activation), Optimizer = s.Optimizer, Epochs = s.Epochs,
            LearningRate = s.LearningRate, L2 = s.L2, FunctionLossAlphas = functionLoss ? c.Alphas : null, Seed = c.Seed, Threads = c.Threads,
        }, c.Log);
    }
}

/// <summary>Per-atom sparse Gaussian processes (one per element).</summary>
public sealed class PerAtomGaussianProcessVariant : PerAtomVariant<PerAtomGaussianProcessSettings>
{
    protected override IPerAtomModel Fit(PerAtomFitContext c, PerAtomGaussianProcessSettings s) =>
        PerAtomFit.GaussianProcess(c.Data, new PerAtomFitOptions { SparsePoints = s.Sparse, LengthScale = s.LengthScale, Noise = s.Noise, Seed = c.Seed, Threads = c.Threads });
}
