namespace Mlip.Configuration;

/// <summary>One key of a config file's fixed part (not a model's or a descriptor's settings), as the schema lists it.</summary>
/// <param name="Key">Dotted path, e.g. <c>loss.force</c> or <c>explore.md.steps</c>.</param>
/// <param name="Type">The value's type as the schema names it.</param>
/// <param name="Default">The default value, as text.</param>
/// <param name="Doc">One line on what the key does.</param>
public sealed record ConfigKeyDoc(string Key, string Type, string Default, string Doc)
{
    /// <summary>The top-level keys of a table of dotted keys (what the reader accepts at the root).</summary>
    public static IReadOnlyList<string> TopKeys(IEnumerable<ConfigKeyDoc> table) => [.. table.Select(k => k.Key.Split('.')[0]).Distinct()];

    /// <summary>The keys directly under <paramref name="prefix"/> (e.g. "explore.md" → temperatures, pressures, ...).</summary>
    public static string[] KeysUnder(IEnumerable<ConfigKeyDoc> table, string prefix) =>
        [.. table.Where(k => k.Key.StartsWith(prefix + ".", StringComparison.Ordinal)).Select(k => k.Key[(prefix.Length + 1)..].Split('.')[0]).Distinct()];
}
