using System.IO.Compression;
using System.Text;
using Mlip.IO;
using Mlip.Interop;

namespace Mlip.Tests.Interop;

public class NumpyFileTests
{
    /// <summary>Reads a version-1.0 .npy the way numpy.load does: magic, header dict, raw little-endian data.</summary>
    internal static (string descr, int[] shape, byte[] data) ReadNpy(Stream s)
    {
        var br = new BinaryReader(s);
        Assert.Equal(0x93, br.ReadByte());
        Assert.Equal("NUMPY", Encoding.ASCII.GetString(br.ReadBytes(5)));
        Assert.Equal(1, br.ReadByte());
        Assert.Equal(0, br.ReadByte());
        int len = br.ReadUInt16();
        string header = Encoding.ASCII.GetString(br.ReadBytes(len));
        Assert.Equal(0, (10 + len) % 64); // numpy aligns the data to 64 bytes
        Assert.EndsWith("\n", header);
        string descr = header.Split("'descr': '")[1].Split('\'')[0];
        Assert.Contains("'fortran_order': False", header);
        string shapeText = header.Split("'shape': (")[1].Split(')')[0];
        var shape = shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
        var ms = new MemoryStream();
        s.CopyTo(ms);
        return (descr, shape, ms.ToArray());
    }

    [Fact]
    public void NpyHeaderAndDataAreWhatNumpyReads()
    {
        string path = Path.Combine(TestPaths.TempDir(), "x.npy");
        var data = new double[] { 1.5, -2, 3e-300, double.MaxValue, 0, 7 };
        NumpyFile.WriteNpy(path, NumpyFile.Array.Of("x", data, 2, 3));
        using var fs = File.OpenRead(path);
        var (descr, shape, bytes) = ReadNpy(fs);
        Assert.Equal("<f8", descr);
        Assert.Equal(new[] { 2, 3 }, shape);
        var back = new double[6];
        Buffer.BlockCopy(bytes, 0, back, 0, bytes.Length);
        Assert.Equal(data, back);
    }

    [Fact]
    public void NpzHoldsNamedArrays()
    {
        string path = Path.Combine(TestPaths.TempDir(), "x.npz");
        NumpyFile.WriteNpz(path, [NumpyFile.Array.Of("a", new double[] { 1, 2, 3 }, 3), NumpyFile.Array.Of("b", new long[] { 4, 5 }, 2)]);
        using var zip = ZipFile.OpenRead(path);
        Assert.Equal(new[] { "a.npy", "b.npy" }, zip.Entries.Select(e => e.FullName).ToArray());
        using var b = zip.GetEntry("b.npy")!.Open();
        var (descr, shape, bytes) = ReadNpy(b);
        Assert.Equal("<i8", descr);
        Assert.Equal(new[] { 2 }, shape);
        Assert.Equal(4L, BitConverter.ToInt64(bytes, 0));
    }

    [Fact]
    public void ShapeMustMatchTheData()
    {
        Assert.Throws<ArgumentException>(() => NumpyFile.WriteArray(new MemoryStream(), NumpyFile.Array.Of("x", new double[5], 2, 3)));
    }
}
