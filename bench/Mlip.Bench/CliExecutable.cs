using System.Diagnostics;

namespace Mlip.Bench;

/// <summary>
/// The executable that <c>./mlip</c> runs, as a user runs it: the script is called once (it builds the CLI when it is
/// missing or older than the sources: a ReadyToRun publish into <c>bin/Release/net10.0/r2r</c>, or a plain build where that
/// cannot be made), then the executable it chose is timed directly, without the script's own start-up.
/// </summary>
public static class CliExecutable
{
    public static string? Find(string root)
    {
        string script = Path.Combine(root, "mlip");
        if (File.Exists(script))
        {
            var psi = new ProcessStartInfo(script, "--help") { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            string err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            _ = stdout.Result;
            if (p.ExitCode != 0) { Console.Error.WriteLine($"./mlip --help failed: {err}"); return null; }
        }
        string dir = Path.Combine(root, "src", "Mlip.Cli", "bin", "Release", "net10.0");
        string stamp = Path.Combine(dir, "r2r.stamp"), r2r = Path.Combine(dir, "r2r", "Mlip.Cli"), plain = Path.Combine(dir, "Mlip.Cli");
        bool readyToRun = Environment.GetEnvironmentVariable("MLIP_READY_TO_RUN") != "0"
            && File.Exists(stamp) && File.ReadAllText(stamp).Trim() == "r2r" && File.Exists(r2r);
        string exe = readyToRun ? r2r : plain;
        if (!File.Exists(exe)) return null;
        Console.WriteLine($"Mlip CLI: {exe}{(readyToRun ? " (ReadyToRun)" : "")}");
        return exe;
    }
}
