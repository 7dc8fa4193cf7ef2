using System.Diagnostics;
using System.Globalization;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;

namespace Mlip.Bench;

/// <summary>
/// Every descriptor at the parameter sets of ../shared/data/reference-timings.md on the 64-atom
/// rattled diamond-Si cell (a = 5.431 Å, ±0.05 Å, rc 4.9), with derivatives and stress, single
/// thread, next to PyXtal_FF 0.2.3 on this machine kind; and the whole mlearn Si training set with
/// derivatives on 1 and 2 threads, with peak memory next to the size of the derivative blocks.
/// </summary>
public static class DescriptorsBenchmark
{
    /// <summary>The settings of reference-timings.md with PyXtal_FF's seconds for one 64-atom call.</summary>
    public static IEnumerable<(string Name, IDescriptor Descriptor, double PyXtalSeconds, double Target)> Settings()
    {
        yield return ("SO4-30 (2J=6)", new BispectrumSo4(new So4Parameters { TwoJMax = 6, RcutFac = 4.9 }), 0.368, double.NaN);
        yield return ("SO4-55 (2J=8)", new BispectrumSo4(new So4Parameters { TwoJMax = 8, RcutFac = 4.9 }), 0.863, double.NaN);
        yield return ("SO3-40", new So3(new So3Parameters { Rcutfac = 4.9, Nmax = 4, Lmax = 3, Alpha = 2.0 }), 0.537, 100);
        yield return ("EAD-30", new Ead(EadParameters.PyXtalFF30()), 0.219, 100);
        yield return ("ACSF-70", new Acsf(Acsf70()), 2.534, 300);
    }

    /// <summary>30 G2 (6 η × 5 Rs) and 40 G4 (5 η × 4 ζ × 2 λ), rc 4.9, cosine cutoff.</summary>
    public static AcsfParameters Acsf70()
    {
        double[] etas2 = [0.035709, 0.071418, 0.178545, 0.35709, 0.71418, 1.78545];
        double[] rs = [0, 1, 2, 3, 4];
        var g2 = new List<RadialTerm>();
        foreach (double e in etas2) foreach (double r in rs) g2.Add(new RadialTerm(e, r));
        return new AcsfParameters
        {
            Cutoff = 4.9,
            Elements = ["Si"],
            G2 = g2,
            G4 = AcsfParameters.AngularGrid([0.035709, 0.071418, 0.178545, 0.35709, 0.71418], [1, 2, 4, 8], [1, -1]),
            G5 = [],
        };
    }

    public static void Run(string[] args)
    {
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 2, 2), 0.05, 12345);
        Console.WriteLine($"64-atom rattled diamond Si, rc 4.9, descriptors + derivatives + forces/stress contraction, single thread, median");
        Console.WriteLine($"{"setting",-16} {"K",4} {"Mlip ms",9} {"PyXtal_FF ms",13} {"speed-up",9} {"target",7}");
        foreach (var (name, d, py, target) in Settings())
        {
            var w = new double[s.Count * d.FeatureCount];
            var rng = new Random(1);
            for (int q = 0; q < w.Length; q++) w[q] = rng.NextDouble() - 0.5;
            double ms = Median(() =>
            {
                var set = d.Compute(s, true);
                ForceContraction.Contract(set, w, s.Volume);
            });
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-16} {d.FeatureCount,4} {ms,9:F2} {1000 * py,13:F0} {1000 * py / ms,8:F0}x {(double.IsNaN(target) ? "-" : $"{target:F0}x"),7}"));
        }
        if (args.Contains("--no-dataset")) return;

        string path = Path.Combine(RepoRoot(), "..", "shared", "data", "mlearn", "Si", "training.json");
        var data = StructureIO.Read(path);
        int atoms = data.Sum(x => x.Count);
        Console.WriteLine();
        Console.WriteLine($"mlearn Si training set ({data.Count} structures, {atoms} atoms), SO4-55 with derivatives (PyXtal_FF: 181 s)");
        var so4 = new BispectrumSo4(new So4Parameters { TwoJMax = 8, RcutFac = 4.9 });
        DatasetDescriptors.Compute(so4, data.Take(4).ToList(), true); // warm-up
        foreach (int threads in new[] { 1, 2 })
        {
            GC.Collect();
            var sw = Stopwatch.StartNew();
            var sets = DatasetDescriptors.Compute(so4, data, true, threads);
            sw.Stop();
            long blocks = sets.Sum(x => x.DerivativeBytes) + sets.Sum(x => (long)x.Values.Length * 8);
            long peak = Process.GetCurrentProcess().PeakWorkingSet64;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {threads} thread(s): {sw.Elapsed.TotalSeconds:F2} s ({181 / sw.Elapsed.TotalSeconds:F0}x PyXtal_FF), features + derivative blocks {blocks / 1e6:F0} MB, peak resident {peak / 1e6:F0} MB"));
            sets = null;
        }
    }

    private static double Median(Action run)
    {
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 0.5) run();
        var t = new List<double>();
        var total = Stopwatch.StartNew();
        while (t.Count < 5 || (t.Count < 21 && total.Elapsed.TotalSeconds < 3))
        {
            var sw = Stopwatch.StartNew();
            run();
            t.Add(sw.Elapsed.TotalMilliseconds);
        }
        t.Sort();
        return t[t.Count / 2];
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Mlip.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
