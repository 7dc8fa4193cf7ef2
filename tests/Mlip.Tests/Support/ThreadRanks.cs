using System.Collections.Concurrent;
using Mlip.Distributed;

namespace Mlip.Tests.Support;

/// <summary>
/// Several "ranks" as threads of the test process, each with an <see cref="ICommunicator"/> whose messages go through
/// in-memory queues (a handshake: a receive blocks until the matching send), to test a collective algorithm's result against
/// one process without mpirun.
/// </summary>
public static class ThreadRanks
{
    /// <summary>Runs <paramref name="body"/> on <paramref name="size"/> ranks at once and returns each rank's result, in rank order.</summary>
    public static T[] Run<T>(int size, Func<ICommunicator, T> body)
    {
        var shared = new Shared(size);
        var results = new T[size];
        var threads = Enumerable.Range(0, size).Select(r => new Thread(() => results[r] = body(new ThreadRank(r, shared)), 16 << 20)).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        return results;
    }

    private sealed class Shared(int size)
    {
        public readonly int Size = size;
        public readonly Barrier Barrier = new(size);
        public readonly ConcurrentDictionary<(int From, int To, int Tag), BlockingCollection<byte[]>> Queues = new();
        public readonly byte[][] Slots = new byte[size][];

        public BlockingCollection<byte[]> Queue(int from, int to, int tag) => Queues.GetOrAdd((from, to, tag), _ => []);
    }

    private sealed class ThreadRank(int rank, Shared shared) : ICommunicator
    {
        public int Rank => rank;
        public int Size => shared.Size;
        public void Barrier() => shared.Barrier.SignalAndWait();

        public byte[] Allgather(ReadOnlySpan<byte> local) => [.. AllgatherVariable(local).SelectMany(x => x)];

        public byte[][] AllgatherVariable(ReadOnlySpan<byte> local)
        {
            shared.Slots[rank] = local.ToArray();
            Barrier();
            var all = shared.Slots.Select(s => s.ToArray()).ToArray();
            Barrier();
            return all;
        }

        public void Broadcast(Span<byte> data, int root)
        {
            if (rank == root) shared.Slots[root] = data.ToArray();
            Barrier();
            shared.Slots[root].CopyTo(data);
            Barrier();
        }

        public void Send(ReadOnlySpan<byte> data, int destination, int tag) => shared.Queue(rank, destination, tag).Add(data.ToArray());
        public byte[] Receive(int source, int tag) => shared.Queue(source, rank, tag).Take();
        public bool HasMessage(int source, int tag) => shared.Queue(source, rank, tag).Count > 0;
        public void Abort(int exitCode) => throw new InvalidOperationException($"rank {rank} aborted with {exitCode}");
    }
}
