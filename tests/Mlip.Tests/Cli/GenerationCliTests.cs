using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Training;
using Xunit;

namespace Mlip.Tests.Cli;

public class GenerationCliTests
{
    [Fact]
    public void Generate_random_writes_crystals_of_the_group_and_refuses_a_misfit()
    {
        string dir = TestPaths.TempDir();
        string path = Path.Combine(dir, "r.xyz");
        var (code, _, error) = CliTests.Run("generate", "--random", "--composition", "Ga4As4", "--spacegroup", "216", "-n", "3", "--seed", "2", "-o", path, "--label", "--potential", "tersoff");
        Assert.Equal(1, code); // Tersoff Si cannot label Ga: one clear line, no crash
        Assert.StartsWith("mlip: error:", error.Trim());
        (code, _, _) = CliTests.Run("generate", "--random", "--composition", "Si8", "--spacegroup", "227", "-n", "2", "-o", path, "--label", "--potential", "sw");
        Assert.Equal(0, code);
        var s = StructureIO.Read(path);
        Assert.Equal(2, s.Count);
        Assert.All(s, x => Assert.Equal(227L, x.Info["spacegroup_requested"]));
        Assert.All(s, x => Assert.NotNull(x.Energy));
        var (bad, _, err) = CliTests.Run("generate", "--random", "--composition", "Si3", "--spacegroup", "227", "-o", path);
        Assert.Equal(1, bad);
        Assert.StartsWith("mlip: error: composition Si3 cannot be built in space group 227", err.Trim());
    }

    [Fact]
    public void Predict_uncertainty_gives_gamma_for_a_linear_model_with_its_training_data()
    {
        string dir = TestPaths.TempDir();
        var sw = ClassicalPotentials.Parse("sw");
        var data = Enumerable.Range(0, 6).Select(i =>
        {
            var s = Crystals.Rattle(Crystals.Diamond("Si", 5.43), 0.1, i);
            var r = sw.Calculate(s); s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
            return s;
        }).ToList();
        StructureIO.Write(Path.Combine(dir, "train.xyz"), data);
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "2", ["rcutfac"] = "4.5" });
        var d = spec.Create(["Si"]);
        var fit = PolynomialFit.Fit(TrainingSet.Compute(d, data, true, 1), new PolynomialFitOptions { Order = 1, Threads = 1 }, new ManagedLeastSquares(1)).Model;
        ModelFile.Save(Path.Combine(dir, "model.json"), new Potential(d, fit, spec));
        var probe = Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.43), Matrix3.Diagonal(0.1, -0.08, 0)), 0.3, 9);
        StructureIO.Write(Path.Combine(dir, "probe.xyz"), [data[0], probe]);
        var (no, _, err) = CliTests.Run("predict", Path.Combine(dir, "model.json"), Path.Combine(dir, "probe.xyz"), "-o", Path.Combine(dir, "out.xyz"), "--uncertainty");
        Assert.Equal(1, no);
        Assert.Contains("training data", err);
        var (code, stdout, _) = CliTests.Run("predict", Path.Combine(dir, "model.json"), Path.Combine(dir, "probe.xyz"), "-o", Path.Combine(dir, "out.xyz"),
            "--uncertainty", "--training", Path.Combine(dir, "train.xyz"), "-j", "1");
        Assert.Equal(0, code);
        Assert.Contains("d-optimality", stdout);
        var out1 = StructureIO.Read(Path.Combine(dir, "out.xyz"));
        Assert.True(out1[0].AtomArrays["gamma"].Values.Max() <= 1.0 + 1.001e-3, "a training structure interpolates");
        Assert.True(out1[1].AtomArrays["gamma"].Values.Max() > 1.0, "the distorted probe extrapolates");
        Assert.Equal(out1[1].AtomArrays["gamma"].Values.Max(), (double)out1[1].Info["uncertainty"], 12);
    }
}
