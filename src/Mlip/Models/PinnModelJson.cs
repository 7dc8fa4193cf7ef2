using System.Text.Json.Nodes;
using Mlip.Calculators;
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
        var activation = ModelFile.ParseActivation(o, path);
        var nets = ModelJson.Object(o, "networks", path);
        var bases = ModelJson.Object(o, "base_parameters", path);
        var mlps = new Mlp[elements.Length];
        var p0 = new double[elements.Length][];
        var layout = new PinnBopLayout(elements.Length);
        for (int e = 0; e < elements.Length; e++)
        {
            string sym = Elements.Symbol(elements[e]);
            var n = nets[sym] is { } nn ? ModelJson.AsObject(nn, path) : throw ModelJson.Error(path, nets.GetPath(), $"no network for {sym}");
            mlps[e] = new Mlp(ModelFile.ReadLayers(n, features, path), activation);
            if (!bases.ContainsKey(sym)) throw ModelJson.Error(path, bases.GetPath(), $"no base parameters for {sym}");
            p0[e] = ModelJson.Numbers(bases, sym, path, layout.SetSize);
        }
        double cutoff = ModelJson.Double(o, "bop_cutoff", path), range = ModelJson.Double(o, "bop_cutoff_range", path);
        if (!(cutoff > 0 && cutoff <= Mlip.Descriptors.DescriptorLimits.MaxCutoff))
            throw ModelJson.Error(path, "$.model.bop_cutoff", $"must be in (0, {Mlip.Descriptors.DescriptorLimits.MaxCutoff}] Å");
        if (!(range >= 0 && range <= cutoff))
            throw ModelJson.Error(path, "$.model.bop_cutoff_range", "must be between 0 and bop_cutoff");
        try
        {
            return new PinnModel(elements, features, cutoff, range, p0, mlps,
                ModelJson.Numbers(o, "feature_mean", path, features), ModelFile.Scales(o, path, features));
        }
        catch (ArgumentException e)
        {
            throw new FileFormatException(where, e.Message);
        }
    }
}
