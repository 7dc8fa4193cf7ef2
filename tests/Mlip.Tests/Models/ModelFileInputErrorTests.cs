using Mlip.Descriptors;
using Mlip.Interop;
using Mlip.Models;
using Mlip.Tests.Cli;
using Mlip.Tests.Fuzz;
using Mlip.Validation;

namespace Mlip.Tests.Models;

/// <summary>
/// Issue 22, model files: wrong JSON types, NaN / absurd coefficients and out-of-range descriptor
/// parameters give typed errors that name the file (no exit 70, no NaN energies, no hang or runaway
/// memory), and Mlip never writes a model file it cannot read back.
/// </summary>
public class ModelFileInputErrorTests
{
    private static (string Dir, string Path, Potential P) LinearModel()
    {
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "2", ["rcutfac"] = "4.7" });
        var d = spec.Create(["Si"]);
        var p = new Potential(d, PolynomialModelTests.RandomModel(1, [14], d.FeatureCount, 1), spec);
        string dir = TestPaths.TempDir();
        string path = Path.Combine(dir, "model.json");
        ModelFile.Save(path, p);
        return (dir, path, p);
    }

    private static string Xyz(string dir)
    {
        string path = Path.Combine(dir, "si.extxyz");
        File.WriteAllText(path, "3\nPbc=\"F F F\" energy=-10.0\nSi 0 0 0\nSi 2.35 0 0\nSi 1.2 2.05 0\n");
        return path;
    }

    [Theory]
    [InlineData("\"version\": 1", "\"version\": \"1\"", "$.version")]
    [InlineData("\"kind\": \"linear\"", "\"kind\": 7", "$.kind")]
    [InlineData("\"order\": 1", "\"order\": null", "$.model.order")]
    [InlineData("\"elements\": [", "\"elements\": 5, \"x\": [", "$.elements")]
    public void WrongJsonTypeIsAFormatErrorWithPathAndLine(string from, string to, string jsonPath)
    {
        var (_, path, _) = LinearModel();
        string text = File.ReadAllText(path);
        Assert.Contains(from, text);
        File.WriteAllText(path, text.Replace(from, to));
        var e = Assert.Throws<FileFormatException>(() => ModelFile.Load(path));
        Assert.Equal(path, e.File);
        Assert.NotNull(e.Line);
        Assert.Contains(jsonPath, e.Message);
    }

    [Fact]
    public void WrongCoefficientTypeAndShortScaleNameTheValue()
    {
        var (_, path, _) = LinearModel();
        var root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        root["model"]!["coefficients"]!["Si"]![2] = "x";
        File.WriteAllText(path, root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        var e = Assert.Throws<FileFormatException>(() => ModelFile.Load(path));
        Assert.Contains("$.model.coefficients.Si[2]", e.Message);
        Assert.StartsWith(path + ":", e.Message);

        root["model"]!["coefficients"]!["Si"]![2] = null;
        File.WriteAllText(path, root.ToJsonString());
        Assert.Contains("$.model.coefficients.Si[2]", Assert.Throws<FileFormatException>(() => ModelFile.Load(path)).Message);

        root["model"]!["coefficients"]!["Si"]![2] = 0.5;
        root["model"]!["feature_scale"]!.AsArray().RemoveAt(0);
        File.WriteAllText(path, root.ToJsonString());
        Assert.Contains("$.model.feature_scale", Assert.Throws<FileFormatException>(() => ModelFile.Load(path)).Message);
    }

    [Fact]
    public void TheErrorGivesTheLineOfTheValue()
    {
        var (_, path, _) = LinearModel();
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"order\": 1", "\"order\": \"one\""));
        int expected = Array.FindIndex(File.ReadAllLines(path), l => l.Contains("\"order\"")) + 1;
        var e = Assert.Throws<FileFormatException>(() => ModelFile.Load(path));
        Assert.Equal(expected, e.Line);
        Assert.StartsWith($"{path}:{expected}: $.model.order", e.Message);
    }

    [Fact]
    public void AbsurdCoefficientGivesATypedErrorNotInfinity()
    {
        var (dir, path, _) = LinearModel();
        var root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        root["model"]!["coefficients"]!["Si"]![1] = 1e308;
        root["model"]!["coefficients"]!["Si"]![2] = -1e308;
        root["model"]!["feature_scale"]![0] = 1e-300;
        File.WriteAllText(path, root.ToJsonString());
        var p = ModelFile.Load(path);
        var e = Assert.Throws<NonFiniteValueException>(() => p.Calculate(ModelFuzzTargets.Cluster("Si")));
        Assert.Contains(path, e.Message);

        var (code, stdout, stderr) = CliTests.Run("predict", path, Xyz(dir), "-o", Path.Combine(dir, "out.extxyz"));
        // never exit 0 with an infinite energy: one line naming the model, exit 1 (predict evaluates in
        // parallel; MlipParallel surfaces the typed error from the loop)
        Assert.Equal(1, code);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains("not a finite number", stderr);
        Assert.Contains("model.json", stderr);
        Assert.DoesNotContain("NaN", stdout);
        Assert.DoesNotContain("∞", stdout);
    }

    [Fact]
    public void CliTestWithWrongJsonTypeExitsOneNamingTheFile()
    {
        var (dir, path, _) = LinearModel();
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"version\": 1", "\"version\": \"1\""));
        var (code, _, stderr) = CliTests.Run("test", path, Xyz(dir));
        Assert.Equal(1, code);
        Assert.Contains("mlip: error:", stderr);
        Assert.Contains("model.json:", stderr);
        Assert.Contains("$.version", stderr);
    }

    [Fact]
    public void NonFiniteCoefficientsAreRefusedOnReadingAndWriting()
    {
        var (dir, _, p) = LinearModel();
        var files = Snap.Write(p, dir, "m");
        string coeff = files[0];
        var lines = File.ReadAllLines(coeff);
        int last = lines.Length - 1;
        lines[last] = "NaN";
        File.WriteAllLines(coeff, lines);
        var e = Assert.Throws<NonFiniteValueException>(() => ModelFile.Load(coeff));
        Assert.Equal(coeff, e.File);
        Assert.Equal(last + 1, e.Line);

        // a model holding NaN is not written (JSON, SNAP)
        var poly = (PolynomialModel)p.Model;
        poly.Coefficients[0][1] = double.NaN;
        var w = Assert.Throws<MlipException>(() => ModelFile.Save(Path.Combine(dir, "nan.json"), p));
        Assert.Contains("nan.json", w.Message);
        Assert.False(File.Exists(Path.Combine(dir, "nan.json")));
        Assert.Throws<MlipException>(() => Snap.Write(p, Path.Combine(dir, "nan"), "m"));
        Assert.False(File.Exists(Path.Combine(dir, "nan", "m.snapcoeff")));
    }

    [Theory]
    [InlineData("rcutfac 4.7", "rcutfac 1e308", "rcutfac")]
    [InlineData("twojmax 2", "twojmax 1000000000", "twojmax")]
    [InlineData("twojmax 2", "twojmax 1e308", "twojmax")]
    [InlineData("rfac0 0.99363", "rfac0 nan", "not a finite number")]
    [InlineData("rmin0 0", "rmin0 -1", "rmin0")]
    public void SnapParameterOutOfRangeIsRefusedQuicklyNamingTheFile(string from, string to, string word)
    {
        var (dir, _, p) = LinearModel();
        var files = Snap.Write(p, dir, "m");
        string param = files[1];
        string text = File.ReadAllText(param);
        Assert.Contains(from, text);
        File.WriteAllText(param, text.Replace(from, to));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.ThrowsAny<MlipInputException>(() => ModelFile.Load(files[0]));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"took {sw.Elapsed}");
        Assert.Equal(param, e.File);
        Assert.Contains(word, e.Message);

        var (code, _, stderr) = CliTests.Run("predict", files[0], Xyz(dir), "-o", Path.Combine(dir, "out.extxyz"));
        Assert.Equal(1, code);
        Assert.Contains("m.snapparam", stderr);
    }

    [Theory]
    [InlineData("so4", "rcutfac", "1e308")]
    [InlineData("so4", "twojmax", "1000000000")]
    [InlineData("so4", "radelem", "1e300")]
    [InlineData("so3", "rcutfac", "1e308")]
    [InlineData("so3", "lmax", "100000")]
    [InlineData("so3", "nmax", "1000000")]
    [InlineData("acsf", "rc", "1e308")]
    [InlineData("acsf", "g2_centred", "100000000")]
    [InlineData("ead", "rc", "Infinity")]
    [InlineData("pinn", "orders", "0,1000000000")]
    [InlineData("ace", "order", "100")]
    [InlineData("ace", "nmax", "1e308")]
    public void DescriptorParameterOutOfRangeInAModelFileNamesTheFile(string type, string key, string value)
    {
        var (_, path, _) = LinearModel();
        var root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        root["descriptor"]!["type"] = type;
        root["descriptor"]!["parameters"] = new System.Text.Json.Nodes.JsonObject { [key] = value };
        File.WriteAllText(path, root.ToJsonString());
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<FileFormatException>(() => ModelFile.Load(path));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"took {sw.Elapsed}");
        Assert.Equal(path, e.File);
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void MliapDescriptorWithHugeTwojmaxNamesTheDescriptorFile()
    {
        string dir = TestPaths.TempDir();
        string model = Path.Combine(dir, "m.mliap.model"), desc = Path.Combine(dir, "m.mliap.descriptor");
        File.WriteAllText(desc, "rcutfac 4.7\ntwojmax 1000000000\nnelems 1\nelems Si\nradelems 0.5\nwelems 1\n");
        File.WriteAllText(model, "1 6\n0\n1\n2\n3\n4\n5\n");
        var e = Assert.Throws<FileFormatException>(() => ModelFile.Load(model));
        Assert.Equal(desc, e.File);
        Assert.Contains("twojmax", e.Message);
    }
}
