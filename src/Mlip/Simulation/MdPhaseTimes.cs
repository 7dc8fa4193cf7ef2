using System.Diagnostics;
using System.Globalization;
using Mlip.Validation;

namespace Mlip.Simulation;

/// <summary>
/// Where the steps of an MD run spend their time, for seeing what does not split over cores: per phase (the integrator's
/// own updates, the force call, the thermo log and trajectory, the averages and checks after a step), the CPU time of the
/// thread that runs the loop, split into the part inside parallel loops (<see cref="MlipParallel.RegionCpu"/>: work that
/// splits over cores; on one core too) and the rest (serial); and over the whole loop the process's CPU time, the wall
/// time, the bytes allocated and the garbage collections. <see cref="MolecularDynamics"/> keeps one when the environment
/// variable MLIP_PHASE_TIMES is 1 and writes it to stderr after each run. CPU times, unlike wall times, are little
/// disturbed by other processes: the serial fraction measured on one core bounds the speed-up on more
/// (Amdahl: 1 / (s + (1 − s) / cores)).
/// </summary>
public sealed class MdPhaseTimes
{
    /// <summary>Whether MLIP_PHASE_TIMES=1 asks for phase times.</summary>
    public static bool Requested => Environment.GetEnvironmentVariable("MLIP_PHASE_TIMES") == "1";

    /// <summary>The phases of a step: <see cref="Phase.Step"/> is the integrator's whole step, the force call (<see cref="Phase.Forces"/>) included.</summary>
    public enum Phase { Step, Forces, Output, Observers }

    private static readonly string[] Names = ["integrator (kicks, drifts, thermostat, barostat)", "force call", "thermo log, trajectory", "averages, checks, progress"];

    private readonly long[] _cpu = new long[4], _parallel = new long[4], _wall = new long[4];
    private long _processCpu, _loopWall, _allocated, _steps, _regions;
    private readonly int[] _gc = new int[3];
    private readonly Thread _owner;

    /// <summary>Starts accounting on the calling thread (the one that runs the loop).</summary>
    public MdPhaseTimes()
    {
        _owner = Thread.CurrentThread;
        MlipParallel.AccountThisThread();
        WorkerPool.Accounting = true;
    }

    /// <summary>A mark for <see cref="Stop"/>: this thread's CPU time, its CPU inside parallel loops, the wall clock.</summary>
    public readonly record struct Mark(long Cpu, long Parallel, long Wall);

    public Mark Start() => new(CpuClock.Thread(), MlipParallel.RegionCpu, Stopwatch.GetTimestamp());

    /// <summary>Adds the time since <paramref name="start"/> to <paramref name="phase"/>; returns a mark of now (the next phase's start).</summary>
    public Mark Stop(Phase phase, Mark start)
    {
        if (Thread.CurrentThread != _owner) return start; // only the loop's thread is accounted
        var now = Start();
        int k = (int)phase;
        _cpu[k] += now.Cpu - start.Cpu;
        _parallel[k] += now.Parallel - start.Parallel;
        _wall[k] += now.Wall - start.Wall;
        return now;
    }

    private long _loopStartCpu, _loopStartWall, _loopStartAllocated, _loopStartRegions;
    // the worker pool's participants (0: the loop thread, 1, 2 …: its workers): counts at the loop's start, sums over the loops
    private const int Participants = 4;
    private readonly WorkerPool.ParticipantTimes[] _poolStart = new WorkerPool.ParticipantTimes[Participants], _pool = new WorkerPool.ParticipantTimes[Participants];
    private int _poolThreads;
    private readonly int[] _loopStartGc = new int[3];
    // start-up (process start to the first loop) and the JIT: methods compiled and compile time before the first loop and in the loops
    private double _startupCpu = double.NaN, _startupWall = double.NaN, _startupThreadCpu = double.NaN;
    private long _jitBefore, _jitInLoop, _loopStartJit;
    private TimeSpan _jitTimeBefore, _jitTimeInLoop, _loopStartJitTime, _jitThreadBefore;

    /// <summary>Marks the start of a run of steps (process CPU, wall, allocation and collection counters).</summary>
    public void BeginLoop()
    {
        _loopStartCpu = CpuClock.Process();
        _loopStartWall = Stopwatch.GetTimestamp();
        _loopStartJit = System.Runtime.JitInfo.GetCompiledMethodCount();
        _loopStartJitTime = System.Runtime.JitInfo.GetCompilationTime();
        if (double.IsNaN(_startupCpu))
        {
            _startupCpu = _loopStartCpu / 1e9;
            _startupThreadCpu = CpuClock.Thread() / 1e9; // the loop thread's share: the start-up's path, which a second core does not shorten unless work moves off it
            _startupWall = (DateTime.Now - Process.GetCurrentProcess().StartTime).TotalSeconds;
            _jitBefore = _loopStartJit;
            _jitTimeBefore = _loopStartJitTime;
            _jitThreadBefore = System.Runtime.JitInfo.GetCompilationTime(currentThread: true);
        }
        _loopStartAllocated = GC.GetTotalAllocatedBytes();
        _loopStartRegions = MlipParallel.Regions;
        for (int g = 0; g < 3; g++) _loopStartGc[g] = GC.CollectionCount(g);
        if (MlipParallel.CurrentPool is { } pool)
            for (int p = 0; p < Participants; p++) _poolStart[p] = pool.Participant(p);
    }

    /// <summary>Adds the run of <paramref name="steps"/> steps since <see cref="BeginLoop"/>.</summary>
    public void EndLoop(long steps)
    {
        _processCpu += CpuClock.Process() - _loopStartCpu;
        _loopWall += Stopwatch.GetTimestamp() - _loopStartWall;
        _allocated += GC.GetTotalAllocatedBytes() - _loopStartAllocated;
        _regions += MlipParallel.Regions - _loopStartRegions;
        for (int g = 0; g < 3; g++) _gc[g] += GC.CollectionCount(g) - _loopStartGc[g];
        _jitInLoop += System.Runtime.JitInfo.GetCompiledMethodCount() - _loopStartJit;
        _jitTimeInLoop += System.Runtime.JitInfo.GetCompilationTime() - _loopStartJitTime;
        _steps += steps;
        if (MlipParallel.CurrentPool is { } pool)
        {
            _poolThreads = Math.Max(_poolThreads, pool.WorkerCount + 1);
            for (int p = 0; p < Participants; p++)
            {
                var (now, start) = (pool.Participant(p), _poolStart[p]);
                var sum = _pool[p];
                _pool[p] = new(sum.RegionCpuNs + now.RegionCpuNs - start.RegionCpuNs, sum.Regions + now.Regions - start.Regions,
                    sum.OwnBlocks + now.OwnBlocks - start.OwnBlocks, sum.TakenBlocks + now.TakenBlocks - start.TakenBlocks,
                    sum.ThreadCpuNs + now.ThreadCpuNs - start.ThreadCpuNs);
            }
        }
    }

    /// <summary>Steps accounted so far.</summary>
    public long Steps => _steps;

    /// <summary>Outermost parallel loops the loop's thread entered during the accounted steps.</summary>
    public long ParallelLoops => _regions;

    /// <summary>CPU seconds of the loop's thread outside parallel loops, over all phases (what does not split).</summary>
    public double SerialSeconds => (_cpu[0] - _parallel[0] + _cpu[2] - _parallel[2] + _cpu[3] - _parallel[3]) / 1e9;

    /// <summary>CPU seconds of the loop's thread over all phases.</summary>
    public double ThreadSeconds => (_cpu[0] + _cpu[2] + _cpu[3]) / 1e9;

    /// <summary>The table: per phase the loop thread's CPU (ms per step), its parallel and serial parts, wall; the totals.</summary>
    public void Write(TextWriter w)
    {
        double per = Math.Max(1, _steps);
        string F(double v) => v.ToString("F3", CultureInfo.InvariantCulture);
        w.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"md phase times: {_steps} steps, {MlipParallel.Threads} thread(s); ms per step of the loop thread's CPU (in parallel loops + serial), and wall"));
        w.WriteLine($"  {"phase",-50} {"CPU",9} {"parallel",9} {"serial",9} {"wall",9}");
        // the integrator's phase is timed around the whole step, the force call inside it: its own part is the difference
        long[] cpu = (long[])_cpu.Clone(), par = (long[])_parallel.Clone(), wall = (long[])_wall.Clone();
        cpu[0] -= cpu[1]; par[0] -= par[1]; wall[0] -= wall[1];
        for (int k = 0; k < 4; k++)
            w.WriteLine($"  {Names[k],-50} {F(cpu[k] / 1e6 / per),9} {F(par[k] / 1e6 / per),9} {F((cpu[k] - par[k]) / 1e6 / per),9} {F(wall[k] * 1e3 / Stopwatch.Frequency / per),9}");
        double thread = ThreadSeconds, serial = SerialSeconds;
        w.WriteLine($"  {"all phases",-50} {F(thread * 1e3 / per),9} {F((thread - serial) * 1e3 / per),9} {F(serial * 1e3 / per),9} {F((_wall[0] + _wall[2] + _wall[3]) * 1e3 / Stopwatch.Frequency / per),9}");
        w.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  serial fraction of the loop thread's CPU {(thread > 0 ? serial / thread : 0):F4}; process CPU {_processCpu / 1e6 / per:F3} ms per step (all threads), wall {_loopWall * 1e3 / Stopwatch.Frequency / per:F3} ms per step"));
        w.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {_regions / per:F1} parallel loops per step; {_allocated / per / 1024:F1} KiB allocated per step (all threads); gen0/1/2 collections in the loop {_gc[0]}/{_gc[1]}/{_gc[2]}"));
        for (int p = 0; p < Math.Min(_poolThreads, Participants); p++)
        {
            var t = _pool[p];
            string who = p == 0 ? "loop thread" : $"worker {p}";
            string own = p == 0 ? "" : string.Create(CultureInfo.InvariantCulture,
                $"; thread CPU {t.ThreadCpuNs / 1e6 / per:F3} ms per step (outside blocks: spinning, waiting, waking {(t.ThreadCpuNs - t.RegionCpuNs) / 1e6 / per:F3})");
            w.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  pool, {who}: CPU running blocks {t.RegionCpuNs / 1e6 / per:F3} ms per step in {t.Regions / per:F1} regions, blocks of its own range {t.OwnBlocks / per:F1}, taken from others {t.TakenBlocks / per:F1}{own}"));
        }
        w.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  start-up to the first step: process CPU {_startupCpu:F3} s (loop thread {_startupThreadCpu:F3} s), wall {_startupWall:F3} s; JIT before the loop {_jitBefore} methods, {_jitTimeBefore.TotalSeconds:F3} s (loop thread {_jitThreadBefore.TotalSeconds:F3} s); in the loop {_jitInLoop} methods, {_jitTimeInLoop.TotalSeconds:F3} s"));
    }
}
