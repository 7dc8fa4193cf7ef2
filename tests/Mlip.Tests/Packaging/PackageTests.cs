using System.Diagnostics;
using Mlip.Tests.Support;
using Xunit.Abstractions;

namespace Mlip.Tests.Packaging;

/// <summary>
/// The packages: scripts/check-packages.sh packs Mlip (XML docs, buildTransitive targets) and Mlip.Cli (a .NET tool)
/// into a temporary local feed with a unique version, installs the tool into a temporary --tool-path, runs
/// <c>mlip --help</c> and <c>mlip demo --quick</c> through it, and builds and runs examples/dotnet against the packed
/// library. Offline: the dependencies come from the NuGet cache or mirror. Uses the build the tests run on (--no-build).
/// </summary>
public class PackageTests(ITestOutputHelper output)
{
    [Fact]
    public void PackInstallToolAndRunExample()
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = TestPaths.RepoRoot };
        psi.ArgumentList.Add(Path.Combine(TestPaths.RepoRoot, "scripts", "check-packages.sh"));
        psi.ArgumentList.Add("--no-build");
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(HangGuard.WaitMilliseconds * 4))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            Assert.Fail($"check-packages.sh did not finish within {4 * HangGuard.WaitSeconds} s\n{o.Result}");
        }
        p.WaitForExit();
        output.WriteLine($"{o.Result}\n({clock.Elapsed.TotalSeconds:F0} s)");
        Assert.True(p.ExitCode == 0, $"check-packages.sh failed (exit {p.ExitCode}):\n{e.Result}\n{o.Result}");
        Assert.Contains("machine-learning interatomic potentials", o.Result); // mlip --help through the installed tool
        Assert.Contains("done in", o.Result);                 // mlip demo --quick through it
        Assert.Matches(@"\d+ steps, T = \d+\.\d K, E = -\d+\.\d{4} eV", o.Result); // the example's line
        Assert.Contains("check-packages: ok", o.Result);
    }
}
