using System.Diagnostics;

namespace Mlip.Tests.Support;

/// <summary>
/// Runs a Python script with Debian's <c>/usr/bin/python3</c> (its numpy, phonopy, ASE: installed by
/// <c>.ci/setup.sh</c>) as an outside reader of what Mlip writes. Tests that need it fail, never skip, without it.
/// </summary>
public static class PythonScript
{
    public const string Python = "/usr/bin/python3";

    /// <summary>Fails with the package to install when <c>import <paramref name="module"/></c> does not work.</summary>
    public static void Require(string module, string debianPackage)
    {
        Assert.True(File.Exists(Python), $"needs {Python} (run .ci/setup.sh)");
        var (code, _, err) = RunRaw(["-c", $"import {module}"], TimeSpan.FromSeconds(60));
        Assert.True(code == 0, $"needs {Python} with {module} (apt-get install {debianPackage}; .ci/setup.sh does it): {err.Trim()}");
    }

    /// <summary>Writes <paramref name="script"/> to <paramref name="dir"/>/NAME and runs it with <paramref name="args"/>; returns stdout, fails on a non-zero exit.</summary>
    public static string Run(string dir, string name, string script, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        string path = Path.Combine(dir, name);
        File.WriteAllText(path, script);
        var (code, stdout, stderr) = RunRaw([path, .. args], timeout ?? TimeSpan.FromMinutes(2));
        Assert.True(code == 0, $"{Python} {name} failed (exit {code}):\n{stderr}\n{stdout}");
        return stdout;
    }

    private static (int Code, string Stdout, string Stderr) RunRaw(IEnumerable<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OMP_NUM_THREADS"] = "1";
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {Python}");
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            Assert.Fail($"{Python} ran past {timeout.TotalSeconds:0} s");
        }
        p.WaitForExit();
        return (p.ExitCode, o.Result, e.Result);
    }
}
