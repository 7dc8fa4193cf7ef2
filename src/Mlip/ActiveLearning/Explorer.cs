using Mlip.Calculators;
using Mlip.Generation;
using Mlip.Simulation;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.ActiveLearning;

/// <summary>
/// Proposes unlabelled candidates: MD with the current model at the configured temperatures (and pressures,
/// Berendsen), random symmetric crystals, rattles and strains of labelled structures. MD stops early when the
/// model breaks down (non-finite energy or a force above 50 eV/Å); the snapshots before that are kept.
/// </summary>
public static class Explorer
{
    public const double MaxForce = 50.0;

    public static List<Structure> Candidates(LearnConfig c, ICalculator model, IReadOnlyList<Structure> labelled, Random rng)
    {
        var list = new List<Structure>();
        if (c.Md is { } md)
        {
            var runs = (from t in md.Temperatures from p in md.Pressures select (T: t, P: p, Seed: rng.Next())).ToArray();
            var results = new List<Structure>[runs.Length];
            MlipParallel.For(0, runs.Length, new ParallelOptions { MaxDegreeOfParallelism = c.Threads }, r =>
                results[r] = RunMd(c, md, model, runs[r].T, runs[r].P, runs[r].Seed));
            foreach (var r in results) list.AddRange(r);
        }
        if (c.RandomCrystals > 0)
        {
            var comp = Composition.Parse(c.RandomComposition ?? c.Element + "8");
            var gen = new RandomCrystalGenerator(new RandomCrystalOptions { VolumeFactor = c.RandomVolumeFactor, SymmetryTolerance = 0 });
            for (int i = 0; i < c.RandomCrystals; i++)
            {
                var s = gen.GenerateAnyGroup(comp, rng).Structure;
                s.Info.Clear();
                list.Add(s);
            }
        }
        for (int i = 0; i < c.Rattles && labelled.Count > 0; i++)
        {
            var s = Crystals.Rattle(labelled[rng.Next(labelled.Count)], c.RattleAmplitude * (0.3 + 0.7 * rng.NextDouble()), rng.Next());
            s.Group = "rattle"; s.Info.Clear();
            list.Add(s);
        }
        for (int i = 0; i < c.Strains && labelled.Count > 0; i++)
        {
            var s = Crystals.Rattle(Crystals.Deform(labelled[rng.Next(labelled.Count)], RandomStrain(rng, c.MaxStrain)), 0.02, rng.Next());
            s.Group = "strain"; s.Info.Clear();
            list.Add(s);
        }
        return list;
    }

    public static Matrix3 RandomStrain(Random rng, double max)
    {
        double U() => max * (2 * rng.NextDouble() - 1);
        double xx = U(), yy = U(), zz = U(), yz = U() / 2, xz = U() / 2, xy = U() / 2;
        return new Matrix3(xx, xy, xz, xy, yy, yz, xz, yz, zz);
    }

    private static List<Structure> RunMd(LearnConfig c, MdExploration md, ICalculator model, double temperature, double? pressure, int seed)
    {
        var start = Crystals.Supercell(Crystals.Diamond(c.Element, c.LatticeConstant), md.Cells, md.Cells, md.Cells);
        var state = new MdState(start);
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
        }
        return snaps;
    }
}
