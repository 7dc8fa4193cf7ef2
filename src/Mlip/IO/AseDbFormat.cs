using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.IO;

/// <summary>
/// The ASE SQLite database (ase.db with a .db file); written by <see cref="AseDbWriter"/>. Rows of the table <c>systems</c> are
/// read in id order, with the columns ase/db/sqlite.py writes: numbers (int32 blob), positions, cell,
/// forces, stress and the other arrays (float64 little-endian blobs; tags int32), pbc (bitmask 1/2/4),
/// energy, free_energy, magmom, key_value_pairs (JSON text), data (JSON text in older databases, the
/// binary <c>object_to_bytes</c> layout since schema version 9), unique_id, ctime, username, calculator.
/// Columns that are missing (older schema versions) or NULL are skipped. Field mapping: see
/// <see cref="AseRowMapper"/>, shared with <see cref="AseJsonFormat"/>.
/// </summary>
public sealed class AseDbFormat : IStructureFormat
{
    public string Name => "ase-db";
    public string Description => "ASE SQLite database (ase.db .db file), read and write (schema version 9)";
    public bool CanRead => true;
    public bool CanWrite => true;

    public bool MatchesFileName(string fileName) => fileName.EndsWith(".db", StringComparison.OrdinalIgnoreCase);

    /// <summary>Writes a new database (replacing the file) as ASE 3.22 would; see <see cref="AseDbWriter"/>.</summary>
    public void Write(string path, IReadOnlyList<Structure> structures) => AseDbWriter.Write(path, structures);

    public IReadOnlyList<Structure> Read(string path) => [.. Enumerate(path)];

    /// <summary>Row by row (SQLite cursor): only the row being read is held.</summary>
    public IEnumerable<Structure> Enumerate(string path)
    {
        InputFile.EnsureExists(path);
        var file = new InputLocation(path);
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path.GetFullPath(path),
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false, // do not keep the file open after reading
        }.ToString();

        using var connection = new SqliteConnection(connectionString);
        Guard(file, () => { connection.Open(); return 0; });
        if (!Guard(file, () => HasTable(connection, "systems")))
            throw new MlipInputException(file, "is an SQLite database but not an ASE database (it has no table 'systems')");

        using var command = connection.CreateCommand();
        command.CommandText = "SELECT * FROM systems ORDER BY id";
        using var reader = Guard(file, command.ExecuteReader);
        var columns = new SystemsColumns(reader);
        if (columns.Missing() is { } missing)
            throw new MlipInputException(file, $"is not an ASE database: table 'systems' has no column '{missing}'");

        int index = 0;
        while (Guard(file, reader.Read))
        {
            var where = new InputLocation(path, null, index++);
            yield return Guard(file, () => AseRowMapper.ToStructure(ReadRow(reader, columns, where), where));
        }
    }

    /// <summary>Runs one step of the reading, turning SQLite's errors into one line that names the file.</summary>
    private static T Guard<T>(InputLocation file, Func<T> step)
    {
        try
        {
            return step();
        }
        catch (SqliteException e)
        {
            // SQLITE_NOTADB (26): a text file or anything else that is not SQLite.
            string detail = e.SqliteErrorCode == 26
                ? "is not an ASE database (not an SQLite database file)"
                : $"cannot be read as an ASE SQLite database: {e.Message}";
            throw new MlipInputException(file, detail, e);
        }
    }

    private static bool HasTable(SqliteConnection connection, string table)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $name";
        command.Parameters.AddWithValue("$name", table);
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture) > 0;
    }

    private static AseRow ReadRow(SqliteDataReader r, SystemsColumns c, InputLocation where)
    {
        var row = new AseRow(r.GetInt64(c.Id));
        var f = row.Fields;

        int[]? numbers = Int32Blob(r, c.Numbers, "numbers", where);
        if (numbers is not null) f["numbers"] = AseArray.Vector(Array.ConvertAll(numbers, z => (double)z), isInteger: true);
        int atoms = numbers?.Length ?? 0;

        SetFloats(f, r, c.Positions, "positions", where, atoms);
        SetFloats(f, r, c.Cell, "cell", where, atoms);
        if (Value(r, c.Pbc) is { } pbc)
        {
            long mask = pbc is long l ? l : throw new FileFormatException(where, $"column 'pbc' should be an integer bit mask, not '{pbc}'");
            f["pbc"] = AseArray.Vector([mask & 1, (mask >> 1) & 1, (mask >> 2) & 1], isInteger: true);
        }

        foreach (var (name, ordinal) in c.FloatArrays)
            SetFloats(f, r, ordinal, name, where, atoms);
        if (Int32Blob(r, c.Tags, "tags", where) is { } tags)
            f["tags"] = AseArray.Vector(Array.ConvertAll(tags, t => (double)t), isInteger: true);

        foreach (var (name, ordinal) in c.Reals)
            if (Real(r, ordinal, name, where) is double x) f[name] = new AseNumber(x);
        foreach (var (name, ordinal) in c.Texts)
            if (Value(r, ordinal) is string s) f[name] = new AseText(s);

        if (Value(r, c.KeyValuePairs) is string kvp)
            f["key_value_pairs"] = ParseJsonText(kvp, "key_value_pairs", where);
        if (Value(r, c.Data) is { } data && DecodeData(data) is { } decoded)
            f["data"] = decoded;
        return row;
    }

    private static object? Value(SqliteDataReader r, int ordinal) =>
        ordinal < 0 || r.IsDBNull(ordinal) ? null : r.GetValue(ordinal);

    private static double? Real(SqliteDataReader r, int ordinal, string name, InputLocation where) => Value(r, ordinal) switch
    {
        null => null,
        double d => d,
        long l => l,
        byte[] { Length: 8 } b => BinaryPrimitives.ReadDoubleLittleEndian(b), // magmom in schema versions < 6
        var v => throw new FileFormatException(where, $"column '{name}' should be a number, not {Describe(v)}"),
    };

    private static byte[]? Blob(SqliteDataReader r, int ordinal, string name, InputLocation where) => Value(r, ordinal) switch
    {
        null => null,
        byte[] b => b,
        var v => throw new FileFormatException(where, $"column '{name}' should be a blob, not {Describe(v)}"),
    };

    private static int[]? Int32Blob(SqliteDataReader r, int ordinal, string name, InputLocation where)
    {
        if (Blob(r, ordinal, name, where) is not { } b) return null;
        if (b.Length % 4 != 0) throw new FileFormatException(where, $"column '{name}' holds {b.Length} bytes, not a whole number of int32 values");
        var v = new int[b.Length / 4];
        for (int i = 0; i < v.Length; i++) v[i] = BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(4 * i));
        return v;
    }

    /// <summary>
    /// A float64 blob, shaped as ASE's deblob would: (n, 3) for positions, forces, momenta; 3x3 for the
    /// cell; (atoms, k) for other arrays holding k values per atom; flat otherwise.
    /// </summary>
    private static void SetFloats(Dictionary<string, AseValue> fields, SqliteDataReader r, int ordinal, string name, InputLocation where, int atoms)
    {
        if (Blob(r, ordinal, name, where) is not { } b) return;
        if (b.Length % 8 != 0) throw new FileFormatException(where, $"column '{name}' holds {b.Length} bytes, not a whole number of float64 values");
        var v = new double[b.Length / 8];
        for (int i = 0; i < v.Length; i++) v[i] = BinaryPrimitives.ReadDoubleLittleEndian(b.AsSpan(8 * i));
        int[] shape = name switch
        {
            "positions" or "forces" or "momenta" when v.Length % 3 == 0 => [v.Length / 3, 3],
            "cell" when v.Length == 9 => [3, 3],
            "stress" or "dipole" or "cell" => [v.Length],
            _ when atoms > 0 && v.Length % atoms == 0 && v.Length != atoms => [atoms, v.Length / atoms],
            _ => [v.Length],
        };
        fields[name] = new AseArray(shape, v, IsInteger: false);
    }

    private static AseValue ParseJsonText(string json, string name, InputLocation where)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return AseJsonDecoder.Decode(doc.RootElement);
        }
        catch (JsonException e)
        {
            throw new FileFormatException(where, $"column '{name}' is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>
    /// The data column: JSON text (older ASE), or object_to_bytes (schema version 9): an int64 offset,
    /// the raw array bytes, and from the offset on JSON whose ndarrays point into the blob. Anything
    /// else is skipped (data is optional extras).
    /// </summary>
    private static AseValue? DecodeData(object data)
    {
        try
        {
            switch (data)
            {
                case string text when text != "null":
                {
                    using var doc = JsonDocument.Parse(text);
                    return AseJsonDecoder.Decode(doc.RootElement);
                }
                case byte[] blob when blob.Length >= 8:
                {
                    long offset = BinaryPrimitives.ReadInt64LittleEndian(blob);
                    if (offset >= 8 && offset < blob.Length && blob[offset] == (byte)'{')
                    {
                        using var doc = JsonDocument.Parse(blob.AsMemory((int)offset));
                        return AseJsonDecoder.Decode(doc.RootElement, blob);
                    }
                    using var textDoc = JsonDocument.Parse(blob); // JSON text stored as a blob
                    return AseJsonDecoder.Decode(textDoc.RootElement);
                }
                default:
                    return null;
            }
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            return null;
        }
    }

    private static string Describe(object v) => v switch
    {
        string s => $"text '{(s.Length > 40 ? s[..40] + "..." : s)}'",
        byte[] b => $"a blob of {b.Length} bytes",
        _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "?",
    };

    /// <summary>Ordinals of the columns of <c>systems</c> (-1 where a column is absent).</summary>
    private sealed class SystemsColumns
    {
        private static readonly string[] FloatArrayNames =
            ["forces", "stress", "dipole", "charges", "magmoms", "momenta", "initial_magmoms", "initial_charges", "masses"];

        private readonly Dictionary<string, int> _ordinals = new(StringComparer.OrdinalIgnoreCase);

        public SystemsColumns(SqliteDataReader reader)
        {
            for (int i = 0; i < reader.FieldCount; i++) _ordinals.TryAdd(reader.GetName(i), i);
            Id = Of("id");
            Numbers = Of("numbers");
            Positions = Of("positions");
            Cell = Of("cell");
            Pbc = Of("pbc");
            Tags = Of("tags");
            KeyValuePairs = Of("key_value_pairs");
            Data = Of("data");
            FloatArrays = [.. FloatArrayNames.Select(n => (n, Of(n))).Where(x => x.Item2 >= 0)];
            Reals = [.. new[] { "energy", "free_energy", "magmom", "ctime" }.Select(n => (n, Of(n))).Where(x => x.Item2 >= 0)];
            // ASE's row field "user" is the column "username" (schema version 2 on), "user" before.
            int user = Of("username") >= 0 ? Of("username") : Of("user");
            Texts = [.. new[] { ("unique_id", Of("unique_id")), ("user", user), ("calculator", Of("calculator")) }.Where(x => x.Item2 >= 0)];
        }

        public int Id { get; }
        public int Numbers { get; }
        public int Positions { get; }
        public int Cell { get; }
        public int Pbc { get; }
        public int Tags { get; }
        public int KeyValuePairs { get; }
        public int Data { get; }
        public (string Name, int Ordinal)[] FloatArrays { get; }
        public (string Name, int Ordinal)[] Reals { get; }
        public (string Name, int Ordinal)[] Texts { get; }

        /// <summary>The first required column that is absent, or null.</summary>
        public string? Missing() => Id < 0 ? "id" : Numbers < 0 ? "numbers" : Positions < 0 ? "positions" : null;

        private int Of(string name) => _ordinals.TryGetValue(name, out int i) ? i : -1;
    }
}
