using System.Diagnostics;
using System.Globalization;
using Mlip.ActiveLearning;
using Mlip.Structures;

namespace Mlip.Bench;

/// <summary>
/// The loop's labeller with a command that sleeps 1 s per structure (then writes labels with awk): a batch of 20 with
/// reference.parallel 1, 2 and 4 jobs, wall time and the ratio to one job, in the same process.
/// </summary>
public static class LabellingBenchmark
{
    public static void Run(string[] args)
    {
        int count = args.Length > 1 && args[0] == "--count" ? int.Parse(args[1], CultureInfo.InvariantCulture) : 20;
        string dir = Path.Combine(Path.GetTempPath(), "mlip-bench-labelling-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        string job = Path.Combine(dir, "job.sh");
        File.WriteAllText(job, """
            #!/bin/sh
            sleep 1
            awk 'NR==1{print; n=$1; next}
                 NR==2{line=$0; sub(/Properties=[^ ]*/, "Properties=species:S:1:pos:R:3:forces:R:3", line); next}
                 {a[NR]=$1" "$2" "$3" "$4" 0 0 0"}
                 END{printf "%s energy=%.6f\n", line, -4*n; for(i=3;i<=NR;i++) print a[i]}' in.xyz > out.xyz
            """);
        var set = Enumerable.Range(0, count).Select(i => Crystals.Rattle(Crystals.Diamond("Si", 5.431), 0.05, i + 1)).ToList();
        double baseline = 0;
        foreach (int jobs in new[] { 1, 2, 4 })
        {
            var reference = new CommandReference($"sh {job}", Path.Combine(dir, $"p{jobs}"), "in.xyz", "out.xyz", 600, jobs);
            var clock = Stopwatch.StartNew();
            var (labelled, failed) = new Labeller(reference, threads: 1, retries: 0, TextWriter.Null).LabelAll(set, "b");
            double s = clock.Elapsed.TotalSeconds;
            if (jobs == 1) baseline = s;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"parallel {jobs}: {count} structures in {s:F2} s ({labelled.Count} labelled, {failed.Count} failed), time / parallel-1 time {s / baseline:F3} (ideal {1.0 / jobs:F3})"));
        }
        Directory.Delete(dir, recursive: true);
    }
}
