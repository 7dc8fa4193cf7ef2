using System.Text.Json;
using System.Text.Json.Nodes;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Models;

/// <summary>
/// A fitted per-atom model with its descriptor: predicts the per-atom array <see cref="TargetName"/>
/// (<see cref="Outputs"/> components per atom) of any structure. <see cref="Alphas"/> holds the
/// exponents when the target is a Gaussian expansion (OLCAO coefficients).
/// </summary>
public sealed class PerAtomPredictor(IDescriptor descriptor, IPerAtomModel model, DescriptorSpec spec, string targetName, double[]? alphas)
{
    public IDescriptor Descriptor { get; } = descriptor;
    public IPerAtomModel Model { get; } = model;
    public DescriptorSpec Spec { get; } = spec;
    public string TargetName { get; } = targetName;
    public double[]? Alphas { get; } = alphas;
    public int Outputs => Model.Outputs;

    public string Name => $"per-atom {Model.Kind} on {Descriptor.Name} ({Descriptor.FeatureCount} features) -> {TargetName} ({Outputs} components)";

    /// <summary>Predictions for every atom of <paramref name="s"/> (atom-major, Outputs per atom).</summary>
    public double[] Predict(Structure s)
    {
        foreach (int z in s.DistinctAtomicNumbers())
            if (!Model.Elements.Contains(z))
                throw new MlipInputException(s.Source ?? InputLocation.Unknown,
                    $"the model was trained on {string.Join(" ", Model.Elements.Select(Elements.Symbol))} and cannot handle {Elements.Symbol(z)}");
        var set = Descriptor.Compute(s, derivatives: false);
        var y = new double[s.Count * Outputs];
        Model.Predict(set.Values, s.AtomicNumbers, y);
        return y;
    }
}

/// <summary>
/// Model files of per-atom models (docs/model-file.md, kind "per_atom"): the Mlip model-file header
/// (format, version, elements, descriptor type and parameters), the target (name, components, exponents
/// for Gaussian expansions) and the regressor with its feature and target standardisation.
/// </summary>
public static class PerAtomModelFile
{
    public const string Kind = "per_atom";

    private static readonly Dictionary<string, PerAtomCodec> Codecs = new(StringComparer.Ordinal)
    {
        ["linear"] = PerAtomCodecs.Polynomial("linear"),
        ["quadratic"] = PerAtomCodecs.Polynomial("quadratic"),
        ["nn"] = PerAtomCodecs.Network,
        ["gpr"] = PerAtomCodecs.GaussianProcess,
    };

    /// <summary>The per-atom kinds the file can hold.</summary>
    public static IReadOnlyList<string> Kinds
    {
        get { lock (Codecs) return [.. Codecs.Keys]; }
    }

    /// <summary>The codec of per-atom kind <paramref name="kind"/>, or null.</summary>
    public static PerAtomCodec? Codec(string kind)
    {
        lock (Codecs) return Codecs.GetValueOrDefault(kind);
    }

    /// <summary>Adds (or replaces) the codec of a per-atom kind.</summary>
    public static void Register(PerAtomCodec codec)
    {
        lock (Codecs) Codecs[codec.Kind] = codec;
    }

    /// <summary>Removes a per-atom kind's codec (a test's clean-up after <see cref="Register"/>).</summary>
    public static bool Unregister(string kind)
    {
        lock (Codecs) return Codecs.Remove(kind);
    }

    /// <summary>True when <paramref name="path"/> is an Mlip model file of kind "per_atom".</summary>
    public static bool IsPerAtom(string path)
    {
        if (!File.Exists(path) || !path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return false;
        try
        {
            using var doc = JsonInput.ParseFile(path);
            return doc.RootElement.ValueKind == JsonValueKind.Object &&
                   doc.RootElement.TryGetProperty("kind", out var k) && k.ValueKind == JsonValueKind.String && k.GetString() == Kind;
        }
        catch (MlipException)
        {
            return false;
        }
    }

    private static JsonArray Numbers(IEnumerable<double> values) => ModelFile.Numbers(values);

    public static void Save(string path, PerAtomPredictor p, JsonObject? training = null)
    {
        var m = p.Model;
        var model = new JsonObject
        {
            ["kind"] = m.Kind,
            ["outputs"] = m.Outputs,
        };
        if (m is PerAtomModelBase b)
        {
            model["feature_mean"] = Numbers(b.Features.Mean);
            model["feature_scale"] = Numbers(b.Features.Scale);
            model["target_mean"] = Numbers(b.Targets.Mean);
            model["target_scale"] = Numbers(b.Targets.Scale);
        }
        var codec = Codec(m.Kind) ?? throw new MlipException($"per-atom model kind '{m.Kind}' cannot be saved (no codec: PerAtomModelFile.Register)");
        var byElement = new JsonObject();
        for (int e = 0; e < m.Elements.Count; e++) byElement[Elements.Symbol(m.Elements[e])] = codec.WriteElement(m, e);
        model["elements"] = byElement;
        codec.WriteExtra(m, model);

        var root = ModelFile.Header(Kind, m.Elements, p.Spec, p.Descriptor);
        root["target"] = new JsonObject
        {
            ["name"] = p.TargetName,
            ["components"] = p.Outputs,
            ["alphas"] = p.Alphas is null ? null : Numbers(p.Alphas),
            ["units"] = p.Alphas is null ? null : "coefficients in Hartree, exponents in bohr^-2 (OLCAO)",
        };
        root["model"] = model;
        ModelFile.Write(path, root, training);
    }

    public static PerAtomPredictor Load(string path) => ModelJson.LoadObject(path, LoadJson);

    private static PerAtomPredictor LoadJson(JsonObject root, string path, InputLocation where)
    {
        if (ModelJson.OptionalString(root, "format", path) != ModelFile.FormatName) throw new FileFormatException(where, $"not an Mlip model file (format is not '{ModelFile.FormatName}')");
        string rootKind = ModelJson.String(root, "kind", path);
        if (rootKind != Kind) throw new FileFormatException(where, $"not a per-atom model (kind is '{rootKind}')");
        var (_, z, _, spec, descriptor) = ModelFile.ReadHeader(root, where);
        var t = ModelJson.Object(root, "target", path);
        string name = ModelJson.String(t, "name", path);
        double[]? alphas = t["alphas"] is null ? null : ModelJson.Numbers(t, "alphas", path);
        var m = ModelJson.Object(root, "model", path);
        string kind = ModelJson.String(m, "kind", path);
        int k = descriptor.FeatureCount;
        var fs = new Standardization(ModelJson.Numbers(m, "feature_mean", path, k), ModelFile.Scales(m, path, k));
        var tm = ModelJson.Numbers(m, "target_mean", path);
        if (tm.Length == 0) throw ModelJson.Error(path, "$.model.target_mean", "no target components");
        var ts = new Standardization(tm, ModelFile.Scales(m, path, tm.Length, "target_scale"));
        if (alphas is not null && alphas.Length != ts.Count)
            throw new FileFormatException(where, $"{alphas.Length} exponents for {ts.Count} components");
        var codec = Codec(kind) ?? throw ModelJson.Error(path, "$.model.kind", $"unknown per-atom model kind '{kind}' ({string.Join(", ", Kinds)})");
        var model = codec.Read(new PerAtomReadContext(m, z, fs, ts, path));
        return new PerAtomPredictor(descriptor, model, spec, name, alphas);
    }
}
