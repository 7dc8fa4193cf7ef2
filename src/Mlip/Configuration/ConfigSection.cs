using Mlip.Validation;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Mlip.Configuration;

/// <summary>One <c>key: value</c> of a config section, with the line it was written on (0: not from a file).</summary>
public sealed record ConfigEntry(string Key, string Value, int Line);

/// <summary>
/// A flat mapping of a config file (a model's settings, a descriptor's parameters) as key → value text, every
/// entry with its line, so that every complaint about it can name file:line. YAML lists arrive joined by commas.
/// </summary>
public sealed class ConfigSection
{
    public ConfigSection(string name, IReadOnlyList<ConfigEntry> entries, string? file = null, int line = 0)
    {
        Name = name;
        Entries = entries;
        File = string.IsNullOrEmpty(file) ? null : file;
        Line = line;
    }

    /// <summary>The section's name as written in errors ("model", "descriptor.parameters").</summary>
    public string Name { get; }
    public IReadOnlyList<ConfigEntry> Entries { get; }
    public string? File { get; }
    /// <summary>The line of the section itself (0: unknown).</summary>
    public int Line { get; }

    /// <summary>The value of <paramref name="key"/> (case-insensitive), or null.</summary>
    public ConfigEntry? Find(string key)
    {
        foreach (var e in Entries) if (string.Equals(e.Key, key, StringComparison.OrdinalIgnoreCase)) return e;
        return null;
    }

    /// <summary>The same entries without <paramref name="keys"/> (e.g. <c>kind</c>, which chooses the record).</summary>
    public ConfigSection Without(params string[] keys) =>
        new(Name, [.. Entries.Where(e => !keys.Contains(e.Key, StringComparer.OrdinalIgnoreCase))], File, Line);

    /// <summary>An error about this section, at <paramref name="line"/> (or the section's line): a <see cref="FileFormatException"/> when the section came from a file.</summary>
    public MlipException Error(int line, string message)
    {
        int at = line > 0 ? line : Line;
        if (File is null) return new MlipException(message);
        return new FileFormatException(new InputLocation(File, at > 0 ? at : null), message);
    }

    public IReadOnlyDictionary<string, string> ToDictionary()
    {
        var d = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var e in Entries) d[e.Key] = e.Value;
        return d;
    }

    /// <summary>Entries without lines (a config built in code); errors then carry no file.</summary>
    public static ConfigSection FromDictionary(string name, IReadOnlyDictionary<string, string> values, string? file = null) =>
        new(name, [.. values.Select(kv => new ConfigEntry(kv.Key, kv.Value, 0))], file);

    /// <summary>A YAML mapping of scalars and lists of scalars; anything deeper is an error at its line.</summary>
    public static ConfigSection FromYaml(string name, YamlNode node, string file)
    {
        int Line(YamlNode n) => (int)n.Start.Line;
        if (node is not YamlMappingNode m)
            throw new FileFormatException(new InputLocation(file, Line(node)), $"'{name}' must be a mapping");
        var list = new List<ConfigEntry>();
        foreach (var (k, v) in m.Children)
        {
            string key = k is YamlScalarNode ks && ks.Value is not null ? ks.Value
                : throw new FileFormatException(new InputLocation(file, Line(k)), $"a key of '{name}' must be a single value");
            string Scalar(YamlNode n) => n is YamlScalarNode s ? s.Value ?? ""
                : throw new FileFormatException(new InputLocation(file, Line(n)), $"'{name}.{key}' must be a value or a list of values");
            string value = v is YamlSequenceNode seq ? string.Join(",", seq.Children.Select(Scalar)) : Scalar(v);
            list.Add(new ConfigEntry(key, value, Line(k)));
        }
        return new ConfigSection(name, list, file, Line(node));
    }

    /// <summary>Reads a YAML file whose root is a mapping; YAML syntax errors name the file and line.</summary>
    public static YamlMappingNode LoadRoot(string path)
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
        return root;
    }
}
