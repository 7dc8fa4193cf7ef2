using Mlip.Calculators;
using Mlip.Structures;
using Mlip.Tests.Support;

namespace Mlip.Tests.Calculators;

/// <summary>
/// Classical potentials: forces and stress against finite differences of their own energy, and
/// energy, forces and stress against LAMMPS's pair styles on rattled, tilted periodic cells.
/// </summary>
public class ClassicalPotentialTests
{
    private static LammpsReference RunLammps(Structure s, string[] species, string pairLines, Dictionary<string, string>? files = null, string name = "run") =>
        LammpsReference.Run(s, species, pairLines, files, name);

    private static void AssertMatchesLammps(string what, LammpsReference lmp, CalculatorResult mine) =>
        lmp.AssertMatches(what, mine, minForce: 1e-3);

    private static void AssertFiniteDifferences(string what, ICalculator calc, Structure s, double h = 1e-4)
    {
        var r = calc.Calculate(s);
        FiniteDifferences.AssertMatch(what, x => calc.Calculate(x, false, false).Energy, s, r.Forces!, r.Stress, 1e-6, h);
        Assert.Equal(r.Energy, r.AtomEnergies!.Sum(), 9);
    }

    private static readonly Matrix3 Tilt = new(0.02, 0.04, -0.03, 0.01, -0.015, 0.05, 0.03, -0.02, 0.03);

    /// <summary>108 argon-like atoms (fcc, a = 5.26 Å) in a tilted cell, every third one krypton, rattled 0.15 Å.</summary>
    private static Structure ArKr()
    {
        var s = Crystals.Rattle(Crystals.Deform(Crystals.Supercell(Crystals.Fcc("Ar", 5.26), 3, 3, 3), Tilt), 0.15, seed: 3);
        for (int i = 0; i < s.Count; i += 3) s.AtomicNumbers[i] = 36;
        return s;
    }

    private static readonly string[] ArKrSpecies = ["Ar", "Kr"];

    public static TheoryData<string> PairStyles => new() { "lj", "morse", "buck" };

    private static (ICalculator Calc, ICalculator Shifted, string Lammps) Pair(string style) => style switch
    {
        "lj" => (
            LennardJones.ForPairs([("Ar", "Ar", new(0.0104, 3.40, 7.0)), ("Kr", "Kr", new(0.0140, 3.65, 8.0)), ("Ar", "Kr", new(0.0121, 3.52, 7.5))]),
            LennardJones.ForPairs([("Ar", "Ar", new(0.0104, 3.40, 7.0)), ("Kr", "Kr", new(0.0140, 3.65, 8.0)), ("Ar", "Kr", new(0.0121, 3.52, 7.5))], shifted: true),
            "pair_style lj/cut 8.0\npair_coeff 1 1 0.0104 3.40 7.0\npair_coeff 2 2 0.0140 3.65 8.0\npair_coeff 1 2 0.0121 3.52 7.5"),
        "morse" => (
            Morse.ForPairs([("Ar", "Ar", new(0.0104, 1.6, 3.8, 7.0)), ("Kr", "Kr", new(0.0140, 1.5, 4.0, 8.0)), ("Ar", "Kr", new(0.0121, 1.55, 3.9, 7.5))]),
            Morse.ForPairs([("Ar", "Ar", new(0.0104, 1.6, 3.8, 7.0)), ("Kr", "Kr", new(0.0140, 1.5, 4.0, 8.0)), ("Ar", "Kr", new(0.0121, 1.55, 3.9, 7.5))], shifted: true),
            "pair_style morse 8.0\npair_coeff 1 1 0.0104 1.6 3.8 7.0\npair_coeff 2 2 0.0140 1.5 4.0 8.0\npair_coeff 1 2 0.0121 1.55 3.9 7.5"),
        "buck" => (
            Buckingham.ForPairs([("Ar", "Ar", new(2000.0, 0.28, 60.0, 7.0)), ("Kr", "Kr", new(3000.0, 0.29, 110.0, 8.0)), ("Ar", "Kr", new(2500.0, 0.285, 80.0, 7.5))]),
            Buckingham.ForPairs([("Ar", "Ar", new(2000.0, 0.28, 60.0, 7.0)), ("Kr", "Kr", new(3000.0, 0.29, 110.0, 8.0)), ("Ar", "Kr", new(2500.0, 0.285, 80.0, 7.5))], shifted: true),
            "pair_style buck 8.0\npair_coeff 1 1 2000.0 0.28 60.0 7.0\npair_coeff 2 2 3000.0 0.29 110.0 8.0\npair_coeff 1 2 2500.0 0.285 80.0 7.5"),
        _ => throw new ArgumentException(style),
    };

    [Theory]
    [MemberData(nameof(PairStyles))]
    public void PairPotentialForcesAndStressAreDerivativesOfTheEnergy(string style)
    {
        var (_, shifted, _) = Pair(style);
        var s = Crystals.Rattle(Crystals.Deform(Crystals.Supercell(Crystals.Fcc("Ar", 5.26), 2, 2, 2), Tilt), 0.15, seed: 5);
        for (int i = 0; i < s.Count; i += 3) s.AtomicNumbers[i] = 36;
        AssertFiniteDifferences(style, shifted, s);
    }

    [Theory]
    [MemberData(nameof(PairStyles))]
    public void PairPotentialEqualsLammps(string style)
    {
        var (calc, _, lines) = Pair(style);
        var s = ArKr();
        AssertMatchesLammps(style, RunLammps(s, ArKrSpecies, lines, name: style), calc.Calculate(s));
    }

    [Fact]
    public void SingleParameterSetAppliesToEveryElement()
    {
        var s = ArKr();
        var one = new LennardJones(0.0104, 3.40, 7.0).Calculate(s);
        var table = LennardJones.ForPairs([("Ar", "Ar", new(0.0104, 3.40, 7.0)), ("Kr", "Kr", new(0.0104, 3.40, 7.0)), ("Ar", "Kr", new(0.0104, 3.40, 7.0))]).Calculate(s);
        Assert.Equal(table.Energy, one.Energy, 12);
    }
    /// <summary>64-atom diamond cell (a in Å) in a tilted cell, rattled 0.1 Å; with a second element, every other atom is that.</summary>
    private static Structure Diamond(string a, double lattice, string? b = null)
    {
        var s = Crystals.Rattle(Crystals.Deform(Crystals.Supercell(Crystals.Diamond(a, lattice), 2, 2, 2), Tilt), 0.1, seed: 11);
        if (b is not null) for (int i = 1; i < s.Count; i += 2) s.AtomicNumbers[i] = Mlip.Structures.Elements.Number(b);
        return s;
    }

    private static string Potential(string name) =>
        Lammps.PotentialFile(name) ?? throw new InvalidOperationException($"{name} not found (Debian's lammps-data or the LAMMPS reference copy): {Lammps.BuildHint}");

    [Fact]
    public void StillingerWeberSiliconEqualsLammps()
    {
        var s = Diamond("Si", 5.431);
        var calc = StillingerWeber.Silicon();
        var mine = calc.Calculate(s);
        Assert.InRange(mine.Energy / s.Count, -4.4, -4.0);
        AssertMatchesLammps("sw Si", RunLammps(s, ["Si"], "pair_style sw\npair_coeff * * Si.sw Si",
            new() { ["Si.sw"] = StillingerWeber.SiliconFile }, "sw"), mine);
        AssertFiniteDifferences("sw Si", calc, Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.431), Tilt), 0.1, seed: 2));
    }

    [Fact]
    public void StillingerWeberTwoElementFileEqualsLammps()
    {
        var s = Diamond("Ga", 4.5, "N");
        var calc = StillingerWeber.FromFile(Potential("GaN.sw"), ["Ga", "N"]);
        AssertMatchesLammps("sw GaN", RunLammps(s, ["Ga", "N"], $"pair_style sw\npair_coeff * * {Potential("GaN.sw")} Ga N", name: "swgan"), calc.Calculate(s));
        AssertFiniteDifferences("sw GaN", calc, Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Ga", 4.5), Tilt), 0.1, seed: 2).WithEveryOther("N"));
    }

    [Fact]
    public void TersoffSiliconEqualsLammps()
    {
        var s = Diamond("Si", 5.431);
        var calc = Tersoff.Silicon();
        var mine = calc.Calculate(s);
        Assert.InRange(mine.Energy / s.Count, -4.7, -4.3);
        AssertMatchesLammps("tersoff Si", RunLammps(s, ["Si"], "pair_style tersoff\npair_coeff * * Si.tersoff Si",
            new() { ["Si.tersoff"] = Tersoff.SiliconFile }, "tersoff"), mine);
        AssertFiniteDifferences("tersoff Si", calc, Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.431), Tilt), 0.1, seed: 2));
    }

    [Fact]
    public void TersoffSiliconCarbideFileEqualsLammps()
    {
        var s = Diamond("Si", 4.36, "C");
        var calc = Tersoff.FromFile(Potential("SiC.tersoff"), ["Si", "C"]);
        AssertMatchesLammps("tersoff SiC", RunLammps(s, ["Si", "C"], $"pair_style tersoff\npair_coeff * * {Potential("SiC.tersoff")} Si C", name: "tersoffsic"), calc.Calculate(s));
        AssertFiniteDifferences("tersoff SiC", calc, Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 4.36), Tilt), 0.1, seed: 2).WithEveryOther("C"));
    }
    [Fact]
    public void EamAlloyEqualsLammps()
    {
        var s = Crystals.Rattle(Crystals.Deform(Crystals.Supercell(Crystals.Fcc("Cu", 3.7), 3, 3, 3), Tilt), 0.12, seed: 4);
        for (int i = 0; i < s.Count; i += 4) s.AtomicNumbers[i] = 13;
        string file = Potential("AlCu.eam.alloy");
        var calc = Eam.FromSetfl(file, ["Al", "Cu"]);
        AssertMatchesLammps("eam/alloy AlCu", RunLammps(s, ["Al", "Cu"], $"pair_style eam/alloy\npair_coeff * * {file} Al Cu", name: "eam"), calc.Calculate(s));
        var small = Crystals.Rattle(Crystals.Deform(Crystals.Fcc("Cu", 3.7), Tilt), 0.12, seed: 2);
        small.AtomicNumbers[0] = 13;
        AssertFiniteDifferences("eam/alloy AlCu", calc, Crystals.Supercell(small, 2, 1, 1));
    }

    [Theory]
    [InlineData("sw", "Stillinger-Weber Si")]
    [InlineData("tersoff", "Tersoff Si")]
    [InlineData("lj:0.0104,3.4,7.0", "Lennard-Jones")]
    [InlineData("morse:0.3,1.5,2.5,6.0", "Morse")]
    [InlineData("buck:2000,0.28,60,7.0", "Buckingham")]
    public void FactoryParsesPotentialSpecifications(string spec, string name)
    {
        var calc = ClassicalPotentials.Parse(spec);
        Assert.Equal(name, calc.Name);
        var s = Diamond("Si", 5.431);
        Assert.True(double.IsFinite(calc.Calculate(s).Energy));
    }

    [Fact]
    public void FactoryReadsEamFiles()
    {
        var calc = ClassicalPotentials.Parse("eam:" + Potential("AlCu.eam.alloy"));
        Assert.Equal([13, 29], calc.Elements);
        Assert.Throws<Mlip.Validation.MlipException>(() => ClassicalPotentials.Parse("lj:1,2"));
        Assert.Throws<Mlip.Validation.MlipException>(() => ClassicalPotentials.Parse("nope"));
    }
    /// <summary>
    /// The classical force pass runs in parallel over blocks of centres (128 atoms each; a centre writes only its own
    /// pairs' gradients, forces are gathered per atom, the virial summed per block and the blocks in order): on 1, 2 and
    /// 3 threads and on a repeat, energy, per-atom energies, forces and stress are the same bits; 1728 and 1372 atoms
    /// make 14 and 11 blocks. Physics (LAMMPS, finite differences) is checked by the tests above.
    /// </summary>
    [Theory]
    [InlineData("sw")]
    [InlineData("tersoff")]
    [InlineData("lj")]
    [InlineData("eam")]
    public void ParallelSumIsTheSameOnAnyThreadCount(string style)
    {
        var (calc, s) = style switch
        {
            "sw" => ((ICalculator)StillingerWeber.Silicon(), Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 6, 6, 6), 0.1, 5)),
            "tersoff" => (Tersoff.Silicon(), Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 6, 6, 6), 0.1, 5)),
            "lj" => (ClassicalPotentials.Parse("lj:0.0104,3.4,8.5"), Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Ar", 5.26), 7, 7, 7), 0.1, 5)),
            _ => (Eam.FromSetfl(Potential("AlCu.eam.alloy"), ["Al", "Cu"]), Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Al", 4.05), 7, 7, 7), 0.1, 5)),
        };
        var reference = Run(1);
        Assert.True(reference.Forces!.Max(f => f.Norm) > 1e-3);
        foreach (int threads in new[] { 2, 3, 2 })
        {
            var r = Run(threads);
            Assert.Equal(reference.Energy, r.Energy);
            Assert.Equal(reference.AtomEnergies, r.AtomEnergies);
            Assert.Equal(reference.Forces, r.Forces);
            Assert.Equal(reference.Stress, r.Stress);
        }

        CalculatorResult Run(int threads)
        {
            using var limit = Mlip.Validation.MlipParallel.LimitThreads(threads);
            return calc.Calculate(s);
        }
    }

    /// <summary>
    /// Stillinger-Weber and Tersoff in MD work on the Verlet list's wide rows too (cut-off + skin, each centre's row filtered in
    /// the potential's pass, the displacement test per block, the kept pairs packed per block): after the atoms move (no
    /// rebuild, then a rebuild) they must follow fresh builds to round-off (a fresh list may order a row's pairs differently),
    /// with one and two species, and give the same bits on any thread count.
    /// </summary>
    [Theory]
    [InlineData("sw Si")]
    [InlineData("sw GaN")]
    [InlineData("tersoff Si")]
    [InlineData("tersoff SiC")]
    public void ThreeBodyPotentialsOnTheWideRowsFollowFreshBuilds(string which)
    {
        (ClassicalPotential Fresh, ClassicalPotential Reused, Structure Cell) Make() => which switch
        {
            "sw Si" => (StillingerWeber.Silicon(), StillingerWeber.Silicon(), Crystals.Supercell(Crystals.Diamond("Si", 5.431), 4, 4, 4)),
            "sw GaN" => (StillingerWeber.FromFile(Potential("GaN.sw"), ["Ga", "N"]), StillingerWeber.FromFile(Potential("GaN.sw"), ["Ga", "N"]),
                Crystals.Supercell(Crystals.Diamond("Ga", 4.5), 4, 4, 4).WithEveryOther("N")),
            "tersoff Si" => (Tersoff.Silicon(), Tersoff.Silicon(), Crystals.Supercell(Crystals.Diamond("Si", 5.431), 4, 4, 4)),
            _ => (Tersoff.FromFile(Potential("SiC.tersoff"), ["Si", "C"]), Tersoff.FromFile(Potential("SiC.tersoff"), ["Si", "C"]),
                Crystals.Supercell(Crystals.Diamond("Si", 4.36), 4, 4, 4).WithEveryOther("C")),
        };
        var (fresh, reused, cell) = Make();
        var s = Crystals.Rattle(cell, 0.1, 9);
        Assert.True(s.Count >= 4 * 128); // several blocks of centres
        reused.NeighborSkin = 1.0;
        FollowsFreshBuildsThroughMoves(fresh, reused, s, atomEnergies: true);
        Assert.Equal(2, reused.NeighborListBuilds);
        // one atom of the last block past half the skin: that block's test alone asks for the rebuild
        foreach (var (dx, builds) in new[] { (0.49, 2), (0.51, 3) })
        {
            var moved = s.Clone();
            moved.Positions[s.Count - 2] += new Vec3(dx, 0, 0);
            var a = fresh.Calculate(moved);
            var b = reused.Calculate(moved);
            Assert.Equal(builds, reused.NeighborListBuilds);
            Assert.Equal(a.Energy, b.Energy, 1e-9 * Math.Abs(a.Energy));
            for (int i = 0; i < s.Count; i++) Assert.True((a.Forces![i] - b.Forces![i]).Norm < 1e-10, $"atom {i}");
        }
    }

    /// <summary>
    /// EAM in MD works on the Verlet list's wide rows (cut-off + skin, the distance tested in the passes, no filtered list):
    /// after the atoms move (no rebuild, then a rebuild) it must follow fresh builds to round-off, with both species, and give
    /// the same bits on any thread count.
    /// </summary>
    [Fact]
    public void EamOnTheWideRowsOfTheVerletListFollowsFreshBuilds()
    {
        string file = Potential("AlCu.eam.alloy");
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Al", 4.05), 6, 6, 6), 0.1, 9).WithEveryOther("Cu");
        var fresh = Eam.FromSetfl(file, ["Al", "Cu"]);
        var reused = Eam.FromSetfl(file, ["Al", "Cu"]);
        reused.NeighborSkin = 1.0;
        FollowsFreshBuildsThroughMoves(fresh, reused, s, atomEnergies: false);
        Assert.Equal(2, reused.NeighborListBuilds);
    }

    /// <summary>
    /// EAM's displacement test runs per block in its density pass (no serial pass before it) and its gather writes the
    /// caller's forces itself (<see cref="ClassicalPotential.CalculateInto"/>, no copy): one atom of the last block moved just
    /// under half the skin keeps the list, just over it builds it again (that block's test alone decides); on the rebuilt
    /// list the result follows a fresh build, and the forces written into the caller's span are the same bits as
    /// <see cref="ClassicalPotential.Calculate"/>'s, on one, two and three threads alike.
    /// </summary>
    [Fact]
    public void EamTestsTheDisplacementsPerBlockAndWritesTheCallersForces()
    {
        string file = Potential("AlCu.eam.alloy");
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Al", 4.05), 6, 6, 6), 0.1, 9).WithEveryOther("Cu");
        Assert.True(s.Count >= 4 * 128); // several blocks of atoms
        var fresh = Eam.FromSetfl(file, ["Al", "Cu"]);
        var reused = Eam.FromSetfl(file, ["Al", "Cu"]);
        reused.NeighborSkin = 1.0;
        reused.Calculate(s);
        Assert.Equal(1, reused.NeighborListBuilds);
        foreach (var (dx, builds) in new[] { (0.49, 1), (0.51, 2) })
        {
            var moved = s.Clone();
            moved.Positions[s.Count - 2] += new Vec3(dx, 0, 0);
            var a = fresh.Calculate(moved);
            CalculatorResult? first = null;
            foreach (int threads in new[] { 1, 2, 3 })
            {
                using var limit = Mlip.Validation.MlipParallel.LimitThreads(threads);
                var b = reused.Calculate(moved);
                Assert.Equal(builds, reused.NeighborListBuilds);
                var into = new Vec3[s.Count];
                var (energy, stress) = reused.CalculateInto(moved, into);
                Assert.Equal(b.Energy, energy);
                Assert.Equal(b.Stress, stress);
                Assert.Equal(b.Forces, into);
                if (first is null)
                {
                    first = b;
                    Assert.Equal(a.Energy, b.Energy, 1e-9 * Math.Abs(a.Energy));
                    for (int i = 0; i < s.Count; i++) Assert.True((a.Forces![i] - b.Forces![i]).Norm < 1e-10, $"atom {i}");
                    Assert.True(b.Forces![s.Count - 2].Norm > 0.05);
                    continue;
                }
                Assert.Equal(first.Energy, b.Energy);
                Assert.Equal(first.Forces, b.Forces);
                Assert.Equal(first.Stress, b.Stress);
            }
            Assert.Equal(builds, reused.NeighborListBuilds);
        }
    }

    /// <summary>
    /// Moves the atoms of <paramref name="s"/> in four random steps (the last past half the skin: a rebuild); after each,
    /// <paramref name="reused"/> (on a Verlet list) must follow <paramref name="fresh"/> (a new list every call) to round-off
    /// on one thread and give the same bits on two and three, and the forces must not be trivial (the cell is rattled).
    /// </summary>
    private static void FollowsFreshBuildsThroughMoves(ICalculator fresh, ICalculator reused, Structure s, bool atomEnergies)
    {
        var rng = new Random(3);
        foreach (double step in new[] { 0.0, 0.2, 0.2, 0.7 })
        {
            for (int i = 0; i < s.Count; i++)
                s.Positions[i] += step * new Vec3(rng.NextDouble() - 0.5, rng.NextDouble() - 0.5, rng.NextDouble() - 0.5);
            var a = fresh.Calculate(s);
            CalculatorResult? first = null;
            foreach (int threads in new[] { 1, 2, 3 })
            {
                using var limit = Mlip.Validation.MlipParallel.LimitThreads(threads);
                var b = reused.Calculate(s);
                if (first is null)
                {
                    first = b;
                    Assert.Equal(a.Energy, b.Energy, 1e-9 * Math.Abs(a.Energy));
                    for (int i = 0; i < s.Count; i++)
                    {
                        Assert.True((a.Forces![i] - b.Forces![i]).Norm < 1e-10, $"atom {i}: {a.Forces[i]} vs {b.Forces[i]}");
                        if (atomEnergies) Assert.Equal(a.AtomEnergies![i], b.AtomEnergies![i], 1e-10);
                    }
                    for (int k = 0; k < 6; k++) Assert.Equal(a.Stress!.Value.ToVoigt()[k], b.Stress!.Value.ToVoigt()[k], 1e-9);
                    continue;
                }
                Assert.Equal(first.Energy, b.Energy);
                Assert.Equal(first.Forces, b.Forces);
                Assert.Equal(first.AtomEnergies, b.AtomEnergies);
                Assert.Equal(first.Stress, b.Stress);
            }
            Assert.Contains(a.Forces!, f => f.Norm > 0.05);
        }
    }

}

internal static class StructureTestExtensions
{
    public static Structure WithEveryOther(this Structure s, string symbol)
    {
        for (int i = 1; i < s.Count; i += 2) s.AtomicNumbers[i] = Mlip.Structures.Elements.Number(symbol);
        return s;
    }
}
