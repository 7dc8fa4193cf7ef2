using System.Text.Json.Nodes;
using Mlip.Data;
using Mlip.IO;
using Mlip.Neighbors;
using Mlip.Validation;

namespace Mlip.Tests.Fuzz;

/// <summary>One structure reader to fuzz: the seed inputs and the file name the mutants are written under.</summary>
public sealed record StructureFuzzTarget(string Format, string FileName, bool Json, IReadOnlyList<string>? Texts, IReadOnlyList<byte[]>? Blobs)
{
    /// <summary>Mutate the rows of an SQLite database through SQL rather than its bytes.</summary>
    public bool SqlMutations { get; init; }

    /// <summary>Mutant <paramref name="id"/> as bytes (any target).</summary>
    public byte[] MutantBytes(int seed, int id) =>
        Blobs is { } b
            ? SqlMutations ? StructureFuzzTargets.SqlMutant(b[id % b.Count], seed, id) : Mutator.Mutant(b[id % b.Count], seed, id)
            : System.Text.Encoding.UTF8.GetBytes(Mutator.Mutant(Texts![id % Texts.Count], seed, id, Json));

    /// <summary>Mutant <paramref name="id"/> cycles through the seed inputs.</summary>
    public FuzzReport Run(int count, int seed, TimeSpan hangGuard)
    {
        if (Blobs is not null)
            return FuzzRunner.Run(Format, FileName,
                Enumerable.Range(0, count).Select(id => (id, MutantBytes(seed, id))),
                StructureFuzzTargets.ReadAndUse, hangGuard, seed);
        var texts = Texts!;
        return FuzzRunner.Run(Format, FileName,
            Enumerable.Range(0, count).Select(id => (id, Mutator.Mutant(texts[id % texts.Count], seed, id, Json))),
            StructureFuzzTargets.ReadAndUse, hangGuard, seed);
    }
}

/// <summary>
/// The structure readers under fuzz (extxyz, POSCAR, OUTCAR, ASE json, ASE db, pymatgen/mlearn json) with
/// small real inputs, and what a user's command does with a file: read and validate it (as every verb
/// does), build a neighbour list at 3 Å, summarise it as <c>mlip info</c> does, and write it back as
/// extxyz as <c>mlip convert</c> does. A result with a non-finite number counts as a bug.
/// </summary>
public static class StructureFuzzTargets
{
    /// <param name="dataDir">tests/Mlip.Tests/Data (the fixtures).</param>
    /// <param name="mlearnJson">a pymatgen/mlearn json file (e.g. ../shared/data/mlearn/Si/test.json); the first two structures are used.</param>
    public static IReadOnlyList<StructureFuzzTarget> All(string dataDir, string mlearnJson)
    {
        string D(string name) => File.ReadAllText(Path.Combine(dataDir, name));
        return
        [
            new("extxyz", "frames.extxyz", false, [D("ase_frames.extxyz")], null),
            new("poscar", "POSCAR", false, [D("POSCAR_vasp4_GaAs"), D("POSCAR_cartesian_selective"), D("ase_written_direct.vasp")], null),
            new("outcar", "OUTCAR", false, [D("OUTCAR_GaAs_relax")], null),
            new("ase-json", "fixtures.json", true, [D("ase_fixtures.json")], null),
            new("ase-db", "fixtures.db", false, null, [File.ReadAllBytes(Path.Combine(dataDir, "ase_fixtures.db"))]),
            new("mlearn", "mlearn.json", true, [MlearnSlice(mlearnJson, 2)], null),
            new("ase-db-sql", "fixtures.db", false, null, [File.ReadAllBytes(Path.Combine(dataDir, "ase_fixtures.db"))]) { SqlMutations = true },
        ];
    }

    private static readonly string[] SqlValues =
    [
        "NULL", "'abc'", "''", "1e308", "-1e308", "-1", "0", "2147483647", "9223372036854775807", "1.5", "X''", "X'00'",
        "X'FFFFFFFFFFFFFFFF'", "X'000000000000F87F'", "X'000000000000F07F'", "'{}'", "'[]'", "'{\"a\": [1, 2]}'", "'null'",
    ];

    /// <summary>
    /// A valid SQLite database whose <c>systems</c> table was edited: one to three cells (a random row
    /// and column) set to a wrong-typed or extreme value, a byte-mutated copy of their blob, or a
    /// mutated copy of their JSON text. Exercises the ASE row decoding past SQLite's own checks.
    /// </summary>
    public static byte[] SqlMutant(byte[] db, int seed, int id)
    {
        var rng = Mutator.CaseRandom(seed, id);
        string dir = Path.Combine(Path.GetTempPath(), "mlip-fuzz", $"sql-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "m.db");
        try
        {
            File.WriteAllBytes(path, db);
            using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False"))
            {
                c.Open();
                var columns = new List<string>();
                using (var cmd = c.CreateCommand())
                {
                    cmd.CommandText = "PRAGMA table_info(systems)";
                    using var r = cmd.ExecuteReader();
                    while (r.Read()) columns.Add(r.GetString(1));
                }
                var ids = new List<long>();
                using (var cmd = c.CreateCommand())
                {
                    cmd.CommandText = "SELECT id FROM systems";
                    using var r = cmd.ExecuteReader();
                    while (r.Read()) ids.Add(r.GetInt64(0));
                }
                int edits = 1 + rng.Next(3);
                for (int k = 0; k < edits && ids.Count > 0; k++)
                {
                    string col = columns[1 + rng.Next(columns.Count - 1)]; // not the id
                    long row = ids[rng.Next(ids.Count)];
                    object? current;
                    using (var cmd = c.CreateCommand())
                    {
                        cmd.CommandText = $"SELECT \"{col}\" FROM systems WHERE id = {row}";
                        current = cmd.ExecuteScalar();
                    }
                    using var upd = c.CreateCommand();
                    int kind = rng.Next(3);
                    if (kind == 0 && current is byte[] blob)
                    {
                        upd.CommandText = $"UPDATE systems SET \"{col}\" = $v WHERE id = {row}";
                        upd.Parameters.AddWithValue("$v", Mutator.Mutant(blob, seed, id * 7 + k));
                    }
                    else if (kind == 1 && current is string text)
                    {
                        upd.CommandText = $"UPDATE systems SET \"{col}\" = $v WHERE id = {row}";
                        upd.Parameters.AddWithValue("$v", Mutator.Mutant(text, seed, id * 7 + k, json: true));
                    }
                    else upd.CommandText = $"UPDATE systems SET \"{col}\" = {SqlValues[rng.Next(SqlValues.Length)]} WHERE id = {row}";
                    try { upd.ExecuteNonQuery(); }
                    catch (Microsoft.Data.Sqlite.SqliteException) { } // e.g. a UNIQUE constraint: keep the database as it is
                }
            }
            return File.ReadAllBytes(path);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>The first <paramref name="count"/> entries of a pymatgen/mlearn json list.</summary>
    public static string MlearnSlice(string path, int count)
    {
        var all = JsonNode.Parse(File.ReadAllText(path))!.AsArray();
        var slice = new JsonArray();
        for (int i = 0; i < Math.Min(count, all.Count); i++) slice.Add(all[i]!.DeepClone());
        return slice.ToJsonString();
    }

    /// <summary>Read, validate, neighbour list at 3 Å, summary, extxyz text: what <c>mlip info</c> / <c>convert</c> do.</summary>
    public static void ReadAndUse(string path)
    {
        var structures = StructureIO.Read(path, null, ValidationOptions.Default);
        foreach (var s in structures)
        {
            var nl = NeighborList.Build(s, 3.0);
            foreach (double d in nl.Distances)
                if (!double.IsFinite(d)) throw new InvalidOperationException($"non-finite neighbour distance {d}");
        }
        var summary = DatasetSummary.Of(structures);
        CheckFinite(summary.EnergyPerAtom, "energy per atom");
        CheckFinite(summary.ForceNorm, "force norm");
        CheckFinite(summary.VolumePerAtom, "volume per atom");
        CheckFinite(summary.Pressure, "pressure");
        if (summary.ForceComponentRms is double rms && !double.IsFinite(rms)) throw new InvalidOperationException($"non-finite force RMS {rms}");
        if (structures.Count > 0) StructureFormats.ExtXyz.WriteString(structures);
    }

    private static void CheckFinite(ValueRange? r, string what)
    {
        if (r is null) return;
        if (!double.IsFinite(r.Min) || !double.IsFinite(r.Max) || !double.IsFinite(r.Mean))
            throw new InvalidOperationException($"non-finite {what} in the summary: {r}");
    }
}
