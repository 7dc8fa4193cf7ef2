using System.Collections.Concurrent;
using Mlip.Validation;

namespace Mlip.Tests.Validation;

/// <summary>
/// <see cref="ScratchPool{T}"/>: a thread gets back the object it returned last, whatever another thread returned in between
/// (a shared stack would hand it the other's), and a second rent on the same thread gets another object.
/// </summary>
public sealed class ScratchPoolTests
{
    /// <summary>A thread of its own that runs the functions given to it one at a time, in order: a handshake per call.</summary>
    private sealed class Agent : IDisposable
    {
        private readonly BlockingCollection<Action> _work = [];
        private readonly Thread _thread;

        public Agent()
        {
            _thread = new Thread(() => { foreach (var a in _work.GetConsumingEnumerable()) a(); });
            _thread.Start();
        }

        public T Do<T>(Func<T> f)
        {
            var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            _work.Add(() =>
            {
                try { done.SetResult(f()); }
                catch (Exception e) { done.SetException(e); }
            });
            return done.Task.GetAwaiter().GetResult();
        }

        public void Dispose()
        {
            _work.CompleteAdding();
            _thread.Join();
            _work.Dispose();
        }
    }

    [Fact]
    public void EachThreadGetsBackItsOwnObject()
    {
        int made = 0;
        var pool = new ScratchPool<object>(() => new object[] { Interlocked.Increment(ref made) });
        using var a = new Agent();
        using var b = new Agent();
        var ofA = a.Do(pool.Rent);
        var ofB = b.Do(pool.Rent);
        Assert.NotSame(ofA, ofB);
        // B gives its object back first and A last: a shared stack would now hand A's to B
        b.Do(() => { pool.Return(ofB); return 0; });
        a.Do(() => { pool.Return(ofA); return 0; });
        for (int round = 0; round < 3; round++)
        {
            Assert.Same(ofB, b.Do(pool.Rent));
            Assert.Same(ofA, a.Do(pool.Rent));
            a.Do(() => { pool.Return(ofA); return 0; });
            b.Do(() => { pool.Return(ofB); return 0; });
        }
        Assert.Equal(2, made);
    }

    [Fact]
    public void ASecondRentOnTheSameThreadGetsAnotherObjectAndBothAreKept()
    {
        int made = 0;
        var pool = new ScratchPool<object>(() => new object[] { Interlocked.Increment(ref made) });
        using var a = new Agent();
        using var b = new Agent();
        var (first, second) = a.Do(() => (pool.Rent(), pool.Rent()));
        Assert.NotSame(first, second);
        a.Do(() => { pool.Return(first); pool.Return(second); return 0; }); // first: A's own; second: a spare
        Assert.Same(second, b.Do(pool.Rent)); // another thread takes the spare, not A's own
        Assert.Same(first, a.Do(pool.Rent));
        Assert.Equal(2, made);
    }
}
