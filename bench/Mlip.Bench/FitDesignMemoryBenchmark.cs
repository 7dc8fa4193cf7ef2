using System.Diagnostics;
using System.Globalization;
using Mlip.AutoFit;
using Mlip.IO;
using Mlip.Structures;

namespace Mlip.Bench;

/// <summary>
/// The memory of one basis of <c>mlip fit</c> on a subset of the mlearn Si training set: the search's estimate (what it
/// uses to skip a basis and what --dry-run shows) against the process's peak resident memory after the design's build
/// and after one round of candidate solves (as many in parallel as threads) and a refit. The estimate is of the whole
/// process (runtime and data included); run it under <c>/usr/bin/time -v</c> for an outside figure of the same peak.
/// </summary>
public static class FitDesignMemoryBenchmark
{
    public static void Run(string[] args)
    {
        string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        int level = int.Parse(Arg("--level", "2"), CultureInfo.InvariantCulture);
        double rc = double.Parse(Arg("--rc", "5.5"), CultureInfo.InvariantCulture);
        int count = int.Parse(Arg("--structures", "40"), CultureInfo.InvariantCulture); // 0: all
        int threads = int.Parse(Arg("--threads", "2"), CultureInfo.InvariantCulture);
        string root = FitBenchmark.RepoRoot();
        var all = StructureIO.Read(Path.Combine(root, "..", "shared", "data", "mlearn", "Si", "training.json"));
        // every k-th structure: the subset keeps the data set's mix of groups and sizes
        int step = count <= 0 ? 1 : Math.Max(1, all.Count / count);
        var train = all.Where((_, i) => i % step == 0).Take(count <= 0 ? all.Count : count).ToList();
        string family = Arg("--family", "ace");
        int twoj = int.Parse(Arg("--twoj", "6"), CultureInfo.InvariantCulture);
        var basis = family == "ace" ? FitBasis.Ace(level, rc) : FitBasis.So4(family, twoj, rc);
        var search = new FitSearch(new FitOptions { Train = train, Output = Path.GetTempPath(), Threads = threads });
        var (seconds, columns, memory) = search.Estimate(basis);
        long bytes = memory.Peak;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{basis.Label}: {columns} columns, {train.Count} structures ({train.Sum(s => s.Count)} atoms), {threads} threads; estimated {memory}, {seconds:F0} s"));
        if (args.Contains("--estimate-only")) return;
        GC.Collect();
        long before = Current(); // resident memory of the process before the build (data, runtime, JIT)
        long peakBefore = Peak();
        var clock = Stopwatch.StartNew();
        var design = LinearDesign.Build(basis.Descriptor.Create(["Si"]), basis.Order, train, search.Folds, threads);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"built in {clock.Elapsed.TotalSeconds:F1} s (peak resident before it {peakBefore / 1e9:F2} GB): blocks {design.Blocks.Bytes / 1e9:F2} GB, validation rows {design.Validation.Sum(v => 4L * v.A.Length) / 1e9:F2} GB; peak resident {Peak() / 1e9:F2} GB (resident before the build {before / 1e9:F2} GB)"));
        long afterBuild = Peak();
        var ridge = Enumerable.Repeat(1e-8, design.Columns).ToArray();
        clock.Restart();
        // as the search does: one workspace per thread, two solves on each
        var workspaces = Enumerable.Range(0, threads).Select(_ => new double[(long)design.Columns * design.Columns]).ToArray();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, w =>
        {
            for (int f = 0; f < 2; f++) design.Blocks.Solve((w + f) % search.Folds.Count, [1, 0.03, 1e-4], ridge, workspaces[w]);
        });
        // and the refit on all folds while the workspaces are held (as the search does at the end of a basis)
        design.Blocks.Solve(null, [1, 0.03, 1e-4], ridge);
        GC.KeepAlive(workspaces);
        long peak = Peak();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{2 * threads} solves in {clock.Elapsed.TotalSeconds:F1} s; peak resident {peak / 1e9:F2} GB; over the process before the build: build {(afterBuild - before) / 1e9:F2} GB, " +
            $"whole {(peak - before) / 1e9:F2} GB; the estimate of the whole process's peak {bytes / 1e9:F2} GB against its peak resident {peak / 1e9:F2} GB (estimate / measured {bytes / (double)peak:F2})"));
    }

    private static long Current()
    {
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64;
    }

    private static long Peak()
    {
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.PeakWorkingSet64;
    }
}
