using System.Collections.Concurrent;
using Mlip.Validation;

namespace Mlip.Tests.Validation;

/// <summary>
/// The persistent parallel region of MD steps (<see cref="WorkerPool"/>, <see cref="MlipParallel.UseWorkerPool"/>): the same
/// blocks and bits as the serial loop, errors thrown as <see cref="MlipParallel"/> throws them and no hang after one, nested
/// loops serial, the workers ended on disposal.
/// </summary>
public sealed class WorkerPoolTests
{
    private static double Item(int i) => Math.Sin(0.001 * i) * Math.Exp(-1e-5 * i);

    /// <summary>Runs <paramref name="body"/> on a thread of its own (the test runner's threads may be thread-pool threads, where <see cref="MlipParallel.UseWorkerPool"/> makes no pool); rethrows what it threw.</summary>
    internal static void OnOwnThread(Action body)
    {
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? error = null;
        var thread = new Thread(() =>
        {
            try { body(); }
            catch (Exception e) { error = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e); }
        });
        thread.Start();
        thread.Join();
        error?.Throw();
    }

    /// <summary>Per-item values and the block sums summed in block order, from ForChunks on <paramref name="threads"/> threads.</summary>
    private static (double[] Values, double Sum, (int, int)[] Blocks) Loop(int threads, int count = 10_000, int chunk = 97)
    {
        using var limit = MlipParallel.LimitThreads(threads);
        var values = new double[count];
        var partial = new double[(count + chunk - 1) / chunk];
        var blocks = new ConcurrentBag<(int, int)>();
        MlipParallel.ForChunks(count, chunk, static () => 0, (first, end, _) =>
        {
            double s = 0;
            for (int i = first; i < end; i++) { values[i] = Item(i); s += values[i]; }
            partial[first / chunk] = s;
            blocks.Add((first, end));
        });
        double sum = 0;
        foreach (double p in partial) sum += p;
        return (values, sum, blocks.OrderBy(b => b.Item1).ToArray());
    }

    [Fact]
    public void RegionsGiveTheSerialBlocksAndBitsOnAnyThreadCount() => OnOwnThread(RegionsGiveTheSerialBlocksAndBitsOnAnyThreadCountBody);

    private static void RegionsGiveTheSerialBlocksAndBitsOnAnyThreadCountBody()
    {
        var serial = Loop(1);
        using var scope = MlipParallel.UseWorkerPool();
        var pool = MlipParallel.CurrentPool!;
        foreach (int threads in new[] { 2, 3, 2 })
        {
            for (int repeat = 0; repeat < 50; repeat++)
            {
                var r = Loop(threads);
                Assert.Equal(serial.Values, r.Values);
                Assert.Equal(serial.Sum, r.Sum);
                Assert.Equal(serial.Blocks, r.Blocks);
            }
        }
        Assert.Equal(150, pool.Regions);
        Assert.Equal(2, pool.WorkerCount);
    }

    [Fact]
    public void EachThreadRunsItsOwnRangeFromTheFrontAndTakesTheOthersFromTheirEnd() => OnOwnThread(OwnRangesBody);

    private static void OwnRangesBody()
    {
        const int blocks = 12;
        using var scope = MlipParallel.UseWorkerPool();
        using var limit = MlipParallel.LimitThreads(2);
        var caller = Environment.CurrentManagedThreadId;
        // a handshake: the caller holds its first block until a worker has run one, so the worker's first block is
        // the first of its own range (6), not the caller's next (1, as a shared counter would hand out)
        // (and the worker holds its first block until the caller has started one, so that a caller descheduled after
        // opening the region cannot find every block taken)
        using var workerRan = new ManualResetEventSlim(false);
        using var callerRan = new ManualResetEventSlim(false);
        var order = new ConcurrentQueue<(int Thread, int Block)>();
        MlipParallel.ForChunks(blocks, 1, static () => 0, (first, _, _) =>
        {
            int me = Environment.CurrentManagedThreadId;
            order.Enqueue((me, first));
            if (me == caller && first == 0)
            {
                callerRan.Set();
                Assert.True(workerRan.Wait(TimeSpan.FromMinutes(5)), "no worker ran a block");
            }
            if (me != caller)
            {
                Assert.True(callerRan.Wait(TimeSpan.FromMinutes(5)), "the caller ran no block");
                workerRan.Set();
            }
        });
        Assert.Equal(Enumerable.Range(0, blocks), order.Select(o => o.Block).Order());
        Assert.Equal(0, order.First(o => o.Thread == caller).Block);
        Assert.Equal(blocks / 2, order.First(o => o.Thread != caller).Block);

        // any timing: what a thread ran of its own range is a prefix of it, in order; what it took of the other's, a suffix from its end
        for (int repeat = 0; repeat < 100; repeat++)
        {
            var runs = new ConcurrentQueue<(int Thread, int Block)>();
            MlipParallel.ForChunks(blocks, 1, static () => 0, (first, _, _) => runs.Enqueue((Environment.CurrentManagedThreadId, first)));
            foreach (var thread in runs.Select(r => r.Thread).Distinct())
            {
                bool isCaller = thread == caller;
                var mine = runs.Where(r => r.Thread == thread).Select(r => r.Block).ToList();
                var own = mine.Where(b => (b < blocks / 2) == isCaller).ToList();
                var taken = mine.Where(b => (b < blocks / 2) != isCaller).ToList();
                int start = isCaller ? 0 : blocks / 2, otherEnd = isCaller ? blocks : blocks / 2;
                Assert.Equal(Enumerable.Range(start, own.Count), own);
                Assert.Equal(Enumerable.Range(otherEnd - taken.Count, taken.Count).Reverse(), taken);
            }
        }
    }

    [Fact]
    public void EachParticipantMakesOneScratchAndReleasesIt() => OnOwnThread(EachParticipantMakesOneScratchAndReleasesItBody);

    private static void EachParticipantMakesOneScratchAndReleasesItBody()
    {
        using var scope = MlipParallel.UseWorkerPool();
        using var limit = MlipParallel.LimitThreads(3);
        int made = 0, released = 0;
        var sums = new double[40];
        for (int repeat = 0; repeat < 20; repeat++)
        {
            MlipParallel.ForChunks(4000, 100, () => { Interlocked.Increment(ref made); return new double[1]; },
                (first, end, scratch) => { scratch[0] = first; sums[first / 100] = end - first; }, _ => Interlocked.Increment(ref released));
        }
        Assert.Equal(made, released);
        Assert.InRange(made, 20, 60); // one per thread that took a block: the caller always, each worker when it came in time
        Assert.All(sums, s => Assert.Equal(100, s));
    }

    [Fact]
    public void UserErrorIsThrownUnwrappedAndThePoolKeepsWorking() => OnOwnThread(UserErrorIsThrownUnwrappedAndThePoolKeepsWorkingBody);

    private static void UserErrorIsThrownUnwrappedAndThePoolKeepsWorkingBody()
    {
        using var scope = MlipParallel.UseWorkerPool();
        using var limit = MlipParallel.LimitThreads(2);
        var e = Assert.Throws<MlipInputException>(() => MlipParallel.ForChunks(5000, 10, static () => 0, (first, _, _) =>
        {
            if (first >= 1000) throw new MlipInputException(new InputLocation("cells.xyz", StructureIndex: first / 1000), "bad cell");
        }));
        Assert.Equal(1, e.StructureIndex);
        var after = Loop(2);
        Assert.Equal(Loop(1).Values, after.Values);
    }

    [Fact]
    public void BugsArriveAsAggregateExceptionsFromEveryThread() => OnOwnThread(BugsArriveAsAggregateExceptionsFromEveryThreadBody);

    private static void BugsArriveAsAggregateExceptionsFromEveryThreadBody()
    {
        using var scope = MlipParallel.UseWorkerPool();
        using var limit = MlipParallel.LimitThreads(3);
        for (int repeat = 0; repeat < 20; repeat++)
        {
            var e = Assert.Throws<AggregateException>(() => MlipParallel.ForChunks(3000, 10, static () => 0,
                (first, _, _) => throw new InvalidOperationException($"block {first}")));
            Assert.All(e.InnerExceptions, x => Assert.IsType<InvalidOperationException>(x));
            Assert.InRange(e.InnerExceptions.Count, 1, 3); // blocks stop being handed out after the first error
        }
        // a failing scratch factory too
        Assert.Throws<AggregateException>(() => MlipParallel.ForChunks<int>(3000, 10, () => throw new InvalidOperationException("scratch"), (_, _, _) => { }));
        Assert.Equal(Loop(1).Sum, Loop(3).Sum);
    }

    [Fact]
    public void NestedLoopsRunSeriallyOnTheirThread() => OnOwnThread(NestedLoopsRunSeriallyOnTheirThreadBody);

    private static void NestedLoopsRunSeriallyOnTheirThreadBody()
    {
        using var scope = MlipParallel.UseWorkerPool();
        using var limit = MlipParallel.LimitThreads(2);
        var wrong = new ConcurrentBag<string>();
        var inner = new double[100 * 64];
        MlipParallel.ForChunks(100, 1, static () => 0, (outer, _, _) =>
        {
            int thread = Environment.CurrentManagedThreadId;
            if (!WorkerPool.InRegion) wrong.Add("body outside a region");
            MlipParallel.ForChunks(64, 4, static () => 0, (first, end, _) =>
            {
                if (Environment.CurrentManagedThreadId != thread) wrong.Add($"inner block {first} of {outer} on another thread");
                for (int i = first; i < end; i++) inner[outer * 64 + i] = outer + 0.5 * i;
            });
        });
        Assert.Empty(wrong);
        for (int o = 0; o < 100; o++)
            for (int i = 0; i < 64; i++) Assert.Equal(o + 0.5 * i, inner[o * 64 + i]);
        Assert.False(WorkerPool.InRegion);
    }

    [Fact]
    public void DisposingTheScopeEndsTheWorkers() => OnOwnThread(DisposingTheScopeEndsTheWorkersBody);

    private static void DisposingTheScopeEndsTheWorkersBody()
    {
        WorkerPool pool;
        using (MlipParallel.UseWorkerPool())
        {
            using var limit = MlipParallel.LimitThreads(3);
            pool = MlipParallel.CurrentPool!;
            using (MlipParallel.UseWorkerPool()) Assert.Same(pool, MlipParallel.CurrentPool); // nested scope: the same pool
            Assert.Same(pool, MlipParallel.CurrentPool);
            Loop(3);
            Assert.Equal(2, pool.WorkerCount);
            Assert.False(pool.ThreadsEnded);
        }
        Assert.Null(MlipParallel.CurrentPool);
        Assert.True(pool.ThreadsEnded);
        Assert.Throws<ObjectDisposedException>(() => pool.TryRun(10, 1, 2, static () => 0, (_, _, _) => { }, _ => { }));
        // without a scope the loops run on Parallel.For, as before
        Assert.Equal(Loop(1).Values, Loop(2).Values);
    }

    [Fact]
    public async Task NoPoolOnAThreadPoolThread()
    {
        bool? made = null;
        await Task.Run(() =>
        {
            using var scope = MlipParallel.UseWorkerPool();
            made = MlipParallel.CurrentPool is not null;
        });
        Assert.False(made);
        var thread = new Thread(() =>
        {
            using var scope = MlipParallel.UseWorkerPool();
            made = MlipParallel.CurrentPool is not null;
        });
        thread.Start();
        thread.Join();
        Assert.True(made);
    }

    [Fact]
    public void OnePoolServesOneThreadAtATime()
    {
        using var pool = new WorkerPool();
        using var entered = new ManualResetEventSlim();
        using var leave = new ManualResetEventSlim();
        bool? second = null;
        var other = new Thread(() =>
        {
            entered.Wait();
            second = pool.TryRun(10, 1, 2, static () => 0, (_, _, _) => { }, _ => { });
            leave.Set();
        });
        other.Start();
        Assert.True(pool.TryRun(2, 1, 2, static () => 0, (first, _, _) =>
        {
            if (first != 0) return;
            entered.Set();
            leave.Wait(); // block 0 holds the region open until the other thread has tried
        }, _ => { }));
        other.Join();
        Assert.False(second);
    }
}
