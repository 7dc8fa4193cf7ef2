using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.Tests.Cli;
using Mlip.Tests.Support;

namespace Mlip.Tests.Distributed;

/// <summary>
/// <c>mpirun -n N mlip train</c> gives the model of one process: each rank fits its share of the structures, the
/// ranks' QR factors are merged (TSQR), rank 0 writes. Compared with the single-process run of the same config.
/// </summary>
public class DistributedTrainingTests
{
    private static readonly Lazy<string> Data = new(() =>
    {
        string dir = TestPaths.TempDir();
        string path = Path.Combine(dir, "sw.xyz");
        var (code, _, stderr) = CliTests.Run("generate", "--potential", "sw", "-o", path, "--seed", "3", "--quick");
        Assert.True(code == 0, stderr);
        return path;
    });

    /// <summary>A config; <paramref name="store"/>: "none" (in memory), a folder, or null (descriptor-store/ beside the output); chunks of ~40 atoms, so that every rank has several.</summary>
    private static string Config(string dir, string kind, string output, string descriptor, string? store = null) =>
        WriteConfig(dir, $$"""
            train: {{Data.Value}}
            descriptor: {{descriptor}}
            model: {kind: {{kind}}}
            loss: {energy: 1.0, force: 0.05, stress: 0.01}
            seed: 1
            threads: 1
            output: {{output}}
            store_chunk_atoms: 40
            {{(store is null ? "" : "store: " + store)}}
            """);

    private static string WriteConfig(string dir, string text)
    {
        string path = Path.Combine(dir, $"c{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, text);
        return path;
    }

    private const string So4 = "{type: so4, parameters: {twojmax: 4, rcutfac: 4.9, rfac0: 0.99363}}";

    /// <summary>With a store (the default) each rank factorises its share of the store's chunks and the factors are merged along a tree; with store: none each rank its rows in memory.</summary>
    [Theory]
    [InlineData("linear", 2, null)]
    [InlineData("quadratic", 2, null)]
    [InlineData("linear", 3, null)]
    [InlineData("quadratic", 4, null)] // two pairs of ranks that may hand rows over (0-1, 2-3), then the tree merge
    [InlineData("quadratic", 2, "none")]
    [InlineData("linear", 3, "none")]
    public void Mpirun_train_gives_the_single_process_model_to_1e10(string kind, int ranks, string? store)
    {
        string dir = TestPaths.TempDir();
        var one = CliTests.Run("train", Config(dir, kind, Path.Combine(dir, "one"), So4, store));
        Assert.True(one.code == 0, one.stderr);
        var many = Mpirun.Run(ranks, dir, "train", Config(dir, kind, Path.Combine(dir, "many"), So4, store is null ? Path.Combine(dir, "store-many") : store));
        Assert.True(many.ExitCode == 0, $"exit {many.ExitCode}\n{many.Stdout}\n{many.Stderr}");
        Assert.Contains($"mpi: {ranks} ranks", many.Stdout);
        Assert.Contains("TSQR", many.Stdout);
        if (store is null) Assert.Contains($"{ranks} ranks' TSQR factors merged along a tree", many.Stdout);
        AssertSameModel(Path.Combine(dir, "one", "model.json"), Path.Combine(dir, "many", "model.json"), 1e-10);
        // the error tables printed (rank 0, the evaluation split over the ranks and gathered) are the same
        Assert.Equal(Table(one.stdout), Table(many.Stdout));
        // the parity plots, drawn by rank 1 and written by rank 0, are PNG files
        foreach (var png in new[] { "parity_energy.png", "parity_forces.png" })
            Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, File.ReadAllBytes(Path.Combine(dir, "many", png))[..4]);
    }

    [Fact]
    public void Mpirun_train_of_a_linear_ace_gives_the_single_process_model()
    {
        string dir = TestPaths.TempDir();
        const string ace = "{type: ace, parameters: {rc: 5.0, radial: SBessel, order: 2, nmax: [4, 2], lmax: [0, 2]}}";
        var one = CliTests.Run("train", Config(dir, "ace", Path.Combine(dir, "one"), ace));
        Assert.True(one.code == 0, one.stderr);
        var many = Mpirun.Run(2, dir, "train", Config(dir, "ace", Path.Combine(dir, "many"), ace));
        Assert.True(many.ExitCode == 0, $"exit {many.ExitCode}\n{many.Stdout}\n{many.Stderr}");
        AssertSameModel(Path.Combine(dir, "one", "model.json"), Path.Combine(dir, "many", "model.json"), 1e-10);
    }

    /// <summary>
    /// <c>mpirun -n 2 mlip descriptors --store</c> writes the feature chunks one process writes (each rank its share), and a later
    /// <c>mpirun -n 2 mlip train</c> on that store, one chunk of which was lost as in a killed run, recomputes only that chunk
    /// and gives the single-process model; a third run (another ridge) reuses the merged factors rank 0 wrote.
    /// </summary>
    [Fact]
    public void The_store_splits_over_ranks_resumes_a_lost_chunk_and_is_reused()
    {
        string dir = TestPaths.TempDir();
        string storeOne = Path.Combine(dir, "store-one"), storeMany = Path.Combine(dir, "store-many");
        string[] args = ["descriptors", Data.Value, "--type", "so4", "--param", "twojmax=4", "rcutfac=4.9", "rfac0=0.99363", "--chunk-atoms", "40", "-j", "1"];
        var one = CliTests.Run([.. args, "--store", storeOne]);
        Assert.True(one.code == 0, one.stderr);
        var many = Mpirun.Run(2, dir, [.. args, "--store", storeMany]);
        Assert.True(many.ExitCode == 0, $"exit {many.ExitCode}\n{many.Stdout}\n{many.Stderr}");
        Assert.Contains("computed by 2 ranks", many.Stdout);
        var chunksOne = Directory.GetFiles(storeOne, "chunk-*.f64", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        var chunksMany = Directory.GetFiles(storeMany, "chunk-*.f64", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        Assert.True(chunksOne.Length >= 4, $"{chunksOne.Length} chunks");
        Assert.Equal(chunksOne.Select(Path.GetFileName), chunksMany.Select(Path.GetFileName));
        for (int c = 0; c < chunksOne.Length; c++) Assert.Equal(File.ReadAllBytes(chunksOne[c]), File.ReadAllBytes(chunksMany[c]));

        File.Delete(chunksMany[^1]); // as if the run had been killed before its last chunk was written
        var reference = CliTests.Run("train", Config(dir, "quadratic", Path.Combine(dir, "one"), So4, storeOne));
        Assert.True(reference.code == 0, reference.stderr);
        var train = Mpirun.Run(2, dir, "train", Config(dir, "quadratic", Path.Combine(dir, "many"), So4, storeMany));
        Assert.True(train.ExitCode == 0, $"exit {train.ExitCode}\n{train.Stdout}\n{train.Stderr}");
        Assert.Contains($"computing features ({chunksOne.Length - 1} of {chunksOne.Length} chunks on disk)", train.Stdout);
        Assert.Equal(File.ReadAllBytes(chunksOne[^1]), File.ReadAllBytes(chunksMany[^1]));
        AssertSameModel(Path.Combine(dir, "one", "model.json"), Path.Combine(dir, "many", "model.json"), 1e-10);
        // the factor file rank 1 wrote (its own merge of the two ranks' triangles) holds the factors rank 0 merged and solved:
        // a second run that reads it gives the first run's model bit for bit
        var same = Mpirun.Run(2, dir, "train", Config(dir, "quadratic", Path.Combine(dir, "same"), So4, storeMany));
        Assert.True(same.ExitCode == 0, $"exit {same.ExitCode}\n{same.Stdout}\n{same.Stderr}");
        Assert.Contains("descriptors not recomputed", same.Stdout);
        AssertSameModel(Path.Combine(dir, "many", "model.json"), Path.Combine(dir, "same", "model.json"), 0);

        string again = Config(dir, "quadratic", Path.Combine(dir, "again"), So4, storeMany).Replace("model: {kind: quadratic}", "model: {kind: quadratic, ridge: 1e-6}", StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(dir, "again.yaml"), File.ReadAllText(again));
        var reuse = Mpirun.Run(2, dir, "train", Path.Combine(dir, "again.yaml"));
        Assert.True(reuse.ExitCode == 0, $"exit {reuse.ExitCode}\n{reuse.Stdout}\n{reuse.Stderr}");
        Assert.Contains("descriptors not recomputed", reuse.Stdout);
    }

    [Fact]
    public void A_kind_that_does_not_split_over_ranks_is_refused_with_one_line()
    {
        string dir = TestPaths.TempDir();
        string config = WriteConfig(dir, $$"""
            train: {{Data.Value}}
            descriptor: {type: so4, parameters: {twojmax: 2} }
            model: {kind: gpr, sparse: 8}
            output: {{Path.Combine(dir, "gpr")}}
            """);
        var r = Mpirun.Run(2, dir, "train", config);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("does not split over MPI ranks", r.Stderr);
        Assert.False(File.Exists(Path.Combine(dir, "gpr", "model.json")));
    }

    /// <summary>Every number of the fitted model (normalisation and coefficients): max |a − b| ≤ tolerance · max |a|.</summary>
    private static void AssertSameModel(string a, string b, double tolerance)
    {
        var x = Numbers(JsonNode.Parse(File.ReadAllText(a))!["model"]!);
        var y = Numbers(JsonNode.Parse(File.ReadAllText(b))!["model"]!);
        Assert.Equal(x.Count, y.Count);
        Assert.True(x.Count > 10);
        double scale = x.Max(Math.Abs), diff = x.Zip(y, (p, q) => Math.Abs(p - q)).Max();
        Assert.True(diff <= tolerance * scale, string.Create(CultureInfo.InvariantCulture, $"max difference {diff:G3} relative {diff / scale:G3} > {tolerance:G3}"));
    }

    /// <summary>Every number of a JSON tree, objects walked in key order (the model comparisons of the distributed tests).</summary>
    internal static List<double> Numbers(JsonNode node)
    {
        var list = new List<double>();
        void Walk(JsonNode? n)
        {
            switch (n)
            {
                case JsonObject o: foreach (var kv in o.OrderBy(kv => kv.Key, StringComparer.Ordinal)) Walk(kv.Value); break;
                case JsonArray arr: foreach (var v in arr) Walk(v); break;
                case JsonValue v when v.TryGetValue<double>(out double d): list.Add(d); break;
            }
        }
        Walk(node);
        return list;
    }

    /// <summary>The rows of the printed error tables (from the first "training set:").</summary>
    internal static string Table(string stdout) => stdout[stdout.IndexOf("training set:", StringComparison.Ordinal)..stdout.IndexOf("wrote ", stdout.IndexOf("training set:", StringComparison.Ordinal), StringComparison.Ordinal)];
}
