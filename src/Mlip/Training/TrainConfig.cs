using System.Globalization;
using Mlip.Configuration;
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

    /// <summary>The model settings with the line of each (kind left out); null for a config built in code (then <see cref="Model"/>).</summary>
    public ConfigSection? ModelSection { get; init; }

    /// <summary>The model settings as a section (with lines when read from a file).</summary>
    public ConfigSection ModelSettings => ModelSection ?? ConfigSection.FromDictionary("model", Model, string.IsNullOrEmpty(SourcePath) ? null : SourcePath);
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

    /// <summary>
    /// The descriptor store's folder (docs/scale.md): linear, quadratic and linear-ACE fits stream from it and a second run
    /// on the same data reuses it; null: no store, the fit holds its design matrix in memory. A config file's default is
    /// <c>descriptor-store</c> beside the output folder (<c>store: none</c> turns it off).
    /// </summary>
    public string? Store { get; init; }

    /// <summary>
    /// True when the config names the store (<c>store: DIR</c>); false for the default folder. A PINN streams from a named
    /// store always, from the default one only when its training set does not fit in memory (streaming recomputes the
    /// descriptor blocks at every evaluation, several times the CPU; docs/scale.md).
    /// </summary>
    public bool StoreNamed { get; init; }

    /// <summary>Atoms per chunk of the store (the rows a streamed fit holds at once: about 3 per atom).</summary>
    public int StoreChunkAtoms { get; init; } = Streaming.DescriptorStore.DefaultChunkAtoms;

    /// <summary>The keys of a train config outside the model's settings and the descriptor's parameters (those come from their records).</summary>
    public static readonly IReadOnlyList<ConfigKeyDoc> Keys =
    [
        new("train", "path list", "(required)", "training data files, relative to the config file"),
        new("test", "path list", "none", "test data files (errors reported, not fitted)"),
        new("format", "text", "by extension", "file format of the data files (extxyz, ase-json, ase-db, vasp, pymatgen, lammps-data ...)"),
        new("descriptor.type", "text", "(required)", "descriptor type (see Descriptors below)"),
        new("descriptor.parameters", "mapping", "the type's defaults", "the descriptor's parameters (see Descriptors below)"),
        new("model.kind", "text", "(required)", "model kind (see Model kinds below); the other keys of model are the kind's settings"),
        new("loss.energy", "number", "1", "weight of the energy per atom residuals (eV/atom)"),
        new("loss.force", "number", "0.01", "weight of the force component residuals (eV/Å); 0: no forces, no derivatives"),
        new("loss.stress", "number", "0", "weight of the stress component residuals (GPa)"),
        new("seed", "integer", "1", "seed of every random choice"),
        new("threads", "integer", "all cores", "threads used"),
        new("output", "path", "(required)", "run directory (model.json, metrics.json, parity plots)"),
        new("store", "path | none", "OUTPUT/../descriptor-store", "descriptor store (docs/scale.md): linear, quadratic and ACE fits (linear, fs) and mini-batch networks stream from it, a PINN when its set does not fit in memory or the store is named here; a second fit on the same data reuses it; none: in memory"),
        new("store_chunk_atoms", "integer", "2048", "atoms per chunk of the descriptor store (a streamed fit holds one chunk's rows, ~3 per atom; a PINN one piece of a batch)"),
        new("target", "energy | {per_atom: NAME}", "energy", "fit a potential, or the per-atom array NAME (docs/per-atom-targets.md)"),
    ];

    private static readonly IReadOnlyList<string> TopKeys = ConfigKeyDoc.TopKeys(Keys);

    public static TrainConfig Load(string path)
    {
        var root = ConfigSection.LoadRoot(path);
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
        var modelSection = ConfigSection.FromYaml("model", model, path);
        var kindEntry = modelSection.Find("kind") ?? throw new FileFormatException(At(model), $"missing 'model.kind' ({string.Join(", ", ModelKinds.Names)})");
        string kind = kindEntry.Value.Trim().ToLowerInvariant();
        if (ModelKinds.Find(kind) is not { } modelKind)
            throw new FileFormatException(new InputLocation(path, kindEntry.Line), $"unknown model kind '{kindEntry.Value}' ({string.Join(", ", ModelKinds.Names)})");
        modelSection = modelSection.Without("kind");

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
        string outputPath = Path.IsPathRooted(output) ? output : Path.GetFullPath(Path.Combine(dir, output));
        string? store = Path.Combine(Path.GetDirectoryName(outputPath) ?? dir, "descriptor-store");
        bool storeNamed = false;
        if (Get(root, "store") is { } storeNode)
        {
            string text = Scalar(storeNode, "store").Trim();
            if (text.Length == 0) throw new FileFormatException(At(storeNode), "'store' is a folder or 'none'");
            store = text.Equals("none", StringComparison.OrdinalIgnoreCase) ? null : Path.IsPathRooted(text) ? text : Path.GetFullPath(Path.Combine(dir, text));
            storeNamed = store is not null;
        }
        int chunkAtoms = Streaming.DescriptorStore.DefaultChunkAtoms;
        if (Get(root, "store_chunk_atoms") is { } chunkNode)
        {
            double v = Number(Scalar(chunkNode, "store_chunk_atoms"), chunkNode, "store_chunk_atoms");
            if (v < 1 || v != Math.Floor(v) || v > 1 << 24) throw new FileFormatException(At(chunkNode), $"'store_chunk_atoms' must be a whole number from 1 to {1 << 24}, got {v.ToString(CultureInfo.InvariantCulture)}");
            chunkAtoms = (int)v;
        }
        // a potential's settings are checked here, each error at its line (a per-atom fit reads its own keys: PerAtomTrainingRun)
        if (perAtom is null) modelKind.BindSettings(modelSection);
        return new TrainConfig
        {
            Train = Paths(trainNode, "train"),
            Test = Paths(Get(root, "test"), "test"),
            Format = Get(root, "format") is { } f ? Scalar(f, "format") : null,
            DescriptorType = Get(descriptor, "type") is { } t ? Scalar(t, "descriptor.type") : throw new FileFormatException(At(descriptor), "missing 'descriptor.type'"),
            DescriptorParameters = Map(Get(descriptor, "parameters"), "descriptor.parameters"),
            ModelKind = kind,
            Model = modelSection.ToDictionary(),
            ModelSection = modelSection,
            Loss = loss,
            Seed = Get(root, "seed") is { } sd ? (int)Number(Scalar(sd, "seed"), sd, "seed") : 1,
            Threads = Get(root, "threads") is { } th ? (int)Number(Scalar(th, "threads"), th, "threads") : Environment.ProcessorCount,
            Output = outputPath,
            Store = store,
            StoreNamed = storeNamed,
            StoreChunkAtoms = chunkAtoms,
            SourcePath = Path.GetFullPath(path),
            PerAtomTarget = perAtom,
        };
    }
}
