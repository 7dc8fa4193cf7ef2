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
        var psi = new ProcessStartInfo("bash") { WorkingDirectory = TestPaths.RepoRoot };
        psi.ArgumentList.Add(Path.Combine(TestPaths.RepoRoot, "scripts", "check-packages.sh"));
        // ./test.sh builds Release first: pack that build (a Debug test run builds the Release packages itself)
        if (File.Exists(Path.Combine(TestPaths.RepoRoot, "src", "Mlip.Cli", "bin", "Release", "net10.0", "Mlip.Cli.dll"))) psi.ArgumentList.Add("--no-build");
        var clock = Stopwatch.StartNew();
        var (code, stdout, stderr) = ProcessRun.Run(psi, HangGuard.Wait * 4, "check-packages.sh");
        output.WriteLine($"{stdout}\n({clock.Elapsed.TotalSeconds:F0} s)");
        Assert.True(code == 0, $"check-packages.sh failed (exit {code}):\n{stderr}\n{stdout}");
        Assert.Contains("machine-learning interatomic potentials", stdout); // mlip --help through the installed tool
        Assert.Contains("done in", stdout);                 // mlip demo --quick through it
        Assert.Matches(@"\d+ steps, T = \d+\.\d K, E = -\d+\.\d{4} eV", stdout); // the example's line
        Assert.Contains("check-packages: ok", stdout);
    }
}
