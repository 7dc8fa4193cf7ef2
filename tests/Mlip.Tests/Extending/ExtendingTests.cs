using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Mlip.Calculators;
using Mlip.Configuration;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Schema;
using Mlip.Simulation;
using Mlip.Structures;
using Mlip.Tests.Descriptors;
using Mlip.Training;
using Mlip.Validation;
using Xunit.Abstractions;

namespace Mlip.Tests.Extending;

/// <summary>
/// Tests that register model kinds or descriptor types (global tables) and tests that read those tables whole (the
/// committed config reference) run one at a time: xUnit runs the classes of one collection sequentially.
/// </summary>
[CollectionDefinition(Name)]
public sealed class RegistryCollection
{
    public const string Name = "registries";
}

/// <summary>
/// docs/extending.md's examples: the example descriptor (<see cref="RadialHistogram"/>) has exact derivatives, and
/// the example model kind (<see cref="RidgePathKind"/>) on it trains through <c>mlip train</c>, saves and loads as an
/// Mlip model file, and runs NVE molecular dynamics. The doc shows the two files verbatim.
/// </summary>
[Collection(RegistryCollection.Name)]
public class ExtendingTests(ITestOutputHelper output)
{
    private static readonly string[] ExampleFiles = ["ExampleModelKind.cs", "ExampleDescriptor.cs"];

    /// <summary>Registers both examples for the duration of a test (the tables are global).</summary>
    private sealed class Registered : IDisposable
    {
        public Registered()
        {
            RidgePathKind.Register();
            RadialHistogram.Register();
        }

        public void Dispose()
        {
            ModelKinds.Unregister(RidgePathKind.KindName);
            DescriptorTypes.Unregister("radial-histogram");
        }
    }

    [Fact]
    public void ExampleDescriptorDerivativesMatchFiniteDifferences()
    {
        var d = new RadialHistogram(new RadialHistogramSettings { Cutoff = 4.5, Bins = 6 }, ["O", "Si"]);
        Assert.Equal(12, d.FeatureCount);
        for (int seed = 1; seed <= 3; seed++)
        {
            var s = DescriptorTestKit.RandomCell(seed, ["Si", "O"], atoms: 6);
            DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(d, s, seed);
            DescriptorTestKit.AssertInvariances(d, s, seed);
        }
    }

    [Fact]
    public void RegisteredDescriptorIsBuiltFromItsSettingsAndListedInTheSchema()
    {
        using (new Registered())
        {
            var d = DescriptorFactory.Create("radial-histogram", new Dictionary<string, string> { ["bins"] = "5", ["rc"] = "3.5" }, ["Si"]);
            Assert.Equal(5, d.FeatureCount);
            Assert.Equal(3.5, d.Cutoff);
            var e = Assert.Throws<MlipException>(() => DescriptorFactory.Create("radial-histogram", new Dictionary<string, string> { ["bin"] = "5" }, ["Si"]));
            Assert.Contains("rc, bins, width", e.Message);
            Assert.Contains("must be in", Assert.Throws<MlipException>(() =>
                DescriptorFactory.Create("radial-histogram", new Dictionary<string, string> { ["bins"] = "0" }, ["Si"])).Message);
            Assert.Equal("8", DescriptorFactory.Fallbacks("radial-histogram")["bins"]);
            Assert.Contains("radial-histogram", DescriptorFactory.Types);

            var schema = ConfigReference.Json();
            Assert.Equal("0.4", (string)schema["descriptors"]!["radial-histogram"]!["parameters"]![2]!["default"]!);
            Assert.Equal("holdout", (string)schema["model_kinds"]!["ridge-path"]!["settings"]![1]!["key"]!);
            Assert.Contains("### ridge-path", ConfigReference.Markdown());
            Assert.NotNull(ModelFile.FindCodec("ridge-path"));
        }
        Assert.Null(DescriptorTypes.Find("radial-histogram"));
        Assert.Null(ModelKinds.Find("ridge-path"));
        Assert.Null(ModelFile.FindCodec("ridge-path"));
        Assert.DoesNotContain("radial-histogram", ConfigReference.Markdown());
    }

    /// <summary>Silicon cells (diamond, strained and rattled) labelled by Stillinger-Weber.</summary>
    private static List<Structure> SiliconData(int count, int seed)
    {
        var sw = StillingerWeber.Silicon();
        var rng = new Random(seed);
        var list = new List<Structure>();
        for (int k = 0; k < count; k++)
        {
            double a = 0.04 * (rng.NextDouble() - 0.5), b = 0.04 * (rng.NextDouble() - 0.5), c = 0.02 * (rng.NextDouble() - 0.5);
            var s = Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.431), new Matrix3(a, c, 0, c, b, 0, 0, 0, -a)), 0.03 + 0.12 * rng.NextDouble(), seed * 1000 + k);
            var r = sw.Calculate(s);
            s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
            list.Add(s);
        }
        return list;
    }

    [Fact]
    public void ExampleKindOnExampleDescriptorTrainsLoadsAndRunsMolecularDynamics()
    {
        using var registered = new Registered();
        string dir = TestPaths.TempDir();
        StructureIO.Write(Path.Combine(dir, "train.xyz"), SiliconData(32, 1));
        StructureIO.Write(Path.Combine(dir, "test.xyz"), SiliconData(8, 2));
        string config = Path.Combine(dir, "train.yaml");
        File.WriteAllText(config, """
            train: train.xyz
            test: [test.xyz]
            descriptor:
              type: radial-histogram
              parameters: {rc: 4.0, bins: 8, width: 0.4}
            model:
              kind: ridge-path
              ridges: [1.0e-8, 1.0e-6, 1.0e-4, 1.0e-2]
              holdout: 4
            loss: {energy: 1, force: 0}
            threads: 2
            output: run
            """);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.True(Mlip.Cli.Program.Run(["train", config], stdout, stderr) == 0, stderr.ToString());
        output.WriteLine(stdout.ToString());
        Assert.Contains("ridge-path: ridge", stdout.ToString());

        // the saved model is the trained one: the same run in the library, compared structure by structure
        var trained = TrainingRun.Execute(TrainConfig.Load(config) with { Output = Path.Combine(dir, "again") }, TextWriter.Null).Potential;
        var loaded = ModelFile.Load(Path.Combine(dir, "run", "model.json"));
        Assert.IsType<RidgePathModel>(loaded.Model);
        Assert.Equal("radial-histogram", loaded.Descriptor.Name);
        var test = StructureIO.Read(Path.Combine(dir, "test.xyz"));
        double sq = 0;
        foreach (var s in test)
        {
            var a = loaded.Calculate(s);
            Assert.Equal(trained.Calculate(s).Energy, a.Energy, 10);
            Assert.All(a.Forces!, f => Assert.True(double.IsFinite(f.X) && double.IsFinite(f.Y) && double.IsFinite(f.Z)));
            sq += Math.Pow((a.Energy - s.Energy!.Value) / s.Count, 2);
        }
        double rmse = Math.Sqrt(sq / test.Count);
        output.WriteLine($"test energy RMSE {rmse * 1000:F2} meV/atom");
        Assert.True(rmse < 0.02, $"test energy RMSE {rmse * 1000:F1} meV/atom");

        // NVE with the loaded model: finite, and the total energy is conserved
        var state = new MdState(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 2, 2));
        MaxwellBoltzmann.Initialize(state, 300, seed: 5);
        double e0 = double.NaN, emin = double.MaxValue, emax = double.MinValue;
        new MolecularDynamics(new VelocityVerlet(loaded, 1.0), state)
        {
            Observer = s =>
            {
                if (double.IsNaN(e0)) e0 = s.TotalEnergy;
                emin = Math.Min(emin, s.TotalEnergy); emax = Math.Max(emax, s.TotalEnergy);
            },
        }.Run(100);
        output.WriteLine($"64 atoms, 100 fs: T {state.Temperature:F0} K, E_tot spread {(emax - emin) / state.Count * 1000:F4} meV/atom");
        Assert.True(double.IsFinite(state.TotalEnergy) && state.Temperature > 10);
        Assert.True((emax - emin) / state.Count < 1e-3, $"total energy spread {(emax - emin) / state.Count:E2} eV/atom");
    }

    /// <summary>docs/extending.md shows the two example files verbatim (MLIP_UPDATE_DOCS=1 rewrites its code blocks).</summary>
    [Fact]
    public void ExtendingDocShowsTheExampleFilesVerbatim()
    {
        string path = Path.Combine(TestPaths.RepoRoot, "docs", "extending.md");
        string doc = File.ReadAllText(path).Replace("\r\n", "\n");
        foreach (string name in ExampleFiles)
        {
            string file = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "tests", "Mlip.Tests", "Extending", name)).Replace("\r\n", "\n");
            var block = new Regex($@"<!-- file: tests/Mlip\.Tests/Extending/{Regex.Escape(name)} -->\n```csharp\n(.*?)```\n", RegexOptions.Singleline);
            var m = block.Match(doc);
            Assert.True(m.Success, $"docs/extending.md has no code block marked <!-- file: tests/Mlip.Tests/Extending/{name} -->");
            if (Environment.GetEnvironmentVariable("MLIP_UPDATE_DOCS") == "1")
            {
                doc = doc[..m.Groups[1].Index] + file + doc[(m.Groups[1].Index + m.Groups[1].Length)..];
                File.WriteAllText(path, doc);
                continue;
            }
            Assert.True(m.Groups[1].Value == file, $"the code block of {name} in docs/extending.md differs from the file: copy it, or run the tests with MLIP_UPDATE_DOCS=1");
        }
    }
}
