using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
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

    /// <summary>Solves for loss weights <paramref name="loss"/> and ridge <paramref name="ridge"/> (see <see cref="RowClassFactors.Solve"/>).</summary>
    public FactoredSolution Solve(LossWeights loss, double[] ridge, ILeastSquaresSolver solver) => Factors.Solve(loss, ridge, solver);

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
public static class StreamingLinearFit
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
        string key = LinearFactorization.Key(order, normalize, classes);
        string path = store.FactorPath(key);
        if (File.Exists(path))
        {
            var loaded = Load(path, options);
            log.WriteLine($"descriptor store: reusing {store.Describe()}: factors {key} ({DescribeRows(loaded.Factors)}); descriptors not recomputed");
            return loaded;
        }

        var clock = Stopwatch.StartNew();
        int k = store.Descriptor.FeatureCount;
        int featureChunks = store.FeatureChunksDone();
        log.WriteLine(featureChunks == store.ChunkCount
            ? $"descriptor store: reusing the features of {store.Describe()}"
            : $"descriptor store: {store.Describe()}: computing features ({featureChunks} of {store.ChunkCount} chunks on disk)");
        store.EnsureFeatures(options.Threads, progress);
        var (mean, scale) = normalize ? store.FeatureStatistics() : (new double[k], Enumerable.Repeat(1.0, k).ToArray());
        int[] elements = store.Elements;
        int per = PolynomialModel.CoefficientsPerElement(order, k), cols = elements.Length * per;

        var (factors, firstChunk) = ResumeOrStart(store, key, cols, classes, options, log);
        var rowsOfChunk = new ChunkRows(store, order, mean, scale, classes, options.Threads, cancel);
        var lastCheckpoint = Stopwatch.StartNew();
        int structuresDone = store.Chunk(firstChunk).Start;
        for (int c = firstChunk; c < store.ChunkCount; c++)
        {
            cancel.ThrowIfCancellationRequested();
            var (_, end) = store.Chunk(c);
            rowsOfChunk.AddTo(factors, c);
            structuresDone = end;
            progress?.Report(new WorkProgress(structuresDone, store.Structures.Count, clock.Elapsed));
            if (c + 1 < store.ChunkCount && lastCheckpoint.Elapsed.TotalSeconds >= options.CheckpointSeconds)
            {
                WriteCheckpoint(store.CheckpointPath(key), c + 1, factors);
                lastCheckpoint.Restart();
            }
        }
        var result = new LinearFactorization(order, normalize, elements, k, mean, scale, factors);
        Save(path, result, store);
        File.Delete(store.CheckpointPath(key));
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"descriptor store: factorised {store.Structures.Count} structures in {clock.Elapsed.TotalSeconds:F1} s ({DescribeRows(factors)}, {cols} columns); wrote {path}"));
        return result;
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
            rows.AddTo(factors, c);
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

        public void AddTo(RowClassFactors factors, int chunk)
        {
            int k = _k, per = _per, cols = store.Elements.Length * per;
            int[] elements = store.Elements;
            var (start, end) = store.Chunk(chunk);
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
            var po = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads), CancellationToken = cancel };
            MlipParallel.Run(() => Parallel.For(0, n, po, () => new PolynomialFit.RowScratch(k, per), (s, _, scratch) =>
            {
                var st = store.Structures[start + s];
                int eRow = eOff[s], fRow = fOff[s] >= 0 ? nE + fOff[s] : -1, sRow = sOff[s] >= 0 ? nE + nF + sOff[s] : -1;
                if (eRow < 0 && fRow < 0 && sRow < 0) return scratch;
                var d = store.Descriptor.Compute(st, fRow >= 0 || sRow >= 0);
                PolynomialFit.FillStructure(st, d, elements, order, k, per, cols, mean, scale, Unit, eRow, fRow, sRow, a, b, scratch);
                return scratch;
            }, _ => { }));
            factors.AddRows(RowClass.Energy, a.AsSpan(0, nE * cols), b.AsSpan(0, nE), nE);
            factors.AddRows(RowClass.Force, a.AsSpan(nE * cols, nF * cols), b.AsSpan(nE, nF), nF);
            factors.AddRows(RowClass.Stress, a.AsSpan((nE + nF) * cols, nS * cols), b.AsSpan(nE + nF, nS), nS);
        }
    }

    /// <summary>
    /// <c>mlip descriptors DATA --store DIR [--order N]</c>: the feature chunks of the store and, for <paramref name="order"/> 1 or 2,
    /// the factors of a fit with energy and force rows (and stress rows with <paramref name="stress"/>), as <c>mlip train</c> with the
    /// same data, descriptor and store would make them (normalised features). Returns the store.
    /// </summary>
    public static DescriptorStore BuildStore(string root, DescriptorSpec spec, IDescriptor descriptor, IReadOnlyList<Structure> structures,
        int order, bool stress, int chunkAtoms, int threads, TextWriter log, IProgress<WorkProgress>? progress = null)
    {
        if (order is < 0 or > 2) throw new MlipException($"--order is 1 (linear) or 2 (quadratic), got {order}");
        var store = DescriptorStore.Open(root, spec, descriptor, structures, chunkAtoms);
        if (order == 0)
        {
            int done = store.FeatureChunksDone();
            store.EnsureFeatures(threads, progress);
            log.WriteLine(done == store.ChunkCount ? $"descriptor store: reusing the features of {store.Describe()}" : $"descriptor store: features of {store.Describe()}");
            return store;
        }
        RowClass[] classes = stress ? [RowClass.Energy, RowClass.Force, RowClass.Stress] : [RowClass.Energy, RowClass.Force];
        Factorise(store, order, true, classes, new StreamingOptions { Threads = threads }, log, progress);
        return store;
    }

    private static string DescribeRows(RowClassFactors f) =>
        string.Join(", ", f.Classes.Select(c => string.Create(CultureInfo.InvariantCulture, $"{f.RowsOf(c)} {c.ToString().ToLowerInvariant()} rows")));

    private static (RowClassFactors Factors, int FirstChunk) ResumeOrStart(DescriptorStore store, string key, int cols, IReadOnlyList<RowClass> classes, StreamingOptions options, TextWriter log)
    {
        string checkpoint = store.CheckpointPath(key);
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
                    if (factors.Columns == cols && factors.Classes.SequenceEqual(classes.Order()) && done > 0 && done < store.ChunkCount)
                    {
                        log.WriteLine($"descriptor store: resuming the factorisation {key} after chunk {done} of {store.ChunkCount}");
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
