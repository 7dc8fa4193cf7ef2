using System.Diagnostics;

namespace Mlip.Tests.Support;

/// <summary>The built CLI (Mlip.Cli.dll beside the tests) as a separate process, for tests that kill a run and resume it.</summary>
public static class CliProcess
{
    /// <summary>Starts <c>dotnet Mlip.Cli.dll ARGS</c> (split on spaces) in <paramref name="dir"/>, stdout and stderr redirected.</summary>
    public static Process Start(string dir, string args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Mlip.Cli.dll"));
        foreach (var a in args.Split(' ')) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }
}
