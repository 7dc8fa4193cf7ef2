using System.Text.Json.Nodes;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Models;

/// <summary>What a per-atom codec reads from: the "model" object, the elements, the standardisations and the file (for errors).</summary>
public sealed record PerAtomReadContext(JsonObject Model, int[] Elements, Standardization Features, Standardization Targets, string Path)
{
    /// <summary>The object of element <paramref name="z"/> under "elements".</summary>
    public JsonObject Of(int z)
    {
        var per = ModelJson.Object(Model, "elements", Path);
        return per[Structures.Elements.Symbol(z)] is { } n ? ModelJson.AsObject(n, Path) : throw ModelJson.Error(Path, per.GetPath(), $"no model for {Structures.Elements.Symbol(z)}");
    }
}

/// <summary>
/// Read/write of one per-atom model kind in the "model" object of a per-atom model file (<see cref="PerAtomModelFile"/>):
/// <paramref name="WriteElement"/> gives the object of each element (index into the model's elements),
/// <paramref name="WriteExtra"/> adds kind-level keys, <paramref name="Read"/> builds the model back.
/// </summary>
public sealed record PerAtomCodec(
    string Kind,
    Func<IPerAtomModel, int, JsonObject> WriteElement,
    Action<IPerAtomModel, JsonObject> WriteExtra,
    Func<PerAtomReadContext, IPerAtomModel> Read);

/// <summary>The codecs of the per-atom kinds the library has (linear, quadratic, nn, gpr).</summary>
public static class PerAtomCodecs
{
    public static PerAtomCodec Polynomial(string kind) => new(kind,
        (m, e) => new JsonObject { ["weights"] = ModelFile.Numbers(((PerAtomPolynomialModel)m).Weights[e]) },
        (m, o) => o["order"] = ((PerAtomPolynomialModel)m).Order,
        c =>
        {
            int order = ModelJson.IntOr(c.Model, "order", c.Path, kind == "linear" ? 1 : 2, 1, 2);
            int expected = PerAtomPolynomialModel.BasisSize(order, c.Features.Count) * c.Targets.Count;
            var w = c.Elements.Select(z => ModelJson.Numbers(c.Of(z), "weights", c.Path, expected)).ToArray();
            return new PerAtomPolynomialModel(order, c.Elements, c.Features, c.Targets, w);
        });

    public static PerAtomCodec Network { get; } = new("nn",
        (m, e) => new JsonObject
        {
            ["layers"] = new JsonArray([.. ((PerAtomNetworkModel)m).Networks[e].Select(l => (JsonNode)new JsonObject
                { ["in"] = l.In, ["out"] = l.Out, ["weights"] = ModelFile.Numbers(l.Weights), ["bias"] = ModelFile.Numbers(l.Bias) })]),
        },
        (m, o) => o["activation"] = ((PerAtomNetworkModel)m).Activation.ToString().ToLowerInvariant(),
        c =>
        {
            var activation = c.Model["activation"] is null ? Activation.Tanh : ModelFile.ParseActivation(c.Model, c.Path);
            var nets = c.Elements.Select(z =>
            {
                var layers = ModelFile.ReadLayers(c.Of(z), c.Features.Count, c.Path);
                if (layers[^1].Out != c.Targets.Count) throw ModelJson.Error(c.Path, c.Of(z).GetPath(), $"the last layer has {layers[^1].Out} outputs, expected {c.Targets.Count}");
                return (IReadOnlyList<DenseLayer>)layers;
            }).ToArray();
            return new PerAtomNetworkModel(c.Elements, c.Features, c.Targets, nets, activation);
        });

    public static PerAtomCodec GaussianProcess { get; } = new("gpr",
        (m, e) => new JsonObject { ["sparse_points"] = ModelFile.Numbers(((PerAtomGaussianProcessModel)m).SparsePoints[e]), ["alpha"] = ModelFile.Numbers(((PerAtomGaussianProcessModel)m).Alpha[e]) },
        (m, o) => { var g = (PerAtomGaussianProcessModel)m; o["length_scale"] = g.LengthScale; o["variance"] = g.Variance; },
        c =>
        {
            int k = c.Features.Count;
            var sp = c.Elements.Select(z => ModelJson.Numbers(c.Of(z), "sparse_points", c.Path)).ToArray();
            var al = c.Elements.Select(z => ModelJson.Numbers(c.Of(z), "alpha", c.Path)).ToArray();
            for (int e = 0; e < c.Elements.Length; e++)
                if (sp[e].Length % k != 0 || (long)sp[e].Length / k * c.Targets.Count != al[e].Length)
                    throw ModelJson.Error(c.Path, c.Of(c.Elements[e]).GetPath(), $"{sp[e].Length} sparse point values ({k} features each) do not match {al[e].Length} weights ({c.Targets.Count} per point)");
            return new PerAtomGaussianProcessModel(c.Elements, c.Features, c.Targets, sp, al, ModelJson.Double(c.Model, "length_scale", c.Path), ModelJson.Double(c.Model, "variance", c.Path, 1.0));
        });
}
