using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Mlip.Structures;

namespace Mlip.IO;

/// <summary>
/// Writes an ASE SQLite database (schema version 9, the layout of ase/db/sqlite.py in ASE 3.22) that
/// ASE's <c>ase.db.connect</c> reads: numbers (int32 blob), positions, cell, forces and stress
/// (float64 blobs; stress in eV/Å³, Voigt order xx yy zz yz xz xy), pbc as a bit mask, energy, the
/// per-atom columns ASE knows (charges, magmoms, momenta, initial_magmoms, initial_charges, masses,
/// tags), group and weight as key_value_pairs (<c>config_type</c>, <c>weight</c>) with the scalar
/// <see cref="Structure.Info"/> entries ASE accepts as keys, and every other per-atom array in the
/// row's <c>data</c> in ASE's binary layout (<c>object_to_bytes</c>: an int64 offset, the raw
/// little-endian array bytes, then JSON whose <c>__ndarray__</c> entries point into them). Float64
/// bytes are written as they are, so per-atom arrays survive a round trip bit for bit. The file is
/// built under a temporary name and renamed.
/// </summary>
internal static class AseDbWriter
{
    private const int SchemaVersion = 9;

    /// <summary>Per-atom arrays that have their own column in ASE's table (float64 blobs, tags int32).</summary>
    private static readonly string[] ArrayColumns = ["initial_magmoms", "initial_charges", "masses", "tags", "momenta", "magmoms", "charges"];

    private static readonly string[] Schema =
    [
        """
        CREATE TABLE systems (
            id INTEGER PRIMARY KEY AUTOINCREMENT, unique_id TEXT UNIQUE, ctime REAL, mtime REAL, username TEXT,
            numbers BLOB, positions BLOB, cell BLOB, pbc INTEGER, initial_magmoms BLOB, initial_charges BLOB,
            masses BLOB, tags BLOB, momenta BLOB, constraints TEXT, calculator TEXT, calculator_parameters TEXT,
            energy REAL, free_energy REAL, forces BLOB, stress BLOB, dipole BLOB, magmoms BLOB, magmom REAL,
            charges BLOB, key_value_pairs TEXT, data BLOB, natoms INTEGER, fmax REAL, smax REAL, volume REAL,
            mass REAL, charge REAL)
        """,
        "CREATE TABLE species (Z INTEGER, n INTEGER, id INTEGER, FOREIGN KEY (id) REFERENCES systems(id))",
        "CREATE TABLE keys (key TEXT, id INTEGER, FOREIGN KEY (id) REFERENCES systems(id))",
        "CREATE TABLE text_key_values (key TEXT, value TEXT, id INTEGER, FOREIGN KEY (id) REFERENCES systems(id))",
        "CREATE TABLE number_key_values (key TEXT, value REAL, id INTEGER, FOREIGN KEY (id) REFERENCES systems(id))",
        "CREATE TABLE information (name TEXT, value TEXT)",
        $"INSERT INTO information VALUES ('version', '{SchemaVersion}')",
        "CREATE INDEX unique_id_index ON systems(unique_id)",
        "CREATE INDEX ctime_index ON systems(ctime)",
        "CREATE INDEX username_index ON systems(username)",
        "CREATE INDEX calculator_index ON systems(calculator)",
        "CREATE INDEX species_index ON species(Z)",
        "CREATE INDEX key_index ON keys(key)",
        "CREATE INDEX text_index ON text_key_values(key)",
        "CREATE INDEX number_index ON number_key_values(key)",
    ];

    /// <summary>Keys ASE refuses in key_value_pairs (ase.db.core.reserved_keys, without the element symbols, which are checked apart).</summary>
    private static readonly HashSet<string> ReservedKeys = new(StringComparer.Ordinal)
    {
        "energy", "forces", "stress", "dipole", "charges", "magmom", "magmoms", "free_energy", "energies", "stresses",
        "dielectric_tensor", "born_effective_charges", "polarization",
        "numbers", "positions", "cell", "pbc", "initial_charges", "initial_magmoms",
        "id", "unique_id", "ctime", "mtime", "user", "fmax", "smax", "momenta", "constraints", "natoms", "formula",
        "age", "calculator", "calculator_parameters", "key_value_pairs", "data",
    };

    private static readonly Regex Word = new("^[_a-zA-Z][_0-9a-zA-Z]*$", RegexOptions.CultureInvariant);
    private static readonly Regex FormulaPart = new("([A-Z][a-z]?)([0-9]*)", RegexOptions.CultureInvariant);

    public static void Write(string path, IReadOnlyList<Structure> structures)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            var cs = new SqliteConnectionStringBuilder { DataSource = tmp, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString();
            using (var connection = new SqliteConnection(cs))
            {
                connection.Open();
                using var transaction = connection.BeginTransaction();
                foreach (string sql in Schema) Execute(connection, transaction, sql);
                double now = (DateTime.UtcNow - new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds / 31557600.0;
                for (int i = 0; i < structures.Count; i++) Insert(connection, transaction, structures[i], i + 1, now);
                transaction.Commit();
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    private static void Execute(SqliteConnection c, SqliteTransaction t, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = t;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static void Insert(SqliteConnection c, SqliteTransaction t, Structure s, long id, double now)
    {
        int n = s.Count;
        var kvp = KeyValuePairs(s);
        var dataArrays = new List<(string Name, AtomArray Array)>();
        var columns = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (name, arr) in s.AtomArrays)
        {
            bool column = Array.IndexOf(ArrayColumns, name) >= 0 && (name == "momenta" ? arr.Components == 3 : name is "magmoms" || arr.Components == 1);
            if (column) columns[name] = name == "tags" ? Int32Blob(arr.Values) : Float64Blob(arr.Values);
            else dataArrays.Add((name, arr));
        }

        using var cmd = c.CreateCommand();
        cmd.Transaction = t;
        cmd.CommandText =
            "INSERT INTO systems (id, unique_id, ctime, mtime, username, numbers, positions, cell, pbc, initial_magmoms, initial_charges, masses, tags, momenta, " +
            "constraints, calculator, calculator_parameters, energy, free_energy, forces, stress, dipole, magmoms, magmom, charges, key_value_pairs, data, natoms, fmax, smax, volume, mass, charge) " +
            "VALUES ($id, $uid, $ctime, $mtime, $user, $numbers, $positions, $cell, $pbc, $initial_magmoms, $initial_charges, $masses, $tags, $momenta, " +
            "NULL, $calculator, $calculator_parameters, $energy, $free_energy, $forces, $stress, $dipole, $magmoms, $magmom, $charges, $kvp, $data, $natoms, $fmax, $smax, $volume, $mass, $charge)";
        object Db(object? v) => v ?? DBNull.Value;
        var p = cmd.Parameters;
        p.AddWithValue("$id", id);
        p.AddWithValue("$uid", s.Info.TryGetValue("unique_id", out var u) && u is string us ? us : Guid.NewGuid().ToString("N"));
        p.AddWithValue("$ctime", s.Info.TryGetValue("ctime", out var ct) && ct is double ctd ? ctd : now);
        p.AddWithValue("$mtime", now);
        p.AddWithValue("$user", s.Info.TryGetValue("user", out var us2) && us2 is string user ? user : Environment.UserName);
        p.AddWithValue("$numbers", Int32Blob(Array.ConvertAll(s.AtomicNumbers, z => (double)z)));
        var pos = new double[3 * n];
        for (int i = 0; i < n; i++) { pos[3 * i] = s.Positions[i].X; pos[3 * i + 1] = s.Positions[i].Y; pos[3 * i + 2] = s.Positions[i].Z; }
        p.AddWithValue("$positions", Float64Blob(pos));
        p.AddWithValue("$cell", Float64Blob(s.Cell.ToArray()));
        p.AddWithValue("$pbc", (s.Pbc.A ? 1 : 0) | (s.Pbc.B ? 2 : 0) | (s.Pbc.C ? 4 : 0));
        foreach (string name in ArrayColumns) p.AddWithValue("$" + name, Db(columns.GetValueOrDefault(name)));
        bool hasCalc = s.Energy is not null || s.Forces is not null || s.Stress is not null;
        p.AddWithValue("$calculator", Db(hasCalc ? (s.Info.TryGetValue("calculator", out var cn) && cn is string cns ? cns : "unknown") : null));
        p.AddWithValue("$calculator_parameters", Db(hasCalc ? "{}" : null));
        p.AddWithValue("$energy", Db(s.Energy));
        p.AddWithValue("$free_energy", Db(s.Info.TryGetValue("free_energy", out var fe) && fe is double fed ? fed : null));
        double? fmax = null, smax = null;
        if (s.Forces is { } f)
        {
            var fv = new double[3 * n];
            double m = 0;
            for (int i = 0; i < n; i++) { fv[3 * i] = f[i].X; fv[3 * i + 1] = f[i].Y; fv[3 * i + 2] = f[i].Z; m = Math.Max(m, Math.Sqrt(f[i].X * f[i].X + f[i].Y * f[i].Y + f[i].Z * f[i].Z)); }
            p.AddWithValue("$forces", Float64Blob(fv));
            fmax = m;
        }
        else p.AddWithValue("$forces", DBNull.Value);
        if (s.Stress is { } st)
        {
            var voigt = st.ToVoigt();
            for (int k = 0; k < 6; k++) voigt[k] /= Stress.EvPerCubicAngstromInGpa;
            p.AddWithValue("$stress", Float64Blob(voigt));
            smax = voigt.Max(Math.Abs);
        }
        else p.AddWithValue("$stress", DBNull.Value);
        p.AddWithValue("$dipole", Db(s.Info.TryGetValue("dipole", out var dp) && dp is double[] { Length: 3 } dpa ? Float64Blob(dpa) : null));
        p.AddWithValue("$magmom", Db(s.Info.TryGetValue("magmom", out var mm) && mm is double mmd ? mmd : null));
        p.AddWithValue("$kvp", KeyValueJson(kvp));
        var infoArrays = s.Info.Where(kv => kv.Value is double[] && kv.Key is not ("dipole" or "id")).Select(kv => (kv.Key, (double[])kv.Value)).ToList();
        p.AddWithValue("$data", dataArrays.Count == 0 && infoArrays.Count == 0 ? "null" : DataBlob(dataArrays, infoArrays));
        p.AddWithValue("$natoms", n);
        p.AddWithValue("$fmax", Db(fmax));
        p.AddWithValue("$smax", Db(smax));
        p.AddWithValue("$volume", Db(s.HasCell ? s.Volume : null));
        double mass = 0;
        foreach (int z in s.AtomicNumbers) mass += Elements.Mass(z);
        p.AddWithValue("$mass", mass);
        p.AddWithValue("$charge", s.AtomArrays.TryGetValue("initial_charges", out var q) ? q.Values.Sum() : 0.0);
        cmd.ExecuteNonQuery();

        foreach (var g in s.AtomicNumbers.GroupBy(z => z))
            Execute(c, t, FormattableString.Invariant($"INSERT INTO species VALUES ({g.Key}, {g.Count()}, {id})"));
        foreach (var (key, value) in kvp)
        {
            using var k = c.CreateCommand();
            k.Transaction = t;
            bool text = value is string;
            k.CommandText = text ? "INSERT INTO text_key_values VALUES ($k, $v, $id)" : "INSERT INTO number_key_values VALUES ($k, $v, $id)";
            k.Parameters.AddWithValue("$k", key);
            k.Parameters.AddWithValue("$v", value switch { bool b => b ? 1.0 : 0.0, long l => (double)l, _ => value });
            k.Parameters.AddWithValue("$id", id);
            k.ExecuteNonQuery();
            k.CommandText = "INSERT INTO keys VALUES ($k, $id)";
            k.ExecuteNonQuery();
        }
    }

    /// <summary>config_type, weight, and the scalar Info entries whose names ASE accepts as keys.</summary>
    private static List<KeyValuePair<string, object>> KeyValuePairs(Structure s)
    {
        var kvp = new List<KeyValuePair<string, object>>();
        if (s.Group is not null) kvp.Add(new("config_type", s.Group));
        if (s.Weight != 1.0) kvp.Add(new("weight", s.Weight));
        foreach (var (key, value) in s.Info)
        {
            if (key is "config_type" or "group" or "weight" || !IsValidKey(key)) continue;
            if (value is string or double or long or bool) kvp.Add(new(key, value));
        }
        return kvp;
    }

    /// <summary>ASE's check(): a Python identifier, not reserved, not a chemical formula.</summary>
    private static bool IsValidKey(string key)
    {
        if (!Word.IsMatch(key) || ReservedKeys.Contains(key)) return false;
        // "Si", "SiO2", "H2O" are formulas, which ASE refuses as keys
        var parts = FormulaPart.Matches(key);
        int covered = 0;
        foreach (Match m in parts)
        {
            if (!Elements.TryNumber(m.Groups[1].Value, out _)) return true;
            covered += m.Length;
        }
        return covered != key.Length;
    }

    private static string KeyValueJson(List<KeyValuePair<string, object>> kvp)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            foreach (var (k, v) in kvp)
            {
                switch (v)
                {
                    case string s: w.WriteString(k, s); break;
                    case bool b: w.WriteBoolean(k, b); break;
                    case long l: w.WriteNumber(k, l); break;
                    case double d: w.WriteNumber(k, d); break;
                }
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static byte[] Float64Blob(IReadOnlyList<double> v)
    {
        var b = new byte[8 * v.Count];
        for (int i = 0; i < v.Count; i++) BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(8 * i), v[i]);
        return b;
    }

    private static byte[] Int32Blob(IReadOnlyList<double> v)
    {
        var b = new byte[4 * v.Count];
        for (int i = 0; i < v.Count; i++) BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(4 * i), checked((int)v[i]));
        return b;
    }

    /// <summary>
    /// ASE's object_to_bytes of {name: ndarray, ..., "info": {key: ndarray}}: int64 offset of the JSON, the
    /// array bytes, the JSON. Array-valued Info entries go under "info" so that they cannot be taken for
    /// per-atom arrays.
    /// </summary>
    private static byte[] DataBlob(List<(string Name, AtomArray Array)> arrays, List<(string Key, double[] Values)> info)
    {
        using var ms = new MemoryStream();
        ms.Write(new byte[8]);
        var json = new StringBuilder("{");
        for (int a = 0; a < arrays.Count; a++)
        {
            var (name, arr) = arrays[a];
            long offset = ms.Position;
            var bytes = new byte[8 * arr.Values.Length];
            for (int i = 0; i < arr.Values.Length; i++)
            {
                if (arr.IsInteger) BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8 * i), (long)arr.Values[i]);
                else BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(8 * i), arr.Values[i]);
            }
            ms.Write(bytes);
            string shape = arr.Components == 1
                ? string.Create(CultureInfo.InvariantCulture, $"[{arr.Atoms}]")
                : string.Create(CultureInfo.InvariantCulture, $"[{arr.Atoms},{arr.Components}]");
            if (a > 0) json.Append(',');
            json.Append(JsonSerializer.Serialize(name)).Append(":{\"__ndarray__\":[").Append(shape).Append(",\"")
                .Append(arr.IsInteger ? "int64" : "float64").Append("\",").Append(offset.ToString(CultureInfo.InvariantCulture)).Append("]}");
        }
        if (info.Count > 0)
        {
            if (arrays.Count > 0) json.Append(',');
            json.Append("\"info\":{");
            for (int a = 0; a < info.Count; a++)
            {
                var (key, values) = info[a];
                long offset = ms.Position;
                var bytes = new byte[8 * values.Length];
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(8 * i), values[i]);
                ms.Write(bytes);
                if (a > 0) json.Append(',');
                json.Append(JsonSerializer.Serialize(key)).Append(":{\"__ndarray__\":[[")
                    .Append(values.Length.ToString(CultureInfo.InvariantCulture)).Append("],\"float64\",").Append(offset.ToString(CultureInfo.InvariantCulture)).Append("]}");
            }
            json.Append('}');
        }
        json.Append('}');
        long jsonOffset = ms.Position;
        ms.Write(Encoding.UTF8.GetBytes(json.ToString()));
        var result = ms.ToArray();
        BinaryPrimitives.WriteInt64LittleEndian(result, jsonOffset);
        return result;
    }
}
