using System.Diagnostics;

namespace Mlip.Tests.Support;

/// <summary>Runs a process to its end with its output captured; a process that outlives the limit is killed (with its children) and fails the test.</summary>
public static class ProcessRun
{
    public static (int Code, string Stdout, string Stderr) Run(ProcessStartInfo psi, TimeSpan limit, string what)
    {
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {psi.FileName}");
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(limit))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit();
            Assert.Fail($"{what} did not finish within {limit.TotalSeconds:0} s\n{o.Result}\n{e.Result}");
        }
        p.WaitForExit();
        return (p.ExitCode, o.Result, e.Result);
    }
}
