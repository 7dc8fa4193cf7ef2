using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Tests.Support;

namespace Mlip.Tests.IO;

/// <summary>
/// Named per-atom arrays (scalar, vector, integer) survive extxyz and ASE SQLite round trips bit for
/// bit, through Mlip and through Debian's ASE 3.22 reading the files Mlip wrote.
/// </summary>
public sealed class PerAtomArrayRoundTripTests
{
    private const string Python = "/usr/bin/python3";

    /// <summary>Two frames with awkward values: 16-component coefficients spanning 1e-9..1e7 with both signs, a scalar, integers, a 3-vector.</summary>
    private static List<Structure> Frames()
    {
        var rng = new Random(5);
        var list = new List<Structure>();
        for (int f = 0; f < 2; f++)
        {
            var s = Crystals.Rattle(Crystals.Diamond("Si", 5.43 + 0.01 * f), 0.05, 3 + f);
            int n = s.Count;
            var coeff = new double[n * 16];
            for (int i = 0; i < coeff.Length; i++)
                coeff[i] = (rng.NextDouble() - 0.5) * Math.Pow(10, -9 + 16 * rng.NextDouble());
            var q = new double[n];
            for (int i = 0; i < n; i++) q[i] = Math.PI * (rng.NextDouble() - 0.5) / 3;
            var tags = new double[n];
            for (int i = 0; i < n; i++) tags[i] = rng.Next(-5, 100);
            var vec = new double[3 * n];
            for (int i = 0; i < vec.Length; i++) vec[i] = rng.NextDouble() * 1e-3;
            s.AtomArrays["olcao_coefficients"] = new AtomArray(n, 16, coeff);
            s.AtomArrays["bader_charge"] = new AtomArray(n, 1, q);
            s.AtomArrays["site_kind"] = new AtomArray(n, 1, tags, isInteger: true);
            s.AtomArrays["dipole_i"] = new AtomArray(n, 3, vec);
            s.Info["olcao_alphas"] = new[] { 0.15, 1.5, 15.0, 1e6 / 3 };
            s.Energy = -4.3 * n + f;
            s.Group = f == 0 ? "crystal" : "scaled";
            list.Add(s);
        }
        return list;
    }

    private static void AssertSameArrays(IReadOnlyList<Structure> expected, IReadOnlyList<Structure> actual, params string[] names)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int f = 0; f < expected.Count; f++)
            foreach (string name in names)
            {
                Assert.True(actual[f].AtomArrays.ContainsKey(name), $"frame {f} lost '{name}'");
                var a = expected[f].AtomArrays[name];
                var b = actual[f].AtomArrays[name];
                Assert.Equal(a.Components, b.Components);
                Assert.Equal(a.IsInteger, b.IsInteger);
                Assert.Equal(a.Values.Length, b.Values.Length);
                for (int k = 0; k < a.Values.Length; k++)
                    Assert.True(BitConverter.DoubleToInt64Bits(a.Values[k]) == BitConverter.DoubleToInt64Bits(b.Values[k]),
                        $"{name}[{k}] of frame {f}: wrote {a.Values[k]:R}, read {b.Values[k]:R}");
            }
    }

    private static readonly string[] Names = ["olcao_coefficients", "bader_charge", "site_kind", "dipole_i"];

    [Fact]
    public void ExtXyzKeepsPerAtomArraysExactly()
    {
        var frames = Frames();
        string path = Path.Combine(TestPaths.TempDir(), "peratom.xyz");
        StructureIO.Write(path, frames);
        var back = StructureIO.ReadAll([path], null);
        AssertSameArrays(frames, back, Names);
        // and once more: a second write gives the same text
        string again = Path.Combine(TestPaths.TempDir(), "again.xyz");
        StructureIO.Write(again, back);
        Assert.Equal(File.ReadAllText(path), File.ReadAllText(again));
    }

    [Fact]
    public void AseDbKeepsPerAtomArraysExactly()
    {
        var frames = Frames();
        string path = Path.Combine(TestPaths.TempDir(), "peratom.db");
        StructureIO.Write(path, frames);
        var back = StructureIO.ReadAll([path], null);
        AssertSameArrays(frames, back, Names);
        for (int f = 0; f < frames.Count; f++)
        {
            Assert.Equal(frames[f].Group, back[f].Group);
            Assert.Equal(frames[f].Energy, back[f].Energy);
            Assert.Equal(frames[f].Positions, back[f].Positions);
            Assert.Equal((double[])frames[f].Info["olcao_alphas"], (double[])back[f].Info["olcao_alphas"]);
        }
        // extxyz -> db -> extxyz (what `mlip convert` does) keeps them too
        string xyz = Path.Combine(TestPaths.TempDir(), "from-db.xyz");
        StructureIO.Write(xyz, back);
        AssertSameArrays(frames, StructureIO.ReadAll([xyz], null), Names);
    }

    [Fact]
    public void MlipConvertKeepsPerAtomArraysThroughAseDb()
    {
        var frames = Frames();
        string dir = TestPaths.TempDir();
        string xyz = Path.Combine(dir, "in.xyz"), db = Path.Combine(dir, "mid.db"), back = Path.Combine(dir, "back.xyz");
        StructureIO.Write(xyz, frames);
        Assert.Equal(0, Mlip.Tests.Cli.CliTests.Run("convert", xyz, db).code);
        Assert.Equal(0, Mlip.Tests.Cli.CliTests.Run("convert", db, back).code);
        AssertSameArrays(frames, StructureIO.ReadAll([back], null), Names);
    }

    /// <summary>ASE reads the .db and the .xyz Mlip wrote; every per-atom value, printed with float.hex, is the one written.</summary>
    [Fact]
    public void AseReadsMlipPerAtomArraysExactly()
    {
        Assert.True(File.Exists(Python), "needs /usr/bin/python3 with ASE (apt-get install python3-ase; .ci/setup.sh does it)");
        var frames = Frames();
        string dir = TestPaths.TempDir();
        string db = Path.Combine(dir, "peratom.db"), xyz = Path.Combine(dir, "peratom.xyz"), script = Path.Combine(dir, "read.py"), output = Path.Combine(dir, "out.json");
        StructureIO.Write(db, frames);
        StructureIO.Write(xyz, frames);
        File.WriteAllText(script, """
            import sys, json
            import numpy as np
            from ase.db import connect
            from ase.io import read
            names = ["olcao_coefficients", "bader_charge", "site_kind", "dipole_i"]
            out = {"db": [], "xyz": []}
            for row in connect(sys.argv[1]).select():
                out["db"].append({"config_type": row.get("config_type"), "numbers": row.numbers.tolist(),
                              "alphas": [float(x).hex() for x in row.data["info"]["olcao_alphas"]],
                                  **{n: [float(x).hex() for x in np.asarray(row.data[n], dtype=float).ravel()] for n in names}})
            for atoms in read(sys.argv[2], index=":"):
                out["xyz"].append({n: [float(x).hex() for x in np.asarray(atoms.arrays[n], dtype=float).ravel()] for n in names})
            json.dump(out, open(sys.argv[3], "w"))
            """);
        using (var p = Process.Start(new ProcessStartInfo(Python, [script, db, xyz, output]) { RedirectStandardError = true, RedirectStandardOutput = true })!)
        {
            string err = p.StandardError.ReadToEnd();
            Assert.True(p.WaitForExit(HangGuard.WaitMilliseconds), "python did not finish");
            Assert.True(p.ExitCode == 0, err);
        }
        using var doc = JsonDocument.Parse(File.ReadAllText(output));
        foreach (string source in new[] { "db", "xyz" })
        {
            var rows = doc.RootElement.GetProperty(source).EnumerateArray().ToArray();
            Assert.Equal(frames.Count, rows.Length);
            for (int f = 0; f < frames.Count; f++)
            {
                if (source == "db")
                {
                    Assert.Equal(frames[f].Group, rows[f].GetProperty("config_type").GetString());
                    Assert.Equal((double[])frames[f].Info["olcao_alphas"], rows[f].GetProperty("alphas").EnumerateArray().Select(e => ParseHex(e.GetString()!)).ToArray());
                }
                foreach (string name in Names)
                {
                    var values = rows[f].GetProperty(name).EnumerateArray().Select(e => ParseHex(e.GetString()!)).ToArray();
                    Assert.Equal(frames[f].AtomArrays[name].Values, values);
                }
            }
        }
    }

    /// <summary>Python's float.hex ("-0x1.8p+3") back to a double, exactly.</summary>
    private static double ParseHex(string hex)
    {
        if (hex is "0x0.0p+0") return 0.0;
        if (hex is "-0x0.0p+0") return -0.0;
        bool negative = hex.StartsWith('-');
        string h = negative ? hex[1..] : hex;
        int p = h.IndexOf('p');
        string mant = h[2..p];
        int exp = int.Parse(h[(p + 1)..], CultureInfo.InvariantCulture);
        int dot = mant.IndexOf('.');
        string intPart = dot < 0 ? mant : mant[..dot], frac = dot < 0 ? "" : mant[(dot + 1)..];
        ulong bits = ulong.Parse(intPart + frac, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        double v = Math.ScaleB(bits, exp - 4 * frac.Length);
        return negative ? -v : v;
    }
}
