using System.Globalization;
using System.Text;
using System.Text.Json;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.IO;

/// <summary>
/// The ASE JSON database (ase.db with a .json file), read-only:
/// <c>{"1": {row}, "2": {row}, ..., "ids": [1, 2], "nextid": 3}</c>. Rows come in the order of "ids"
/// (numeric key order when "ids" is absent). Arrays may be plain lists (older ASE) or
/// <c>{"__ndarray__": [shape, dtype, flat values]}</c>; the cell a 3x3 list or <c>{"array": ...}</c>.
/// Field mapping: see <see cref="AseRowMapper"/>. Each structure's <see cref="Structure.Source"/> is
/// (file, structure index) and <c>Info["id"]</c> is the ASE row id.
/// </summary>
/// <remarks>
/// The file is scanned once with <see cref="Utf8JsonReader"/> and each row is parsed on its own, so
/// the work is linear in the file size and only one row's JSON tree is held at a time.
/// </remarks>
public sealed class AseJsonFormat : IStructureFormat
{
    public string Name => "ase-json";
    public string Description => "ASE JSON database (ase.db .json file), read-only";
    public bool CanRead => true;
    public bool CanWrite => false;

    /// <summary>".json" is shared with pymatgen/mlearn; <see cref="StructureFormats.ForReading"/> looks inside to tell them apart.</summary>
    public bool MatchesFileName(string fileName) => fileName.EndsWith(".json", StringComparison.OrdinalIgnoreCase);

    public IReadOnlyList<Structure> Read(string path)
    {
        InputFile.EnsureExists(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MlipInputException(new InputLocation(path), $"cannot be read: {e.Message}", e);
        }
        return ReadUtf8(bytes, path);
    }

    public void Write(string path, IReadOnlyList<Structure> structures) =>
        throw new NotSupportedException($"format '{Name}' is read-only");

    /// <summary>Reads a database held in a string; <paramref name="sourceName"/> is used in error messages.</summary>
    public IReadOnlyList<Structure> ReadString(string json, string sourceName = "<string>") =>
        ReadUtf8(Encoding.UTF8.GetBytes(json), sourceName);

    /// <summary>Reads a database from UTF-8 bytes (a leading byte-order mark is allowed).</summary>
    public IReadOnlyList<Structure> ReadUtf8(ReadOnlySpan<byte> utf8, string sourceName)
    {
        if (utf8.StartsWith("\uFEFF"u8)) utf8 = utf8[3..];
        var (rows, ids) = Scan(utf8, sourceName);

        IEnumerable<long> order;
        if (ids is not null)
        {
            foreach (long id in ids)
                if (!rows.ContainsKey(id))
                    throw new FileFormatException(new InputLocation(sourceName),
                        $"\"ids\" lists row {id}, but there is no row \"{id}\" in the file");
            order = ids;
        }
        else
        {
            order = rows.Keys.Order();
        }

        var structures = new List<Structure>(rows.Count);
        foreach (long id in order)
        {
            var where = new InputLocation(sourceName, null, structures.Count);
            structures.Add(AseRowMapper.ToStructure(rows[id], where));
        }
        return structures;
    }

    /// <summary>One pass over the top-level object: rows by id, and the "ids" list if there is one.</summary>
    private static (Dictionary<long, AseRow> Rows, List<long>? Ids) Scan(ReadOnlySpan<byte> utf8, string sourceName)
    {
        var rows = new Dictionary<long, AseRow>();
        List<long>? ids = null;
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = 256 });
        try
        {
            if (!reader.Read())
                throw new FileFormatException(new InputLocation(sourceName), "is empty, not an ASE JSON database");
            if (reader.TokenType != JsonTokenType.StartObject)
                throw new FileFormatException(new InputLocation(sourceName),
                    "is not an ASE JSON database: expected an object {\"1\": {...}, \"ids\": [...], \"nextid\": N}");

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string key = reader.GetString()!;
                reader.Read();
                if (long.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out long id))
                {
                    if (reader.TokenType != JsonTokenType.StartObject)
                        throw new FileFormatException(new InputLocation(sourceName), $"row \"{key}\" is not a JSON object");
                    using var doc = JsonDocument.ParseValue(ref reader);
                    rows[id] = DecodeRow(id, doc.RootElement);
                }
                else if (key == "ids")
                {
                    ids = ReadIds(ref reader, sourceName);
                }
                else
                {
                    reader.Skip(); // "nextid", "metadata"
                }
            }
            // Anything after the closing brace other than white space is an error of the reader.
            while (reader.Read()) { }
        }
        catch (JsonException e)
        {
            int? line = e.LineNumber is long l ? (int)Math.Min(l + 1, int.MaxValue) : null;
            throw new FileFormatException(new InputLocation(sourceName, line), $"invalid JSON: {Describe(e)}", e);
        }
        catch (InvalidOperationException e) // text that is not UTF-8
        {
            throw new FileFormatException(new InputLocation(sourceName), $"invalid JSON: {e.Message}", e);
        }
        return (rows, ids);
    }

    private static List<long> ReadIds(ref Utf8JsonReader reader, string sourceName)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
            throw new FileFormatException(new InputLocation(sourceName), "\"ids\" should be a list of row ids");
        var ids = new List<long>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long id))
                throw new FileFormatException(new InputLocation(sourceName), "\"ids\" should be a list of integer row ids");
            ids.Add(id);
        }
        return ids;
    }

    private static AseRow DecodeRow(long id, JsonElement element)
    {
        var row = new AseRow(id);
        foreach (var p in element.EnumerateObject())
            if (AseRowMapper.UsedFields.Contains(p.Name))
                row.Fields[p.Name] = AseJsonDecoder.Decode(p.Value);
        return row;
    }

    /// <summary>The reader's message without its 0-based "LineNumber: x | BytePositionInLine: y." suffix, plus a 1-based column.</summary>
    private static string Describe(JsonException e)
    {
        string m = e.Message;
        int cut = m.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut >= 0) m = m[..cut];
        m = m.TrimEnd();
        if (m.StartsWith("'N' is an invalid start of a value", StringComparison.Ordinal) ||
            m.StartsWith("'I' is an invalid start of a value", StringComparison.Ordinal))
            m += " NaN and Infinity, which Python's json module writes, are not valid JSON.";
        if (e.BytePositionInLine is long b) m += string.Create(CultureInfo.InvariantCulture, $" (byte {b + 1} of the line)");
        return m;
    }
}
