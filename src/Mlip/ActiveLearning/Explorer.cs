using Mlip.Calculators;
using Mlip.Generation;
using Mlip.Simulation;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.ActiveLearning;

/// <summary>
/// What exploration starts from: the cells MD runs from, the crystals surfaces are cut from and the compositions of
/// the random crystals. From the user's files (<c>explore.md.cells</c>, <c>initial</c>) when given, else diamond cells
/// of <see cref="LearnConfig.Element"/>.
/// </summary>
public sealed record ExplorationSeeds(IReadOnlyList<Structure> MdStarts, IReadOnlyList<Structure> Crystals, IReadOnlyList<string> Compositions)
{
    public static ExplorationSeeds From(LearnConfig c)
    {
        var diamond = Structures.Crystals.Diamond(c.Element, c.LatticeConstant);
        var user = new List<Structure>();
        if (c.InitialFile is not null) user.AddRange(LearnConfig.ReadStructures(c.InitialFile));
        var mdCells = c.MdCellsFile is not null ? LearnConfig.ReadStructures(c.MdCellsFile).Select(Unlabelled).ToList() : null;
        if (mdCells is not null) user.AddRange(mdCells);
        var crystals = user.Where(s => s.HasCell && s.Pbc.AllPeriodic).Select(Unlabelled).ToList();
        if (!c.HasUserStructures) crystals = [diamond];
        var md = mdCells ?? (c.HasUserStructures ? crystals : [Structures.Crystals.Supercell(diamond, c.Md?.Cells ?? 1, c.Md?.Cells ?? 1, c.Md?.Cells ?? 1)]);
        if (c.Md is not null && md.Count == 0) throw new MlipException("explore.md: no periodic cell to start MD from (give explore.md.cells: FILE)");
        var compositions = c.RandomCompositions.Count > 0 ? c.RandomCompositions
            : c.HasUserStructures ? crystals.Select(s => s.Formula()).Distinct().ToList() : [c.Element + "8"];
        return new ExplorationSeeds(md, crystals, compositions);
    }

    private static Structure Unlabelled(Structure s)
    {
        var r = s.Clone();
        r.Energy = null; r.Forces = null; r.Stress = null;
        r.AtomArrays.Clear(); r.Info.Clear();
        return r;
    }
}

/// <summary>
/// Proposes unlabelled candidates: MD with the current model from each start cell at the configured temperatures
/// (and pressures, Berendsen), random symmetric crystals of the compositions, rattles, strains, vacancies and species
/// swaps of labelled structures, and surfaces cut from the given crystals. MD stops early when the model breaks down
/// (non-finite energy or a force above 50 eV/Å); the snapshots before that are kept.
/// </summary>
public static class Explorer
{
    public const double MaxForce = 50.0;

    /// <summary>
    /// Whether any labelled structure has a force component above 1 meV/Å. A model fitted only to perfect crystals (every
    /// force zero by symmetry) has learnt nothing about forces: MD with it is ballistic, atoms run into each other, and
    /// its snapshots are far from anything the material does at that temperature (labelled, 1 eV/atom above the crystal
    /// and tens of eV/Å). So MD waits until the training set holds forces; the other operations run from the start.
    /// </summary>
    public static bool ModelHasSeenForces(IReadOnlyList<Structure> labelled) =>
        labelled.Any(s => s.Forces is { } f && f.Any(v => Math.Max(Math.Abs(v.X), Math.Max(Math.Abs(v.Y), Math.Abs(v.Z))) > 1e-3));

    /// <summary>
    /// The candidates of one iteration. <paramref name="score"/>: the current model's uncertainty of a structure, which
    /// stops an MD run at <see cref="MdExploration.StopScore"/> (null: MD stops only at a breakdown).
    /// </summary>
    public static List<Structure> Candidates(LearnConfig c, ExplorationSeeds seeds, ICalculator model, IReadOnlyList<Structure> labelled, Random rng,
        Func<Structure, double>? score = null)
    {
        var list = new List<Structure>();
        if (c.Md is { } md && ModelHasSeenForces(labelled))
        {
            var runs = (from cell in seeds.MdStarts from t in md.Temperatures from p in md.Pressures select (Cell: cell, T: t, P: p, Seed: rng.Next())).ToArray();
            var results = new List<Structure>[runs.Length];
            MlipParallel.For(0, runs.Length, new ParallelOptions { MaxDegreeOfParallelism = c.Threads }, r =>
                results[r] = RunMd(runs[r].Cell, md, model, runs[r].T, runs[r].P, runs[r].Seed, score));
            foreach (var r in results) list.AddRange(r);
        }
        if (c.RandomCrystals > 0)
        {
            var comps = seeds.Compositions.Select(Composition.Parse).ToArray();
            var gen = new RandomCrystalGenerator(new RandomCrystalOptions { VolumeFactor = c.RandomVolumeFactor, SymmetryTolerance = 0 });
            for (int i = 0; i < c.RandomCrystals; i++)
            {
                Structure s;
                try { s = gen.GenerateAnyGroup(comps[i % comps.Length], rng).Structure; }
                catch (CompositionDoesNotFitException) { continue; }
                s.Info.Clear();
                list.Add(s);
            }
        }
        // the operations' starting points: the labelled structures (each pick can seed the next, further-out candidates),
        // or with explore.from: given the given crystals only (candidates stay within a fixed distance of them)
        var bases = c.ExploreFromGiven ? seeds.Crystals : labelled;
        for (int i = 0; i < c.Rattles && bases.Count > 0; i++)
        {
            var s = Crystals.Rattle(bases[rng.Next(bases.Count)], c.RattleAmplitude * (0.3 + 0.7 * rng.NextDouble()), rng.Next());
            s.Group = "rattle"; s.Info.Clear();
            list.Add(s);
        }
        for (int i = 0; i < c.Strains && bases.Count > 0; i++)
        {
            var s = Crystals.Rattle(Crystals.Deform(bases[rng.Next(bases.Count)], RandomStrain(rng, c.MaxStrain)), 0.02, rng.Next());
            s.Group = "strain"; s.Info.Clear();
            list.Add(s);
        }
        var periodic = bases.Where(s => s.HasCell && s.Pbc.AllPeriodic).ToList();
        for (int i = 0; i < c.VacancyCells && periodic.Count > 0; i++)
            if (StructureOperations.Vacancies(periodic[rng.Next(periodic.Count)], c.VacanciesPerCell, c.VacancyMinAtoms, rng) is { } v)
            {
                var s = StructureOperations.Rattle(v, 0.05, rng);
                s.Group = "vacancy";
                list.Add(s);
            }
        var mixed = bases.Where(s => s.DistinctAtomicNumbers().Length > 1).ToList();
        for (int i = 0; i < c.SwapCells && mixed.Count > 0; i++)
        {
            var s = StructureOperations.Rattle(StructureOperations.Swap(mixed[rng.Next(mixed.Count)], c.SwapsPerCell, rng)!, 0.05, rng);
            s.Group = "swap";
            list.Add(s);
        }
        for (int i = 0; i < c.SurfaceSlabs && seeds.Crystals.Count > 0; i++)
        {
            var bulk = seeds.Crystals[rng.Next(seeds.Crystals.Count)];
            var hkl = c.SurfaceMiller[rng.Next(c.SurfaceMiller.Count)];
            var slab = StructureOperations.Surface(bulk, hkl[0], hkl[1], hkl[2], c.SurfaceLayers, c.SurfaceVacuum);
            var s = StructureOperations.Rattle(slab, 0.05, rng);
            s.Group = slab.Group;
            list.Add(s);
        }
        return list;
    }

    public static Matrix3 RandomStrain(Random rng, double max) => StructureOperations.RandomStrain(rng, max);

    /// <summary>
    /// Langevin MD (Berendsen barostat at a pressure) from <paramref name="start"/>; snapshots until the model breaks down
    /// or, with <paramref name="score"/>, until a snapshot's uncertainty exceeds <see cref="MdExploration.StopScore"/>
    /// (that snapshot is the last one returned).
    /// </summary>
    public static List<Structure> RunMd(Structure start, MdExploration md, ICalculator model, double temperature, double? pressure, int seed,
        Func<Structure, double>? score = null)
    {
        var state = new MdState(start.Clone());
        MaxwellBoltzmann.Initialize(state, temperature, seed);
        var integrator = new Langevin(model, md.TimeStep, temperature, 0.02, seed ^ 0x5bd1e995);
        if (pressure is double p) integrator.Barostat = new BerendsenBarostat(p, 100 * md.TimeStep, 0.01);
        bool broken = false;
        var dynamics = new MolecularDynamics(integrator, state)
        {
            StopWhen = s =>
            {
                if (!double.IsFinite(s.PotentialEnergy)) return broken = true;
                foreach (var f in s.Forces) if (!f.IsFinite || f.Norm > MaxForce) return broken = true;
                return false;
            },
        };
        var snaps = new List<Structure>();
        int every = Math.Max(1, md.Steps / Math.Max(1, md.Snapshots));
        string group = FormattableString.Invariant($"md_{temperature:F0}K") + (pressure is double pp ? FormattableString.Invariant($"_{pp:G3}GPa") : "");
        for (int k = 0; k < md.Snapshots && !broken; k++)
        {
            try { dynamics.Run(every); }
            catch (Exception e) when (e is Validation.MlipException or ArithmeticException or InvalidOperationException) { break; }
            if (broken) break;
            var snap = state.Snapshot();
            snap.AtomArrays.Remove("velocities");
            snap.Info.Clear();
            snap.Energy = null; snap.Forces = null; snap.Stress = null;
            snap.Group = group;
            snaps.Add(snap);
            if (score is not null && double.IsFinite(md.StopScore) && !(score(snap) <= md.StopScore)) break;
        }
        return snaps;
    }
}
