using System.Diagnostics;
using System.Globalization;
using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Structures;

namespace Mlip.Bench;

/// <summary>
/// EAD-30 (L 2, η 0.36, ten shifts 0..4.5 Å, rc 4.9 Å; <see cref="EadParameters.PyXtalFF30"/>) on the
/// 64-atom rattled diamond-Si cell of shared/data/reference-timings.md, with derivatives and stress,
/// single thread: median of 20 timed runs after warm-up, printed next to PyXtal_FF 0.2.3's 0.219 s for
/// the same setting as a speed-up ratio. Two figures: the descriptor call (neighbour list, features and
/// every ∂X_i/∂r_ij block), and that call plus the contraction to forces and stress for a random dE/dX.
/// </summary>
public static class EadBenchmark
{
    /// <summary>PyXtal_FF 0.2.3, EAD-30, 64-atom Si, descriptors with derivatives and stress, one call (s).</summary>
    public const double PyXtalFFSeconds = 0.219;

    public static void Run(string[] args)
    {
        int repeats = 20;
        for (int a = 0; a < args.Length - 1; a++)
            if (args[a] == "--repeats") repeats = int.Parse(args[a + 1], CultureInfo.InvariantCulture);

        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 2, 2), 0.05, 12345);
        var ead = new Ead(EadParameters.PyXtalFF30());
        var dEdX = new double[s.Count * ead.FeatureCount];
        var rng = new Random(1);
        for (int q = 0; q < dEdX.Length; q++) dEdX[q] = rng.NextDouble() - 0.5;

        // warm-up: let the JIT reach its optimised tier
        var warm = Stopwatch.StartNew();
        for (int r = 0; r < 50 || warm.Elapsed.TotalSeconds < 1.0; r++)
        {
            var set = ead.Compute(s, derivatives: true);
            ForceContraction.Contract(set, dEdX, s.Volume);
        }

        var descriptorMs = new double[repeats];
        var totalMs = new double[repeats];
        int pairs = 0;
        long alloc = 0;
        for (int r = 0; r < repeats; r++)
        {
            GC.Collect();
            long before = GC.GetAllocatedBytesForCurrentThread();
            var sw = Stopwatch.StartNew();
            var set = ead.Compute(s, derivatives: true);
            double t1 = sw.Elapsed.TotalMilliseconds;
            var (_, stress) = ForceContraction.Contract(set, dEdX, s.Volume);
            sw.Stop();
            alloc = GC.GetAllocatedBytesForCurrentThread() - before;
            if (stress is null) throw new InvalidOperationException("no stress");
            descriptorMs[r] = t1;
            totalMs[r] = sw.Elapsed.TotalMilliseconds;
            pairs = set.Neighbors.PairCount;
        }
        double d = Median(descriptorMs), t = Median(totalMs);
        double reference = PyXtalFFSeconds * 1000;

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"EAD-30 (L 2, eta 0.36, 10 shifts 0..4.5, rc 4.9), {s.Count}-atom rattled diamond Si, {pairs} pairs, {ead.FeatureCount} features, single thread"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"median of {repeats} runs after warm-up; PyXtal_FF 0.2.3 reference: {reference:F1} ms (reference-timings.md)"));
        Console.WriteLine($"{"",-40} {"median ms",10} {"min ms",8} {"speed-up",9} {"alloc MB",9}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{"descriptors + dX/dr (incl. neighbours)",-40} {d,10:F3} {Min(descriptorMs),8:F3} {reference / d,8:F0}x {alloc / 1e6,9:F2}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{"  + forces and stress contraction",-40} {t,10:F3} {Min(totalMs),8:F3} {reference / t,8:F0}x"));
    }

    private static double Median(double[] v)
    {
        var c = (double[])v.Clone();
        Array.Sort(c);
        int n = c.Length;
        return n % 2 == 1 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    }

    private static double Min(double[] v)
    {
        double m = double.PositiveInfinity;
        foreach (double x in v) m = Math.Min(m, x);
        return m;
    }
}
