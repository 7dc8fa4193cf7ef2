using System.IO.Compression;
using System.Text.Json;
using Mlip.Descriptors;
using Mlip.Interop;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Tests.Interop;

/// <summary><see cref="DescriptorNpz"/>: the arrays and metadata of <c>mlip descriptors</c> (NumpyInteropTests loads them with NumPy).</summary>
public class DescriptorNpzTests
{
    [Fact]
    public void WritesTheArraysAndTheMetadata()
    {
        string dir = TestPaths.TempDir();
        var structures = new[] { Crystals.Diamond("Si", 5.431), Crystals.Rattle(Crystals.Diamond("Si", 5.431), 0.05, 2) };
        var parameters = new Dictionary<string, string> { ["rc"] = "4.0" };
        var d = DescriptorFactory.Create("acsf", parameters, ["Si"]);
        var sets = DatasetDescriptors.Compute(d, structures, true, 1, null);
        string npz = Path.Combine(dir, "d.npz");
        Assert.Equal(16, DescriptorNpz.Write(npz, d, parameters, structures, sets, derivatives: true));
        using (var zip = ZipFile.OpenRead(npz))
            Assert.Equal(["atom_index.npy", "atomic_numbers.npy", "features.npy", "pair_gradients.npy", "pair_i.npy", "pair_j.npy", "pair_vectors.npy", "structure_index.npy"],
                zip.Entries.Select(e => e.Name).Order(StringComparer.Ordinal));
        using var meta = JsonDocument.Parse(File.ReadAllText(DescriptorNpz.MetadataPath(npz)));
        Assert.Equal(d.FeatureCount, meta.RootElement.GetProperty("feature_count").GetInt32());
        Assert.Equal(16, meta.RootElement.GetProperty("atoms").GetInt32());
        Assert.Equal("4.0", meta.RootElement.GetProperty("parameters").GetProperty("rc").GetString());

        string npy = Path.Combine(dir, "f.npy");
        DescriptorNpz.Write(npy, d, parameters, structures, DatasetDescriptors.Compute(d, structures, false, 1, null), derivatives: false);
        Assert.InRange(new FileInfo(npy).Length - 8L * 16 * d.FeatureCount, 64, 256); // a v1.0 header, then the float64 features alone
    }

    [Fact]
    public void RefusesAnOutputThatCannotHoldIt()
    {
        Assert.Throws<MlipException>(() => DescriptorNpz.CheckPath("x.npy", derivatives: true));
        Assert.Throws<MlipException>(() => DescriptorNpz.CheckPath("x.txt", derivatives: false));
        DescriptorNpz.CheckPath("x.NPZ", derivatives: true);
    }
}
