using System.Diagnostics;
using Mlip.Tests.Fuzz;

namespace Mlip.Bench;

/// <summary>
/// The long run of the structure-reader fuzz test: N seeded mutants per format (default 3000) of the
/// test fixtures through read, validation, a 3 Å neighbour list, the data-set summary and extxyz output.
/// Prints the counts per outcome and every untyped exception or hang with its case id and seed
/// (Mutator.Mutant(text, seed, id, json) rebuilds the input). Exit code 1 when any was found.
/// </summary>
public static class FuzzBenchmark
{
    public static void Run(string[] args)
    {
        int count = 3000, seed = 1;
        double hang = 60;
        string[]? only = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--count": count = int.Parse(args[++i]); break;
                case "--seed": seed = int.Parse(args[++i]); break;
                case "--hang": hang = double.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--format": only = args[++i].Split(','); break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        string root = RepoRoot();
        string data = Path.Combine(root, "tests", "Mlip.Tests", "Data");
        string mlearn = Path.Combine(Path.GetDirectoryName(root)!, "shared", "data", "mlearn", "Si", "test.json");
        Console.WriteLine($"fuzz: {count} mutants per format, seed {seed}, hang guard {hang} s");
        int bad = 0;
        var total = Stopwatch.StartNew();
        foreach (var target in StructureFuzzTargets.All(data, mlearn))
        {
            if (only is not null && !only.Contains(target.Format)) continue;
            var sw = Stopwatch.StartNew();
            var report = target.Run(count, seed, TimeSpan.FromSeconds(hang));
            Console.WriteLine($"{report}  ({sw.Elapsed.TotalSeconds:F1} s)");
            bad += report.Untyped + report.Hangs;
        }
        Console.WriteLine($"total {total.Elapsed.TotalSeconds:F1} s; untyped exceptions and hangs: {bad}");
        if (bad > 0) Environment.ExitCode = 1;
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Mlip.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
