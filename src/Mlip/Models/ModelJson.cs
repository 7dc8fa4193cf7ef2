using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlip.Validation;

namespace Mlip.Models;

/// <summary>
/// Typed access to the nodes of a JSON model file: a value of the wrong JSON type, a missing field,
/// a non-finite number or an integer out of range is a <see cref="FileFormatException"/> that names
/// the file, the JSON path of the value ($.model.coefficients.Si[3]) and, where it can be found, the
/// line of the value in the file.
/// </summary>
internal static class ModelJson
{
    /// <summary>
    /// Parses a model file's JSON object and hands it to <paramref name="load"/>: every error comes out as a
    /// <see cref="FileFormatException"/> naming the file (a reader's own typed error keeps its file and line; an
    /// unexpected JSON type that a reader did not check itself becomes "malformed model file").
    /// </summary>
    public static T LoadObject<T>(string path, Func<JsonObject, string, InputLocation, T> load)
    {
        using var doc = Mlip.IO.JsonInput.ParseFile(path);
        var where = new InputLocation(path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new FileFormatException(where, "not an Mlip model file (not a JSON object)");
        var root = ToNode(doc.RootElement);
        try
        {
            return load(root, path, where);
        }
        catch (MlipException e) when (e is not MlipInputException { File: not null })
        {
            throw new FileFormatException(where, e.Message, e);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or InvalidCastException or KeyNotFoundException or ArgumentException or OverflowException)
        {
            throw new FileFormatException(where, $"malformed model file: {e.Message}", e);
        }
    }

    /// <summary>The error for the value at <paramref name="jsonPath"/> of <paramref name="file"/>.</summary>
    public static FileFormatException Error(string file, string jsonPath, string detail, Exception? inner = null) =>
        new(new InputLocation(file, LineOf(file, jsonPath)), $"{jsonPath}: {detail}", inner);

    /// <summary>The mutable tree of a parsed document (its raw text may hold the trailing commas the file reader allows).</summary>
    public static JsonObject ToNode(JsonElement root) =>
        JsonNode.Parse(root.GetRawText(), documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, MaxDepth = 256 })!.AsObject();

    public static string PathOf(JsonNode? node, JsonNode parent, string key) =>
        node?.GetPath() ?? parent.GetPath() + "." + key;

    private static string Kind(JsonNode? n) => n switch
    {
        null => "null",
        JsonObject => "an object",
        JsonArray => "an array",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => "a string",
            JsonValueKind.Number => "a number",
            JsonValueKind.True or JsonValueKind.False => "a boolean",
            _ => "null",
        },
        _ => "unknown",
    };

    private static JsonNode Get(JsonObject o, string key, string file)
    {
        var n = o[key];
        if (n is null) throw Error(file, o.GetPath() + "." + key, o.ContainsKey(key) ? "is null" : "missing");
        return n;
    }

    public static JsonObject Object(JsonObject o, string key, string file) => AsObject(Get(o, key, file), file);

    public static JsonObject? OptionalObject(JsonObject o, string key, string file) => o[key] is { } n ? AsObject(n, file) : null;

    public static JsonObject AsObject(JsonNode? n, string file, string? pathIfNull = null) => n switch
    {
        JsonObject x => x,
        null => throw Error(file, pathIfNull ?? "$", "missing"),
        _ => throw Error(file, n.GetPath(), $"expected an object, found {Kind(n)}"),
    };

    public static JsonArray Array(JsonObject o, string key, string file) => AsArray(Get(o, key, file), file);

    public static JsonArray AsArray(JsonNode? n, string file, string? pathIfNull = null) => n switch
    {
        JsonArray x => x,
        null => throw Error(file, pathIfNull ?? "$", "missing"),
        _ => throw Error(file, n.GetPath(), $"expected an array, found {Kind(n)}"),
    };

    public static string String(JsonObject o, string key, string file) => AsString(Get(o, key, file), file);

    public static string? OptionalString(JsonObject o, string key, string file) => o[key] is { } n ? AsString(n, file) : null;

    public static string AsString(JsonNode n, string file) =>
        n is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : throw Error(file, n.GetPath(), $"expected a string, found {Kind(n)}");

    public static double Double(JsonObject o, string key, string file) => AsDouble(Get(o, key, file), file);

    public static double Double(JsonObject o, string key, string file, double fallback) => o[key] is { } n ? AsDouble(n, file) : fallback;

    /// <summary>A finite number.</summary>
    public static double AsDouble(JsonNode? n, string file, string? pathIfNull = null)
    {
        if (n is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
        {
            double d;
            try { d = v.GetValue<double>(); }
            catch (Exception e) when (e is FormatException or InvalidOperationException or OverflowException)
            {
                throw Error(file, n.GetPath(), "is not a number", e);
            }
            if (!double.IsFinite(d)) throw Error(file, n.GetPath(), "is not a finite number");
            return d;
        }
        if (n is null) throw Error(file, pathIfNull ?? "$", "expected a number, found null");
        throw Error(file, n.GetPath(), $"expected a number, found {Kind(n)}");
    }

    public static int Int(JsonObject o, string key, string file, int min = int.MinValue, int max = int.MaxValue) =>
        AsInt(Get(o, key, file), file, min, max);

    public static int IntOr(JsonObject o, string key, string file, int fallback, int min = int.MinValue, int max = int.MaxValue) =>
        o[key] is { } n ? AsInt(n, file, min, max) : fallback;

    /// <summary>An integer in [min, max].</summary>
    public static int AsInt(JsonNode n, string file, int min = int.MinValue, int max = int.MaxValue)
    {
        if (n is not JsonValue v || v.GetValueKind() != JsonValueKind.Number) throw Error(file, n.GetPath(), $"expected an integer, found {Kind(n)}");
        double d = AsDouble(n, file);
        if (d != Math.Floor(d)) throw Error(file, n.GetPath(), $"expected an integer, found {d.ToString("R", CultureInfo.InvariantCulture)}");
        if (d < min || d > max)
            throw Error(file, n.GetPath(), string.Create(CultureInfo.InvariantCulture, $"{d:R} is out of range ({min} to {max})"));
        return (int)d;
    }

    /// <summary>A flat array of finite numbers (the array itself: <paramref name="n"/>; <paramref name="pathIfNull"/> names it when missing).</summary>
    public static double[] Numbers(JsonNode? n, string file, string pathIfNull)
    {
        var a = AsArray(n, file, pathIfNull);
        var r = new double[a.Count];
        for (int i = 0; i < r.Length; i++) r[i] = AsDouble(a[i], file, a.GetPath() + $"[{i}]");
        return r;
    }

    public static double[] Numbers(JsonObject o, string key, string file) => Numbers(o[key], file, o.GetPath() + "." + key);

    /// <summary>A flat array of exactly <paramref name="count"/> finite numbers.</summary>
    public static double[] Numbers(JsonObject o, string key, string file, int count)
    {
        var r = Numbers(o, key, file);
        if (r.Length != count)
            throw Error(file, o[key]!.GetPath(), string.Create(CultureInfo.InvariantCulture, $"has {r.Length} values, expected {count}"));
        return r;
    }

    // ---- line of a JSON path ----

    /// <summary>The 1-based line of the value at <paramref name="jsonPath"/> (as <see cref="JsonNode.GetPath"/> writes it), or of the deepest existing parent; null when the file cannot be read.</summary>
    internal static int? LineOf(string file, string jsonPath)
    {
        try
        {
            if (!File.Exists(file)) return null;
            var info = new FileInfo(file);
            if (info.Length > 256L << 20) return null;
            byte[] bytes = File.ReadAllBytes(file);
            return LineOf(bytes, ParsePath(jsonPath));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or FormatException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>Segments of $.a.b['c d'][3]: property names as strings, indices as ints.</summary>
    internal static List<object> ParsePath(string path)
    {
        var segs = new List<object>();
        int i = path.StartsWith('$') ? 1 : 0;
        while (i < path.Length)
        {
            if (path[i] == '.')
            {
                int j = i + 1;
                while (j < path.Length && path[j] != '.' && path[j] != '[') j++;
                segs.Add(path[(i + 1)..j]);
                i = j;
            }
            else if (path[i] == '[' && i + 1 < path.Length && path[i + 1] == '\'')
            {
                int j = path.IndexOf("']", i + 2, StringComparison.Ordinal);
                if (j < 0) break;
                segs.Add(path[(i + 2)..j]);
                i = j + 2;
            }
            else if (path[i] == '[')
            {
                int j = path.IndexOf(']', i);
                if (j < 0 || !int.TryParse(path.AsSpan(i + 1, j - i - 1), NumberStyles.None, CultureInfo.InvariantCulture, out int k)) break;
                segs.Add(k);
                i = j + 1;
            }
            else break;
        }
        return segs;
    }

    private static int? LineOf(byte[] bytes, List<object> target)
    {
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip, MaxDepth = 256 });
        // One frame per open container: whether it is an array, and the segment of its child being read.
        var frames = new List<(bool IsArray, object? Current)>();
        string? pendingName = null;
        long best = 0; // token start of the deepest value whose path is a prefix of the target
        int bestDepth = -1;
        while (reader.Read())
        {
            var t = reader.TokenType;
            if (t == JsonTokenType.PropertyName) { pendingName = reader.GetString(); continue; }
            if (t is JsonTokenType.EndObject or JsonTokenType.EndArray) { frames.RemoveAt(frames.Count - 1); continue; }
            if (frames.Count > 0)
            {
                var f = frames[^1];
                frames[^1] = (f.IsArray, f.IsArray ? (int)f.Current! + 1 : pendingName);
            }
            int depth = frames.Count;
            bool match = depth <= target.Count;
            for (int d = 0; d < depth && match; d++) match = Equals(frames[d].Current, target[d]);
            if (match && depth > bestDepth)
            {
                best = reader.TokenStartIndex;
                bestDepth = depth;
                if (depth == target.Count) break;
            }
            if (t is JsonTokenType.StartObject or JsonTokenType.StartArray)
                frames.Add((t == JsonTokenType.StartArray, t == JsonTokenType.StartArray ? -1 : null));
        }
        if (bestDepth < 0) return null;
        int line = 1;
        for (long p = 0; p < best && p < bytes.Length; p++) if (bytes[p] == (byte)'\n') line++;
        return line;
    }
}
