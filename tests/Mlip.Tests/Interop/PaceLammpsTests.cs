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
    ];

    private static List<Structure> CuNiCells()
    {
        var a = Triclinic(Crystals.Supercell(Crystals.Fcc("Cu", 3.58), 2, 1, 1), 3, 0.1);
        var b = Triclinic(Crystals.Supercell(Crystals.Fcc("Cu", 3.62), 1, 2, 2), 4, 0.15);
        foreach (var s in new[] { a, b }) for (int i = 0; i < s.Count; i += 2) s.AtomicNumbers[i] = 28;
        return [a, b];
    }

    /// <summary>Exports with the CLI; returns the paths of the .ace and .yace.</summary>
    private static (string Ace, string Yace) Export(Potential pot, string dir, string name)
    {
        string model = Path.Combine(dir, "model.json");
        ModelFile.Save(model, pot);
        string ace = Path.Combine(dir, "ace"), yace = Path.Combine(dir, "yace");
        foreach (var (format, outDir) in new[] { ("pace-ace", ace), ("pace", yace) })
        {
            var (code, stdout, stderr) = Mlip.Tests.Cli.CliTests.Run("export", "lammps", model, "--format", format, "-o", outDir, "--name", name);
            Assert.True(code == 0, stdout + stderr);
        }
        return (Path.Combine(ace, name + ".ace"), Path.Combine(yace, name + ".yace"));
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
    private void Check(string tag, Potential mlip, IReadOnlyList<Structure> cells, string[] species)
    {
        Lammps.RequireExecutable();
        string dir = TestPaths.TempDir();
        var (ace, yace) = Export(mlip, dir, tag);
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
                var lmp = LammpsReference.Run(s, species, $"pair_style pace {style}\npair_coeff * * {aceName} {string.Join(' ', species)}", files, $"pace-{tag}-{style}-{c}");
                var reference = new CalculatorResult(lmp.Energy, lmp.Forces, lmp.Stress);
                var mine = mlip.Calculate(s);
                var a = fromAce.Calculate(s);
                var y = fromYace.Calculate(s);
                double m1 = MaxRelative(mine, reference, out double e1, out double f1, out double s1);
                double m2 = MaxRelative(a, reference, out double e2, out double f2, out double s2);
                output.WriteLine($"{tag} {style} cell {c} ({s.Count} atoms): E LAMMPS {lmp.Energy:R} Mlip {mine.Energy:R} (.ace in Mlip {a.Energy:R}); " +
                                 $"relative to LAMMPS: model E {e1:E1} F {f1:E1} S {s1:E1}; .ace E {e2:E1} F {f2:E1} S {s2:E1}");
                lmp.AssertMatches($"{tag} {style} cell {c}: the model in Mlip vs the .ace in LAMMPS", mine, Tol);
                lmp.AssertMatches($"{tag} {style} cell {c}: the .ace in Mlip vs the .ace in LAMMPS", a, Tol);
                // the .yace is the same potential to the bit
                Assert.Equal(a.Energy, y.Energy);
                Assert.Equal(a.Forces, y.Forces);
                Assert.Equal(a.Stress!.Value.ToVoigt(), y.Stress!.Value.ToVoigt());
                _ = m1 + m2;
            }
        }
    }

    private static AceBasisDescriptor Basis(DescriptorSpec spec, string[] elements) => (AceBasisDescriptor)spec.Create(elements);

    private static (Potential Linear, AceBasisDescriptor D, DescriptorSpec Spec, List<Structure> Data) FitLinear(string[] elements, Dictionary<string, string> parameters, List<Structure> data)
    {
        var spec = new DescriptorSpec("ace", parameters);
        var d = Basis(spec, elements);
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
        ["rc"] = "5.0", ["order"] = "3", ["nmax"] = "6,3,2", ["lmax"] = "0,2,1", ["radial"] = "ChebExpCos", ["lambda"] = "3",
    };

    private static readonly Dictionary<string, string> CuNiParameters = new()
    {
        ["rc"] = "4.5", ["order"] = "3", ["nmax"] = "4,3,2", ["lmax"] = "0,2,1", ["radial"] = "ChebPow", ["lambda"] = "2",
    };

    [Fact]
    public void LinearSiliconAceWithChebExpCosEqualsLammps() =>
        Check("si-linear", FitLinear(["Si"], SiliconParameters, SiliconData()).Linear, SiliconCells(), ["Si"]);

    [Fact]
    public void LinearCuNiAceWithChebPowEqualsLammps() =>
        Check("cuni-linear", FitLinear(["Cu", "Ni"], CuNiParameters, CuNiData()).Linear, CuNiCells(), ["Cu", "Ni"]);

    /// <summary>An FS embedding with two densities (FinnisSinclairShiftedScaled), fitted from the linear start by a few Levenberg–Marquardt steps.</summary>
    [Fact]
    public void FsEmbeddingCuNiAceWithTwoDensitiesEqualsLammps()
    {
        var (linear, d, _, data) = FitLinear(["Cu", "Ni"], CuNiParameters, CuNiData());
        var fit = new AceEmbeddingFit(d, data, (PolynomialModel)linear.Model,
            new AceEmbeddingFitOptions { Weights = new LossWeights { Energy = 1, Force = 0.1 }, Iterations = 4, Threads = 1, Seed = 3 });
        fit.Run();
        var basis = fit.ToCTilde();
        Assert.Equal(2, basis.NDensityMax);
        Check("cuni-fs", AcePotential.Create(basis), CuNiCells(), ["Cu", "Ni"]);
    }
}

/// <summary>Access to the primitive Si cell of the phonon tests.</summary>
internal static class PhononTestsAccess
{
    public static Structure PrimitiveSilicon(double a) => Mlip.Tests.Simulation.PhononTests.PrimitiveSilicon(a);
}
