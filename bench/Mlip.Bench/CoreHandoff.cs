using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Mlip.Bench;

/// <summary>
/// The round trip of a hand-off between two threads pinned to two cores (Linux <c>sched_setaffinity</c> on each thread):
/// one thread flips a shared flag and spins until the other flips it back. This is the latency every fork/join of a
/// parallel region pays; a virtual machine's vCPUs can be near (sibling threads, one cache) or far (other sockets, other
/// hosts' scheduling), and that changes the two-core ratio of short steps although each core alone runs at full speed.
/// </summary>
internal static partial class CoreHandoff
{
    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setaffinity(int pid, nint size, ref ulong mask);

    private static int _flag;

    /// <summary>
    /// Runs <paramref name="partner"/> on a thread pinned to <paramref name="coreB"/> and <paramref name="main"/> on the
    /// calling thread pinned to <paramref name="coreA"/>, both started past one barrier; the partner gets whether both pins
    /// held (it must do nothing when not). The calling thread goes back to every core it had. Null where a pin fails.
    /// </summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static T? Pinned<T>(int coreA, int coreB, Action<bool> partner, Func<T> main) where T : struct
    {
        bool pinned = true;
        var ready = new Barrier(2);
        var other = new Thread(() =>
        {
            ulong mask = 1UL << coreB;
            if (sched_setaffinity(0, sizeof(ulong), ref mask) != 0) pinned = false;
            ready.SignalAndWait();
            partner(Volatile.Read(ref pinned));
        }) { IsBackground = true };
        other.Start();
        ulong own = 1UL << coreA;
        using var self = Process.GetCurrentProcess();
        var previous = self.ProcessorAffinity;
        try
        {
            if (sched_setaffinity(0, sizeof(ulong), ref own) != 0) pinned = false;
            ready.SignalAndWait();
            if (!Volatile.Read(ref pinned)) return null;
            var result = main();
            other.Join();
            return result;
        }
        finally
        {
            // the bench's own thread goes back to every core it had
            ulong all = (ulong)(long)previous;
            sched_setaffinity(0, sizeof(ulong), ref all);
        }
    }

    /// <summary>Median nanoseconds per round trip over <paramref name="batches"/> batches of <paramref name="trips"/>; null where pinning fails.</summary>
    public static double? RoundTripNanoseconds(int coreA, int coreB, int trips = 20000, int batches = 7)
    {
        if (!OperatingSystem.IsLinux() || coreA > 63 || coreB > 63) return null;
        var times = new double[batches];
        return Pinned(coreA, coreB, pinned =>
        {
            for (int b = 0; b < batches && pinned; b++)
                for (int t = 0; t < trips; t++)
                {
                    while (Volatile.Read(ref _flag) != 1) Thread.SpinWait(1);
                    Volatile.Write(ref _flag, 0);
                }
        }, () =>
        {
            for (int b = 0; b < batches; b++)
            {
                var clock = Stopwatch.StartNew();
                for (int t = 0; t < trips; t++)
                {
                    Volatile.Write(ref _flag, 1);
                    while (Volatile.Read(ref _flag) != 0) Thread.SpinWait(1);
                }
                times[b] = clock.Elapsed.TotalNanoseconds / trips;
            }
            return WholeRunBenchmark.Median(times);
        });
    }

    private static int _turn;

    /// <summary>
    /// What a cache line written by the other core costs: core A writes every 64-byte line of a <paramref name="bytes"/> array
    /// (in a fixed random order, as a gather through reverse pairs reads), then the same random pass runs again on core A
    /// (local: the lines are in its own cache) or on core B (remote: each line comes from A's cache). Median ns per line of
    /// that second pass over <paramref name="rounds"/> rounds each, (local, remote); null where pinning fails. On a virtual
    /// machine whose two vCPUs share a cache the two are close; far apart, every line one thread reads of what the other
    /// wrote in the region before (forces, pair gradients, list rows) costs the difference.
    /// </summary>
    public static (double Local, double Remote)? LineNanoseconds(int coreA, int coreB, int bytes = 1 << 21, int rounds = 41)
    {
        if (!OperatingSystem.IsLinux() || coreA > 63 || coreB > 63) return null;
        int lines = bytes / 64;
        var data = new long[lines * 8];
        var order = Enumerable.Range(0, lines).ToArray();
        new Random(12345).Shuffle(order);
        void Pass()
        {
            var d = data; var o = order;
            for (int k = 0; k < o.Length; k++) d[8 * o[k]]++;
        }
        var local = new double[rounds];
        var remote = new double[rounds];
        Volatile.Write(ref _turn, 0);
        return Pinned(coreA, coreB, pinned =>
        {
            for (int r = 0; r < rounds && pinned; r++)
            {
                while (Volatile.Read(ref _turn) != 2 * r + 1) Thread.SpinWait(1);
                long t0 = Stopwatch.GetTimestamp();
                Pass();
                remote[r] = Stopwatch.GetElapsedTime(t0).TotalNanoseconds / lines;
                Volatile.Write(ref _turn, 2 * r + 2);
            }
        }, () =>
        {
            for (int r = 0; r < rounds; r++)
            {
                Pass();
                long t0 = Stopwatch.GetTimestamp();
                Pass();
                local[r] = Stopwatch.GetElapsedTime(t0).TotalNanoseconds / lines;
                Pass(); // the lines are A's again, written last by A
                Volatile.Write(ref _turn, 2 * r + 1);
                while (Volatile.Read(ref _turn) != 2 * r + 2) Thread.SpinWait(1);
            }
            return (Local: WholeRunBenchmark.Median(local), Remote: WholeRunBenchmark.Median(remote));
        });
    }
}
