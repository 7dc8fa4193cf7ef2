using System.Text.Json;
using Microsoft.Data.Sqlite;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Tests.IO;

/// <summary>
/// ASE databases (JSON and SQLite) against what ASE itself reads from the same files. The fixtures
/// and the expected values come from Data/make_ase_fixtures.py (Debian's ASE 3.22).
/// </summary>
public sealed class AseDatabaseTests
{
    private const double Tol = 1e-12;

    public static TheoryData<string> Fixtures => new() { "ase_fixtures.json", "ase_fixtures.db" };

    private static readonly Lazy<JsonDocument> Expected =
        new(() => JsonDocument.Parse(File.ReadAllText(TestPaths.Data("ase_fixtures_expected.json"))));

    private static JsonElement[] ExpectedRows() => [.. Expected.Value.RootElement.GetProperty("rows").EnumerateArray()];

    private static IReadOnlyList<Structure> ReadFixture(string name)
    {
        string path = TestPaths.Data(name);
        return StructureFormats.ForReading(path).Read(path);
    }

    private static string WriteTemp(string name, string content)
    {
        string path = Path.Combine(TestPaths.TempDir(), name);
        File.WriteAllText(path, content);
        return path;
    }

    private static double[] Doubles(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetDouble())];

    private static void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} values, expected {expected.Length}");
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= Tol, $"{what}[{i}]: {actual[i]:R}, expected {expected[i]:R}");
    }

    private static double[] Flat(Vec3[] v) => [.. v.SelectMany(x => new[] { x.X, x.Y, x.Z })];

    // ----- the fixtures, field by field -----

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Fixture_MatchesAse(string name)
    {
        var structures = ReadFixture(name);
        var rows = ExpectedRows();
        Assert.Equal(rows.Length, structures.Count);

        for (int i = 0; i < rows.Length; i++)
        {
            var e = rows[i];
            var s = structures[i];
            string at = $"{name} structure {i}";

            Assert.Equal(new InputLocation(TestPaths.Data(name), null, i), s.Source);
            Assert.Equal(e.GetProperty("id").GetInt64(), Assert.IsType<long>(s.Info["id"]));

            Assert.Equal(e.GetProperty("numbers").EnumerateArray().Select(x => x.GetInt32()), s.AtomicNumbers);
            AssertClose(Doubles(e.GetProperty("positions")), Flat(s.Positions), $"{at} positions");
            AssertClose(Doubles(e.GetProperty("cell")), s.Cell.ToArray(), $"{at} cell");
            var pbc = e.GetProperty("pbc").EnumerateArray().Select(x => x.GetBoolean()).ToArray();
            Assert.Equal(new PeriodicFlags(pbc[0], pbc[1], pbc[2]), s.Pbc);

            if (e.GetProperty("energy").ValueKind == JsonValueKind.Null) Assert.Null(s.Energy);
            else AssertClose([e.GetProperty("energy").GetDouble()], [s.Energy!.Value], $"{at} energy");

            if (e.GetProperty("forces").ValueKind == JsonValueKind.Null) Assert.Null(s.Forces);
            else AssertClose(Doubles(e.GetProperty("forces")), Flat(s.Forces!), $"{at} forces");

            if (e.GetProperty("stress_gpa").ValueKind == JsonValueKind.Null) Assert.Null(s.Stress);
            else AssertClose(Doubles(e.GetProperty("stress_gpa")), s.Stress!.Value.ToVoigt(), $"{at} stress (GPa)");

            Assert.Equal(e.GetProperty("group").ValueKind == JsonValueKind.Null ? null : e.GetProperty("group").GetString(), s.Group);
            Assert.Equal(e.GetProperty("weight").GetDouble(), s.Weight);

            // Info: row metadata, calculator scalars, key_value_pairs and the id, and nothing else.
            var expectedInfoKeys = new HashSet<string> { "id" };
            foreach (var p in e.GetProperty("info").EnumerateObject())
            {
                expectedInfoKeys.Add(p.Name);
                object actual = s.Info[p.Name];
                switch (p.Value.ValueKind)
                {
                    case JsonValueKind.String: Assert.Equal(p.Value.GetString(), actual); break;
                    case JsonValueKind.Number: AssertClose([p.Value.GetDouble()], [Assert.IsType<double>(actual)], $"{at} info {p.Name}"); break;
                    case JsonValueKind.Array: AssertClose(Doubles(p.Value), Assert.IsType<double[]>(actual), $"{at} info {p.Name}"); break;
                    default: throw new InvalidOperationException($"unexpected expected-value kind {p.Value.ValueKind}");
                }
            }
            foreach (var p in e.GetProperty("key_value_pairs").EnumerateObject())
            {
                expectedInfoKeys.Add(p.Name);
                object actual = s.Info[p.Name];
                switch (p.Value.ValueKind)
                {
                    case JsonValueKind.String: Assert.Equal(p.Value.GetString(), actual); break;
                    case JsonValueKind.True or JsonValueKind.False: Assert.Equal(p.Value.GetBoolean(), actual); break;
                    case JsonValueKind.Number when p.Value.TryGetInt64(out long l): Assert.Equal(l, actual); break;
                    case JsonValueKind.Number: Assert.Equal(p.Value.GetDouble(), actual); break;
                    default: throw new InvalidOperationException($"unexpected key-value kind {p.Value.ValueKind}");
                }
            }
            Assert.Equal(expectedInfoKeys.Order(StringComparer.Ordinal), s.Info.Keys.Order(StringComparer.Ordinal));

            // Per-atom arrays (ASE's own and numeric per-atom data), and nothing else.
            var arrays = e.GetProperty("arrays");
            Assert.Equal(arrays.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal),
                s.AtomArrays.Keys.Order(StringComparer.Ordinal));
            foreach (var p in arrays.EnumerateObject())
            {
                var a = s.AtomArrays[p.Name];
                Assert.Equal(s.Count, a.Atoms);
                Assert.Equal(p.Value.GetProperty("components").GetInt32(), a.Components);
                Assert.Equal(p.Value.GetProperty("integer").GetBoolean(), a.IsInteger);
                AssertClose(Doubles(p.Value.GetProperty("values")), a.Values, $"{at} array {p.Name}");
            }
        }
    }

    [Fact]
    public void Fixtures_CoverTheCases()
    {
        // Guards against a regenerated fixture silently dropping what the tests above rely on.
        var s = ReadFixture("ase_fixtures.json");
        Assert.Equal(4, s.Count);
        Assert.True(s[0].Stress.HasValue && s[0].Forces is not null && s[0].AtomArrays.ContainsKey("ref_energies"));
        Assert.True(s[0].AtomArrays["tags"].IsInteger);
        Assert.Equal(3, s[0].AtomArrays["bec"].Components);
        Assert.False(s[0].AtomArrays.ContainsKey("matrix"));
        Assert.Equal(2.5, s[0].Weight);
        Assert.Equal("rocksalt", s[1].Group);
        Assert.Equal(3, s[1].AtomArrays["momenta"].Components);
        Assert.Equal(PeriodicFlags.None, s[2].Pbc);
        Assert.Equal(Matrix3.Zero, s[2].Cell);
        Assert.Equal("molecule", s[2].Group);
        Assert.Equal(new PeriodicFlags(true, true, false), s[3].Pbc);
        Assert.Null(s[3].Forces);
    }

    [Fact]
    public void StressIsConvertedFromEvPerCubicAngstrom()
    {
        // First fixture row: ASE stress (eV/Å³) [0.0123, -0.0045, 0.0067, 0.00111, -0.00222, 0.00333].
        foreach (string name in new[] { "ase_fixtures.json", "ase_fixtures.db" })
        {
            var stress = ReadFixture(name)[0].Stress!.Value;
            Assert.Equal(0.0123 * Stress.EvPerCubicAngstromInGpa, stress.Xx, 12);
            Assert.Equal(0.00111 * Stress.EvPerCubicAngstromInGpa, stress.Yz, 12);
            Assert.Equal(0.00333 * Stress.EvPerCubicAngstromInGpa, stress.Xy, 12);
        }
    }

    // ----- format choice -----

    [Fact]
    public void ForReading_PicksTheAseFormats()
    {
        Assert.IsType<AseJsonFormat>(StructureFormats.ForReading(TestPaths.Data("ase_fixtures.json")));
        Assert.IsType<AseDbFormat>(StructureFormats.ForReading(TestPaths.Data("ase_fixtures.db")));
        Assert.Same(StructureFormats.AseJson, StructureFormats.ByName("ase-json"));
        Assert.Same(StructureFormats.AseDb, StructureFormats.ByName("ase-db"));
        Assert.False(StructureFormats.AseJson.CanWrite);
        Assert.True(StructureFormats.AseDb.CanWrite); // AseDbWriter (PerAtomArrayRoundTripTests)
        Assert.True(StructureFormats.AseDb.MatchesFileName("train.DB"));
    }

    [Fact]
    public void ForReading_RecognisesAnEmptiedDatabaseWithMetadata()
    {
        // What ASE 3.22 writes after setting metadata and deleting every row.
        string path = WriteTemp("empty.json", "{\"metadata\": {\"title\": \"x\"},\n\"ids\": [],\n\"nextid\": 2}\n");
        var format = StructureFormats.ForReading(path);
        Assert.IsType<AseJsonFormat>(format);
        Assert.Empty(format.Read(path));
    }

    // ----- JSON variants -----

    [Fact]
    public void Json_OlderAseWithPlainListsAndNoIds()
    {
        const string json = """
            {"2": {"numbers": [1], "positions": [[0.5, 0.25, 0.125]]},
             "1": {"numbers": [14, 14],
                   "positions": [[0, 0, 0], [1.3575, 1.3575, 1.3575]],
                   "cell": [[0, 2.715, 2.715], [2.715, 0, 2.715], [2.715, 2.715, 0]],
                   "pbc": [true, true, true],
                   "energy": -10.5,
                   "forces": [[0.1, 0, 0], [-0.1, 0, 0]],
                   "stress": [0.001, 0.002, 0.003, 0.004, 0.005, 0.006],
                   "tags": [3, 4],
                   "key_value_pairs": {"group": "old", "n": 3}}}
            """;
        var s = StructureFormats.AseJson.ReadString(json, "old.json");
        Assert.Equal(2, s.Count);
        Assert.Equal(1L, s[0].Info["id"]); // numeric key order without "ids"
        Assert.Equal([14, 14], s[0].AtomicNumbers);
        Assert.Equal(new Vec3(1.3575, 1.3575, 1.3575), s[0].Positions[1]);
        Assert.Equal(new Matrix3(0, 2.715, 2.715, 2.715, 0, 2.715, 2.715, 2.715, 0), s[0].Cell);
        Assert.Equal(PeriodicFlags.All, s[0].Pbc);
        Assert.Equal(-10.5, s[0].Energy);
        Assert.Equal(new Vec3(-0.1, 0, 0), s[0].Forces![1]);
        AssertClose([.. new[] { 1.0, 2, 3, 4, 5, 6 }.Select(x => x * 0.001 * Stress.EvPerCubicAngstromInGpa)], s[0].Stress!.Value.ToVoigt(), "stress");
        Assert.True(s[0].AtomArrays["tags"].IsInteger);
        Assert.Equal([3.0, 4.0], s[0].AtomArrays["tags"].Values);
        Assert.Equal("old", s[0].Group);
        Assert.Equal(3L, s[0].Info["n"]);
        Assert.Equal(new InputLocation("old.json", null, 0), s[0].Source);

        Assert.Equal(2L, s[1].Info["id"]);
        Assert.Equal(PeriodicFlags.None, s[1].Pbc);
        Assert.Equal(Matrix3.Zero, s[1].Cell);
        Assert.Null(s[1].Energy);
        Assert.Equal(new InputLocation("old.json", null, 1), s[1].Source);
    }

    [Fact]
    public void Json_CellObjectWithPbcInside()
    {
        const string json = """
            {"1": {"numbers": {"__ndarray__": [[1], "int64", [6]]},
                   "positions": {"__ndarray__": [[1, 3], "float64", [0.0, 0.0, 0.0]]},
                   "cell": {"array": [[3, 0, 0], [0, 4, 0], [0, 0, 5]], "pbc": [true, false, true], "__ase_objtype__": "cell"}},
             "ids": [1], "nextid": 2}
            """;
        var s = Assert.Single(StructureFormats.AseJson.ReadString(json));
        Assert.Equal(Matrix3.Diagonal(3, 4, 5), s.Cell);
        Assert.Equal(new PeriodicFlags(true, false, true), s.Pbc);
    }

    [Fact]
    public void Json_RowsFollowIds()
    {
        const string json = """
            {"1": {"numbers": [1], "positions": [[0, 0, 0]]},
             "3": {"numbers": [2], "positions": [[0, 0, 0]]},
             "10": {"numbers": [3], "positions": [[0, 0, 0]]},
             "ids": [10, 3, 1], "nextid": 11}
            """;
        var s = StructureFormats.AseJson.ReadString(json);
        Assert.Equal([3, 2, 1], s.Select(x => x.AtomicNumbers[0]));
        Assert.Equal([10L, 3L, 1L], s.Select(x => (long)x.Info["id"]));
        Assert.Equal([0, 1, 2], s.Select(x => x.Source!.StructureIndex!.Value));
    }

    [Fact]
    public void Json_IdsNamingAMissingRowIsAnError()
    {
        const string json = """{"1": {"numbers": [1], "positions": [[0, 0, 0]]}, "ids": [1, 2], "nextid": 3}""";
        var ex = Assert.Throws<FileFormatException>(() => StructureFormats.AseJson.ReadString(json, "ids.json"));
        Assert.Contains("row 2", ex.Message);
        Assert.Equal("ids.json", ex.File);
    }

    // ----- errors -----

    [Fact]
    public void Json_InvalidJsonNamesTheLine()
    {
        var lines = File.ReadAllLines(TestPaths.Data("ase_fixtures.json"));
        lines[4] = "garbage"; // line 5
        string path = WriteTemp("broken.json", string.Join('\n', lines) + "\n");
        var ex = Assert.Throws<FileFormatException>(() => StructureFormats.ForReading(path).Read(path));
        Assert.Equal(path, ex.File);
        Assert.Equal(5, ex.Line);
        Assert.Contains($"{path}:5", ex.Message);
        Assert.DoesNotContain("LineNumber", ex.Message);
    }

    [Fact]
    public void Json_TruncatedFileNamesTheLastLine()
    {
        string text = File.ReadAllText(TestPaths.Data("ase_fixtures.json"));
        string cut = text[..(text.Length / 2)];
        int lastLine = cut.Count(c => c == '\n') + 1;
        string path = WriteTemp("truncated.json", cut);
        var ex = Assert.Throws<FileFormatException>(() => StructureFormats.AseJson.Read(path));
        Assert.Equal(path, ex.File);
        Assert.Equal(lastLine, ex.Line);
        Assert.Contains("invalid JSON", ex.Message);
    }

    [Fact]
    public void Json_NotAnObject()
    {
        var ex = Assert.Throws<FileFormatException>(() => StructureFormats.AseJson.ReadString("[1, 2]", "list.json"));
        Assert.Contains("not an ASE JSON database", ex.Message);
    }

    [Theory]
    [InlineData("positions", """{"1": {"numbers": [1]}, "ids": [1], "nextid": 2}""")]
    [InlineData("numbers", """{"1": {"positions": [[0, 0, 0]]}, "ids": [1], "nextid": 2}""")]
    public void Json_MissingFieldNamesTheStructure(string field, string json)
    {
        var ex = Assert.Throws<FileFormatException>(() => StructureFormats.AseJson.ReadString(json, "missing.json"));
        Assert.Contains($"'{field}'", ex.Message);
        Assert.Equal(0, ex.StructureIndex);
        Assert.Contains("missing.json, structure 0", ex.Message);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("119")]
    [InlineData("1.5")]
    public void Json_UnknownAtomicNumber(string z)
    {
        string json = $$$"""{"1": {"numbers": [1, {{{z}}}], "positions": [[0, 0, 0], [1, 0, 0]]}}""";
        var ex = Assert.Throws<UnknownElementException>(() => StructureFormats.AseJson.ReadString(json, "z.json"));
        Assert.Equal(0, ex.StructureIndex);
        Assert.Equal(1, ex.Location.Atom);
    }

    [Fact]
    public void Json_ForcesOfTheWrongLength()
    {
        const string json = """{"1": {"numbers": [1, 1], "positions": [[0, 0, 0], [1, 0, 0]], "forces": [[0, 0, 0]]}}""";
        var ex = Assert.Throws<LabelShapeException>(() => StructureFormats.AseJson.ReadString(json));
        Assert.Equal("forces", ex.Label);
        Assert.Equal(2, ex.Expected);
        Assert.Equal(1, ex.Actual);
    }

    [Fact]
    public void Json_PythonNaNIsExplained()
    {
        const string json = "{\"1\": {\"numbers\": [1],\n \"positions\": [[0, 0, 0]],\n \"energy\": NaN}}";
        var ex = Assert.Throws<FileFormatException>(() => StructureFormats.AseJson.ReadString(json, "nan.json"));
        Assert.Equal(3, ex.Line);
        Assert.Contains("NaN", ex.Message);
    }

    [Fact]
    public void Db_DataAsJsonTextOfOlderSchemas()
    {
        // Before schema version 9 ASE stored data as JSON text; schema 9 (ASE 3.22) uses a binary blob.
        string path = Path.Combine(TestPaths.TempDir(), "textdata.db");
        File.Copy(TestPaths.Data("ase_fixtures.db"), path);
        using (var con = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString()))
        {
            con.Open();
            using var cmd = con.CreateCommand();
            cmd.CommandText = """
                UPDATE systems SET data = '{"q": {"__ndarray__": [[4], "float64", [1.5, 2, 3, 4]]}, "s": "text"}' WHERE id = 1;
                UPDATE systems SET data = NULL, stress = NULL, key_value_pairs = '{}' WHERE id = 2;
                """;
            cmd.ExecuteNonQuery();
        }
        var s = StructureFormats.AseDb.Read(path);
        Assert.Equal([1.5, 2, 3, 4], s[0].AtomArrays["q"].Values);
        Assert.False(s[0].AtomArrays.ContainsKey("ref_energies"));
        Assert.Null(s[1].Stress);
        Assert.Null(s[1].Group);
        Assert.False(s[1].Info.ContainsKey("config_type"));
    }

    [Fact]
    public void Db_TextFileIsNotADatabase()
    {
        string path = WriteTemp("notes.db", "this is a text file, not an SQLite database\n");
        Assert.IsType<AseDbFormat>(StructureFormats.ForReading(path));
        var ex = Assert.Throws<MlipInputException>(() => StructureFormats.ForReading(path).Read(path));
        Assert.Equal(path, ex.File);
        Assert.Contains(path, ex.Message);
        Assert.Contains("not an ASE database", ex.Message);
    }

    [Fact]
    public void Db_SqliteWithoutSystemsTableIsNotAnAseDatabase()
    {
        string path = Path.Combine(TestPaths.TempDir(), "other.db");
        using (var con = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString()))
        {
            con.Open();
            using var cmd = con.CreateCommand();
            cmd.CommandText = "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO things VALUES (1, 'x');";
            cmd.ExecuteNonQuery();
        }
        var ex = Assert.Throws<MlipInputException>(() => StructureFormats.AseDb.Read(path));
        Assert.Equal(path, ex.File);
        Assert.Contains("'systems'", ex.Message);
    }

    [Fact]
    public void Db_MissingFile()
    {
        string path = Path.Combine(TestPaths.TempDir(), "absent.db");
        var ex = Assert.Throws<MlipInputException>(() => StructureFormats.AseDb.Read(path));
        Assert.Equal(path, ex.File);
        Assert.False(File.Exists(path)); // read-only: nothing was created
    }

    [Fact]
    public void Db_ReadingLeavesTheFileUnchanged()
    {
        string path = Path.Combine(TestPaths.TempDir(), "copy.db");
        File.Copy(TestPaths.Data("ase_fixtures.db"), path);
        byte[] before = File.ReadAllBytes(path);
        Assert.Equal(4, StructureFormats.AseDb.Read(path).Count);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal([Path.GetFileName(path)], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
    }
}
