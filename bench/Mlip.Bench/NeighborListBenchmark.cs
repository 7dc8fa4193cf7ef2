using System.Diagnostics;
using System.Globalization;
using Mlip.Neighbors;
using Mlip.Structures;

namespace Mlip.Bench;

/// <summary>
/// Neighbour-list build time on diamond-Si supercells (a = 5.431 Å, rattled by ±0.05 Å) at a 5 Å
/// cutoff: time per atom must stay flat (O(N)). The reference measured in the same run is a brute
/// force over all pairs and the 27 nearest images, on the smallest cell.
/// </summary>
public static class NeighborListBenchmark
{
    public static void Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        const double a = 5.431, rc = 5.0;
        int[] reps = quick ? [5, 11] : [5, 11, 23];
        Console.WriteLine($"Neighbour list, diamond Si a={a} Å rattled ±0.05 Å, cutoff {rc} Å, single thread");
        Console.WriteLine($"{"atoms",8} {"pairs",10} {"median ms",10} {"µs/atom",9} {"vs 1k",7} {"alloc MB",9}");
        double? first = null;
        Structure? smallest = null;
        double smallestMs = 0;
        foreach (int n in reps)
        {
            var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", a), n, n, n), 0.05, 12345);
            smallest ??= s;
            NeighborList.Build(s, rc); // warm up (JIT)
            int repeats = s.Count > 50_000 ? 5 : 11;
            var times = new double[repeats];
            long alloc = 0;
            int pairs = 0;
            for (int r = 0; r < repeats; r++)
            {
                GC.Collect();
                long before = GC.GetAllocatedBytesForCurrentThread();
                var sw = Stopwatch.StartNew();
                var nl = NeighborList.Build(s, rc);
                sw.Stop();
                alloc = GC.GetAllocatedBytesForCurrentThread() - before;
                times[r] = sw.Elapsed.TotalMilliseconds;
                pairs = nl.PairCount;
            }
            Array.Sort(times);
            double ms = times[repeats / 2];
            if (ReferenceEquals(s, smallest)) smallestMs = ms;
            double perAtom = 1000 * ms / s.Count;
            first ??= perAtom;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{s.Count,8} {pairs,10} {ms,10:F2} {perAtom,9:F3} {perAtom / first.Value,7:F2} {alloc / 1e6,9:F1}"));
        }

        // Reference in the same run: brute force over all pairs and images -1..1 (valid: cell > 2 rc).
        var b = smallest!;
        var swb = Stopwatch.StartNew();
        int brutePairs = BruteForceCount(b, rc);
        swb.Stop();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"brute force, {b.Count} atoms: {swb.Elapsed.TotalMilliseconds:F1} ms, {brutePairs} pairs; cell list is {swb.Elapsed.TotalMilliseconds / smallestMs:F1}x faster"));
    }

    private static int BruteForceCount(Structure s, double rc)
    {
        int count = 0;
        double rc2 = rc * rc;
        var cell = s.Cell;
        for (int i = 0; i < s.Count; i++)
            for (int j = 0; j < s.Count; j++)
                for (int sa = -1; sa <= 1; sa++)
                    for (int sb = -1; sb <= 1; sb++)
                        for (int sc = -1; sc <= 1; sc++)
                        {
                            if (i == j && sa == 0 && sb == 0 && sc == 0) continue;
                            if (NeighborList.PairVector(s.Positions[i], s.Positions[j], cell, sa, sb, sc).NormSquared < rc2) count++;
                        }
        return count;
    }
}
