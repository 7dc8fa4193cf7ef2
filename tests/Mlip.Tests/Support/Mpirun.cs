using System.Diagnostics;

namespace Mlip.Tests.Support;

/// <summary>
/// Runs the built CLI (Mlip.Cli.dll beside the tests) under Open MPI's <c>mpirun -n N --oversubscribe</c>, allowed to
/// run as root (OMPI_ALLOW_RUN_AS_ROOT). Debian's openmpi-bin is installed by .ci/setup.sh; tests that need it fail,
/// never skip, without it.
/// </summary>
public static class Mpirun
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>Runs <c>mpirun -n <paramref name="ranks"/> dotnet Mlip.Cli.dll ARGS</c> in <paramref name="dir"/> and waits for it.</summary>
    public static Result Run(int ranks, string dir, params string[] args)
    {
        string mpirun = Find() ?? throw new InvalidOperationException("mpirun not found: run .ci/setup.sh (installs Debian's openmpi-bin and libopenmpi-dev)");
        var psi = new ProcessStartInfo(mpirun) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--oversubscribe", "-n", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), "dotnet", Path.Combine(AppContext.BaseDirectory, "Mlip.Cli.dll") })
            psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        psi.Environment["OMPI_MCA_rmaps_base_oversubscribe"] = "1";
        psi.Environment.Remove("MLIP_MPI");
        psi.Environment["TERM"] = "dumb"; // mpirun gives rank 0 a terminal: no keypad escape codes from .NET's console
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(HangGuard.Run))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"mpirun -n {ranks} {string.Join(' ', args)} did not end within {HangGuard.Run}: killed\n{stderr.Result}");
        }
        p.WaitForExit();
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    private static string? Find() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);
}
