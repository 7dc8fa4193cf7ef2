using Mlip.Interop;
using Mlip.Validation;

namespace Mlip.Tests.Interop;

/// <summary>OLCAO potential files: Mlip's own round trip is exact, and a file in OLCAO's fixed format (e17.10 / e13.6) reads.</summary>
public sealed class OlcaoPotentialFileTests
{
    [Fact]
    public void WrittenReadBackIdentical()
    {
        var rng = new Random(2);
        var alphas = Mlip.Data.GaussianPotentialTarget.GeometricExponents(16);
        var types = Enumerable.Range(0, 5).Select(_ => OlcaoPotentialType.Of(
            [.. Enumerable.Range(0, 16).Select(_ => (rng.NextDouble() - 0.5) * Math.Pow(10, 8 * rng.NextDouble() - 3))], alphas)).ToList();
        string dir = TestPaths.TempDir();
        string path = Path.Combine(dir, "scfV.dat"), again = Path.Combine(dir, "scfV-again.dat");
        OlcaoPotentialFile.Write(path, types);
        var (up, down) = OlcaoPotentialFile.Read(path);
        Assert.Equal(types.Count, up.Count);
        Assert.Equal(types.Count, down.Count);
        for (int t = 0; t < types.Count; t++)
        {
            Assert.Equal(types[t].Coefficients, up[t].Coefficients);
            Assert.Equal(types[t].Alphas, up[t].Alphas);
            Assert.Equal(types[t].Coefficients, down[t].Coefficients);
        }
        OlcaoPotentialFile.Write(again, up, down);
        Assert.Equal(File.ReadAllText(path), File.ReadAllText(again));
        var lines = File.ReadAllLines(path);
        Assert.Equal("NUM_TYPES    5", lines[0]);
        Assert.Equal("    TOTAL OR SPIN_UP", lines[1]);
        Assert.Equal("   16", lines[2]);
    }

    [Fact]
    public void ReadsOlcaoFixedFormat()
    {
        // as makeSCFPot writes it: (a9,i5), (a20), (i5), (2(1x,e17.10),3(1x,e13.6))
        string text = string.Join("\n",
            "NUM_TYPES    2",
            "    TOTAL OR SPIN_UP",
            "    2",
            " -0.1234567890E+01  0.1500000000E+00  0.100000E+01  0.500000E+00  0.000000E+00",
            "  0.2000000000D+02  0.1000000000E+07  0.200000E+01  0.100000E+01  0.000000E+00",
            "    1",
            "  0.3000000000E-03  0.1500000000E+00  0.000000E+00  0.000000E+00  0.000000E+00",
            "             SPIN_DN",
            "    2",
            " -0.1234567890E+01  0.1500000000E+00  0.100000E+01  0.500000E+00  0.000000E+00",
            "  0.2000000000E+02  0.1000000000E+07  0.200000E+01  0.100000E+01  0.000000E+00",
            "    1",
            "  0.3000000000E-03  0.1500000000E+00  0.000000E+00  0.000000E+00  0.000000E+00",
            "NUM_PLUSUJ_TERMS",
            "    0",
            "    TOTAL OR SPIN_UP",
            "             SPIN_DN", "");
        string path = Path.Combine(TestPaths.TempDir(), "scfV.dat");
        File.WriteAllText(path, text);
        var (up, _) = OlcaoPotentialFile.Read(path);
        Assert.Equal(2, up.Count);
        Assert.Equal([-1.23456789, 20.0], up[0].Coefficients);
        Assert.Equal([0.15, 1e6], up[0].Alphas);
        Assert.Equal([1.0, 2.0], up[0].TotalRho);
        Assert.Equal(3e-4, Assert.Single(up[1].Coefficients));

        File.WriteAllText(path, text.Replace("    1\n  0.3", "    x\n  0.3"));
        var e = Assert.Throws<FileFormatException>(() => OlcaoPotentialFile.Read(path));
        Assert.Contains(":6", e.Message);
    }
}
