using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlip.Descriptors;
using Mlip.Distributed;
using Mlip.IO;
using Mlip.Models;
using Mlip.Neighbors;
using Mlip.Numerics;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Training.Streaming;

/// <summary>Settings of a streamed factorisation.</summary>
public sealed record StreamingOptions
{
    public int Threads { get; init; } = Environment.ProcessorCount;
    public TsqrBackend Backend { get; init; } = TsqrBackend.Auto;
    /// <summary>Seconds between checkpoints of the running factor (0: after every chunk).</summary>
    public double CheckpointSeconds { get; init; } = 60;

    /// <summary>
    /// The ranks of an MPI run: each computes the feature chunks and the factors of its contiguous share of the store's chunks,
    /// the factors are merged along a tree (<see cref="Collectives.TreeMerge"/>), rank 0 writes the factor file and solves.
    /// </summary>
    public ICommunicator Communicator { get; init; } = SingleProcess.Instance;

    /// <summary>
    /// Under MPI, whether a rank that has built and folded its share of the rows builds the rows of its partner's (rank r xor 1)
    /// last structures while the partner folds them (<see cref="StreamingLinearFit"/>, "RowHandover"); the factors are the same
    /// bits either way. On by default since its cut is a pipeline with a least saving (<see cref="HandoverPlan"/>: on two equal cores
    /// it hands over nothing, on unequal ones the faster rank builds the slower one's last rows; docs/scale.md, "The rows' handover");
    /// off with the environment variable <c>MLIP_MPI_HANDOVER=0</c>.
    /// </summary>
    public bool HandOverRows { get; init; } = Environment.GetEnvironmentVariable("MLIP_MPI_HANDOVER") != "0";

    /// <summary>For tests: each rank's range of structures [Start, End) of the rows instead of the cost split (null: the cost split).</summary>
    internal (int Start, int End)[]? RowRanges { get; init; }

    /// <summary>For tests: the rank that waits for its partner's first message before its first rows, so that a handover surely happens (−1: none).</summary>
    internal int AwaitPartnerOnRank { get; init; } = -1;
}

/// <summary>
/// The least squares of a linear or quadratic fit, factorised: the row-class factors of the rows [1, x̃, x̃_a x̃_b] per element
/// (rows scaled by √(structure weight) only), with the normalisation and the element order. <see cref="Solve"/> gives the
/// coefficients for any loss weights and ridge in O(p³) without the data: what <c>mlip fit</c>'s search over weights and
/// ridge needs (docs/scale.md).
/// </summary>
public sealed record LinearFactorization(int Order, bool Normalize, int[] Elements, int FeatureCount, double[] Mean, double[] Scale, RowClassFactors Factors)
{
    /// <summary>Columns per element: 1 + k (+ k(k+1)/2 when quadratic).</summary>
    public int PerElement => PolynomialModel.CoefficientsPerElement(Order, FeatureCount);

    /// <summary>All columns.</summary>
    public int Columns => Elements.Length * PerElement;

    /// <summary>
    /// The ridge of <see cref="PolynomialFit"/>: <paramref name="lambda"/> on every coefficient times <paramref name="prior"/>
    /// (one relative weight per feature, e.g. ACE's smoothness prior; null: 1), 1e-4 λ on the per-element constants.
    /// </summary>
    public double[] RidgeVector(double lambda, double[]? prior = null)
    {
        int per = PerElement, k = FeatureCount;
        var ridge = new double[Columns];
        for (int e = 0; e < Elements.Length; e++)
        {
            ridge[e * per] = 1e-4 * lambda;
            for (int c = 1; c < per; c++) ridge[e * per + c] = lambda * (prior is not null && c <= k ? prior[c - 1] : 1);
        }
        return ridge;
    }

    /// <summary>The ranks that share this factorisation (every rank holds the same merged factors); one process by default.</summary>
    public ICommunicator Communicator { get; init; } = SingleProcess.Instance;

    /// <summary>
    /// Solves for loss weights <paramref name="loss"/> and ridge <paramref name="ridge"/> (see <see cref="RowClassFactors.Solve"/>).
    /// Under MPI a collective: rank 0 solves the p-row problem alone and broadcasts the solution, so every rank returns the same.
    /// </summary>
    public FactoredSolution Solve(LossWeights loss, double[] ridge, ILeastSquaresSolver solver)
    {
        var comm = Communicator;
        if (comm.Size == 1) return Factors.Solve(loss, ridge, solver);
        FactoredSolution? mine = null;
        Exception? failure = null;
        // rank 0 solves alone: the merges, the condition number (an O(p²) Lanczos estimate) and the back substitution take
        // a fraction of a second for p = 1596, less than sharing them would cost in messages and waits
        if (comm.IsRoot)
            try { mine = Factors.Solve(loss, ridge, solver); }
            catch (Mlip.Validation.MlipException e) { failure = e; }
        comm.Barrier(); // the other ranks wait for rank 0's solve asleep (a broadcast would spin)
        // a failure on rank 0 reaches every rank as the same error, so none waits for coefficients that never come
        var message = Encoding.UTF8.GetString(comm.BroadcastBytes(comm.IsRoot ? Encoding.UTF8.GetBytes(failure?.Message ?? "") : null));
        if (message.Length > 0) throw failure ?? new MlipException(message);
        var numbers = new double[Columns + 3];
        if (mine is not null)
        {
            mine.Coefficients.CopyTo(numbers, 0);
            (numbers[Columns], numbers[Columns + 1], numbers[Columns + 2]) = (mine.WeightedResidualSumOfSquares, mine.PenaltySumOfSquares, mine.ConditionNumber);
        }
        comm.Broadcast(numbers);
        string method = Encoding.UTF8.GetString(comm.BroadcastBytes(mine is null ? null : Encoding.UTF8.GetBytes(mine.Method)));
        return new FactoredSolution(numbers[..Columns], numbers[Columns], numbers[Columns + 1], numbers[Columns + 2], method);
    }

    /// <summary>The model of coefficients <paramref name="coefficients"/> (as from <see cref="Solve"/>).</summary>
    public PolynomialModel Model(double[] coefficients)
    {
        int per = PerElement;
        var c = new double[Elements.Length][];
        for (int e = 0; e < Elements.Length; e++) c[e] = coefficients.AsSpan(e * per, per).ToArray();
        return new PolynomialModel(Order, Elements, FeatureCount, c, Mean, Scale);
    }

    /// <summary>The row classes a loss needs: those of positive weight.</summary>
    public static RowClass[] ClassesFor(LossWeights loss) =>
        [.. new[] { (RowClass.Energy, loss.Energy), (RowClass.Force, loss.Force), (RowClass.Stress, loss.Stress) }.Where(c => c.Item2 > 0).Select(c => c.Item1)];

    /// <summary>The name of the factor file of a fit: order, normalisation and row classes.</summary>
    public static string Key(int order, bool normalize, IEnumerable<RowClass> classes) =>
        $"order{order}-{(normalize ? "normalized" : "raw")}-{string.Concat(classes.Order().Select(c => c.ToString()[0]))}";
}

/// <summary>
/// Linear, quadratic and linear-ACE least squares that stream: the rows of a chunk of structures are built from their
/// descriptors (and derivative blocks, computed per structure and dropped) and folded into per-row-class TSQR factors, so
/// peak memory is O(p² + one chunk) whatever the size of the data (docs/scale.md). The factors are kept in the
/// <see cref="DescriptorStore"/>; a second fit on the same data (another ridge, other loss weights) reads them back.
/// </summary>
public static partial class StreamingLinearFit
{
    private const uint CheckpointMagic = 0x4B43534D; // "MSCK"

    /// <summary>
    /// The factorisation of <paramref name="store"/>'s data for a fit of <paramref name="order"/> with the row classes
    /// <paramref name="classes"/>: read from the store when it is there, else computed (resuming from a checkpoint) and written.
    /// </summary>
    public static LinearFactorization Factorise(DescriptorStore store, int order, bool normalize, IReadOnlyList<RowClass> classes,
        StreamingOptions options, TextWriter log, IProgress<WorkProgress>? progress = null, CancellationToken cancel = default)
    {
        if (classes.Count == 0) throw new MlipException("the training data has no labels to fit (energy, forces or stress with non-zero weight)");
        var comm = options.Communicator;
        string key = LinearFactorization.Key(order, normalize, classes);
        string path = store.FactorPath(key);
        // under MPI rank 0 decides (a shared file system may show a file to one rank before another)
        Span<double> exists = [File.Exists(path) ? 1 : 0];
        comm.Broadcast(exists);
        if (exists[0] != 0)
        {
            var loaded = Load(path, options) with { Communicator = comm };
            log.WriteLine($"descriptor store: reusing {store.Describe()}: factors {key} ({DescribeRows(loaded.Factors)}); descriptors not recomputed");
            return loaded;
        }

        var clock = Stopwatch.StartNew();
        int k = store.Descriptor.FeatureCount;
        // rank r of R computes the feature chunks [C·r/R, C·(r+1)/R) (all of them in one process)
        var (first, end) = Collectives.Share(store.ChunkCount, comm.Rank, comm.Size);
        var mine = Enumerable.Range(first, end - first).ToArray();
        int featureChunks = store.FeatureChunksDone();
        log.WriteLine(featureChunks == store.ChunkCount
            ? $"descriptor store: reusing the features of {store.Describe()}"
            : $"descriptor store: {store.Describe()}: computing features ({featureChunks} of {store.ChunkCount} chunks on disk)"
              + (comm.Size > 1 ? $", each of the {comm.Size} ranks its share (rank 0: chunks {first}..{end - 1})" : ""));
        var timing = new PhaseTimes(comm, log);
        store.EnsureFeatures(options.Threads, progress, mine);
        timing.Mark("features");
        var (mean, scale) = !normalize ? (new double[k], Enumerable.Repeat(1.0, k).ToArray())
            : comm.Size == 1 ? store.FeatureStatistics() : MergedStatistics(comm, store, mine);
        timing.Mark("statistics");
        MemoryTrace.Mark("statistics");
        int[] elements = store.Elements;
        int per = PolynomialModel.CoefficientsPerElement(order, k), cols = elements.Length * per;

        // the rows: one process takes the chunks in order; under MPI rank r takes a contiguous range of structures of about
        // 1/R of the estimated cost (RowShare), in pieces of at most one chunk
        var (rowStart, rowEnd, pairsOf) = comm.Size == 1 ? (0, store.Structures.Count, []) : RowShare(store, comm);
        if (options.RowRanges is { } ranges) (rowStart, rowEnd) = ranges[comm.Rank];
        var pieces = Pieces(store, rowStart, rowEnd);
        if (comm.Size > 1)
        {
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"mpi: rows split by estimated cost (atoms and pairs within the cut-off): rank 0 takes structures {rowStart}..{rowEnd - 1} of {store.Structures.Count}"));
            timing.Mark("row shares (pair counts)");
        }
        string checkpoint = comm.Size == 1 ? store.CheckpointPath(key)
            : store.CheckpointPath(string.Create(CultureInfo.InvariantCulture, $"{key}-rank{comm.Rank}-of-{comm.Size}-s{rowStart}-{rowEnd}"));
        var (factors, firstPiece) = ResumeOrStart(store, checkpoint, key, cols, classes, options, log, pieces.Length);
        var rowsOfChunk = new ChunkRows(store, order, mean, scale, classes, options.Threads, cancel);
        var lastCheckpoint = Stopwatch.StartNew();
        var shareClock = Stopwatch.StartNew();
        // two ranks of a pair (r, r xor 1) share the building of the rows once one of them is done with its own (RowHandover)
        int partner = comm.Rank ^ 1;
        var handover = comm.Size > 1 && options.HandOverRows && partner < comm.Size
            ? new RowHandover(comm, partner, store, pairsOf, rowsOfChunk, rowEnd, options.Threads, options.AwaitPartnerOnRank == comm.Rank) : null;
        int limit = rowEnd; // this rank builds the rows of [rowStart, limit) itself; [limit, rowEnd) once handed over
        for (int c = firstPiece; c < pieces.Length && pieces[c].Start < limit; c++)
        {
            cancel.ThrowIfCancellationRequested();
            if (handover is null) rowsOfChunk.AddTo(factors, pieces[c].Start, pieces[c].End);
            else
            {
                // in sub-pieces of a few structures, asking between them whether the partner is done (the same rows in the
                // same order as one call: a TsqrAccumulator folds whenever its buffer is full, whatever the calls)
                for (int s = pieces[c].Start; s < Math.Min(pieces[c].End, limit);)
                {
                    limit = handover.Poll(s, limit, factors);
                    if (s >= limit) break;
                    int e = RowHandover.SubPieceEnd(s, Math.Min(pieces[c].End, limit), options.Threads);
                    rowsOfChunk.Build(s, e);
                    limit = handover.Poll(e, limit, factors); // and before the fold (a full buffer's fold takes as long as a few structures)
                    rowsOfChunk.Fold(factors);
                    s = e;
                }
                LargeObjectGarbage.Collect(); // the piece's dead descriptor sets, as AddTo does once per chunk
            }
            MemoryTrace.Mark(string.Create(CultureInfo.InvariantCulture, $"rows of structures {pieces[c].Start}..{pieces[c].End - 1}"));
            // one process counts structures; under MPI rank 0 its own share's (the others do the same at about the same pace)
            progress?.Report(new WorkProgress(Math.Min(pieces[c].End, limit) - rowStart, rowEnd - rowStart, clock.Elapsed));
            if (c + 1 < pieces.Length && pieces[c].End <= limit && lastCheckpoint.Elapsed.TotalSeconds >= options.CheckpointSeconds)
            {
                WriteCheckpoint(checkpoint, c + 1, factors);
                lastCheckpoint.Restart();
            }
        }
        timing.Note(string.Create(CultureInfo.InvariantCulture,
            $"of which descriptors and rows {rowsOfChunk.RowSeconds:F2} s CPU, TSQR folds {rowsOfChunk.FoldSeconds:F2} s CPU ({rowsOfChunk.Pairs} pairs, {rowsOfChunk.RowCount} rows)"));
        timing.Mark("rows and QR of the rank's structures");
        if (handover is not null)
        {
            // either this rank handed [limit, rowEnd) to its partner and folds the rows it sends, or it folds its last rows, offers
            // its partner help and builds the rows it is handed
            if (!handover.Answered)
            {
                handover.Offer(factors); // before the last fold, saying how long that will take, so the partner may answer meanwhile
                factors.Flush();
                timing.Mark("last fold of the rank's rows");
            }
            handover.Finish(factors, limit);
            if (handover.Detail is { } detail)
            {
                timing.Note(detail);
                if (comm.IsRoot) log.WriteLine("mpi: " + detail);
            }
            timing.Mark(handover.Answered ? "fold of the rows the partner built" : "offer of help to the partner, rows built for it");
        }
        bool anyCheckpoint = false;
        if (comm.Size > 1)
        {
            // a killed run after this point keeps this rank's whole share (when it took long enough to be worth a checkpoint:
            // writing one costs about as much as the fold of a chunk); then the ranks' triangles are merged along a tree
            if (shareClock.Elapsed.TotalSeconds >= options.CheckpointSeconds) WriteCheckpoint(checkpoint, pieces.Length, factors);
            factors.Flush();
            timing.Mark("last fold of the rank's rows");
            comm.Barrier(); // the ranks that finish their share first wait asleep, not spinning in MPI_Recv/MPI_Send
            // whether any rank has a checkpoint (then the ranks meet once the factor file is written, below); asked here,
            // where the ranks are together anyway, so that rank 0 need not wait for rank 1 later
            anyCheckpoint = comm.Allgather([(byte)(File.Exists(checkpoint) ? 1 : 0)]).Any(b => b != 0);
            timing.Mark("wait for the other ranks' rows");
            if (comm.Size == 2)
            {
                // two ranks exchange their triangles and both merge them in the same order (rank 0's triangle on top): rank 0
                // goes on to the solve, rank 1 writes the factor file; no broadcast of the merged factors after a serial merge
                factors = ExchangeAndMerge(comm, factors, options);
                timing.Mark("exchange and merge of the two ranks' factors (both ranks)");
            }
            else
            {
                // each receiving rank folds its children's triangles into its own factors in place (no flat copies of its own)
                var own = factors;
                comm.TreeMerge(own.ToFlat, flat => own.Merge(flat));
                comm.Barrier(); // the ranks done merging wait asleep for rank 0's last merge
                timing.Mark("tree merge of the ranks' factors");
                // every rank gets the merged factors ((p + 1)² values per class): each can solve or save them; rank 0 keeps its own
                var merged = comm.IsRoot ? factors.ToFlat() : new double[factors.FlatLength];
                comm.Broadcast(merged.AsSpan());
                if (!comm.IsRoot) factors = RowClassFactors.FromFlat(merged, options.Backend, options.Threads);
                merged = null;
                LargeObjectGarbage.Collect(); // the flat forms of the merge and the broadcast (large objects: docs/scale.md, "Memory")
                timing.Mark("broadcast of the merged factors");
            }
        }
        var result = new LinearFactorization(order, normalize, elements, k, mean, scale, factors) { Communicator = comm };
        if (comm.Size == 1)
        {
            Save(path, result, store);
            File.Delete(checkpoint);
            timing.Mark("factor file");
        }
        else
        {
            // rank 1 (which holds the merged factors since the broadcast) writes the factor file while rank 0 goes on to the
            // solve; a rank drops its checkpoint only once the file is written, so where any rank has one they meet first
            // (a rank checkpoints at most once a minute, and its whole share only when that took a minute or more)
            if (comm.Rank == 1)
            {
                Save(path, result, store);
                LargeObjectGarbage.Collect(); // the flat forms of the exchange and of the file, off rank 0's path
            }
            if (anyCheckpoint)
            {
                comm.Barrier();
                File.Delete(checkpoint);
            }
            timing.Mark("factor file (written by rank 1)");
        }
        string merge = comm.Size > 1 ? $"; {comm.Size} ranks' TSQR factors merged along a tree" : "";
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"descriptor store: factorised {store.Structures.Count} structures in {clock.Elapsed.TotalSeconds:F1} s ({DescribeRows(factors)}, {cols} columns{merge}); wrote {path}"));
        return result;
    }

    /// <summary>
    /// The merged factors of two ranks on both: each sends its flat factors to the other (rank 0 first, so the two blocking sends
    /// do not wait for each other) and both compute the structured merge of [rank 0's triangle; rank 1's triangle], the same
    /// operation on the same numbers with the same backend and threads, so both hold the same merged factors. Rank 0 merges in
    /// place into its own accumulators; rank 1 starts from rank 0's flat form and merges its own into it. The merge costs each
    /// rank what rank 0's merge cost alone, at the same time, and replaces the broadcast that followed it (rank 0's flat copy of
    /// the merged factors, the 41-MB message and rank 1's copy back for p = 1596).
    /// </summary>
    internal static RowClassFactors ExchangeAndMerge(ICommunicator comm, RowClassFactors factors, StreamingOptions options)
    {
        if (comm.Size != 2) throw new InvalidOperationException("the exchange merge is for two ranks");
        var own = factors.ToFlat();
        if (comm.IsRoot)
        {
            comm.Send(MemoryMarshal.AsBytes(own.AsSpan()), 1);
            own = null;
            var other = comm.Receive(1);
            factors.Merge(MemoryMarshal.Cast<byte, double>(other));
            return factors;
        }
        var top = comm.Receive(0);
        comm.Send(MemoryMarshal.AsBytes(own.AsSpan()), 0);
        var merged = RowClassFactors.FromFlat(MemoryMarshal.Cast<byte, double>(top), options.Backend, options.Threads);
        top = null;
        merged.Merge(own);
        return merged;
    }

    /// <summary>The feature statistics of all ranks: each rank's running statistics of its chunks, gathered and merged in rank order.</summary>
    private static (double[] Mean, double[] Scale) MergedStatistics(ICommunicator comm, DescriptorStore store, int[] mine)
    {
        var local = store.FeatureColumnStatistics(mine).ToArray();
        comm.Barrier(); // a rank whose feature chunks are done first waits asleep (the allgather would spin)
        var parts = comm.AllgatherVariable(local);
        var all = new ColumnStatistics(store.Descriptor.FeatureCount);
        foreach (var p in parts) all.Merge(ColumnStatistics.FromArray(p));
        return (all.Mean(), all.Scale());
    }

    /// <summary>
    /// This rank's structures for the rows of an MPI run: the ranks count the pairs within the descriptor's cut-off of an equal
    /// share of the structures each (neighbour lists only, no descriptor), gather them, and every rank cuts the same
    /// <see cref="CostShare"/>.
    /// </summary>
    private static (int Start, int End, double[] Pairs) RowShare(DescriptorStore store, ICommunicator comm)
    {
        var structures = store.Structures;
        var (a, b) = comm.Share(structures.Count);
        var pairs = new double[b - a];
        for (int s = a; s < b; s++)
            pairs[s - a] = structures[s].Weight == 0 ? 0 : NeighborList.Build(structures[s], store.Descriptor.Cutoff).PairCount;
        var all = comm.AllgatherVariable(pairs).SelectMany(p => p).ToArray();
        var (start, end) = CostShare(structures, all, comm.Rank, comm.Size);
        return (start, end, all);
    }

    /// <summary>
    /// Rank <paramref name="rank"/>'s contiguous range [Start, End) of <paramref name="structures"/> when each of
    /// <paramref name="size"/> ranks takes about 1/size of the estimated cost of the rows. A structure's cost is half per-row work
    /// (the TSQR folds: its atoms over all atoms) and half per-pair work (its derivative blocks: its pairs within the cut-off,
    /// <paramref name="pairs"/>, over all pairs); a structure of weight 0 has no rows and costs nothing. The cut depends only on the
    /// data and the rank count, so every rank computes the same one (the mlearn Si set's later structures have more neighbours:
    /// an equal split of the chunks gave the last rank 1.5 times the first one's work).
    /// </summary>
    public static (int Start, int End) CostShare(IReadOnlyList<Structure> structures, ReadOnlySpan<double> pairs, int rank, int size)
    {
        ArgumentNullException.ThrowIfNull(structures);
        if ((uint)rank >= (uint)size) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"rank is not in 0..{size - 1}");
        if (pairs.Length != structures.Count) throw new ArgumentException($"{pairs.Length} pair counts for {structures.Count} structures", nameof(pairs));
        int n = structures.Count;
        double atoms = 0, allPairs = 0;
        for (int s = 0; s < n; s++)
            if (structures[s].Weight != 0) { atoms += structures[s].Count; allPairs += pairs[s]; }
        var cost = new double[n];
        for (int s = 0; s < n; s++)
            cost[s] = structures[s].Weight == 0 ? 0 : (atoms > 0 ? structures[s].Count / atoms : 0) + (allPairs > 0 ? pairs[s] / allPairs : 0);
        double total = cost.Sum();
        // rank r starts at the first structure whose preceding cost reaches r/size of the total
        int Boundary(int r)
        {
            if (r == 0) return 0;
            if (r == size) return n;
            double target = total * r / size, before = 0;
            for (int s = 0; s < n; s++)
            {
                // cut before s when that leaves the rank's end nearer its target than cutting after s would
                if (before + cost[s] / 2 >= target) return s;
                before += cost[s];
            }
            return n;
        }
        return (Boundary(rank), Boundary(rank + 1));
    }

    /// <summary>The structures [start, end) cut at the store's chunk boundaries: pieces of at most one chunk, in order.</summary>
    private static (int Start, int End)[] Pieces(DescriptorStore store, int start, int end)
    {
        var pieces = new List<(int, int)>();
        for (int c = 0; c < store.ChunkCount && start < end; c++)
        {
            var (a, b) = store.Chunk(c);
            int lo = Math.Max(a, start), hi = Math.Min(b, end);
            if (lo < hi) pieces.Add((lo, hi));
        }
        return [.. pieces];
    }

    /// <summary>
    /// The factors of the rows of some chunks of the store only (no files written): one MPI rank's share. The ranks merge their
    /// <see cref="DescriptorStore.FeatureColumnStatistics"/> in rank order for the statistics, factorise their chunks
    /// with them, allgather the <see cref="RowClassFactors.ToFlat"/> forms and merge them in rank order (docs/scale.md).
    /// </summary>
    public static RowClassFactors FactoriseChunks(DescriptorStore store, int order, double[] mean, double[] scale, IReadOnlyList<RowClass> classes,
        IEnumerable<int> chunks, StreamingOptions options, CancellationToken cancel = default)
    {
        int cols = store.Elements.Length * PolynomialModel.CoefficientsPerElement(order, store.Descriptor.FeatureCount);
        var factors = new RowClassFactors(cols, classes, options.Backend, options.Threads);
        var rows = new ChunkRows(store, order, mean, scale, classes, options.Threads, cancel);
        foreach (int c in chunks)
        {
            cancel.ThrowIfCancellationRequested();
            var (start, end) = store.Chunk(c);
            rows.AddTo(factors, start, end);
        }
        return factors;
    }

    /// <summary>Builds the rows of one chunk of structures (descriptors and derivative blocks one structure at a time) and adds them to factors.</summary>
    private sealed class ChunkRows(DescriptorStore store, int order, double[] mean, double[] scale, IReadOnlyList<RowClass> classes, int threads, CancellationToken cancel)
    {
        private readonly int _k = store.Descriptor.FeatureCount;
        private readonly int _per = PolynomialModel.CoefficientsPerElement(order, store.Descriptor.FeatureCount);
        private readonly bool _wantE = classes.Contains(RowClass.Energy), _wantF = classes.Contains(RowClass.Force), _wantS = classes.Contains(RowClass.Stress);
        private static readonly LossWeights Unit = new() { Energy = 1, Force = 1, Stress = 1 };
        private double[] _a = [], _b = [];

        /// <summary>Process CPU seconds spent building rows (descriptors, derivative blocks, rows) and folding them, so far.</summary>
        public double RowSeconds { get; private set; }

        /// <summary>See <see cref="RowSeconds"/>.</summary>
        public double FoldSeconds { get; private set; }

        /// <summary>Pairs within the cut-off of the structures whose rows were built, and the rows, so far.</summary>
        public long Pairs { get; private set; }

        /// <summary>See <see cref="Pairs"/>.</summary>
        public long RowCount { get; private set; }

        /// <summary>Wall seconds of <see cref="RowSeconds"/> and <see cref="FoldSeconds"/> (the pace a handover is planned by).</summary>
        public double RowWallSeconds { get; private set; }

        /// <summary>See <see cref="RowWallSeconds"/>.</summary>
        public double FoldWallSeconds { get; private set; }

        private int _nE, _nF, _nS;
        private long _pairs;

        /// <summary>The rows (row-major, classes one after another: energy, force, stress) of the last <see cref="Build"/>.</summary>
        public ReadOnlySpan<double> A => _a.AsSpan(0, (_nE + _nF + _nS) * Columns);

        /// <summary>The right-hand sides of <see cref="A"/>.</summary>
        public ReadOnlySpan<double> B => _b.AsSpan(0, _nE + _nF + _nS);

        /// <summary>Rows of each class and pairs of the last <see cref="Build"/>.</summary>
        public (int Energy, int Force, int Stress, long Pairs) Counts => (_nE, _nF, _nS, _pairs);

        private int Columns => store.Elements.Length * _per;

        /// <summary>Adds the rows of the structures [start, end) (at most one chunk: the row buffer is sized by the largest so far).</summary>
        public void AddTo(RowClassFactors factors, int start, int end)
        {
            Build(start, end);
            Fold(factors);
            LargeObjectGarbage.Collect(); // the chunk's dead descriptor sets, large objects (docs/scale.md, "Memory")
        }

        /// <summary>Builds the rows of the structures [start, end) (at most one chunk) into the row buffer (<see cref="A"/>, <see cref="B"/>).</summary>
        public void Build(int start, int end)
        {
            int k = _k, per = _per, cols = store.Elements.Length * per;
            int[] elements = store.Elements;
            int n = end - start;
            var eOff = new int[n]; var fOff = new int[n]; var sOff = new int[n];
            int nE = 0, nF = 0, nS = 0;
            for (int s = 0; s < n; s++)
            {
                var st = store.Structures[start + s];
                eOff[s] = fOff[s] = sOff[s] = -1;
                if (st.Weight == 0) continue;
                if (_wantE && st.Energy is not null) { eOff[s] = nE; nE += 1; }
                if (_wantF && st.Forces is not null) { fOff[s] = nF; nF += 3 * st.Count; }
                if (_wantS && st.Stress is not null && st.Pbc.AllPeriodic) { sOff[s] = nS; nS += 6; }
            }
            int rows = nE + nF + nS;
            if ((long)rows * cols > Array.MaxLength) throw new MlipException($"a chunk of the store ({rows} x {cols}) is too large for one array; lower store_chunk_atoms");
            if (_a.Length < rows * cols) { _a = new double[rows * cols]; _b = new double[rows]; }
            else { _a.AsSpan(0, rows * cols).Clear(); _b.AsSpan(0, rows).Clear(); }
            var a = _a; var b = _b;
            var cpu0 = PhaseTimes.Cpu();
            long wall0 = Stopwatch.GetTimestamp();
            long pairs = 0;
            var po = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads), CancellationToken = cancel };
            // a structure's descriptor gets the threads the loop over structures leaves over: threads = 1 is one core in all (without
            // the limit its loops took every core, and a 1-thread MPI rank competed with the other ranks for them: docs/scale.md)
            using var inner = MlipParallel.LimitThreads(MlipParallel.InnerThreads(threads, n));
            MlipParallel.Run(() => Parallel.For(0, n, po, () => new PolynomialFit.RowScratch(k, per), (s, _, scratch) =>
            {
                var st = store.Structures[start + s];
                int eRow = eOff[s], fRow = fOff[s] >= 0 ? nE + fOff[s] : -1, sRow = sOff[s] >= 0 ? nE + nF + sOff[s] : -1;
                if (eRow < 0 && fRow < 0 && sRow < 0) return scratch;
                var d = store.Descriptor.Compute(st, fRow >= 0 || sRow >= 0);
                PolynomialFit.FillStructure(st, d, elements, order, k, per, cols, mean, scale, Unit, eRow, fRow, sRow, a, b, scratch);
                Interlocked.Add(ref pairs, d.Neighbors.PairCount);
                return scratch;
            }, _ => { }));
            (_nE, _nF, _nS, _pairs) = (nE, nF, nS, pairs);
            RowSeconds += (PhaseTimes.Cpu() - cpu0).TotalSeconds;
            RowWallSeconds += Stopwatch.GetElapsedTime(wall0).TotalSeconds;
        }

        /// <summary>Folds the rows of the last <see cref="Build"/> into <paramref name="factors"/>.</summary>
        public void Fold(RowClassFactors factors) => Fold(factors, _nE, _nF, _nS, _pairs, A, B);

        /// <summary>Folds rows built elsewhere (another rank's <see cref="Build"/>: <paramref name="a"/>, <paramref name="b"/>, the classes' row counts) into <paramref name="factors"/>.</summary>
        public void Fold(RowClassFactors factors, int nE, int nF, int nS, long pairs, ReadOnlySpan<double> a, ReadOnlySpan<double> b)
        {
            int cols = Columns;
            var cpu0 = PhaseTimes.Cpu();
            long wall0 = Stopwatch.GetTimestamp();
            factors.AddRows(RowClass.Energy, a[..(nE * cols)], b[..nE], nE);
            factors.AddRows(RowClass.Force, a.Slice(nE * cols, nF * cols), b.Slice(nE, nF), nF);
            factors.AddRows(RowClass.Stress, a.Slice((nE + nF) * cols, nS * cols), b.Slice(nE + nF, nS), nS);
            FoldSeconds += (PhaseTimes.Cpu() - cpu0).TotalSeconds;
            FoldWallSeconds += Stopwatch.GetElapsedTime(wall0).TotalSeconds;
            Pairs += pairs;
            RowCount += nE + nF + nS;
        }
    }

    /// <summary>
    /// <c>mlip descriptors DATA --store DIR [--order N]</c>: the feature chunks of the store and, for <paramref name="order"/> 1 or 2,
    /// the factors of a fit with energy and force rows (and stress rows with <paramref name="stress"/>), as <c>mlip train</c> with the
    /// same data, descriptor and store would make them (normalised features). Returns the store.
    /// </summary>
    public static DescriptorStore BuildStore(string root, DescriptorSpec spec, IDescriptor descriptor, IReadOnlyList<Structure> structures,
        int order, bool stress, int chunkAtoms, int threads, TextWriter log, IProgress<WorkProgress>? progress = null, ICommunicator? communicator = null)
    {
        if (order is < 0 or > 2) throw new MlipException($"--order is 1 (linear) or 2 (quadratic), got {order}");
        var comm = communicator ?? SingleProcess.Instance;
        var store = DescriptorStore.Open(root, spec, descriptor, structures, chunkAtoms);
        if (order == 0)
        {
            int done = store.FeatureChunksDone();
            // under MPI each rank its contiguous share of the chunks, as Factorise splits them
            var (first, end) = Collectives.Share(store.ChunkCount, comm.Rank, comm.Size);
            store.EnsureFeatures(threads, progress, Enumerable.Range(first, end - first));
            comm.Barrier(); // every chunk is on disk before rank 0 reports
            log.WriteLine(done == store.ChunkCount ? $"descriptor store: reusing the features of {store.Describe()}"
                : $"descriptor store: features of {store.Describe()}" + (comm.Size > 1 ? $", computed by {comm.Size} ranks" : ""));
            return store;
        }
        RowClass[] classes = stress ? [RowClass.Energy, RowClass.Force, RowClass.Stress] : [RowClass.Energy, RowClass.Force];
        Factorise(store, order, true, classes, new StreamingOptions { Threads = threads, Communicator = comm }, log, progress);
        return store;
    }

    private static string DescribeRows(RowClassFactors f) =>
        string.Join(", ", f.Classes.Select(c => string.Create(CultureInfo.InvariantCulture, $"{f.RowsOf(c)} {c.ToString().ToLowerInvariant()} rows")));

    /// <summary>
    /// The factors of the first pieces of this rank's rows (the chunks in one process) and the next piece: from the checkpoint when
    /// it is valid, else empty at piece 0. An MPI rank's checkpoint is named by its range of structures, so it is never read by a
    /// run that split the rows otherwise.
    /// </summary>
    private static (RowClassFactors Factors, int FirstPiece) ResumeOrStart(DescriptorStore store, string checkpoint, string key, int cols, IReadOnlyList<RowClass> classes,
        StreamingOptions options, TextWriter log, int pieces)
    {
        if (File.Exists(checkpoint))
        {
            try
            {
                using var fs = File.OpenRead(checkpoint);
                Span<byte> header = stackalloc byte[8];
                fs.ReadExactly(header);
                if (BinaryPrimitives.ReadUInt32LittleEndian(header) == CheckpointMagic)
                {
                    int done = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
                    var state = new double[3][];
                    Span<byte> len = stackalloc byte[8];
                    for (int c = 0; c < 3; c++)
                    {
                        fs.ReadExactly(len);
                        long count = BinaryPrimitives.ReadInt64LittleEndian(len);
                        state[c] = new double[count];
                        fs.ReadExactly(MemoryMarshal.AsBytes(state[c].AsSpan()));
                    }
                    var factors = RowClassFactors.FromState(state, options.Backend, options.Threads);
                    // a rank's checkpoint may hold its whole share (written before the merge): done == pieces
                    if (factors.Columns == cols && factors.Classes.SequenceEqual(classes.Order()) && done > 0 && done <= pieces && (done < pieces || options.Communicator.Size > 1))
                    {
                        log.WriteLine(options.Communicator.Size == 1
                            ? $"descriptor store: resuming the factorisation {key} after chunk {done} of {store.ChunkCount}"
                            : $"descriptor store: resuming the factorisation {key}: rank 0 after {done} of the {pieces} pieces of its structures");
                        return (factors, done);
                    }
                }
            }
            catch (Exception e) when (e is IOException or ArgumentException or EndOfStreamException)
            {
                log.WriteLine($"descriptor store: ignoring the unreadable checkpoint {checkpoint} ({e.Message})");
            }
        }
        return (new RowClassFactors(cols, classes, options.Backend, options.Threads), 0);
    }

    private static void WriteCheckpoint(string path, int chunksDone, RowClassFactors factors)
    {
        var state = factors.SaveState();
        AtomicFile.Write(path, stream =>
        {
            Span<byte> header = stackalloc byte[8];
            BinaryPrimitives.WriteUInt32LittleEndian(header, CheckpointMagic);
            BinaryPrimitives.WriteInt32LittleEndian(header[4..], chunksDone);
            stream.Write(header);
            foreach (var part in state)
            {
                BinaryPrimitives.WriteInt64LittleEndian(header, part.LongLength);
                stream.Write(header);
                stream.Write(MemoryMarshal.AsBytes(part.AsSpan()));
            }
        });
    }

    private static readonly byte[] FileMagic = "MLIPTSQR"u8.ToArray();

    /// <summary>Writes a factorisation: magic, JSON header (order, normalisation, elements, features, mean, scale), the flat factors.</summary>
    private static void Save(string path, LinearFactorization f, DescriptorStore store)
    {
        var header = new JsonObject
        {
            ["order"] = f.Order,
            ["normalize"] = f.Normalize,
            ["elements"] = new JsonArray([.. f.Elements.Select(e => (JsonNode)e)]),
            ["features"] = f.FeatureCount,
            ["mean"] = new JsonArray([.. f.Mean.Select(v => (JsonNode)v)]),
            ["scale"] = new JsonArray([.. f.Scale.Select(v => (JsonNode)v)]),
            ["data_hash"] = store.DataHash,
            ["spec_hash"] = store.SpecKey,
        };
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var flat = f.Factors.ToFlat();
        AtomicFile.Write(path, stream =>
        {
            stream.Write(FileMagic);
            Span<byte> n = stackalloc byte[8];
            BinaryPrimitives.WriteInt32LittleEndian(n, json.Length);
            stream.Write(n[..4]);
            stream.Write(json);
            BinaryPrimitives.WriteInt64LittleEndian(n, flat.LongLength);
            stream.Write(n);
            stream.Write(MemoryMarshal.AsBytes(flat.AsSpan()));
        });
    }

    /// <summary>Reads a factorisation written by a fit (the file <c>factors/KEY.tsqr</c> of a store).</summary>
    public static LinearFactorization Load(string path, StreamingOptions? options = null)
    {
        options ??= new StreamingOptions();
        try
        {
            using var fs = File.OpenRead(path);
            Span<byte> magic = stackalloc byte[8];
            fs.ReadExactly(magic);
            if (!magic.SequenceEqual(FileMagic)) throw new FileFormatException(new InputLocation(path, 0), "not an Mlip factor file");
            Span<byte> n = stackalloc byte[8];
            fs.ReadExactly(n[..4]);
            var json = new byte[BinaryPrimitives.ReadInt32LittleEndian(n)];
            fs.ReadExactly(json);
            var h = JsonNode.Parse(json)!.AsObject();
            fs.ReadExactly(n);
            var flat = new double[BinaryPrimitives.ReadInt64LittleEndian(n)];
            fs.ReadExactly(MemoryMarshal.AsBytes(flat.AsSpan()));
            return new LinearFactorization(h["order"]!.GetValue<int>(), h["normalize"]!.GetValue<bool>(),
                [.. h["elements"]!.AsArray().Select(e => e!.GetValue<int>())], h["features"]!.GetValue<int>(),
                [.. h["mean"]!.AsArray().Select(e => e!.GetValue<double>())], [.. h["scale"]!.AsArray().Select(e => e!.GetValue<double>())],
                RowClassFactors.FromFlat(flat, options.Backend, options.Threads));
        }
        catch (Exception e) when (e is EndOfStreamException or JsonException or ArgumentException or NullReferenceException or InvalidOperationException or OverflowException)
        {
            throw new FileFormatException(new InputLocation(path, 0), $"unreadable factor file ({e.Message}); delete it to recompute it");
        }
    }
}
