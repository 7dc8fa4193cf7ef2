using System.Globalization;
using Mlip.Descriptors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Training.Streaming;

/// <summary>
/// What a least-squares fit will need before it starts (docs/scale.md, "Memory"): its peak resident memory and a rough time,
/// from the sizes of the problem; <see cref="Check"/> logs them and refuses, with what to change, a fit that cannot fit in
/// the machine's memory (rather than being killed for it half-way).
/// </summary>
/// <param name="PeakBytes">Estimated peak resident memory of the process.</param>
/// <param name="Seconds">Rough time of the factorisation (at <see cref="FlopsPerThread"/>; descriptors not included).</param>
/// <param name="Detail">What the memory is made of, for the log.</param>
public sealed record FitEstimate(long PeakBytes, double Seconds, string Detail)
{
    /// <summary>What the process holds besides the fit (runtime, libtorch, the structures): a flat allowance.</summary>
    public const long BaseBytes = 400L << 20;

    /// <summary>The dense QR rate assumed for the time estimate (LAPACK on one core of this class of machine).</summary>
    public const double FlopsPerThread = 5e9;

    /// <summary>The environment variable that, when set to a number of bytes, replaces the machine's available memory (to plan for another machine, and in tests).</summary>
    public const string MemoryVariable = "MLIP_MEMORY_BYTES";

    /// <summary>The memory <see cref="MemoryVariable"/> sets (a positive whole number of bytes), or null when it is unset or not one.</summary>
    public static long? ForcedBytes() =>
        Environment.GetEnvironmentVariable(MemoryVariable) is { Length: > 0 } v
        && long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out long forced) && forced > 0 ? forced : null;

    /// <summary>Memory the process may use: <see cref="MemoryVariable"/>, else MemAvailable of /proc/meminfo, else what the runtime reports.</summary>
    public static long AvailableBytes()
    {
        if (ForcedBytes() is long forced) return forced;
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal)
                    && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out long kb))
                    return kb * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }

    /// <summary>The process's peak resident memory so far (VmHWM of /proc/self/status; 0 where there is none).</summary>
    public static long PeakResidentBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal)
                    && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out long kb))
                    return kb * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return 0;
    }

    /// <summary>Pairs within the cutoff per atom, from the neighbour lists of up to 16 structures spread over the data.</summary>
    public static double PairsPerAtom(IDescriptor descriptor, IReadOnlyList<Structure> structures)
    {
        long pairs = 0, atoms = 0;
        int step = Math.Max(1, structures.Count / 16);
        for (int s = 0; s < structures.Count; s += step)
        {
            var d = descriptor.Compute(structures[s], false);
            pairs += d.Neighbors.PairCount;
            atoms += structures[s].Count;
        }
        return atoms == 0 ? 0 : (double)pairs / atoms;
    }

    /// <summary>Force and stress rows, energy rows of a data set for a loss.</summary>
    public static long RowsOf(IReadOnlyList<Structure> structures, LossWeights loss)
    {
        long rows = 0;
        foreach (var st in structures)
        {
            if (st.Weight == 0) continue;
            if (loss.Energy > 0 && st.Energy is not null) rows++;
            if (loss.Force > 0 && st.Forces is not null) rows += 3 * st.Count;
            if (loss.Stress > 0 && st.Stress is not null && st.Pbc.AllPeriodic) rows += 6;
        }
        return rows;
    }

    /// <summary>
    /// A streamed fit (<see cref="StreamingLinearFit"/>): per row class a (p + 1)² triangle and a buffer of
    /// <see cref="TsqrAccumulator.DefaultBufferRows"/> rows stacked under a copy of the triangle (a full fold factorises them in place), a structured fold's copies, one chunk's rows, one structure's derivative
    /// blocks per thread, the final solve (the class triangles merged with the ridge). <paramref name="partner"/>: an MPI rank with a
    /// partner in the rows' handover, which may hold up to one buffer of rows built for it (<see cref="StreamingLinearFit"/>) while it builds.
    /// </summary>
    public static FitEstimate Streamed(int columns, int classes, long rows, long chunkRows, long derivativeBytesPerStructure, int threads, long structureBytes,
        bool partner = false)
    {
        long p1 = columns + 1, buffer = TsqrAccumulator.DefaultBufferRows(columns);
        long factors = classes * TsqrAccumulator.BytesFor(columns);
        long fold = 2 * 8 * p1 * p1; // a structured fold's copies of the triangle and of at most p + 1 rows (a full fold works in place in the factors' buffers)
        long chunk = 8 * chunkRows * columns;
        long derivatives = Math.Max(1, threads) * derivativeBytesPerStructure;
        long solve = 8L * (classes + 6) * columns * columns; // the class triangles, the merged one and its copies (RowClassFactors.Merged)
        long handover = partner ? 8 * buffer * columns : 0;  // the rows a helper builds ahead of its partner's requests
        long peak = BaseBytes + structureBytes + factors + Math.Max(fold + chunk + derivatives + handover, solve);
        double flops = 2.0 * rows * p1 * p1 * (1 + (double)p1 / buffer) + classes * 4.0 * p1 * p1 * p1;
        return new FitEstimate(peak, flops / (FlopsPerThread * Math.Max(1, threads)), string.Create(CultureInfo.InvariantCulture,
            $"streamed TSQR: {classes} factors of {columns} columns {Gb(factors)}, one chunk of {chunkRows} rows {Gb(chunk)}{(partner ? $", rows built for the MPI partner {Gb(handover)}" : "")}, fold workspace {Gb(fold)}, derivative blocks {Gb(derivatives)}, data {Gb(structureBytes)}"));
    }

    /// <summary>An in-memory fit: the design matrix (and libtorch's copy of it), the derivative blocks of every structure when a training set holds them.</summary>
    public static FitEstimate InMemory(int columns, long rows, long derivativeBytes, int threads, long structureBytes)
    {
        long design = 8 * rows * columns;
        long peak = BaseBytes + structureBytes + derivativeBytes + 2 * design;
        double flops = 2.0 * rows * columns * columns;
        return new FitEstimate(peak, flops / (FlopsPerThread * Math.Max(1, threads)), string.Create(CultureInfo.InvariantCulture,
            $"in memory: design matrix {rows} x {columns} {Gb(design)} (twice: the solver copies it), derivative blocks {Gb(derivativeBytes)}, data {Gb(structureBytes)}"));
    }

    /// <summary>
    /// The Finnis-Sinclair embedding fit of an ACE (<see cref="AceEmbeddingFit"/>) with n parameters over K functions and P densities:
    /// in memory every structure's features and per-pair derivative blocks (24 K bytes per pair), streamed one block of at most
    /// <paramref name="chunkDoubles"/> per-pair Jacobian entries (the structures of the block recomputed at every pass; a block holds
    /// at least one whole structure, <paramref name="largestPairs"/>); both: the block's Jacobian workspace (about four arrays of
    /// <paramref name="chunkDoubles"/>) and JᵀJ with its Cholesky copies (3 · 8 n²).
    /// </summary>
    public static FitEstimate FsEmbedding(int parameters, int functions, int densities, long atoms, long pairs, long largestPairs, long chunkDoubles, bool streamed, int threads, long structureBytes)
    {
        long perPair = 24L * functions;
        long blockPairs = Math.Max(largestPairs, chunkDoubles / (3L * functions * Math.Max(1, densities)));
        long data = streamed ? 3 * blockPairs * perPair : pairs * perPair + 8L * atoms * functions + Math.Max(1, 4 * threads) * largestPairs * perPair;
        long workspace = 4 * 8 * chunkDoubles;
        long normal = 3L * 8 * parameters * parameters;
        long peak = BaseBytes + structureBytes + data + workspace + normal;
        double flops = 2.0 * (3 * atoms) * parameters * parameters;
        return new FitEstimate(peak, flops / (FlopsPerThread * Math.Max(1, threads)), string.Create(CultureInfo.InvariantCulture,
            $"fs embedding {(streamed ? "streamed (one block of structures recomputed per pass; its descriptor set, arrays and tensors)" : "in memory (every structure's per-pair derivative blocks)")} {Gb(data)}, block Jacobian workspace {Gb(workspace)}, JᵀJ {Gb(normal)}, data {Gb(structureBytes)}; the time is one Levenberg-Marquardt iteration's JᵀJ"));
    }

    /// <summary>
    /// A PINN fit (<see cref="PinnTrainer"/>): per atom its derivative blocks (24 K bytes per pair within the descriptor's cut-off) and
    /// the BOP's geometry and loss graph, about <see cref="PinnTripletBytes"/> per angular or screening triplet (calibrated on the
    /// mlearn Si SO(4) 2J = 6 run: 4.2 GB measured in memory); in memory for all training structures, streamed for one piece of at most
    /// <paramref name="pieceAtoms"/> atoms (recomputed at every loss evaluation).
    /// </summary>
    public static FitEstimate Pinn(int features, long atoms, double pairsPerAtom, double tripletsPerAtom, int pieceAtoms, bool streamed, long structureBytes)
    {
        double perAtom = 24.0 * features * pairsPerAtom + PinnTripletBytes * tripletsPerAtom;
        long held = streamed ? Math.Min(atoms, pieceAtoms) : atoms;
        long data = (long)(perAtom * held);
        long peak = BaseBytes + structureBytes + data;
        return new FitEstimate(peak, 0, string.Create(CultureInfo.InvariantCulture,
            $"pinn {(streamed ? $"streamed (one piece of at most {pieceAtoms} atoms recomputed per loss evaluation)" : "in memory (every training structure)")}: {held} atoms × {perAtom / 1e3:F0} kB " +
            $"(derivative blocks {24.0 * features * pairsPerAtom / 1e3:F0} kB, {tripletsPerAtom:F0} BOP triplets) {Gb(data)}, data {Gb(structureBytes)}; time not estimated"));
    }

    /// <summary>Bytes per BOP triplet (angular and screening) of a PINN batch: its indices, fixed geometry and the loss's double-backward graph (rough, calibrated).</summary>
    public const double PinnTripletBytes = 350;

    /// <summary>Pairs within <paramref name="cutoff"/> and BOP triplets (angular: pairs within R_c of the same centre; screening: an R_c pair and any pair within 1.5 R_c) per atom, from up to 16 structures.</summary>
    public static (double Pairs, double Triplets) PinnGeometryPerAtom(IReadOnlyList<Structure> structures, double cutoff, double bopCutoff)
    {
        long pairs = 0, triplets = 0, atoms = 0;
        int step = Math.Max(1, structures.Count / 16);
        for (int s = 0; s < structures.Count; s += step)
        {
            var nl = Neighbors.NeighborList.Build(structures[s], Math.Max(cutoff, 1.5 * bopCutoff));
            for (int i = 0; i < structures[s].Count; i++)
            {
                var r = nl.DistancesOf(i);
                long inside = 0, near = 0;
                foreach (double d in r)
                {
                    if (d < bopCutoff) inside++;
                    if (d < cutoff) near++;
                }
                pairs += near;
                triplets += inside * Math.Max(0, inside - 1) + inside * r.Length;
            }
            atoms += structures[s].Count;
        }
        return atoms == 0 ? (0, 0) : ((double)pairs / atoms, (double)triplets / atoms);
    }

    /// <summary>Bytes the structures themselves hold (positions, forces, numbers and overhead).</summary>
    public static long StructureBytes(IReadOnlyList<Structure> structures) => structures.Sum(s => 400L + 60L * s.Count);

    /// <summary>
    /// Logs the estimate; throws <see cref="MlipException"/> when it exceeds the available memory, saying what to change
    /// (<paramref name="advice"/>).
    /// </summary>
    public void Check(TextWriter log, string advice, long? availableBytes = null)
    {
        long available = availableBytes ?? AvailableBytes();
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"estimate: peak memory {Gb(PeakBytes)} of {Gb(available)} available, factorisation ~{Seconds:G2} s (rough: {FlopsPerThread / 1e9:G2} GFlop/s per thread, descriptors not included); {Detail}"));
        if (PeakBytes > available)
            throw new MlipException(string.Create(CultureInfo.InvariantCulture,
                $"the fit needs about {Gb(PeakBytes)} of memory and {Gb(available)} is available ({Detail}); {advice}"));
    }

    private static string Gb(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e9:F2} GB");
}
