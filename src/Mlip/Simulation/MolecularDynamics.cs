namespace Mlip.Simulation;

/// <summary>One progress report of a running simulation.</summary>
public sealed record MdProgress(long Step, long TotalSteps, double Time, double Temperature, double TotalEnergy, double Pressure, TimeSpan Elapsed)
{
    public override string ToString() =>
        FormattableString.Invariant($"step {Step}/{TotalSteps}  t={Time:F1} fs  T={Temperature:F1} K  E={TotalEnergy:F6} eV  P={(double.IsFinite(Pressure) ? Pressure.ToString("F4", System.Globalization.CultureInfo.InvariantCulture) + " GPa" : "n/a")}  ({Elapsed.TotalSeconds:F1} s)");
}

/// <summary>
/// Runs an integrator on a state: writes the thermo log every <see cref="LogInterval"/> steps, a
/// trajectory frame every <see cref="TrajectoryInterval"/> steps, reports progress every
/// <see cref="ProgressInterval"/> steps, and stops early when <see cref="StopWhen"/> says so.
/// </summary>
public sealed class MolecularDynamics(IIntegrator integrator, MdState state)
{
    private bool _initialized;

    public IIntegrator Integrator { get; } = integrator;
    public MdState State { get; } = state;

    public ThermoLog? Log { get; init; }
    public int LogInterval { get; init; } = 10;

    public TrajectoryWriter? Trajectory { get; init; }
    public int TrajectoryInterval { get; init; } = 100;

    public IProgress<MdProgress>? Progress { get; init; }
    public int ProgressInterval { get; init; } = 1000;

    /// <summary>Called after every step (and once for the starting state); for collecting averages in memory.</summary>
    public Action<MdState>? Observer { get; init; }

    /// <summary>Checked after every step; true ends the run (e.g. an uncertainty threshold).</summary>
    public Func<MdState, bool>? StopWhen { get; init; }

    /// <summary>Phase times of the steps (<see cref="MdPhaseTimes"/>), written to stderr after each <see cref="Run"/>; by default kept when MLIP_PHASE_TIMES=1, else none.</summary>
    public MdPhaseTimes? Phases { get; init; } = MdPhaseTimes.Requested ? new MdPhaseTimes() : null;

    /// <summary>Runs <paramref name="steps"/> steps (fewer if stopped); returns the number done.</summary>
    public long Run(long steps, CancellationToken cancel = default)
    {
        // the parallel loops of the steps (neighbour list, forces, gathers, kicks, sums) run on workers that live for the run
        using var pool = Mlip.Validation.MlipParallel.UseWorkerPool();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (!_initialized)
        {
            Integrator.Initialize(State);
            _initialized = true;
            Record(forceAll: true);
            Observer?.Invoke(State);
        }
        var ph = Phases;
        State.Phases = ph;
        ph?.BeginLoop();
        long done = 0;
        try
        {
            for (; done < steps; done++)
            {
                cancel.ThrowIfCancellationRequested();
                var mark = ph?.Start() ?? default;
                State.ReleaseKinetics();
                Integrator.Step(State);
                if (ph is not null) mark = ph.Stop(MdPhaseTimes.Phase.Step, mark);
                State.HoldKinetics(); // one pass for the log's and the observers' kinetic energy, temperature and pressure
                Record(forceAll: false);
                if (ph is not null) mark = ph.Stop(MdPhaseTimes.Phase.Output, mark);
                Observer?.Invoke(State);
                if (Progress is not null && ProgressInterval > 0 && (done + 1) % ProgressInterval == 0)
                    Progress.Report(new MdProgress(done + 1, steps, State.Time, State.Temperature, State.TotalEnergy, State.Pressure, clock.Elapsed));
                bool stop = StopWhen?.Invoke(State) == true;
                ph?.Stop(MdPhaseTimes.Phase.Observers, mark);
                if (stop) { done++; break; }
            }
        }
        finally
        {
            State.ReleaseKinetics();
            State.Phases = null;
            if (ph is not null)
            {
                ph.EndLoop(done);
                ph.Write(Console.Error);
            }
        }
        return done;
    }

    private void Record(bool forceAll)
    {
        long step = State.Step;
        if (Log is not null && (forceAll || (LogInterval > 0 && step % LogInterval == 0)))
            Log.Write(State, Integrator.ConservedEnergy(State));
        if (Trajectory is not null && (forceAll || (TrajectoryInterval > 0 && step % TrajectoryInterval == 0)))
            Trajectory.Write(State);
    }
}
