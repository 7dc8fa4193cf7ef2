using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Mlip.Tests.Fuzz;

/// <summary>
/// Seeded mutations of input files for fuzzing readers. Mutant <c>id</c> of a run with <c>seed</c> is
/// always the same text (a <see cref="Random"/> seeded from (seed, id)), so a failing case is reproduced
/// with <see cref="Mutant(string, int, int, bool)"/> alone. Each mutant applies one to three mutations:
/// truncation, character flips, numbers replaced by extreme values (NaN, ±inf, ±1e308, 2^31, 1e-320,
/// huge integers ...), deleted, duplicated and swapped lines; with <c>json</c> also JSON-aware ones
/// (a value replaced by a string, null, a number, an array or an object of the wrong kind, a key deleted).
/// Byte-level mutants (for binary files such as SQLite databases) flip, zero, overwrite and truncate
/// bytes and plant extreme float64 / int32 values.
/// </summary>
public static class Mutator
{
    /// <summary>Values a number is replaced by.</summary>
    public static readonly string[] ExtremeNumbers =
    [
        "NaN", "nan", "inf", "-inf", "Infinity", "-Infinity", "1e308", "-1e308", "1.8e308", "2147483648", "-2147483649",
        "4294967296", "1e-320", "-1e-320", "99999999999999999999999", "-99999999999999999999999", "1e12", "-1e12",
        "1e-9", "0", "-0", "-1", "1e19", "9223372036854775808", "0x10", "1,5", "1.5.5", "", "+", "e",
    ];

    private static readonly string[] JsonReplacements =
    [
        "null", "\"abc\"", "\"1.0\"", "\"NaN\"", "true", "[]", "{}", "[1, 2]", "{\"a\": 1}", "[[1, 2, 3]]", "-1", "0",
        "1e308", "2147483648", "[null]", "\"\"", "[\"Si\"]", "99999999999999999999",
    ];

    private static readonly char[] FlipChars =
        "0123456789-+.eE \t\n\r\"'{}[],:;#=TFtfNaHSiGs\0\u00e9\u212b\uFFFD".ToCharArray();

    private static readonly Regex NumberToken = new(@"-?\d+(\.\d*)?([eE][+-]?\d+)?", RegexOptions.Compiled | RegexOptions.CultureInvariant);

    /// <summary>The random source of mutant <paramref name="id"/> of a run seeded with <paramref name="seed"/>.</summary>
    public static Random CaseRandom(int seed, int id) => new(unchecked(seed * 1_000_003 + id * 7919 + 17));

    /// <summary><paramref name="count"/> text mutants of <paramref name="text"/>, ids 0 .. count-1.</summary>
    public static IEnumerable<(int id, string text)> Mutants(string text, int count, int seed, bool json)
    {
        for (int id = 0; id < count; id++) yield return (id, Mutant(text, seed, id, json));
    }

    /// <summary><paramref name="count"/> byte-level mutants of <paramref name="data"/>, ids 0 .. count-1.</summary>
    public static IEnumerable<(int id, byte[] data)> Mutants(byte[] data, int count, int seed)
    {
        for (int id = 0; id < count; id++) yield return (id, Mutant(data, seed, id));
    }

    /// <summary>Text mutant <paramref name="id"/> (reproduces one case of <see cref="Mutants(string, int, int, bool)"/>).</summary>
    public static string Mutant(string text, int seed, int id, bool json)
    {
        var rng = CaseRandom(seed, id);
        int n = 1 + rng.Next(3);
        for (int k = 0; k < n; k++) text = MutateOnce(text, rng, json);
        return text;
    }

    /// <summary>Byte mutant <paramref name="id"/> (reproduces one case of <see cref="Mutants(byte[], int, int)"/>).</summary>
    public static byte[] Mutant(byte[] data, int seed, int id)
    {
        var rng = CaseRandom(seed, id);
        var d = (byte[])data.Clone();
        int n = 1 + rng.Next(3);
        for (int k = 0; k < n; k++) d = MutateOnce(d, rng);
        return d;
    }

    /// <summary>One random text mutation.</summary>
    public static string MutateOnce(string text, Random rng, bool json)
    {
        if (text.Length == 0) return rng.Next(2) == 0 ? text : Pick(rng, FlipChars).ToString();
        int kinds = json ? 10 : 8;
        switch (rng.Next(kinds))
        {
            case 0: return text[..rng.Next(text.Length)];
            case 1: return FlipChar(text, rng);
            case 2:
            case 3: return ReplaceNumber(text, rng, Pick(rng, ExtremeNumbers));
            case 4: return EditLines(text, rng, LineEdit.Delete);
            case 5: return EditLines(text, rng, LineEdit.Duplicate);
            case 6: return EditLines(text, rng, LineEdit.Swap);
            case 7:
                // several flips, or a number replaced in a JSON-friendly spelling
                if (json) return ReplaceNumber(text, rng, Pick(rng, JsonReplacements));
                for (int i = 0; i < 1 + rng.Next(8); i++) text = FlipChar(text, rng);
                return text;
            default: return MutateJson(text, rng) ?? ReplaceNumber(text, rng, Pick(rng, JsonReplacements));
        }
    }

    /// <summary>One random byte mutation.</summary>
    public static byte[] MutateOnce(byte[] d, Random rng)
    {
        if (d.Length == 0) return d;
        switch (rng.Next(7))
        {
            case 0: return d[..rng.Next(d.Length)];
            case 1:
                for (int i = 0; i < 1 + rng.Next(4); i++) d[rng.Next(d.Length)] ^= (byte)(1 << rng.Next(8));
                return d;
            case 2:
                d[rng.Next(d.Length)] = (byte)rng.Next(256);
                return d;
            case 3:
            {
                // a run of zeros or 0xFF
                int at = rng.Next(d.Length), len = Math.Min(d.Length - at, 1 + rng.Next(64));
                byte v = rng.Next(2) == 0 ? (byte)0 : (byte)0xFF;
                for (int i = 0; i < len; i++) d[at + i] = v;
                return d;
            }
            case 4:
            {
                // an extreme float64 at a random 8-byte-aligned offset (the arrays of an ASE row are float64 blobs)
                double[] values = [double.NaN, double.PositiveInfinity, double.NegativeInfinity, 1e308, -1e308, 2147483648.0, 1e-320, 1e12, 1e-9, 0];
                int at = rng.Next(Math.Max(1, d.Length / 8)) * 8;
                if (at + 8 > d.Length) return d;
                BitConverter.TryWriteBytes(d.AsSpan(at, 8), Pick(rng, values));
                return d;
            }
            case 5:
            {
                // an extreme int32 (atom numbers, counts)
                int[] values = [int.MaxValue, int.MinValue, -1, 0, 1 << 30, 119, 255, 65536];
                int at = rng.Next(Math.Max(1, d.Length / 4)) * 4;
                if (at + 4 > d.Length) return d;
                BitConverter.TryWriteBytes(d.AsSpan(at, 4), Pick(rng, values));
                return d;
            }
            default:
            {
                // copy a chunk of the file over another place
                int len = 1 + rng.Next(Math.Min(256, d.Length));
                int from = rng.Next(d.Length - len + 1), to = rng.Next(d.Length - len + 1);
                Array.Copy(d, from, d, to, len);
                return d;
            }
        }
    }

    private static T Pick<T>(Random rng, IReadOnlyList<T> items) => items[rng.Next(items.Count)];

    private static string FlipChar(string text, Random rng)
    {
        int at = rng.Next(text.Length);
        return string.Concat(text.AsSpan(0, at), Pick(rng, FlipChars).ToString(), text.AsSpan(at + 1));
    }

    /// <summary>Replaces one number token (chosen at random) by <paramref name="replacement"/>.</summary>
    public static string ReplaceNumber(string text, Random rng, string replacement)
    {
        var matches = NumberToken.Matches(text);
        if (matches.Count == 0) return FlipChar(text, rng);
        var m = matches[rng.Next(matches.Count)];
        return string.Concat(text.AsSpan(0, m.Index), replacement, text.AsSpan(m.Index + m.Length));
    }

    private enum LineEdit { Delete, Duplicate, Swap }

    private static string EditLines(string text, Random rng, LineEdit edit)
    {
        var lines = new List<string>(text.Split('\n'));
        if (lines.Count < 2) return FlipChar(text, rng);
        int i = rng.Next(lines.Count);
        switch (edit)
        {
            case LineEdit.Delete:
                // sometimes a block of lines
                int len = rng.Next(4) == 0 ? Math.Min(lines.Count - i, 1 + rng.Next(10)) : 1;
                lines.RemoveRange(i, len);
                break;
            case LineEdit.Duplicate:
                lines.Insert(i, lines[i]);
                break;
            default:
                int j = rng.Next(lines.Count);
                (lines[i], lines[j]) = (lines[j], lines[i]);
                break;
        }
        return string.Join('\n', lines);
    }

    /// <summary>
    /// A JSON-aware mutation: parses the text, picks a value and replaces it by one of the wrong kind
    /// (or deletes an object member / array element). Null when the text is not JSON.
    /// </summary>
    public static string? MutateJson(string text, Random rng)
    {
        try { return MutateJsonCore(text, rng); }
        catch (Exception e) when (e is System.Text.Json.JsonException or ArgumentException or InvalidOperationException) { return null; } // e.g. duplicate keys
    }

    private static string? MutateJsonCore(string text, Random rng)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(text, documentOptions: new System.Text.Json.JsonDocumentOptions { MaxDepth = 256 }); }
        catch (System.Text.Json.JsonException) { return null; }
        if (root is null) return null;
        var nodes = new List<JsonNode>();
        Collect(root, nodes);
        if (nodes.Count < 2) return null;
        var target = nodes[1 + rng.Next(nodes.Count - 1)]; // not the root
        var parent = target.Parent!;
        JsonNode? replacement = rng.Next(8) switch
        {
            0 => null,
            1 => JsonValue.Create("abc"),
            2 => target is JsonValue v && v.TryGetValue(out double x) ? JsonValue.Create(x.ToString("R", CultureInfo.InvariantCulture)) : JsonValue.Create(1.5),
            3 => new JsonArray(),
            4 => new JsonObject(),
            5 => target is JsonArray a ? new JsonArray(JsonValue.Create(1.0)) { } : new JsonArray(JsonValue.Create(1.0), JsonValue.Create(2.0)),
            6 => JsonValue.Create(true),
            _ => JsonNode.Parse(Pick(rng, JsonReplacements)),
        };
        bool delete = rng.Next(6) == 0;
        if (parent is JsonObject o)
        {
            string key = target.GetPropertyName();
            if (delete) o.Remove(key);
            else o[key] = replacement;
        }
        else if (parent is JsonArray arr)
        {
            int idx = target.GetElementIndex();
            if (delete) arr.RemoveAt(idx);
            else arr[idx] = replacement;
        }
        return root.ToJsonString();
    }

    private static void Collect(JsonNode node, List<JsonNode> into)
    {
        into.Add(node);
        if (node is JsonObject o)
        {
            foreach (var (_, v) in o) if (v is not null) Collect(v, into);
        }
        else if (node is JsonArray a)
        {
            foreach (var v in a) if (v is not null) Collect(v, into);
        }
    }

    /// <summary>A short printable excerpt for reports.</summary>
    public static string Excerpt(string text, int max = 200)
    {
        var sb = new StringBuilder();
        foreach (char c in text.Length > max ? text[..max] : text) sb.Append(char.IsControl(c) && c != '\n' ? '?' : c);
        return sb.ToString();
    }
}
