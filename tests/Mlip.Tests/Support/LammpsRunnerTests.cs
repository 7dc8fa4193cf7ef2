using System.Globalization;
using Mlip.IO;
using Mlip.Neighbors;
using Mlip.Structures;

namespace Mlip.Tests.Support;

/// <summary>
/// The LAMMPS runner and the data writer against real LAMMPS (Stillinger–Weber Si): a structure and
/// its rotated and mirrored copies, a left-handed and an unreduced-tilt description of the same
/// lattice, and a supercell must all give the same physics. Without LAMMPS these tests fail and
/// say to run scripts/build-lammps.sh; they never skip.
/// </summary>
public class LammpsRunnerTests
{
    /// <summary>Stillinger–Weber Si (Phys. Rev. B 31, 5262), as in LAMMPS's potentials/Si.sw.</summary>
    private const string SiSwInline =
        "# Stillinger-Weber parameters for Si (LAMMPS potentials/Si.sw)\n" +
        "# elements  epsilon sigma a lambda gamma costheta0 A B p q tol\n" +
        "Si Si Si 2.1683  2.0951  1.80  21.0  1.20  -0.333333333333\n" +
        "         7.049556277  0.6022245584  4.0  0.0 0.0\n";

    private const double SwCutoff = 1.80 * 2.0951;

    /// <summary>Debian's lammps-data Si.sw when installed, else the same parameters written here.</summary>
    private static string SiSw() => Lammps.PotentialFile("Si.sw") is { } path ? File.ReadAllText(path) : SiSwInline;

    private const string SwInput = """
        units           metal
        atom_style      atomic
        atom_modify     map array
        boundary        p p p
        read_data       data.si
        pair_style      sw
        pair_coeff      * * Si.sw Si
        neighbor        1.0 bin
        thermo_style    custom step pe pxx pyy pzz pxy pxz pyz
        compute         pairs all pair/local dist
        dump            forces all custom 1 forces.dump id type x y z fx fy fz
        dump_modify     forces format float %.17g sort id
        dump            pairs all local 1 pairs.dump c_pairs
        dump_modify     pairs format float %.17g
        run             0
        print           "RESULT pe $(pe:%.17g) pxx $(pxx:%.17g) pyy $(pyy:%.17g) pzz $(pzz:%.17g)"
        print           "RESULT pxy $(pxy:%.17g) pxz $(pxz:%.17g) pyz $(pyz:%.17g)"
        """;

    /// <summary>What LAMMPS says about one structure, mapped back to the structure's own frame.</summary>
    private sealed record SwResult(double Energy, Vec3[] Forces, Matrix3 Pressure, double[] PairDistances, LammpsBox Box);

    private static SwResult RunSw(Structure s, string name)
    {
        var (data, box) = Lammps.DataFile(s);
        string dir = Path.Combine(TestPaths.TempDir(), name);
        var run = Lammps.Run(SwInput, new Dictionary<string, string> { ["data.si"] = data, ["Si.sw"] = SiSw() }, dir);
        var r = run.Results();
        var dump = run.Dump("forces.dump");
        Assert.Equal(s.Count, dump.Count);
        Assert.Equal(Enumerable.Range(1, s.Count).ToArray(), dump.Ids());
        var forces = dump.Vectors("fx", "fy", "fz");
        for (int i = 0; i < forces.Length; i++) forces[i] = box.FromLammps(forces[i]);
        var p = new Matrix3(r["pxx"], r["pxy"], r["pxz"], r["pxy"], r["pyy"], r["pyz"], r["pxz"], r["pyz"], r["pzz"]);
        var d = run.Dump("pairs.dump").Column("c_pairs");
        Array.Sort(d);
        return new SwResult(r["pe"], forces, box.FromLammps(p), d, box);
    }

    /// <summary>64-atom diamond Si, rattled; "triclinic" is sheared into a general (not lower-triangular) cell.</summary>
    private static Structure Variant(string name)
    {
        var cubic = Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 2, 2);
        var shear = new Matrix3(0.02, 0.07, -0.03, 0.01, -0.015, 0.05, 0.06, -0.02, 0.03);
        var triclinic = Crystals.Rattle(Crystals.Deform(cubic, shear), 0.1, seed: 11);
        var a = triclinic.Cell.Row(0); var b = triclinic.Cell.Row(1); var c = triclinic.Cell.Row(2);
        switch (name)
        {
            case "cubic": return Crystals.Rattle(cubic, 0.1, seed: 7);
            case "triclinic": return triclinic;
            case "left-handed": // the same lattice and atoms, cell rows in left-handed order
                var left = triclinic.Clone();
                left.Cell = Matrix3.FromRows(b, a, c);
                Assert.True(left.Cell.Determinant < 0);
                return left;
            case "unreduced-tilt": // the same lattice in a strongly tilted basis
                var tilted = triclinic.Clone();
                tilted.Cell = Matrix3.FromRows(a, b + 2.0 * a, c - b + 3.0 * a);
                return tilted;
            default: throw new ArgumentException(name);
        }
    }

    /// <summary>Rotation by <paramref name="angle"/> about <paramref name="axis"/> (row-vector convention: v' = v · R).</summary>
    private static Matrix3 Rotation(Vec3 axis, double angle)
    {
        var u = axis / axis.Norm;
        double c = Math.Cos(angle), s = Math.Sin(angle), t = 1 - c;
        var m = new Matrix3(
            t * u.X * u.X + c, t * u.X * u.Y - s * u.Z, t * u.X * u.Z + s * u.Y,
            t * u.X * u.Y + s * u.Z, t * u.Y * u.Y + c, t * u.Y * u.Z - s * u.X,
            t * u.X * u.Z - s * u.Y, t * u.Y * u.Z + s * u.X, t * u.Z * u.Z + c);
        return m.Transpose();
    }

    private static Structure Transformed(Structure s, Matrix3 q)
    {
        var r = s.Clone();
        r.Cell = s.Cell * q;
        for (int i = 0; i < r.Count; i++) r.Positions[i] = s.Positions[i] * q;
        return r;
    }

    private static void AssertSameEnergy(double expected, double actual, string what) =>
        Assert.True(Math.Abs(actual - expected) <= 1e-10 * Math.Abs(expected),
            $"{what}: energy {actual:R} eV, expected {expected:R} eV (relative difference {Math.Abs(actual - expected) / Math.Abs(expected):E2})");

    private static void AssertSameForces(Vec3[] expected, Vec3[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True((actual[i] - expected[i]).Norm < 1e-8,
                $"{what}: force on atom {i} is {actual[i]}, expected {expected[i]} (difference {(actual[i] - expected[i]).Norm:E2} eV/Å)");
    }

    private static void AssertSameDistances(double[] expected, double[] actual, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} pairs within the cutoff, expected {expected.Length}");
        for (int k = 0; k < expected.Length; k++)
            Assert.True(Math.Abs(actual[k] - expected[k]) < 1e-9, $"{what}: sorted pair distance {k} is {actual[k]:R} Å, expected {expected[k]:R} Å");
    }

    [Theory]
    [InlineData("cubic")]
    [InlineData("triclinic")]
    [InlineData("left-handed")]
    [InlineData("unreduced-tilt")]
    public void RotatedAndMirroredCopiesGiveTheSameEnergyForcesAndDistances(string variant)
    {
        var s = Variant(variant);
        var original = RunSw(s, variant);
        Assert.Equal(64, s.Count);
        Assert.InRange(original.Energy / s.Count, -4.4, -4.0); // SW diamond Si: −4.3366 eV/atom at rest

        // LAMMPS's pairs (half list) are Mlip's pairs (full list): the data file keeps every distance
        var mlip = NeighborList.Build(s, SwCutoff).Distances.ToArray();
        Array.Sort(mlip);
        var twice = new double[2 * original.PairDistances.Length];
        for (int k = 0; k < original.PairDistances.Length; k++) twice[2 * k] = twice[2 * k + 1] = original.PairDistances[k];
        AssertSameDistances(mlip, twice, $"{variant}: LAMMPS against Mlip's neighbour list");

        var rotations = new (string name, Matrix3 q)[]
        {
            ("rotated", Rotation(new Vec3(1, 2, 3), 0.7)),
            ("rotated-about-z", Rotation(new Vec3(0, 0, 1), 2.3)),
            ("mirrored", -1.0 * Rotation(new Vec3(-2, 1, 0.5), 1.9)), // improper: a mirror image
        };
        foreach (var (name, q) in rotations)
        {
            var moved = Transformed(s, q);
            var result = RunSw(moved, $"{variant}-{name}");
            string what = $"{variant}, {name} copy";
            AssertSameEnergy(original.Energy, result.Energy, what);
            AssertSameDistances(original.PairDistances, result.PairDistances, what);
            var expected = new Vec3[s.Count];
            for (int i = 0; i < s.Count; i++) expected[i] = original.Forces[i] * q;
            AssertSameForces(expected, result.Forces, what);
            // pressure tensor: σ' = Qᵀ σ Q
            var p = q.Transpose() * original.Pressure * q;
            double scale = Math.Max(1.0, original.Pressure.MaxAbsDifference(Matrix3.Zero));
            Assert.True(result.Pressure.MaxAbsDifference(p) < 1e-9 * scale,
                $"{what}: pressure tensor differs by {result.Pressure.MaxAbsDifference(p):E2} bar");
        }

        if (variant is "left-handed" or "unreduced-tilt")
        {
            // another description of the triclinic structure: the same atoms, so the same everything
            var reference = RunSw(Variant("triclinic"), $"{variant}-reference");
            AssertSameEnergy(reference.Energy, original.Energy, $"{variant} against triclinic");
            AssertSameForces(reference.Forces, original.Forces, $"{variant} against triclinic");
        }
    }

    [Fact]
    public void SupercellDoublesTheEnergy()
    {
        var s = Variant("triclinic");
        var single = RunSw(s, "single");
        var super = Crystals.Supercell(s, 2, 1, 1);
        var doubled = RunSw(super, "double");
        AssertSameEnergy(2 * single.Energy, doubled.Energy, "2x1x1 supercell");
        var expected = new Vec3[super.Count];
        for (int i = 0; i < super.Count; i++) expected[i] = single.Forces[i % s.Count];
        AssertSameForces(expected, doubled.Forces, "2x1x1 supercell");
    }

    [Fact]
    public void PerfectDiamondHasTheStillingerWeberCohesiveEnergy()
    {
        var s = Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 2, 2);
        var r = RunSw(s, "perfect");
        Assert.Equal(-4.3366, r.Energy / s.Count, 3);
        foreach (var f in r.Forces) Assert.True(f.Norm < 1e-10, $"force {f} on an atom of a perfect crystal");
    }

    [Fact]
    public void ThermoTableAndPrintLinesAreRead()
    {
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 1, 1, 1), 0.05, seed: 3);
        var (data, _) = Lammps.DataFile(s);
        const string input = """
            units           metal
            atom_style      atomic
            read_data       data.si
            pair_style      sw
            pair_coeff      * * Si.sw Si
            thermo_style    custom step pe press
            velocity        all create 300 12345
            thermo          5
            run             10
            variable        answer equal 6*7
            print           "RESULT pe $(pe:%.17g) answer ${answer} natoms $(atoms)"
            """;
        var run = Lammps.Run(input, new Dictionary<string, string> { ["data.si"] = data, ["Si.sw"] = SiSw() }, TestPaths.TempDir());
        var thermo = Assert.Single(run.Thermo());
        Assert.Equal([0.0, 5.0, 10.0], thermo.Select(row => row["Step"]).ToArray());
        var results = run.Results();
        Assert.Equal(42.0, results["answer"]);
        Assert.Equal(8.0, results["natoms"]);
        Assert.Equal(thermo[^1]["PotEng"], results["pe"], 4);
    }

    [Fact]
    public void FailedRunThrowsWithTheEndOfTheLog()
    {
        var ex = Assert.Throws<LammpsException>(() => Lammps.Run(
            "units metal\natom_style atomic\npair_style no_such_style\n", new Dictionary<string, string>(), TestPaths.TempDir()));
        Assert.Contains("ERROR", ex.Message);
        Assert.Contains("no_such_style", ex.Message);
        Assert.Contains("pair_style no_such_style", ex.LogTail);
    }

    [Fact]
    public void ExecutableHasTheMachineLearningStyles()
    {
        // bispectrum components and their derivatives (ML-SNAP): 2J = 6 gives 30 components
        var s = Crystals.Rattle(Crystals.Diamond("Si", 5.431), 0.05, seed: 5);
        var (data, _) = Lammps.DataFile(s);
        const string input = """
            units           metal
            atom_style      atomic
            read_data       data.si
            pair_style      zero 4.5
            pair_coeff      * *
            compute         b all sna/atom 2.0 0.99363 6 1.0 1.0
            compute         db all snad/atom 2.0 0.99363 6 1.0 1.0
            compute         vb all snav/atom 2.0 0.99363 6 1.0 1.0
            dump            b all custom 1 sna.dump id c_b[*]
            dump_modify     b format float %.17g
            dump            db all custom 1 snad.dump id c_db[*] c_vb[*]
            run             0
            """;
        var run = Lammps.Run(input, new Dictionary<string, string> { ["data.si"] = data }, TestPaths.TempDir());
        var b = run.Dump("sna.dump");
        Assert.Equal(8, b.Count);
        Assert.Equal(30, b.ColumnsOf("c_b").Count);
        var db = run.Dump("snad.dump");
        Assert.Equal(3 * 30, db.ColumnsOf("c_db").Count); // one atom type
        Assert.Equal(6 * 30, db.ColumnsOf("c_vb").Count);
        Assert.Contains(b.Column("c_b[1]"), v => v != 0);
    }
}
