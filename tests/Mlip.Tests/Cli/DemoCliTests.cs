using System.Globalization;
using System.Text.Json;
using Mlip.IO;
using Xunit.Abstractions;
using Mlip.Tests.Support;

namespace Mlip.Tests.Cli;

[Collection(LibtorchCollection.Name), LibtorchThreads]
public class DemoCliTests(ITestOutputHelper output)
{
    private static string SiliconCell(double a = 5.431)
    {
        string path = Path.Combine(TestPaths.TempDir(), "si64.xyz");
        Assert.Equal(0, CliTests.Run("build", "diamond", "Si", a.ToString(CultureInfo.InvariantCulture), "--supercell", "2", "2", "2", "-o", path).code);
        return path;
    }

    [Fact]
    public void GenerateWritesALabelledGroupedDeterministicSet()
    {
        string dir = TestPaths.TempDir();
        string a = Path.Combine(dir, "a.xyz"), b = Path.Combine(dir, "b.xyz"), c = Path.Combine(dir, "c.xyz");
        var (c1, o1, e1) = CliTests.Run("generate", "--potential", "sw", "--element", "Si", "-o", a, "--seed", "7");
        Assert.True(c1 == 0, e1);
        Assert.Contains("wrote", o1);
        var set = StructureIO.Read(a);
        Assert.InRange(set.Count, 80, 200);
        Assert.All(set, s =>
        {
            Assert.NotNull(s.Energy);
            Assert.NotNull(s.Forces);
            Assert.NotNull(s.Stress);
            Assert.False(string.IsNullOrEmpty(s.Group));
            Assert.InRange(s.Count, 8, 64);
        });
        var groups = set.Select(s => s.Group).ToHashSet();
        foreach (var g in new[] { "diamond", "sc", "vacancy", "surface_100", "md_300K", "md_900K", "md_1500K" }) Assert.Contains(g, groups);
        // diamond near equilibrium: SW's cohesive energy is -4.3366 eV/atom
        Assert.All(set.Where(s => s.Group == "diamond"), s => Assert.InRange(s.Energy!.Value / s.Count, -4.34, -4.0));

        Assert.Equal(0, CliTests.Run("generate", "-p", "sw", "-o", b, "--seed", "7").code);
        Assert.Equal(File.ReadAllText(a), File.ReadAllText(b));
        Assert.Equal(0, CliTests.Run("generate", "-p", "sw", "-o", c, "--seed", "8").code);
        Assert.NotEqual(File.ReadAllText(a), File.ReadAllText(c));
    }

    [Fact]
    public void MdNveConservesEnergyAndWritesTrajectoryAndLog()
    {
        string si = SiliconCell();
        string dir = TestPaths.TempDir();
        string traj = Path.Combine(dir, "traj.xyz"), log = Path.Combine(dir, "thermo.csv");
        var (code, json, err) = CliTests.Run("md", si, "--potential", "sw", "--ensemble", "nve", "--temperature", "600", "--timestep", "1",
            "--steps", "1000", "--seed", "3", "--log-every", "10", "--traj-every", "100", "-o", traj, "--log", log, "--json");
        Assert.True(code == 0, err);
        Assert.Contains("md: step 1000/1000", err); // progress line
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        Assert.Equal(1000, r.GetProperty("steps").GetInt64());
        Assert.InRange(r.GetProperty("mean_temperature_k").GetDouble(), 200, 450); // equipartition: about half the initial 600 K
        Assert.InRange(Math.Abs(r.GetProperty("conserved_drift_ev_per_atom_per_ps").GetDouble()), 0, 1e-4);
        Assert.InRange(Math.Abs(r.GetProperty("final_conserved_ev").GetDouble() - r.GetProperty("initial_conserved_ev").GetDouble()) / 64, 0, 2e-4);
        Assert.Equal(11, r.GetProperty("trajectory_frames").GetInt32());
        Assert.Equal(11, StructureIO.Read(traj).Count);
        Assert.Equal(102, File.ReadAllLines(log).Length); // header + steps 0, 10, ..., 1000
    }

    [Fact]
    public void MdLangevinAndNoseHooverAndBerendsenRun()
    {
        string si = SiliconCell();
        var (c1, j1, e1) = CliTests.Run("md", si, "-p", "sw", "--ensemble", "nvt-langevin", "--temperature", "900", "--steps", "2000", "--friction", "0.05", "--json");
        Assert.True(c1 == 0, e1);
        using (var doc = JsonDocument.Parse(j1))
            Assert.InRange(doc.RootElement.GetProperty("mean_temperature_k").GetDouble(), 750, 1000);
        var (c2, j2, e2) = CliTests.Run("md", si, "-p", "sw", "--ensemble", "nvt-nh", "--temperature", "300", "--steps", "500", "--json");
        Assert.True(c2 == 0, e2);
        using (var doc = JsonDocument.Parse(j2))
            Assert.InRange(Math.Abs(doc.RootElement.GetProperty("conserved_drift_ev_per_atom_per_ps").GetDouble()), 0, 1e-3);
        var (c3, o3, e3) = CliTests.Run("md", si, "-p", "sw", "--ensemble", "npt-berendsen", "--temperature", "300", "--pressure", "0", "--steps", "300");
        Assert.True(c3 == 0, e3);
        Assert.Contains("mean T", o3);
        var (c4, _, e4) = CliTests.Run("md", si, "-p", "sw", "--ensemble", "npt", "--steps", "10");
        Assert.Equal(1, c4);
        Assert.Contains("unknown --ensemble", e4);
        var (c5, _, e5) = CliTests.Run("md", si, "-p", "sw", "--ensemble", "nvt-langevin", "--friction", "-1", "--steps", "10");
        Assert.Equal(1, c5);
        Assert.Contains("--friction", e5);
    }

    [Fact]
    public void DemoQuickPrintsTheComparisonTable()
    {
        string dir = Path.Combine(TestPaths.TempDir(), "demo");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (code, stdout, stderr) = CliTests.Run("demo", "--quick", "--output", dir);
        Assert.True(code == 0, stderr + stdout);
        // reported, not asserted: how long it takes depends on the machine's load (the suite also runs under stress -c 2);
        // bench/ is the place for timings
        output.WriteLine($"demo --quick took {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Contains("test set:", stdout);
        Assert.True(File.Exists(Path.Combine(dir, "demo.yaml")));
        Assert.True(File.Exists(Path.Combine(dir, "model", "model.json")));
        var rows = stdout.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(p => p.Length >= 4).ToList();
        (double Sw, double Model) Row(string name)
        {
            var p = rows.Single(p => p[0] == name);
            return (double.Parse(p[2], CultureInfo.InvariantCulture), double.Parse(p[3], CultureInfo.InvariantCulture));
        }
        var a0 = Row("a0");
        Assert.InRange(a0.Sw, 5.430, 5.432);
        Assert.InRange(a0.Model, 5.40, 5.46);
        var c11 = Row("C11");
        Assert.InRange(c11.Sw, 150, 153);
        Assert.InRange(c11.Model, 0.9 * c11.Sw, 1.1 * c11.Sw); // quick mode gives about 0.5 %
        var c12 = Row("C12");
        Assert.InRange(c12.Model, 0.85 * c12.Sw, 1.15 * c12.Sw);
        var c44 = Row("C44");
        Assert.InRange(c44.Model, 0.85 * c44.Sw, 1.15 * c44.Sw);
        var b = Row("B");
        Assert.InRange(b.Sw, 100, 103);
        Assert.InRange(b.Model, 0.9 * b.Sw, 1.1 * b.Sw);
    }
}
