using System.Globalization;
using System.Text.Json;
using Mlip.Validation;

namespace Mlip.IO;

/// <summary>Helpers for JSON readers: parse with file and line in the error, typed field access that names the structure.</summary>
internal static class JsonInput
{
    public static JsonDocument ParseFile(string path)
    {
        InputFile.EnsureExists(path);
        try
        {
            using var fs = File.OpenRead(path);
            return JsonDocument.Parse(fs, new JsonDocumentOptions { AllowTrailingCommas = true, MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            int? line = e.LineNumber is long l ? (int)l + 1 : null;
            throw new FileFormatException(new InputLocation(path, line), $"invalid JSON: {FirstSentence(e.Message)}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MlipInputException(new InputLocation(path), $"cannot be read: {e.Message}", e);
        }
    }

    private static string FirstSentence(string m)
    {
        int i = m.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (i > 0 ? m[..i] : m).Trim();
    }

    public static JsonElement Required(JsonElement obj, string name, InputLocation where)
    {
        if (obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null) return v;
        throw new FileFormatException(where, $"missing field '{name}'");
    }

    public static JsonElement? Optional(JsonElement obj, string name)
    {
        if (obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null) return v;
        return null;
    }

    public static double Number(JsonElement e, InputLocation where, string what)
    {
        if (e.ValueKind == JsonValueKind.Number) return e.GetDouble();
        if (e.ValueKind == JsonValueKind.String)
        {
            string s = e.GetString()!;
            if (s is "NaN" or "nan") return double.NaN;
            if (s is "Infinity" or "inf") return double.PositiveInfinity;
            if (s is "-Infinity" or "-inf") return double.NegativeInfinity;
            if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)) return d;
        }
        throw new FileFormatException(where, $"{what} is not a number");
    }

    public static string Text(JsonElement e, InputLocation where, string what)
    {
        if (e.ValueKind == JsonValueKind.String) return e.GetString()!;
        throw new FileFormatException(where, $"{what} is not a string (found {e.ValueKind})");
    }

    public static bool Bool(JsonElement e, InputLocation where, string what) => e.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw new FileFormatException(where, $"{what} is not true or false (found {e.ValueKind})"),
    };

    /// <summary>A flat list of numbers from nested JSON arrays (row-major).</summary>
    public static double[] Numbers(JsonElement e, InputLocation where, string what)
    {
        var list = new List<double>();
        Flatten(e, list, where, what);
        return [.. list];
    }

    private static void Flatten(JsonElement e, List<double> into, InputLocation where, string what)
    {
        if (e.ValueKind == JsonValueKind.Array)
            foreach (var x in e.EnumerateArray()) Flatten(x, into, where, what);
        else into.Add(Number(e, where, what));
    }

    /// <summary>A scalar JSON value as an Info value (string, double, long, bool, double[]); null for objects.</summary>
    public static object? InfoValue(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.String: return e.GetString();
            case JsonValueKind.True: return true;
            case JsonValueKind.False: return false;
            case JsonValueKind.Number:
                return e.TryGetInt64(out long l) ? l : e.GetDouble();
            case JsonValueKind.Array:
                var list = new List<double>();
                foreach (var x in e.EnumerateArray())
                {
                    if (x.ValueKind != JsonValueKind.Number) return null;
                    list.Add(x.GetDouble());
                }
                return list.ToArray();
            default: return null;
        }
    }

    public static void WriteInfoValue(Utf8JsonWriter w, string key, object value)
    {
        switch (value)
        {
            case string s: w.WriteString(key, s); break;
            case bool b: w.WriteBoolean(key, b); break;
            case long l: w.WriteNumber(key, l); break;
            case int i: w.WriteNumber(key, i); break;
            case double d when double.IsFinite(d): w.WriteNumber(key, d); break;
            case double[] a:
                w.WriteStartArray(key);
                foreach (double x in a) w.WriteNumberValue(x);
                w.WriteEndArray();
                break;
            default: w.WriteString(key, Convert.ToString(value, CultureInfo.InvariantCulture)); break;
        }
    }
}
