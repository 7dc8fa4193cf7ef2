using Mlip.Calculators;
using Mlip.Simulation;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Tests.Simulation;

/// <summary>
/// The MD step's own work runs in parallel blocks of atoms (kicks and drifts, the kinetic energy and tensor), so on a cell
/// of several blocks the trajectory and the thermo values must be the same bits on any thread count, and the updates the
/// same bits as a plain serial velocity-Verlet loop.
/// </summary>
public sealed class ParallelStepTests
{
    private static Structure Cell() => Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 5, 5, 6), 0.05, 3); // 1200 atoms: two blocks of 1024

    /// <summary>The run on a thread of its own, so that MolecularDynamics.Run makes its worker pool (it makes none on a thread-pool thread).</summary>
    private static (MdState State, double[] Kinetic, Matrix3 Tensor) Run(int threads, string ensemble, int steps)
    {
        (MdState, double[], Matrix3) result = default;
        Mlip.Tests.Validation.WorkerPoolTests.OnOwnThread(() => result = RunHere(threads, ensemble, steps));
        return result;
    }

    private static (MdState State, double[] Kinetic, Matrix3 Tensor) RunHere(int threads, string ensemble, int steps)
    {
        using var limit = MlipParallel.LimitThreads(threads);
        var sw = StillingerWeber.Silicon();
        sw.NeighborSkin = 1.0;
        var setup = MdSetup.Create(sw, Cell(), new MdSettings { Ensemble = ensemble, Temperature = 900, Seed = 4 });
        var kinetic = new List<double>();
        var md = new MolecularDynamics(setup.Integrator, setup.State) { Observer = s => kinetic.Add(s.KineticEnergy) };
        md.Run(steps);
        return (setup.State, kinetic.ToArray(), setup.State.KineticTensor());
    }

    [Theory]
    [InlineData("nve")]
    [InlineData("nvt-langevin")]
    [InlineData("nvt-nh")]
    public void TrajectoryIsTheSameBitsOnAnyThreadCount(string ensemble)
    {
        var reference = Run(1, ensemble, 6);
        Assert.True(reference.State.Count > 1024);
        foreach (int threads in new[] { 2, 3 })
        {
            var r = Run(threads, ensemble, 6);
            Assert.Equal(reference.State.Positions, r.State.Positions);
            Assert.Equal(reference.State.Velocities, r.State.Velocities);
            Assert.Equal(reference.State.Forces, r.State.Forces);
            Assert.Equal(reference.Kinetic, r.Kinetic);
            Assert.Equal(reference.Tensor, r.Tensor);
            Assert.Equal(reference.State.PotentialEnergy, r.State.PotentialEnergy);
        }
    }

    [Fact]
    public void MdRunsItsLoopsOnAWorkerPoolThatEndsWithTheRun()
    {
        var regions = new List<long>();
        WorkerPool? seen = null;
        Mlip.Tests.Validation.WorkerPoolTests.OnOwnThread(() =>
        {
            using var limit = MlipParallel.LimitThreads(2);
            var sw = StillingerWeber.Silicon();
            sw.NeighborSkin = 1.0;
            var setup = MdSetup.Create(sw, Cell(), new MdSettings { Ensemble = "nve", Temperature = 900, Seed = 4 });
            var md = new MolecularDynamics(setup.Integrator, setup.State)
            {
                Observer = _ => { seen = MlipParallel.CurrentPool; regions.Add(seen?.Regions ?? -1); },
            };
            md.Run(3);
            Assert.Null(MlipParallel.CurrentPool);
        });
        Assert.NotNull(seen);
        Assert.True(seen.ThreadsEnded);
        Assert.Equal(4, regions.Count);
        // each step: the kick and drift, the potential pass on the wide rows (filter, terms, virial), the gather, the last kick
        // with the kinetic sums
        for (int k = 1; k < regions.Count; k++) Assert.Equal(4, regions[k] - regions[k - 1]);
    }

    [Fact]
    public void VelocityVerletIsThePlainSerialLoop()
    {
        const int steps = 4;
        var (state, kinetic, tensor) = Run(2, "nve", steps);
        // the same run as a serial loop written out here
        var sw = StillingerWeber.Silicon();
        var plain = MdSetup.Create(sw, Cell(), new MdSettings { Ensemble = "nve", Temperature = 900, Seed = 4 }).State;
        var r = plain.Positions; var v = plain.Velocities; var m = plain.Masses;
        var f = sw.Calculate(plain.Structure).Forces!;
        double h = 1.0;
        for (int step = 0; step < steps; step++)
        {
            for (int i = 0; i < r.Length; i++) { v[i] += (0.5 * h * MdUnits.ForceToAcceleration / m[i]) * f[i]; r[i] += h * v[i]; }
            f = sw.Calculate(plain.Structure).Forces!;
            for (int i = 0; i < r.Length; i++) v[i] += (0.5 * h * MdUnits.ForceToAcceleration / m[i]) * f[i];
        }
        double k = 0, xx = 0;
        for (int i = 0; i < r.Length; i++) { k += m[i] * v[i].NormSquared; xx += m[i] * v[i].X * v[i].X; }
        k *= 0.5 * MdUnits.EvPerAmuAngstrom2PerFs2;
        xx *= MdUnits.EvPerAmuAngstrom2PerFs2;
        // forces of the reused list agree with fresh builds to round-off, so the trajectories to round-off
        for (int i = 0; i < r.Length; i++) Assert.True((r[i] - state.Positions[i]).Norm < 1e-10, $"position {i}");
        Assert.Equal(k, kinetic[^1], 1e-9 * k);
        Assert.Equal(xx, tensor.M00, 1e-9 * xx);
    }

    [Fact]
    public void PhaseTimesCountTheParallelLoopsOfEveryStep()
    {
        var sw = StillingerWeber.Silicon();
        sw.NeighborSkin = 1.0;
        var setup = MdSetup.Create(sw, Cell(), new MdSettings { Temperature = 300, Seed = 2 });
        var phases = new MdPhaseTimes();
        var md = new MolecularDynamics(setup.Integrator, setup.State) { Phases = phases };
        using (MlipParallel.LimitThreads(1)) md.Run(3);
        Assert.Equal(3, phases.Steps);
        // per step at least: the kick-drift, the final kick, the potential pass on the wide rows, the gather
        Assert.True(phases.ParallelLoops >= 3 * 4, $"{phases.ParallelLoops} parallel loops in 3 steps");
        Assert.InRange(phases.SerialSeconds, 0, phases.ThreadSeconds);
        var text = new StringWriter();
        phases.Write(text);
        Assert.Contains("serial fraction", text.ToString());
    }
}
