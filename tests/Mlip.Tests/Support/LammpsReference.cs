using Mlip.Calculators;
using Mlip.Structures;

namespace Mlip.Tests.Support;

/// <summary>Energy, forces (in the structure's frame) and stress (GPa, tension positive) from one LAMMPS run.</summary>
public sealed record LammpsReference(double Energy, Vec3[] Forces, Stress Stress)
{
    /// <summary>
    /// LAMMPS's metal-unit pressure factor (force->nktv2p, eV/Å³ in bar). It differs from CODATA's
    /// 160.21766208 GPa by 8e-8 relative, so LAMMPS's pressures are converted back with its own factor.
    /// </summary>
    public const double Nktv2p = 1.6021765e6;

    /// <summary>
    /// Runs <paramref name="pairLines"/> (pair_style and pair_coeff) on <paramref name="s"/> with
    /// <c>run 0</c> and reads back the energy, the forces (rotated back with <see cref="Mlip.IO.LammpsBox"/>)
    /// and the pressure tensor as stress.
    /// </summary>
    public static LammpsReference Run(Structure s, string[] species, string pairLines, IDictionary<string, string>? files = null, string name = "run")
    {
        var (data, box) = Lammps.DataFile(s, species);
        var all = new Dictionary<string, string>(files ?? new Dictionary<string, string>()) { ["data.lmp"] = data };
        string input = $"""
            units           metal
            atom_style      atomic
            atom_modify     map array
            boundary        p p p
            read_data       data.lmp
            {pairLines}
            neighbor        1.0 bin
            thermo_style    custom step pe pxx pyy pzz pxy pxz pyz
            dump            forces all custom 1 forces.dump id type fx fy fz
            dump_modify     forces format float %.17g sort id
            run             0
            print           "RESULT pe $(pe:%.17g) pxx $(pxx:%.17g) pyy $(pyy:%.17g) pzz $(pzz:%.17g)"
            print           "RESULT pxy $(pxy:%.17g) pxz $(pxz:%.17g) pyz $(pyz:%.17g)"
            """;
        var run = Lammps.Run(input, all, Path.Combine(TestPaths.TempDir(), name));
        var r = run.Results();
        var forces = run.Dump("forces.dump").Vectors("fx", "fy", "fz");
        for (int i = 0; i < forces.Length; i++) forces[i] = box.FromLammps(forces[i]);
        var p = new Matrix3(r["pxx"], r["pxy"], r["pxz"], r["pxy"], r["pyy"], r["pyz"], r["pxz"], r["pyz"], r["pzz"]);
        var sigma = (-1.0 / Nktv2p) * box.FromLammps(p); // eV/Å³, tension positive
        return new LammpsReference(r["pe"], forces, Stress.FromEvPerCubicAngstrom(sigma));
    }

    /// <summary>Energy, forces and stress of <paramref name="mine"/> equal this reference to <paramref name="tol"/> relative.</summary>
    public void AssertMatches(string what, CalculatorResult mine, double tol = 1e-8, double minForce = 1e-4)
    {
        Assert.True(Math.Abs(mine.Energy - Energy) <= tol * Math.Abs(Energy),
            $"{what}: energy {mine.Energy:R} eV, LAMMPS {Energy:R} eV (relative {Math.Abs(mine.Energy - Energy) / Math.Abs(Energy):E2})");
        double fmax = Forces.Max(f => f.Norm);
        Assert.True(fmax > minForce, $"{what}: LAMMPS's forces are all ~0");
        double worst = 0;
        for (int i = 0; i < Forces.Length; i++) worst = Math.Max(worst, (mine.Forces![i] - Forces[i]).Norm);
        Assert.True(worst <= tol * fmax, $"{what}: forces differ from LAMMPS's by up to {worst:E2} eV/Å (largest force {fmax:G4})");
        var a = mine.Stress!.Value.ToVoigt(); var b = Stress.ToVoigt();
        double smax = b.Max(Math.Abs);
        for (int q = 0; q < 6; q++)
            Assert.True(Math.Abs(a[q] - b[q]) <= tol * smax, $"{what}: stress component {q} is {a[q]:R} GPa, LAMMPS {b[q]:R} GPa (scale {smax:G4})");
    }
}
