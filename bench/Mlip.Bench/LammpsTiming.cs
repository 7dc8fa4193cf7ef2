using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Mlip.IO;
using Mlip.Structures;

namespace Mlip.Bench;

/// <summary>Runs the LAMMPS built by scripts/build-lammps.sh on a structure and reads its loop time.</summary>
public static partial class LammpsTiming
{
    public static string? Executable
    {
        get
        {
            string dir = Environment.GetEnvironmentVariable("MLIP_LAMMPS_DIR") is { Length: > 0 } d
                ? d : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "mlip", "lammps");
            string exe = Path.Combine(dir, "bin", "lmp");
            return File.Exists(exe) ? exe : null;
        }
    }

    /// <summary>The second column of the last numeric thermo line before the loop-time line (pe of "step pe").</summary>
    private static double? LastPe(string log, int loopIndex)
    {
        double? pe = null;
        foreach (var line in log[..loopIndex].Split('\n'))
        {
            var f = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 2 && long.TryParse(f[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out _)
                && double.TryParse(f[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) pe = v;
        }
        return pe;
    }

    [GeneratedRegex(@"Loop time of ([0-9.eE+-]+) on \d+ procs for (\d+) steps")]
    private static partial Regex LoopTime();

    /// <summary>Seconds per step of the last "run" in the input, single thread; null without LAMMPS.</summary>
    public static double? SecondsPerStep(Structure s, string commands, IDictionary<string, string>? files = null) =>
        Run(s, commands, files)?.SecondsPerStep;

    /// <summary>LAMMPS packages the built executable lists (from <c>lmp -h</c>); empty without LAMMPS.</summary>
    public static bool HasPackage(string name)
    {
        if (Executable is not string exe) return false;
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-h");
        using var p = Process.Start(psi)!;
        string help = p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        return Regex.IsMatch(help, $@"(^|\s){Regex.Escape(name)}(\s|$)", RegexOptions.Multiline);
    }

    /// <summary>
    /// One LAMMPS run, single thread: seconds per step of the last "run" and the potential energy of the last
    /// thermo line (the input should print <c>thermo_style custom step pe</c>) so that a benchmark can check
    /// that both codes computed the same numbers; null without LAMMPS.
    /// </summary>
    public static (double SecondsPerStep, double? LastPe)? Run(Structure s, string commands, IDictionary<string, string>? files = null)
    {
        if (Executable is null) return null;
        var r = RunWhole(s, commands, files);
        return (r.LoopSeconds / Math.Max(1, r.Steps), r.LastPe);
    }

    /// <summary>What <see cref="RunWhole"/> measured: the last run's loop time and steps, the whole process (start to exit), and the pe of the last run's first and last thermo lines.</summary>
    public sealed record WholeRun(double LoopSeconds, int Steps, double WholeSeconds, double? FirstPe, double? LastPe);

    /// <summary>
    /// One LAMMPS process on <paramref name="s"/> (data file and <paramref name="files"/> written to a fresh folder
    /// first, outside the timing), single thread, pinned with <c>taskset -c <paramref name="cores"/></c> when given.
    /// </summary>
    public static WholeRun RunWhole(Structure s, string commands, IDictionary<string, string>? files = null, string? cores = null)
    {
        string exe = Executable ?? throw new InvalidOperationException("LAMMPS is not built (scripts/build-lammps.sh)");
        string dir = Path.Combine(Path.GetTempPath(), "mlip-bench-lammps", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "data.in"), new LammpsDataFormat().WriteString([s]));
        foreach (var (name, text) in files ?? new Dictionary<string, string>()) File.WriteAllText(Path.Combine(dir, name), text);
        File.WriteAllText(Path.Combine(dir, "in.lammps"), "units metal\natom_style atomic\nread_data data.in\n" + commands);
        var psi = new ProcessStartInfo(cores is null ? exe : "taskset") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        if (cores is not null) foreach (var a in new[] { "-c", cores, exe }) psi.ArgumentList.Add(a);
        foreach (var a in new[] { "-in", "in.lammps", "-log", "log.lammps", "-screen", "none" }) psi.ArgumentList.Add(a);
        psi.Environment["OMP_NUM_THREADS"] = "1";
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        double whole = clock.Elapsed.TotalSeconds;
        _ = stdout.Result;
        string log = File.ReadAllText(Path.Combine(dir, "log.lammps"));
        var matches = LoopTime().Matches(log);
        if (p.ExitCode != 0 || matches.Count == 0) throw new InvalidOperationException($"LAMMPS failed in {dir}");
        var m = matches[^1];
        double seconds = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        int steps = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        int runStart = matches.Count > 1 ? matches[^2].Index + matches[^2].Length : 0;
        Directory.Delete(dir, recursive: true);
        return new WholeRun(seconds, steps, whole, FirstPe(log, runStart, m.Index), LastPe(log, m.Index));
    }

    /// <summary>The second column of the first numeric thermo line between <paramref name="from"/> and <paramref name="to"/>.</summary>
    private static double? FirstPe(string log, int from, int to)
    {
        foreach (var line in log[from..to].Split('\n'))
        {
            var f = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 2 && long.TryParse(f[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out _)
                && double.TryParse(f[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double v)) return v;
        }
        return null;
    }
}
