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
/// (fixed size, independent of the thread count); the calling thread and the workers take blocks in turn from one
/// counter, each with its own scratch. A body that writes only its own items' outputs therefore gives the same bits on
/// any thread count, whichever thread ran which block. An exception in a body stops the handing out of blocks; the
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

    // The region now open: its generation in the high 32 bits, the next block to hand out in the low 32 bits.
    private long _ticket;
    private Region? _region;
    private int _active;
    private volatile bool _disposed;
    private int _busy;
    private long _regions;

    [ThreadStatic] private static bool _inRegion;

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
            var region = new Region<TScratch>(count, chunk, blocks, helpers, scratch, body, release);
            if (helpers == 0)
            {
                Participate(region, generation: -1);
                region.ThrowIfFailed();
                return true;
            }
            EnsureWorkers(helpers);
            long generation = (Interlocked.Read(ref _ticket) >> 32) + 1;
            region.Generation = (int)generation;
            Volatile.Write(ref _region, region);
            Interlocked.Exchange(ref _ticket, generation << 32);
            Interlocked.Increment(ref _regions);
            for (int w = 0; w < helpers; w++) _workers[w].Wake();
            Participate(region, (int)generation);
            Join();
            Volatile.Write(ref _region, null);
            region.ThrowIfFailed();
            return true;
        }
        finally { Volatile.Write(ref _busy, 0); }
    }

    /// <summary>Takes blocks of <paramref name="region"/> until none is left; generation −1: the caller alone (no ticket).</summary>
    private void Participate(Region region, int generation)
    {
        bool outer = _inRegion;
        _inRegion = true;
        try
        {
            if (generation < 0) region.RunBlocks(() => region.Failed ? -1 : region.NextSerial());
            else region.RunBlocks(() => Claim(generation, region));
        }
        finally { _inRegion = outer; }
    }

    /// <summary>The next block of the region of <paramref name="generation"/>, or −1 when it has none left (or failed, or is no longer open).</summary>
    private int Claim(int generation, Region region)
    {
        while (true)
        {
            long t = Interlocked.Read(ref _ticket);
            int block = (int)(t & 0xFFFFFFFF);
            if ((int)(t >> 32) != generation || block >= region.Blocks) return -1;
            if (region.Failed)
            {
                // stop handing out blocks: mark the region exhausted
                Interlocked.CompareExchange(ref _ticket, ((long)generation << 32) | (uint)region.Blocks, t);
                return -1;
            }
            if (Interlocked.CompareExchange(ref _ticket, t + 1, t) == t) return block;
        }
    }

    /// <summary>Waits (spinning, then blocking) until no worker runs a block of the current region.</summary>
    private void Join()
    {
        long start = Stopwatch.GetTimestamp();
        while (Volatile.Read(ref _active) != 0)
        {
            if (Stopwatch.GetTimestamp() - start < SpinTicks) { Thread.SpinWait(20); continue; }
            _joined.Reset();
            if (Volatile.Read(ref _active) == 0) break;
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
        Interlocked.Increment(ref _active);
        try
        {
            // the region read may already be the next one or none; only the region of this generation is served, and
            // Claim hands out its blocks only while the ticket is still that generation's
            var region = Volatile.Read(ref _region);
            if (region is not null && region.Generation == generation && worker < region.Helpers) Participate(region, generation);
        }
        finally
        {
            if (Interlocked.Decrement(ref _active) == 0) _joined.Set();
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

        public Worker(WorkerPool pool, int index)
        {
            _pool = pool;
            _index = index;
            Thread = new Thread(Loop) { IsBackground = true, Name = $"mlip-worker-{index + 1}" };
            Thread.Start();
        }

        public void Wake() => _wake.Set();

        private void Loop()
        {
            _inRegion = true; // a loop started on a worker outside the pool's regions runs serially too
            int seen = (int)(Interlocked.Read(ref _pool._ticket) >> 32);
            while (true)
            {
                long start = Stopwatch.GetTimestamp();
                int generation;
                while ((generation = (int)(Interlocked.Read(ref _pool._ticket) >> 32)) == seen && !_pool._disposed)
                {
                    if (Stopwatch.GetTimestamp() - start < SpinTicks) { Thread.SpinWait(20); continue; }
                    _wake.Reset();
                    if ((int)(Interlocked.Read(ref _pool._ticket) >> 32) != seen || _pool._disposed) continue;
                    _wake.Wait();
                }
                if (_pool._disposed) return;
                seen = generation;
                _pool.Serve(generation, _index);
            }
        }

        public void Dispose() => _wake.Dispose();
    }

    private abstract class Region(int blocks, int helpers)
    {
        /// <summary>The ticket generation of this region (set before it is published).</summary>
        public int Generation;

        /// <summary>Workers that take part (the caller besides).</summary>
        public int Helpers { get; } = helpers;

        private readonly List<Exception> _errors = [];
        private int _next;
        private volatile bool _failed;

        public int Blocks { get; } = blocks;
        public bool Failed => _failed;

        public int NextSerial() => _next < Blocks ? _next++ : -1;

        /// <summary>Runs blocks from <paramref name="claim"/> until it gives −1, with one scratch made on the first block.</summary>
        public abstract void RunBlocks(Func<int> claim);

        protected void Fail(Exception e)
        {
            lock (_errors) _errors.Add(e);
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

    private sealed class Region<TScratch>(int count, int chunk, int blocks, int helpers, Func<TScratch> scratch, Action<int, int, TScratch> body, Action<TScratch> release) : Region(blocks, helpers)
    {
        public override void RunBlocks(Func<int> claim)
        {
            int b = claim();
            if (b < 0) return;
            TScratch own;
            try { own = scratch(); }
            catch (Exception e) { Fail(e); return; }
            try
            {
                for (; b >= 0; b = claim()) body(b * chunk, Math.Min(count, (b + 1) * chunk), own);
            }
            catch (Exception e) { Fail(e); }
            finally
            {
                try { release(own); }
                catch (Exception e) { Fail(e); }
            }
        }
    }
}
