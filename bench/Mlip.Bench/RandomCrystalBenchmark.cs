using System.Diagnostics;
using Mlip.Generation;

namespace Mlip.Bench;

/// <summary>
/// Random symmetric crystals: mean time to generate a 2-element, 24-atom cell (Ga12As12) in every group the
/// composition fits, and the failure rate per group. Wyckoff derivation (once per group) is timed apart.
/// </summary>
public static class RandomCrystalBenchmark
{
    public static void Run(string[] args)
    {
        int repeats = args.Contains("--quick") ? 3 : 10;
        var comp = Composition.Parse("Ga12As12");
        var generator = new RandomCrystalGenerator();
        var rng = new Random(1);
        var clock = Stopwatch.StartNew();
        var allowed = new List<int>();
        for (int n = 1; n <= 230; n++) if (RandomCrystalGenerator.Fits(comp, SpaceGroup.Get(n))) allowed.Add(n);
        double setup = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"Wyckoff positions of all 230 groups derived and fit-checked in {setup:F2} s; {allowed.Count} groups fit {comp}");
        long ticks = 0; int ok = 0, failed = 0, super = 0;
        var failures = new List<string>();
        double worst = 0; int worstGroup = 0;
        foreach (int n in allowed)
        {
            int fails = 0;
            var g = Stopwatch.StartNew();
            for (int r = 0; r < repeats; r++)
            {
                var t = Stopwatch.GetTimestamp();
                try
                {
                    var c = generator.Generate(comp, n, rng);
                    ok++;
                    if (c.IsSupergroup) super++;
                }
                catch (CompositionDoesNotFitException) { failed++; fails++; }
                ticks += Stopwatch.GetTimestamp() - t;
            }
            double mean = g.Elapsed.TotalMilliseconds / repeats;
            if (mean > worst) { worst = mean; worstGroup = n; }
            if (fails > 0) failures.Add($"{SpaceGroup.Get(n)}: {fails}/{repeats}");
        }
        double meanMs = ticks * 1000.0 / Stopwatch.Frequency / (ok + failed);
        Console.WriteLine($"{ok + failed} generations over {allowed.Count} groups ({repeats} each): mean {meanMs:F2} ms per cell (goal < 50 ms), slowest group {SpaceGroup.Get(worstGroup)} {worst:F1} ms");
        Console.WriteLine($"failures: {failed} ({100.0 * failed / (ok + failed):F1} %); supergroups detected by spglib: {super} ({100.0 * super / Math.Max(1, ok):F1} % of successes)");
        foreach (var f in failures) Console.WriteLine($"  failed {f}");
    }
}
