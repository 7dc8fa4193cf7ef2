using Mlip.Calculators;
using Mlip.Simulation;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Data;

/// <summary>What <see cref="PerAtomDatasetGenerator.Generate"/> makes (docs/per-atom-targets.md).</summary>
public sealed record PerAtomDatasetOptions
{
    public string Element { get; init; } = "Si";
    public int Seed { get; init; } = 1;

    /// <summary>Number of exponents α_k of the target (geometric series from <see cref="FirstAlpha"/> to <see cref="LastAlpha"/> bohr⁻²).</summary>
    public int Terms { get; init; } = 16;
    public double FirstAlpha { get; init; } = 0.15;
    public double LastAlpha { get; init; } = 1e6;

    /// <summary>Neighbour cutoff R_c of the target (Å).</summary>
    public double TargetCutoff { get; init; } = 5.5;

    /// <summary>Rattled 64-atom diamond cells at the SW lattice constant.</summary>
    public int CrystalCells { get; init; } = 3;

    /// <summary>Diamond cells (64 atoms) scaled linearly from <see cref="MinScale"/> to <see cref="MaxScale"/> of the lattice constant.</summary>
    public int ScaledCells { get; init; } = 9;
    public double MinScale { get; init; } = 0.92;
    public double MaxScale { get; init; } = 1.08;

    /// <summary>Cells with one self-interstitial (tetrahedral and hexagonal sites, relaxed with the potential).</summary>
    public int InterstitialCells { get; init; } = 2;

    /// <summary>Cells with one vacancy (relaxed).</summary>
    public int VacancyCells { get; init; } = 2;

    /// <summary>Independent melt-quench runs for training; snapshots of each liquid and each quenched cell are kept.</summary>
    public int AmorphousCells { get; init; } = 2;
    public int LiquidSnapshots { get; init; } = 2;

    /// <summary>
    /// Melt-quench schedule: steps at <see cref="MeltTemperature"/>, then a linear quench to 300 K. SW silicon
    /// superheats: at the crystal's density a 64-atom cell stays crystalline for picoseconds at 3000 K, so the melt runs hotter.
    /// </summary>
    public int MeltSteps { get; init; } = 2000;
    public int QuenchSteps { get; init; } = 3000;
    public double MeltTemperature { get; init; } = 6000;

    /// <summary>Snapshots taken during the quench (evenly spaced; group "quench").</summary>
    public int QuenchSnapshots { get; init; } = 2;
    public double TimeStep { get; init; } = 1.0;
}

/// <summary>
/// The per-atom data set of issue 11, made by the project: crystalline Si (rattled), the crystal scaled
/// from compressed to expanded bond lengths, self-interstitials, a vacancy, and amorphous Si from a
/// Stillinger–Weber melt-quench (Langevin MD: melt, linear quench, relaxation), all labelled with the
/// OLCAO-form target of <see cref="GaussianPotentialTarget"/> (and the reference potential's energy,
/// forces and stress). <see cref="Generate"/> returns the training structures and one held-out
/// amorphous cell from an independent melt-quench (group "amorphous_test"). Seeded throughout.
/// </summary>
public static class PerAtomDatasetGenerator
{
    public static (List<Structure> Train, List<Structure> HeldOut) Generate(ICalculator calculator, PerAtomDatasetOptions? options = null, IProgress<string>? progress = null)
    {
        var o = options ?? new PerAtomDatasetOptions();
        var rng = new Random(o.Seed);
        double a0 = DatasetGenerator.DiamondLatticeConstant(calculator, o.Element);
        progress?.Report($"diamond lattice constant of {calculator.Name}: {a0:F4} Å");
        Structure Diamond64(double a) => Crystals.Supercell(Crystals.Diamond(o.Element, a), 2, 2, 2);
        var relaxOptions = new RelaxOptions { Algorithm = RelaxAlgorithm.Fire, Fmax = 0.02, MaxSteps = 400 };
        var train = new List<Structure>();
        void Add(Structure s, string group) { s.Group = group; train.Add(s); }

        for (int i = 0; i < o.CrystalCells; i++)
            Add(Crystals.Rattle(Diamond64(a0), 0.03 + 0.05 * rng.NextDouble(), rng.Next()), "crystal");
        for (int i = 0; i < o.ScaledCells; i++)
        {
            double f = o.ScaledCells == 1 ? 1 : o.MinScale + (o.MaxScale - o.MinScale) * i / (o.ScaledCells - 1);
            Add(Crystals.Rattle(Diamond64(a0 * f), 0.02, rng.Next()), "scaled");
        }

        // self-interstitials at the tetrahedral (¼ ¼ ¼ + ½ ½ ½ of the conventional cell) and hexagonal sites
        Vec3[] sites = [new(0.5, 0.5, 0.5), new(0.625, 0.625, 0.375)];
        for (int i = 0; i < o.InterstitialCells; i++)
        {
            var bulk = Diamond64(a0);
            var extra = sites[i % sites.Length] * a0;
            var s = new Structure(bulk.Cell, [.. bulk.Positions, extra], [.. bulk.AtomicNumbers, bulk.AtomicNumbers[0]], bulk.Pbc);
            s = Crystals.Rattle(s, 0.05, rng.Next());
            Add(Crystals.Rattle(Relaxation.Relax(calculator, s, relaxOptions).Structure, 0.02, rng.Next()), "interstitial");
        }
        for (int i = 0; i < o.VacancyCells; i++)
        {
            var bulk = Diamond64(a0);
            int gone = rng.Next(bulk.Count);
            var keep = Enumerable.Range(0, bulk.Count).Where(k => k != gone).ToArray();
            var s = Crystals.Rattle(new Structure(bulk.Cell, [.. keep.Select(k => bulk.Positions[k])], [.. keep.Select(k => bulk.AtomicNumbers[k])], bulk.Pbc), 0.05, rng.Next());
            Add(Crystals.Rattle(Relaxation.Relax(calculator, s, relaxOptions).Structure, 0.02, rng.Next()), "vacancy");
        }
        progress?.Report($"{train.Count} crystal, scaled, interstitial and vacancy cells; melt-quench MD...");

        // melt-quench runs in parallel: AmorphousCells for training, one more (its own seed) held out
        int runs = o.AmorphousCells + 1;
        var seeds = Enumerable.Range(0, runs).Select(_ => rng.Next()).ToArray();
        var results = new (List<Structure> Liquid, List<Structure> Quench, Structure Glass)[runs];
        MlipParallel.For(0, runs, r => results[r] = MeltQuench(calculator, Diamond64(a0), o, seeds[r], relaxOptions));
        for (int r = 0; r < o.AmorphousCells; r++)
        {
            foreach (var l in results[r].Liquid) Add(l, "liquid");
            foreach (var q in results[r].Quench) Add(q, "quench");
            Add(results[r].Glass, "amorphous");
        }
        var heldOut = results[runs - 1].Glass;
        heldOut.Group = "amorphous_test";

        progress?.Report($"labelling {train.Count + 1} structures with {calculator.Name} and the {o.Terms}-term Gaussian target...");
        var all = train.Append(heldOut).ToList();
        var labels = new CalculatorResult[all.Count];
        MlipParallel.For(0, all.Count, i => labels[i] = calculator.Calculate(all[i], forces: true, stress: true));
        for (int i = 0; i < all.Count; i++)
        {
            all[i].Energy = labels[i].Energy; all[i].Forces = labels[i].Forces; all[i].Stress = labels[i].Stress;
            all[i].AtomArrays.Remove("velocities");
            all[i].Info.Clear();
        }
        var target = new GaussianPotentialTarget(GaussianPotentialTarget.GeometricExponents(o.Terms, o.FirstAlpha, o.LastAlpha), o.TargetCutoff);
        target.Label(all);
        return (train, [heldOut]);
    }

    /// <summary>Langevin MD: melt at MeltTemperature, quench linearly to 300 K, relax. Returns liquid snapshots and the relaxed glass.</summary>
    private static (List<Structure> Liquid, List<Structure> Quench, Structure Glass) MeltQuench(ICalculator calculator, Structure start, PerAtomDatasetOptions o, int seed, RelaxOptions relax)
    {
        var state = new MdState(Crystals.Rattle(start, 0.1, seed));
        MaxwellBoltzmann.Initialize(state, o.MeltTemperature, seed);
        var thermostat = new Langevin(calculator, o.TimeStep, o.MeltTemperature, 0.05, seed ^ 0x2545f491);
        var md = new MolecularDynamics(thermostat, state);
        var liquid = new List<Structure>();
        int every = Math.Max(1, o.MeltSteps / Math.Max(1, o.LiquidSnapshots));
        for (int k = 0; k < o.LiquidSnapshots; k++)
        {
            md.Run(every);
            liquid.Add(state.Snapshot());
        }
        int chunk = 50;
        var quench = new List<Structure>();
        int snapEvery = o.QuenchSnapshots > 0 ? Math.Max(chunk, o.QuenchSteps / (o.QuenchSnapshots + 1) / chunk * chunk) : int.MaxValue;
        for (int step = 0; step < o.QuenchSteps; step += chunk)
        {
            thermostat.Temperature = o.MeltTemperature + (300 - o.MeltTemperature) * Math.Min(1.0, (step + chunk) / (double)o.QuenchSteps);
            md.Run(Math.Min(chunk, o.QuenchSteps - step));
            if ((step + chunk) % snapEvery == 0 && quench.Count < o.QuenchSnapshots) quench.Add(state.Snapshot());
        }
        var glass = Relaxation.Relax(calculator, state.Snapshot(), relax with { MaxSteps = 1000 }).Structure;
        return (liquid, quench, glass);
    }
}
