using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace Mlip.Interop;

/// <summary>
/// Writes NumPy .npy arrays (format version 1.0, little-endian, C order) and .npz archives of them,
/// so that Python users can <c>numpy.load</c> what Mlip computes. Files are written atomically.
/// </summary>
public static class NumpyFile
{
    /// <summary>One named array: float64 or int64 data with a shape whose product is the length.</summary>
    public sealed record Array(string Name, int[] Shape, double[]? Doubles = null, long[]? Longs = null)
    {
        public static Array Of(string name, double[] data, params int[] shape) => new(name, shape, data);
        public static Array Of(string name, long[] data, params int[] shape) => new(name, shape, null, data);
        public static Array Of(string name, int[] data, params int[] shape) => new(name, shape, null, System.Array.ConvertAll(data, x => (long)x));
    }

    public static void WriteNpy(string path, Array a) =>
        IO.AtomicFile.Write(path, stream => WriteArray(stream, a));

    /// <summary>An .npz archive (zip of NAME.npy entries), deflate-compressed when <paramref name="compress"/>.</summary>
    public static void WriteNpz(string path, IReadOnlyList<Array> arrays, bool compress = false) =>
        IO.AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var a in arrays)
            {
                var entry = zip.CreateEntry(a.Name + ".npy", compress ? CompressionLevel.Fastest : CompressionLevel.NoCompression);
                using var es = entry.Open();
                WriteArray(es, a);
            }
        });

    public static void WriteArray(Stream stream, Array a)
    {
        long count = 1;
        foreach (int dim in a.Shape) count *= dim;
        long length = a.Doubles?.LongLength ?? a.Longs?.LongLength ?? throw new ArgumentException("array has no data");
        if (count != length) throw new ArgumentException($"shape ({string.Join(", ", a.Shape)}) does not match {length} values of '{a.Name}'");
        string descr = a.Doubles is not null ? "<f8" : "<i8";
        string shape = a.Shape.Length == 1
            ? $"({a.Shape[0].ToString(CultureInfo.InvariantCulture)},)"
            : "(" + string.Join(", ", a.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")";
        string header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        int total = 10 + header.Length + 1;
        int pad = (64 - total % 64) % 64;
        header = header + new string(' ', pad) + "\n";
        var bw = new BinaryWriter(stream, Encoding.ASCII, leaveOpen: true);
        bw.Write((byte)0x93);
        bw.Write("NUMPY"u8.ToArray());
        bw.Write((byte)1); bw.Write((byte)0);
        bw.Write((ushort)header.Length);
        bw.Write(Encoding.ASCII.GetBytes(header));
        bw.Flush();
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian machines are not supported");
        const int chunk = 1 << 16;
        if (a.Doubles is { } d)
            for (long off = 0; off < d.LongLength; off += chunk)
                stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(d.AsSpan((int)off, (int)Math.Min(chunk, d.LongLength - off))));
        else
        {
            var l = a.Longs!;
            for (long off = 0; off < l.LongLength; off += chunk)
                stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(l.AsSpan((int)off, (int)Math.Min(chunk, l.LongLength - off))));
        }
    }
}
