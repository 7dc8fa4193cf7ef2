using System.Globalization;
using Mlip.Structures;
using Mlip.Training.Streaming;

namespace Mlip.AutoFit;

/// <summary>
/// The memory rule of <c>mlip fit</c> (docs/fit.md, "Memory of a basis"): the limit a basis's estimated peak
/// (<see cref="DesignMemory.Peak"/>, the whole process's resident memory) must stay under, what the process holds besides
/// the basis, and the line that says what would make a basis fit.
/// </summary>
public static class FitMemory
{
    /// <summary>A neighbour list's bytes per pair (centre, neighbour, image shift, vector, distance, reverse index, the
    /// builder's doubling buffers) and the descriptor's species per pair.</summary>
    public const long NeighborBytesPerPair = 128;

    /// <summary>
    /// The limit in bytes: <paramref name="gigabytes"/> (search.memory or --memory) when positive, else the memory the
    /// machine has available (MemAvailable of /proc/meminfo, or the environment variable MLIP_MEMORY_BYTES).
    /// </summary>
    public static long Limit(double gigabytes) => gigabytes > 0 ? (long)(gigabytes * 1e9) : FitEstimate.AvailableBytes();

    /// <summary>Where <see cref="Limit"/> came from, for the log.</summary>
    public static string LimitSource(double gigabytes) => gigabytes > 0 ? "search.memory / --memory"
        : FitEstimate.ForcedBytes() is not null ? FitEstimate.MemoryVariable : "the machine's available memory";

    /// <summary>The runtime, its compiled code and libraries (mlip fit loads no libtorch): 0.07-0.13 GB resident before a
    /// basis's build on the mlearn Si subsets of docs/fit.md, with room for the collector's own budget.</summary>
    public const long RuntimeBytes = 160L << 20;

    /// <summary>What the process holds besides a basis: the runtime (<see cref="RuntimeBytes"/>) and the structures.</summary>
    public static long ProcessBytes(IReadOnlyList<Structure> train, IReadOnlyList<Structure> test) =>
        RuntimeBytes + FitEstimate.StructureBytes(train) + FitEstimate.StructureBytes(test);

    /// <summary>
    /// What would make a basis fit under <paramref name="limit"/>: fewer threads when its estimate with one thread
    /// (<paramref name="oneThread"/>) fits, else the memory it needs.
    /// </summary>
    public static string Advice(DesignMemory memory, DesignMemory? oneThread, long limit, int threads) =>
        oneThread is { } one && threads > 1 && one.Peak <= limit
            ? string.Create(CultureInfo.InvariantCulture, $"it would fit with -j 1 (~{one.Peak / 1e9:F1} GB)")
            : string.Create(CultureInfo.InvariantCulture, $"it would fit with --memory {Math.Ceiling(memory.Peak / 1e8) / 10:F1} on a machine that has it, or with fewer or smaller training structures");

    /// <summary>The skip line's status: what the basis needs, the limit and what would make it fit.</summary>
    public static string SkipStatus(DesignMemory memory, DesignMemory? oneThread, long limit, int threads) => string.Create(CultureInfo.InvariantCulture,
        $"skipped: needs ~{memory.Peak / 1e9:F1} GB, over the {limit / 1e9:F1} GB limit; {Advice(memory, oneThread, limit, threads)}");
}
