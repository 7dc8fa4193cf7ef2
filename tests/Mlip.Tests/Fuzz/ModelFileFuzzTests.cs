using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Descriptors.Ace;
using Mlip.Interop;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Structures;
using Mlip.Tests.Models;
using Mlip.Tests.Models.Ace;
using Mlip.Tests.Pinn;
using Xunit.Abstractions;

namespace Mlip.Tests.Fuzz;

/// <summary>
/// One model-file format under fuzz: the seed text, the name the mutant is written under, the files
/// written beside it unchanged (the other half of a SNAP or ML-IAP pair), and the structure it is
/// evaluated on when the mutant is accepted.
/// </summary>
public sealed record ModelFuzzTarget(string Format, string FileName, bool Json, string Text, IReadOnlyDictionary<string, string> Companions, Structure Structure)
{
    public FuzzReport Run(int count, int seed, TimeSpan hangGuard) =>
        FuzzRunner.Run(Format, FileName,
            Enumerable.Range(0, count).Select(id => (id, Mutator.Mutant(Text, seed, id, Json))),
            ReadAndUse, hangGuard, seed);

    /// <summary>What predict / test / md do with a model file: load it and evaluate one structure; a non-finite result is a bug.</summary>
    public void ReadAndUse(string path)
    {
        string dir = Path.GetDirectoryName(path)!;
        foreach (var (name, text) in Companions) File.WriteAllText(Path.Combine(dir, name), text);
        var p = ModelFile.Load(path);
        var r = p.Calculate(Structure, forces: true, stress: false);
        if (!double.IsFinite(r.Energy)) throw new InvalidOperationException($"non-finite energy {r.Energy} accepted");
        foreach (var f in r.Forces!)
            if (!double.IsFinite(f.X) || !double.IsFinite(f.Y) || !double.IsFinite(f.Z)) throw new InvalidOperationException($"non-finite force {f} accepted");
    }
}

/// <summary>
/// Small real model files of every kind Mlip reads, written by Mlip's own writers: model.json (linear
/// SO(4), network on SO(3), quadratic on ACSF, PINN), .snapcoeff/.snapparam, .mliap.model/.mliap.descriptor,
/// .ace/.yace (a small synthetic two-element basis), .pinn. Each is evaluated on a small cluster (no
/// periodic images: a large but legal cut-off costs nothing).
/// </summary>
public static class ModelFuzzTargets
{
    /// <summary>Four atoms of the given elements, 2.3-2.6 Å apart, no cell.</summary>
    public static Structure Cluster(params string[] elements)
    {
        Vec3[] pos = [new(0, 0, 0), new(2.35, 0, 0), new(1.2, 2.05, 0), new(1.15, 0.7, 2.0)];
        int[] z = [.. Enumerable.Range(0, 4).Select(i => Elements.Number(elements[i % elements.Length]))];
        return new Structure(Matrix3.Zero, pos, z, PeriodicFlags.None);
    }

    public static IReadOnlyList<ModelFuzzTarget> All()
    {
        string dir = TestPaths.TempDir();
        var si = Cluster("Si");
        var none = new Dictionary<string, string>();
        string Json(Potential p, string name)
        {
            string path = Path.Combine(dir, name);
            ModelFile.Save(path, p);
            return File.ReadAllText(path);
        }

        // linear on SO(4) (also the SNAP pair)
        var so4 = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "2", ["rcutfac"] = "4.7", ["rmin0"] = "0.1" });
        var d4 = so4.Create(["Si"]);
        var linear = new Potential(d4, PolynomialModelTests.RandomModel(1, [14], d4.FeatureCount, 5), so4);
        // network on SO(3)
        var so3 = new DescriptorSpec("so3", new Dictionary<string, string> { ["nmax"] = "2", ["lmax"] = "2", ["rcutfac"] = "4.5" });
        var d3 = so3.Create(["Si"]);
        var rng = new Random(4);
        var nn = new Potential(d3, new NeuralNetworkModel([14], d3.FeatureCount, [Mlp.Create(d3.FeatureCount, [3], Activation.Tanh, rng)], [-4.0],
            new double[d3.FeatureCount], [.. Enumerable.Repeat(1.5, d3.FeatureCount)]), so3);
        // quadratic on ACSF, two elements
        var acsf = new DescriptorSpec("acsf", new Dictionary<string, string> { ["rc"] = "4.5", ["g2_centred"] = "2", ["g4_eta"] = "0.01", ["g4_zeta"] = "1", ["g4_lambda"] = "1" });
        var da = acsf.Create(["Si", "Ge"]);
        var quad = new Potential(da, PolynomialModelTests.RandomModel(2, [14, 32], da.FeatureCount, 6), acsf);
        // PINN
        var pinn = PinnModelTests.RandomPinn(Mlip.Calculators.PinnBop.SiliconExample(), ["Si"], 11, outputScale: 0.1);

        var snap = Snap.Export(linear, "m");
        var mliap = Mliap.Export(MliapNetwork(), "m");
        var ace = SmallAce();

        return
        [
            new("json-linear-so4", "model.json", true, Json(linear, "a.json"), none, si),
            new("json-nn-so3", "model.json", true, Json(nn, "b.json"), none, si),
            new("json-quadratic-acsf", "model.json", true, Json(quad, "c.json"), none, Cluster("Si", "Ge")),
            new("json-pinn", "model.json", true, Json(pinn, "d.json"), none, si),
            new("snapcoeff", "m.snapcoeff", false, snap.Coeff, new Dictionary<string, string> { ["m.snapparam"] = snap.Param }, si),
            new("snapparam", "m.snapparam", false, snap.Param, new Dictionary<string, string> { ["m.snapcoeff"] = snap.Coeff }, si),
            new("mliap-model", "m.mliap.model", false, mliap.Model, new Dictionary<string, string> { ["m.mliap.descriptor"] = mliap.Descriptor }, si),
            new("mliap-descriptor", "m.mliap.descriptor", false, mliap.Descriptor, new Dictionary<string, string> { ["m.mliap.model"] = mliap.Model }, si),
            new("ace", "m.ace", false, AceFile.Format(ace), none, Cluster("Cu", "Ni")),
            new("yace", "m.yace", false, YaceFile.Format(ace), none, Cluster("Cu", "Ni")),
            new("pinn", "m.pinn", false, PinnFile.Text(pinn), none, si),
        ];
    }

    private static Potential MliapNetwork()
    {
        var spec = new DescriptorSpec("so4", new Dictionary<string, string>
        {
            ["twojmax"] = "2", ["rcutfac"] = "4.7", ["rfac0"] = "0.99363", ["rmin0"] = "0",
            ["switchflag"] = "1", ["bzeroflag"] = "1", ["quadraticflag"] = "0", ["wself"] = "1",
            ["elements"] = "Si", ["radelem"] = "0.5", ["wj"] = "1",
        });
        var d = spec.Create(["Si"]);
        var rng = new Random(9);
        int k = d.FeatureCount;
        return new Potential(d, new NeuralNetworkModel([14], k, [Mlp.Create(k, [3], Activation.Tanh, rng)], [-3.5],
            [.. Enumerable.Range(0, k).Select(_ => rng.NextDouble())], [.. Enumerable.Range(0, k).Select(_ => 0.5 + rng.NextDouble())]), spec);
    }

    /// <summary>A small two-element PACE basis (rank 2, few functions): a few kB as .ace or .yace.</summary>
    public static AceBasisSet SmallAce() => Mlip.Tests.Models.Ace.PaceFiniteDifferenceTests.SyntheticTwoElement(4.0, [2, 2], [0, 1]);
}

/// <summary>
/// Seeded mutants of every model-file format (issue 22): loading and evaluating each gives a typed
/// <see cref="Mlip.Validation.MlipException"/> or a finite result; no other exception, no hang, bounded
/// memory. The same 300 mutants per format every run; a failure names the case id and seed.
/// </summary>
public class ModelFileFuzzTests(ITestOutputHelper output)
{
    public const int Count = 300;
    public const int Seed = 2222;
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(20);
    private static readonly Lazy<IReadOnlyList<ModelFuzzTarget>> Targets = new(ModelFuzzTargets.All);

    public static TheoryData<string> Formats() =>
    [
        "json-linear-so4", "json-nn-so3", "json-quadratic-acsf", "json-pinn", "snapcoeff", "snapparam",
        "mliap-model", "mliap-descriptor", "ace", "yace", "pinn",
    ];

    [Theory]
    [MemberData(nameof(Formats))]
    public void MutantsGiveTypedErrorsOrFiniteResults(string format)
    {
        var target = Targets.Value.Single(t => t.Format == format);
        target.ReadAndUse(WriteUnmutated(target)); // the seed file itself loads and evaluates
        var report = target.Run(Count, Seed, HangGuard);
        output.WriteLine(report.ToString());
        foreach (var f in report.Failures) output.WriteLine(f.ToString());
        Assert.Equal(Count, report.Cases);
        Assert.True(report.Untyped == 0 && report.Hangs == 0, report.ToString() + "\n" + string.Join("\n", report.Failures));
        Assert.True(report.TypedErrors > 0, report.ToString());
    }

    private static string WriteUnmutated(ModelFuzzTarget t)
    {
        string path = Path.Combine(TestPaths.TempDir(), t.FileName);
        File.WriteAllText(path, t.Text);
        return path;
    }
}
