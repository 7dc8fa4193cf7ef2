using System.Diagnostics;

namespace Mlip.Validation;

/// <summary>
/// A persistent parallel region for loops that run many times a second (the loops of an MD step): worker threads that
/// live as long as the pool, spin for a bounded time between regions and then block, and a fork/join that costs a
/// counter and an event instead of <see cref="Parallel.For(int, int, Action{int})"/>'s task creation and thread-pool
/// wake-up. The workers are dedicated threads, not thread-pool threads, so the runtime's own background work (GC,
/// tiered JIT, timers) does not delay them.
/// <para>
/// A region (<see cref="TryRun{TScratch}"/>) cuts the items into the same blocks as <see cref="MlipParallel.ForChunks{TScratch}(int, int, Func{TScratch}, Action{int, int, TScratch})"/>
/// (fixed size, independent of the thread count). Each participant (the calling thread, the workers) owns a contiguous
/// range of the blocks, the same in every region (the caller the first), and runs its own from the front; when it has none
/// left it takes the others' from their end. So in a run of regions over the same atoms (the passes of MD steps) a thread
/// mostly reads what it wrote itself, in its own cache, instead of lines written on the other core, and a slower thread's
/// last blocks still go to the faster one. Each participant has its own scratch. A body that writes only its own items'
/// outputs gives the same bits on any thread count, whichever thread ran which block. An exception in a body stops the handing out of blocks after the lowest failed one (those before it still run, so the
/// error reported is the one of the first failing item, as in a serial loop); the
/// region waits for the blocks already started, then throws on the calling thread as <see cref="MlipParallel"/> does
/// (a user error unwrapped, others in an <see cref="AggregateException"/>). A loop started inside a region (nested) runs
/// serially on its thread. <see cref="Dispose"/> ends the threads.
/// </para>
/// </summary>
public sealed class WorkerPool : IDisposable
{
    /// <summary>How long a worker spins on the region counter before it blocks, and the caller on the join (µs).</summary>
    public const int SpinMicroseconds = 200;

    private static readonly long SpinTicks = Math.Max(1, Stopwatch.Frequency * SpinMicroseconds / 1_000_000);

    private readonly List<Worker> _workers = [];
    private readonly object _grow = new();
    private readonly ManualResetEventSlim _joined = new(false, 0);

    // The generation of the region now open (the workers spin on it between regions) and the number of workers running a
    // block of it (the caller spins on it at the join): each on a cache line pair of its own, away from the fields that
    // the caller writes while the workers spin.
    private Padded _ticket;
    private Padded _active;
    private Region? _region;
    private volatile bool _disposed;
    private int _busy;
    private long _regions;

    [ThreadStatic] private static bool _inRegion;

    /// <summary>Longs between two counters written by different threads: 128 bytes, a pair of cache lines (the adjacent-line prefetcher fetches pairs).</summary>
    private const int Pad = 16;

    /// <summary>A counter alone on its pair of cache lines.</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit, Size = 256)]
    private struct Padded
    {
        [System.Runtime.InteropServices.FieldOffset(128)] public int Value;
    }

    /// <summary>Participants (the caller and the first workers) whose CPU time and blocks are counted when <see cref="Accounting"/> is on.</summary>
    public const int MaxAccounted = 8;

    // per participant p, at (p + 1) · Pad: CPU ns in its regions, regions, own blocks, blocks taken from others, its thread's CPU ns (workers, after each region)
    private readonly long[] _stats = new long[(MaxAccounted + 1) * Pad];

    /// <summary>
    /// Whether pools count, per participant, the CPU time of the calling or worker thread inside regions and in all, and the
    /// blocks it ran of its own range and took from the others' (<see cref="Participant"/>; MD's phase times, MLIP_PHASE_TIMES=1).
    /// Two reads of the thread's CPU clock per region and participant; off by default.
    /// </summary>
    public static bool Accounting { get; set; }

    /// <summary>What a participant of the regions (0: the caller, w + 1: worker w) did so far, when <see cref="Accounting"/> was on.</summary>
    public readonly record struct ParticipantTimes(long RegionCpuNs, long Regions, long OwnBlocks, long TakenBlocks, long ThreadCpuNs);

    /// <summary>The counts of <paramref name="participant"/> (0: the caller, w + 1: worker w; below <see cref="MaxAccounted"/>); the caller's thread CPU is not kept (0).</summary>
    public ParticipantTimes Participant(int participant)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(participant);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(participant, MaxAccounted);
        int at = (participant + 1) * Pad;
        return new(Volatile.Read(ref _stats[at]), Volatile.Read(ref _stats[at + 1]), Volatile.Read(ref _stats[at + 2]),
            Volatile.Read(ref _stats[at + 3]), Volatile.Read(ref _stats[at + 4]));
    }

    /// <summary>Whether the calling thread is running a body of a region (a worker, or the caller during its region): loops started here run serially.</summary>
    public static bool InRegion => _inRegion;

    /// <summary>Worker threads started so far (the caller is the other participant of every region).</summary>
    public int WorkerCount { get { lock (_grow) return _workers.Count; } }

    /// <summary>Regions run in parallel so far.</summary>
    public long Regions => Interlocked.Read(ref _regions);

    /// <summary>
    /// Runs <paramref name="body"/>(first, end, scratch) over blocks of <paramref name="chunk"/> of the items 0..<paramref name="count"/>
    /// on the calling thread and up to <paramref name="threads"/> − 1 workers (started on first need). False (nothing run)
    /// when the pool is already running a region for another thread or is disposed: the caller then runs the loop another way.
    /// </summary>
    public bool TryRun<TScratch>(int count, int chunk, int threads, Func<TScratch> scratch, Action<int, int, TScratch> body, Action<TScratch> release)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (chunk < 1) throw new ArgumentOutOfRangeException(nameof(chunk));
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0) return false;
        try
        {
            int blocks = (count + chunk - 1) / chunk;
            if (blocks == 0) return true;
            int helpers = Math.Min(threads, blocks) - 1;
            var region = new Region<TScratch>(count, chunk, blocks, helpers, Accounting ? _stats : null, scratch, body, release);
            if (helpers == 0)
            {
                Participate(region, 0);
                region.ThrowIfFailed();
                return true;
            }
            EnsureWorkers(helpers);
            int generation = Volatile.Read(ref _ticket.Value) + 1;
            region.Generation = generation;
            Volatile.Write(ref _region, region);
            Interlocked.Exchange(ref _ticket.Value, generation);
            Interlocked.Increment(ref _regions);
            for (int w = 0; w < helpers; w++) _workers[w].Wake();
            Participate(region, 0);
            Join();
            Volatile.Write(ref _region, null);
            region.ThrowIfFailed();
            return true;
        }
        finally { Volatile.Write(ref _busy, 0); }
    }

    /// <summary>Takes blocks of <paramref name="region"/> as participant <paramref name="participant"/> (0: the caller, w + 1: worker w) until none is left.</summary>
    private void Participate(Region region, int participant)
    {
        bool outer = _inRegion;
        _inRegion = true;
        long cpu = Accounting ? CpuClock.Thread() : 0;
        try
        {
            region.RunBlocks(participant);
        }
        finally
        {
            _inRegion = outer;
            if (Accounting && participant < MaxAccounted)
            {
                int at = (participant + 1) * Pad;
                _stats[at] += CpuClock.Thread() - cpu;
                _stats[at + 1]++;
            }
        }
    }

    /// <summary>Waits (spinning, then blocking) until no worker runs a block of the current region.</summary>
    private void Join()
    {
        long start = Stopwatch.GetTimestamp();
        while (Volatile.Read(ref _active.Value) != 0)
        {
            if (Stopwatch.GetTimestamp() - start < SpinTicks) { Thread.SpinWait(20); continue; }
            _joined.Reset();
            if (Volatile.Read(ref _active.Value) == 0) break;
            _joined.Wait();
        }
    }

    private void EnsureWorkers(int helpers)
    {
        if (_workers.Count >= helpers) return;
        lock (_grow)
        {
            while (_workers.Count < helpers) _workers.Add(new Worker(this, _workers.Count));
        }
    }

    /// <summary>A worker's part of the current region (called when the ticket's generation changes).</summary>
    private void Serve(int generation, int worker)
    {
        Interlocked.Increment(ref _active.Value);
        try
        {
            // the region read may already be the next one or none; only the region of this generation is served, and
            // Claim hands out its blocks only while the ticket is still that generation's
            var region = Volatile.Read(ref _region);
            if (region is not null && region.Generation == generation && worker < region.Helpers) Participate(region, worker + 1);
        }
        finally
        {
            // the worker's whole CPU so far (blocks, spinning, waking), before the join can see it done
            if (Accounting && worker + 1 < MaxAccounted) _stats[(worker + 2) * Pad + 4] = CpuClock.Thread();
            if (Interlocked.Decrement(ref _active.Value) == 0) _joined.Set();
        }
    }

    /// <summary>Ends the worker threads (after the region running now, if any).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        List<Worker> workers;
        lock (_grow) workers = [.. _workers];
        foreach (var w in workers) w.Wake();
        foreach (var w in workers) w.Thread.Join();
        foreach (var w in workers) w.Dispose();
        _joined.Dispose();
    }

    /// <summary>Whether every worker thread has ended (after <see cref="Dispose"/>).</summary>
    public bool ThreadsEnded
    {
        get { lock (_grow) return _workers.TrueForAll(w => !w.Thread.IsAlive); }
    }

    private sealed class Worker : IDisposable
    {
        private readonly WorkerPool _pool;
        private readonly int _index;
        private readonly ManualResetEventSlim _wake = new(false, 0);
        public Thread Thread { get; }

        // the generation before the region that made this worker is published: read on the creating thread, so a worker
        // whose thread starts after that region opened still serves it (read in Loop, it would wait for the next one)
        private readonly int _seenAtCreation;

        public Worker(WorkerPool pool, int index)
        {
            _pool = pool;
            _index = index;
            _seenAtCreation = Volatile.Read(ref pool._ticket.Value);
            Thread = new Thread(Loop) { IsBackground = true, Name = $"mlip-worker-{index + 1}" };
            Thread.Start();
        }

        public void Wake() => _wake.Set();

        private void Loop()
        {
            _inRegion = true; // a loop started on a worker outside the pool's regions runs serially too
            int seen = _seenAtCreation;
            while (true)
            {
                long start = Stopwatch.GetTimestamp();
                int generation;
                while ((generation = Volatile.Read(ref _pool._ticket.Value)) == seen && !_pool._disposed)
                {
                    if (Stopwatch.GetTimestamp() - start < SpinTicks) { Thread.SpinWait(20); continue; }
                    _wake.Reset();
                    if (Volatile.Read(ref _pool._ticket.Value) != seen || _pool._disposed) continue;
                    _wake.Wait();
                }
                if (_pool._disposed) return;
                seen = generation;
                _pool.Serve(generation, _index);
            }
        }

        public void Dispose() => _wake.Dispose();
    }

    private abstract class Region
    {
        /// <summary>The ticket generation of this region (set before it is published).</summary>
        public int Generation;

        /// <summary>Workers that take part (the caller besides).</summary>
        public int Helpers { get; }

        public int Blocks { get; }
        public bool Failed => _failed;

        private readonly List<Exception> _errors = [];
        private volatile bool _failed;
        private readonly long[]? _stats;

        // Participant p (0: the caller, w + 1: worker w) owns the blocks [first, end) of slot (p + 1) · Pad, packed as
        // first | end << 32, a cache line pair of its own: it takes them from the front, and when it has none left it takes
        // the others' from their end. So each thread runs the same items in every region of a run (the same atoms every
        // step: what it wrote in one region is in its own cache in the next), and a slower thread's last blocks still go
        // to the faster one.
        private readonly long[] _ranges;

        protected Region(int blocks, int helpers, long[]? stats)
        {
            Blocks = blocks;
            Helpers = helpers;
            _stats = stats;
            int participants = helpers + 1;
            _ranges = new long[(participants + 1) * Pad];
            for (int p = 0; p < participants; p++)
            {
                long first = (long)blocks * p / participants, end = (long)blocks * (p + 1) / participants;
                _ranges[(p + 1) * Pad] = Pack((int)first, (int)end);
            }
        }

        /// <summary>
        /// The next block for <paramref name="participant"/>: its own first, then the others' from their end; −1 when none is
        /// left. After a failure only blocks below the lowest failed one are handed out (from the front of any range), so
        /// every block before the first failing one in item order runs and the error reported (the lowest structure's) is the
        /// one a serial loop would meet first, whichever thread got where first.
        /// </summary>
        protected int Claim(int participant)
        {
            int participants = Helpers + 1;
            bool failed = _failed; // read once: a claim is either before or after the failure it sees
            for (int k = 0; k < participants; k++)
            {
                int q = (participant + k) % participants;
                ref long slot = ref _ranges[(q + 1) * Pad];
                while (true)
                {
                    long v = Volatile.Read(ref slot);
                    int first = (int)(v & 0xFFFFFFFF), end = (int)(v >> 32);
                    if (first >= end) break;
                    bool front = k == 0 || failed;
                    if (failed && first >= Volatile.Read(ref _failedBlock)) break;
                    long taken = front ? Pack(first + 1, end) : Pack(first, end - 1);
                    if (Interlocked.CompareExchange(ref slot, taken, v) != v) continue;
                    if (_stats is not null && participant < MaxAccounted) _stats[(participant + 1) * Pad + (k == 0 ? 2 : 3)]++;
                    return front ? first : end - 1;
                }
            }
            return -1;
        }

        private static long Pack(int first, int end) => (uint)first | (long)end << 32;

        /// <summary>Runs blocks as <paramref name="participant"/> until none is left, with one scratch made on the first block.</summary>
        public abstract void RunBlocks(int participant);

        // the lowest block that failed (int.MaxValue: none)
        private int _failedBlock = int.MaxValue;

        /// <summary>Records the failure of <paramref name="block"/>; the participant that met it takes no more blocks.</summary>
        protected void Fail(Exception e, int block)
        {
            lock (_errors)
            {
                _errors.Add(e);
                if (block < _failedBlock) Volatile.Write(ref _failedBlock, block);
            }
            _failed = true;
        }

        public void ThrowIfFailed()
        {
            if (!_failed) return;
            var all = new AggregateException(_errors);
            if (MlipParallel.UserError(all) is { } user) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(user).Throw();
            throw all;
        }
    }

    private sealed class Region<TScratch>(int count, int chunk, int blocks, int helpers, long[]? stats, Func<TScratch> scratch, Action<int, int, TScratch> body, Action<TScratch> release)
        : Region(blocks, helpers, stats)
    {
        public override void RunBlocks(int participant)
        {
            int b = Claim(participant);
            if (b < 0) return;
            TScratch own;
            try { own = scratch(); }
            catch (Exception e) { Fail(e, b); return; }
            try
            {
                for (; b >= 0; b = Claim(participant)) body(b * chunk, Math.Min(count, (b + 1) * chunk), own);
            }
            catch (Exception e) { Fail(e, b); }
            finally
            {
                try { release(own); }
                catch (Exception e) { Fail(e, int.MaxValue); }
            }
        }
    }
}
