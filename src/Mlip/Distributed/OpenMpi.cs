using System.Globalization;
using System.Runtime.InteropServices;
using Mlip.Validation;

namespace Mlip.Distributed;

/// <summary>
/// MPI_COMM_WORLD of Open MPI (Debian openmpi-bin, libopenmpi-dev: libmpi.so.40) through P/Invoke: a dozen C
/// functions, taken with <see cref="NativeLibrary.GetExport"/> so that nothing is loaded unless a launcher started
/// the process. Open MPI's handles (MPI_COMM_WORLD, MPI_BYTE) are addresses of exported globals. Calls are
/// serialised by a lock (MPI_THREAD_SERIALIZED); messages beyond 2^31 bytes are sent in rounds.
/// </summary>
public sealed unsafe class OpenMpi : ICommunicator
{
    private const int ThreadSerialized = 2; // MPI_THREAD_SERIALIZED in Open MPI's mpi.h
    private const string Library = "libmpi.so.40";

    private readonly Lock _gate = new();
    private readonly IntPtr _world;
    private readonly IntPtr _byte;
    private readonly delegate* unmanaged<IntPtr, int> _barrier;
    private readonly delegate* unmanaged<IntPtr, IntPtr*, int> _ibarrier;
    private readonly delegate* unmanaged<IntPtr*, int*, void*, int> _test;
    private readonly delegate* unmanaged<void*, int, IntPtr, void*, int, IntPtr, IntPtr, int> _allgather;
    private readonly delegate* unmanaged<void*, int, IntPtr, void*, int*, int*, IntPtr, IntPtr, int> _allgatherv;
    private readonly delegate* unmanaged<void*, int, IntPtr, int, IntPtr, int> _bcast;
    private readonly delegate* unmanaged<void*, int, IntPtr, int, int, IntPtr, int> _send;
    private readonly delegate* unmanaged<void*, int, IntPtr, int, int, IntPtr, void*, int> _recv;
    private readonly delegate* unmanaged<int, int, IntPtr, int*, void*, int> _iprobe;
    private readonly delegate* unmanaged<IntPtr, int, int> _abort;
    private readonly delegate* unmanaged<int> _finalize;
    private readonly delegate* unmanaged<int*, int> _finalized;
    private bool _done;

    /// <summary>Largest message of one call, in bytes (Open MPI counts are 32-bit ints); tests lower it to exercise the rounds.</summary>
    public int MaxMessageBytes { get; set; } = 1 << 30;

    public int Rank { get; }
    public int Size { get; }

    private OpenMpi(IntPtr lib)
    {
        _world = NativeLibrary.GetExport(lib, "ompi_mpi_comm_world");
        _byte = NativeLibrary.GetExport(lib, "ompi_mpi_byte");
        var initialized = (delegate* unmanaged<int*, int>)NativeLibrary.GetExport(lib, "MPI_Initialized");
        var init = (delegate* unmanaged<int*, byte***, int, int*, int>)NativeLibrary.GetExport(lib, "MPI_Init_thread");
        var rank = (delegate* unmanaged<IntPtr, int*, int>)NativeLibrary.GetExport(lib, "MPI_Comm_rank");
        var size = (delegate* unmanaged<IntPtr, int*, int>)NativeLibrary.GetExport(lib, "MPI_Comm_size");
        _barrier = (delegate* unmanaged<IntPtr, int>)NativeLibrary.GetExport(lib, "MPI_Barrier");
        _ibarrier = (delegate* unmanaged<IntPtr, IntPtr*, int>)NativeLibrary.GetExport(lib, "MPI_Ibarrier");
        _test = (delegate* unmanaged<IntPtr*, int*, void*, int>)NativeLibrary.GetExport(lib, "MPI_Test");
        _allgather = (delegate* unmanaged<void*, int, IntPtr, void*, int, IntPtr, IntPtr, int>)NativeLibrary.GetExport(lib, "MPI_Allgather");
        _allgatherv = (delegate* unmanaged<void*, int, IntPtr, void*, int*, int*, IntPtr, IntPtr, int>)NativeLibrary.GetExport(lib, "MPI_Allgatherv");
        _bcast = (delegate* unmanaged<void*, int, IntPtr, int, IntPtr, int>)NativeLibrary.GetExport(lib, "MPI_Bcast");
        _send = (delegate* unmanaged<void*, int, IntPtr, int, int, IntPtr, int>)NativeLibrary.GetExport(lib, "MPI_Send");
        _recv = (delegate* unmanaged<void*, int, IntPtr, int, int, IntPtr, void*, int>)NativeLibrary.GetExport(lib, "MPI_Recv");
        _iprobe = (delegate* unmanaged<int, int, IntPtr, int*, void*, int>)NativeLibrary.GetExport(lib, "MPI_Iprobe");
        _abort = (delegate* unmanaged<IntPtr, int, int>)NativeLibrary.GetExport(lib, "MPI_Abort");
        _finalize = (delegate* unmanaged<int>)NativeLibrary.GetExport(lib, "MPI_Finalize");
        _finalized = (delegate* unmanaged<int*, int>)NativeLibrary.GetExport(lib, "MPI_Finalized");

        int flag = 0;
        Check(initialized(&flag), "MPI_Initialized");
        if (flag == 0)
        {
            int provided = 0;
            Check(init(null, null, ThreadSerialized, &provided), "MPI_Init_thread");
            if (provided < ThreadSerialized)
                throw new MlipException(string.Create(CultureInfo.InvariantCulture,
                    $"the MPI library offers thread level {provided}; Mlip needs MPI_THREAD_SERIALIZED (2): use an Open MPI built with thread support (Debian's is)"));
        }
        int r = 0, s = 0;
        Check(rank(_world, &r), "MPI_Comm_rank");
        Check(size(_world, &s), "MPI_Comm_size");
        Rank = r;
        Size = s;
    }

    /// <summary>Loads Open MPI and joins MPI_COMM_WORLD (MPI_Init_thread); a clear error when the library is missing.</summary>
    public static OpenMpi Start()
    {
        if (!NativeLibrary.TryLoad(Library, out var lib))
            throw new MlipException($"this process was started by an MPI launcher, but {Library} (Open MPI) could not be loaded: install openmpi-bin and libopenmpi-dev (Debian/Ubuntu), or run without mpirun");
        return new OpenMpi(lib);
    }

    /// <summary>
    /// MPI_Ibarrier, then MPI_Test with a 1 ms sleep between tests: a rank that waits here (for example while rank 0 solves)
    /// sleeps instead of spinning on its core the way a blocking MPI call does, so waiting costs no CPU time.
    /// </summary>
    public void Barrier()
    {
        IntPtr request = IntPtr.Zero;
        lock (_gate) Check(_ibarrier(_world, &request), "MPI_Ibarrier");
        while (true)
        {
            int done = 0;
            lock (_gate) Check(_test(&request, &done, null), "MPI_Test");
            if (done != 0) return;
            Thread.Sleep(1);
        }
    }

    public byte[] Allgather(ReadOnlySpan<byte> local)
    {
        int n = local.Length;
        var all = new byte[(long)n * Size];
        if (n == 0) return all;
        int round = Math.Max(1, MaxMessageBytes / Size);
        lock (_gate)
        {
            if (n <= round)
            {
                fixed (byte* send = local)
                fixed (byte* recv = all)
                    Check(_allgather(send, n, _byte, recv, n, _byte, _world), "MPI_Allgather");
                return all;
            }
            var buffer = new byte[(long)round * Size];
            for (int offset = 0; offset < n; offset += round)
            {
                int m = Math.Min(round, n - offset);
                fixed (byte* send = local.Slice(offset, m))
                fixed (byte* recv = buffer)
                    Check(_allgather(send, m, _byte, recv, m, _byte, _world), "MPI_Allgather");
                for (int r = 0; r < Size; r++)
                    buffer.AsSpan(r * m, m).CopyTo(all.AsSpan((int)((long)r * n + offset), m));
            }
        }
        return all;
    }

    public byte[][] AllgatherVariable(ReadOnlySpan<byte> local)
    {
        Span<byte> mine = stackalloc byte[sizeof(int)];
        MemoryMarshal.Write(mine, local.Length);
        var lengthBytes = Allgather(mine);
        var lengths = MemoryMarshal.Cast<byte, int>(lengthBytes).ToArray();
        var result = new byte[Size][];
        for (int r = 0; r < Size; r++) result[r] = new byte[lengths[r]];
        int round = Math.Max(1, MaxMessageBytes / Size);
        var counts = new int[Size];
        var displs = new int[Size];
        lock (_gate)
        {
            for (long offset = 0; offset < lengths.Max(); offset += round)
            {
                int total = 0;
                for (int r = 0; r < Size; r++)
                {
                    counts[r] = (int)Math.Clamp(lengths[r] - offset, 0, round);
                    displs[r] = total;
                    total += counts[r];
                }
                var buffer = new byte[total];
                var send = local.Slice((int)Math.Min(offset, local.Length), counts[Rank]);
                fixed (byte* s = send)
                fixed (byte* recv = buffer)
                fixed (int* c = counts)
                fixed (int* d = displs)
                    Check(_allgatherv(s, counts[Rank], _byte, recv, c, d, _byte, _world), "MPI_Allgatherv");
                for (int r = 0; r < Size; r++)
                    if (counts[r] > 0) buffer.AsSpan(displs[r], counts[r]).CopyTo(result[r].AsSpan((int)offset));
            }
        }
        return result;
    }

    public void Broadcast(Span<byte> data, int root)
    {
        if ((uint)root >= (uint)Size) throw new ArgumentOutOfRangeException(nameof(root), root, $"rank {root} is not in 0..{Size - 1}");
        lock (_gate)
            for (int offset = 0; offset < data.Length; offset += MaxMessageBytes)
            {
                int m = Math.Min(MaxMessageBytes, data.Length - offset);
                fixed (byte* p = data.Slice(offset, m))
                    Check(_bcast(p, m, _byte, root, _world), "MPI_Bcast");
            }
    }

    /// <summary>MPI_Send of the length (8 bytes), then of the bytes in rounds of <see cref="MaxMessageBytes"/> (all with tag <paramref name="tag"/>).</summary>
    public void Send(ReadOnlySpan<byte> data, int destination, int tag)
    {
        if ((uint)destination >= (uint)Size || destination == Rank) throw new ArgumentOutOfRangeException(nameof(destination), destination, $"rank {destination} is not another rank in 0..{Size - 1}");
        long length = data.Length;
        lock (_gate)
        {
            Check(_send(&length, sizeof(long), _byte, destination, tag, _world), "MPI_Send");
            for (int offset = 0; offset < data.Length; offset += MaxMessageBytes)
            {
                int m = Math.Min(MaxMessageBytes, data.Length - offset);
                fixed (byte* p = data.Slice(offset, m))
                    Check(_send(p, m, _byte, destination, tag, _world), "MPI_Send");
            }
        }
    }

    /// <summary>MPI_Recv of what <see cref="Send"/> sends with the same tag (MPI_STATUS_IGNORE: a null pointer in Open MPI).</summary>
    public byte[] Receive(int source, int tag)
    {
        if ((uint)source >= (uint)Size || source == Rank) throw new ArgumentOutOfRangeException(nameof(source), source, $"rank {source} is not another rank in 0..{Size - 1}");
        long length = 0;
        lock (_gate)
        {
            Check(_recv(&length, sizeof(long), _byte, source, tag, _world, null), "MPI_Recv");
            var data = new byte[length];
            for (int offset = 0; offset < data.Length; offset += MaxMessageBytes)
            {
                int m = Math.Min(MaxMessageBytes, data.Length - offset);
                fixed (byte* p = data.AsSpan(offset, m))
                    Check(_recv(p, m, _byte, source, tag, _world, null), "MPI_Recv");
            }
            return data;
        }
    }

    /// <summary>MPI_Iprobe for a message of <paramref name="tag"/> from <paramref name="source"/> (the length that <see cref="Send"/> sends first).</summary>
    public bool HasMessage(int source, int tag)
    {
        if ((uint)source >= (uint)Size || source == Rank) throw new ArgumentOutOfRangeException(nameof(source), source, $"rank {source} is not another rank in 0..{Size - 1}");
        int flag = 0;
        lock (_gate) Check(_iprobe(source, tag, _world, &flag, null), "MPI_Iprobe");
        return flag != 0;
    }

    public void Abort(int exitCode)
    {
        _abort(_world, exitCode);
        Environment.Exit(exitCode); // not reached: MPI_Abort ends the process
    }

    /// <summary>MPI_Finalize, once (at the end of a successful run on every rank).</summary>
    public void Finish()
    {
        lock (_gate)
        {
            if (_done) return;
            _done = true;
            int flag = 0;
            _finalized(&flag);
            if (flag == 0) _finalize();
        }
    }

    private static void Check(int rc, string function)
    {
        if (rc != 0) throw new MlipException(string.Create(CultureInfo.InvariantCulture, $"{function} failed with MPI error code {rc}"));
    }
}
