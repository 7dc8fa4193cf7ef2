using System.Text.Json.Nodes;
using Mlip.ActiveLearning;
using Mlip.Cli;
using Mlip.Configuration;
using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Schema;
using Mlip.Training;
using Mlip.Validation;
using Xunit;

namespace Mlip.Tests.Configuration;

/// <summary>The config schema is generated from the records; the committed reference, the factory's defaults and the readers agree with it.</summary>
/// <remarks>In the collection of the tests that register kinds and descriptors (Extending), so the reference never sees theirs.</remarks>
[Collection(Mlip.Tests.Extending.RegistryCollection.Name)]
public class ConfigSchemaTests
{
    /// <summary>docs/config-reference.md is what the records generate; MLIP_UPDATE_DOCS=1 rewrites it.</summary>
    [Fact]
    public void CommittedConfigReferenceMatchesTheRecords()
    {
        string path = Path.Combine(TestPaths.RepoRoot, "docs", "config-reference.md");
        string generated = ConfigReference.Markdown();
        if (Environment.GetEnvironmentVariable("MLIP_UPDATE_DOCS") == "1") File.WriteAllText(path, generated);
        Assert.True(File.Exists(path), "docs/config-reference.md is missing: run the tests with MLIP_UPDATE_DOCS=1");
        Assert.True(File.ReadAllText(path).Replace("\r\n", "\n") == generated,
            "docs/config-reference.md differs from the records: run `mlip config --schema > docs/config-reference.md` or the tests with MLIP_UPDATE_DOCS=1");
    }

    /// <summary>What the descriptor factory falls back to is what the table documents.</summary>
    [Fact]
    public void DescriptorDefaultsInTheTableAreTheFactorysFallbacks()
    {
        foreach (var type in DescriptorTypes.All.Where(t => t.Name != "multi"))
        {
            var fallbacks = DescriptorFactory.Fallbacks(type.Name);
            foreach (var key in type.Parameters)
            {
                if (key.Default.Contains("element", StringComparison.Ordinal) || key.Default == "none") continue; // the data's elements, one per element
                Assert.True(fallbacks.TryGetValue(key.Key, out var used), $"{type.Name}.{key.Key}: documented but not read");
                Assert.True(used == key.Default, $"{type.Name}.{key.Key}: documented default {key.Default}, the factory uses {used}");
            }
        }
    }

    [Fact]
    public void SchemaCommandListsEveryKindAndDescriptorAsJson()
    {
        var stdout = new StringWriter();
        Assert.Equal(0, Program.Run(["config", "--schema", "--json"], stdout, new StringWriter()));
        var json = JsonNode.Parse(stdout.ToString())!;
        foreach (var kind in ModelKinds.All) Assert.NotNull(json["model_kinds"]![kind.Name]);
        foreach (var d in DescriptorTypes.All) Assert.NotNull(json["descriptors"]![d.Name]);
        var ridge = json["model_kinds"]!["linear"]!["settings"]!.AsArray().Single(k => (string)k!["key"]! == "ridge")!;
        Assert.Equal("1e-8", (string)ridge["default"]!);
        Assert.Contains(json["learn"]!.AsArray(), k => (string)k!["key"]! == "explore.md.steps");
    }

    [Fact]
    public void ConfigWithoutSchemaIsAOneLineUserError()
    {
        var stdout = new StringWriter(); var stderr = new StringWriter();
        Assert.Equal(1, Program.Run(["config"], stdout, stderr));
        Assert.Equal("", stdout.ToString());
        Assert.Single(stderr.ToString().Trim().Split('\n'));
        Assert.Contains("--schema", stderr.ToString());
    }

    [Fact]
    public void EveryKindWithACodecIsInTheModelFileTable()
    {
        foreach (var kind in ModelKinds.All)
            if (kind.Codec is { } codec) Assert.Same(codec.Read, ModelFile.FindCodec(kind.Name)!.Read);
        Assert.Contains("gpr", ModelFile.CodecKinds); // listed in the table, no module initialiser
    }

    /// <summary>A misspelt model setting is refused when the config is read, at its line, with the keys allowed there (train and learn alike).</summary>
    [Fact]
    public void UnknownModelSettingsNameFileLineAndTheKnownKeys()
    {
        string dir = TestPaths.TempDir();
        string train = Path.Combine(dir, "train.yaml");
        File.WriteAllText(train, "train: a.xyz\ndescriptor: {type: so4}\nmodel:\n  kind: quadratic\n  ridg: 1.0e-6\noutput: run\n");
        var e = Assert.Throws<FileFormatException>(() => TrainConfig.Load(train));
        Assert.Contains("train.yaml:5", e.Message);
        Assert.Contains("ridge, normalize, solver", e.Message);
        File.WriteAllText(train, "train: a.xyz\ndescriptor: {type: so4}\nmodel:\n  kind: linear\n  ridge: lots\noutput: run\n");
        Assert.Contains("train.yaml:5", Assert.Throws<FileFormatException>(() => TrainConfig.Load(train)).Message);

        string learn = Path.Combine(dir, "learn.yaml");
        File.WriteAllText(learn, "element: Si\nmodel:\n  kind: gpr\n  sparce: 100\n");
        var l = Assert.Throws<FileFormatException>(() => LearnConfig.Load(learn));
        Assert.Contains("learn.yaml:4", l.Message);
        Assert.Contains("sparse", l.Message);
    }

    /// <summary>A model kind's defaults are the same in train and learn (one settings record).</summary>
    [Fact]
    public void LearnUsesTheKindsDefaults()
    {
        string dir = TestPaths.TempDir();
        string learn = Path.Combine(dir, "learn.yaml");
        File.WriteAllText(learn, "element: Si\nmodel: {kind: gpr}\n");
        Assert.Equal(Values(new GaussianProcessSettings()), Values(LearnConfig.Load(learn).ModelSettings));
        File.WriteAllText(learn, "element: Si\nmodel: {kind: quadratic}\n");
        Assert.Equal(Values(new PolynomialSettings()), Values(LearnConfig.Load(learn).ModelSettings));
        Assert.Equal(1e-8, new PolynomialSettings().Ridge);
    }

    private static string[] Values(object settings) =>
        [.. SettingsBinder.Describe(settings.GetType()).Select(s => s.Key + "=" + SettingsBinder.Format(s.Property.GetValue(settings)))];

    [Fact]
    public void EveryExampleConfigLoads()
    {
        foreach (var f in Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "examples"), "*.yaml"))
        {
            if (Path.GetFileName(f).StartsWith("learn", StringComparison.Ordinal)) LearnConfig.Load(f);
            else TrainConfig.Load(f);
        }
    }
}
