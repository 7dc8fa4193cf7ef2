using System.Runtime.ExceptionServices;

namespace Mlip.Validation;

/// <summary>
/// Parallel loops over user structures that report a user mistake as the typed
/// <see cref="MlipException"/> it is, not wrapped in the <see cref="AggregateException"/> of
/// <see cref="Parallel"/>: the CLI then prints its one line ("…: the model was trained on Si and cannot
/// handle O") instead of an internal error.
/// </summary>
public static class MlipParallel
{
    /// <summary><see cref="Parallel.For(int, int, ParallelOptions, Action{int})"/>, rethrowing a user error unwrapped.</summary>
    public static void For(int fromInclusive, int toExclusive, ParallelOptions options, Action<int> body) =>
        Run(() => Parallel.For(fromInclusive, toExclusive, options, body));

    /// <summary><see cref="Parallel.For(int, int, Action{int})"/>, rethrowing a user error unwrapped.</summary>
    public static void For(int fromInclusive, int toExclusive, Action<int> body) =>
        Run(() => Parallel.For(fromInclusive, toExclusive, body));

    /// <summary><see cref="Parallel.ForEach{TSource}(IEnumerable{TSource}, ParallelOptions, Action{TSource})"/>, rethrowing a user error unwrapped.</summary>
    public static void ForEach<T>(IEnumerable<T> source, ParallelOptions options, Action<T> body) =>
        Run(() => Parallel.ForEach(source, options, body));

    private static readonly AsyncLocal<int> ThreadLimit = new();

    /// <summary>Threads of <see cref="ForChunks{TScratch}(int, int, Func{TScratch}, Action{int, int, TScratch})"/> here: all cores, or the limit of an enclosing <see cref="LimitThreads"/>.</summary>
    public static int Threads => ThreadLimit.Value > 0 ? ThreadLimit.Value : Environment.ProcessorCount;

    /// <summary>Until disposed, <see cref="ForChunks{TScratch}(int, int, Func{TScratch}, Action{int, int, TScratch})"/> calls made from this execution flow use at most <paramref name="threads"/> threads (for checking that results do not depend on it).</summary>
    public static IDisposable LimitThreads(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        int before = ThreadLimit.Value;
        ThreadLimit.Value = threads;
        return new Restore(before);
    }

    /// <summary>
    /// The threads of the loops inside one item of an outer parallel loop of <paramref name="threads"/> threads over
    /// <paramref name="items"/> items: the threads the outer loop leaves over (at least 1), for a <see cref="LimitThreads"/> around
    /// the outer loop (the limit flows into its workers), so that threads = 1 is one core in all. The inner loops' blocks do not
    /// depend on their thread count, so neither do the results.
    /// </summary>
    public static int InnerThreads(int threads, int items) => Math.Max(1, Math.Max(1, threads) / Math.Max(1, Math.Min(threads, items)));

    private sealed class Restore(int before) : IDisposable
    {
        public void Dispose() => ThreadLimit.Value = before;
    }

    /// <summary>
    /// Runs <paramref name="body"/>(first, end, scratch) over the items 0..<paramref name="count"/> cut into blocks of
    /// <paramref name="chunk"/>, on <see cref="Threads"/> threads (all cores: <see cref="Environment.ProcessorCount"/>, which follows the process's
    /// CPU affinity), with one <paramref name="scratch"/> per worker thread. The blocks do not depend on the thread count, so a
    /// body that writes only the outputs of its own items gives the same bits on any number of threads; sums across items
    /// belong after the loop, in a fixed order. One core: a plain loop on the calling thread.
    /// </summary>
    public static void ForChunks<TScratch>(int count, int chunk, Func<TScratch> scratch, Action<int, int, TScratch> body) =>
        ForChunks(count, chunk, scratch, body, static _ => { });

    /// <summary>
    /// <see cref="ForChunks{TScratch}(int, int, Func{TScratch}, Action{int, int, TScratch})"/>, handing each worker's scratch to
    /// <paramref name="release"/> when the worker is done (to return pooled buffers, so that repeated calls allocate nothing).
    /// </summary>
    public static void ForChunks<TScratch>(int count, int chunk, Func<TScratch> scratch, Action<int, int, TScratch> body, Action<TScratch> release)
    {
        if (chunk < 1) throw new ArgumentOutOfRangeException(nameof(chunk));
        int blocks = (count + chunk - 1) / chunk;
        if (blocks == 0) return;
        int threads = Threads;
        if (blocks == 1 || threads == 1 || WorkerPool.InRegion)
        {
            long t0 = EnterRegion();
            try
            {
                var own = scratch();
                try
                {
                    for (int b = 0; b < blocks; b++) body(b * chunk, Math.Min(count, (b + 1) * chunk), own);
                }
                finally { release(own); }
            }
            finally { LeaveRegion(t0); }
            return;
        }
        if (_pool is { } pool)
        {
            long t1 = EnterRegion();
            bool ran;
            try { ran = pool.TryRun(count, chunk, threads, scratch, body, release); }
            finally { LeaveRegion(t1); }
            if (ran) return;
        }
        _taskLoops++;
        Run(() => Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = threads }, scratch,
            (b, _, own) => { body(b * chunk, Math.Min(count, (b + 1) * chunk), own); return own; }, release));
    }

    [ThreadStatic] private static WorkerPool? _pool;
    [ThreadStatic] private static long _taskLoops;

    /// <summary>
    /// Loops of <see cref="ForChunks{TScratch}(int, int, Func{TScratch}, Action{int, int, TScratch})"/> that the calling thread ran
    /// on several threads outside a <see cref="UseWorkerPool"/> scope, i.e. on <see cref="Parallel.For(int, int, Action{int})"/>
    /// (whose first use in a process loads, JIT-compiles and starts the task-parallel library and thread-pool threads). An
    /// `mlip md` process runs none: its start-up's loops use the run's pool (tests).
    /// </summary>
    public static long TaskLoops => _taskLoops;

    /// <summary>
    /// Until disposed, <see cref="ForChunks{TScratch}(int, int, Func{TScratch}, Action{int, int, TScratch})"/> calls made on the
    /// calling thread run on a <see cref="WorkerPool"/> of its own (worker threads that live for the scope) instead of
    /// <see cref="Parallel.For(int, int, Action{int})"/>: for a loop such as MD's that enters several short parallel loops a
    /// step. The same blocks, so the same bits. Disposing ends the workers. Nested scopes keep the outer pool. On a thread-pool
    /// thread (an MD run that is one item of an outer parallel loop: active learning's explorations, dataset generation)
    /// no pool is made: the loops stay on <see cref="Parallel.For(int, int, Action{int})"/>, which shares the thread pool with
    /// the outer loop, instead of each concurrent run adding its own spinning workers.
    /// </summary>
    public static IDisposable UseWorkerPool()
    {
        if (_pool is not null || Thread.CurrentThread.IsThreadPoolThread) return new PoolScope(null);
        var pool = new WorkerPool();
        _pool = pool;
        return new PoolScope(pool);
    }

    /// <summary>The worker pool of the calling thread's <see cref="UseWorkerPool"/> scope, if any.</summary>
    public static WorkerPool? CurrentPool => _pool;

    private sealed class PoolScope(WorkerPool? pool) : IDisposable
    {
        public void Dispose()
        {
            if (pool is null || !ReferenceEquals(_pool, pool)) return;
            _pool = null;
            pool.Dispose();
        }
    }

    [ThreadStatic] private static bool _accounted;
    [ThreadStatic] private static int _depth;
    [ThreadStatic] private static long _regionCpu, _regions;

    /// <summary>
    /// From now on, the CPU time this thread spends inside the parallel loops of this class (<see cref="ForChunks{TScratch}(int, int, Func{TScratch}, Action{int, int, TScratch})"/>,
    /// <see cref="Run"/>, the outermost only; on one thread too, where they are plain loops) is added to <see cref="RegionCpu"/>:
    /// the rest of the thread's CPU time is what does not split over cores (MD's phase times, MLIP_PHASE_TIMES=1).
    /// </summary>
    public static void AccountThisThread() => _accounted = true;

    /// <summary>CPU nanoseconds the calling thread, if accounted (<see cref="AccountThisThread"/>), spent inside parallel loops so far.</summary>
    public static long RegionCpu => _regionCpu;

    /// <summary>Number of outermost parallel loops the calling thread, if accounted, entered so far.</summary>
    public static long Regions => _regions;

    private static long EnterRegion()
    {
        if (!_accounted || _depth++ > 0) return 0;
        return CpuClock.Thread();
    }

    private static void LeaveRegion(long start)
    {
        if (!_accounted || --_depth > 0) return;
        _regionCpu += CpuClock.Thread() - start;
        _regions++;
    }

    /// <summary>
    /// <paramref name="first"/> on the calling thread and, with several threads (<see cref="Threads"/>), <paramref name="second"/>
    /// at the same time on a thread of its own, whose parallel loops run serially (the calling thread's split over the cores); on
    /// one thread <paramref name="first"/>, then <paramref name="second"/>. For a start-up made of two independent serial parts
    /// (`mlip md`: reading the model's file and the structure's). The second thread has ended before this returns or throws; an
    /// error of <paramref name="first"/> is thrown before one of <paramref name="second"/>, as in the one-thread order.
    /// </summary>
    public static (TFirst First, TSecond Second) Overlap<TFirst, TSecond>(Func<TFirst> first, Func<TSecond> second)
    {
        if (Threads == 1) return (first(), second());
        TSecond b = default!;
        ExceptionDispatchInfo? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var serial = LimitThreads(1);
                b = second();
            }
            catch (Exception e) { error = ExceptionDispatchInfo.Capture(e); }
        }) { IsBackground = true, Name = "mlip-overlap" };
        thread.Start();
        TFirst a;
        try { a = first(); }
        finally { thread.Join(); }
        error?.Throw();
        return (a, b);
    }

    /// <summary>
    /// Runs <paramref name="loop"/> (any Parallel.For/ForEach overload); when it throws an
    /// <see cref="AggregateException"/> holding an <see cref="MlipException"/>, that exception is rethrown
    /// with its original stack (<see cref="ExceptionDispatchInfo"/>). Of several, the one about the lowest
    /// structure index is chosen, so the message does not depend on thread timing where the structures
    /// say where they came from. Other exceptions (bugs) propagate unchanged.
    /// </summary>
    public static void Run(Action loop)
    {
        long t0 = EnterRegion();
        try
        {
            loop();
        }
        catch (AggregateException e) when (UserError(e) is { } user)
        {
            ExceptionDispatchInfo.Capture(user).Throw();
        }
        finally { LeaveRegion(t0); }
    }

    /// <summary>The user error (an <see cref="MlipException"/>) inside <paramref name="e"/>, if any: the one about the lowest structure index.</summary>
    public static MlipException? UserError(AggregateException e)
    {
        MlipException? best = null;
        int bestIndex = int.MaxValue;
        foreach (var inner in e.Flatten().InnerExceptions)
        {
            if (inner is not MlipException m) continue;
            int index = m is MlipInputException { StructureIndex: int s } ? s : int.MaxValue;
            if (best is null || index < bestIndex) { best = m; bestIndex = index; }
        }
        return best;
    }
}
