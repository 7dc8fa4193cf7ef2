using System.Text.Json;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Tests.IO;

public class ExtXyzTests
{
    private static readonly ExtXyzFormat Xyz = StructureFormats.ExtXyz;

    [Fact]
    public void ReadsWhatAseWrites()
    {
        var frames = Xyz.Read(TestPaths.Data("ase_frames.extxyz"));
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Data("ase_frames.expected.json")));
        var expected = doc.RootElement;
        Assert.Equal(expected.GetArrayLength(), frames.Count);
        for (int k = 0; k < frames.Count; k++)
        {
            var s = frames[k];
            var e = expected[k];
            var numbers = e.GetProperty("numbers").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            Assert.Equal(numbers, s.AtomicNumbers);
            var cell = Flat(e.GetProperty("cell"));
            for (int q = 0; q < 9; q++) Assert.Equal(cell[q], s.Cell.ToArray()[q], 10);
            var pbc = e.GetProperty("pbc").EnumerateArray().Select(x => x.GetBoolean()).ToArray();
            Assert.Equal(new PeriodicFlags(pbc[0], pbc[1], pbc[2]), s.Pbc);
            var pos = Flat(e.GetProperty("positions"));
            var f = Flat(e.GetProperty("forces"));
            for (int i = 0; i < s.Count; i++)
                for (int c = 0; c < 3; c++)
                {
                    Assert.Equal(pos[3 * i + c], s.Positions[i][c], 10);
                    Assert.Equal(f[3 * i + c], s.Forces![i][c], 10);
                }
            Assert.Equal(e.GetProperty("energy").GetDouble(), s.Energy!.Value, 10);
            if (e.TryGetProperty("stress_gpa", out var st))
            {
                var v = Flat(st);
                var ours = s.Stress!.Value.ToVoigt();
                for (int c = 0; c < 6; c++) Assert.Equal(v[c], ours[c], 9);
            }
            else Assert.Null(s.Stress);
        }
        Assert.Equal("bulk", frames[0].Group);
        Assert.Equal(300.0, frames[0].Info["temperature"]);
        Assert.Equal("rattled diamond", frames[0].Info["note"]);
        Assert.True(frames[1].AtomArrays.ContainsKey("initial_charges"));
        Assert.Equal(4, frames[1].AtomArrays["coeffs"].Components);
        Assert.Equal(PeriodicFlags.None, frames[2].Pbc);
        Assert.Equal(new PeriodicFlags(true, true, false), frames[3].Pbc);
    }

    private static double[] Flat(JsonElement e)
    {
        var list = new List<double>();
        void Walk(JsonElement x)
        {
            if (x.ValueKind == JsonValueKind.Array) foreach (var y in x.EnumerateArray()) Walk(y);
            else list.Add(x.GetDouble());
        }
        Walk(e);
        return [.. list];
    }

    internal static Structure LabelledSample(int seed, int n = 7)
    {
        var rng = new Random(seed);
        var cell = new Matrix3(5.1 + rng.NextDouble(), 0.1, -0.2, 0.7, 4.9 + rng.NextDouble(), 0.05, -0.3, 0.4, 6.2);
        var pos = new Vec3[n];
        var z = new int[n];
        var forces = new Vec3[n];
        int[] elements = [14, 8, 1, 26];
        for (int i = 0; i < n; i++)
        {
            pos[i] = new Vec3(rng.NextDouble(), rng.NextDouble(), rng.NextDouble()) * cell;
            z[i] = elements[rng.Next(elements.Length)];
            forces[i] = new Vec3(rng.NextDouble() - 0.5, rng.NextDouble() - 0.5, rng.NextDouble() - 0.5) * 3;
        }
        var s = new Structure(cell, pos, z, PeriodicFlags.All)
        {
            Energy = -123.456789012345 * (1 + rng.NextDouble()),
            Forces = forces,
            Stress = new Stress(1.234567890123, -0.5, 2.25, 0.1, -0.02, 0.3 * rng.NextDouble()),
            Group = "AIMD 300 K",
            Weight = 2.5,
        };
        s.Info["temperature"] = 300.0;
        s.Info["steps"] = 1000L;
        s.Info["converged"] = true;
        s.Info["code"] = "VASP 6";
        s.Info["kpoint_grid"] = new double[] { 4, 4, 2 };
        var charges = new double[n];
        for (int i = 0; i < n; i++) charges[i] = rng.NextDouble() - 0.5;
        s.AtomArrays["charges"] = new AtomArray(n, 1, charges);
        var coeffs = new double[3 * n];
        for (int i = 0; i < coeffs.Length; i++) coeffs[i] = Math.Exp(10 * rng.NextDouble()) * (rng.Next(2) * 2 - 1);
        s.AtomArrays["olcao"] = new AtomArray(n, 3, coeffs);
        return s;
    }

    internal static void AssertSame(Structure a, Structure b, double tol, bool labels = true)
    {
        Assert.Equal(a.AtomicNumbers, b.AtomicNumbers);
        Assert.True(a.Cell.MaxAbsDifference(b.Cell) <= tol, $"cell differs: {a.Cell} vs {b.Cell}");
        Assert.Equal(a.Pbc, b.Pbc);
        for (int i = 0; i < a.Count; i++)
            Assert.True((a.Positions[i] - b.Positions[i]).Norm <= tol, $"position {i} differs");
        if (!labels) return;
        Assert.Equal(a.Energy.HasValue, b.Energy.HasValue);
        if (a.Energy is double e) Assert.True(Math.Abs(e - b.Energy!.Value) <= tol * Math.Max(1, Math.Abs(e)));
        Assert.Equal(a.Forces is null, b.Forces is null);
        if (a.Forces is { } fa)
            for (int i = 0; i < a.Count; i++) Assert.True((fa[i] - b.Forces![i]).Norm <= tol);
        Assert.Equal(a.Stress.HasValue, b.Stress.HasValue);
        if (a.Stress is Stress sa)
        {
            var va = sa.ToVoigt(); var vb = b.Stress!.Value.ToVoigt();
            for (int c = 0; c < 6; c++) Assert.True(Math.Abs(va[c] - vb[c]) <= tol, $"stress {c}: {va[c]} vs {vb[c]}");
        }
        Assert.Equal(a.Group, b.Group);
        Assert.Equal(a.Weight, b.Weight);
    }

    [Fact]
    public void RoundTripKeepsEverything()
    {
        var frames = new[] { LabelledSample(1), LabelledSample(2, 12), LabelledSample(3, 1) };
        frames[2].Stress = null;
        frames[2].Forces = null;
        frames[2].Pbc = new PeriodicFlags(true, false, true);
        string text = Xyz.WriteString(frames);
        var back = Xyz.ReadString(text);
        Assert.Equal(frames.Length, back.Count);
        for (int k = 0; k < frames.Length; k++)
        {
            AssertSame(frames[k], back[k], 1e-10);
            foreach (var (name, arr) in frames[k].AtomArrays)
                Assert.Equal(arr.Values, back[k].AtomArrays[name].Values);
            Assert.Equal(300.0, back[k].Info["temperature"]);
            Assert.Equal(1000L, back[k].Info["steps"]);
            Assert.Equal(true, back[k].Info["converged"]);
            Assert.Equal("VASP 6", back[k].Info["code"]);
            Assert.Equal(new double[] { 4, 4, 2 }, (double[])back[k].Info["kpoint_grid"]);
        }
        // exact, not only to 1e-10: the writer uses round-trip formatting
        Assert.Equal(frames[0].Positions, back[0].Positions);
        Assert.Equal(frames[0].Forces, back[0].Forces);
    }

    [Fact]
    public void VirialIsConvertedToStress()
    {
        // virial W = -sigma V (eV); sigma in eV/Å^3 times 160.2 gives GPa
        const string text = "1\nLattice=\"2 0 0 0 2 0 0 0 2\" Properties=species:S:1:pos:R:3 virial=\"-8 0 0 0 -8 0 0 0 -8\" pbc=\"T T T\"\nSi 0 0 0\n";
        var s = Xyz.ReadString(text)[0];
        Assert.Equal(Stress.EvPerCubicAngstromInGpa, s.Stress!.Value.Xx, 10);
        Assert.Equal(-Stress.EvPerCubicAngstromInGpa, s.Stress!.Value.Pressure, 10);
    }

    [Fact]
    public void VoigtStressAndZColumnAreAccepted()
    {
        const string text = "2\nLattice=\"3 0 0 0 3 0 0 0 3\" Properties=Z:I:1:pos:R:3 stress=\"1 2 3 4 5 6\"\n14 0 0 0\n8 1.5 1.5 1.5\n";
        var s = Xyz.ReadString(text)[0];
        Assert.Equal([14, 8], s.AtomicNumbers);
        var v = s.Stress!.Value.ToVoigt();
        for (int c = 0; c < 6; c++) Assert.Equal((c + 1) * Stress.EvPerCubicAngstromInGpa, v[c], 9);
    }

    [Fact]
    public void MalformedFilesNameFileAndLine()
    {
        var e1 = Assert.Throws<FileFormatException>(() => Xyz.ReadString("2\nProperties=species:S:1:pos:R:3\nSi 0 0 0\nSi 0 0 abc\n", "bad.xyz"));
        Assert.Equal(4, e1.Line);
        Assert.Equal("bad.xyz", e1.File);
        Assert.Contains("bad.xyz:4", e1.Message);

        var e2 = Assert.Throws<FileFormatException>(() => Xyz.ReadString("3\n\nSi 0 0 0\nSi 1 1 1\n", "short.xyz"));
        Assert.Equal(5, e2.Line);
        Assert.Contains("end of file", e2.Message);

        var e3 = Assert.Throws<FileFormatException>(() => Xyz.ReadString("two\n\nSi 0 0 0\n", "count.xyz"));
        Assert.Equal(1, e3.Line);

        var e4 = Assert.Throws<FileFormatException>(() => Xyz.ReadString("1\nLattice=\"1 2 3\"\nSi 0 0 0\n", "lat.xyz"));
        Assert.Equal(2, e4.Line);
        Assert.Contains("Lattice", e4.Message);

        var e5 = Assert.Throws<UnknownElementException>(() => Xyz.ReadString("1\n\nSi 0 0 0\n1\n\nXx 0 0 0\n", "el.xyz"));
        Assert.Equal(6, e5.Line);
        Assert.Equal(1, e5.StructureIndex);
        Assert.Equal("Xx", e5.Symbol);

        var e6 = Assert.Throws<FileFormatException>(() => Xyz.ReadString("1\nProperties=species:S:1:pos:R:3:forces:R:3\nSi 0 0 0 1 2\n", "cols.xyz"));
        Assert.Equal(3, e6.Line);
    }

    [Fact]
    public void WritingIsAtomic()
    {
        string dir = TestPaths.TempDir();
        string path = Path.Combine(dir, "out.xyz");
        File.WriteAllText(path, "old content");
        var bad = LabelledSample(4);
        bad.Info["bad"] = new object(); // written as a string, fine
        Xyz.Write(path, [bad]);
        Assert.StartsWith("7\n", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(dir)); // no temporary left behind
    }
}

public class CrossFormatRoundTripTests
{
    [Fact]
    public void ExtXyzToPoscarToExtXyzKeepsGeometry()
    {
        string dir = TestPaths.TempDir();
        foreach (int seed in new[] { 1, 2, 3 })
        {
            var s = ExtXyzTests.LabelledSample(seed, 9); // mixed elements in no particular order
            string xyz = Path.Combine(dir, $"in{seed}.xyz"), poscar = Path.Combine(dir, $"POSCAR{seed}"), back = Path.Combine(dir, $"back{seed}.xyz");
            StructureIO.Write(xyz, [s]);
            var read = StructureIO.Read(xyz, validation: ValidationOptions.Minimal)[0];
            StructureIO.Write(poscar, [read]);
            var fromPoscar = StructureIO.Read(poscar, validation: ValidationOptions.Minimal)[0];
            StructureIO.Write(back, [fromPoscar]);
            var final = StructureIO.Read(back, validation: ValidationOptions.Minimal)[0];
            // POSCAR holds no labels: lattice, positions, elements and their order survive to 1e-10
            ExtXyzTests.AssertSame(s, final, 1e-10, labels: false);
        }
    }
}
