using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Numerics;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Training.Streaming;

/// <summary>
/// The descriptors of a data set on disk, keyed by the descriptor spec and a hash of the data, in chunks of whole structures
/// (docs/scale.md): <c>features/chunk-NNNNN.f64</c> (per-atom feature values of the chunk) and, for the linear and quadratic
/// fits, <c>factors/KEY.tsqr</c> (the per-row-class TSQR factors, from which any loss weights and ridge are re-solved
/// without the data). The per-pair derivative blocks are never kept (3 GB for a 327-function ACE on 13k atoms): the factors
/// are what the fits need.
/// </summary>
/// <remarks>
/// Every file is written atomically (temporary file, then renamed), so a killed run leaves only complete chunks, which a
/// second run keeps; a factorisation writes a checkpoint of its running state (at most once a minute) and resumes from it.
/// The folder of one data set and descriptor is <c>ROOT/SPECKEY-DATAKEY</c>, so one root serves several descriptors and data sets.
/// </remarks>
public sealed class DescriptorStore
{
    /// <summary>Default atoms per chunk.</summary>
    public const int DefaultChunkAtoms = 2048;

    private const uint FeatureMagic = 0x4641454D; // "MEAF"
    private readonly int[] _chunkStart; // first structure of each chunk, then Count

    private DescriptorStore(string root, string directory, IDescriptor descriptor, IReadOnlyList<Structure> structures, string specKey, string dataHash, int chunkAtoms)
    {
        Root = root;
        Directory = directory;
        Descriptor = descriptor;
        Structures = structures;
        SpecKey = specKey;
        DataHash = dataHash;
        ChunkAtoms = chunkAtoms;
        var starts = new List<int> { 0 };
        int atoms = 0;
        for (int s = 0; s < structures.Count; s++)
        {
            atoms += structures[s].Count;
            if (atoms >= chunkAtoms && s + 1 < structures.Count) { starts.Add(s + 1); atoms = 0; }
        }
        starts.Add(structures.Count);
        _chunkStart = [.. starts];
        Elements = [.. structures.SelectMany(s => s.AtomicNumbers).Distinct().Order()];
    }

    /// <summary>The folder given by the user (it may hold several stores).</summary>
    public string Root { get; }

    /// <summary>This data set's and descriptor's folder under <see cref="Root"/>.</summary>
    public string Directory { get; }

    public IDescriptor Descriptor { get; }
    public IReadOnlyList<Structure> Structures { get; }

    /// <summary>Hash of the descriptor spec and the elements (hex).</summary>
    public string SpecKey { get; }

    /// <summary>SHA-256 of the data (geometry, labels, weights, groups; hex).</summary>
    public string DataHash { get; }

    public int ChunkAtoms { get; }

    /// <summary>Atomic numbers of the data, increasing.</summary>
    public int[] Elements { get; }

    public int ChunkCount => _chunkStart.Length - 1;

    /// <summary>The structures of chunk <paramref name="c"/>: [start, end).</summary>
    public (int Start, int End) Chunk(int c) => (_chunkStart[c], _chunkStart[c + 1]);

    /// <summary>Opens (creating if needed) the store of <paramref name="structures"/> and <paramref name="descriptor"/> under <paramref name="root"/>.</summary>
    public static DescriptorStore Open(string root, DescriptorSpec spec, IDescriptor descriptor, IReadOnlyList<Structure> structures, int chunkAtoms = DefaultChunkAtoms)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (structures.Count == 0) throw new MlipException("no structures to store");
        if (chunkAtoms < 1) throw new MlipException($"store_chunk_atoms must be at least 1 (got {chunkAtoms})");
        string full = Path.GetFullPath(root);
        string specKey = SpecHash(spec, descriptor, structures);
        string dataHash = HashData(structures);
        string dir = Path.Combine(full, $"{specKey[..12]}-{dataHash[..12]}-c{chunkAtoms}");
        try
        {
            System.IO.Directory.CreateDirectory(Path.Combine(dir, "features"));
            System.IO.Directory.CreateDirectory(Path.Combine(dir, "factors"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MlipException($"descriptor store {full}: cannot create {dir}: {e.Message}");
        }
        var store = new DescriptorStore(full, dir, descriptor, structures, specKey, dataHash, chunkAtoms);
        string manifest = Path.Combine(dir, "store.json");
        if (!File.Exists(manifest))
        {
            AtomicFile.WriteJson(manifest, new JsonObject
            {
                ["format"] = "mlip descriptor store 1",
                ["descriptor"] = descriptor.Name,
                ["descriptor_type"] = spec.Type,
                ["descriptor_parameters"] = new JsonObject(spec.Parameters.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
                ["features"] = descriptor.FeatureCount,
                ["elements"] = new JsonArray([.. store.Elements.Select(e => (JsonNode)Mlip.Structures.Elements.Symbol(e))]),
                ["spec_hash"] = specKey,
                ["data_hash"] = dataHash,
                ["structures"] = structures.Count,
                ["atoms"] = structures.Sum(s => (long)s.Count),
                ["chunk_atoms"] = chunkAtoms,
                ["chunks"] = store.ChunkCount,
            });
        }
        return store;
    }

    /// <summary>Bytes of the files under <see cref="Directory"/>.</summary>
    public long DiskBytes() => new DirectoryInfo(Directory).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);

    /// <summary>One line for logs: "DIR (N structures, hash H)".</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture, $"{Directory} ({Structures.Count} structures, {ChunkCount} chunks, hash {DataHash[..12]})");

    private string FeaturePath(int c) => Path.Combine(Directory, "features", string.Create(CultureInfo.InvariantCulture, $"chunk-{c:D5}.f64"));

    /// <summary>Number of feature chunks already on disk.</summary>
    public int FeatureChunksDone() => Enumerable.Range(0, ChunkCount).Count(c => File.Exists(FeaturePath(c)));

    /// <summary>
    /// Computes and writes the per-atom features of every chunk (or of <paramref name="chunks"/>: one MPI rank's share) that is
    /// not on disk yet (values only, structures in parallel); returns how many chunks were computed.
    /// </summary>
    public int EnsureFeatures(int threads, IProgress<WorkProgress>? progress = null, IEnumerable<int>? chunks = null)
    {
        var clock = Stopwatch.StartNew();
        int computed = 0, doneStructures = 0;
        foreach (int c in chunks ?? Enumerable.Range(0, ChunkCount))
        {
            var (start, end) = Chunk(c);
            if (!File.Exists(FeaturePath(c)))
            {
                var chunk = Structures.Skip(start).Take(end - start).ToList();
                var sets = DatasetDescriptors.Compute(Descriptor, chunk, false, threads);
                WriteFeatures(FeaturePath(c), sets);
                computed++;
                MemoryTrace.Mark(string.Create(CultureInfo.InvariantCulture, $"features of chunk {c}"));
            }
            doneStructures += end - start;
            progress?.Report(new WorkProgress(doneStructures, Structures.Count, clock.Elapsed));
        }
        return computed;
    }

    private void WriteFeatures(string path, DescriptorSet[] sets)
    {
        int k = Descriptor.FeatureCount;
        AtomicFile.Write(path, stream =>
        {
            Span<byte> header = stackalloc byte[16];
            BinaryPrimitives.WriteUInt32LittleEndian(header, FeatureMagic);
            BinaryPrimitives.WriteInt32LittleEndian(header[4..], sets.Length);
            BinaryPrimitives.WriteInt32LittleEndian(header[8..], sets.Sum(s => s.Atoms));
            BinaryPrimitives.WriteInt32LittleEndian(header[12..], k);
            stream.Write(header);
            foreach (var s in sets)
            {
                if (s.Features != k) throw new InvalidOperationException("feature count changed");
                stream.Write(MemoryMarshal.AsBytes(s.Values.AsSpan()));
            }
        });
    }

    /// <summary>The per-atom features of chunk <paramref name="c"/> (atoms of its structures in order, row-major atoms × features).</summary>
    public double[] ReadFeatures(int c)
    {
        string path = FeaturePath(c);
        var (start, end) = Chunk(c);
        int atoms = 0;
        for (int s = start; s < end; s++) atoms += Structures[s].Count;
        int k = Descriptor.FeatureCount;
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            Span<byte> header = stackalloc byte[16];
            fs.ReadExactly(header);
            if (BinaryPrimitives.ReadUInt32LittleEndian(header) != FeatureMagic || BinaryPrimitives.ReadInt32LittleEndian(header[4..]) != end - start
                || BinaryPrimitives.ReadInt32LittleEndian(header[8..]) != atoms || BinaryPrimitives.ReadInt32LittleEndian(header[12..]) != k
                || fs.Length != 16 + 8L * atoms * k)
                throw new FileFormatException(new InputLocation(path, 0), "not the feature chunk this store expects (delete the store folder to rebuild it)");
            var values = new double[(long)atoms * k];
            fs.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
            return values;
        }
        catch (EndOfStreamException)
        {
            throw new FileFormatException(new InputLocation(path, 0), "truncated feature chunk (delete it to recompute it)");
        }
    }

    /// <summary>
    /// Mean and standard deviation of every feature over all atoms, from the feature chunks (<see cref="ColumnStatistics"/> fed the
    /// atoms in the same order as <see cref="TrainingSet.FeatureStatistics"/>, so the same numbers bit for bit).
    /// </summary>
    public (double[] Mean, double[] Scale) FeatureStatistics()
    {
        var stats = FeatureColumnStatistics(Enumerable.Range(0, ChunkCount));
        return (stats.Mean(), stats.Scale());
    }

    /// <summary>The running statistics of the features over the chunks <paramref name="chunks"/> in order (one MPI rank's share; merged over ranks in rank order they give the statistics).</summary>
    public ColumnStatistics FeatureColumnStatistics(IEnumerable<int> chunks)
    {
        var stats = new ColumnStatistics(Descriptor.FeatureCount);
        foreach (int c in chunks) stats.AddRows(ReadFeatures(c));
        return stats;
    }

    /// <summary>The path of the factor file named <paramref name="key"/>.</summary>
    public string FactorPath(string key) => Path.Combine(Directory, "factors", key + ".tsqr");

    /// <summary>The path of the checkpoint of an unfinished factorisation named <paramref name="key"/>.</summary>
    public string CheckpointPath(string key) => Path.Combine(Directory, "factors", key + ".partial");

    private static string SpecHash(DescriptorSpec spec, IDescriptor descriptor, IReadOnlyList<Structure> structures)
    {
        var text = new StringBuilder();
        text.Append(spec.Type.ToLowerInvariant()).Append('|').Append(descriptor.Name).Append('|').Append(descriptor.FeatureCount).Append('|')
            .Append(descriptor.Cutoff.ToString("R", CultureInfo.InvariantCulture));
        foreach (var (key, value) in spec.Parameters.OrderBy(p => p.Key, StringComparer.OrdinalIgnoreCase))
            text.Append('|').Append(key.ToLowerInvariant()).Append('=').Append(value);
        foreach (int z in structures.SelectMany(s => s.AtomicNumbers).Distinct().Order()) text.Append("|Z").Append(z);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>SHA-256 over every structure's atoms, cell, periodicity, labels, weight and group.</summary>
    public static string HashData(IReadOnlyList<Structure> structures)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new List<double>(1024);
        void Flush()
        {
            hash.AppendData(MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(buffer)));
            buffer.Clear();
        }
        foreach (var s in structures)
        {
            buffer.Add(s.Count);
            foreach (int z in s.AtomicNumbers) buffer.Add(z);
            foreach (var r in s.Positions) { buffer.Add(r.X); buffer.Add(r.Y); buffer.Add(r.Z); }
            var cell = s.Cell;
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) buffer.Add(cell[i, j]);
            buffer.Add((s.Pbc.A ? 1 : 0) + (s.Pbc.B ? 2 : 0) + (s.Pbc.C ? 4 : 0));
            buffer.Add(s.Energy ?? double.NaN);
            if (s.Forces is { } f) foreach (var v in f) { buffer.Add(v.X); buffer.Add(v.Y); buffer.Add(v.Z); }
            else buffer.Add(double.NaN);
            if (s.Stress is { } st) buffer.AddRange(st.ToVoigt());
            else buffer.Add(double.NaN);
            buffer.Add(s.Weight);
            Flush();
            hash.AppendData(Encoding.UTF8.GetBytes((s.Group ?? "") + "\n"));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
