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

    private static double[] Read(JsonNode? node, string what, string path) => ModelFile.ReadNumbers(node, what, path);

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
        var byElement = new JsonObject();
        for (int e = 0; e < m.Elements.Count; e++)
        {
            string sym = Elements.Symbol(m.Elements[e]);
            byElement[sym] = m switch
            {
                PerAtomPolynomialModel poly => new JsonObject { ["weights"] = Numbers(poly.Weights[e]) },
                PerAtomNetworkModel nn => new JsonObject
                {
                    ["layers"] = new JsonArray([.. nn.Networks[e].Select(l => (JsonNode)new JsonObject
                        { ["in"] = l.In, ["out"] = l.Out, ["weights"] = Numbers(l.Weights), ["bias"] = Numbers(l.Bias) })]),
                },
                PerAtomGaussianProcessModel gp => new JsonObject { ["sparse_points"] = Numbers(gp.SparsePoints[e]), ["alpha"] = Numbers(gp.Alpha[e]) },
                _ => throw new MlipException($"per-atom model kind '{m.Kind}' cannot be saved"),
            };
        }
        model["elements"] = byElement;
        if (m is PerAtomPolynomialModel pm) model["order"] = pm.Order;
        if (m is PerAtomNetworkModel nm) model["activation"] = nm.Activation.ToString().ToLowerInvariant();
        if (m is PerAtomGaussianProcessModel gm) { model["length_scale"] = gm.LengthScale; model["variance"] = gm.Variance; }

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

    public static PerAtomPredictor Load(string path)
    {
        using var doc = JsonInput.ParseFile(path);
        var root = JsonNode.Parse(doc.RootElement.GetRawText())!.AsObject();
        var where = new InputLocation(path);
        if ((string?)root["format"] != ModelFile.FormatName) throw new FileFormatException(where, $"not an Mlip model file (format is not '{ModelFile.FormatName}')");
        if ((string?)root["kind"] != Kind) throw new FileFormatException(where, $"not a per-atom model (kind is '{(string?)root["kind"]}')");
        var (_, z, _, spec, descriptor) = ModelFile.ReadHeader(root, where);
        var t = root["target"]?.AsObject() ?? throw new FileFormatException(where, "missing 'target'");
        string name = (string?)t["name"] ?? throw new FileFormatException(where, "missing 'target.name'");
        double[]? alphas = t["alphas"] is null ? null : Read(t["alphas"], "target.alphas", path);
        var m = root["model"]?.AsObject() ?? throw new FileFormatException(where, "missing 'model'");
        string kind = (string?)m["kind"] ?? throw new FileFormatException(where, "missing 'model.kind'");
        var fs = new Standardization(Read(m["feature_mean"], "feature_mean", path), Read(m["feature_scale"], "feature_scale", path));
        var ts = new Standardization(Read(m["target_mean"], "target_mean", path), Read(m["target_scale"], "target_scale", path));
        if (fs.Count != descriptor.FeatureCount)
            throw new FileFormatException(where, $"the descriptor gives {descriptor.FeatureCount} features but the model was trained on {fs.Count}");
        if (alphas is not null && alphas.Length != ts.Count)
            throw new FileFormatException(where, $"{alphas.Length} exponents for {ts.Count} components");
        var per = m["elements"]?.AsObject() ?? throw new FileFormatException(where, "missing 'model.elements'");
        JsonObject Of(int zz) => per[Elements.Symbol(zz)]?.AsObject() ?? throw new FileFormatException(where, $"no model for {Elements.Symbol(zz)}");
        IPerAtomModel model;
        switch (kind)
        {
            case "linear" or "quadratic":
            {
                int order = (int?)m["order"] ?? (kind == "linear" ? 1 : 2);
                var w = z.Select(zz => Read(Of(zz)["weights"], "weights", path)).ToArray();
                int expected = PerAtomPolynomialModel.BasisSize(order, fs.Count) * ts.Count;
                if (w.Any(v => v.Length != expected)) throw new FileFormatException(where, $"expected {expected} weights per element");
                model = new PerAtomPolynomialModel(order, z, fs, ts, w);
                break;
            }
            case "nn":
            {
                var activation = Mlp.ParseActivation((string?)m["activation"] ?? "tanh");
                var nets = z.Select(zz => (IReadOnlyList<DenseLayer>)Of(zz)["layers"]!.AsArray().Select(l =>
                {
                    int i = (int)l!["in"]!, o = (int)l["out"]!;
                    var w = Read(l["weights"], "weights", path);
                    var b = Read(l["bias"], "bias", path);
                    if (w.Length != i * o || b.Length != o) throw new FileFormatException(where, "a layer's weights do not match its size");
                    return new DenseLayer(i, o, w, b);
                }).ToList()).ToArray();
                model = new PerAtomNetworkModel(z, fs, ts, nets, activation);
                break;
            }
            case "gpr":
                model = new PerAtomGaussianProcessModel(z, fs, ts,
                    [.. z.Select(zz => Read(Of(zz)["sparse_points"], "sparse_points", path))],
                    [.. z.Select(zz => Read(Of(zz)["alpha"], "alpha", path))],
                    (double?)m["length_scale"] ?? throw new FileFormatException(where, "missing 'length_scale'"),
                    (double?)m["variance"] ?? 1.0);
                break;
            default:
                throw new FileFormatException(where, $"unknown per-atom model kind '{kind}'");
        }
        return new PerAtomPredictor(descriptor, model, spec, name, alphas);
    }
}
