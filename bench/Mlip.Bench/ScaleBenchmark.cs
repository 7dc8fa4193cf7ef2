using System.Diagnostics;
using System.Globalization;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Training;

namespace Mlip.Bench;

/// <summary>
/// docs/scale.md, "Benchmark": the mlearn Si training set replicated ×1, ×4, ×16, ×64 (written to a temporary folder,
/// never committed), fitted by <c>mlip train</c> with the linear ACE of examples/si-ace-300.yaml and the quadratic SO(4) of
/// examples/si-quadratic-qsnap.yaml, each case in a child process of its own so that its peak resident memory (VmHWM) is
/// its own. Prints per case: atoms, mode (streamed from the store, or in memory), peak memory, store disk use, wall time, and
/// the relative difference of the coefficients from the in-memory fit of ×1 (the replicas repeat every row, and each class
/// of rows is weighted by its weight over its row count, so every replication has the same least-squares solution).
/// At ×1 a second streamed run with another ridge shows the reuse of the store (time, and its log line). Model "nn": the
/// network of examples/si-nn-so4.yaml for 2 epochs of Adam on mini-batches of 16 structures (memory of the streamed batches).
/// </summary>
public static class ScaleBenchmark
{
    public static void Run(string[] args)
    {
        string root = FitBenchmark.RepoRoot();
        int[] replicas = Option(args, "--replicas", "1,4").Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        string[] models = Option(args, "--models", "ace,quadratic").Split(',');
        int threads = int.Parse(Option(args, "--threads", "1"), CultureInfo.InvariantCulture);
        bool inMemory = !args.Contains("--no-in-memory");
        bool reuse = !args.Contains("--no-reuse");
        string work = Option(args, "--work", Path.Combine(Path.GetTempPath(), $"mlip-scale-{Environment.ProcessId}"));
        Directory.CreateDirectory(work);
        var train = StructureIO.Read(Path.Combine(root, "..", "shared", "data", "mlearn", "Si", "training.json"));
        Console.WriteLine($"scale: mlearn Si training set ({train.Count} structures, {train.Sum(s => s.Count)} atoms) x {string.Join(", ", replicas)}; {threads} thread(s); work folder {work}");
        Console.WriteLine("(wall s is wall-clock on whatever else the machine runs; CPU s is the child's user + system time, much less sensitive to the load; memory is each child's VmHWM)");
        Console.WriteLine();
        Console.WriteLine($"{"model",-10} {"x",4} {"atoms",8} {"mode",-10} {"peak GB",8} {"disk MB",8} {"wall s",8} {"CPU s",8} {"coef. diff",11}");
        foreach (string model in models)
        {
            string example = Path.Combine(root, "examples", model switch { "ace" => "si-ace-300.yaml", "nn" => "si-nn-so4.yaml", _ => "si-quadratic-qsnap.yaml" });
            bool network = model == "nn";
            double[]? reference = null;
            foreach (int x in replicas)
            {
                string data = Path.Combine(work, $"si-x{x}.xyz");
                if (!File.Exists(data)) StructureIO.Write(data, [.. Enumerable.Range(0, x).SelectMany(_ => train)]);
                long atoms = (long)x * train.Sum(s => s.Count);
                if (x == replicas[0] && inMemory)
                {
                    var m = RunCase(example, data, Path.Combine(work, $"{model}-x{x}-memory"), "none", threads, null);
                    reference = m.Coefficients;
                    Print(model, x, atoms, "in memory", m, null);
                }
                string store = Path.Combine(work, $"store-{model}-x{x}");
                if (Directory.Exists(store)) Directory.Delete(store, true);
                var r = RunCase(example, data, Path.Combine(work, $"{model}-x{x}"), store, threads, null);
                reference ??= r.Coefficients;
                Print(model, x, atoms, "streamed", r, reference);
                if (x == replicas[0] && !network && reuse)
                {
                    var again = RunCase(example, data, Path.Combine(work, $"{model}-x{x}-ridge"), store, threads, 1e-6);
                    Print(model, x, atoms, "reuse", again, null);
                    Console.WriteLine($"    second run, ridge 1e-6: {again.ReuseLine ?? "NO REUSE LINE"}");
                }
            }
        }
    }

    private sealed record CaseResult(double PeakGb, double DiskMb, double Seconds, double CpuSeconds, double[] Coefficients, string? ReuseLine);

    private static void Print(string model, int x, long atoms, string mode, CaseResult r, double[]? reference)
    {
        string diff = reference is null || reference.Length == 0 ? "" : Relative(r.Coefficients, reference).ToString("E2", CultureInfo.InvariantCulture);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{model,-10} {x,4} {atoms,8} {mode,-10} {r.PeakGb,8:F2} {r.DiskMb,8:F1} {r.Seconds,8:F1} {r.CpuSeconds,8:F1} {diff,11}"));
    }

    private static double Relative(double[] a, double[] b)
    {
        double d = 0, n = 0;
        for (int i = 0; i < a.Length; i++) { d += (a[i] - b[i]) * (a[i] - b[i]); n += b[i] * b[i]; }
        return Math.Sqrt(d / n);
    }

    /// <summary>Runs <c>mlip train</c> of the example on <paramref name="data"/> in a child process (this benchmark, verb scale-run).</summary>
    private static CaseResult RunCase(string example, string data, string output, string store, int threads, double? ridge)
    {
        Directory.CreateDirectory(output);
        string config = Path.Combine(output, "config.yaml");
        var lines = File.ReadAllLines(example).Where(l => !l.StartsWith('#')).Select(l =>
            l.StartsWith("train:", StringComparison.Ordinal) ? $"train: {data}"
            : l.StartsWith("test:", StringComparison.Ordinal) ? ""
            : l.StartsWith("output:", StringComparison.Ordinal) ? $"output: {output}"
            : l.StartsWith("threads:", StringComparison.Ordinal) ? $"threads: {threads}"
            : ridge is not null && l.TrimStart().StartsWith("ridge:", StringComparison.Ordinal) ? $"  ridge: {ridge.Value.ToString("R", CultureInfo.InvariantCulture)}"
            // a network: 2 epochs of Adam on mini-batches of 16 structures (streamed from the store), to measure memory
            : l.TrimStart().StartsWith("optimizer: lbfgs", StringComparison.Ordinal) ? "  optimizer: adam\n  batch: 16"
            : l.TrimStart().StartsWith("epochs:", StringComparison.Ordinal) ? "  epochs: 2"
            : l.TrimStart().StartsWith("evaluate_every:", StringComparison.Ordinal) ? "  evaluate_every: 1"
            : l).ToList();
        lines.Add($"store: {store}");
        File.WriteAllLines(config, lines);
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") start.ArgumentList.Add(typeof(ScaleBenchmark).Assembly.Location);
        start.ArgumentList.Add("scale-run");
        start.ArgumentList.Add(config);
        var clock = Stopwatch.StartNew();
        using var child = Process.Start(start)!;
        var stderr = child.StandardError.ReadToEndAsync();
        string stdout = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        double seconds = clock.Elapsed.TotalSeconds;
        if (child.ExitCode != 0) throw new InvalidOperationException($"scale-run {config} failed ({child.ExitCode}):\n{stdout}\n{stderr.Result}");
        File.WriteAllText(Path.Combine(output, "log.txt"), stdout);
        long hwm = long.Parse(stdout.Split('\n').Last(l => l.StartsWith("peak_rss_kb:", StringComparison.Ordinal))["peak_rss_kb:".Length..], CultureInfo.InvariantCulture);
        double cpu = double.Parse(stdout.Split('\n').Last(l => l.StartsWith("cpu_s:", StringComparison.Ordinal))["cpu_s:".Length..], CultureInfo.InvariantCulture);
        double disk = store == "none" || !Directory.Exists(store) ? 0 : new DirectoryInfo(store).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length) / 1e6;
        var model = ModelFile.Load(Path.Combine(output, "model.json")).Model as PolynomialModel;
        string? reuse = stdout.Split('\n').FirstOrDefault(l => l.Contains("descriptor store: reusing", StringComparison.Ordinal));
        return new CaseResult(hwm * 1024 / 1e9, disk, seconds, cpu, model is null ? [] : [.. model.Coefficients.SelectMany(c => c)], reuse);
    }

    /// <summary>The child: one <c>mlip train</c>, its log on stdout, then its peak resident memory.</summary>
    public static void RunChild(string[] args)
    {
        var config = TrainConfig.Load(args[0]);
        TrainingRun.Execute(config, Console.Out);
        string hwm = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        Console.WriteLine($"peak_rss_kb:{hwm.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]}");
        using var self = Process.GetCurrentProcess();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"cpu_s:{self.TotalProcessorTime.TotalSeconds:F2}")); // user + system, every thread
    }

    private static string Option(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}
