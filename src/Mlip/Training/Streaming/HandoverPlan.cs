namespace Mlip.Training.Streaming;

/// <summary>
/// Where the owner of the structures [next, limit) of a rank's share cuts the tail it hands over to its partner in the rows'
/// handover (docs/scale.md, "The rows' handover"): it keeps building and folding structures 0 .. i − 1 (counted from next) and
/// folds i .. n − 1, whose rows the partner (the helper) builds one piece after another once it is free and sends when asked.
/// The owner can fold a handed-over structure only once the helper has built it and it has folded everything before it, so its
/// end is that of a pipeline, not the larger of the two ranks' sums (the cut of 2026-12-07 took it so, and gave the helper so much
/// that the owner waited for the rows: docs/scale.md, "Idle runs, 23:14-23:21").
/// </summary>
/// <param name="build">The owner's wall seconds to build each structure's rows (its measured pace; 0 for a structure of weight 0).</param>
/// <param name="fold">The owner's wall seconds to fold each structure's rows.</param>
/// <param name="rows">Each structure's rows.</param>
/// <param name="helperStart">Seconds until the helper is free to build (what it said was left of its own work when it offered).</param>
/// <param name="helperRatio">The helper's build pace over the owner's (below 1: a faster core).</param>
/// <param name="foldPace">The owner's wall seconds per row folded (its last fold, of the rows beyond its last full buffer).</param>
/// <param name="buffered">Rows in the owner's buffers now, not yet folded.</param>
/// <param name="bufferRows">Rows of a full buffer (a fold whenever it fills).</param>
/// <param name="budgetRows">The most rows the helper may hold built ahead of the owner's requests: the longest tail handed over.</param>
internal sealed class HandoverPlan(double[] build, double[] fold, long[] rows, double helperStart, double helperRatio, double foldPace,
    long buffered, int bufferRows, long budgetRows)
{
    /// <summary>The owner's predicted wall seconds until its rows are all folded, its last fold included, when it hands over i .. n − 1.</summary>
    public double End(int i)
    {
        int n = build.Length;
        if ((uint)i > (uint)n) throw new ArgumentOutOfRangeException(nameof(i), i, $"the cut is in 0..{n}");
        double own = 0, helper = helperStart;
        long total = buffered;
        for (int s = 0; s < n; s++) total += rows[s];
        for (int s = 0; s < i; s++) own += build[s] + fold[s];
        for (int s = i; s < n; s++)
        {
            helper += build[s] * helperRatio;          // the helper has built structure s
            own = Math.Max(own, helper) + fold[s];     // the owner folds it once it has it and is done with s − 1
        }
        return own + foldPace * (total % bufferRows);
    }

    /// <summary>
    /// The cut i with the earliest <see cref="End"/> among tails of at most <c>budgetRows</c> rows, or n (nothing handed over)
    /// when that saves less than <paramref name="minimumGain"/> of <see cref="End"/>(n): on equal cores the static split leaves
    /// little to gain, and a handover of a few structures costs more in messages and waits than the noise of the paces allows.
    /// </summary>
    public int Cut(double minimumGain)
    {
        int n = build.Length;
        double none = End(n), bestEnd = none;
        int best = n;
        long tail = 0;
        for (int i = n - 1; i >= 0; i--)
        {
            tail += rows[i];
            if (tail > budgetRows) break;
            double end = End(i);
            if (end < bestEnd) (best, bestEnd) = (i, end);
        }
        return none - bestEnd >= minimumGain * none ? best : n;
    }
}
