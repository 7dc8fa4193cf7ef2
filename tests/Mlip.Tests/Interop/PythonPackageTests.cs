using System.Diagnostics;
using System.Text.Json;
using Mlip.Tests.Support;
using Xunit.Abstractions;

namespace Mlip.Tests.Interop;

/// <summary>
/// A model made once for the Python tests: <c>mlip demo --quick</c> (a quadratic SO(4) model of Stillinger–Weber Si,
/// with its train.xyz and test.xyz), run by the built command beside the tests.
/// </summary>
public sealed class DemoModelFixture : IDisposable
{
    public DemoModelFixture()
    {
        Root = TestPaths.TempDir();
        Folder = Path.Combine(Root, "demo");
        using var p = CliProcess.Start(Root, $"demo --quick --output {Folder}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(HangGuard.WaitMilliseconds * 4)) p.Kill(entireProcessTree: true);
        p.WaitForExit();
        Error = p.ExitCode == 0 ? null : $"mlip demo --quick failed (exit {p.ExitCode}):\n{stderr.Result}\n{stdout.Result}";
    }

    public string Root { get; }

    /// <summary>The demo's output folder: model/model.json, train.xyz, test.xyz.</summary>
    public string Folder { get; }

    public string Model => Path.Combine(Folder, "model", "model.json");

    public string? Error { get; }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>
/// The Python package (python/mlip) with Debian's python3-ase and python3-phonopy: each script of python/tests drives
/// ASE (BFGS, VelocityVerlet, EquationOfState), phonopy or the command helpers through <c>MlipCalculator</c> and
/// compares with Mlip's own <c>relax</c>, <c>md</c>, <c>eos</c>, <c>phonon</c>, <c>predict</c> and <c>label</c>
/// (1e-8; each script states its checks and prints its measured deviations as one JSON line, shown here). The
/// command is the build beside the tests (<c>MLIP_COMMAND="dotnet Mlip.Cli.dll"</c>).
/// </summary>
public class PythonPackageTests(DemoModelFixture demo, ITestOutputHelper output) : IClassFixture<DemoModelFixture>
{
    [Theory]
    [InlineData("test_relax.py")]
    [InlineData("test_md.py")]
    [InlineData("test_eos.py")]
    [InlineData("test_phonon.py")]
    [InlineData("test_species.py")]
    [InlineData("test_overhead.py")]
    public void ScriptAgreesWithMlip(string script) => RunScript(script, demo.Model); // the script's checks decide its exit code

    [Fact]
    public void HelpersAndUncertainty()
    {
        var r = RunScript("test_helpers.py", demo.Folder);
        Assert.True(r.GetProperty("energy_std_max_dev_ev").GetDouble() <= 1e-8);
        Assert.True(r.GetProperty("gamma_max_dev").GetDouble() <= 1e-8); // D-optimality through MlipCalculator(uncertainty=True, training=...)
    }

    [Fact]
    public void KilledPythonLeavesNoServer()
    {
        var r = RunScript("test_kill.py", demo.Model);
        Assert.True(r.GetProperty("server_gone").GetBoolean());
    }

    /// <summary>
    /// <c>pip install ./python</c> (offline: no build isolation, no dependencies; into a --target folder, from a copy so
    /// that pip's build folders stay out of the repository) gives an importable package whose helper runs the command.
    /// </summary>
    [Fact]
    public void PipInstallsThePackage()
    {
        Assert.Null(demo.Error);
        PythonScript.Require("pip", "python3-pip");
        string dir = TestPaths.TempDir();
        string source = Path.Combine(dir, "python");
        Directory.CreateDirectory(Path.Combine(source, "mlip"));
        foreach (var f in new[] { "pyproject.toml", "README.md" }) File.Copy(Path.Combine(TestPaths.RepoRoot, "python", f), Path.Combine(source, f));
        foreach (var f in Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "python", "mlip"), "*.py")) File.Copy(f, Path.Combine(source, "mlip", Path.GetFileName(f)));
        string target = Path.Combine(dir, "site");
        var (code, o, e) = Python(dir, ["-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index", "--target", target, source]);
        Assert.True(code == 0, $"pip install failed:\n{e}\n{o}");
        (code, o, e) = Python(dir, ["-c", "import mlip, sys; print(mlip.__file__); print(mlip.read_model_info(sys.argv[1])['kind'])", demo.Model],
            ("PYTHONPATH", target));
        Assert.True(code == 0, $"the installed package failed:\n{e}\n{o}");
        Assert.StartsWith(target, o.Trim());
        Assert.EndsWith("quadratic", o.Trim());
    }

    private static (int Code, string Stdout, string Stderr) Python(string dir, string[] args, params (string Key, string Value)[] env)
    {
        var psi = new ProcessStartInfo(PythonScript.Python) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["MLIP_COMMAND"] = $"dotnet {Path.Combine(AppContext.BaseDirectory, "Mlip.Cli.dll")}";
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(HangGuard.WaitMilliseconds), "python did not finish");
        p.WaitForExit();
        return (p.ExitCode, o.Result, e.Result);
    }

    /// <summary>Runs python/tests/SCRIPT FIRST WORKDIR; fails on a non-zero exit with the script's output; returns its JSON line.</summary>
    private JsonElement RunScript(string script, string first)
    {
        Assert.Null(demo.Error);
        PythonScript.Require("ase.calculators.socketio", "python3-ase");
        PythonScript.Require("phonopy", "python3-phonopy");
        string work = TestPaths.TempDir();
        var psi = new ProcessStartInfo(PythonScript.Python)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = work,
        };
        psi.ArgumentList.Add(Path.Combine(TestPaths.RepoRoot, "python", "tests", script));
        psi.ArgumentList.Add(first);
        psi.ArgumentList.Add(work);
        psi.Environment["MLIP_COMMAND"] = $"dotnet {Path.Combine(AppContext.BaseDirectory, "Mlip.Cli.dll")}";
        psi.Environment["OMP_NUM_THREADS"] = "1";
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(HangGuard.WaitMilliseconds * 4))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            Assert.Fail($"{script} did not finish within {4 * HangGuard.WaitMilliseconds / 1000} s");
        }
        p.WaitForExit();
        output.WriteLine($"{script}: {o.Result.Trim()}");
        Assert.True(p.ExitCode == 0, $"{script} failed (exit {p.ExitCode}):\n{e.Result}\n{o.Result}");
        string line = o.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last(l => l.StartsWith('{'));
        try { Directory.Delete(work, recursive: true); }
        catch (IOException) { }
        return JsonDocument.Parse(line).RootElement.Clone();
    }
}
