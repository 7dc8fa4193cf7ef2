using Mlip.Validation;

namespace Mlip.Tests.Validation;

/// <summary>
/// <see cref="MlipParallel.Overlap{TFirst, TSecond}"/> (`mlip md` reads its model and its structure at once on several cores):
/// the second part on a thread of its own at the same time as the first, with serial loops; the first part's error before
/// the second's, the second thread ended before either is thrown; on one thread both in order on the caller.
/// </summary>
public sealed class OverlapTests
{
    [Fact]
    public void OnTwoThreadsTheSecondPartRunsAtTheSameTimeOnAThreadOfItsOwnWithSerialLoops()
    {
        using var limit = MlipParallel.LimitThreads(2);
        using var secondStarted = new ManualResetEventSlim();
        int caller = Environment.CurrentManagedThreadId;
        var (first, second) = MlipParallel.Overlap(
            () =>
            {
                // a handshake that a sequential run (first, then second) could never complete
                Assert.True(secondStarted.Wait(TimeSpan.FromMinutes(2)), "the second part did not start while the first ran");
                return (Environment.CurrentManagedThreadId, MlipParallel.Threads);
            },
            () =>
            {
                secondStarted.Set();
                return (Environment.CurrentManagedThreadId, MlipParallel.Threads);
            });
        Assert.Equal((caller, 2), first);
        Assert.NotEqual(caller, second.Item1);
        Assert.Equal(1, second.Item2);
    }

    [Fact]
    public void TheFirstPartsErrorComesFirstAndTheSecondThreadHasEndedBeforeAnErrorIsThrown()
    {
        using var limit = MlipParallel.LimitThreads(2);
        bool secondEnded = false;
        var e = Assert.Throws<MlipException>(() => MlipParallel.Overlap<int, int>(
            () => throw new MlipException("first"),
            () => { try { throw new MlipException("second"); } finally { Volatile.Write(ref secondEnded, true); } }));
        Assert.Equal("first", e.Message);
        Assert.True(Volatile.Read(ref secondEnded));

        secondEnded = false;
        e = Assert.Throws<MlipException>(() => MlipParallel.Overlap(
            () => 1,
            () => { try { return Fail(); } finally { Volatile.Write(ref secondEnded, true); } }));
        Assert.Equal("second", e.Message);
        Assert.True(Volatile.Read(ref secondEnded));

        static int Fail() => throw new MlipException("second");
    }

    [Fact]
    public void OnOneThreadBothPartsRunInOrderOnTheCaller()
    {
        using var limit = MlipParallel.LimitThreads(1);
        var order = new List<(string, int)>();
        var (a, b) = MlipParallel.Overlap(
            () => { order.Add(("first", Environment.CurrentManagedThreadId)); return 1; },
            () => { order.Add(("second", Environment.CurrentManagedThreadId)); return 2; });
        Assert.Equal((1, 2), (a, b));
        int caller = Environment.CurrentManagedThreadId;
        Assert.Equal([("first", caller), ("second", caller)], order);
        // an error of the first part: the second does not run, as in a serial start-up
        Assert.Throws<MlipException>(() => MlipParallel.Overlap<int, int>(() => throw new MlipException("first"), () => { order.Add(("second again", 0)); return 2; }));
        Assert.Equal(2, order.Count);
    }
}
