using System.Diagnostics;
using System.Text.RegularExpressions;
using Mlip.Tests.Support;
using Xunit.Abstractions;

namespace Mlip.Tests.Cli;

/// <summary>
/// README's "Three ways in": the command block runs line by line with the built command (in a fresh folder), then the
/// Python block with Debian's python3 against the model the command block made; the .NET block's lines are those of
/// examples/dotnet/Program.cs, which scripts/check-packages.sh builds against the packed library and runs.
/// </summary>
public class ReadmeWaysInTests(ITestOutputHelper output)
{
    /// <summary>The first code block after the heading <paramref name="heading"/> of README's "Three ways in".</summary>
    private static string[] Block(string heading)
    {
        string readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));
        int section = readme.IndexOf("## Three ways in", StringComparison.Ordinal);
        Assert.True(section >= 0, "README has no 'Three ways in' section");
        int at = readme.IndexOf("### " + heading + "\n", section, StringComparison.Ordinal);
        Assert.True(at >= 0, $"README's 'Three ways in' has no '{heading}'");
        var m = new Regex(@"```[a-z]*\n(.*?)```", RegexOptions.Singleline).Match(readme, at);
        Assert.True(m.Success);
        return m.Groups[1].Value.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    [Fact]
    public void EachWayInHasFiveLines()
    {
        foreach (var h in new[] { "The command", "Python", ".NET" }) Assert.Equal(5, Block(h).Length);
    }

    [Fact]
    public void CommandThenPythonExamplesRun()
    {
        string dir = TestPaths.TempDir();
        foreach (var line in Block("The command"))
        {
            Assert.StartsWith("mlip ", line);
            var cli = new ProcessStartInfo("dotnet") { WorkingDirectory = dir };
            cli.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Mlip.Cli.dll"));
            foreach (var a in line["mlip ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)) cli.ArgumentList.Add(a);
            var (code, o, e) = ProcessRun.Run(cli, HangGuard.Wait * 2, line);
            Assert.True(code == 0, $"{line}: exit {code}\n{e}\n{o}");
        }
        PythonScript.Require("ase", "python3-ase");
        var psi = new ProcessStartInfo(PythonScript.Python) { WorkingDirectory = dir };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(string.Join('\n', Block("Python")));
        psi.Environment["PYTHONPATH"] = Path.Combine(TestPaths.RepoRoot, "python");
        psi.Environment["MLIP_COMMAND"] = $"dotnet {Path.Combine(AppContext.BaseDirectory, "Mlip.Cli.dll")}";
        var (pcode, pout, perr) = ProcessRun.Run(psi, HangGuard.Wait, "the Python example");
        output.WriteLine(pout);
        Assert.True(pcode == 0, $"the Python example failed:\n{perr}");
        // energy, a force vector and a stress vector: finite numbers
        Assert.Matches(@"^-?\d+\.\d+(e[-+]\d+)? \[", pout.Trim());
        Assert.DoesNotContain("nan", pout, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void DotnetExampleIsTheProgramOfExamplesDotnet()
    {
        string program = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "examples", "dotnet", "Program.cs"));
        var lines = program.Split('\n').Select(l => l.Trim()).ToHashSet();
        foreach (var line in Block(".NET")) Assert.Contains(line.Trim(), lines);
        Assert.True(program.Split('\n').Length <= 20, "examples/dotnet/Program.cs is meant to stay within 20 lines");
    }
}
