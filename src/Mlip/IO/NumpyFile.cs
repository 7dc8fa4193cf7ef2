using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace Mlip.IO;

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

    /// <summary>
    /// Reads the float64/int64 arrays (C order, little-endian, format 1.0–3.0) of an .npz archive, as <c>numpy.savez</c> writes
    /// them; other dtypes are refused naming the file and entry.
    /// </summary>
    public static IReadOnlyList<Array> ReadNpz(string path)
    {
        if (!File.Exists(path)) throw new Validation.MlipInputException(new Validation.InputLocation(path), "file not found");
        try
        {
            using var zip = ZipFile.OpenRead(path);
            var result = new List<Array>();
            foreach (var entry in zip.Entries)
            {
                if (!entry.FullName.EndsWith(".npy", StringComparison.Ordinal)) continue;
                using var es = entry.Open();
                using var ms = new MemoryStream();
                es.CopyTo(ms);
                result.Add(ReadArray(ms.ToArray(), entry.FullName[..^4], $"{path}:{entry.FullName}"));
            }
            return result;
        }
        catch (InvalidDataException e)
        {
            throw new Validation.MlipInputException(new Validation.InputLocation(path), $"not an .npz (zip) archive: {e.Message}");
        }
    }

    /// <summary>One .npy array from its bytes (<paramref name="where"/> names it in errors).</summary>
    public static Array ReadArray(byte[] bytes, string name, string where)
    {
        Exception Bad(string why) => new Validation.MlipInputException(new Validation.InputLocation(where), why);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY") throw Bad("not a .npy array");
        int major = bytes[6];
        int headerLength, start;
        if (major == 1) { headerLength = BitConverter.ToUInt16(bytes, 8); start = 10; }
        else { headerLength = (int)BitConverter.ToUInt32(bytes, 8); start = 12; }
        string header = Encoding.ASCII.GetString(bytes, start, headerLength);
        string Field(string key)
        {
            int i = header.IndexOf($"'{key}'", StringComparison.Ordinal);
            if (i < 0) throw Bad($"no '{key}' in the header");
            i = header.IndexOf(':', i) + 1;
            while (header[i] == ' ') i++;
            int j = header[i] == '(' ? header.IndexOf(')', i) + 1 : header[i] == '\'' ? header.IndexOf('\'', i + 1) + 1 : header.IndexOfAny([',', '}'], i);
            return header[i..j].Trim();
        }
        string descr = Field("descr").Trim('\'');
        if (Field("fortran_order") != "False") throw Bad("Fortran-ordered arrays are not read");
        var shape = Field("shape").Trim('(', ')').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => int.Parse(d, CultureInfo.InvariantCulture)).ToArray();
        long count = 1;
        foreach (int d in shape) count *= d;
        int data = start + headerLength;
        if (descr is "<f8" or "=f8" && bytes.Length - data >= count * 8)
        {
            var v = new double[count];
            Buffer.BlockCopy(bytes, data, v, 0, (int)(count * 8));
            return new Array(name, shape, v);
        }
        if (descr is "<i8" or "=i8" && bytes.Length - data >= count * 8)
        {
            var v = new long[count];
            Buffer.BlockCopy(bytes, data, v, 0, (int)(count * 8));
            return new Array(name, shape, null, v);
        }
        throw Bad($"dtype '{descr}' with shape ({string.Join(", ", shape)}): only float64 and int64 arrays of the full size are read");
    }
}
