using System.Text.Json;
using Mlip.Descriptors;
using Mlip.Interop;
using Mlip.IO;
using Mlip.Tests.Support;
using Xunit.Abstractions;

namespace Mlip.Tests.Interop;

/// <summary>
/// The .npy/.npz files Mlip writes (<see cref="NumpyFile"/>, <c>mlip descriptors -o out.npz|out.npy</c>) read by
/// numpy itself (Debian python3-numpy, <c>numpy.load</c> with <c>allow_pickle=False</c>): dtype, shape, C order and
/// every value bit for bit (float64 compared as their int64 bit patterns, so NaN payloads, −0.0, infinities and
/// subnormals count too). <see cref="NumpyFileTests"/> checks the bytes with a reader written in C#.
/// </summary>
public class NumpyInteropTests(ITestOutputHelper output)
{
    /// <summary>Loads every path with numpy and prints, per array, dtype.str, shape, Fortran flag and the values (float bits as int64).</summary>
    private const string Reader = """
        import sys, json
        import numpy as np

        def describe(a):
            d = {"dtype": a.dtype.str, "shape": list(a.shape), "fortran": bool(a.ndim > 1 and np.isfortran(a))}
            flat = np.ascontiguousarray(a).ravel()
            d["values"] = (flat.view("<i8") if a.dtype.kind == "f" else flat).tolist()
            return d

        out = {"numpy": np.__version__}
        for path in sys.argv[2:]:
            if path.endswith(".npz"):
                with np.load(path, allow_pickle=False) as z:
                    out[path] = {name: describe(z[name]) for name in z.files}
            else:
                out[path] = {"": describe(np.load(path, allow_pickle=False))}
        json.dump(out, open(sys.argv[1], "w"))
        """;

    private static JsonDocument LoadWithNumpy(string dir, params string[] paths)
    {
        PythonScript.Require("numpy", "python3-numpy");
        string json = Path.Combine(dir, "numpy.json");
        PythonScript.Run(dir, "load_npy.py", Reader, [json, .. paths]);
        return JsonDocument.Parse(File.ReadAllText(json));
    }

    private static void AssertArray(JsonElement loaded, string what, int[] shape, double[] expected)
    {
        Assert.Equal("<f8", loaded.GetProperty("dtype").GetString());
        Assert.Equal(shape, loaded.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        Assert.False(loaded.GetProperty("fortran").GetBoolean(), $"{what}: numpy sees a Fortran-ordered array");
        var bits = loaded.GetProperty("values").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        Assert.Equal(expected.Length, bits.Length);
        for (int q = 0; q < bits.Length; q++)
            if (bits[q] != BitConverter.DoubleToInt64Bits(expected[q]))
                Assert.Fail($"{what}[{q}]: numpy read {BitConverter.Int64BitsToDouble(bits[q]):R} (bits {bits[q]:X16}), Mlip wrote {expected[q]:R} (bits {BitConverter.DoubleToInt64Bits(expected[q]):X16})");
    }

    private static void AssertArray(JsonElement loaded, string what, int[] shape, long[] expected)
    {
        Assert.Equal("<i8", loaded.GetProperty("dtype").GetString());
        Assert.Equal(shape, loaded.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        Assert.Equal(expected, loaded.GetProperty("values").EnumerateArray().Select(e => e.GetInt64()).ToArray());
        _ = what;
    }

    /// <summary>Edge values through <see cref="NumpyFile.WriteNpy"/> and <see cref="NumpyFile.WriteNpz"/> (stored and deflated), shapes of rank 0..3.</summary>
    [Fact]
    public void NumpyLoadsEdgeValuesBitForBit()
    {
        string dir = TestPaths.TempDir();
        double[] odd =
        [
            0.0, -0.0, 1.0, -1.5, Math.PI, 1.0 / 3.0, double.Epsilon, -double.Epsilon, 2.2250738585072009e-308, double.MaxValue,
            double.MinValue, double.PositiveInfinity, double.NegativeInfinity, double.NaN, BitConverter.Int64BitsToDouble(0x7FF8_0000_DEAD_BEEF),
            1e-300, 6.02214076e23, -2.718281828459045, 0.1, 0.7,
        ];
        long[] longs = [0, 1, -1, long.MaxValue, long.MinValue, 1L << 53, (1L << 53) + 1, -123456789012345];
        var rng = new Random(11);
        var big = new double[3 * 5 * 7];
        for (int q = 0; q < big.Length; q++) big[q] = (rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-20, 20));
        var arrays = new[]
        {
            NumpyFile.Array.Of("odd", odd, 4, 5),
            NumpyFile.Array.Of("longs", longs, 8),
            NumpyFile.Array.Of("cube", big, 3, 5, 7),
            NumpyFile.Array.Of("scalar_like", new double[] { -7.25 }, 1),
            NumpyFile.Array.Of("empty", System.Array.Empty<double>(), 0, 4),
        };
        string npy = Path.Combine(dir, "odd.npy"), stored = Path.Combine(dir, "stored.npz"), deflated = Path.Combine(dir, "deflated.npz");
        NumpyFile.WriteNpy(npy, arrays[0]);
        NumpyFile.WriteNpz(stored, arrays);
        NumpyFile.WriteNpz(deflated, arrays, compress: true);
        using var doc = LoadWithNumpy(dir, npy, stored, deflated);
        output.WriteLine($"numpy {doc.RootElement.GetProperty("numpy").GetString()}");
        AssertArray(doc.RootElement.GetProperty(npy).GetProperty(""), "odd.npy", [4, 5], odd);
        foreach (string npz in new[] { stored, deflated })
        {
            var z = doc.RootElement.GetProperty(npz);
            Assert.Equal(arrays.Select(a => a.Name).Order(), z.EnumerateObject().Select(p => p.Name).Order());
            foreach (var a in arrays)
                if (a.Doubles is not null) AssertArray(z.GetProperty(a.Name), $"{Path.GetFileName(npz)}:{a.Name}", a.Shape, a.Doubles);
                else AssertArray(z.GetProperty(a.Name), $"{Path.GetFileName(npz)}:{a.Name}", a.Shape, a.Longs!);
        }
    }

    /// <summary>
    /// <c>mlip descriptors</c> on two rattled cells, with derivatives (.npz) and without (.npy): numpy reads the library's
    /// features, pair gradients, pair indices and vectors and the per-atom integer arrays exactly.
    /// </summary>
    [Theory]
    [InlineData("so4", new[] { "twojmax=4", "rcutfac=4.9" })]
    [InlineData("ace", new[] { "rc=4.5", "order=3", "nmax=4,2,1", "lmax=0,2,1", "radial=ChebExpCos", "lambda=3" })]
    public void NumpyLoadsWhatMlipDescriptorsWrote(string type, string[] parameters)
    {
        string dir = TestPaths.TempDir();
        string xyz = Path.Combine(dir, "si.xyz");
        Assert.Equal(0, Mlip.Tests.Cli.CliTests.Run("build", "diamond", "Si", "5.431", "--supercell", "2", "1", "1", "--rattle", "0.05", "-n", "2", "-o", xyz).code);
        string npz = Path.Combine(dir, "d.npz"), npy = Path.Combine(dir, "d.npy");
        var (code, _, stderr) = Mlip.Tests.Cli.CliTests.Run(["descriptors", xyz, "--type", type, "--param", .. parameters, "--derivatives", "-o", npz, "-j", "1"]);
        Assert.True(code == 0, stderr);
        (code, _, stderr) = Mlip.Tests.Cli.CliTests.Run(["descriptors", xyz, "--type", type, "--param", .. parameters, "-o", npy, "-j", "1"]);
        Assert.True(code == 0, stderr);

        var structures = StructureIO.Read(xyz);
        var prm = parameters.ToDictionary(p => p[..p.IndexOf('=')], p => p[(p.IndexOf('=') + 1)..]);
        var d = DescriptorFactory.Create(type, prm, ["Si"]);
        int k = d.FeatureCount;
        var features = new List<double>(); var grads = new List<double>(); var vectors = new List<double>();
        var z = new List<long>(); var sid = new List<long>(); var aid = new List<long>(); var pi = new List<long>(); var pj = new List<long>();
        int atomOffset = 0;
        for (int n = 0; n < structures.Count; n++)
        {
            var set = d.Compute(structures[n], true);
            features.AddRange(set.Values);
            grads.AddRange(set.PairGradients!);
            var nl = set.Neighbors;
            for (int p = 0; p < nl.PairCount; p++)
            {
                pi.Add(atomOffset + nl.Centers[p]); pj.Add(atomOffset + nl.Neighbors[p]);
                vectors.AddRange([nl.Vectors[p].X, nl.Vectors[p].Y, nl.Vectors[p].Z]);
            }
            for (int i = 0; i < set.Atoms; i++) { z.Add(structures[n].AtomicNumbers[i]); sid.Add(n); aid.Add(i); }
            atomOffset += set.Atoms;
        }
        int atoms = z.Count, pairs = pi.Count;

        using var doc = LoadWithNumpy(dir, npz, npy);
        var loaded = doc.RootElement.GetProperty(npz);
        AssertArray(loaded.GetProperty("features"), "features", [atoms, k], [.. features]);
        AssertArray(loaded.GetProperty("pair_gradients"), "pair_gradients", [pairs, k, 3], [.. grads]);
        AssertArray(loaded.GetProperty("pair_vectors"), "pair_vectors", [pairs, 3], [.. vectors]);
        AssertArray(loaded.GetProperty("atomic_numbers"), "atomic_numbers", [atoms], [.. z]);
        AssertArray(loaded.GetProperty("structure_index"), "structure_index", [atoms], [.. sid]);
        AssertArray(loaded.GetProperty("atom_index"), "atom_index", [atoms], [.. aid]);
        AssertArray(loaded.GetProperty("pair_i"), "pair_i", [pairs], [.. pi]);
        AssertArray(loaded.GetProperty("pair_j"), "pair_j", [pairs], [.. pj]);
        AssertArray(doc.RootElement.GetProperty(npy).GetProperty(""), "features (.npy)", [atoms, k], [.. features]);
        output.WriteLine($"{type}: numpy read {atoms}×{k} features and {pairs}×{k}×3 pair gradients bit for bit");
    }
}
