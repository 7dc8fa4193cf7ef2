using System.Buffers.Binary;
using System.Text.Json;

namespace Mlip.IO;

/// <summary>
/// One decoded value of an ASE database row, independent of where it came from (a JSON database,
/// a column of the SQLite database, or the JSON inside one). <see cref="AseRowMapper"/> turns rows
/// of these into structures, so the JSON and SQLite readers share one mapping.
/// </summary>
internal abstract record AseValue
{
    /// <summary>Short description for error messages ("text", "a JSON object" ...).</summary>
    public abstract string Kind { get; }
}

/// <summary>A number; <see cref="Integer"/> is set when it was written as an integer.</summary>
internal sealed record AseNumber(double Value, long? Integer = null) : AseValue
{
    public override string Kind => "a number";
}

internal sealed record AseText(string Value) : AseValue
{
    public override string Kind => "text";
}

internal sealed record AseBool(bool Value) : AseValue
{
    public override string Kind => "a boolean";
}

internal sealed record AseNull : AseValue
{
    public static readonly AseNull Instance = new();
    public override string Kind => "null";
}

/// <summary>Something the readers do not use (complex numbers, lists of text, dates ...).</summary>
internal sealed record AseUnsupported(string What) : AseValue
{
    public override string Kind => What;
}

/// <summary>
/// A numeric (or boolean) n-dimensional array in row-major order: a numpy array
/// (<c>{"__ndarray__": [shape, dtype, values]}</c>), a nested JSON list, or a SQLite blob.
/// Booleans are stored as 0 and 1.
/// </summary>
internal sealed record AseArray(int[] Shape, double[] Values, bool IsInteger) : AseValue
{
    public override string Kind => $"an array of shape ({string.Join(", ", Shape)})";

    public int Rank => Shape.Length;

    /// <summary>A one-dimensional array.</summary>
    public static AseArray Vector(double[] values, bool isInteger) => new([values.Length], values, isInteger);
}

/// <summary>A JSON object (key_value_pairs, data, a cell ...), members in file order.</summary>
internal sealed record AseObject(IReadOnlyList<KeyValuePair<string, AseValue>> Members) : AseValue
{
    public override string Kind => "a JSON object";

    public AseValue? this[string key]
    {
        get
        {
            foreach (var (k, v) in Members)
                if (k == key) return v;
            return null;
        }
    }
}

/// <summary>One row of an ASE database: its id and its fields under ASE's names.</summary>
internal sealed class AseRow(long id)
{
    public long Id { get; } = id;

    public Dictionary<string, AseValue> Fields { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Decodes the JSON that ASE writes (ase.io.jsonio and ase.db.core.object_to_bytes) into
/// <see cref="AseValue"/>s: numpy arrays as <c>{"__ndarray__": [shape, dtype, flat values]}</c>, or,
/// in the binary data column of the SQLite database, <c>{"__ndarray__": [shape, dtype, byte offset]}</c>
/// pointing into the blob; plain (nested) lists from older ASE versions.
/// </summary>
internal static class AseJsonDecoder
{
    /// <summary>Decodes <paramref name="e"/>; <paramref name="blob"/> holds the bytes that binary ndarrays point into.</summary>
    public static AseValue Decode(JsonElement e, ReadOnlySpan<byte> blob = default)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Number:
                return e.TryGetInt64(out long l) ? new AseNumber(l, l) : new AseNumber(e.GetDouble());
            case JsonValueKind.String:
                return new AseText(e.GetString()!);
            case JsonValueKind.True:
                return new AseBool(true);
            case JsonValueKind.False:
                return new AseBool(false);
            case JsonValueKind.Null:
                return AseNull.Instance;
            case JsonValueKind.Array:
                return DecodeList(e);
            case JsonValueKind.Object:
                return DecodeObject(e, blob);
            default:
                return new AseUnsupported("an unknown JSON value");
        }
    }

    private static AseValue DecodeObject(JsonElement e, ReadOnlySpan<byte> blob)
    {
        if (e.TryGetProperty("__ndarray__", out var nd)) return DecodeNdarray(nd, blob);
        if (e.TryGetProperty("__complex__", out _)) return new AseUnsupported("a complex number");
        if (e.TryGetProperty("__complex_ndarray__", out _)) return new AseUnsupported("a complex array");
        if (e.TryGetProperty("__datetime__", out var dt) && dt.ValueKind == JsonValueKind.String)
            return new AseText(dt.GetString()!);
        var members = new List<KeyValuePair<string, AseValue>>();
        foreach (var p in e.EnumerateObject())
        {
            if (p.Name == "__ase_objtype__") continue;
            members.Add(new(p.Name, Decode(p.Value, blob)));
        }
        return new AseObject(members);
    }

    /// <summary>A plain JSON list: a rectangular nested list of numbers/booleans becomes an array.</summary>
    private static AseValue DecodeList(JsonElement e)
    {
        var shape = new List<int>();
        var cur = e;
        while (cur.ValueKind == JsonValueKind.Array)
        {
            int n = cur.GetArrayLength();
            shape.Add(n);
            if (n == 0) break;
            cur = cur[0];
        }
        var values = new List<double>();
        bool isInteger = true;
        if (!Flatten(e, shape, 0, values, ref isInteger))
            return new AseUnsupported("a list that is not a rectangular array of numbers");
        return new AseArray([.. shape], [.. values], isInteger);
    }

    private static bool Flatten(JsonElement e, List<int> shape, int level, List<double> values, ref bool isInteger)
    {
        if (level == shape.Count)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Number:
                    if (e.TryGetInt64(out long l)) values.Add(l);
                    else
                    {
                        values.Add(e.GetDouble());
                        isInteger = false;
                    }
                    return true;
                case JsonValueKind.True:
                    values.Add(1);
                    return true;
                case JsonValueKind.False:
                    values.Add(0);
                    return true;
                default:
                    return false;
            }
        }
        if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() != shape[level]) return false;
        foreach (var item in e.EnumerateArray())
            if (!Flatten(item, shape, level + 1, values, ref isInteger)) return false;
        return true;
    }

    private static AseValue DecodeNdarray(JsonElement nd, ReadOnlySpan<byte> blob)
    {
        if (nd.ValueKind != JsonValueKind.Array || nd.GetArrayLength() != 3)
            return new AseUnsupported("a malformed __ndarray__");
        var shapeElement = nd[0];
        var dtypeElement = nd[1];
        var data = nd[2];
        if (shapeElement.ValueKind != JsonValueKind.Array || dtypeElement.ValueKind != JsonValueKind.String)
            return new AseUnsupported("a malformed __ndarray__");

        var shape = new int[shapeElement.GetArrayLength()];
        long size = 1;
        int k = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (!d.TryGetInt32(out int n) || n < 0) return new AseUnsupported("a malformed __ndarray__");
            shape[k++] = n;
            size *= n;
            if (size > Array.MaxLength) return new AseUnsupported("an array too large to read");
        }

        if (!NumpyType.TryParse(dtypeElement.GetString()!, out var dtype))
            return new AseUnsupported($"an array of dtype '{dtypeElement.GetString()}'");

        // sizes are checked against the data before the array is allocated (a shape can claim anything)
        if (data.ValueKind == JsonValueKind.Array && data.GetArrayLength() != size) return new AseUnsupported("a malformed __ndarray__");
        if (data.ValueKind == JsonValueKind.Number && data.TryGetInt64(out long at) && (at < 0 || at + size * dtype.Size > blob.Length))
            return new AseUnsupported("a binary array outside its blob");
        var values = new double[size];
        if (data.ValueKind == JsonValueKind.Array)
        {
            int i = 0;
            foreach (var x in data.EnumerateArray())
            {
                switch (x.ValueKind)
                {
                    case JsonValueKind.Number: values[i++] = x.GetDouble(); break;
                    case JsonValueKind.True: values[i++] = 1; break;
                    case JsonValueKind.False: values[i++] = 0; break;
                    default: return new AseUnsupported("a malformed __ndarray__");
                }
            }
        }
        else if (data.ValueKind == JsonValueKind.Number && data.TryGetInt64(out long offset))
        {
            long bytes = size * dtype.Size;
            if (offset < 0 || offset + bytes > blob.Length) return new AseUnsupported("a binary array outside its blob");
            dtype.ReadLittleEndian(blob.Slice((int)offset, (int)bytes), values);
        }
        else
        {
            return new AseUnsupported("a malformed __ndarray__");
        }
        return new AseArray(shape, values, dtype.IsInteger);
    }
}

/// <summary>The numpy dtypes ASE arrays come in (real numbers, integers, booleans).</summary>
internal readonly record struct NumpyType(char Kind, int Size)
{
    public bool IsInteger => Kind != 'f';

    public static bool TryParse(string name, out NumpyType type)
    {
        type = name switch
        {
            "float64" => new('f', 8),
            "float32" => new('f', 4),
            "int64" => new('i', 8),
            "int32" => new('i', 4),
            "int16" => new('i', 2),
            "int8" => new('i', 1),
            "uint64" => new('u', 8),
            "uint32" => new('u', 4),
            "uint16" => new('u', 2),
            "uint8" => new('u', 1),
            "bool" => new('b', 1),
            _ => default,
        };
        return type.Size != 0;
    }

    /// <summary>Reads little-endian elements of this type into <paramref name="values"/>.</summary>
    public void ReadLittleEndian(ReadOnlySpan<byte> bytes, double[] values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            var b = bytes.Slice(i * Size, Size);
            values[i] = (Kind, Size) switch
            {
                ('f', 8) => BinaryPrimitives.ReadDoubleLittleEndian(b),
                ('f', 4) => BinaryPrimitives.ReadSingleLittleEndian(b),
                ('i', 8) => BinaryPrimitives.ReadInt64LittleEndian(b),
                ('i', 4) => BinaryPrimitives.ReadInt32LittleEndian(b),
                ('i', 2) => BinaryPrimitives.ReadInt16LittleEndian(b),
                ('i', 1) => (sbyte)b[0],
                ('u', 8) => BinaryPrimitives.ReadUInt64LittleEndian(b),
                ('u', 4) => BinaryPrimitives.ReadUInt32LittleEndian(b),
                ('u', 2) => BinaryPrimitives.ReadUInt16LittleEndian(b),
                ('u', 1) => b[0],
                ('b', 1) => b[0] != 0 ? 1 : 0,
                _ => throw new InvalidOperationException($"unhandled dtype {Kind}{Size}"),
            };
        }
    }
}
