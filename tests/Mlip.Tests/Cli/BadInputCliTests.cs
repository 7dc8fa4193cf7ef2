using System.Text.Json;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Tests.Descriptors;
using Mlip.Tests.Models;

namespace Mlip.Tests.Cli;

/// <summary>
/// User mistakes that used to end in an internal error (exit 70) or lose data: an element the model was
/// not trained on in the parallel verbs, an md run that failed at once after truncating its old outputs,
/// a regular file taken for a stale i-PI socket, md pressure of a system without a volume.
/// </summary>
public class BadInputCliTests
{
    /// <summary>A small quadratic so4 model trained on Si only (random coefficients; only its element list matters here).</summary>
    private static string SiModel(string dir)
    {
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "2", ["rcutfac"] = "3.0" });
        var d = spec.Create(["Si"]);
        var potential = new Potential(d, PolynomialModelTests.RandomModel(2, [14], d.FeatureCount, 9), spec);
        string path = Path.Combine(dir, "si-model.json");
        ModelFile.Save(path, potential);
        return path;
    }

    /// <summary>Four labelled structures; structure 2 holds oxygen, which the Si model has never seen.</summary>
    private static string DataWithOxygen(string dir)
    {
        var list = new List<Structure>();
        for (int i = 0; i < 4; i++)
        {
            var s = DescriptorTestKit.RandomCell(i, i == 2 ? ["Si", "O"] : ["Si"], atoms: 5, length: 5.0);
            s.Energy = -1.0 * s.Count;
            s.Forces = new Vec3[s.Count];
            list.Add(s);
        }
        string path = Path.Combine(dir, "with-oxygen.xyz");
        StructureIO.Write(path, list);
        return path;
    }

    private static string OneErrorLine(int code, string stdout, string stderr)
    {
        Assert.True(code == 1, $"exit {code}: {stderr}");
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("mlip:")).ToList();
        Assert.Single(lines);
        Assert.StartsWith("mlip: error: ", lines[0]);
        Assert.DoesNotContain("internal error", stderr);
        Assert.DoesNotContain("Aggregate", stderr);
        return lines[0];
    }

    [Theory]
    [InlineData("predict")]
    [InlineData("test")]
    [InlineData("label")]
    [InlineData("label-sw")]
    public void An_element_the_model_lacks_is_a_one_line_user_error_naming_element_and_structure(string verb)
    {
        string dir = TestPaths.TempDir();
        string model = SiModel(dir), data = DataWithOxygen(dir);
        string outPath = Path.Combine(dir, "out.xyz");
        string[] args = verb switch
        {
            "predict" => ["predict", model, data, "-o", outPath, "-j", "2"],
            "test" => ["test", model, data, "-j", "2"],
            "label" => ["label", data, "-o", outPath, "--potential", model, "-j", "2"],
            _ => ["label", data, "-o", outPath, "--potential", "sw", "-j", "2"],
        };
        var (code, stdout, stderr) = CliTests.Run(args);
        string line = OneErrorLine(code, stdout, stderr);
        Assert.Contains(verb == "label-sw" ? "Si only, not O" : "cannot handle O", line);
        Assert.Contains("with-oxygen.xyz", line);
        Assert.Contains("structure 2", line);
        Assert.False(File.Exists(outPath), "no output for a failed run");
    }

    // ---- md keeps the previous trajectory and log when a run fails ----

    private static (string structure, string traj, string log, byte[] trajBytes, byte[] logBytes) MdFiles(string dir)
    {
        string structure = Path.Combine(dir, "si.xyz");
        StructureIO.Write(structure, [Crystals.Diamond("Si", 5.431)]);
        string traj = Path.Combine(dir, "traj.xyz"), log = Path.Combine(dir, "thermo.csv");
        var (code, _, err) = CliTests.Run("md", structure, "-p", "sw", "--steps", "20", "--traj-every", "5", "--log-every", "5", "-o", traj, "--log", log);
        Assert.True(code == 0, err);
        var t = File.ReadAllBytes(traj);
        var l = File.ReadAllBytes(log);
        Assert.True(t.Length > 0 && l.Length > 0);
        return (structure, traj, log, t, l);
    }

    private static void AssertOnlyFiles(string dir, params string[] names) =>
        Assert.Equal(names.Order(), Directory.GetFiles(dir).Select(Path.GetFileName).Order());

    [Fact]
    public void Md_with_a_bad_option_leaves_the_existing_trajectory_and_log_byte_identical()
    {
        string dir = TestPaths.TempDir();
        var (structure, traj, log, t, l) = MdFiles(dir);
        foreach (var bad in new[] { new[] { "--timestep", "-1" }, new[] { "--ensemble", "nonsense" }, new[] { "--uncertainty-threshold", "-2" } })
        {
            var (code, stdout, stderr) = CliTests.Run(["md", structure, "-p", "sw", "--steps", "20", "-o", traj, "--log", log, .. bad]);
            OneErrorLine(code, stdout, stderr);
            Assert.Equal(t, File.ReadAllBytes(traj));
            Assert.Equal(l, File.ReadAllBytes(log));
        }
        AssertOnlyFiles(dir, "si.xyz", "traj.xyz", "thermo.csv");
    }

    [Fact]
    public void Md_whose_first_force_call_fails_leaves_the_existing_trajectory_and_log_byte_identical()
    {
        string dir = TestPaths.TempDir();
        var (_, traj, log, t, l) = MdFiles(dir);
        string model = SiModel(dir);
        string sio = Path.Combine(dir, "sio.xyz");
        StructureIO.Write(sio, [DescriptorTestKit.RandomCell(3, ["Si", "O"], atoms: 5, length: 5.0)]);
        var (code, stdout, stderr) = CliTests.Run("md", sio, "-m", model, "--steps", "20", "-o", traj, "--log", log);
        string line = OneErrorLine(code, stdout, stderr);
        Assert.Contains("cannot handle O", line);
        Assert.Equal(t, File.ReadAllBytes(traj));
        Assert.Equal(l, File.ReadAllBytes(log));
        AssertOnlyFiles(dir, "si.xyz", "traj.xyz", "thermo.csv", "si-model.json", "sio.xyz");
    }

    [Fact]
    public void Md_replaces_the_trajectory_and_log_when_it_succeeds()
    {
        string dir = TestPaths.TempDir();
        var (structure, traj, log, t, _) = MdFiles(dir);
        var (code, stdout, err) = CliTests.Run("md", structure, "-p", "sw", "--steps", "40", "--traj-every", "5", "--log-every", "5", "-o", traj, "--log", log);
        Assert.True(code == 0, err);
        Assert.Contains("wrote 9 frames to " + traj, stdout);
        Assert.Equal(9, StructureIO.Read(traj).Count);
        Assert.Equal(1 + 9, File.ReadAllLines(log).Length);
        AssertOnlyFiles(dir, "si.xyz", "traj.xyz", "thermo.csv");
    }

    // ---- pressure of a system without a volume ----

    private static string Cluster(string dir)
    {
        var bulk = Crystals.Diamond("Si", 5.431);
        var s = new Structure(Matrix3.Zero, (Vec3[])bulk.Positions.Clone(), (int[])bulk.AtomicNumbers.Clone(), PeriodicFlags.None);
        string path = Path.Combine(dir, "cluster.xyz");
        StructureIO.Write(path, [s]);
        return path;
    }

    [Fact]
    public void Md_of_a_non_periodic_cluster_reports_no_pressure()
    {
        string dir = TestPaths.TempDir();
        string cluster = Cluster(dir);
        var (code, json, err) = CliTests.Run("md", cluster, "-p", "sw", "--steps", "10", "--temperature", "100", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("mean_pressure_gpa").ValueKind);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("mean_volume_a3").ValueKind);
        Assert.True(double.IsFinite(doc.RootElement.GetProperty("mean_temperature_k").GetDouble()));

        var (c2, text, e2) = CliTests.Run("md", cluster, "-p", "sw", "--steps", "10", "--temperature", "100");
        Assert.True(c2 == 0, e2);
        Assert.Contains("mean P n/a", text);
        Assert.DoesNotContain("Infinity", text);
        Assert.DoesNotContain("∞", text);
    }

    [Fact]
    public void Md_json_with_zero_steps_has_null_for_the_undefined_drift()
    {
        string dir = TestPaths.TempDir();
        string si = Path.Combine(dir, "si.xyz");
        StructureIO.Write(si, [Crystals.Diamond("Si", 5.431)]);
        var (code, json, err) = CliTests.Run("md", si, "-p", "sw", "--steps", "0", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("conserved_drift_ev_per_atom_per_ps").ValueKind);
        Assert.True(doc.RootElement.GetProperty("mean_pressure_gpa").GetDouble() is var p && double.IsFinite(p));
    }

    [Fact]
    public void The_cli_runner_reports_a_user_error_wrapped_by_a_parallel_loop_as_one_line()
    {
        var err = new StringWriter();
        int code = Mlip.Cli.Commands.CliRunner.Run(err, () => throw new AggregateException(
            new InvalidOperationException("a bug elsewhere"), new AggregateException(new Mlip.Validation.MlipException("x.xyz: bad thing"))));
        Assert.Equal(1, code);
        Assert.Equal("mlip: error: x.xyz: bad thing", err.ToString().Trim());

        err = new StringWriter();
        code = Mlip.Cli.Commands.CliRunner.Run(err, () => throw new AggregateException(new InvalidOperationException("a bug")));
        Assert.Equal(70, code);
        Assert.Contains("internal error", err.ToString());
    }

    [Fact]
    public void Npt_refuses_a_non_periodic_structure()
    {
        string dir = TestPaths.TempDir();
        string cluster = Cluster(dir);
        string traj = Path.Combine(dir, "t.xyz");
        var (code, stdout, stderr) = CliTests.Run("md", cluster, "-p", "sw", "--ensemble", "npt-berendsen", "--steps", "10", "-o", traj);
        string line = OneErrorLine(code, stdout, stderr);
        Assert.Contains("npt-berendsen", line);
        Assert.Contains("periodic", line);
        Assert.False(File.Exists(traj));
    }

    // ---- label --ipi never deletes a regular file ----

    [Fact]
    public void Label_ipi_on_the_path_of_a_regular_file_keeps_the_file_and_names_it()
    {
        string dir = TestPaths.TempDir();
        string data = Path.Combine(dir, "si.xyz");
        StructureIO.Write(data, [Crystals.Diamond("Si", 5.431)]);
        string precious = Path.Combine(dir, "results.dat");
        File.WriteAllText(precious, "three weeks of DFT\n");
        var (code, stdout, stderr) = CliTests.Run("label", data, "-o", Path.Combine(dir, "out.xyz"), "--ipi", "unix:" + precious,
            "--timeout", "5", "--work", Path.Combine(dir, "work"));
        string line = OneErrorLine(code, stdout, stderr);
        Assert.Contains(precious, line);
        Assert.Contains("not a socket", line);
        Assert.Equal("three weeks of DFT\n", File.ReadAllText(precious));
    }
}
