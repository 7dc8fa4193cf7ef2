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
        var per = ModelJson.Object(m, "elements", path);
        JsonObject Of(int zz) => per[Elements.Symbol(zz)] is { } n ? ModelJson.AsObject(n, path) : throw ModelJson.Error(path, per.GetPath(), $"no model for {Elements.Symbol(zz)}");
        IPerAtomModel model;
        switch (kind)
        {
            case "linear" or "quadratic":
            {
                int order = ModelJson.IntOr(m, "order", path, kind == "linear" ? 1 : 2, 1, 2);
                int expected = PerAtomPolynomialModel.BasisSize(order, fs.Count) * ts.Count;
                var w = z.Select(zz => ModelJson.Numbers(Of(zz), "weights", path, expected)).ToArray();
                model = new PerAtomPolynomialModel(order, z, fs, ts, w);
                break;
            }
            case "nn":
            {
                var activation = m["activation"] is null ? Activation.Tanh : ModelFile.ParseActivation(m, path);
                var nets = z.Select(zz =>
                {
                    var layers = ModelFile.ReadLayers(Of(zz), k, path);
                    if (layers[^1].Out != ts.Count) throw ModelJson.Error(path, Of(zz).GetPath(), $"the last layer has {layers[^1].Out} outputs, expected {ts.Count}");
                    return (IReadOnlyList<DenseLayer>)layers;
                }).ToArray();
                model = new PerAtomNetworkModel(z, fs, ts, nets, activation);
                break;
            }
            case "gpr":
            {
                var sp = z.Select(zz => ModelJson.Numbers(Of(zz), "sparse_points", path)).ToArray();
                var al = z.Select(zz => ModelJson.Numbers(Of(zz), "alpha", path)).ToArray();
                for (int e = 0; e < z.Length; e++)
                    if (sp[e].Length % k != 0 || (long)sp[e].Length / k * ts.Count != al[e].Length)
                        throw ModelJson.Error(path, Of(z[e]).GetPath(), $"{sp[e].Length} sparse point values ({k} features each) do not match {al[e].Length} weights ({ts.Count} per point)");
                model = new PerAtomGaussianProcessModel(z, fs, ts, sp, al, ModelJson.Double(m, "length_scale", path), ModelJson.Double(m, "variance", path, 1.0));
                break;
            }
            default:
                throw ModelJson.Error(path, "$.model.kind", $"unknown per-atom model kind '{kind}'");
        }
        return new PerAtomPredictor(descriptor, model, spec, name, alphas);
    }
}
