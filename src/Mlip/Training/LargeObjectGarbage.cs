namespace Mlip.Training;

/// <summary>
/// Bounds the dead large objects a long loop over structures leaves behind. Each structure's descriptor set with derivatives
/// (8 MB for a 216-atom Si cell with SO(4) 2J = 8, ~60 MB with the 327-function ACE) is a large object, and the large-object
/// heap is swept only by full collections, whose allocation budget the GC raises when little survives them, so over
/// thousands of structures the dead sets of many structures piled up and the peak memory drifted up with the size of the data
/// (docs/scale.md, "Memory"). A blocking full collection once every <see cref="BudgetBytes"/> allocated (a heap of a few large
/// arrays: milliseconds) keeps the garbage under that budget whatever the number of structures.
/// </summary>
public static class LargeObjectGarbage
{
    /// <summary>Bytes allocated between two collections.</summary>
    public const long BudgetBytes = 256L << 20;

    private static long _mark;

    /// <summary>Collects now (a blocking, non-compacting full collection).</summary>
    public static void Collect()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: false);
        Volatile.Write(ref _mark, GC.GetTotalAllocatedBytes(false));
    }

    /// <summary>Collects when <see cref="BudgetBytes"/> were allocated since the last collection (by any thread; one thread collects).</summary>
    public static void CollectWhenDue()
    {
        long mark = Volatile.Read(ref _mark), now = GC.GetTotalAllocatedBytes(false);
        if (now - mark >= BudgetBytes && Interlocked.CompareExchange(ref _mark, now, mark) == mark) Collect();
    }
}
