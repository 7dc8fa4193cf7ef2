using System.Globalization;

namespace Mlip.Training.Streaming;

/// <summary>
/// One line per step of a streamed fit (feature chunk, row chunk) on stderr when the environment variable
/// <c>MLIP_MEMORY_TRACE</c> is 1: the resident memory (VmRSS, VmHWM of /proc/self/status) beside the managed heap
/// (<see cref="GC.GetGCMemoryInfo()"/>: heap size, committed, fragmented), to see what grows with the data (docs/scale.md, "Memory").
/// </summary>
public static class MemoryTrace
{
    /// <summary>Whether the trace is on (MLIP_MEMORY_TRACE=1).</summary>
    public static bool On { get; } = Environment.GetEnvironmentVariable("MLIP_MEMORY_TRACE") == "1";

    /// <summary>Writes the line of step <paramref name="step"/> when the trace is on.</summary>
    public static void Mark(string step)
    {
        if (!On) return;
        long rss = 0, hwm = 0;
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kb(line);
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) hwm = Kb(line);
        }
        var gc = GC.GetGCMemoryInfo();
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"memory: {step}: rss {rss / 1024.0:F0} MB, hwm {hwm / 1024.0:F0} MB, managed heap {gc.HeapSizeBytes / 1e6:F0} MB (committed {gc.TotalCommittedBytes / 1e6:F0}, fragmented {gc.FragmentedBytes / 1e6:F0}, live {GC.GetTotalMemory(false) / 1e6:F0}), gcs {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}"));
    }

    private static long Kb(string line) =>
        long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], NumberStyles.Integer, CultureInfo.InvariantCulture);
}
