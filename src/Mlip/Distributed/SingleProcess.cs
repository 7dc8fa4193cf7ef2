namespace Mlip.Distributed;

/// <summary>One process, no MPI: every collective is the identity.</summary>
public sealed class SingleProcess : ICommunicator
{
    public static readonly SingleProcess Instance = new();

    private SingleProcess() { }

    public int Rank => 0;
    public int Size => 1;
    public void Barrier() { }
    public byte[] Allgather(ReadOnlySpan<byte> local) => local.ToArray();
    public byte[][] AllgatherVariable(ReadOnlySpan<byte> local) => [local.ToArray()];

    public void Broadcast(Span<byte> data, int root)
    {
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), root, "a single process has only rank 0");
    }

    public void Send(ReadOnlySpan<byte> data, int destination, int tag) =>
        throw new InvalidOperationException("a single process has no other rank to send to");

    public byte[] Receive(int source, int tag) =>
        throw new InvalidOperationException("a single process has no other rank to receive from");

    public bool HasMessage(int source, int tag) => false;

    public void Abort(int exitCode) => Environment.Exit(exitCode);
}
