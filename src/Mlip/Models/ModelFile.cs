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

    /// <summary>
    /// The model kinds the file can hold: kind → codec (write the "model" object, read it back). The training-side
    /// kinds (Mlip.Training.ModelKinds) name these codecs; a kind added from outside registers its codec with
    /// <see cref="Register(ModelCodec)"/> (ModelKinds.Register does it).
    /// </summary>
    private static readonly Dictionary<string, ModelCodec> Codecs = new(StringComparer.Ordinal)
    {
        ["linear"] = PolynomialCodec("linear"),
        ["quadratic"] = PolynomialCodec("quadratic"),
        ["nn"] = NetworkCodec,
        ["pinn"] = new("pinn", PinnModelJson.Write, PinnModelJson.Read),
        ["gpr"] = GaussianProcessModel.Codec,
    };

    /// <summary>
    /// Other programs' model files that <see cref="Load"/> reads (LAMMPS SNAP, ML-IAP, PINN), tried in order
    /// before ACE and the Mlip JSON format. Interop registers them (Mlip.Interop.ModelFileFormats, a module
    /// initialiser), so Models does not depend on Interop (docs/architecture.md).
    /// </summary>
    private static readonly List<(string Name, Func<string, bool> Claims, Func<string, Potential> Load)> OtherFormats = [];

    /// <summary>Registers another program's model-file format for <see cref="Load"/>: a test on the path and a reader.</summary>
    public static void RegisterFormat(string name, Func<string, bool> claims, Func<string, Potential> load) =>
        OtherFormats.Add((name, claims, load));

    /// <summary>The codec of the "linear" or "quadratic" kind.</summary>
    public static ModelCodec PolynomialCodec(string kind) => new(kind, WritePolynomial, ReadPolynomial);

    /// <summary>The codec of the "nn" kind.</summary>
    public static ModelCodec NetworkCodec => new("nn", WriteNetwork, ReadNetwork);

    /// <summary>The codec of <paramref name="kind"/>, or null.</summary>
    public static ModelCodec? FindCodec(string kind)
    {
        lock (Codecs) return Codecs.TryGetValue(kind, out var c) ? c : null;
    }

    /// <summary>The kinds the model file can hold.</summary>
    public static IReadOnlyList<string> CodecKinds
    {
        get { lock (Codecs) return [.. Codecs.Keys]; }
    }

    /// <summary>Adds (or replaces) the codec of a model kind.</summary>
    public static void Register(ModelCodec codec)
    {
        lock (Codecs) Codecs[codec.Kind] = codec;
    }

    /// <summary>Removes the codec of a model kind (undoes <see cref="Register(ModelCodec)"/>). True when there was one.</summary>
    public static bool Unregister(string kind)
    {
        lock (Codecs) return Codecs.Remove(kind);
    }

    /// <summary>Registers another model kind by its writer and reader.</summary>
    public static void Register(string kind, Func<IAtomicModel, JsonObject?> write, Func<JsonObject, int[], int, string, IAtomicModel> read) =>
        Register(new ModelCodec(kind, write, read));

    public static void Save(string path, Potential potential, JsonObject? training = null)
    {
        if (Ace.AcePotential.IsAcePath(path))
        {
            Ace.AcePotential.Save(path, Ace.AcePotential.PaceBasis(potential));
            return;
        }
        if (potential.Descriptor is Mlip.Descriptors.Ace.AceDensities)
            throw new MlipException("a PACE potential is saved as .yace or .ace (give the path that extension)");
        var model = potential.Model;
        var kind = FindCodec(model.Kind) ?? throw new MlipException($"model kind '{model.Kind}' cannot be saved");
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
        EnsureFinite(root, path);
        AtomicFile.WriteJson(path, root);
    }

    /// <summary>Refuses to write a NaN or infinite number (JSON has none; the model could not be read back): names the JSON path.</summary>
    private static void EnsureFinite(JsonNode? node, string path)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (_, v) in o) EnsureFinite(v, path);
                break;
            case JsonArray a:
                foreach (var v in a) EnsureFinite(v, path);
                break;
            case JsonValue v:
                if (v.TryGetValue<double>(out double d) && !double.IsFinite(d))
                    throw new MlipException($"cannot save {path}: {v.GetPath()} is {d.ToString(System.Globalization.CultureInfo.InvariantCulture)} (the model has a NaN or infinite coefficient; refit it)");
                break;
        }
    }

    /// <summary>The elements (symbols and numbers), the descriptor settings and the descriptor of a model file's header.</summary>
    internal static (string[] Symbols, int[] Numbers, JsonObject Node, DescriptorSpec Spec, IDescriptor Descriptor) ReadHeader(JsonObject root, InputLocation where)
    {
        string file = where.File ?? "model file";
        var list = ModelJson.Array(root, "elements", file);
        if (list.Count == 0) throw ModelJson.Error(file, list.GetPath(), "no elements");
        if (list.Count > 118) throw ModelJson.Error(file, list.GetPath(), $"{list.Count} elements (at most 118)");
        var elements = list.Select(e => ModelJson.AsString(e ?? throw ModelJson.Error(file, list.GetPath(), "an element is null"), file)).ToArray();
        var z = elements.Select(e => Elements.Number(e, where)).ToArray();
        if (z.Distinct().Count() != z.Length) throw ModelJson.Error(file, list.GetPath(), "an element is listed twice");
        var d = ModelJson.Object(root, "descriptor", file);
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (k, v) in ModelJson.OptionalObject(d, "parameters", file) ?? [])
        {
            if (v is JsonObject or JsonArray) throw ModelJson.Error(file, v.GetPath(), "a descriptor parameter must be a string or a number");
            parameters[k] = v?.ToString() ?? "";
        }
        var spec = new DescriptorSpec(ModelJson.String(d, "type", file), parameters);
        return (elements, z, d, spec, CreateDescriptor(spec, elements, file));
    }

    /// <summary>The descriptor of a model file; a bad parameter is an error that names the file.</summary>
    internal static IDescriptor CreateDescriptor(DescriptorSpec spec, IReadOnlyList<string> elements, string file)
    {
        try
        {
            return spec.Create(elements);
        }
        catch (MlipException e) when (e is not MlipInputException { File: not null })
        {
            throw new FileFormatException(new InputLocation(file), $"descriptor '{spec.Type}': {e.Message}", e);
        }
    }

    public static Potential Load(string path)
    {
        Potential p;
        try
        {
            p = LoadAny(path);
        }
        catch (MlipException e) when (e is not MlipInputException && !e.Message.Contains(path, StringComparison.Ordinal))
        {
            // A reader's or descriptor's complaint that does not say which file it is about.
            throw new FileFormatException(new InputLocation(path), e.Message, e);
        }
        catch (ArgumentException e)
        {
            // A model or descriptor constructor refusing what a reader built from the file.
            throw new FileFormatException(new InputLocation(path), e.Message, e);
        }
        p.SourceFile ??= path;
        return p;
    }

    private static Potential LoadAny(string path)
    {
        foreach (var format in OtherFormats)
            if (format.Claims(path)) return format.Load(path);
        if (Ace.AcePotential.IsAcePath(path)) return Ace.AcePotential.Load(path);
        return ModelJson.LoadObject(path, LoadJson);
    }

    private static Potential LoadJson(JsonObject root, string path, InputLocation where)
    {
        if (root["format"] is not JsonValue fv || fv.GetValueKind() != System.Text.Json.JsonValueKind.String || (string?)fv != FormatName)
            throw ModelJson.Error(path, "$.format", $"not an Mlip model file (format is not '{FormatName}')");
        int version = ModelJson.Int(root, "version", path);
        if (version < 1 || version > Version)
            throw ModelJson.Error(path, "$.version", $"model file version {version} is not supported (this Mlip reads versions 1 to {Version})");
        string kindName = ModelJson.String(root, "kind", path);
        var kind = FindCodec(kindName) ?? throw ModelJson.Error(path, "$.kind", $"unknown model kind '{kindName}'");
        var (_, z, d, spec, descriptor) = ReadHeader(root, where);
        int expected = ModelJson.IntOr(d, "feature_count", path, descriptor.FeatureCount);
        if (descriptor.FeatureCount != expected)
            throw ModelJson.Error(path, "$.descriptor.feature_count", $"the descriptor gives {descriptor.FeatureCount} features but the model was trained on {expected}");
        var model = kind.Read(ModelJson.Object(root, "model", path), z, descriptor.FeatureCount, path);
        if (model.FeatureCount != descriptor.FeatureCount)
            throw new FileFormatException(where, $"the model expects {model.FeatureCount} features, the descriptor gives {descriptor.FeatureCount}");
        return new Potential(descriptor, model, spec);
    }

    internal static JsonArray Numbers(IEnumerable<double> values) => new([.. values.Select(v => (JsonNode)v)]);

    /// <summary>A flat array of finite numbers; <paramref name="what"/> names it when it is missing.</summary>
    internal static double[] ReadNumbers(JsonNode? node, string what, string path) => ModelJson.Numbers(node, path, what);

    /// <summary>The layers of a network (in, out, weights, bias), with sizes checked before anything is allocated from them.</summary>
    internal static List<DenseLayer> ReadLayers(JsonObject net, int features, string path)
    {
        var layers = new List<DenseLayer>();
        var list = ModelJson.Array(net, "layers", path);
        if (list.Count == 0) throw ModelJson.Error(path, list.GetPath(), "no layers");
        int prev = features;
        foreach (var node in list)
        {
            var l = ModelJson.AsObject(node, path, list.GetPath());
            int i = ModelJson.Int(l, "in", path, 1, 1 << 20), u = ModelJson.Int(l, "out", path, 1, 1 << 20);
            if (i != prev) throw ModelJson.Error(path, l.GetPath() + ".in", $"is {i}, but the layer before gives {prev}");
            if ((long)i * u > 1 << 28) throw ModelJson.Error(path, l.GetPath(), "layer too large");
            var w = ModelJson.Numbers(l, "weights", path, i * u);
            var b = ModelJson.Numbers(l, "bias", path, u);
            layers.Add(new DenseLayer(i, u, w, b));
            prev = u;
        }
        return layers;
    }

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
        var activation = ParseActivation(o, path);
        var nets = ModelJson.Object(o, "networks", path);
        var mlps = new Mlp[elements.Length];
        var offsets = new double[elements.Length];
        for (int e = 0; e < elements.Length; e++)
        {
            string sym = Elements.Symbol(elements[e]);
            var n = nets[sym] is { } nn ? ModelJson.AsObject(nn, path) : throw ModelJson.Error(path, nets.GetPath(), $"no network for {sym}");
            offsets[e] = ModelJson.Double(n, "energy_offset", path, 0);
            var layers = ReadLayers(n, features, path);
            if (layers[^1].Out != 1) throw ModelJson.Error(path, n.GetPath(), $"the last layer has {layers[^1].Out} outputs (expected 1, the atom energy)");
            mlps[e] = new Mlp(layers, activation);
        }
        try
        {
            return new NeuralNetworkModel(elements, features, mlps, offsets, ModelJson.Numbers(o, "feature_mean", path, features), Scales(o, path, features));
        }
        catch (ArgumentException e)
        {
            throw new FileFormatException(where, e.Message);
        }
    }

    /// <summary>The activation name of a network model.</summary>
    internal static Activation ParseActivation(JsonObject o, string path)
    {
        string name = ModelJson.String(o, "activation", path);
        try
        {
            return Mlp.ParseActivation(name);
        }
        catch (MlipException e)
        {
            throw ModelJson.Error(path, o.GetPath() + ".activation", e.Message, e);
        }
    }

    /// <summary>feature_scale: <paramref name="count"/> finite, non-zero values (features are divided by them).</summary>
    internal static double[] Scales(JsonObject o, string path, int count, string key = "feature_scale")
    {
        var s = ModelJson.Numbers(o, key, path, count);
        for (int i = 0; i < s.Length; i++)
            if (s[i] == 0) throw ModelJson.Error(path, o[key]!.GetPath() + $"[{i}]", "is 0 (features are divided by it)");
        return s;
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
        int order = ModelJson.Int(o, "order", path, 1, 2);
        var coeff = ModelJson.Object(o, "coefficients", path);
        int per = PolynomialModel.CoefficientsPerElement(order, features);
        var c = new double[elements.Length][];
        for (int e = 0; e < elements.Length; e++)
        {
            string sym = Elements.Symbol(elements[e]);
            if (!coeff.ContainsKey(sym)) throw ModelJson.Error(path, coeff.GetPath(), $"no coefficients for {sym}");
            c[e] = ModelJson.Numbers(coeff, sym, path, per);
        }
        return new PolynomialModel(order, elements, features, c, ModelJson.Numbers(o, "feature_mean", path, features), Scales(o, path, features));
    }
}

/// <summary>Read/write of one model kind's "model" object in the Mlip model file (docs/model-file.md).</summary>
/// <param name="Kind">The file's "kind" value.</param>
/// <param name="Write">The "model" object of a model of this kind.</param>
/// <param name="Read">The model from its "model" object, the elements' atomic numbers, the descriptor's feature count and the file path (for errors).</param>
public sealed record ModelCodec(string Kind, Func<IAtomicModel, JsonObject?> Write, Func<JsonObject, int[], int, string, IAtomicModel> Read);
