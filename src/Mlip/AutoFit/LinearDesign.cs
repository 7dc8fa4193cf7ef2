using System.Diagnostics;
using System.Numerics.Tensors;
using Mlip.Descriptors;
using Mlip.Distributed;
using Mlip.Structures;
using Mlip.Training;
using Mlip.Validation;

namespace Mlip.AutoFit;

/// <summary>One validation structure's unweighted rows (energy per atom, forces, stress) and targets, kept to score candidates.</summary>
/// <remarks>The rows are kept in float32 (half the memory; a prediction's rounding error is ~1e-7 of its largest term,
/// far below the errors scored); the normal-equation blocks are accumulated from the float64 rows.</remarks>
public sealed record ValidationRows(int Structure, int Fold, string Group, float[] A, double[] B, int EnergyRows, int ForceRows, int StressRows, double RootWeight);

/// <summary>
/// A descriptor's linear (order 1) or quadratic (order 2) design over the training structures, computed once and
/// shared by every candidate on it: the normal-equation blocks per validation fold and row class, the rows of the
/// validation structures, the feature standardisation (over the training structures' features; no labels) and the
/// column layout of <see cref="Models.PolynomialModel"/>.
/// </summary>
public sealed class LinearDesign
{
    public required IDescriptor Descriptor { get; init; }
    public required int Order { get; init; }
    public required int[] Elements { get; init; }
    public required double[] Mean { get; init; }
    public required double[] Scale { get; init; }
    public required NormalEquationBlocks Blocks { get; init; }
    public required IReadOnlyList<ValidationRows> Validation { get; init; }
    public required TimeSpan BuildTime { get; init; }

    public int Features => Descriptor.FeatureCount;
    public int PerElement => Models.PolynomialModel.CoefficientsPerElement(Order, Features);
    public int Columns => Elements.Length * PerElement;

    /// <summary>Bytes the design holds: its normal-equation blocks and its validation rows.</summary>
    public long Bytes => Blocks.Bytes + Validation.Sum(v => (long)v.A.Length * sizeof(float) + (long)v.B.Length * sizeof(double));

    /// <summary>
    /// Builds the design: a first pass computes the features alone (no derivatives) for the standardisation; a second
    /// pass computes, for at most <paramref name="threads"/> structures at a time, their derivative blocks and rows and
    /// folds the rows into the normal-equation blocks before the next structures are computed. What it holds at its
    /// peak is the blocks, the validation rows and one batch of structures (<see cref="MemoryOf"/>): the derivative
    /// blocks of all structures are never held at once.
    /// </summary>
    /// <remarks>
    /// Under MPI (<paramref name="comm"/> of several ranks; every rank calls this with the same arguments) each rank computes the
    /// features, derivative blocks and rows of a contiguous share of the structures (<see cref="Collectives.Share(ICommunicator, int)"/>)
    /// into blocks of its own; the feature statistics are merged over the ranks, and rank 0 receives the other ranks' blocks
    /// (added in rank order, block by block) and validation rows: rank 0's design is the whole one, the other ranks' are their
    /// shares only (they do not solve). The feature statistics are the one process's bit for bit (every rank's features gathered
    /// and added atom by atom in structure order) and so are the rows; the blocks' chunks are the one process's and their sums
    /// are compensated (<see cref="NormalEquationBlocks"/>), so rank 0's design equals the one process's to the last bit but for
    /// a sum lying within ~2⁻⁹⁷ of a rounding midpoint.
    /// </remarks>
    public static LinearDesign Build(IDescriptor descriptor, int order, IReadOnlyList<Structure> structures, ValidationFolds folds,
        int threads, IProgress<WorkProgress>? progress = null, ICommunicator? comm = null)
    {
        var clock = Stopwatch.StartNew();
        comm ??= SingleProcess.Instance;
        var phases = new PhaseTimes(comm, Console.Error); // MLIP_PHASE_TIMES=1: the phases on stderr (every rank under MPI)
        int k = descriptor.FeatureCount;
        int per = Models.PolynomialModel.CoefficientsPerElement(order, k);
        int[] elements = [.. structures.SelectMany(s => s.AtomicNumbers).Distinct().Order()];
        int cols = elements.Length * per;
        var (first, end) = comm.Share(structures.Count);
        var share = comm.Size == 1 ? structures : [.. structures.Skip(first).Take(end - first)];
        var values = DatasetDescriptors.Compute(descriptor, share, false, threads);
        var (mean, scale) = comm.Size == 1 ? new TrainingSet(share, values).FeatureStatistics()
            : DistributedFit.FeatureStatisticsInOrder(comm, new TrainingSet(share, values), k);
        values = null;
        Reclaim(); // the features of the first pass, before the blocks are allocated
        phases.Mark("fit design: features and statistics");

        var blocks = comm.Size == 1 ? new NormalEquationBlocks(cols, folds.Count, threads)
            : new NormalEquationBlocks(cols, folds.Count, threads, BlockRows(structures, folds, 0, first), BlockRows(structures, folds, 0, structures.Count));
        var validated = new HashSet<int>(folds.Validated);
        var kept = new List<ValidationRows>();
        var unit = new LossWeights { Energy = 1, Force = 1, Stress = 1 };
        int batch = Math.Max(1, Math.Min(threads, Math.Max(1, end - first)));
        int maxRows = structures.Count == 0 ? 0 : structures.Max(st => RowsOf(st).Total);
        // one row buffer per structure of a batch, reused (zeroed) for every structure
        var slots = new double[batch][];
        for (int q = 0; q < batch; q++) slots[q] = new double[(long)maxRows * cols];
        var targets = new double[batch][];
        var counts = new (int E, int F, int S)[batch];
        var po = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) };
        long garbage = 0; // derivative bytes of the batches folded in since the last collection
        for (int start = first; start < end; start += batch)
        {
            int count = Math.Min(batch, end - start);
            long derivativeBytes = 0;
            MlipParallel.For(0, count, po, q =>
            {
                var st = structures[start + q];
                var (e, f, s, rows) = RowsOf(st);
                var a = slots[q].AsSpan(0, rows * cols);
                a.Clear();
                var b = new double[rows];
                if (rows > 0)
                {
                    var d = descriptor.Compute(st, f + s > 0);
                    Interlocked.Add(ref derivativeBytes, 8L * (d.PairGradients?.LongLength ?? 0));
                    PolynomialFit.FillStructure(st, d, elements, order, k, per, cols, mean, scale, unit,
                        e > 0 ? 0 : -1, f > 0 ? e : -1, s > 0 ? e + f : -1, slots[q], b, new PolynomialFit.RowScratch(k, per));
                }
                targets[q] = b;
                counts[q] = (e, f, s);
            });
            for (int q = 0; q < count; q++)
            {
                int si = start + q;
                var b = targets[q];
                var (e, f, s) = counts[q];
                var a = slots[q];
                int fold = folds.FoldOf[si];
                for (int r = 0; r < b.Length; r++)
                {
                    var cls = r < e ? RowClass.Energy : r < e + f ? RowClass.Force : RowClass.Stress;
                    blocks.Add(fold, cls, a.AsSpan((int)((long)r * cols), cols), b[r]);
                }
                if (validated.Contains(fold) && b.Length > 0)
                {
                    var a32 = new float[(long)b.Length * cols];
                    TensorPrimitives.ConvertTruncating<double, float>(a.AsSpan(0, b.Length * cols), a32);
                    kept.Add(new ValidationRows(si, fold, structures[si].Group ?? "(none)", a32, b, e, f, s, Math.Sqrt(structures[si].Weight)));
                }
                targets[q] = null!;
            }
            // the batch's derivative blocks are garbage now: once the batches since the last collection left
            // ReclaimAboveBytes of them, they are reclaimed before the next batch allocates its own, so the process holds
            // one batch's blocks and at most that much garbage, not as much as the collector would let pile up (on the
            // mlearn Si subsets of docs/fit.md 0.3-0.5 GB of small bases' blocks, which no single batch reached 64 MB with)
            garbage += derivativeBytes;
            if (garbage >= ReclaimAboveBytes)
            {
                Reclaim();
                garbage = 0;
            }
            progress?.Report(new WorkProgress(start + count - first, end - first, clock.Elapsed));
        }
        blocks.Complete();
        phases.Mark(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"fit design: descriptors, rows and normal-equation blocks of structures {first}..{end - 1}"));
        if (comm.Size > 1)
        {
            blocks.ReduceToRoot(comm);
            kept = GatherToRoot(comm, kept);
            phases.Mark("fit design: blocks and validation rows to rank 0");
        }
        return new LinearDesign
        {
            Descriptor = descriptor, Order = order, Elements = elements, Mean = mean, Scale = scale,
            Blocks = blocks, Validation = kept, BuildTime = clock.Elapsed,
        };
    }

    /// <summary>Rows of each (fold, class) block that the structures <paramref name="from"/>..<paramref name="to"/> − 1 add.</summary>
    private static long[,] BlockRows(IReadOnlyList<Structure> structures, ValidationFolds folds, int from, int to)
    {
        var rows = new long[folds.Count, 3];
        for (int s = from; s < to; s++)
        {
            var (e, f, st, _) = RowsOf(structures[s]);
            int fold = folds.FoldOf[s];
            rows[fold, 0] += e;
            rows[fold, 1] += f;
            rows[fold, 2] += st;
        }
        return rows;
    }

    /// <summary>Every rank's validation rows on rank 0, in rank order (the structures' order: the shares are contiguous); the others keep theirs.</summary>
    private static List<ValidationRows> GatherToRoot(ICommunicator comm, List<ValidationRows> kept)
    {
        if (!comm.IsRoot)
        {
            using var ms = new MemoryStream();
            using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true))
            {
                w.Write(kept.Count);
                foreach (var v in kept)
                {
                    w.Write(v.Structure); w.Write(v.Fold); w.Write(v.Group);
                    w.Write(v.EnergyRows); w.Write(v.ForceRows); w.Write(v.StressRows); w.Write(v.RootWeight);
                    w.Write(v.A.Length); w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.A.AsSpan()));
                    w.Write(v.B.Length); w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.B.AsSpan()));
                }
            }
            comm.Send(ms.ToArray(), 0);
            return kept;
        }
        var all = new List<ValidationRows>(kept);
        for (int r = 1; r < comm.Size; r++)
        {
            using var reader = new BinaryReader(new MemoryStream(comm.Receive(r)));
            int n = reader.ReadInt32();
            for (int i = 0; i < n; i++)
            {
                int structure = reader.ReadInt32(), fold = reader.ReadInt32();
                string group = reader.ReadString();
                int e = reader.ReadInt32(), f = reader.ReadInt32(), st = reader.ReadInt32();
                double rootWeight = reader.ReadDouble();
                var a = new float[reader.ReadInt32()];
                reader.BaseStream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()));
                var b = new double[reader.ReadInt32()];
                reader.BaseStream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(b.AsSpan()));
                all.Add(new ValidationRows(structure, fold, group, a, b, e, f, st, rootWeight));
            }
        }
        return all;
    }

    /// <summary>Derivative blocks left as garbage by the batches since the last collection that make the build collect (<see cref="DesignMemory.Garbage"/>).</summary>
    internal const long ReclaimAboveBytes = 64L << 20;

    private static void Reclaim() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);

    /// <summary>A structure's energy, force and stress rows (none when its weight is 0).</summary>
    public static (int Energy, int Force, int Stress, int Total) RowsOf(Structure st)
    {
        int e = st.Energy is not null && st.Weight > 0 ? 1 : 0;
        int f = st.Forces is not null && st.Weight > 0 ? 3 * st.Count : 0;
        int s = st.Stress is not null && st.Pbc.AllPeriodic && st.Weight > 0 ? 6 : 0;
        return (e, f, s, e + f + s);
    }

    /// <summary>
    /// Bytes a basis holds at its peak, phase by phase (docs/fit.md, "Memory of a basis"): the features of the first pass
    /// (atoms × features); then the normal-equation blocks, the validation rows (float32) and one batch in flight (per
    /// structure, at least two: the largest derivative block, its features, neighbour list and row buffer) with the garbage the build lets
    /// stand between its collections (<see cref="ReclaimAboveBytes"/>); then, during the descent, one
    /// p × p system per thread and the refit's besides the blocks and rows. The process (runtime, data) and the
    /// descriptor's tables come on top of every phase.
    /// </summary>
    /// <param name="columns">p, the design's column count.</param>
    /// <param name="features">The descriptor's feature count.</param>
    /// <param name="folds">Validation folds (blocks per fold and class).</param>
    /// <param name="threads">Structures in flight and systems solved at once.</param>
    /// <param name="atoms">Atoms of the training set.</param>
    /// <param name="validatedRows">Rows of the validated folds, kept to score candidates.</param>
    /// <param name="maxRows">Rows of the largest structure.</param>
    /// <param name="maxDerivativeBytes">Bytes of the largest structure's derivative blocks.</param>
    /// <param name="maxAtoms">Atoms of the largest structure (its features).</param>
    /// <param name="maxPairs">Pairs of the structure with the most pairs (its neighbour list).</param>
    /// <param name="processBytes">What the process holds besides the basis (<see cref="FitMemory.ProcessBytes"/>).</param>
    /// <param name="tableBytes">The descriptor's own tables (what its construction allocated).</param>
    public static DesignMemory MemoryOf(long columns, long features, int folds, int threads, long atoms, long validatedRows, long maxRows, long maxDerivativeBytes,
        long maxAtoms = 0, long maxPairs = 0, long processBytes = 0, long tableBytes = 0)
    {
        int t = Math.Max(1, threads);
        long blocks = NormalEquationBlocks.BytesOf(columns, folds);
        long validation = validatedRows * columns * sizeof(float);
        long structure = maxDerivativeBytes + maxAtoms * features * sizeof(double) + maxPairs * FitMemory.NeighborBytesPerPair;
        // at least two structures: the estimate's own two probe structures come before the build, and the runtime keeps
        // their memory for reuse rather than giving it back (one thread on ACE L3 at 7.5 Å: 0.66 GB resident after them)
        long inFlight = Math.Max(t, 2) * structure + t * maxRows * columns * sizeof(double);
        // between two collections: less than ReclaimAboveBytes of earlier batches' blocks (the batch that passes it is
        // collected before the next one allocates)
        long garbage = ReclaimAboveBytes;
        long solves = (t + 1) * columns * columns * sizeof(double);
        return new DesignMemory(atoms * features * sizeof(double), blocks, validation, inFlight, solves, processBytes, garbage, tableBytes);
    }

    /// <summary>The validation errors of coefficient vectors (one per validated fold, each fitted without its fold), overall and per group.</summary>
    public ValidationErrors Score(IReadOnlyDictionary<int, double[]> coefficientsByFold)
    {
        var all = new ErrorSums();
        var groups = new SortedDictionary<string, ErrorSums>(StringComparer.Ordinal);
        foreach (var v in Validation)
        {
            var x = coefficientsByFold[v.Fold];
            if (!groups.TryGetValue(v.Group, out var g)) groups[v.Group] = g = new ErrorSums();
            int cols = x.Length;
            for (int r = 0; r < v.B.Length; r++)
            {
                var row = v.A.AsSpan(r * cols, cols);
                double dot = 0;
                for (int j = 0; j < cols; j++) dot += row[j] * x[j];
                double d = (dot - v.B[r]) / v.RootWeight;
                var cls = r < v.EnergyRows ? RowClass.Energy : r < v.EnergyRows + v.ForceRows ? RowClass.Force : RowClass.Stress;
                if (cls == RowClass.Energy) d *= 1000; // meV/atom
                all.Add(cls, d);
                g.Add(cls, d);
            }
            all.Structures++;
            g.Structures++;
        }
        return new ValidationErrors(all.Result(), [.. groups.Select(kv => new KeyValuePair<string, ErrorMetrics>(kv.Key, kv.Value.Result()))]);
    }

    private sealed class ErrorSums
    {
        private readonly double[] _abs = new double[3], _sq = new double[3];
        private readonly long[] _n = new long[3];
        public int Structures;

        public void Add(RowClass c, double d)
        {
            _abs[(int)c] += Math.Abs(d);
            _sq[(int)c] += d * d;
            _n[(int)c]++;
        }

        private double? Mae(int c) => _n[c] > 0 ? _abs[c] / _n[c] : null;
        private double? Rmse(int c) => _n[c] > 0 ? Math.Sqrt(_sq[c] / _n[c]) : null;

        public ErrorMetrics Result() => new(Structures, 0, Mae(0), Rmse(0), Mae(1), Rmse(1), Mae(2), Rmse(2));
    }
}

/// <summary>What a basis holds, by phase (bytes): <see cref="Peak"/> is the largest of the three phases with the process and the descriptor's tables.</summary>
public sealed record DesignMemory(long Features, long Blocks, long ValidationRows, long InFlight, long Solves, long Process = 0, long Garbage = 0, long Tables = 0)
{
    /// <summary>The process and the tables, and the largest of: the features of the first pass; the blocks, rows, a batch of
    /// structures and the garbage between collections; the blocks, rows and solves.</summary>
    public long Peak => Process + Tables + Math.Max(Features, Math.Max(Blocks + ValidationRows + InFlight + Garbage, Blocks + ValidationRows + Solves));

    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{Peak / 1e9:F2} GB (process and data {Process / 1e9:F2}, blocks {Blocks / 1e9:F2}, validation rows {ValidationRows / 1e9:F2}, structures in flight {InFlight / 1e9:F2}, garbage {Garbage / 1e9:F2}, solves {Solves / 1e9:F2}, first-pass features {Features / 1e9:F2}, descriptor tables {Tables / 1e9:F2})");
}

/// <summary>A candidate's validation errors: overall and per config_type group.</summary>
public sealed record ValidationErrors(ErrorMetrics Overall, IReadOnlyList<KeyValuePair<string, ErrorMetrics>> Groups);
