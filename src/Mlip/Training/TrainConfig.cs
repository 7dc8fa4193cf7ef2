using System.Globalization;
using Mlip.Validation;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Mlip.Training;

/// <summary>
/// A training run as written in YAML (examples/*.yaml, docs/training.md). Paths are relative to the
/// config file. Unknown keys are errors that name the key and the line, so a typo never silently
/// falls back to a default.
/// </summary>
public sealed record TrainConfig
{
    public required IReadOnlyList<string> Train { get; init; }
    public IReadOnlyList<string> Test { get; init; } = [];
    public string? Format { get; init; }
    public required string DescriptorType { get; init; }
    public IReadOnlyDictionary<string, string> DescriptorParameters { get; init; } = new Dictionary<string, string>();
    public required string ModelKind { get; init; }

    /// <summary>Model settings as key → value text (ridge, hidden, activation, optimizer, epochs ...).</summary>
    public IReadOnlyDictionary<string, string> Model { get; init; } = new Dictionary<string, string>();
    public LossWeights Loss { get; init; } = new();
    public int Seed { get; init; } = 1;
    public int Threads { get; init; } = Environment.ProcessorCount;
    public required string Output { get; init; }
    public string SourcePath { get; init; } = "";

    /// <summary>
    /// <c>target: {per_atom: NAME}</c>: fit the per-atom array NAME (docs/per-atom-targets.md) instead of
    /// energies, forces and stresses; null (or <c>target: energy</c>) for a potential.
    /// </summary>
    public string? PerAtomTarget { get; init; }

    private static readonly HashSet<string> TopKeys = ["train", "test", "format", "descriptor", "model", "loss", "seed", "threads", "output", "target"];

    public static TrainConfig Load(string path)
    {
        Mlip.IO.InputFile.EnsureExists(path);
        var yaml = new YamlStream();
        try
        {
            using var r = new StreamReader(path);
            yaml.Load(r);
        }
        catch (YamlException e)
        {
            throw new FileFormatException(new InputLocation(path, (int)e.Start.Line), $"invalid YAML: {e.Message}");
        }
        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is not YamlMappingNode root)
            throw new FileFormatException(new InputLocation(path, 1), "the config must be a YAML mapping (key: value lines)");
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        InputLocation At(YamlNode n) => new(path, (int)n.Start.Line);

        foreach (var (k, v) in root.Children)
            if (!TopKeys.Contains(((YamlScalarNode)k).Value!))
                throw new FileFormatException(At(k), $"unknown key '{((YamlScalarNode)k).Value}' (known: {string.Join(", ", TopKeys)})");

        YamlNode? Get(YamlMappingNode m, string key) =>
            m.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;
        string Scalar(YamlNode n, string what) => n is YamlScalarNode s && s.Value is not null
            ? s.Value : throw new FileFormatException(At(n), $"'{what}' must be a single value");
        IReadOnlyList<string> Paths(YamlNode? n, string what)
        {
            if (n is null) return [];
            var list = n is YamlSequenceNode seq ? seq.Children.Select(c => Scalar(c, what)).ToList() : [Scalar(n, what)];
            return list.Select(p => Path.IsPathRooted(p) ? p : Path.GetFullPath(Path.Combine(dir, p))).ToList();
        }
        Dictionary<string, string> Map(YamlNode? n, string what)
        {
            var d = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            if (n is null) return d;
            if (n is not YamlMappingNode m) throw new FileFormatException(At(n), $"'{what}' must be a mapping");
            foreach (var (k, v) in m.Children)
            {
                string key = Scalar(k, what);
                d[key] = v switch
                {
                    YamlScalarNode s => s.Value ?? "",
                    YamlSequenceNode seq => string.Join(",", seq.Children.Select(c => Scalar(c, key))),
                    _ => throw new FileFormatException(At(v), $"'{what}.{key}' must be a value or a list"),
                };
            }
            return d;
        }
        double Number(string text, YamlNode n, string what) =>
            double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) ? x
                : throw new FileFormatException(At(n), $"'{what}' must be a number, got '{text}'");

        var trainNode = Get(root, "train") ?? throw new FileFormatException(new InputLocation(path, 1), "missing 'train' (the training data files)");
        var descriptor = Get(root, "descriptor") as YamlMappingNode ?? throw new FileFormatException(new InputLocation(path, 1), "missing 'descriptor' (type and parameters)");
        foreach (var (k, _) in descriptor.Children)
            if (Scalar(k, "descriptor") is not ("type" or "parameters")) throw new FileFormatException(At(k), $"unknown key 'descriptor.{Scalar(k, "descriptor")}' (type, parameters)");
        var model = Get(root, "model") as YamlMappingNode ?? throw new FileFormatException(new InputLocation(path, 1), "missing 'model' (kind and settings)");
        var modelMap = Map(model, "model");
        string kind = modelMap.TryGetValue("kind", out var kk) ? kk : throw new FileFormatException(At(model), "missing 'model.kind' (linear, quadratic, nn, gpr)");
        modelMap.Remove("kind");

        var loss = new LossWeights();
        if (Get(root, "loss") is { } lossNode)
        {
            var lm = Map(lossNode, "loss");
            foreach (var (k, v) in lm)
                loss = k.ToLowerInvariant() switch
                {
                    "energy" => loss with { Energy = Number(v, lossNode, "loss.energy") },
                    "force" or "forces" => loss with { Force = Number(v, lossNode, "loss.force") },
                    "stress" => loss with { Stress = Number(v, lossNode, "loss.stress") },
                    _ => throw new FileFormatException(At(lossNode), $"unknown key 'loss.{k}' (energy, force, stress)"),
                };
        }
        string? perAtom = null;
        if (Get(root, "target") is { } targetNode)
        {
            if (targetNode is YamlScalarNode ts)
            {
                if (ts.Value is not ("energy" or "potential"))
                    throw new FileFormatException(At(targetNode), $"'target' is 'energy' or a mapping 'per_atom: NAME', got '{ts.Value}'");
            }
            else
            {
                var tm = Map(targetNode, "target");
                foreach (var (k, v) in tm)
                {
                    if (!k.Equals("per_atom", StringComparison.OrdinalIgnoreCase))
                        throw new FileFormatException(At(targetNode), $"unknown key 'target.{k}' (per_atom)");
                    if (string.IsNullOrWhiteSpace(v)) throw new FileFormatException(At(targetNode), "'target.per_atom' needs the name of a per-atom array");
                    perAtom = v.Trim();
                }
            }
        }
        string output = Get(root, "output") is { } o ? Scalar(o, "output") : throw new FileFormatException(new InputLocation(path, 1), "missing 'output' (the run directory)");
        return new TrainConfig
        {
            Train = Paths(trainNode, "train"),
            Test = Paths(Get(root, "test"), "test"),
            Format = Get(root, "format") is { } f ? Scalar(f, "format") : null,
            DescriptorType = Get(descriptor, "type") is { } t ? Scalar(t, "descriptor.type") : throw new FileFormatException(At(descriptor), "missing 'descriptor.type'"),
            DescriptorParameters = Map(Get(descriptor, "parameters"), "descriptor.parameters"),
            ModelKind = kind.ToLowerInvariant(),
            Model = modelMap,
            Loss = loss,
            Seed = Get(root, "seed") is { } sd ? (int)Number(Scalar(sd, "seed"), sd, "seed") : 1,
            Threads = Get(root, "threads") is { } th ? (int)Number(Scalar(th, "threads"), th, "threads") : Environment.ProcessorCount,
            Output = Path.IsPathRooted(output) ? output : Path.GetFullPath(Path.Combine(dir, output)),
            SourcePath = Path.GetFullPath(path),
            PerAtomTarget = perAtom,
        };
    }
}
