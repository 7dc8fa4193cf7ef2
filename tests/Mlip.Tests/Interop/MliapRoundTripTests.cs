using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Interop;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Tests.Support;
using Mlip.Training;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.Interop;

/// <summary>
/// The acceptance round trip of the ML-IAP export: models trained (briefly) on the mlearn Si training set,
/// written by <c>mlip export lammps --format mliap</c>, run by LAMMPS pair_style mliap on every structure of
/// the mlearn Si test set, give Mlip's energies, forces and stress to 1e-9 relative; and the exported files
/// read back by <see cref="MliapReader"/> predict the same as the model that wrote them (to 1e-10: the folded
/// polynomial coefficients are rounded once more). Cases: a neural
/// network on SO(3), linear and quadratic models on SO(4) (their normalisation folded into the coefficients).
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class MliapRoundTripTests(ITestOutputHelper output)
{
    private static List<Structure> Training(int every) =>
        StructureIO.Read(TestPaths.Shared("mlearn", "Si", "training.json")).Where((_, i) => i % every == 0).ToList();

    private static IReadOnlyList<Structure> TestSet() => StructureIO.Read(TestPaths.Shared("mlearn", "Si", "test.json"));

    private static Potential TrainNetworkOnSo3()
    {
        var spec = new DescriptorSpec("so3", new Dictionary<string, string> { ["nmax"] = "3", ["lmax"] = "3", ["alpha"] = "2.0", ["rcutfac"] = "4.9" });
        var d = spec.Create(["Si"]);
        var set = TrainingSet.Compute(d, Training(8), true, 2);
        var options = new NeuralNetworkOptions
        {
            Hidden = [8, 8], Activation = Activation.Tanh, Optimizer = "lbfgs", Epochs = 15, ValidationFraction = 0,
            EvaluateEvery = 100, CheckpointEvery = 1000, Threads = 2, Seed = 3,
        };
        var (model, _, _) = new NeuralNetworkTrainer(set, options).Train(TextWriter.Null);
        return new Potential(d, model, spec);
    }

    private static Potential FitPolynomialOnSo4(int order)
    {
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "6", ["rcutfac"] = "4.9", ["rfac0"] = "0.99363" });
        var d = spec.Create(["Si"]);
        var set = TrainingSet.Compute(d, Training(order == 1 ? 4 : 2), true, 2);
        var options = new PolynomialFitOptions { Order = order, Weights = new LossWeights { Energy = 1, Force = order == 1 ? 0.01 : 0.05 } };
        var (model, _) = PolynomialFit.Fit(set, options, LeastSquaresSolvers.ByName("default", 2));
        Assert.Contains(model.Scale, s => s != 1); // the normalisation is really there and must be folded
        return new Potential(d, model, spec);
    }

    /// <summary>Exports with the CLI, runs LAMMPS on the whole test set, and reads the files back.</summary>
    private void RoundTrip(Potential pot, string tag, string style, string descriptorStyle)
    {
        Lammps.RequireExecutable();
        string dir = Path.Combine(TestPaths.TempDir(), $"mliap-roundtrip-{tag}");
        Directory.CreateDirectory(dir);
        string modelJson = Path.Combine(dir, "model.json");
        ModelFile.Save(modelJson, pot);
        var o = new StringWriter(); var e = new StringWriter();
        string outDir = Path.Combine(dir, "out");
        Assert.Equal(0, Mlip.Cli.Program.Run(["export", "lammps", modelJson, "--format", "mliap", "-o", outDir, "--name", "si"], o, e));
        string modelFile = Path.Combine(outDir, "si.mliap.model"), descriptorFile = Path.Combine(outDir, "si.mliap.descriptor");
        Assert.True(File.Exists(modelFile) && File.Exists(descriptorFile), o + e.ToString());
        string pairLine = $"pair_style      mliap model {style} si.mliap.model descriptor {descriptorStyle} si.mliap.descriptor";
        Assert.Contains(pairLine, File.ReadAllText(Path.Combine(outDir, "in.lammps")));
        var files = new Dictionary<string, string> { ["si.mliap.model"] = File.ReadAllText(modelFile), ["si.mliap.descriptor"] = File.ReadAllText(descriptorFile) };

        var readBack = ModelFile.Load(Path.Combine(outDir, "si.mliap"));
        Assert.Equal(pot.Model.Kind, readBack.Model.Kind);
        Assert.Equal(pot.Spec.Type, readBack.Spec.Type);

        double worstE = 0, worstF = 0, worstS = 0, worstBack = 0;
        int n = 0;
        foreach (var s in TestSet())
        {
            var mine = pot.Calculate(s);
            var lmp = LammpsReference.Run(s, ["Si"], pairLine + "\npair_coeff      * * Si", files, $"mliap-roundtrip-{tag}-{n}");
            double fmax = Math.Max(lmp.Forces.Max(f => f.Norm), 1e-3), smax = Math.Max(lmp.Stress.ToVoigt().Max(Math.Abs), 1e-3);
            worstE = Math.Max(worstE, Math.Abs(mine.Energy - lmp.Energy) / Math.Abs(lmp.Energy));
            for (int i = 0; i < s.Count; i++) worstF = Math.Max(worstF, (mine.Forces![i] - lmp.Forces[i]).Norm / fmax);
            var a = mine.Stress!.Value.ToVoigt(); var b = lmp.Stress.ToVoigt();
            for (int q = 0; q < 6; q++) worstS = Math.Max(worstS, Math.Abs(a[q] - b[q]) / smax);

            var back = readBack.Calculate(s);
            worstBack = Math.Max(worstBack, Math.Abs(back.Energy - mine.Energy) / Math.Abs(mine.Energy));
            for (int i = 0; i < s.Count; i++) worstBack = Math.Max(worstBack, (back.Forces![i] - mine.Forces![i]).Norm / fmax);
            n++;
        }
        output.WriteLine($"{tag}: {n} test structures; Mlip vs LAMMPS worst relative: energy {worstE:E2}, forces {worstF:E2}, stress {worstS:E2}; read back vs original {worstBack:E2}");
        Assert.Equal(25, n);
        Assert.True(worstE <= 1e-9, $"{tag}: energy differs from LAMMPS by {worstE:E2} relative");
        Assert.True(worstF <= 1e-9, $"{tag}: forces differ from LAMMPS by {worstF:E2} relative");
        Assert.True(worstS <= 1e-9, $"{tag}: stress differs from LAMMPS by {worstS:E2} relative");
        Assert.True(worstBack <= 1e-10, $"{tag}: the exported files read back predict differently ({worstBack:E2} relative)");
    }

    [Fact]
    public void NetworkOnSo3TrainedOnMlearnSiEqualsLammpsAfterExport() => RoundTrip(TrainNetworkOnSo3(), "nn-so3", "nn", "so3");

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void PolynomialOnSo4TrainedOnMlearnSiEqualsLammpsAfterExport(int order) =>
        RoundTrip(FitPolynomialOnSo4(order), order == 1 ? "linear-so4" : "quadratic-so4", order == 1 ? "linear" : "quadratic", "sna");
}
