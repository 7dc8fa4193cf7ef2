using System.Text;
using System.Text.Json.Nodes;
using Mlip.ActiveLearning;
using Mlip.AutoFit;
using Mlip.Configuration;
using Mlip.Descriptors;
using Mlip.Training;

namespace Mlip.Schema;

/// <summary>
/// Every key of a train config and a learn config, every model kind's settings and every descriptor's parameters,
/// with type, default and doc, generated from the records (<see cref="TrainConfig.Keys"/>, <see cref="LearnConfig.Keys"/>,
/// <see cref="ModelKinds"/>, <see cref="DescriptorTypes"/>): <c>mlip config --schema [--json]</c> and docs/config-reference.md.
/// </summary>
public static class ConfigReference
{
    /// <summary>The schema as JSON: {train: [...], learn: [...], model_kinds: {name: {doc, settings}}, descriptors: {name: {doc, aliases, parameters}}}.</summary>
    public static JsonObject Json()
    {
        JsonArray Keys(IEnumerable<ConfigKeyDoc> keys) => [.. keys.Select(k => (JsonNode)new JsonObject { ["key"] = k.Key, ["type"] = k.Type, ["default"] = k.Default, ["doc"] = k.Doc })];
        var kinds = new JsonObject();
        foreach (var kind in ModelKinds.All)
            kinds[kind.Name] = new JsonObject
            {
                ["doc"] = kind.Doc,
                ["descriptor"] = kind.Descriptor,
                ["learn"] = kind.Refittable,
                ["uncertainty"] = kind.UncertaintyName,
                ["settings"] = Keys(Settings(kind)),
                ["per_atom_settings"] = kind.PerAtom is { } v ? Keys(PerAtomSettings(v)) : null,
            };
        var descriptors = new JsonObject();
        foreach (var d in DescriptorTypes.All)
            descriptors[d.Name] = new JsonObject
            {
                ["doc"] = d.Doc,
                ["aliases"] = new JsonArray([.. d.Aliases.Select(a => (JsonNode)a)]),
                ["parameters"] = Keys(d.Parameters),
            };
        return new JsonObject
        {
            ["train"] = Keys(TrainConfig.Keys),
            ["learn"] = Keys(LearnConfig.Keys),
            ["fit"] = Keys(FitKeys()),
            ["model_kinds"] = kinds,
            ["descriptors"] = descriptors,
        };
    }

    /// <summary>The keys of a fit config: its fixed keys and the search section's settings.</summary>
    public static IReadOnlyList<ConfigKeyDoc> FitKeys() =>
        [.. FitConfig.Keys, .. SettingsBinder.Describe(typeof(FitSearchSettings)).Select(s => new ConfigKeyDoc("search." + s.Key, s.Type, s.Default, s.Doc))];

    /// <summary>A model kind's settings as schema rows.</summary>
    public static IReadOnlyList<ConfigKeyDoc> Settings(ModelKind kind) =>
        [.. SettingsBinder.Describe(kind.SettingsType).Select(s => new ConfigKeyDoc(s.Key, s.Type, s.Default, s.Doc))];

    /// <summary>The settings of a kind's per-atom variant as schema rows.</summary>
    public static IReadOnlyList<ConfigKeyDoc> PerAtomSettings(PerAtomVariant variant) =>
        [.. SettingsBinder.Describe(variant.SettingsType).Select(s => new ConfigKeyDoc(s.Key, s.Type, s.Default, s.Doc))];

    /// <summary>docs/config-reference.md (also the text of <c>mlip config --schema</c>).</summary>
    public static string Markdown()
    {
        var w = new StringBuilder();
        w.Append("""
            # Config reference

            <!-- Generated from the records in the code (TrainConfig.Keys, LearnConfig.Keys, the settings record of each
                 model kind in ModelKinds, DescriptorTypes). Do not edit by hand: run
                 `mlip config --schema > docs/config-reference.md`, or the tests with MLIP_UPDATE_DOCS=1. -->

            Every key of `mlip train CONFIG.yaml` and `mlip learn CONFIG.yaml`, with its type, default and meaning.
            Unknown keys are errors that name the file, the line and the keys allowed there. A model kind's settings
            have the same defaults in `train` and in `learn`. Lists may be written `[a, b]` or `a,b`.

            ## Train config (`mlip train`)
            """).Append("\n\n");
        Table(w, TrainConfig.Keys);
        w.Append("""

            ## Learn config (`mlip learn`)
            """).Append('\n');
        Table(w, LearnConfig.Keys);
        w.Append("""

            ## Fit config (`mlip fit --config FILE`)

            Every key is optional (`mlip fit TRAIN` needs no config); command-line options override the file.
            """).Append("\n\n");
        Table(w, FitKeys());
        w.Append("""

            ## Model kinds (`model: {kind: NAME, ...}`)
            """).Append('\n');
        foreach (var kind in ModelKinds.All)
        {
            w.Append('\n').Append("### ").Append(kind.Name).Append("\n\n").Append(kind.Doc).Append(".\n");
            var notes = new List<string>();
            if (kind.Descriptor is { } d) notes.Add($"needs descriptor `{d}`");
            notes.Add(kind.Refittable ? "usable in `mlip learn`" : "`mlip train` only");
            notes.Add($"uncertainty: {kind.UncertaintyName}");
            w.Append(string.Join("; ", notes)).Append(".\n\n");
            Table(w, Settings(kind));
            if (kind.PerAtom is { } perAtom)
            {
                w.Append("\nWith `target: {per_atom: NAME}` (a per-atom model, docs/per-atom-targets.md) the settings are:\n\n");
                Table(w, PerAtomSettings(perAtom));
            }
        }
        w.Append("""

            ## Descriptors (`descriptor: {type: NAME, parameters: {...}}`)
            """).Append('\n');
        foreach (var d in DescriptorTypes.All)
        {
            w.Append('\n').Append("### ").Append(d.Name);
            if (d.Aliases.Length > 0) w.Append(" (also ").Append(string.Join(", ", d.Aliases)).Append(')');
            w.Append("\n\n").Append(d.Doc).Append(".\n\n");
            Table(w, d.Parameters);
        }
        return w.ToString().Replace("\r\n", "\n");
    }

    private static void Table(StringBuilder w, IEnumerable<ConfigKeyDoc> keys)
    {
        w.Append("| key | type | default | meaning |\n|---|---|---|---|\n");
        foreach (var k in keys)
            w.Append("| `").Append(k.Key).Append("` | ").Append(Cell(k.Type)).Append(" | ").Append(Cell(k.Default)).Append(" | ").Append(Cell(k.Doc)).Append(" |\n");
    }

    private static string Cell(string text) => text.Replace("|", "\\|");
}
