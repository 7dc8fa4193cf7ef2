using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace Mlip.Bench;

/// <summary>
/// <c>mpi [--ranks N] [--config PATH] [--in-memory] [--replicas K] [--phases] [--copies] [--no-handover]</c>: the speed-up of <c>mpirun -n N mlip train</c> (N ranks × 1 thread) over one
/// process × 1 thread on the same config (default: the quadratic SO(4) 2J=8 fit of examples/si-quadratic-qsnap.yaml on
/// the mlearn Si training set, or with --replicas K that set repeated K times; its test set left out; each run with a fresh descriptor store, or with --in-memory none), the wall time of each, the largest resident memory of a
/// process (getrusage of the children; the N-rank run goes first, since that figure only grows), and the largest difference between the two models' numbers.
/// Both runs use the CLI built in src/Mlip.Cli/bin/Release (./mlip builds it); run on a quiet machine. <c>--phases</c> prints every
/// process's phase lines (MLIP_PHASE_TIMES=1: wall and CPU of each phase, rank by rank); <c>--copies</c> measures the ceiling
/// instead (<see cref="Copies"/>); <c>--no-handover</c> runs the ranks with MLIP_MPI_HANDOVER=0 (without the rows' handover, on by default: a rank done with its share builds rows for its partner).
/// <c>--fit FIT.yaml</c> times <c>mlip fit TRAIN --config FIT.yaml</c> instead (the automatic search; its config sets the search and
/// <c>threads</c>), on the same training set, and compares the chosen candidates and models.
/// </summary>
public static class MpiBenchmark
{
    public static void Run(string[] args)
    {
        int ranks = 2, replicas = 1;
        string root = FitBenchmark.RepoRoot();
        string config = Path.Combine(root, "examples", "si-quadratic-qsnap.yaml");
        for (int i = 0; i + 1 < args.Length; i++)
        {
            if (args[i] == "--ranks") ranks = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--config") config = Path.GetFullPath(args[i + 1]);
            if (args[i] == "--replicas") replicas = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
        }
        string? cli = CliExecutable.Find(root);
        if (cli is null) { Console.WriteLine("the Mlip CLI could not be built (./mlip --help)"); return; }
        bool inMemory = args.Contains("--in-memory");
        string dir = Directory.CreateTempSubdirectory("mlip-mpi-bench").FullName;
        string? data = null;
        if (replicas > 1)
        {
            // the training set repeated (as bench scale does): MPI is for large data, the larger set shows the asymptotic ratio
            string train = TrainPath(config);
            var structures = Mlip.IO.StructureIO.Read(train);
            data = Path.Combine(dir, $"train-x{replicas}.xyz");
            Mlip.IO.StructureIO.Write(data, [.. Enumerable.Range(0, replicas).SelectMany(_ => structures)]);
        }
        if (Array.IndexOf(args, "--fit") is int at and >= 0 && at + 1 < args.Length)
        {
            Fit(cli, Path.GetFullPath(args[at + 1]), data ?? TrainPath(config), dir, ranks);
            return;
        }
        if (args.Contains("--copies"))
        {
            Copies(cli, config, dir, ranks, inMemory, data);
            return;
        }
        string one = Single(config, dir, "one", inMemory, data), many = Single(config, dir, "many", inMemory, data);
        bool phases = args.Contains("--phases");

        // the ranks first: RUSAGE_CHILDREN keeps the largest so far, and one process needs more than one of N ranks
        var (tn, rssn, cn) = Time("mpirun", ["--oversubscribe", "-n", ranks.ToString(CultureInfo.InvariantCulture), cli, "train", many], ranks, phases, !args.Contains("--no-handover"));
        var (t1, rss1, c1) = Time(cli, ["train", one], null, phases);
        double diff = MaxRelativeDifference(Path.Combine(dir, "one", "model.json"), Path.Combine(dir, "many", "model.json"));
        var m1 = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "one", "metrics.json")))!;
        var mn = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "many", "metrics.json")))!;
        Console.WriteLine($"config: {config}{(replicas > 1 ? $", training set x{replicas}" : "")} (threads: 1, no test set, {(inMemory ? "store: none (each rank its rows in memory)" : "a fresh descriptor store for each run (each rank its share of the chunks; 2 ranks exchange their factors and both merge them, more merge along a tree)")})");
        Console.WriteLine("run                     wall s   CPU s (all ranks)   descriptors s   fit s   peak RSS of a process (MB)");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"1 process x 1 thread  {t1,8:F1}   {c1,17:F1}   {(double)m1["descriptor_seconds"]!,13:F1}   {(double)m1["fit_seconds"]!,5:F1}   {rss1 / 1e6,8:F0}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{ranks} ranks x 1 thread    {tn,8:F1}   {cn,17:F1}   {(double)mn["descriptor_seconds"]!,13:F1}   {(double)mn["fit_seconds"]!,5:F1}   {rssn / 1e6,8:F0}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"speed-up {t1 / tn:F2}x wall (target >= 1.6 for 2 ranks on 2 quiet cores); CPU of all ranks / CPU of one process {cn / c1:F2}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"(on a machine whose load or CPU quota leaves less than {ranks} free cores the wall ratio says nothing; the CPU ratio is the work the split adds)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"models: max |difference| / max |value| = {diff:G3}"));
    }

    /// <summary><c>mpirun -n N mlip fit</c> against <c>mlip fit</c>: wall, CPU, peak memory, the chosen candidate and the models.</summary>
    private static void Fit(string cli, string fitConfig, string train, string dir, int ranks)
    {
        string one = Path.Combine(dir, "fit-one"), many = Path.Combine(dir, "fit-many");
        var (tn, rssn, cn) = Time("mpirun", ["--oversubscribe", "-n", ranks.ToString(CultureInfo.InvariantCulture), "--mca", "mpi_yield_when_idle", "1", cli, "fit", train, "--config", fitConfig, "-o", many], ranks);
        var (t1, rss1, c1) = Time(cli, ["fit", train, "--config", fitConfig, "-o", one], null);
        static string Chosen(string d)
        {
            var c = JsonNode.Parse(File.ReadAllText(Path.Combine(d, "report.json")))!["chosen"]!;
            return c["id"]!.ToJsonString() + c["basis"]!.ToJsonString() + c["hyperparameters"]!.ToJsonString();
        }
        Console.WriteLine($"mlip fit {train} --config {fitConfig}");
        Console.WriteLine("run                     wall s   CPU s (all ranks)   peak RSS of a process (MB)");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"1 process             {t1,8:F1}   {c1,17:F1}   {rss1 / 1e6,8:F0}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{ranks} ranks               {tn,8:F1}   {cn,17:F1}   {rssn / 1e6,8:F0}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"speed-up {t1 / tn:F2}x wall; CPU of all ranks / CPU of one process {cn / c1:F2}"));
        Console.WriteLine($"chosen candidate the same: {Chosen(one) == Chosen(many)}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"models: max |difference| / max |value| = {MaxRelativeDifference(Path.Combine(one, "model.json"), Path.Combine(many, "model.json")):G3}"));
    }

    /// <summary>A copy of the config with threads 1, a fresh descriptor store of its own (or none), absolute data paths, no test set and its own output.</summary>
    private static string TrainPath(string config)
    {
        string line = File.ReadAllLines(config).Select(l => l.TrimStart()).First(l => l.StartsWith("train:", StringComparison.Ordinal));
        return Path.GetFullPath(Path.Combine(Path.GetDirectoryName(config)!, line["train:".Length..].Trim()));
    }

    private static string Single(string config, string dir, string name, bool inMemory, string? data)
    {
        string baseDir = Path.GetDirectoryName(config)!;
        var lines = new List<string>();
        foreach (var line in File.ReadAllLines(config))
        {
            var t = line.TrimStart();
            if (t.StartsWith("threads:", StringComparison.Ordinal) || t.StartsWith("output:", StringComparison.Ordinal) || t.StartsWith("test:", StringComparison.Ordinal)
                || t.StartsWith("store:", StringComparison.Ordinal)) continue;
            lines.Add(t.StartsWith("train:", StringComparison.Ordinal) ? "train: " + (data ?? Path.GetFullPath(Path.Combine(baseDir, t["train:".Length..].Trim()))) : line);
        }
        lines.Add("threads: 1");
        lines.Add("store: " + (inMemory ? "none" : Path.Combine(dir, name + "-store")));
        lines.Add("output: " + Path.Combine(dir, name));
        string path = Path.Combine(dir, name + ".yaml");
        File.WriteAllLines(path, lines);
        return path;
    }

    /// <summary>
    /// <c>--copies</c>: the most two (N) 1-thread ranks can gain on this machine, whatever the split costs: one <c>mlip train</c>
    /// alone on core 0, then N independent copies of it at once, copy i on core i (as mpirun binds rank i), each with its own
    /// fresh store. N × (time alone) / (time of the slowest copy) is the ceiling of the MPI speed-up: a virtual machine whose
    /// cores slow each other down (shared caches, memory bandwidth, a host's sibling threads) stays below N even for work that
    /// needs no communication at all.
    /// </summary>
    private static void Copies(string cli, string config, string dir, int copies, bool inMemory, string? data)
    {
        var (t1, _, c1) = Time("taskset", ["-c", "0", cli, "train", Single(config, dir, "alone", inMemory, data)], null);
        var psis = Enumerable.Range(0, copies).Select(i =>
        {
            var psi = new ProcessStartInfo("taskset") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "-c", i.ToString(CultureInfo.InvariantCulture), cli, "train", Single(config, dir, $"copy{i}", inMemory, data) })
                psi.ArgumentList.Add(a);
            return psi;
        }).ToArray();
        double cpuBefore = CpuOfChildren();
        var clock = Stopwatch.StartNew();
        var running = psis.Select(psi => Process.Start(psi)!).ToArray();
        var outputs = running.Select(p => (Out: p.StandardOutput.ReadToEndAsync(), Err: p.StandardError.ReadToEndAsync())).ToArray();
        var walls = new double[copies];
        var waits = running.Select((p, i) => Task.Run(() => { p.WaitForExit(); walls[i] = clock.Elapsed.TotalSeconds; })).ToArray();
        Task.WaitAll(waits);
        double cn = CpuOfChildren() - cpuBefore;
        for (int i = 0; i < copies; i++)
            if (running[i].ExitCode != 0) throw new InvalidOperationException($"copy {i} failed ({running[i].ExitCode}):\n{outputs[i].Out.Result}\n{outputs[i].Err.Result}");
        Console.WriteLine($"config: {config}{(data is not null ? ", training set " + data : "")} (threads: 1, no test set, a fresh store each)");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"1 process alone on core 0: {t1:F1} s wall, {c1:F1} s CPU"));
        for (int i = 0; i < copies; i++)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"copy {i} on core {i} (with {copies - 1} other copies at once): {walls[i]:F1} s wall"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{copies} copies at once: {walls.Max():F1} s wall, {cn:F1} s CPU in all ({cn / (copies * c1):F2} x the CPU of {copies} lone runs); ceiling of the {copies}-rank speed-up: {copies * t1 / walls.Max():F2}x"));
    }

    private static (double Seconds, long PeakRss, double CpuSeconds) Time(string exe, string[] args, int? ranks, bool phases = false, bool handover = true)
    {
        double cpuBefore = CpuOfChildren();
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (phases) psi.Environment["MLIP_PHASE_TIMES"] = "1";
        if (!handover) psi.Environment["MLIP_MPI_HANDOVER"] = "0"; // the rows' handover off (on by default: docs/scale.md)
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (ranks is not null)
        {
            psi.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
            psi.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
            psi.Environment["TERM"] = "dumb";
        }
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        double s = clock.Elapsed.TotalSeconds;
        if (p.ExitCode != 0) throw new InvalidOperationException($"{exe} {string.Join(' ', args)} failed ({p.ExitCode}):\n{o.Result}\n{e.Result}");
        if (phases)
        {
            // MLIP_PHASE_TIMES=1: one process writes its phases to its log (stdout), each rank to stderr; ranks in order
            var lines = (o.Result + "\n" + e.Result).Split('\n').Where(l => l.StartsWith("phase (rank ", StringComparison.Ordinal));
            foreach (var line in lines.OrderBy(l => l[..l.IndexOf(')', StringComparison.Ordinal)], StringComparer.Ordinal)) Console.WriteLine(line);
        }
        return (s, PeakRssOfChildren(), CpuOfChildren() - cpuBefore);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public long UtimeSec, UtimeUsec, StimeSec, StimeUsec;
        public long MaxRss; // kilobytes
        public long Ixrss, Idrss, Isrss, Minflt, Majflt, Nswap, Inblock, Oublock, Msgsnd, Msgrcv, Nsignals, Nvcsw, Nivcsw;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, out RUsage usage);

    /// <summary>The largest resident set of any waited-for descendant so far (RUSAGE_CHILDREN: a maximum, so the runs are measured in increasing order of memory only roughly).</summary>
    private static long PeakRssOfChildren() => getrusage(-1, out var u) == 0 ? u.MaxRss * 1024 : 0;

    /// <summary>User + system CPU seconds of every waited-for descendant so far (mpirun waits for its ranks).</summary>
    private static double CpuOfChildren() =>
        getrusage(-1, out var u) == 0 ? u.UtimeSec + u.UtimeUsec / 1e6 + u.StimeSec + u.StimeUsec / 1e6 : 0;

    private static double MaxRelativeDifference(string a, string b)
    {
        var x = new List<double>(); var y = new List<double>();
        Numbers(JsonNode.Parse(File.ReadAllText(a))!["model"], x);
        Numbers(JsonNode.Parse(File.ReadAllText(b))!["model"], y);
        double scale = x.Max(Math.Abs), diff = x.Zip(y, (p, q) => Math.Abs(p - q)).Max();
        return diff / scale;
    }

    private static void Numbers(JsonNode? n, List<double> list)
    {
        switch (n)
        {
            case JsonObject o: foreach (var kv in o.OrderBy(kv => kv.Key, StringComparer.Ordinal)) Numbers(kv.Value, list); break;
            case JsonArray arr: foreach (var v in arr) Numbers(v, list); break;
            case JsonValue v when v.TryGetValue<double>(out double d): list.Add(d); break;
        }
    }
}
