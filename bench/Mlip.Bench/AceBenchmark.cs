using System.Diagnostics;
using System.Globalization;
using Mlip.Descriptors.Ace;
using Mlip.Models;
using Mlip.Structures;

namespace Mlip.Bench;

/// <summary>
/// <c>ace</c>: the force call (energy, forces, stress) of Debian's Cu-PBE-core-rep.ace (742 functions, rc 7.4 Å)
/// on a 4000-atom rattled fcc Cu cell (10×10×10 conventional cells, a = 3.615 Å, rattle 0.05 Å, seeded), µs
/// per atom-step, with the product and the recursive evaluator, beside Mlip's linear SNAP Cu_Zuo_JPCA2020 on the same cell in the same run;
/// and, when scripts/build-lammps.sh has built LAMMPS with ML-PACE, LAMMPS's <c>pair_style pace product|recursive</c> and
/// <c>pair_style snap</c> on the same cell in the same run (single thread; their energies checked against Mlip's). <c>ace-basis</c>: the size of a linear ACE basis for given options.
/// </summary>
public static class AceBenchmark
{
    public static void Run(string[] args)
    {
        int repeats = Arg(args, "--repeats", 3);
        int cells = Arg(args, "--cells", 10);
        string dir = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "mlip", "lammps", "reference", "potentials");
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Cu", 3.615), cells, cells, cells), 0.05, 7);
        Console.WriteLine($"force call (energy, forces, stress), rattled fcc Cu, {s.Count} atoms, {Environment.ProcessorCount} threads, best of {repeats}");
        var ace = Mlip.Models.Ace.AcePotential.Load(Path.Combine(dir, "Cu-PBE-core-rep.ace"), AceEvaluatorKind.Product);
        var rec = Mlip.Models.Ace.AcePotential.Load(Path.Combine(dir, "Cu-PBE-core-rep.ace"), AceEvaluatorKind.Recursive);
        var graph = ((AceDensities)rec.Descriptor).Evaluator.Recursive!.Size(0);
        Console.WriteLine($"recursive graph: {graph.Leaves} leaves, {graph.Interior} interior + {graph.Terminal} terminal product nodes (product evaluator: {graph.ProductMultiplications} multiplications)");
        var snap = ModelFile.Load(Path.Combine(dir, "Cu_Zuo_JPCA2020.snapcoeff"));
        if (args.Contains("--profile"))
            foreach (var pot in new[] { ace, rec }) Profile(pot, s);
        // interleaved, best of each: all see the same machine load
        ace.Calculate(s); rec.Calculate(s); snap.Calculate(s);
        double tAce = double.MaxValue, tRec = double.MaxValue, tSnap = double.MaxValue;
        for (int r = 0; r < repeats; r++)
        {
            tAce = Math.Min(tAce, Time(ace, s));
            tRec = Math.Min(tRec, Time(rec, s));
            tSnap = Math.Min(tSnap, Time(snap, s));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"PACE Cu-PBE-core-rep.ace (product)",-40} {tAce,10:F2} µs/atom-step"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"PACE Cu-PBE-core-rep.ace (recursive)",-40} {tRec,10:F2} µs/atom-step"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"SNAP Cu_Zuo_JPCA2020 (linear)",-40} {tSnap,10:F2} µs/atom-step"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ratios: product/SNAP {tAce / tSnap:F2}, recursive/SNAP {tRec / tSnap:F2}, recursive/product {tRec / tAce:F2}"));
        LammpsReference(s, dir, ace, rec, snap, tAce, tRec, tSnap);
    }

    /// <summary>LAMMPS on the same cell in the same run (one thread, energy + forces + virial every step: pe and press in thermo).</summary>
    private static void LammpsReference(Structure s, string dir, Potential ace, Potential rec, Potential snap, double tAce, double tRec, double tSnap)
    {
        if (LammpsTiming.Executable is null || !LammpsTiming.HasPackage("ML-PACE"))
        {
            Console.WriteLine("LAMMPS with ML-PACE not built (scripts/build-lammps.sh): no LAMMPS reference in this run");
            return;
        }
        var files = new Dictionary<string, string>
        {
            ["Cu.ace"] = File.ReadAllText(Path.Combine(dir, "Cu-PBE-core-rep.ace")),
            ["Cu.snapcoeff"] = File.ReadAllText(Path.Combine(dir, "Cu_Zuo_JPCA2020.snapcoeff")),
            ["Cu.snapparam"] = File.ReadAllText(Path.Combine(dir, "Cu_Zuo_JPCA2020.snapparam")),
        };
        const string tail = "mass 1 63.546\nthermo_style custom step pe press\nthermo_modify format float %.15g\nthermo 1\nrun 0\nrun 5\n";
        var rows = new (string Name, string Style, Potential Pot, double Mlip)[]
        {
            ("pace product", "pair_style pace product\npair_coeff * * Cu.ace Cu\n", ace, tAce),
            ("pace recursive", "pair_style pace recursive\npair_coeff * * Cu.ace Cu\n", rec, tRec),
            ("snap", "pair_style snap\npair_coeff * * Cu.snapcoeff Cu.snapparam Cu\n", snap, tSnap),
        };
        Console.WriteLine($"{"LAMMPS (1 thread)",-22} {"µs/atom-step",13} {"Mlip/LAMMPS",12} {"|E_Mlip - E_LAMMPS| (eV)",26}");
        foreach (var (name, style, pot, mlip) in rows)
        {
            var r = LammpsTiming.Run(s, style + tail, files)!.Value;
            double us = r.SecondsPerStep * 1e6 / s.Count;
            double diff = r.LastPe is double pe ? Math.Abs(pot.Calculate(s).Energy - pe) : double.NaN;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-22} {us,13:F2} {mlip / us,12:F3} {diff,26:E2}"));
        }
        Console.WriteLine($"(Mlip ran on {Environment.ProcessorCount} threads, LAMMPS on one: multiply the ratios by {Environment.ProcessorCount} for a per-core comparison)");
    }

    /// <summary>Densities pass and general adjoint pass separately, and the same with only the rank-1 functions (the neighbour passes).</summary>
    private static void Profile(Potential pot, Structure s)
    {
        var d = (AceDensities)pot.Descriptor;
        Console.WriteLine($"profile, {d.Evaluator.Kind} evaluator:");
        d.Compute(s, false);
        var c = Stopwatch.StartNew();
        var set = d.Compute(s, false);
        double tc = c.Elapsed.TotalSeconds;
        var dEdX = new double[set.Values.Length];
        for (int i = 0; i < s.Count; i++) { dEdX[i * 3] = 1; dEdX[i * 3 + 1] = 0.1; dEdX[i * 3 + 2] = 1; }
        c.Restart();
        d.ForcesFromAdjoint(s, dEdX, set.Neighbors);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"densities {tc * 1e6 / s.Count:F1} µs/atom, adjoint {c.Elapsed.TotalSeconds * 1e6 / s.Count:F1} µs/atom, {set.Neighbors.PairCount / (double)s.Count:F0} neighbours/atom"));
        // the product stage alone (what the two evaluators do differently): one atom's base, forward and backward
        var ev = d.Evaluator;
        var w = ev.CreateWorkspace();
        var nl = set.Neighbors;
        var range = nl.PairRange(0);
        var sp = new int[range.Count];
        ev.AtomicBase(0, sp, nl.Vectors.Slice(range.Start, range.Count), nl.Distances.Slice(range.Start, range.Count), w);
        Span<double> rho = stackalloc double[ev.DensityCount(0)];
        double[] dE = [1, 0.1];
        int reps = 2000;
        c.Restart();
        for (int k = 0; k < reps; k++) ev.Densities(0, w, rho);
        double tf = c.Elapsed.TotalSeconds;
        c.Restart();
        for (int k = 0; k < reps; k++) ev.Weights(0, dE, w);
        double tb = c.Elapsed.TotalSeconds;
        var vec = nl.Vectors.Slice(range.Start, range.Count); var dist = nl.Distances.Slice(range.Start, range.Count);
        var dEdr = new Vec3[range.Count];
        c.Restart();
        for (int k = 0; k < reps / 4; k++) ev.AtomicBase(0, sp, vec, dist, w, true);
        double ta = c.Elapsed.TotalSeconds / (reps / 4);
        ev.Densities(0, w, rho);
        c.Restart();
        for (int k = 0; k < reps / 4; k++) ev.Adjoint(0, dE, 1, sp, vec, dist, w, dEdr, true);
        double tn = c.Elapsed.TotalSeconds / (reps / 4) - tb / reps;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"one atom, one thread: atomic base {ta * 1e6:F2} µs, products forward {tf * 1e6 / reps:F2} µs, backward {tb * 1e6 / reps:F2} µs, neighbour force pass {tn * 1e6:F2} µs"));
        var b = d.Basis;
        var r1 = new AceBasisSet
        {
            Elements = b.Elements, LMax = b.LMax, NRadBase = b.NRadBase, NRadMax = b.NRadMax, RankMax = 1, NDensityMax = b.NDensityMax, CutoffMax = b.CutoffMax,
            DeltaSplineBins = b.DeltaSplineBins, E0 = b.E0, Bonds = b.Bonds, Embeddings = b.Embeddings, Functions = [.. b.Functions.Select(f => f.Where(x => x.Rank == 1).ToArray())],
        };
        var d1 = new AceDensities(r1);
        d1.Compute(s, false);
        c.Restart();
        set = d1.Compute(s, false);
        tc = c.Elapsed.TotalSeconds;
        c.Restart();
        d1.ForcesFromAdjoint(s, dEdX, set.Neighbors);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"rank-1 only (neighbour passes): densities {tc * 1e6 / s.Count:F1} µs/atom, adjoint {c.Elapsed.TotalSeconds * 1e6 / s.Count:F1} µs/atom"));
    }

    private static double Time(Potential p, Structure s)
    {
        var clock = Stopwatch.StartNew();
        p.Calculate(s);
        return clock.Elapsed.TotalSeconds * 1e6 / s.Count;
    }

    public static void Basis(string[] args)
    {
        var spec = new AceBasisSpec
        {
            Elements = [Str(args, "--elements", "Si")],
            Cutoff = Arg(args, "--rc", 5.0),
            MaxRank = Arg(args, "--order", 3),
            NMax = [.. Str(args, "--nmax", "8,6,4").Split(',').Select(int.Parse)],
            LMax = [.. Str(args, "--lmax", "0,4,3").Split(',').Select(int.Parse)],
            TotalDegree = Arg(args, "--degree", 0.0),
            LWeight = Arg(args, "--wl", 1.5),
        };
        var clock = Stopwatch.StartNew();
        var d = new AceBasisDescriptor(spec);
        var byRank = d.Functions.GroupBy(f => f.Rank).OrderBy(g => g.Key).Select(g => $"rank {g.Key}: {g.Count()}");
        Console.WriteLine($"{d.FeatureCount} functions ({string.Join(", ", byRank)}), {d.Functions.Sum(f => f.MsCount)} m-combinations, built in {clock.Elapsed.TotalSeconds:F2} s");
    }

    private static T Arg<T>(string[] args, string name, T fallback) where T : IParsable<T>
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? T.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static string Str(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}
