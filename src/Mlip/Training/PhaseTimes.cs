using System.Diagnostics;
using System.Globalization;
using Mlip.Distributed;

namespace Mlip.Training;

/// <summary>
/// The wall and CPU seconds of each phase of a run on this rank (building rows, the rank's QR, the merge, the solve, the
/// evaluation), written when the environment variable MLIP_PHASE_TIMES is 1: to the log in one process, to stderr under MPI
/// (every rank, so the phases of all ranks can be compared: CPU is the process's user + system time, all threads).
/// </summary>
public sealed class PhaseTimes
{
    private readonly ICommunicator _comm;
    private readonly TextWriter _log;
    private readonly bool _on = Environment.GetEnvironmentVariable("MLIP_PHASE_TIMES") == "1";
    private readonly Stopwatch _wall = Stopwatch.StartNew();
    private TimeSpan _cpu;

    public PhaseTimes(ICommunicator comm, TextWriter log)
    {
        _comm = comm;
        _log = log;
        _cpu = Cpu();
    }

    /// <summary>Writes the time since the last mark (or the start) as the time of <paramref name="phase"/>.</summary>
    public void Mark(string phase)
    {
        if (!_on) return;
        var cpu = Cpu();
        End(phase, _wall.Elapsed.TotalSeconds, cpu - _cpu, cpu, "");
    }

    /// <summary>
    /// Writes the wall and CPU seconds from the process's start to now as the phase <paramref name="phase"/> (the runtime's
    /// start, the config, MPI's initialisation: what comes before the first <see cref="PhaseTimes"/>), and restarts the clock.
    /// </summary>
    public void MarkSinceProcessStart(string phase)
    {
        if (!_on) return;
        using var self = Process.GetCurrentProcess();
        var cpu = self.TotalProcessorTime;
        End(phase, (DateTime.Now - self.StartTime).TotalSeconds, cpu, cpu, " (since the process started)");
    }

    /// <summary>Writes a phase's line and starts the next phase's clocks at <paramref name="cpuNow"/>.</summary>
    private void End(string phase, double wall, TimeSpan cpu, TimeSpan cpuNow, string suffix)
    {
        Write(string.Create(CultureInfo.InvariantCulture, $"{phase}: {wall:F2} s wall, {cpu.TotalSeconds:F2} s CPU{suffix}"));
        _wall.Restart();
        _cpu = cpuNow;
    }

    /// <summary>Writes a detail of the current phase (when phase times are on).</summary>
    public void Note(string detail)
    {
        if (_on) Write(detail);
    }

    /// <summary>One line: to stderr under MPI (every rank's), else to the log.</summary>
    private void Write(string text)
    {
        string line = $"phase (rank {_comm.Rank} of {_comm.Size}): {text}";
        if (_comm.Size > 1) Console.Error.WriteLine(line);
        else _log.WriteLine(line);
    }

    /// <summary>The process's CPU time (user + system, all threads).</summary>
    public static TimeSpan Cpu()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }
}
