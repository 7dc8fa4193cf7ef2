using System.Text.Json;
using Mlip.IO;

namespace Mlip.Tests.Cli;

public class CliTests
{
    internal static (int code, string stdout, string stderr) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Mlip.Cli.Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void InfoJsonOnTheMlearnTrainingSet()
    {
        var (code, stdout, stderr) = Run("info", TestPaths.Shared("mlearn", "Si", "training.json"), "--json");
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.Equal(214, r.GetProperty("structures").GetInt32());
        Assert.Equal(13233, r.GetProperty("atoms").GetInt32());
        var elements = r.GetProperty("elements").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        Assert.Equal(new Dictionary<string, int> { ["Si"] = 13233 }, elements);
        var groups = r.GetProperty("groups").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        Assert.Equal(new Dictionary<string, int> { ["AIMD-NVT"] = 90, ["Vacancy"] = 57, ["Elastic"] = 55, ["Surface"] = 12 }, groups);
        Assert.Equal(214, r.GetProperty("labels").GetProperty("forces").GetInt32());
    }

    [Fact]
    public void InfoTableMentionsGroupsAndRanges()
    {
        var (code, stdout, _) = Run("info", TestPaths.Shared("mlearn", "Si", "test.json"));
        Assert.Equal(0, code);
        Assert.Contains("structures:  25", stdout);
        Assert.Contains("atoms:       1525", stdout);
        Assert.Contains("energy/atom:", stdout);
        Assert.Contains("AIMD-NVT", stdout);
    }

    [Fact]
    public void UserErrorsGiveOneLineAndNonZeroExit()
    {
        string dir = TestPaths.TempDir();
        string bad = Path.Combine(dir, "bad.xyz");
        File.WriteAllText(bad, "2\n\nSi 0 0 0\nSi 0 0 x\n");
        foreach (var args in new[]
                 {
                     new[] { "info", bad },
                     new[] { "info", Path.Combine(dir, "missing.xyz") },
                     new[] { "info", bad, "--input-format", "nonsense" },
                     new[] { "convert", bad, Path.Combine(dir, "out.xyz") },
                     new[] { "build", "diamond", "Qq", "5.4", "-o", Path.Combine(dir, "q.xyz") },
                 })
        {
            var (code, stdout, stderr) = Run(args);
            Assert.NotEqual(0, code);
            Assert.Equal("", stdout);
            var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Single(lines);
            Assert.StartsWith("mlip: error: ", lines[0]);
            Assert.DoesNotContain(" at ", lines[0]); // no stack trace
        }
        var (_, _, err) = Run("info", bad);
        Assert.Contains("bad.xyz:4", err);
        Assert.False(File.Exists(Path.Combine(dir, "out.xyz")));
    }

    [Fact]
    public void ConvertBetweenFormats()
    {
        string dir = TestPaths.TempDir();
        string xyz = Path.Combine(dir, "test.xyz");
        var (code, stdout, _) = Run("convert", TestPaths.Shared("mlearn", "Si", "test.json"), xyz);
        Assert.Equal(0, code);
        Assert.Contains("wrote 25", stdout);
        Assert.Equal(25, StructureIO.Read(xyz).Count);

        string data = Path.Combine(dir, "first.data");
        Assert.Equal(0, Run("convert", xyz, data, "--index", "-1").code);
        Assert.Contains("atoms", File.ReadAllText(data));
        // a LAMMPS data file holds one structure: a clear error otherwise
        var (c2, _, e2) = Run("convert", xyz, Path.Combine(dir, "all.data"));
        Assert.NotEqual(0, c2);
        Assert.Contains("one structure", e2);
    }

    [Fact]
    public void BuildWritesACrystal()
    {
        string dir = TestPaths.TempDir();
        string xyz = Path.Combine(dir, "si.xyz");
        var (code, _, _) = Run("build", "diamond", "Si", "5.431", "--supercell", "2", "2", "2", "--rattle", "0.05", "-n", "3", "-o", xyz);
        Assert.Equal(0, code);
        var frames = StructureIO.Read(xyz);
        Assert.Equal(3, frames.Count);
        Assert.All(frames, f => Assert.Equal(64, f.Count));
        Assert.NotEqual(frames[0].Positions[0], frames[1].Positions[0]);
    }
}

public class DescriptorsCliTests
{
    [Fact]
    public void WritesFeaturesAndDerivativesForADataSet()
    {
        string dir = TestPaths.TempDir();
        string xyz = Path.Combine(dir, "si.xyz");
        Assert.Equal(0, CliTests.Run("build", "diamond", "Si", "5.431", "--supercell", "2", "1", "1", "--rattle", "0.05", "-n", "2", "-o", xyz).code);
        string npz = Path.Combine(dir, "so4.npz");
        var (code, stdout, stderr) = CliTests.Run("descriptors", xyz, "--type", "so4", "--param", "twojmax=6", "rcutfac=4.9", "--derivatives", "-o", npz, "-j", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains("30 features for 32 atoms", stdout);
        using var zip = System.IO.Compression.ZipFile.OpenRead(npz);
        var names = zip.Entries.Select(e => e.FullName).ToHashSet();
        Assert.Superset(new HashSet<string> { "features.npy", "atomic_numbers.npy", "structure_index.npy", "pair_gradients.npy", "pair_i.npy", "pair_j.npy", "pair_vectors.npy" }, names);
        using var f = zip.GetEntry("features.npy")!.Open();
        var (_, shape, bytes) = Mlip.Tests.Interop.NumpyFileTests.ReadNpy(f);
        Assert.Equal(new[] { 32, 30 }, shape);
        // the features equal the library's
        var s = Mlip.IO.StructureIO.Read(xyz)[1];
        var x = new Mlip.Descriptors.BispectrumSo4(new Mlip.Descriptors.So4Parameters { TwoJMax = 6, RcutFac = 4.9 }).Compute(s, false).Values;
        var all = new double[32 * 30];
        Buffer.BlockCopy(bytes, 0, all, 0, bytes.Length);
        for (int q = 0; q < x.Length; q++) Assert.Equal(x[q], all[16 * 30 + q], 12);
        Assert.True(File.Exists(Path.ChangeExtension(npz, ".json")));
    }

    [Fact]
    public void BadParametersGiveOneLine()
    {
        string dir = TestPaths.TempDir();
        string xyz = Path.Combine(dir, "si.xyz");
        CliTests.Run("build", "diamond", "Si", "5.431", "-o", xyz);
        foreach (var args in new[]
                 {
                     new[] { "descriptors", xyz, "--type", "so4", "--param", "twojmx=6", "-o", Path.Combine(dir, "a.npz") },
                     new[] { "descriptors", xyz, "--type", "nope", "-o", Path.Combine(dir, "a.npz") },
                     new[] { "descriptors", xyz, "--type", "acsf", "--param", "rc=abc", "-o", Path.Combine(dir, "a.npz") },
                     new[] { "descriptors", xyz, "--type", "acsf", "--derivatives", "-o", Path.Combine(dir, "a.npy") },
                 })
        {
            var (code, _, stderr) = CliTests.Run(args);
            Assert.NotEqual(0, code);
            Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("mlip: error:", stderr);
        }
    }
}
