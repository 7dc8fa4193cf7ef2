using Mlip.Calculators;
using Mlip.Descriptors.Ace;
using Mlip.IO;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Structures;
using Mlip.Tests.Support;
using Mlip.Training;
using Xunit.Abstractions;

namespace Mlip.Tests.Interop;

/// <summary>
/// The PACE files Mlip writes, run by LAMMPS's own <c>pair_style pace</c> (ML-PACE with the PACE library v.2021.4.9 of
/// Debian's LAMMPS 20220106, built by scripts/build-lammps.sh; that library reads the plain .ace format, not .yace,
/// and the ChebExpCos and ChebPow radial bases). Small ACE potentials are fitted (linear: one element on mlearn Si with
/// ChebExpCos, two elements on Lennard-Jones-labelled Cu/Ni cells with ChebPow; and an FS embedding with two
/// densities), exported with <c>mlip export lammps --format pace-ace</c> (and <c>--format pace</c>, .yace), and run
/// by LAMMPS with <c>pair_style pace product</c> and <c>recursive</c> on rattled triclinic cells: energy, every force
/// and the stress equal Mlip's to 1e-10 relative. The .yace written from the same model is the same potential for
/// Mlip, bit for bit; LAMMPS checks the .ace (docs/ace.md).
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads] // the FS case fits an embedding with libtorch
public class PaceLammpsTests(ITestOutputHelper output)
{
    private const double Tol = 1e-10;

    private static Structure Triclinic(Structure s, int seed, double rattle)
    {
        s = Crystals.Deform(s, new Matrix3(0.03, 0.02, -0.01, 0.02, -0.02, 0.015, -0.01, 0.015, 0.01));
        return Crystals.Rattle(s, rattle, seed);
    }

    private static List<Structure> SiliconCells() =>
    [
        Triclinic(Crystals.Supercell(Crystals.Diamond("Si", 5.43), 2, 1, 1), 1, 0.12),
        Triclinic(Crystals.Supercell(PhononTestsAccess.PrimitiveSilicon(5.5), 2, 2, 2), 2, 0.2),
        Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.45), 2, 2, 2), 0.1, 5), // 64 atoms, cubic
    ];

    private static List<Structure> CuNiCells()
    {
        var a = Triclinic(Crystals.Supercell(Crystals.Fcc("Cu", 3.58), 2, 1, 1), 3, 0.1);
        var b = Triclinic(Crystals.Supercell(Crystals.Fcc("Cu", 3.62), 1, 2, 2), 4, 0.15);
        foreach (var s in new[] { a, b }) for (int i = 0; i < s.Count; i += 2) s.AtomicNumbers[i] = 28;
        return [a, b];
    }

    /// <summary>Exports with the CLI; returns the paths of the .ace and .yace.</summary>
    private static (string Ace, string Yace, string Model) Export(Potential pot, string dir, string name)
    {
        string model = Path.Combine(dir, AcePotential.BasisOf(pot) is null ? "model.json" : "model.yace");
        ModelFile.Save(model, pot);
        string ace = Path.Combine(dir, "ace"), yace = Path.Combine(dir, "yace");
        foreach (var (format, outDir) in new[] { ("pace-ace", ace), ("pace", yace) })
        {
            var (code, stdout, stderr) = Mlip.Tests.Cli.CliTests.Run("export", "lammps", model, "--format", format, "-o", outDir, "--name", name);
            Assert.True(code == 0, stdout + stderr);
        }
        return (Path.Combine(ace, name + ".ace"), Path.Combine(yace, name + ".yace"), model);
    }

    private static double MaxRelative(CalculatorResult a, CalculatorResult b, out double de, out double df, out double ds)
    {
        de = Math.Abs(a.Energy - b.Energy) / Math.Abs(b.Energy);
        double fmax = b.Forces!.Max(f => f.Norm);
        df = 0;
        for (int i = 0; i < b.Forces!.Length; i++) df = Math.Max(df, (a.Forces![i] - b.Forces[i]).Norm / fmax);
        var x = a.Stress!.Value.ToVoigt(); var y = b.Stress!.Value.ToVoigt();
        double smax = y.Max(Math.Abs);
        ds = 0;
        for (int q = 0; q < 6; q++) ds = Math.Max(ds, Math.Abs(x[q] - y[q]) / smax);
        return Math.Max(de, Math.Max(df, ds));
    }

    /// <summary>
    /// <paramref name="mlip"/> (the model as Mlip evaluates it) against LAMMPS on the .ace with both evaluators, and
    /// the .ace and .yace as Mlip loads them.
    /// </summary>
    private void Check(string tag, Potential mlip, IReadOnlyList<Structure> cells, string[] species, bool lammps = true)
    {
        if (lammps) Lammps.RequireExecutable();
        string dir = TestPaths.TempDir();
        var (ace, yace, modelFile) = Export(mlip, dir, tag);
        var reloaded = ModelFile.Load(modelFile); // what `mlip predict -m model.json` evaluates
        string aceName = Path.GetFileName(ace);
        var files = new Dictionary<string, string> { [aceName] = File.ReadAllText(ace) };
        foreach (var style in new[] { "product", "recursive" })
        {
            var kind = AcePotential.ParseEvaluator(style);
            var fromAce = AcePotential.Load(ace, kind);
            var fromYace = AcePotential.Load(yace, kind);
            for (int c = 0; c < cells.Count; c++)
            {
                var s = cells[c];
                var mine = mlip.Calculate(s);
                var back = reloaded.Calculate(s);
                var a = fromAce.Calculate(s);
                var y = fromYace.Calculate(s);
                // the .yace is the same potential to the bit
                Assert.Equal(a.Energy, y.Energy);
                Assert.Equal(a.Forces, y.Forces);
                Assert.Equal(a.Stress!.Value.ToVoigt(), y.Stress!.Value.ToVoigt());
                if (!lammps)
                {
                    double worst = Math.Max(MaxRelative(mine, a, out _, out _, out _), MaxRelative(back, a, out _, out _, out _));
                    output.WriteLine($"{tag} {style} cell {c} ({s.Count} atoms): the model, the saved model and the .ace/.yace in Mlip agree to {worst:E1} relative (E model {mine.Energy:R}, saved {back.Energy:R}, .ace {a.Energy:R})");
                    Assert.True(worst <= Tol, $"{tag}: the written .ace is not the model ({worst:E2})");
                    continue;
                }
                var lmp = LammpsReference.Run(s, species, $"pair_style pace {style}\npair_coeff * * {aceName} {string.Join(' ', species)}", files, $"pace-{tag}-{style}-{c}");
                var reference = new CalculatorResult(lmp.Energy, lmp.Forces, lmp.Stress);
                double m1 = MaxRelative(mine, reference, out double e1, out double f1, out double s1);
                double m2 = MaxRelative(a, reference, out double e2, out double f2, out double s2);
                output.WriteLine($"{tag} {style} cell {c} ({s.Count} atoms): E LAMMPS {lmp.Energy:R} Mlip {mine.Energy:R} (.ace in Mlip {a.Energy:R}); " +
                                 $"relative to LAMMPS: model E {e1:E1} F {f1:E1} S {s1:E1}; .ace E {e2:E1} F {f2:E1} S {s2:E1}");
                lmp.AssertMatches($"{tag} {style} cell {c}: the model in Mlip vs the .ace in LAMMPS", mine, Tol);
                lmp.AssertMatches($"{tag} {style} cell {c}: the saved model reloaded by Mlip vs the .ace in LAMMPS", back, Tol);
                lmp.AssertMatches($"{tag} {style} cell {c}: the .ace in Mlip vs the .ace in LAMMPS", a, Tol);
                _ = m1 + m2;
            }
        }
    }

    private static AceBasisDescriptor Basis(DescriptorSpec spec, string[] elements) => (AceBasisDescriptor)spec.Create(elements);

    private static (Potential Linear, AceBasisDescriptor D, DescriptorSpec Spec, List<Structure> Data) FitLinear(string[] elements, Dictionary<string, string> parameters, List<Structure> data)
    {
        var spec = new DescriptorSpec("ace", parameters);
        // species in atomic-number order, as `mlip train` gives them: a model file does not record the descriptor's own
        // order when it differs from the model's (Ni before Cu), so a descriptor made with ["Cu", "Ni"] and saved
        // reloads as a different potential (reported; ModelFile is outside this test's scope)
        var d = Basis(spec, [.. elements.OrderBy(e => Elements.Number(e))]);
        var (model, _) = AceLinearFit.Fit(d, data, new AceLinearFitOptions { Weights = new LossWeights { Energy = 1, Force = 0.1 }, Ridge = 1e-6, Threads = 2 },
            LeastSquaresSolvers.ByName("default", 2));
        return (new Potential(d, model, spec), d, spec, data);
    }

    private static List<Structure> SiliconData() =>
        StructureIO.Read(TestPaths.Shared("mlearn", "Si", "training.json")).Where((_, i) => i % 12 == 0).ToList();

    private static List<Structure> CuNiData()
    {
        var lj = ClassicalPotentials.Parse("lj:0.2,2.3,4.5");
        var data = new List<Structure>();
        for (int q = 0; q < 16; q++)
        {
            var s = Mlip.Tests.Descriptors.DescriptorTestKit.RandomCell(60 + q, ["Cu", "Ni"], atoms: 6, minDistance: 2.1, length: 4.6 + 0.05 * q);
            var r = lj.Calculate(s);
            s.Energy = r.Energy; s.Forces = r.Forces;
            data.Add(s);
        }
        return data;
    }

    private static readonly Dictionary<string, string> SiliconParameters = new()
    {
        ["rc"] = "5.0", ["order"] = "4", ["nmax"] = "10,6,3,2", ["lmax"] = "0,4,3,2", ["radial"] = "ChebExpCos", ["lambda"] = "3",
    };

    private static readonly Dictionary<string, string> SmallSiliconParameters = new()
    {
        ["rc"] = "4.8", ["order"] = "3", ["nmax"] = "6,3,2", ["lmax"] = "0,2,1", ["radial"] = "ChebPow", ["lambda"] = "2",
    };

    private static readonly Dictionary<string, string> CuNiParameters = new()
    {
        ["rc"] = "4.5", ["order"] = "3", ["nmax"] = "4,3,2", ["lmax"] = "0,2,1", ["radial"] = "ChebPow", ["lambda"] = "2",
    };

    private static Potential FitFs(string[] elements, Dictionary<string, string> parameters, List<Structure> data)
    {
        var (linear, d, _, _) = FitLinear(elements, parameters, data);
        var fit = new AceEmbeddingFit(d, data, (PolynomialModel)linear.Model,
            new AceEmbeddingFitOptions { Weights = new LossWeights { Energy = 1, Force = 0.1 }, Iterations = 3, Threads = 1, Seed = 3 });
        fit.Run();
        var basis = fit.ToCTilde();
        Assert.Equal(2, basis.NDensityMax);
        return AcePotential.Create(basis);
    }

    /// <summary>327 functions up to rank 4, lmax 4, ChebExpCos (the basis of examples/si-ace-300.yaml with ChebExpCos).</summary>
    [Fact]
    public void LinearSiliconAceWithChebExpCosEqualsLammps() =>
        Check("si-linear", FitLinear(["Si"], SiliconParameters, SiliconData()).Linear, SiliconCells(), ["Si"]);

    [Fact]
    public void LinearSiliconAceWithChebPowEqualsLammps() =>
        Check("si-linear-chebpow", FitLinear(["Si"], SmallSiliconParameters, SiliconData()).Linear, SiliconCells(), ["Si"]);

    /// <summary>An FS embedding with two densities (FinnisSinclairShiftedScaled), fitted from the linear start by a few Levenberg–Marquardt steps.</summary>
    [Fact]
    public void FsEmbeddingSiliconAceWithTwoDensitiesEqualsLammps() =>
        Check("si-fs", FitFs(["Si"], SmallSiliconParameters, SiliconData()), SiliconCells(), ["Si"]);

    /// <summary>
    /// Two elements: LAMMPS's PACE library v.2021.4.9 evaluates one species only (ACERecursiveEvaluator::acejlformat,
    /// used by both pair_style pace product and recursive, reads the functions of species 0 with "maxmu = 0; //TODO:
    /// multispecies" and crashes with a segmentation fault on a two-element file). So here the .ace and .yace are checked
    /// against the model in Mlip only; docs/ace.md says so.
    /// </summary>
    [Fact]
    public void TwoElementAceFilesAreTheModel()
    {
        Check("cuni-linear", FitLinear(["Cu", "Ni"], CuNiParameters, CuNiData()).Linear, CuNiCells(), ["Cu", "Ni"], lammps: false);
        Check("cuni-fs", FitFs(["Cu", "Ni"], CuNiParameters, CuNiData()), CuNiCells(), ["Cu", "Ni"], lammps: false);
    }
}

/// <summary>Access to the primitive Si cell of the phonon tests.</summary>
internal static class PhononTestsAccess
{
    public static Structure PrimitiveSilicon(double a) => Mlip.Tests.Simulation.PhononTests.PrimitiveSilicon(a);
}
