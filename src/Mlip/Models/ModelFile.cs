using System.Text.Json.Nodes;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Models;

/// <summary>
/// The Mlip model file (JSON, see docs/model-file.md): format name and version, the descriptor as
/// type + parameters (elements included), the elements, and the model kind with its weights and
/// normalisation. Loading checks the format and version, rebuilds the descriptor and checks that its
/// feature count matches the weights. Written atomically.
/// </summary>
public static class ModelFile
{
    public const string FormatName = "mlip-model";
    public const int Version = 1;

    /// <summary>Model kinds that can be saved and loaded: kind → (writer, reader).</summary>
    private static readonly Dictionary<string, (Func<IAtomicModel, JsonObject?> Write, Func<JsonObject, int[], int, string, IAtomicModel> Read)> Kinds = new()
    {
        ["linear"] = (WritePolynomial, ReadPolynomial),
        ["quadratic"] = (WritePolynomial, ReadPolynomial),
        ["nn"] = (WriteNetwork, ReadNetwork),
        ["pinn"] = (PinnModelJson.Write, PinnModelJson.Read),
    };

    /// <summary>Registers another model kind (neural networks, GPR register themselves here).</summary>
    public static void Register(string kind, Func<IAtomicModel, JsonObject?> write, Func<JsonObject, int[], int, string, IAtomicModel> read) =>
        Kinds[kind] = (write, read);

    public static void Save(string path, Potential potential, JsonObject? training = null)
    {
        if (Ace.AcePotential.IsAcePath(path))
        {
            Ace.AcePotential.Save(path, Mlip.Interop.Pace.Basis(potential));
            return;
        }
        if (potential.Descriptor is Mlip.Descriptors.Ace.AceDensities)
            throw new MlipException("a PACE potential is saved as .yace or .ace (give the path that extension)");
        var model = potential.Model;
        if (!Kinds.TryGetValue(model.Kind, out var kind)) throw new MlipException($"model kind '{model.Kind}' cannot be saved");
        var root = Header(model.Kind, model.Elements, potential.Spec, potential.Descriptor);
        root["model"] = kind.Write(model);
        Write(path, root, training);
    }

    /// <summary>The header of every Mlip model file: format, version, kind, creation time, elements, descriptor (type, feature count, cutoff, parameters).</summary>
    internal static JsonObject Header(string kind, IEnumerable<int> elements, DescriptorSpec spec, IDescriptor descriptor) => new()
    {
        ["format"] = FormatName,
        ["version"] = Version,
        ["kind"] = kind,
        ["created_utc"] = DateTime.UtcNow.ToString("O"),
        ["elements"] = new JsonArray([.. elements.Select(z => (JsonNode)Elements.Symbol(z))]),
        ["descriptor"] = new JsonObject
        {
            ["type"] = spec.Type,
            ["feature_count"] = descriptor.FeatureCount,
            ["cutoff"] = descriptor.Cutoff,
            ["parameters"] = new JsonObject([.. spec.Parameters.Select(p => new KeyValuePair<string, JsonNode?>(p.Key, p.Value))]),
        },
    };

    /// <summary>Writes <paramref name="root"/> (with <paramref name="training"/> appended when given) as indented JSON, atomically.</summary>
    internal static void Write(string path, JsonObject root, JsonObject? training)
    {
        if (training is not null) root["training"] = training;
        AtomicFile.WriteJson(path, root);
    }

    /// <summary>The elements (symbols and numbers), the descriptor settings and the descriptor of a model file's header.</summary>
    internal static (string[] Symbols, int[] Numbers, JsonObject Node, DescriptorSpec Spec, IDescriptor Descriptor) ReadHeader(JsonObject root, InputLocation where)
    {
        var elements = root["elements"]?.AsArray().Select(e => (string)e!).ToArray() ?? throw new FileFormatException(where, "missing 'elements'");
        var z = elements.Select(e => Elements.Number(e, where)).ToArray();
        var d = root["descriptor"]?.AsObject() ?? throw new FileFormatException(where, "missing 'descriptor'");
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (k, v) in d["parameters"]?.AsObject() ?? []) parameters[k] = v?.ToString() ?? "";
        var spec = new DescriptorSpec((string?)d["type"] ?? throw new FileFormatException(where, "missing descriptor type"), parameters);
        return (elements, z, d, spec, spec.Create(elements));
    }

    public static Potential Load(string path)
    {
        if (Mlip.Interop.Snap.IsSnapPath(path)) return Mlip.Interop.Snap.Load(path);
        if (Mlip.Interop.MliapReader.IsMliapPath(path)) return Mlip.Interop.MliapReader.Load(path);
        if (Mlip.Interop.PinnFile.IsPinnPath(path)) return Mlip.Interop.PinnFile.Load(path);
        if (Ace.AcePotential.IsAcePath(path)) return Ace.AcePotential.Load(path);
        using var doc = JsonInput.ParseFile(path);
        var root = JsonNode.Parse(doc.RootElement.GetRawText())!.AsObject();
        var where = new InputLocation(path);
        if ((string?)root["format"] != FormatName) throw new FileFormatException(where, $"not an Mlip model file (format is not '{FormatName}')");
        int version = (int?)root["version"] ?? 0;
        if (version < 1 || version > Version)
            throw new FileFormatException(where, $"model file version {version} is not supported (this Mlip reads versions 1 to {Version})");
        string kindName = (string?)root["kind"] ?? throw new FileFormatException(where, "missing 'kind'");
        if (!Kinds.TryGetValue(kindName, out var kind)) throw new FileFormatException(where, $"unknown model kind '{kindName}'");
        var (_, z, d, spec, descriptor) = ReadHeader(root, where);
        int expected = (int?)d["feature_count"] ?? descriptor.FeatureCount;
        if (descriptor.FeatureCount != expected)
            throw new FileFormatException(where, $"the descriptor gives {descriptor.FeatureCount} features but the model was trained on {expected}");
        var model = kind.Read(root["model"]?.AsObject() ?? throw new FileFormatException(where, "missing 'model'"), z, descriptor.FeatureCount, path);
        if (model.FeatureCount != descriptor.FeatureCount)
            throw new FileFormatException(where, $"the model expects {model.FeatureCount} features, the descriptor gives {descriptor.FeatureCount}");
        return new Potential(descriptor, model, spec);
    }

    internal static JsonArray Numbers(IEnumerable<double> values) => new([.. values.Select(v => (JsonNode)v)]);

    internal static double[] ReadNumbers(JsonNode? node, string what, string path) =>
        node?.AsArray().Select(v => (double)v!).ToArray() ?? throw new FileFormatException(new InputLocation(path), $"missing '{what}'");

    private static JsonObject WriteNetwork(IAtomicModel m)
    {
        var nn = (NeuralNetworkModel)m;
        var nets = new JsonObject();
        for (int e = 0; e < nn.Elements.Count; e++)
        {
            var layers = new JsonArray();
            foreach (var l in nn.Networks[e].Layers)
                layers.Add(new JsonObject { ["in"] = l.In, ["out"] = l.Out, ["weights"] = Numbers(l.Weights), ["bias"] = Numbers(l.Bias) });
            nets[Elements.Symbol(nn.Elements[e])] = new JsonObject { ["energy_offset"] = nn.EnergyOffsets[e], ["layers"] = layers };
        }
        return new JsonObject
        {
            ["activation"] = nn.Networks[0].Activation.ToString().ToLowerInvariant(),
            ["feature_mean"] = Numbers(nn.Mean),
            ["feature_scale"] = Numbers(nn.Scale),
            ["networks"] = nets,
        };
    }

    private static IAtomicModel ReadNetwork(JsonObject o, int[] elements, int features, string path)
    {
        var where = new InputLocation(path);
        var activation = Mlp.ParseActivation((string?)o["activation"] ?? throw new FileFormatException(where, "missing 'activation'"));
        var nets = o["networks"]?.AsObject() ?? throw new FileFormatException(where, "missing 'networks'");
        var mlps = new Mlp[elements.Length];
        var offsets = new double[elements.Length];
        for (int e = 0; e < elements.Length; e++)
        {
            var n = nets[Elements.Symbol(elements[e])]?.AsObject() ?? throw new FileFormatException(where, $"no network for {Elements.Symbol(elements[e])}");
            offsets[e] = (double?)n["energy_offset"] ?? 0;
            var layers = new List<DenseLayer>();
            foreach (var l in n["layers"]!.AsArray())
            {
                int i = (int)l!["in"]!, u = (int)l["out"]!;
                var w = ReadNumbers(l["weights"], "weights", path);
                var b = ReadNumbers(l["bias"], "bias", path);
                if (w.Length != i * u || b.Length != u) throw new FileFormatException(where, "a layer's weights do not match its size");
                layers.Add(new DenseLayer(i, u, w, b));
            }
            mlps[e] = new Mlp(layers, activation);
        }
        try
        {
            return new NeuralNetworkModel(elements, features, mlps, offsets, ReadNumbers(o["feature_mean"], "feature_mean", path), ReadNumbers(o["feature_scale"], "feature_scale", path));
        }
        catch (ArgumentException e)
        {
            throw new FileFormatException(where, e.Message);
        }
    }

    private static JsonObject WritePolynomial(IAtomicModel m)
    {
        var p = (PolynomialModel)m;
        var coeff = new JsonObject();
        for (int e = 0; e < p.Elements.Count; e++) coeff[Elements.Symbol(p.Elements[e])] = Numbers(p.Coefficients[e]);
        return new JsonObject
        {
            ["order"] = p.Order,
            ["feature_mean"] = Numbers(p.Mean),
            ["feature_scale"] = Numbers(p.Scale),
            ["coefficients"] = coeff,
        };
    }

    private static IAtomicModel ReadPolynomial(JsonObject o, int[] elements, int features, string path)
    {
        int order = (int?)o["order"] ?? throw new FileFormatException(new InputLocation(path), "missing 'order'");
        var coeff = o["coefficients"]?.AsObject() ?? throw new FileFormatException(new InputLocation(path), "missing 'coefficients'");
        var c = elements.Select(z => ReadNumbers(coeff[Elements.Symbol(z)], $"coefficients of {Elements.Symbol(z)}", path)).ToArray();
        int per = PolynomialModel.CoefficientsPerElement(order, features);
        foreach (var v in c)
            if (v.Length != per) throw new FileFormatException(new InputLocation(path), $"expected {per} coefficients per element, found {v.Length}");
        return new PolynomialModel(order, elements, features, c, ReadNumbers(o["feature_mean"], "feature_mean", path), ReadNumbers(o["feature_scale"], "feature_scale", path));
    }
}
