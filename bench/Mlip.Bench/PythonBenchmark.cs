using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Mlip.Models;
using Mlip.Structures;

namespace Mlip.Bench;

/// <summary>
/// The cost of one calculation through Python's <c>MlipCalculator</c> (python/mlip: ASE → UNIX socket → <c>mlip serve</c>)
/// beside the same calculation in-process from C#: the same model (default: a fresh <c>mlip demo --quick</c> model, a
/// quadratic SO(4) model of SW Si), the same 8-atom Si cell with positions changed each call, 1000 calls each. The
/// difference is the per-call overhead of the socket, the protocol and ASE. Python side: python/tests/test_overhead.py
/// with Debian's /usr/bin/python3 and the repository's ./mlip.
/// </summary>
public static class PythonBenchmark
{
    public static void Run(string[] args)
    {
        int calls = 1000;
        string? model = null;
        for (int i = 0; i < args.Length - 1; i++)
        {
            if (args[i] == "--calls") calls = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--model") model = args[i + 1];
        }
        string repo = RepoRoot();
        string work = Path.Combine(Path.GetTempPath(), "mlip-bench-python-" + Environment.ProcessId);
        Directory.CreateDirectory(work);
        try
        {
            if (model is null)
            {
                Run(Path.Combine(repo, "mlip"), ["demo", "--quick", "--output", Path.Combine(work, "demo")], work);
                model = Path.Combine(work, "demo", "model", "model.json");
            }
            var potential = ModelFile.Load(model);
            var s = Crystals.Diamond("Si", 5.431);
            var rng = new Random(1);
            var basePositions = s.Positions.ToArray();
            for (int k = 0; k < 20; k++) potential.Calculate(s); // warm-up
            var clock = Stopwatch.StartNew();
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            double sum = 0;
            for (int k = 0; k < calls; k++)
            {
                for (int i = 0; i < s.Count; i++)
                    s.Positions[i] = basePositions[i] + new Vec3(rng.NextDouble() * 0.1 - 0.05, rng.NextDouble() * 0.1 - 0.05, rng.NextDouble() * 0.1 - 0.05);
                sum += potential.Calculate(s).Energy;
            }
            double inProcess = 1e6 * clock.Elapsed.TotalSeconds / calls;
            double inProcessCpu = 1e6 * (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds / calls;
            string json = Run("/usr/bin/python3", [Path.Combine(repo, "python", "tests", "test_overhead.py"), model, Path.Combine(work, "py"), calls.ToString(CultureInfo.InvariantCulture)], work,
                ("MLIP_COMMAND", Path.Combine(repo, "mlip")));
            using var doc = JsonDocument.Parse(json.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last(l => l.StartsWith('{')));
            double python = doc.RootElement.GetProperty("us_per_call").GetDouble();
            double pyCpu = doc.RootElement.GetProperty("python_cpu_us_per_call").GetDouble();
            double serveCpu = doc.RootElement.GetProperty("serve_cpu_us_per_call").GetDouble();
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine($"{calls} calls, 8-atom Si, {potential.Name} (energy, forces, stress; positions changed each call)");
            Console.WriteLine($"{"",-44} {"wall µs/call",13} {"CPU µs/call",12}");
            Console.WriteLine(string.Create(inv, $"{"C# in-process (Potential.Calculate)",-44} {inProcess,13:F1} {inProcessCpu,12:F1}"));
            Console.WriteLine(string.Create(inv, $"{"Python MlipCalculator (ASE, socket, serve)",-44} {python,13:F1} {pyCpu + serveCpu,12:F1}   (Python {pyCpu:F1}, mlip serve {serveCpu:F1})"));
            Console.WriteLine(string.Create(inv, $"{"overhead per call",-44} {python - inProcess,13:F1} {pyCpu + serveCpu - inProcessCpu,12:F1}   (wall ratio {python / inProcess:F1}x; checksum {sum:F3})"));
            Console.WriteLine("(wall times depend on the machine's load; CPU times much less)");
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); }
            catch (IOException) { }
        }
    }

    private static string Run(string exe, string[] args, string dir, params (string Key, string Value)[] env)
    {
        var psi = new ProcessStartInfo(exe) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{exe} {string.Join(' ', args)} failed (exit {p.ExitCode}):\n{e.Result}\n{o.Result}");
        return o.Result;
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Mlip.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
