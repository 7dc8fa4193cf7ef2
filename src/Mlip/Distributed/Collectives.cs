using System.Runtime.InteropServices;

namespace Mlip.Distributed;

/// <summary>Typed collectives on top of <see cref="ICommunicator"/>'s byte ones, and the split of work over ranks.</summary>
public static class Collectives
{
    /// <summary>
    /// Replaces <paramref name="values"/> on every rank by the sum over ranks, added in rank order (rank 0 + rank 1 + ...):
    /// the same bits on every rank and from run to run, whatever the MPI library's reduction tree.
    /// </summary>
    public static void AllreduceSum(this ICommunicator comm, Span<double> values)
    {
        if (comm.Size == 1) return;
        var all = MemoryMarshal.Cast<byte, double>(comm.Allgather(MemoryMarshal.AsBytes((ReadOnlySpan<double>)values)));
        int n = values.Length;
        all[..n].CopyTo(values);
        for (int r = 1; r < comm.Size; r++)
        {
            var part = all.Slice(r * n, n);
            for (int i = 0; i < n; i++) values[i] += part[i];
        }
    }

    /// <summary>
    /// Replaces <paramref name="values"/> by their sum over ranks and returns the sum over ranks of <paramref name="scalar"/>, in one
    /// collective (a gradient and its loss), added in rank order as <see cref="AllreduceSum(ICommunicator, Span{double})"/>.
    /// </summary>
    public static double AllreduceSum(this ICommunicator comm, Span<double> values, double scalar)
    {
        if (comm.Size == 1) return scalar;
        var all = new double[values.Length + 1];
        values.CopyTo(all);
        all[^1] = scalar;
        comm.AllreduceSum(all);
        all.AsSpan(0, values.Length).CopyTo(values);
        return all[^1];
    }

    /// <summary>The sum over ranks of integer counts.</summary>
    public static void AllreduceSum(this ICommunicator comm, Span<long> values)
    {
        if (comm.Size == 1) return;
        var all = MemoryMarshal.Cast<byte, long>(comm.Allgather(MemoryMarshal.AsBytes((ReadOnlySpan<long>)values)));
        int n = values.Length;
        all[..n].CopyTo(values);
        for (int r = 1; r < comm.Size; r++)
            for (int i = 0; i < n; i++) values[i] += all[r * n + i];
    }

    /// <summary>The sum over ranks of one number.</summary>
    public static double AllreduceSum(this ICommunicator comm, double value)
    {
        Span<double> v = [value];
        comm.AllreduceSum(v);
        return v[0];
    }

    /// <summary>The largest over ranks of one number.</summary>
    public static double AllreduceMax(this ICommunicator comm, double value)
    {
        if (comm.Size == 1) return value;
        var all = MemoryMarshal.Cast<byte, double>(comm.Allgather(MemoryMarshal.AsBytes(new ReadOnlySpan<double>(in value))));
        double max = all[0];
        foreach (double x in all) max = Math.Max(max, x);
        return max;
    }

    /// <summary>Every rank's array (any length) in rank order, on every rank.</summary>
    public static double[][] AllgatherVariable(this ICommunicator comm, ReadOnlySpan<double> local)
    {
        if (comm.Size == 1) return [local.ToArray()];
        return comm.AllgatherVariable(MemoryMarshal.AsBytes(local)).Select(b => MemoryMarshal.Cast<byte, double>(b).ToArray()).ToArray();
    }

    /// <summary>Overwrites <paramref name="values"/> with its value on <paramref name="root"/>.</summary>
    public static void Broadcast(this ICommunicator comm, Span<double> values, int root = 0)
    {
        if (comm.Size > 1) comm.Broadcast(MemoryMarshal.AsBytes(values), root);
    }

    /// <summary>Rank <paramref name="root"/>'s bytes (any length; other ranks pass anything, null included) on every rank.</summary>
    public static byte[] BroadcastBytes(this ICommunicator comm, byte[]? data, int root = 0)
    {
        if (comm.Size == 1) return data ?? [];
        Span<long> length = [comm.Rank == root ? (data ?? []).LongLength : 0];
        comm.Broadcast(MemoryMarshal.AsBytes(length), root);
        var result = comm.Rank == root ? data ?? [] : new byte[length[0]];
        comm.Broadcast(result, root);
        return result;
    }

    /// <summary>
    /// Combines every rank's <paramref name="local"/> with <paramref name="merge"/> (left operand: the lower ranks) along a binary
    /// tree: at step s = 1, 2, 4, ... rank r with r mod 2s = 0 receives rank r + s's value and merges it into its own, rank r with
    /// r mod 2s = s sends and is done. Rank 0 returns the merge of all ranks, in rank order; the other ranks return null. The
    /// shape of the tree depends only on Size, so the result does too; each rank does at most log2(Size) merges, and rank 0
    /// receives log2(Size) messages instead of Size − 1.
    /// </summary>
    public static double[]? TreeReduce(this ICommunicator comm, double[] local, Func<double[], double[], double[]> merge)
    {
        ArgumentNullException.ThrowIfNull(merge);
        var value = local;
        for (int step = 1; step < comm.Size; step *= 2)
        {
            if (comm.Rank % (2 * step) == step)
            {
                comm.Send(MemoryMarshal.AsBytes(value.AsSpan()), comm.Rank - step);
                return null;
            }
            if (comm.Rank + step < comm.Size)
                value = merge(value, MemoryMarshal.Cast<byte, double>(comm.Receive(comm.Rank + step)).ToArray());
        }
        return value;
    }

    /// <summary>
    /// <see cref="TreeReduce"/> for a value the caller keeps and merges into in place: along the same binary tree, a rank that
    /// sends passes <paramref name="flat"/>() to its parent and returns false; a rank that receives hands each child's values to
    /// <paramref name="mergeIn"/> (the received buffer itself, no copy). True on rank 0, whose value is then the merge of all ranks', in rank order.
    /// </summary>
    public static bool TreeMerge(this ICommunicator comm, Func<double[]> flat, Action<ReadOnlySpan<double>> mergeIn)
    {
        ArgumentNullException.ThrowIfNull(flat);
        ArgumentNullException.ThrowIfNull(mergeIn);
        for (int step = 1; step < comm.Size; step *= 2)
        {
            if (comm.Rank % (2 * step) == step)
            {
                comm.Send(MemoryMarshal.AsBytes(flat().AsSpan()), comm.Rank - step);
                return false;
            }
            if (comm.Rank + step < comm.Size) mergeIn(MemoryMarshal.Cast<byte, double>(comm.Receive(comm.Rank + step)));
        }
        return comm.IsRoot;
    }

    /// <summary>
    /// This rank's contiguous share [Start, End) of <paramref name="count"/> items: rank r gets
    /// [count·r/Size, count·(r+1)/Size), so the shares differ by at most one item and depend only on count and Size.
    /// </summary>
    public static (int Start, int End) Share(this ICommunicator comm, int count) => Share(count, comm.Rank, comm.Size);

    /// <summary>Rank <paramref name="rank"/>'s share of <paramref name="count"/> items over <paramref name="size"/> ranks.</summary>
    public static (int Start, int End) Share(int count, int rank, int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if ((uint)rank >= (uint)size) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"rank is not in 0..{size - 1}");
        return ((int)((long)count * rank / size), (int)((long)count * (rank + 1) / size));
    }
}
