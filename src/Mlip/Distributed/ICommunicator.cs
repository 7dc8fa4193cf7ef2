namespace Mlip.Distributed;

/// <summary>
/// The processes of one run and the collectives between them (MPI's vocabulary). <see cref="Communicator.World"/>
/// is the single-process communicator unless the process was started by an MPI launcher (mpirun, srun).
/// Every collective must be called by every rank, in the same order, with the same sizes where a size is given.
/// Reductions are deterministic: values are gathered and summed in rank order, so a result does not depend on
/// how the MPI library shapes its reduction tree, and one rank's sum equals another's bit for bit.
/// </summary>
public interface ICommunicator
{
    /// <summary>This process's index, 0 ... Size − 1.</summary>
    int Rank { get; }

    /// <summary>Number of processes.</summary>
    int Size { get; }

    /// <summary>True on rank 0, the rank that writes outputs and prints.</summary>
    bool IsRoot => Rank == 0;

    /// <summary>Waits until every rank has reached the barrier.</summary>
    void Barrier();

    /// <summary>Every rank's <paramref name="local"/> bytes (the same length on every rank), in rank order: Size × local.Length bytes.</summary>
    byte[] Allgather(ReadOnlySpan<byte> local);

    /// <summary>Every rank's <paramref name="local"/> bytes (any length), in rank order, on every rank.</summary>
    byte[][] AllgatherVariable(ReadOnlySpan<byte> local);

    /// <summary>Overwrites <paramref name="data"/> on every rank with its value on <paramref name="root"/> (the same length everywhere).</summary>
    void Broadcast(Span<byte> data, int root);

    /// <summary>Sends <paramref name="data"/> (any length) to rank <paramref name="destination"/>, which must call <see cref="Receive(int)"/> with this rank as source.</summary>
    void Send(ReadOnlySpan<byte> data, int destination) => Send(data, destination, 0);

    /// <summary>The bytes rank <paramref name="source"/> sends with <see cref="Send(ReadOnlySpan{byte}, int)"/> (point to point; blocks until they arrive).</summary>
    byte[] Receive(int source) => Receive(source, 0);

    /// <summary>
    /// Sends <paramref name="data"/> to rank <paramref name="destination"/> with message tag <paramref name="tag"/> (0 ... 32767):
    /// messages of one tag between two ranks arrive in the order they were sent, and a receive of one tag never takes another's.
    /// </summary>
    void Send(ReadOnlySpan<byte> data, int destination, int tag);

    /// <summary>The next message of tag <paramref name="tag"/> from rank <paramref name="source"/> (blocks until it arrives).</summary>
    byte[] Receive(int source, int tag);

    /// <summary>Whether a message of tag <paramref name="tag"/> from rank <paramref name="source"/> is waiting to be received (MPI_Iprobe); never blocks.</summary>
    bool HasMessage(int source, int tag);

    /// <summary>
    /// Ends every rank of the run at once with <paramref name="exitCode"/> (after a failure on this rank, so that the
    /// others, which may wait in a collective, do not hang). Does not return.
    /// </summary>
    void Abort(int exitCode);
}
