using Mlip.IO;
using Mlip.Simulation;
using Mlip.Structures;

namespace Mlip.Tests.Simulation;

/// <summary>
/// md's staged outputs: a run that ends without committing (it failed, or was stopped mid-way) leaves the
/// previous trajectory and log byte for byte; its own frames stay in NAME.partial.EXT only when it wrote any.
/// </summary>
public class StagedOutputTests
{
    private static MdState State() => new(Crystals.Diamond("Si", 5.431)) { PotentialEnergy = -34.7, Stress = Stress.Zero };

    [Fact]
    public void An_uncommitted_run_keeps_the_old_files_and_its_frames_in_the_partial_files()
    {
        string dir = TestPaths.TempDir();
        string traj = Path.Combine(dir, "traj.xyz"), log = Path.Combine(dir, "thermo.csv");
        File.WriteAllText(traj, "old trajectory\n");
        File.WriteAllText(log, "old log\n");
        using (var w = new TrajectoryWriter(traj, staged: true))
        using (var l = new ThermoLog(log, staged: true))
        {
            Assert.Equal(Path.Combine(dir, "traj.partial.xyz"), w.WritingPath);
            var s = State();
            w.Write(s); w.Write(s);
            l.Write(s, -34.7);
            // the run dies here: no Commit
        }
        Assert.Equal("old trajectory\n", File.ReadAllText(traj));
        Assert.Equal("old log\n", File.ReadAllText(log));
        Assert.Equal(2, StructureIO.Read(Path.Combine(dir, "traj.partial.xyz")).Count);
        Assert.Equal(2, File.ReadAllLines(Path.Combine(dir, "thermo.partial.csv")).Length);
    }

    [Fact]
    public void A_run_that_wrote_nothing_leaves_no_partial_files_and_a_committed_one_replaces_the_old()
    {
        string dir = TestPaths.TempDir();
        string traj = Path.Combine(dir, "traj.xyz"), log = Path.Combine(dir, "thermo.csv");
        File.WriteAllText(traj, "old trajectory\n");
        File.WriteAllText(log, "old log\n");
        using (new TrajectoryWriter(traj, staged: true))
        using (new ThermoLog(log, staged: true)) { }
        Assert.Equal(["thermo.csv", "traj.xyz"], Directory.GetFiles(dir).Select(Path.GetFileName).Order());
        Assert.Equal("old trajectory\n", File.ReadAllText(traj));

        using (var w = new TrajectoryWriter(traj, staged: true))
        using (var l = new ThermoLog(log, staged: true))
        {
            w.Write(State());
            l.Write(State(), -34.7);
            w.Commit();
            l.Commit();
        }
        Assert.Single(StructureIO.Read(traj));
        Assert.Equal(ThermoLog.Header, File.ReadAllLines(log)[0]);
        Assert.Equal(["thermo.csv", "traj.xyz"], Directory.GetFiles(dir).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void The_log_of_a_cluster_says_nan_for_pressure_and_volume()
    {
        string dir = TestPaths.TempDir();
        var bulk = Crystals.Diamond("Si", 5.431);
        var cluster = new Structure(Matrix3.Zero, (Vec3[])bulk.Positions.Clone(), (int[])bulk.AtomicNumbers.Clone(), PeriodicFlags.None);
        var state = new MdState(cluster) { PotentialEnergy = -30 };
        Assert.False(state.HasPressure);
        Assert.True(double.IsNaN(state.Pressure));
        string log = Path.Combine(dir, "l.csv");
        using (var l = new ThermoLog(log)) l.Write(state, -30);
        var row = File.ReadAllLines(log)[1].Split(',');
        Assert.Equal("nan", row[^2]);
        Assert.Equal("nan", row[^1]);
    }
}
