using System.Diagnostics;
using System.Globalization;
using Mlip.Descriptors;
using Mlip.Structures;

namespace Mlip.Bench;

/// <summary>
/// SO(4) bispectrum on a 2000-atom rattled diamond-Si cell (a = 5.431 Å, ±0.05 Å), rc 4.9,
/// rfac0 0.99363, single thread: values only, values + derivative blocks (what compute
/// sna + snad + snav give), and the adjoint force path (what pair_style snap does).
/// LAMMPS's figures on this machine kind (../shared/data/reference-timings.md) are printed beside.
/// </summary>
public static class So4Benchmark
{
    private static readonly Dictionary<int, (double sna, double full, double snap)> Lammps = new()
    {
        [6] = (22.5, 210.7, double.NaN),
        [8] = (double.NaN, 525.4, 132.6),
    };

    public static void Run(string[] args)
    {
        int[] twojs = args.Contains("--quick") ? [6] : [6, 8];
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 5, 5, 10), 0.05, 12345);
        Console.WriteLine($"SO(4) bispectrum, {s.Count}-atom rattled diamond Si, rc 4.9, single thread (µs per atom; LAMMPS from reference-timings.md)");
        Console.WriteLine($"{"2J",3} {"K",4} {"values",10} {"LAMMPS sna",11} {"+deriv",10} {"LAMMPS sna+snad+snav",21} {"ratio",6} {"adjoint",9} {"LAMMPS snap",12} {"ratio",6}");
        foreach (int twoj in twojs)
        {
            var d = new BispectrumSo4(new So4Parameters { TwoJMax = twoj, RcutFac = 4.9, Rfac0 = 0.99363, BzeroFlag = false });
            var nl = Mlip.Neighbors.NeighborList.Build(s, d.Cutoff);
            double tv = Time(() => d.Compute(s, false, nl), s.Count);
            double td = Time(() => d.Compute(s, true, nl), s.Count);
            var beta = new double[s.Count * d.FeatureCount];
            var rng = new Random(1);
            for (int q = 0; q < beta.Length; q++) beta[q] = rng.NextDouble() - 0.5;
            double ta = Time(() => d.ForcesFromAdjoint(s, beta, nl), s.Count);
            var l = Lammps.GetValueOrDefault(twoj, (sna: double.NaN, full: double.NaN, snap: double.NaN));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{twoj,3} {d.FeatureCount,4} {tv,10:F1} {l.sna,11:F1} {td,10:F1} {l.full,21:F1} {td / l.full,6:F2} {ta,9:F1} {l.snap,12:F1} {ta / l.snap,6:F2}"));
        }
    }

    /// <summary>Median µs per atom over a few runs after a warm-up.</summary>
    private static double Time(Action run, int atoms)
    {
        run();
        var t = new List<double>();
        var total = Stopwatch.StartNew();
        while (t.Count < 3 || (t.Count < 7 && total.Elapsed.TotalSeconds < 10))
        {
            var sw = Stopwatch.StartNew();
            run();
            t.Add(sw.Elapsed.TotalMilliseconds * 1000 / atoms);
        }
        t.Sort();
        return t[t.Count / 2];
    }
}
