using Mlip.Models;
using Mlip.Tests.Descriptors;
using Mlip.Validation;

namespace Mlip.Tests.Models;

public class ModelFileTests
{
    [Fact]
    public void SaveAndLoadGiveTheSamePredictions()
    {
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "4", ["rcutfac"] = "3.6", ["radelem"] = "0.5,0.45", ["wj"] = "1,0.8" });
        var d = spec.Create(["O", "Si"]);
        var p = new Potential(d, PolynomialModelTests.RandomModel(2, [8, 14], d.FeatureCount, 4), spec);
        string path = Path.Combine(TestPaths.TempDir(), "model.json");
        ModelFile.Save(path, p);
        var q = ModelFile.Load(path);
        Assert.Equal("quadratic", q.Model.Kind);
        var s = DescriptorTestKit.RandomCell(3, ["Si", "O"], atoms: 6);
        var a = p.Calculate(s); var b = q.Calculate(s);
        Assert.Equal(a.Energy, b.Energy, 12);
        for (int i = 0; i < s.Count; i++) Assert.Equal(a.Forces![i], b.Forces![i]);
    }

    [Fact]
    public void RejectsOtherFilesAndNewerVersions()
    {
        string dir = TestPaths.TempDir();
        string notModel = Path.Combine(dir, "x.json");
        File.WriteAllText(notModel, "{\"format\": \"something\"}");
        Assert.Contains("not an Mlip model", Assert.Throws<FileFormatException>(() => ModelFile.Load(notModel)).Message);

        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "2" });
        var d = spec.Create(["Si"]);
        string path = Path.Combine(dir, "m.json");
        ModelFile.Save(path, new Potential(d, PolynomialModelTests.RandomModel(1, [14], d.FeatureCount, 1), spec));
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"version\": 1", "\"version\": 99"));
        Assert.Contains("version 99", Assert.Throws<FileFormatException>(() => ModelFile.Load(path)).Message);

        ModelFile.Save(path, new Potential(d, PolynomialModelTests.RandomModel(1, [14], d.FeatureCount, 1), spec));
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"twojmax\": \"2\"", "\"twojmax\": \"4\""));
        Assert.Contains("features", Assert.Throws<FileFormatException>(() => ModelFile.Load(path)).Message);
    }
}
