using Mlip.Calculators;
using Mlip.Simulation;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Data;

/// <summary>What <see cref="DatasetGenerator.Generate"/> makes; the defaults give ~130 structures of 8–64 atoms.</summary>
public sealed record DatasetOptions
{
    /// <summary>One element (diamond structures) or two, "A,B" (zincblende AB, rock salt as the dense phase).</summary>
    public string Element { get; init; } = "Si";
    public int Seed { get; init; } = 1;

    /// <summary>Strained and rattled 8-atom diamond cells.</summary>
    public int DiamondCells { get; init; } = 50;

    /// <summary>Strained and rattled 64-atom diamond supercells.</summary>
    public int DiamondSupercells { get; init; } = 6;

    /// <summary>Cells of each other phase in <see cref="OtherPhases"/>; 0 leaves them out.</summary>
    public int OtherPhaseCells { get; init; } = 6;

    /// <summary>Other phases: any of sc, fcc, bcc. SW puts close-packed Si far up in energy (fcc up to +0.8 eV/atom at DFT-like volumes), so only sc by default.</summary>
    public string[] OtherPhases { get; init; } = ["sc"];

    public int VacancyCells { get; init; } = 6;
    public int SurfaceSlabs { get; init; } = 8;

    /// <summary>Langevin MD temperatures (K) on a 64-atom diamond cell; <see cref="SnapshotsPerTemperature"/> snapshots each.</summary>
    public double[] Temperatures { get; init; } = [300, 900, 1500];
    public int SnapshotsPerTemperature { get; init; } = 8;
    public int MdEquilibrationSteps { get; init; } = 100;
    public int MdStepsBetweenSnapshots { get; init; } = 25;
    public double MdTimeStep { get; init; } = 1.0;

    /// <summary>Largest strain component (uniformly drawn in ±this), on top of a lattice-constant scan of ±<see cref="LatticeRange"/>.</summary>
    public double MaxStrain { get; init; } = 0.03;
    public double LatticeRange { get; init; } = 0.04;
    public double MinRattle { get; init; } = 0.02;
    public double MaxRattle { get; init; } = 0.1;
    public double Vacuum { get; init; } = 10.0;

    /// <summary>About a third of the default set (~45 structures) for quick runs and tests.</summary>
    public static DatasetOptions Quick => new()
    {
        DiamondCells = 24, DiamondSupercells = 2, OtherPhaseCells = 2, VacancyCells = 2, SurfaceSlabs = 3,
        SnapshotsPerTemperature = 3, MdEquilibrationSteps = 60,
    };
}

/// <summary>
/// A labelled training set made with a reference calculator (a classical potential): diamond cells
/// around the calculator's own equilibrium lattice constant (strained ±3 %, rattled 0.02–0.1 Å), other
/// phases (simple cubic, fcc, bcc at their typical volumes relative to diamond), a vacancy, a (100)
/// surface slab with vacuum, and Langevin MD snapshots at several temperatures. Every structure carries
/// energy, forces and stress from the calculator and a group (config_type): diamond, diamond_64,
/// sc, fcc, bcc, vacancy, surface_100, md_300K, ... Everything is drawn from one seed.
/// </summary>
public static class DatasetGenerator
{
    /// <summary>Volume per atom of each phase relative to diamond (roughly what DFT gives for Si).</summary>
    private static readonly (string Group, Func<string, double, Structure> Cell, double VolumeRatio, int Repeat)[] Phases =
    [
        ("sc", Crystals.SimpleCubic, 0.82, 3),
        ("fcc", Crystals.Fcc, 0.73, 2),
        ("bcc", Crystals.Bcc, 0.74, 3),
    ];

    /// <summary>Equilibrium lattice constant of the diamond structure for <paramref name="calculator"/> (isotropic cell relaxation of the 8-atom cell).</summary>
    public static double DiamondLatticeConstant(ICalculator calculator, string element, double guess = 5.43)
    {
        var r = Relaxation.Relax(calculator, Crystals.Diamond(element, guess), new RelaxOptions
        {
            Algorithm = RelaxAlgorithm.Lbfgs, Cell = CellRelaxation.Isotropic, Fmax = 1e-5, Smax = 1e-5, MaxSteps = 500,
        });
        return Math.Cbrt(r.Volume);
    }

    /// <summary>
    /// Equilibrium lattice constant of zincblende <paramref name="first"/><paramref name="second"/> for <paramref name="calculator"/>:
    /// the lowest energy of a scan from 3.5 to 6.5 Å in 0.05 Å steps, then an isotropic cell relaxation from there.
    /// </summary>
    public static double ZincblendeLatticeConstant(ICalculator calculator, string first, string second)
    {
        double best = 5.43, lowest = double.PositiveInfinity;
        for (double a = 3.5; a <= 6.5 + 1e-9; a += 0.05)
        {
            double e = calculator.Calculate(Crystals.Zincblende(first, second, a), forces: false, stress: false).Energy;
            if (e < lowest) { lowest = e; best = a; }
        }
        var r = Relaxation.Relax(calculator, Crystals.Zincblende(first, second, best), new RelaxOptions
        {
            Algorithm = RelaxAlgorithm.Lbfgs, Cell = CellRelaxation.Isotropic, Fmax = 1e-5, Smax = 1e-5, MaxSteps = 500,
        });
        return Math.Cbrt(r.Volume);
    }

    public static List<Structure> Generate(ICalculator calculator, DatasetOptions? options = null, IProgress<string>? progress = null)
    {
        var o = options ?? new DatasetOptions();
        // "A" (diamond A) or "A,B" (zincblende AB: the same kinds of structures with B on the second sublattice)
        var names = o.Element.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length is < 1 or > 2) throw new MlipException($"element '{o.Element}': give one element (Si) or two (Si,C)");
        foreach (var e in names)
            if (!Elements.TryNumber(e, out int z) || !calculator.Elements.Contains(z))
                throw new MlipException($"calculator {calculator.Name} does not handle {e}");
        bool binary = names.Length == 2;
        string host = binary ? "zincblende" : "diamond";
        Structure Host(double a) => binary ? Crystals.Zincblende(names[0], names[1], a) : Crystals.Diamond(names[0], a);
        var rng = new Random(o.Seed);
        double a0 = binary ? ZincblendeLatticeConstant(calculator, names[0], names[1]) : DiamondLatticeConstant(calculator, o.Element);
        progress?.Report($"{host} lattice constant of {calculator.Name}: {a0:F4} Å");
        var unlabelled = new List<Structure>();

        Matrix3 RandomStrain(double max)
        {
            double U() => max * (2 * rng.NextDouble() - 1);
            double xx = U(), yy = U(), zz = U(), yz = U() / 2, xz = U() / 2, xy = U() / 2;
            return new Matrix3(xx, xy, xz, xy, yy, yz, xz, yz, zz);
        }
        double Scale() => 1 + o.LatticeRange * (2 * rng.NextDouble() - 1);
        double Rattle() => o.MinRattle + (o.MaxRattle - o.MinRattle) * rng.NextDouble();
        Structure Perturb(Structure s, string group)
        {
            var d = Crystals.Deform(s, RandomStrain(o.MaxStrain));
            var r = Crystals.Rattle(d, Rattle(), rng.Next());
            r.Group = group;
            return r;
        }

        for (int i = 0; i < o.DiamondCells; i++)
            unlabelled.Add(Perturb(Host(a0 * Scale()), host));
        for (int i = 0; i < o.DiamondSupercells; i++)
            unlabelled.Add(Perturb(Crystals.Supercell(Host(a0 * Scale()), 2, 2, 2), host + "_64"));

        double vAtom = a0 * a0 * a0 / 8;
        if (binary && o.OtherPhases.Length > 0)
        {
            // the binary's dense phase: rock salt at 0.80 of the zincblende volume per atom
            double a = Math.Cbrt(0.80 * vAtom * 8);
            for (int i = 0; i < o.OtherPhaseCells; i++)
                unlabelled.Add(Perturb(Crystals.RockSalt(names[0], names[1], a * Scale()), "rocksalt"));
        }
        foreach (var (group, cell, ratio, repeat) in Phases)
        {
            if (binary || !o.OtherPhases.Contains(group)) continue;
            var unit = cell(o.Element, 1.0);
            double a = Math.Cbrt(ratio * vAtom * unit.Count);
            for (int i = 0; i < o.OtherPhaseCells; i++)
                unlabelled.Add(Perturb(Crystals.Supercell(cell(o.Element, a * Scale()), repeat, repeat, repeat), group));
        }

        for (int i = 0; i < o.VacancyCells; i++)
        {
            var big = Crystals.Supercell(Host(a0 * (1 + 0.01 * (2 * rng.NextDouble() - 1))), 2, 2, 2);
            int gone = rng.Next(big.Count);
            var keep = Enumerable.Range(0, big.Count).Where(k => k != gone).ToArray();
            var vac = new Structure(big.Cell, [.. keep.Select(k => big.Positions[k])], [.. keep.Select(k => big.AtomicNumbers[k])], big.Pbc);
            var r = Crystals.Rattle(Crystals.Deform(vac, RandomStrain(0.01)), Rattle(), rng.Next());
            r.Group = "vacancy";
            unlabelled.Add(r);
        }

        // a binary's antisite pairs: one A and one B of a 64-atom cell exchanged (composition kept), as many cells as
        // vacancy cells; they hold the A–A and B–B bonds a perfect compound lacks
        if (binary)
            for (int i = 0; i < o.VacancyCells; i++)
            {
                var big = Crystals.Supercell(Host(a0 * (1 + 0.01 * (2 * rng.NextDouble() - 1))), 2, 2, 2);
                var firsts = Enumerable.Range(0, big.Count).Where(k => big.AtomicNumbers[k] == big.AtomicNumbers[0]).ToArray();
                var seconds = Enumerable.Range(0, big.Count).Where(k => big.AtomicNumbers[k] != big.AtomicNumbers[0]).ToArray();
                int x = firsts[rng.Next(firsts.Length)], y = seconds[rng.Next(seconds.Length)];
                (big.AtomicNumbers[x], big.AtomicNumbers[y]) = (big.AtomicNumbers[y], big.AtomicNumbers[x]);
                var r = Crystals.Rattle(Crystals.Deform(big, RandomStrain(0.01)), Rattle(), rng.Next());
                r.Group = "antisite";
                unlabelled.Add(r);
            }

        for (int i = 0; i < o.SurfaceSlabs; i++)
        {
            // (100) slab: 2 x 2 x 3 conventional layers would be 96 atoms; 1 x 1 x 3 (24 atoms, 12 layers) is enough for a short-ranged potential
            var bulk = Crystals.Supercell(Host(a0), 1, 1, 3);
            var c = bulk.Cell;
            var slab = new Structure(Matrix3.FromRows(c.Row(0), c.Row(1), c.Row(2) + new Vec3(0, 0, o.Vacuum)),
                [.. bulk.Positions.Select(p => p + new Vec3(0, 0, o.Vacuum / 2))], bulk.AtomicNumbers, bulk.Pbc);
            var r = Crystals.Rattle(slab, Rattle(), rng.Next());
            r.Group = "surface_100";
            unlabelled.Add(r);
        }

        progress?.Report($"{unlabelled.Count} static structures; labelling and MD...");
        var labelled = new List<Structure>(unlabelled.Count + o.Temperatures.Length * o.SnapshotsPerTemperature);
        var results = new CalculatorResult[unlabelled.Count];
        MlipParallel.For(0, unlabelled.Count, i => results[i] = calculator.Calculate(unlabelled[i], forces: true, stress: true));
        for (int i = 0; i < unlabelled.Count; i++)
        {
            var s = unlabelled[i];
            s.Energy = results[i].Energy; s.Forces = results[i].Forces; s.Stress = results[i].Stress;
            labelled.Add(s);
        }

        var mdSeeds = o.Temperatures.Select(_ => rng.Next()).ToArray();
        var snapshots = new List<Structure>[o.Temperatures.Length];
        MlipParallel.For(0, o.Temperatures.Length, t =>
        {
            double temperature = o.Temperatures[t];
            var start = Crystals.Supercell(Host(a0 * (1 + 2e-5 * temperature)), 2, 2, 2);
            var state = new MdState(start);
            MaxwellBoltzmann.Initialize(state, temperature, mdSeeds[t]);
            var md = new MolecularDynamics(new Langevin(calculator, o.MdTimeStep, temperature, 0.02, mdSeeds[t] ^ 0x5bd1e995), state);
            md.Run(o.MdEquilibrationSteps);
            var list = new List<Structure>();
            for (int k = 0; k < o.SnapshotsPerTemperature; k++)
            {
                md.Run(o.MdStepsBetweenSnapshots);
                var snap = state.Snapshot();
                snap.AtomArrays.Remove("velocities");
                snap.Info.Clear();
                snap.Group = FormattableString.Invariant($"md_{temperature:F0}K");
                list.Add(snap);
            }
            snapshots[t] = list;
        });
        foreach (var list in snapshots) labelled.AddRange(list);
        progress?.Report($"{labelled.Count} structures, {labelled.Sum(s => s.Count)} atoms");
        return labelled;
    }

    /// <summary>Splits a set into training and test parts (seeded shuffle, stratified by group so each group appears in both when it has ≥ 2 structures).</summary>
    public static (List<Structure> Train, List<Structure> Test) Split(IReadOnlyList<Structure> all, double testFraction, int seed)
    {
        var rng = new Random(seed);
        var train = new List<Structure>();
        var test = new List<Structure>();
        foreach (var group in all.GroupBy(s => s.Group ?? ""))
        {
            var items = group.ToArray();
            rng.Shuffle(items);
            int nTest = items.Length < 2 ? 0 : Math.Max(1, (int)Math.Round(testFraction * items.Length));
            test.AddRange(items.Take(nTest));
            train.AddRange(items.Skip(nTest));
        }
        return (train, test);
    }
}
