using System.Text.Json;
using Mlip.IO;
using Mlip.Models;
using Mlip.Tests.Descriptors;
using Mlip.Tests.Models;
using Mlip.Tests.Support;

namespace Mlip.Tests.Cli;

[Collection(LibtorchCollection.Name), LibtorchThreads]
public class TrainCliTests
{
    /// <summary>A small labelled data set made by a known quadratic model, in two groups.</summary>
    private static (string train, string test) MakeData(string dir)
    {
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "2", ["rcutfac"] = "3.0" });
        var d = spec.Create(["O", "Si"]);
        var truth = new Potential(d, PolynomialModelTests.RandomModel(2, [8, 14], d.FeatureCount, 9), spec);
        List<Mlip.Structures.Structure> Make(int from, int count) => Enumerable.Range(from, count).Select(i =>
        {
            var s = DescriptorTestKit.RandomCell(i, ["Si", "O"], atoms: 5, length: 5.0);
            var r = truth.Calculate(s);
            s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
            s.Group = i % 2 == 0 ? "even" : "odd";
            return s;
        }).ToList();
        string train = Path.Combine(dir, "train.xyz"), test = Path.Combine(dir, "test.xyz");
        StructureIO.Write(train, Make(0, 24));
        StructureIO.Write(test, Make(100, 6));
        return (train, test);
    }

    [Fact]
    public void TrainTestPredict()
    {
        string dir = TestPaths.TempDir();
        MakeData(dir);
        string config = Path.Combine(dir, "train.yaml");
        File.WriteAllText(config, """
            train: train.xyz
            test: [test.xyz]
            descriptor:
              type: so4
              parameters: {twojmax: 2, rcutfac: 3.0}
            model: {kind: quadratic, ridge: 1.0e-9}
            loss: {energy: 1, force: 1, stress: 0.1}
            threads: 2
            output: run
            """);
        var (code, stdout, stderr) = CliTests.Run("train", config);
        Assert.True(code == 0, stderr);
        Assert.Contains("test set", stdout);
        foreach (var f in new[] { "model.json", "metrics.json", "parity_energy.png", "parity_forces.png" })
            Assert.True(File.Exists(Path.Combine(dir, "run", f)), f);

        var (c2, json, e2) = CliTests.Run("test", Path.Combine(dir, "run", "model.json"), Path.Combine(dir, "test.xyz"), "--json");
        Assert.True(c2 == 0, e2);
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        foreach (var key in new[] { "energy_mae_mev_per_atom", "energy_rmse_mev_per_atom", "force_mae_ev_per_a", "force_rmse_ev_per_a", "stress_mae_gpa", "groups" })
            Assert.True(r.TryGetProperty(key, out _), key);
        Assert.True(r.GetProperty("energy_mae_mev_per_atom").GetDouble() < 1e-4); // the data came from a quadratic model
        Assert.True(r.GetProperty("groups").TryGetProperty("even", out var even));
        Assert.Equal(3, even.GetProperty("structures").GetInt32());

        string outXyz = Path.Combine(dir, "pred.xyz");
        var (c3, _, e3) = CliTests.Run("predict", Path.Combine(dir, "run", "model.json"), Path.Combine(dir, "test.xyz"), "-o", outXyz);
        Assert.True(c3 == 0, e3);
        var pred = StructureIO.Read(outXyz);
        var reference = StructureIO.Read(Path.Combine(dir, "test.xyz"));
        Assert.Equal(6, pred.Count);
        for (int k = 0; k < 6; k++)
        {
            Assert.Equal(reference[k].Energy!.Value, pred[k].Energy!.Value, 6);
            Assert.True(pred[k].AtomArrays.ContainsKey("energies"));
        }
    }

    [Fact]
    public void TrainReusesTheDescriptorStoreThatDescriptorsMadeForAnyRidge()
    {
        string dir = TestPaths.TempDir();
        MakeData(dir);
        var (c0, out0, e0) = CliTests.Run("descriptors", Path.Combine(dir, "train.xyz"), "--type", "so4", "--param", "twojmax=2", "rcutfac=3.0",
            "--store", Path.Combine(dir, "store"), "--order", "2", "--stress", "--chunk-atoms", "30", "-j", "1");
        Assert.True(c0 == 0, e0);
        Assert.Contains("MB on disk", out0);
        string Config(string name, double ridge) => $$"""
            train: train.xyz
            descriptor:
              type: so4
              parameters: {twojmax: 2, rcutfac: 3.0}
            model: {kind: quadratic, ridge: {{ridge.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}}}
            loss: {energy: 1, force: 1, stress: 0.1}
            threads: 1
            store: store
            store_chunk_atoms: 30
            output: {{name}}
            """;
        var models = new List<PolynomialModel>();
        foreach (var (name, ridge) in new[] { ("a", 1e-9), ("b", 1e-3) })
        {
            string config = Path.Combine(dir, name + ".yaml");
            File.WriteAllText(config, Config(name, ridge));
            var (code, stdout, stderr) = CliTests.Run("train", config);
            Assert.True(code == 0, stderr);
            Assert.Contains("descriptor store: reusing", stdout);        // the factors that mlip descriptors made
            Assert.Contains("descriptors not recomputed", stdout);
            Assert.Contains("estimate: peak memory", stdout);
            models.Add((PolynomialModel)ModelFile.Load(Path.Combine(dir, name, "model.json")).Model);
        }
        Assert.NotEqual(models[0].Coefficients[0][1], models[1].Coefficients[0][1]); // another ridge, another fit

        // store: none is the in-memory fit, to round-off the same as the streamed one
        string memory = Path.Combine(dir, "m.yaml");
        File.WriteAllText(memory, Config("m", 1e-9).Replace("store: store", "store: none"));
        var (cm, om, em) = CliTests.Run("train", memory);
        Assert.True(cm == 0, em);
        Assert.DoesNotContain("descriptor store", om);
        var inMemory = (PolynomialModel)ModelFile.Load(Path.Combine(dir, "m", "model.json")).Model;
        for (int e = 0; e < 2; e++)
            for (int q = 0; q < inMemory.Coefficients[e].Length; q++)
                Assert.Equal(inMemory.Coefficients[e][q], models[0].Coefficients[e][q], 1e-6 * (1 + Math.Abs(inMemory.Coefficients[e][q])));
    }

    [Fact]
    public void ConfigMistakesGiveOneLine()
    {
        string dir = TestPaths.TempDir();
        MakeData(dir);
        foreach (var (text, expect) in new[]
                 {
                     ("train: train.xyz\ndescriptor: {type: so4}\nmodel: {kind: linear}\noutput: run\ntypo_key: 1\n", "typo_key"),
                     ("train: train.xyz\ndescriptor: {type: so4}\nmodel: {kind: magic}\noutput: run\n", "magic"),
                     ("train: train.xyz\ndescriptor: {type: so4, parameters: {twojmx: 4}}\nmodel: {kind: linear}\noutput: run\n", "twojmx"),
                     ("train: missing.xyz\ndescriptor: {type: so4}\nmodel: {kind: linear}\noutput: run\n", "missing.xyz"),
                     ("train: train.xyz\ndescriptor: {type: so4}\nmodel: {kind: linear, ridge: lots}\noutput: run\n", "ridge"),
                     ("train: [train.xyz\n", "YAML"),
                 })
        {
            string config = Path.Combine(dir, "bad.yaml");
            File.WriteAllText(config, text);
            var (code, _, stderr) = CliTests.Run("train", config);
            Assert.NotEqual(0, code);
            var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("mlip:")).ToList();
            Assert.Single(lines);
            Assert.Contains(expect, lines[0]);
        }
    }
}
