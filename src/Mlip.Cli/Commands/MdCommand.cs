using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlip.Calculators;
using Mlip.IO;
using Mlip.Models;
using Mlip.Simulation;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary><c>mlip md</c>: molecular dynamics (NVE, Langevin, Nosé–Hoover chain, Berendsen NPT) over Mlip.Simulation; a thin verb.</summary>
public static class MdCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var structure = new Argument<string>("structure") { Description = "Starting structure (the first frame, or --index); its velocities are used when it has them" };
        var model = CommonOptions.Model();
        var potential = CommonOptions.Potential();
        var index = CommonOptions.Index();
        var ensemble = new Option<string>("--ensemble") { Description = "nve, nvt-langevin, nvt-nh or npt-berendsen", DefaultValueFactory = _ => "nve" };
        var temperature = new Option<double>("--temperature", "-T") { Description = "Temperature (K): initial velocities, and the thermostat's target", DefaultValueFactory = _ => 300 };
        var pressure = new Option<double>("--pressure") { Description = "Target pressure for npt-berendsen (GPa)" };
        var timestep = new Option<double>("--timestep") { Description = "Time step (fs)", DefaultValueFactory = _ => 1.0 };
        var steps = new Option<long>("--steps") { Description = "Number of steps", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "Seed of the initial velocities and the Langevin noise", DefaultValueFactory = _ => 1 };
        var friction = new Option<double>("--friction") { Description = "Langevin friction (1/fs)", DefaultValueFactory = _ => 0.01 };
        var tdamp = new Option<double>("--tdamp") { Description = "Nosé–Hoover period (fs; default 100 time steps)" };
        var pdamp = new Option<double>("--pdamp") { Description = "Berendsen barostat period (fs)", DefaultValueFactory = _ => 500 };
        var compressibility = new Option<double>("--compressibility") { Description = "Berendsen compressibility (1/GPa, about 1/B)", DefaultValueFactory = _ => 0.01 };
        var logEvery = new Option<int>("--log-every") { Description = "Thermo log interval (steps)", DefaultValueFactory = _ => 10 };
        var trajEvery = new Option<int>("--traj-every") { Description = "Trajectory frame interval (steps)", DefaultValueFactory = _ => 100 };
        var output = CommonOptions.Output("Trajectory (extended XYZ with energies, forces, stresses, velocities)");
        var log = new Option<string?>("--log") { Description = "Thermo log (CSV: step, time, T, energies, conserved, P, V)" };
        var json = CommonOptions.Json();
        var uThreshold = new Option<double?>("--uncertainty-threshold") { Description = "Watch the model's uncertainty (ACE: γ; linear models with --training: D-optimality γ; GPR: max force std; --committee: force spread) and act when it passes this value" };
        var uAction = new Option<string>("--uncertainty-action") { Description = "stop (end the run at the first such frame) or dump (write such frames to --uncertainty-dump and go on)", DefaultValueFactory = _ => "stop" };
        var uEvery = new Option<int>("--uncertainty-every") { Description = "Check the uncertainty every N steps", DefaultValueFactory = _ => 10 };
        var uDump = new Option<string?>("--uncertainty-dump") { Description = "extxyz of the frames over the threshold (default: OUTPUT.extrapolative.xyz, or extrapolative.xyz)" };
        var uTraining = CommonOptions.Training("With --uncertainty-threshold: the model's training data (D-optimality / ACE active set)");
        var uActiveSet = new Option<string?>("--active-set") { Description = "With --uncertainty-threshold for ACE models: the .asi active set (default MODEL.asi beside an .ace/.yace)" };
        var uCommittee = new Option<string[]>("--committee") { Description = "With --uncertainty-threshold: more models; the run uses --model, the spread of all is watched", AllowMultipleArgumentsPerToken = true };
        var cmd = new Command("md", "Molecular dynamics with a model or a classical potential: NVE, Langevin, Nosé–Hoover chain, Berendsen NPT");
        cmd.Arguments.Add(structure);
        foreach (var o in new Option[] { model, potential, index, ensemble, temperature, pressure, timestep, steps, seed, friction, tdamp, pdamp, compressibility, logEvery, trajEvery, output, log, json,
            uThreshold, uAction, uEvery, uDump, uTraining, uActiveSet, uCommittee })
            cmd.Options.Add(o);
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            // the parallel loops before the run (the structure check's neighbour list, the initial temperature, the first
            // force call) use the run's worker pool too: on several cores the task-parallel library's loop is then never
            // loaded, JIT-compiled or started in this process (docs/performance.md, "What a two-thread run costs")
            using var loops = MlipParallel.UseWorkerPool();
            string path = parse.GetValue(structure)!;
            ICalculator Open() => CalculatorSource.OpenForDynamics(parse.GetValue(model), parse.GetValue(potential));
            Structure Read() => CommonOptions.ReadFrame(path, parse.GetValue(index));
            // a model file and the structure are read at the same time on two cores (a classical potential opens at once: the
            // structure is then read with its check's loops on both cores)
            var (calc, start) = parse.GetValue(model) is null ? (Open(), Read()) : MlipParallel.Overlap(Open, Read);
            double dt = parse.GetValue(timestep), T = parse.GetValue(temperature);
            long n = parse.GetValue(steps);
            int sd = parse.GetValue(seed);
            if (!(dt > 0)) throw new MlipException("--timestep must be positive (fs)");
            if (!(T >= 0)) throw new MlipException("--temperature must be zero or positive (K)");
            if (n < 0) throw new MlipException("--steps must be zero or positive");
            if (!(parse.GetValue(friction) >= 0)) throw new MlipException("--friction must be zero or positive (1/fs)");
            if (!(parse.GetValue(pdamp) > 0)) throw new MlipException("--pdamp must be positive (fs)");
            if (!(parse.GetValue(compressibility) > 0)) throw new MlipException("--compressibility must be positive (1/GPa)");
            if (parse.GetValue(tdamp) < 0) throw new MlipException("--tdamp must be positive (fs)");
            if (parse.GetValue(logEvery) < 0 || parse.GetValue(trajEvery) < 0) throw new MlipException("--log-every and --traj-every must be zero or positive");

            var setup = MdSetup.Create(calc, start, new MdSettings
            {
                Ensemble = parse.GetValue(ensemble)!, TimeStep = dt, Temperature = T, Pressure = parse.GetValue(pressure), Seed = sd,
                Friction = parse.GetValue(friction), ThermostatPeriod = parse.GetValue(tdamp),
                BarostatPeriod = parse.GetValue(pdamp), Compressibility = parse.GetValue(compressibility),
            }, path);
            var (ens, integrator, state) = (setup.Ensemble, setup.Integrator, setup.State);

            bool asJson = parse.GetValue(json);
            var stats = new MdStatistics(integrator);
            using var monitor = parse.GetValue(uThreshold) is double ut
                ? OpenMonitor(calc, parse.GetValue(model), ut, parse.GetValue(uAction)!, parse.GetValue(uEvery), parse.GetValue(uDump) ?? DefaultDump(parse.GetValue(output)),
                    parse.GetValue(uTraining), parse.GetValue(uActiveSet), parse.GetValue(uCommittee))
                : null;
            if (monitor is null && (parse.GetValue(uTraining) is { Length: > 0 } || parse.GetValue(uActiveSet) is not null || parse.GetValue(uCommittee) is { Length: > 0 } || parse.GetValue(uDump) is not null))
                throw new MlipException("--training, --active-set, --committee and --uncertainty-dump go with --uncertainty-threshold");
            // Opened after every check, and staged: the frames and rows go to NAME.partial.EXT and replace an
            // existing trajectory or log only when the run ends (or the uncertainty monitor stops it). A run that
            // fails or is killed leaves the previous files as they were (and its own output, if any, in the .partial files).
            using var traj = parse.GetValue(output) is string o ? new TrajectoryWriter(o, staged: true) : null;
            using var thermo = parse.GetValue(log) is string l ? new ThermoLog(l, staged: true) : null;
            var md = new MolecularDynamics(integrator, state)
            {
                StopWhen = monitor is null ? null : monitor.Check,
                Log = thermo, LogInterval = parse.GetValue(logEvery),
                Trajectory = traj, TrajectoryInterval = parse.GetValue(trajEvery),
                Progress = new Progress(stderr), ProgressInterval = (int)Math.Max(1, Math.Min(int.MaxValue, n / 10)),
                Observer = stats.Observe,
            };
            var clock = Stopwatch.StartNew();
            long done;
            try
            {
                done = md.Run(n);
            }
            catch
            {
                // the error itself follows as the one "mlip: error:" line; say where this run's output went
                if (traj is { Frames: > 0 } || thermo is { Rows: > 0 })
                    stderr.WriteLine($"md: the run failed at step {state.Step}; {string.Join(" and ", new[] { traj is { Frames: > 0 } ? $"its {traj.Frames} frame(s) are in {traj.WritingPath}" : null, thermo is { Rows: > 0 } ? $"its log is in {thermo.WritingPath}" : null }.OfType<string>())}; existing output files are unchanged");
                throw;
            }
            double wall = clock.Elapsed.TotalSeconds;
            // the frame that stopped the run is kept in the trajectory
            if (monitor is { Stopped: true } && traj is not null && (parse.GetValue(trajEvery) == 0 || state.Step % parse.GetValue(trajEvery) != 0)) traj.Write(state);
            traj?.Commit();
            thermo?.Commit();
            monitor?.Commit();
            string F(double v, string fmt) => v.ToString(fmt, CultureInfo.InvariantCulture);
            bool nve = ens == "nve";
            if (asJson)
                stdout.WriteLine(new JsonObject
                {
                    ["ensemble"] = ens, ["calculator"] = calc.Name, ["atoms"] = state.Count, ["steps"] = done, ["time_fs"] = state.Time, ["timestep_fs"] = dt,
                    ["mean_temperature_k"] = Finite(stats.MeanTemperature), ["mean_pressure_gpa"] = Finite(stats.MeanPressure), ["mean_volume_a3"] = Finite(stats.MeanVolume),
                    ["final_temperature_k"] = state.Temperature, ["final_potential_energy_ev"] = state.PotentialEnergy,
                    ["initial_conserved_ev"] = Finite(stats.InitialConservedEnergy), ["final_conserved_ev"] = Finite(stats.FinalConservedEnergy),
                    ["conserved_drift_ev_per_atom_per_ps"] = Finite(stats.DriftPerAtomPerPs),
                    ["trajectory_frames"] = traj?.Frames ?? 0, ["wall_seconds"] = wall, ["steps_per_second"] = done / Math.Max(wall, 1e-9),
                    ["uncertainty"] = monitor is null ? null : new JsonObject
                    {
                        ["kind"] = monitor.Estimator.Kind, ["score"] = monitor.Estimator.ScoreName, ["threshold"] = monitor.Threshold, ["checks"] = monitor.Checks,
                        ["max"] = monitor.MaxScore, ["max_step"] = monitor.MaxScoreStep, ["exceeded"] = monitor.Exceeded, ["first_exceeded_step"] = monitor.FirstExceededStep,
                        ["stopped"] = monitor.Stopped, ["dump"] = monitor.Exceeded > 0 ? monitor.DumpPath : null,
                    },
                }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else
            {
                stdout.WriteLine($"{ens} with {calc.Name}: {done} steps of {F(dt, "G4")} fs ({F(state.Time / 1000, "F3")} ps), {state.Count} atoms, {F(wall, "F1")} s ({F(done / Math.Max(wall, 1e-9), "F0")} steps/s)");
                stdout.WriteLine($"mean T {F(stats.MeanTemperature, "F1")} K, mean P {(double.IsFinite(stats.MeanPressure) ? F(stats.MeanPressure, "F4") + " GPa" : "n/a")}, mean volume {(double.IsFinite(stats.MeanVolume) ? F(stats.MeanVolume, "F3") + " Å³" : "n/a (not periodic)")}");
                stdout.WriteLine($"{(nve ? "energy" : "conserved quantity")} drift {F(stats.DriftPerAtomPerPs, "G3")} eV/atom/ps (E {F(stats.InitialConservedEnergy, "F6")} → {F(stats.FinalConservedEnergy, "F6")} eV)");
                if (monitor is not null)
                {
                    if (monitor.Stopped)
                        stdout.WriteLine($"stopped at step {monitor.FirstExceededStep}: {monitor.Estimator.ScoreName} {F(monitor.MaxScore, "G4")} > threshold {F(monitor.Threshold, "G4")} ({monitor.Estimator.Kind}); the model extrapolates here");
                    else
                        stdout.WriteLine($"uncertainty ({monitor.Estimator.Kind}): {monitor.Checks} checks, max {monitor.Estimator.ScoreName} {F(monitor.MaxScore, "G4")} at step {monitor.MaxScoreStep}, {monitor.Exceeded} frame(s) over {F(monitor.Threshold, "G4")}");
                    if (monitor.Exceeded > 0 && monitor.DumpPath is not null) stdout.WriteLine($"wrote {monitor.Exceeded} frame(s) over the threshold to {monitor.DumpPath}");
                }
                if (traj is not null) stdout.WriteLine($"wrote {traj.Frames} frames to {traj.Path}");
                if (thermo is not null) stdout.WriteLine($"wrote the thermo log to {thermo.FilePath}");
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary>A number for --json, or null where it is not applicable (the pressure of a cluster) or undefined (NaN).</summary>
    private static JsonNode? Finite(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;

    private static string DefaultDump(string? output) =>
        output is null ? "extrapolative.xyz" : Path.Combine(Path.GetDirectoryName(output) ?? "", Path.GetFileNameWithoutExtension(output) + ".extrapolative.xyz");

    private static UncertaintyMonitor OpenMonitor(ICalculator calc, string? modelPath, double threshold, string action, int every, string dump,
        string[]? training, string? activeSet, string[]? committee)
    {
        if (!(threshold > 0)) throw new MlipException("--uncertainty-threshold must be positive");
        if (every < 1) throw new MlipException("--uncertainty-every must be at least 1");
        var act = action.ToLowerInvariant() switch
        {
            "stop" => UncertaintyAction.Stop,
            "dump" => UncertaintyAction.Dump,
            _ => throw new MlipException($"unknown --uncertainty-action '{action}' (stop or dump)"),
        };
        var members = new List<ICalculator> { calc };
        foreach (var m in committee ?? []) members.Add(Models.ModelFile.Load(m));
        var train = training is { Length: > 0 } ? StructureIO.ReadAll(training, null, ValidationOptions.Default) : null;
        if (activeSet is null && train is null && modelPath is not null && Models.Ace.AcePotential.IsAcePath(modelPath) && File.Exists(Path.ChangeExtension(modelPath, ".asi")))
            activeSet = Path.ChangeExtension(modelPath, ".asi");
        var estimator = Models.Uncertainty.UncertaintyEstimators.For(members, train, 1, true, activeSet, Models.Ace.AceGradeKind.Linear);
        return new UncertaintyMonitor(estimator, threshold, every, act, dump, staged: true);
    }

    private sealed class Progress(TextWriter stderr) : IProgress<MdProgress>
    {
        public void Report(MdProgress value) => stderr.WriteLine("md: " + value);
    }
}
