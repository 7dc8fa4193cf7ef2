namespace Mlip.Training;

/// <summary>
/// The seeded split of a training set into validation structures and training batches, and the batch order
/// of each epoch (from the seed and the epoch, so that a resumed run sees the same order).
/// </summary>
internal sealed class TrainingSplit
{
    public TrainingSplit(int structures, double validationFraction, int batchStructures, int seed)
    {
        var rng = new Random(seed);
        var order = Enumerable.Range(0, structures).OrderBy(_ => rng.Next()).ToArray();
        int nVal = validationFraction > 0 ? Math.Max(1, (int)Math.Round(validationFraction * structures)) : 0;
        if (nVal >= structures) nVal = 0;
        Validation = order.Take(nVal).Order().ToArray();
        Train = order.Skip(nVal).Order().ToArray();
        int size = batchStructures > 0 ? batchStructures : Train.Length;
        var shuffled = Train.OrderBy(_ => rng.Next()).ToArray();
        for (int start = 0; start < shuffled.Length; start += size)
            Batches.Add([.. shuffled.Skip(start).Take(size).Order()]);
    }

    /// <summary>Validation structures (sorted; empty without a validation split).</summary>
    public int[] Validation { get; }
    public int[] Train { get; }

    /// <summary>The training structures of each batch (sorted within a batch).</summary>
    public List<int[]> Batches { get; } = [];

    /// <summary>The order of the batches in <paramref name="epoch"/>, from (seed, epoch): deterministic across processes (HashCode is not).</summary>
    public static int[] EpochOrder(int seed, int epoch, int batches)
    {
        var rng = new Random(unchecked(seed * 1_000_003 + epoch));
        return Enumerable.Range(0, batches).OrderBy(_ => rng.Next()).ToArray();
    }
}
