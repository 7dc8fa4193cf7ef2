using System.Text.Json;
using Mlip.Data;
using Mlip.Interop;
using Mlip.IO;
using Mlip.Models;
using Mlip.Training;
using Mlip.Tests.Support;

namespace Mlip.Tests.Cli;

/// <summary>
/// Per-atom targets through the command line: `mlip train` with target per_atom on a small generated
/// set, `mlip test --json` on the held-out amorphous cell, `mlip predict --olcao` (extxyz columns and
/// OLCAO potential files that read back to the predicted coefficients exactly), and saved models
/// (linear, nn, gpr) that predict what the fitted ones did.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public sealed class PerAtomCliTests
{
    private static readonly Lazy<(List<Mlip.Structures.Structure> Train, List<Mlip.Structures.Structure> Test)> Set = new(() =>
        PerAtomDatasetGenerator.Generate(Mlip.Calculators.ClassicalPotentials.Parse("sw"), new PerAtomDatasetOptions
        {
            Seed = 3, Terms = 12, ScaledCells = 5, CrystalCells = 2, InterstitialCells = 2, VacancyCells = 1, AmorphousCells = 2,
            LiquidSnapshots = 1, QuenchSnapshots = 2, MeltSteps = 600, QuenchSteps = 1500,
        }));

    private static string Config(string dir, string kind, string modelLines)
    {
        var (train, test) = Set.Value;
        StructureIO.Write(Path.Combine(dir, "train.xyz"), train);
        StructureIO.Write(Path.Combine(dir, "heldout.db"), test);
        string path = Path.Combine(dir, $"{kind}.yaml");
        File.WriteAllText(path, $"""
            train: train.xyz
            test: heldout.db
            target: {"{"}per_atom: olcao_coefficients{"}"}
            descriptor:
              type: multi
              parameters: {"{"}cutoffs: [3.0, 4.2, 5.6], twojmax: 6{"}"}
            model:
              kind: {kind}
            {modelLines}
            seed: 2
            threads: 2
            output: run-{kind}
            """);
        return path;
    }

    [Fact]
    public void TrainTestPredictLinearEndToEnd()
    {
        string dir = TestPaths.TempDir();
        var (code, stdout, stderr) = CliTests.Run("train", Config(dir, "linear", "  ridge: 1.0e-8"));
        Assert.True(code == 0, stderr);
        Assert.Contains("reconstructed V_B(r)", stdout);
        string run = Path.Combine(dir, "run-linear");
        string model = Path.Combine(run, "model.json");
        Assert.True(File.Exists(Path.Combine(run, "parity_olcao_coefficients_11.png")));
        Assert.False(File.Exists(Path.Combine(run, "parity_olcao_coefficients_12.png")));

        (code, stdout, stderr) = CliTests.Run("test", model, Path.Combine(dir, "heldout.db"), "--json");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            var r = doc.RootElement;
            Assert.Equal(64, r.GetProperty("atoms").GetInt32());
            Assert.Equal(12, r.GetProperty("components").GetArrayLength());
            Assert.True(r.GetProperty("min_r2").GetDouble() >= 0.99, stdout);
            Assert.True(r.GetProperty("vb_relative_l2_mean").GetDouble() < 0.01, stdout);
        }

        string predicted = Path.Combine(dir, "predicted.xyz"), olcao = Path.Combine(dir, "scfV.dat");
        (code, stdout, stderr) = CliTests.Run("predict", model, Path.Combine(dir, "heldout.db"), "-o", predicted, "--olcao", olcao);
        Assert.True(code == 0, stderr);
        var s = Assert.Single(StructureIO.ReadAll([predicted], null));
        var p = s.AtomArrays[GaussianPotentialTarget.ArrayName];
        Assert.Equal(12, p.Components);
        Assert.True(s.AtomArrays.ContainsKey("reference_" + GaussianPotentialTarget.ArrayName));
        var (types, _) = OlcaoPotentialFile.Read(olcao);
        Assert.Equal(64, types.Count);
        for (int i = 0; i < 64; i++) Assert.Equal(p.Of(i).ToArray(), types[i].Coefficients);
        Assert.Equal((double[])s.Info[GaussianPotentialTarget.AlphasKey], types[0].Alphas);

        // config errors: one line naming the file (and the key), exit 1
        string bad = Path.Combine(dir, "bad.yaml");
        string TrainWith(string from, string to)
        {
            File.WriteAllText(bad, File.ReadAllText(Path.Combine(dir, "linear.yaml")).Replace(from, to));
            var (c, _, e) = CliTests.Run("train", bad);
            Assert.Equal(1, c);
            Assert.Contains("bad.yaml", e);
            return e;
        }
        Assert.Contains("target.per_atomz", TrainWith("per_atom:", "per_atomz:"));
        // the per-atom settings are the kind's per-atom variant's (the model-kind registry): a key of another kind is
        // refused at its line with the keys allowed there, a bad value names the key
        stderr = TrainWith("  ridge: 1.0e-8", "  ridge: 1.0e-8\n  hidden: [8]");
        Assert.Contains("bad.yaml:", stderr);
        Assert.Contains("hidden", stderr);
        Assert.Contains("ridge", stderr);
        Assert.Contains("ridge", TrainWith("  ridge: 1.0e-8", "  ridge: -1"));
        Assert.Contains("no per-atom variant", TrainWith("kind: linear", "kind: pinn"));
    }

    [Theory]
    [InlineData("linear", "  ridge: 1.0e-8")]
    [InlineData("nn", "  hidden: [8]\n  epochs: 20")]
    [InlineData("gpr", "  sparse: 50\n  length_scale: 2.0")]
    public void SavedModelPredictsWhatTheFittedOneDid(string kind, string settings)
    {
        string dir = TestPaths.TempDir();
        var config = TrainConfig.Load(Config(dir, kind, settings));
        var outcome = PerAtomTrainingRun.Execute(config, TextWriter.Null);
        var loaded = PerAtomModelFile.Load(outcome.ModelPath);
        Assert.Equal(kind, loaded.Model.Kind);
        var heldOut = Set.Value.Test[0];
        var a = outcome.Predictor.Predict(heldOut);
        var b = loaded.Predict(heldOut);
        Assert.Equal(a, b);
        Assert.Equal(outcome.Predictor.Alphas, loaded.Alphas);
    }
}
