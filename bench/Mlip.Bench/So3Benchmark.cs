using System.Diagnostics;
using System.Globalization;
using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Neighbors;
using Mlip.Structures;

namespace Mlip.Bench;

/// <summary>
/// SO(3) power spectrum "SO3-40" (nmax 4, lmax 3, alpha 2, rc 4.9 Å, weights = Z as PyXtal_FF
/// uses) with derivatives and stress on 64-atom rattled diamond Si (2×2×2 cells, a = 5.431 Å,
/// ±0.05 Å), single thread, against PyXtal_FF 0.2.3's 0.537 s for the same job
/// (../shared/data/reference-timings.md; measured on this machine kind, so the ratio is indicative
/// only: absolute times move by up to ~1.5× between machines). One run = neighbour list +
/// descriptors + pair derivative blocks + forces and stress contracted from them.
/// </summary>
public static class So3Benchmark
{
    private const double PyXtalFfSeconds = 0.537;

    public static void Run(string[] args)
    {
        int repeats = 10;
        for (int a = 0; a + 1 < args.Length; a++)
            if (args[a] == "--repeats") repeats = int.Parse(args[a + 1], CultureInfo.InvariantCulture);

        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 2, 2), 0.05, 12345);
        var d = new So3(new So3Parameters()); // SO3-40
        var rng = new Random(1);
        var dEdX = new double[s.Count * d.FeatureCount];
        for (int q = 0; q < dEdX.Length; q++) dEdX[q] = rng.NextDouble() - 0.5;

        double Once(out int pairs, out long bytes)
        {
            var sw = Stopwatch.StartNew();
            var nl = NeighborList.Build(s, d.Cutoff);
            var set = d.Compute(s, derivatives: true, nl);
            var (forces, stress) = ForceContraction.Contract(set, dEdX, s.Volume);
            sw.Stop();
            pairs = nl.PairCount;
            bytes = set.DerivativeBytes;
            GC.KeepAlive(forces);
            GC.KeepAlive(stress);
            return sw.Elapsed.TotalSeconds;
        }

        Once(out _, out _); // warm-up (JIT)
        Once(out _, out _);
        var times = new double[repeats];
        int pairCount = 0;
        long derivativeBytes = 0;
        for (int r = 0; r < repeats; r++)
        {
            GC.Collect();
            times[r] = Once(out pairCount, out derivativeBytes);
        }
        Array.Sort(times);
        double median = repeats % 2 == 1 ? times[repeats / 2] : 0.5 * (times[repeats / 2 - 1] + times[repeats / 2]);

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"SO3-40 (nmax 4, lmax 3, alpha 2, rc 4.9, {d.RadialBasis.QuadraturePoints} quadrature points), {s.Count}-atom rattled diamond Si, {pairCount} pairs, derivatives + stress, single thread"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Mlip: median {median * 1e3:F2} ms of {repeats} (min {times[0] * 1e3:F2}, max {times[^1] * 1e3:F2}); derivative blocks {derivativeBytes / 1e6:F1} MB"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"PyXtal_FF 0.2.3: {PyXtalFfSeconds:F3} s (reference-timings.md)  ->  Mlip is {PyXtalFfSeconds / median:F0}x faster ({median / PyXtalFfSeconds:F4} of its time)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"per atom: {median / s.Count * 1e6:F1} µs; per pair: {median / pairCount * 1e6:F2} µs"));
    }
}
