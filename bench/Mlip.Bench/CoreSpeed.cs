using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Mlip.Bench;

/// <summary>
/// How fast each core is right now: a short, fixed piece of floating-point work (square roots and exponentials over an
/// array that stays in the first-level cache) on a thread pinned to each core alone, in turn, a few rounds, the best round
/// per core. A virtual machine's vCPUs can differ by up to 1.5× and swap which is slow within minutes (another guest on
/// the same physical core); <see cref="WholeRunBenchmark"/> probes right before each interleaved pair of runs, pins the
/// one-core run to the faster core (so the 1 → 2 core ratio can only understate), and prints the capacity of all the cores
/// relative to that one, Σ_k speed_k / speed_used (1 + slow/fast on two cores): the ceiling of the ratio at that moment.
/// </summary>
internal static partial class CoreSpeed
{
    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setaffinity(int pid, nint size, ref ulong mask);

    /// <summary>Seconds of the work on each core (the best of the rounds) at one moment.</summary>
    public sealed record Reading(IReadOnlyDictionary<string, double> Seconds)
    {
        /// <summary>The core that did the work fastest (the first listed of equals).</summary>
        public string Fastest => Seconds.MinBy(kv => kv.Value).Key;

        /// <summary>Σ_k speed_k / speed of <paramref name="used"/>: how many of that core the cores together are worth.</summary>
        public double Capacity(string used) => Seconds.Values.Sum(t => Seconds[used] / t);

        public override string ToString() =>
            string.Join(" ", Seconds.Select(kv => string.Create(CultureInfo.InvariantCulture, $"c{kv.Key} {1e3 * kv.Value:F1} ms")));
    }

    /// <summary>The two readings around a run, averaged per core (the speed during the run is taken as the mean of the two).</summary>
    public static Reading Mean(Reading before, Reading after) =>
        new(before.Seconds.ToDictionary(kv => kv.Key, kv => 0.5 * (kv.Value + after.Seconds[kv.Key])));

    private const int Length = 2048;
    private static int _units;

    /// <summary>Seconds the work of the fastest core takes per round once calibrated (short: it runs before every pair of runs).</summary>
    private const double TargetSeconds = 0.03;

    /// <summary>One reading of <paramref name="cores"/>; null where a core cannot be pinned (not Linux, core above 63).</summary>
    public static Reading? Probe(IReadOnlyList<string> cores, int rounds = 3)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var numbers = new List<int>();
        foreach (var c in cores)
        {
            if (!int.TryParse(c, NumberStyles.None, CultureInfo.InvariantCulture, out int k) || k > 63) return null;
            numbers.Add(k);
        }
        Dictionary<string, double>? best = null;
        // the probe runs on its own thread, which pins itself to each core in turn (the bench's thread keeps its cores)
        var thread = new Thread(() =>
        {
            if (_units == 0) _units = Calibrate(numbers[0]);
            if (_units == 0) return;
            var b = cores.ToDictionary(c => c, _ => double.PositiveInfinity);
            for (int r = 0; r < rounds; r++)
                for (int i = 0; i < numbers.Count; i++)
                {
                    if (!Pin(numbers[i])) return;
                    b[cores[i]] = Math.Min(b[cores[i]], Time(_units));
                }
            best = b;
        }) { IsBackground = true };
        thread.Start();
        thread.Join();
        return best is null ? null : new Reading(best);
    }

    private static bool Pin(int core)
    {
        ulong mask = 1UL << core;
        if (sched_setaffinity(0, sizeof(ulong), ref mask) != 0) return false;
        Thread.Yield(); // let the scheduler move the thread onto the core before the clock starts
        return true;
    }

    /// <summary>Units of work that take about <see cref="TargetSeconds"/> on <paramref name="core"/> (doubled from one; the best of two tries each); 0 where it cannot be pinned.</summary>
    private static int Calibrate(int core)
    {
        if (!Pin(core)) return 0;
        int units = 1;
        Time(units); // JIT
        while (units < 1 << 20 && Math.Min(Time(units), Time(units)) < TargetSeconds) units *= 2;
        return units;
    }

    private static double _sink;

    private static double Time(int units)
    {
        var a = new double[Length];
        for (int k = 0; k < a.Length; k++) a[k] = 0.001 * k;
        long t0 = Stopwatch.GetTimestamp();
        double s = Work(a, units);
        double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        _sink += s;
        return seconds;
    }

    /// <summary>The fixed work: square roots and exponentials of an array in the first-level cache, updated in place (the sum keeps it from being dropped).</summary>
    private static double Work(double[] a, int units)
    {
        double s = 0;
        for (int u = 0; u < units; u++)
            for (int k = 0; k < a.Length; k++)
            {
                double x = a[k];
                s += Math.Sqrt(x * x + 1.0) * Math.Exp(-x);
                a[k] = 0.999 * x + 0.001;
            }
        return s;
    }
}
