using System.Text.Json.Nodes;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Models;

/// <summary>The "pinn" model kind in the Mlip model file (docs/model-file.md, docs/pinn.md).</summary>
internal static class PinnModelJson
{
    public static JsonObject Write(IAtomicModel model)
    {
        var m = (PinnModel)model;
        var nets = new JsonObject();
        var bases = new JsonObject();
        for (int e = 0; e < m.Elements.Count; e++)
        {
            var layers = new JsonArray();
            foreach (var l in m.Networks[e].Layers)
                layers.Add(new JsonObject { ["in"] = l.In, ["out"] = l.Out, ["weights"] = ModelFile.Numbers(l.Weights), ["bias"] = ModelFile.Numbers(l.Bias) });
            string sym = Elements.Symbol(m.Elements[e]);
            nets[sym] = new JsonObject { ["layers"] = layers };
            bases[sym] = ModelFile.Numbers(m.BaseParameters[e]);
        }
        return new JsonObject
        {
            ["bop_cutoff"] = m.Cutoff,
            ["bop_cutoff_range"] = m.CutoffRange,
            ["parameter_names"] = new JsonArray([.. m.Layout.Names([.. m.Elements.Select(Elements.Symbol)]).Select(s => (JsonNode)s)]),
            ["base_parameters"] = bases,
            ["activation"] = m.Networks[0].Activation.ToString().ToLowerInvariant(),
            ["feature_mean"] = ModelFile.Numbers(m.Mean),
            ["feature_scale"] = ModelFile.Numbers(m.Scale),
            ["networks"] = nets,
        };
    }

    public static IAtomicModel Read(JsonObject o, int[] elements, int features, string path)
    {
        var where = new InputLocation(path);
        var activation = Mlp.ParseActivation((string?)o["activation"] ?? throw new FileFormatException(where, "missing 'activation'"));
        var nets = o["networks"]?.AsObject() ?? throw new FileFormatException(where, "missing 'networks'");
        var bases = o["base_parameters"]?.AsObject() ?? throw new FileFormatException(where, "missing 'base_parameters'");
        var mlps = new Mlp[elements.Length];
        var p0 = new double[elements.Length][];
        for (int e = 0; e < elements.Length; e++)
        {
            string sym = Elements.Symbol(elements[e]);
            var n = nets[sym]?.AsObject() ?? throw new FileFormatException(where, $"no network for {sym}");
            var layers = new List<DenseLayer>();
            foreach (var l in n["layers"]!.AsArray())
            {
                int i = (int)l!["in"]!, u = (int)l["out"]!;
                var w = ModelFile.ReadNumbers(l["weights"], "weights", path);
                var b = ModelFile.ReadNumbers(l["bias"], "bias", path);
                if (w.Length != i * u || b.Length != u) throw new FileFormatException(where, "a layer's weights do not match its size");
                layers.Add(new DenseLayer(i, u, w, b));
            }
            mlps[e] = new Mlp(layers, activation);
            p0[e] = ModelFile.ReadNumbers(bases[sym], $"base_parameters of {sym}", path);
        }
        try
        {
            return new PinnModel(elements, features, (double?)o["bop_cutoff"] ?? throw new FileFormatException(where, "missing 'bop_cutoff'"),
                (double?)o["bop_cutoff_range"] ?? throw new FileFormatException(where, "missing 'bop_cutoff_range'"), p0, mlps,
                ModelFile.ReadNumbers(o["feature_mean"], "feature_mean", path), ModelFile.ReadNumbers(o["feature_scale"], "feature_scale", path));
        }
        catch (ArgumentException e)
        {
            throw new FileFormatException(where, e.Message);
        }
    }
}
