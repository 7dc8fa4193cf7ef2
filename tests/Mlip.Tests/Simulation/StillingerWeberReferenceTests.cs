using System.Diagnostics;
using System.Globalization;
using System.Text;
using Mlip.Calculators;
using Mlip.IO;
using Mlip.Simulation;
using Mlip.Structures;
using Mlip.Tests.Support;
using Xunit.Abstractions;

namespace Mlip.Tests.Simulation;

/// <summary>
/// Acceptance tests for Stillinger–Weber silicon as a whole simulation stack: the relaxed lattice
/// constant and the elastic constants against LAMMPS's <c>pair_style sw</c> (same parameters, same
/// strains, internal positions relaxed in both), and energy conservation of NVE velocity Verlet.
/// </summary>
public sealed class StillingerWeberReferenceTests(ITestOutputHelper output)
{
    // LAMMPS's metal-unit pressure factor (force->nktv2p): eV/Å³ in bar.
    private const double Strain = 0.005;

    private static string F(double x) => x.ToString("R", CultureInfo.InvariantCulture);

    private static Dictionary<string, string> SwFiles() => new() { ["Si.sw"] = StillingerWeber.SiliconFile };

    private const string Header = """
        units           metal
        atom_style      atomic
        atom_modify     map array
        boundary        p p p
        """;

    private const string Pair = """
        pair_style      sw
        pair_coeff      * * Si.sw Si
        neighbor        1.0 bin
        """;

    private static RelaxOptions TightIsotropic => new()
    {
        Algorithm = RelaxAlgorithm.Lbfgs, Cell = CellRelaxation.Isotropic, Fmax = 1e-6, Smax = 1e-6, MaxSteps = 5000,
    };

    /// <summary>LAMMPS's zero-pressure lattice constant of the 8-atom cell started at <paramref name="a0"/>.</summary>
    private static double LammpsLatticeConstant(double a0)
    {
        var (data, _) = Lammps.DataFile(Crystals.Diamond("Si", a0), ["Si"]);
        var files = SwFiles(); files["data.lmp"] = data;
        string input = $"""
            {Header}
            read_data       data.lmp
            {Pair}
            thermo_style    custom step pe lx press
            fix             relax all box/relax iso 0.0
            minimize        0 1e-12 10000 100000
            unfix           relax
            minimize        0 1e-12 10000 100000
            print           "RESULT lx $(lx:%.12g) pe $(pe:%.12g) press $(press:%.12g)"
            """;
        var r = Lammps.Run(input, files, Path.Combine(TestPaths.TempDir(), "sw-a0")).Results();
        return r["lx"];
    }

    [Fact]
    public void LatticeConstantEqualsLammps()
    {
        var calc = StillingerWeber.Silicon();
        var relaxed = Relaxation.Relax(calc, Crystals.Diamond("Si", 5.45), TightIsotropic);
        Assert.True(relaxed.Converged, $"Mlip relaxation did not converge (fmax {relaxed.Fmax:E2}, smax {relaxed.Smax:E2})");
        double mine = relaxed.Structure.Cell.Row(0).Norm;
        double lmp = LammpsLatticeConstant(5.45);
        output.WriteLine($"a0: Mlip {mine:F8} Å, LAMMPS {lmp:F8} Å, difference {mine - lmp:E2} Å");
        Assert.InRange(mine, 5.42, 5.44); // SW silicon: 5.431 Å
        Assert.True(Math.Abs(mine - lmp) <= 1e-4, $"a0: Mlip {mine:R} Å, LAMMPS {lmp:R} Å");
    }

    [Fact]
    public void ElasticConstantsEqualLammps()
    {
        var calc = StillingerWeber.Silicon();
        var reference = Relaxation.Relax(calc, Crystals.Diamond("Si", 5.45), TightIsotropic).Structure;
        var mine = ElasticConstants.Compute(calc, reference, new ElasticOptions { Strains = [Strain] });
        double mineB = (mine.C11 + 2 * mine.C12) / 3;

        // LAMMPS: the same strained cells (±0.5 % xx, ±0.5 % engineering yz), internal positions
        // minimized at fixed box, stress σ = −p read back through LAMMPS's own unit factor.
        var files = SwFiles();
        var boxes = new Dictionary<string, LammpsBox>();
        var script = new StringBuilder();
        foreach (var (name, j, e) in new[] { ("xp", 0, Strain), ("xm", 0, -Strain), ("sp", 3, Strain), ("sm", 3, -Strain) })
        {
            var (data, box) = Lammps.DataFile(Crystals.Deform(reference, ElasticConstants.VoigtStrain(j, e)), ["Si"]);
            files[$"{name}.lmp"] = data;
            boxes[name] = box;
            script.AppendLine(CultureInfo.InvariantCulture, $"""
                clear
                {Header}
                read_data       {name}.lmp
                {Pair}
                thermo_style    custom step pe pxx pyy pzz pxy pxz pyz
                minimize        0 1e-14 10000 100000
                print           "RESULT {name}_pxx $(pxx:%.17g) {name}_pyy $(pyy:%.17g) {name}_pzz $(pzz:%.17g)"
                print           "RESULT {name}_pxy $(pxy:%.17g) {name}_pxz $(pxz:%.17g) {name}_pyz $(pyz:%.17g)"
                """);
        }
        var r = Lammps.Run(script.ToString(), files, Path.Combine(TestPaths.TempDir(), "sw-elastic")).Results();
        double[] Sigma(string n)
        {
            var p = new Matrix3(r[n + "_pxx"], r[n + "_pxy"], r[n + "_pxz"], r[n + "_pxy"], r[n + "_pyy"], r[n + "_pyz"], r[n + "_pxz"], r[n + "_pyz"], r[n + "_pzz"]);
            return Stress.FromEvPerCubicAngstrom((-1.0 / LammpsReference.Nktv2p) * boxes[n].FromLammps(p)).ToVoigt(); // GPa
        }
        var (xp, xm, sp, sm) = (Sigma("xp"), Sigma("xm"), Sigma("sp"), Sigma("sm"));
        double c11 = (xp[0] - xm[0]) / (2 * Strain);
        double c12 = 0.5 * ((xp[1] - xm[1]) + (xp[2] - xm[2])) / (2 * Strain);
        double c44 = (sp[3] - sm[3]) / (2 * Strain);
        double b = (c11 + 2 * c12) / 3;

        output.WriteLine($"C11: Mlip {mine.C11:F4} GPa, LAMMPS {c11:F4} GPa");
        output.WriteLine($"C12: Mlip {mine.C12:F4} GPa, LAMMPS {c12:F4} GPa");
        output.WriteLine($"C44: Mlip {mine.C44:F4} GPa, LAMMPS {c44:F4} GPa");
        output.WriteLine($"B:   Mlip {mineB:F4} GPa, LAMMPS {b:F4} GPa");
        Assert.InRange(mine.C11, 140, 170); // SW Si: C11 ≈ 151, C12 ≈ 76, C44 ≈ 56 GPa
        foreach (var (what, m, l) in new[] { ("C11", mine.C11, c11), ("C12", mine.C12, c12), ("C44", mine.C44, c44), ("B", mineB, b) })
            Assert.True(Math.Abs(m - l) <= 0.01 * Math.Abs(l), $"{what}: Mlip {m:F4} GPa, LAMMPS {l:F4} GPa");
    }

    [Fact]
    public void NveEnergyIsConserved()
    {
        const int Steps = 10_000; // 10 ps at 1 fs
        var calc = StillingerWeber.Silicon();
        var state = new MdState(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 4, 4, 4));
        Assert.Equal(512, state.Count);
        MaxwellBoltzmann.Initialize(state, 1000, seed: 42);
        var verlet = new VelocityVerlet(calc, 1.0);
        var stats = new MdStatistics(verlet);
        var md = new MolecularDynamics(verlet, state) { Observer = stats.Observe };
        var clock = Stopwatch.StartNew();
        md.Run(Steps);
        clock.Stop();
        double drift = stats.DriftPerAtomPerPs;
        output.WriteLine($"{Steps} steps ({Steps / 1000.0} ps) of 512 atoms in {clock.Elapsed.TotalSeconds:F1} s; " +
            $"mean T {stats.MeanTemperature:F1} K; E_tot {stats.InitialConservedEnergy:F6} → {stats.FinalConservedEnergy:F6} eV; drift {drift:E3} eV/atom/ps");
        Assert.InRange(stats.MeanTemperature, 300, 1000); // equipartition: about half of 1000 K
        Assert.True(Math.Abs(drift) < 1e-4, $"energy drift {drift:E3} eV/atom/ps");
    }
}
