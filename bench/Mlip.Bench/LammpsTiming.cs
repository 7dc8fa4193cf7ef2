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
        if (Executable is not string exe) return null;
        string dir = Path.Combine(Path.GetTempPath(), "mlip-bench-lammps", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "data.in"), new LammpsDataFormat().WriteString([s]));
        foreach (var (name, text) in files ?? new Dictionary<string, string>()) File.WriteAllText(Path.Combine(dir, name), text);
        File.WriteAllText(Path.Combine(dir, "in.lammps"), "units metal\natom_style atomic\nread_data data.in\n" + commands);
        var psi = new ProcessStartInfo(exe) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-in", "in.lammps", "-log", "log.lammps", "-screen", "none" }) psi.ArgumentList.Add(a);
        psi.Environment["OMP_NUM_THREADS"] = "1";
        using var p = Process.Start(psi)!;
        p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        string log = File.ReadAllText(Path.Combine(dir, "log.lammps"));
        var matches = LoopTime().Matches(log);
        if (p.ExitCode != 0 || matches.Count == 0) throw new InvalidOperationException($"LAMMPS failed in {dir}");
        var m = matches[^1];
        double seconds = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        int steps = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        Directory.Delete(dir, recursive: true);
        return (seconds / Math.Max(1, steps), LastPe(log, m.Index));
    }
}
