using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Interop;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Tests.Support;

namespace Mlip.Tests.Interop;

/// <summary>
/// LAMMPS pair_style mliap (model nn, descriptor sna) export: a random Mlip neural network on so4 with
/// non-trivial normalisation and per-element offsets, written as .mliap.model/.mliap.descriptor, gives
/// LAMMPS's energy, forces and stress equal to Mlip's to 1e-8 relative.
/// </summary>
public class MliapTests
{
    private static LammpsReference RunLammps(Structure s, string[] species, string modelPath, string descriptorPath, string name) =>
        LammpsReference.Run(s, species,
            $"pair_style mliap model nn pot.mliap.model descriptor sna pot.mliap.descriptor\npair_coeff * * {string.Join(" ", species)}",
            new Dictionary<string, string>
            {
                ["pot.mliap.model"] = File.ReadAllText(modelPath),
                ["pot.mliap.descriptor"] = File.ReadAllText(descriptorPath),
            }, name);

    private static void AssertClose(string what, LammpsReference lmp, CalculatorResult mine) => lmp.AssertMatches(what, mine);

    private static readonly Matrix3 Tilt = new(0.02, 0.04, -0.03, 0.01, -0.015, 0.05, 0.03, -0.02, 0.03);

    private static Potential RandomNetwork(Activation activation, bool twoElements, int seed, int[]? hidden = null)
    {
        var rng = new Random(seed);
        string[] elements = twoElements ? ["Si", "Ge"] : ["Si"];
        var spec = new DescriptorSpec("so4", new Dictionary<string, string>
        {
            ["twojmax"] = "4", ["rcutfac"] = "4.7", ["rfac0"] = "0.99363", ["rmin0"] = "0.1",
            ["switchflag"] = "1", ["bzeroflag"] = "1", ["quadraticflag"] = "0", ["wself"] = "1",
            ["elements"] = string.Join(",", elements), ["radelem"] = twoElements ? "0.5,0.55" : "0.5", ["wj"] = twoElements ? "1,0.8" : "1",
        });
        var d = spec.Create(elements);
        int k = d.FeatureCount;
        var z = elements.Select(e => Elements.Number(e)).ToArray();
        var nets = z.Select(_ =>
        {
            var net = Mlp.Create(k, hidden ?? [6, 4], activation, rng);
            foreach (var l in net.Layers) for (int o = 0; o < l.Out; o++) l.Bias[o] = 0.4 * (rng.NextDouble() - 0.5);
            return net;
        }).ToArray();
        var offsets = z.Select(_ => -4 + rng.NextDouble()).ToArray();
        var mean = Enumerable.Range(0, k).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
        var scale = Enumerable.Range(0, k).Select(_ => 0.3 + rng.NextDouble() * 3).ToArray();
        return new Potential(d, new NeuralNetworkModel(z, k, nets, offsets, mean, scale), spec);
    }

    private static Structure Cell(bool twoElements)
    {
        var s = Crystals.Rattle(Crystals.Deform(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 1, 1), Tilt), 0.15, seed: 7);
        if (twoElements) for (int i = 1; i < s.Count; i += 3) s.AtomicNumbers[i] = Elements.Number("Ge");
        return s;
    }

    [Theory]
    [InlineData(Activation.Tanh, false)]
    [InlineData(Activation.Sigmoid, false)]
    [InlineData(Activation.Relu, false)]
    [InlineData(Activation.Tanh, true)]
    [InlineData(Activation.Sigmoid, true)]
    public void ExportedNetworkEqualsLammps(Activation activation, bool twoElements)
    {
        Lammps.RequireExecutable();
        var pot = RandomNetwork(activation, twoElements, 100 + (int)activation * 2 + (twoElements ? 1 : 0));
        string tag = $"{activation}-{twoElements}";
        string dir = Path.Combine(TestPaths.TempDir(), $"mliap-export-{tag}");
        var paths = Mliap.Write(pot, dir, "exp");
        var s = Cell(twoElements);
        string[] species = twoElements ? ["Si", "Ge"] : ["Si"];
        AssertClose($"nn {tag}", RunLammps(s, species, paths[0], paths[1], $"mliap-export-run-{tag}"), pot.Calculate(s));
        Assert.Contains("pair_style      mliap model nn exp.mliap.model descriptor sna exp.mliap.descriptor", File.ReadAllText(paths[2]));
    }

    [Fact]
    public void OneHiddenLayerAndNoHiddenLayerEqualLammps()
    {
        Lammps.RequireExecutable();
        foreach (var hidden in new[] { new[] { 5 }, Array.Empty<int>() })
        {
            var pot = RandomNetwork(Activation.Tanh, false, 300 + hidden.Length, hidden);
            string tag = $"h{hidden.Length}";
            var paths = Mliap.Write(pot, Path.Combine(TestPaths.TempDir(), $"mliap-export-{tag}"), "exp");
            var s = Cell(false);
            AssertClose($"nn {tag}", RunLammps(s, ["Si"], paths[0], paths[1], $"mliap-export-run-{tag}"), pot.Calculate(s));
        }
    }

    [Fact]
    public void CliExportWritesMliapForNetworks()
    {
        var pot = RandomNetwork(Activation.Tanh, true, 7);
        string dir = Path.Combine(TestPaths.TempDir(), "cli-mliap-export");
        Directory.CreateDirectory(dir);
        string model = Path.Combine(dir, "model.json");
        ModelFile.Save(model, pot);
        var o = new StringWriter(); var e = new StringWriter();
        Assert.Equal(0, Mlip.Cli.Program.Run(["export", "lammps", model, "-o", Path.Combine(dir, "out"), "--name", "nn"], o, e));
        Assert.True(File.Exists(Path.Combine(dir, "out", "nn.mliap.model")), o + e.ToString());
        Assert.True(File.Exists(Path.Combine(dir, "out", "nn.mliap.descriptor")));
        Assert.Contains("pair_style      mliap", File.ReadAllText(Path.Combine(dir, "out", "in.lammps")));
        Assert.False(File.Exists(Path.Combine(dir, "out", "nn.snapcoeff")));
    }

    [Theory]
    [InlineData(Activation.Softplus)]
    [InlineData(Activation.Silu)]
    public void UnsupportedActivationsAreRefused(Activation activation)
    {
        var pot = RandomNetwork(activation, false, 1);
        var ex = Assert.Throws<Mlip.Validation.MlipException>(() => Mliap.Export(pot));
        Assert.Contains(activation.ToString().ToLowerInvariant(), ex.Message);
        Assert.Contains("tanh, sigmoid, relu and linear", ex.Message);
    }

    [Fact]
    public void OtherDescriptorsAreRefused()
    {
        var spec = new DescriptorSpec("acsf", new Dictionary<string, string> { ["rc"] = "5" });
        var d = spec.Create(["Si"]);
        var nn = new NeuralNetworkModel([14], d.FeatureCount, [Mlp.Create(d.FeatureCount, [3], Activation.Tanh, new Random(1))], [0.0],
            new double[d.FeatureCount], Enumerable.Repeat(1.0, d.FeatureCount).ToArray());
        var ex = Assert.Throws<Mlip.Validation.MlipException>(() => Mliap.Export(new Potential(d, nn, spec)));
        Assert.Contains("so4", ex.Message);
    }

    [Fact]
    public void CliExportFormatOptionAndErrors()
    {
        string dir = Path.Combine(TestPaths.TempDir(), "cli-mliap-format");
        Directory.CreateDirectory(dir);
        string model = Path.Combine(dir, "model.json");
        ModelFile.Save(model, RandomNetwork(Activation.Tanh, false, 9));
        var o = new StringWriter(); var e = new StringWriter();
        Assert.NotEqual(0, Mlip.Cli.Program.Run(["export", "lammps", model, "-o", Path.Combine(dir, "snap"), "--format", "snap"], o, e));
        Assert.StartsWith("mlip: error:", e.ToString());
        Assert.Contains("pair_style mliap", e.ToString());
        Assert.False(Directory.Exists(Path.Combine(dir, "snap")) && Directory.EnumerateFiles(Path.Combine(dir, "snap")).Any());

        // a .mliap snippet naming a missing model file: one clear error naming the file
        File.WriteAllText(Path.Combine(dir, "x.mliap"), "pair_style mliap model nn gone.mliap.model descriptor sna gone.mliap.descriptor\npair_coeff * * Si\n");
        var ex = Assert.Throws<Mlip.Validation.MlipException>(() => ModelFile.Load(Path.Combine(dir, "x.mliap")));
        Assert.Contains("gone.mliap.model", ex.Message);
    }

    [Fact]
    public void QuadraticBispectrumFeaturesAreRefusedForMliap()
    {
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "2", ["rcutfac"] = "4.7", ["quadraticflag"] = "1", ["elements"] = "Si" });
        var d = spec.Create(["Si"]);
        var poly = new PolynomialModel(1, [14], d.FeatureCount, [new double[1 + d.FeatureCount]]);
        var ex = Assert.Throws<Mlip.Validation.MlipException>(() => Mliap.Export(new Potential(d, poly, spec)));
        Assert.Contains("quadraticflag", ex.Message);
    }
}
