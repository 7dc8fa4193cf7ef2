using System.Text.Json;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Tests.Cli;

public class SimulationCliTests
{
    private static string SiliconCell()
    {
        string path = Path.Combine(TestPaths.TempDir(), "si.xyz");
        Assert.Equal(0, CliTests.Run("build", "diamond", "Si", "5.45", "-o", path).code);
        return path;
    }

    /// <summary>
    /// `mlip md` runs the parallel loops before its first step (the structure check's neighbour list, the initial temperature,
    /// the first force call) on the run's worker pool, not on the task-parallel library (whose first use costs a two-core
    /// process ~25 ms of start-up on its loop thread: docs/performance.md); the control shows that the same read outside a
    /// pool does use it.
    /// </summary>
    [Fact]
    public void MdRunsTheLoopsOfItsStartUpOnTheRunsWorkerPool() => Mlip.Tests.Validation.WorkerPoolTests.OnOwnThread(() =>
    {
        // 1200 atoms: the check's neighbour list (blocks of 512) and the kinetic sums (blocks of 1024) have several blocks
        string path = Path.Combine(TestPaths.TempDir(), "si1200.xyz");
        StructureIO.Write(path, [Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 5, 5, 6), 0.05, 7)]);
        using var limit = MlipParallel.LimitThreads(2);
        long before = MlipParallel.TaskLoops;
        Assert.Equal(1200, StructureIO.Read(path)[0].Count);
        Assert.True(MlipParallel.TaskLoops > before, "control: the structure check's neighbour list outside a pool");
        before = MlipParallel.TaskLoops;
        var (code, _, err) = CliTests.Run("md", path, "-p", "sw", "--steps", "2", "--temperature", "300");
        Assert.True(code == 0, err);
        Assert.Equal(before, MlipParallel.TaskLoops);
    });

    [Fact]
    public void RelaxEosElasticWithStillingerWeber()
    {
        string si = SiliconCell();
        var (c1, relaxJson, e1) = CliTests.Run("relax", si, "--potential", "sw", "--cell", "iso", "--algorithm", "lbfgs", "--fmax", "1e-6", "--smax", "1e-6", "--json");
        Assert.True(c1 == 0, e1);
        using (var doc = JsonDocument.Parse(relaxJson))
        {
            // Stillinger-Weber silicon: a0 = 5.431 Å, E = -4.3366 eV/atom
            double a = Math.Cbrt(doc.RootElement.GetProperty("volume_a3").GetDouble());
            Assert.InRange(a, 5.4305, 5.4315);
            Assert.Equal(-4.3366, doc.RootElement.GetProperty("energy_per_atom_ev").GetDouble(), 3);
        }
        var (c2, eosJson, e2) = CliTests.Run("eos", si, "--potential", "sw", "--json");
        Assert.True(c2 == 0, e2);
        using (var doc = JsonDocument.Parse(eosJson))
            Assert.InRange(doc.RootElement.GetProperty("b0_gpa").GetDouble(), 100.0, 103.0); // SW: B = (C11 + 2 C12)/3 = 101.4
        var (c3, elJson, e3) = CliTests.Run("elastic", si, "--potential", "sw", "--json");
        Assert.True(c3 == 0, e3);
        using (var doc = JsonDocument.Parse(elJson))
        {
            var r = doc.RootElement;
            // published SW values (relaxed ions): C11 151.4, C12 76.4, C44 56.4 GPa
            Assert.InRange(r.GetProperty("c11_gpa").GetDouble(), 150.0, 153.0);
            Assert.InRange(r.GetProperty("c12_gpa").GetDouble(), 75.5, 77.5);
            Assert.InRange(r.GetProperty("c44_gpa").GetDouble(), 55.5, 57.5);
        }
    }

    [Fact]
    public void MissingCalculatorIsOneLine()
    {
        string si = SiliconCell();
        foreach (var args in new[] { new[] { "relax", si }, new[] { "eos", si, "--potential", "nonsense" }, new[] { "elastic", si, "--potential", "eam:/no/such/file" } })
        {
            var (code, _, stderr) = CliTests.Run(args);
            Assert.NotEqual(0, code);
            Assert.StartsWith("mlip: error:", stderr);
            Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
    }
}
