using System.Globalization;
using Mlip.IO;
using Mlip.Neighbors;
using Mlip.Structures;

namespace Mlip.Tests.IO;

public class LammpsDataTests
{
    /// <summary>Reads back the box, types and positions of an atomic-style data file (enough to check the writer).</summary>
    private static (Matrix3 cell, Vec3 origin, int[] types, Vec3[] pos, int[] images) ReadBack(string text)
    {
        var lines = text.Split('\n');
        double xlo = 0, xhi = 0, ylo = 0, yhi = 0, zlo = 0, zhi = 0, xy = 0, xz = 0, yz = 0;
        int n = 0;
        var ci = CultureInfo.InvariantCulture;
        int atomsAt = -1;
        for (int k = 0; k < lines.Length; k++)
        {
            var t = lines[k].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (lines[k].EndsWith(" atoms")) n = int.Parse(t[0], ci);
            else if (lines[k].EndsWith("xlo xhi")) { xlo = double.Parse(t[0], ci); xhi = double.Parse(t[1], ci); }
            else if (lines[k].EndsWith("ylo yhi")) { ylo = double.Parse(t[0], ci); yhi = double.Parse(t[1], ci); }
            else if (lines[k].EndsWith("zlo zhi")) { zlo = double.Parse(t[0], ci); zhi = double.Parse(t[1], ci); }
            else if (lines[k].EndsWith("xy xz yz")) { xy = double.Parse(t[0], ci); xz = double.Parse(t[1], ci); yz = double.Parse(t[2], ci); }
            else if (lines[k].StartsWith("Atoms")) atomsAt = k + 2;
        }
        var cell = new Matrix3(xhi - xlo, 0, 0, xy, yhi - ylo, 0, xz, yz, zhi - zlo);
        var types = new int[n];
        var pos = new Vec3[n];
        var images = new int[3 * n];
        for (int i = 0; i < n; i++)
        {
            var t = lines[atomsAt + i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            int id = int.Parse(t[0], ci) - 1;
            types[id] = int.Parse(t[1], ci);
            pos[id] = new Vec3(double.Parse(t[2], ci), double.Parse(t[3], ci), double.Parse(t[4], ci));
            for (int c = 0; c < 3; c++) images[3 * id + c] = int.Parse(t[5 + c], ci);
        }
        return (cell, new Vec3(xlo, ylo, zlo), types, pos, images);
    }

    [Fact]
    public void TriclinicCellKeepsEveryDistance()
    {
        // a general, left-handed, strongly tilted cell with atoms outside it
        var s = ExtXyzTests.LabelledSample(7, 10);
        s.Cell = new Matrix3(4.1, 0.3, -0.2, 3.9, 4.4, 0.5, 0.6, -0.8, -5.2);
        Assert.True(s.Cell.Determinant < 0);
        var rng = new Random(2);
        for (int i = 0; i < s.Count; i++) s.Positions[i] = new Vec3(rng.NextDouble() * 3 - 1, rng.NextDouble() * 3 - 1, rng.NextDouble() * 3 - 1) * s.Cell;

        var fmt = new LammpsDataFormat();
        string text = fmt.WriteString([s]);
        var (cell, origin, types, pos, images) = ReadBack(text);

        // LAMMPS's rules: lower-triangular, right-handed, tilts within half the box
        Assert.True(cell.M00 > 0 && cell.M11 > 0 && cell.M22 > 0);
        Assert.InRange(Math.Abs(cell.M10), 0, cell.M00 / 2 + 1e-12);
        Assert.InRange(Math.Abs(cell.M20), 0, cell.M00 / 2 + 1e-12);
        Assert.InRange(Math.Abs(cell.M21), 0, cell.M11 / 2 + 1e-12);
        Assert.Equal(s.Volume, cell.Determinant, 9);

        // atoms are inside the box, and unwrapping with the image flags restores the rotated positions
        var inv = cell.Inverse();
        var box = LammpsBox.For(s);
        for (int i = 0; i < s.Count; i++)
        {
            var f = (pos[i] - origin) * inv;
            for (int c = 0; c < 3; c++) Assert.InRange(f[c], -1e-12, 1 + 1e-12);
            var unwrapped = pos[i] + new Vec3(images[3 * i], images[3 * i + 1], images[3 * i + 2]) * cell;
            Assert.True((unwrapped - box.ToLammps(s.Positions[i])).Norm < 1e-9);
        }

        // the same structure: every neighbour distance is kept
        var original = NeighborList.Build(s, 6.0);
        var written = NeighborList.Build(cell, pos, PeriodicFlags.All, 6.0);
        var d1 = original.Distances.ToArray(); Array.Sort(d1);
        var d2 = written.Distances.ToArray(); Array.Sort(d2);
        Assert.Equal(d1.Length, d2.Length);
        for (int k = 0; k < d1.Length; k++) Assert.Equal(d1[k], d2[k], 9);

        // types follow increasing atomic number, named in the Masses section
        var order = s.DistinctAtomicNumbers();
        for (int i = 0; i < s.Count; i++) Assert.Equal(order[types[i] - 1], s.AtomicNumbers[i]);
        Assert.Contains("# Si", text);
    }

    [Fact]
    public void RotationMapsForcesAndStress()
    {
        var s = ExtXyzTests.LabelledSample(9);
        var box = LammpsBox.For(s);
        var r = box.Rotation;
        Assert.True((r * r.Transpose()).MaxAbsDifference(Matrix3.Identity) < 1e-12);
        Assert.Equal(1.0, r.Determinant, 12);
        var v = new Vec3(0.3, -1.2, 2.0);
        Assert.True((box.FromLammps(box.ToLammps(v)) - v).Norm < 1e-12);
        var sigma = s.Stress!.Value.ToMatrix();
        Assert.True(box.FromLammps(box.ToLammps(sigma)).MaxAbsDifference(sigma) < 1e-12);
        Assert.Equal(sigma.Trace, box.ToLammps(sigma).Trace, 12);
    }

    [Fact]
    public void SpeciesOrderSetsTypes()
    {
        var s = ExtXyzTests.LabelledSample(3, 12);
        var fmt = new LammpsDataFormat { SpeciesOrder = ["Fe", "Si", "O", "H"] };
        var (_, _, types, _, _) = ReadBack(fmt.WriteString([s]));
        int[] z = [26, 14, 8, 1];
        for (int i = 0; i < s.Count; i++) Assert.Equal(z[types[i] - 1], s.AtomicNumbers[i]);
        var missing = new LammpsDataFormat { SpeciesOrder = ["Si"] };
        Assert.Throws<Mlip.Validation.MlipInputException>(() => missing.WriteString([s]));
    }

    [Fact]
    public void MoleculeGetsABoxAroundIt()
    {
        var pos = new[] { new Vec3(0, 0, 0), new Vec3(0.96, 0, 0), new Vec3(-0.24, 0.93, 0) };
        var s = new Structure(Matrix3.Zero, pos, [8, 1, 1], PeriodicFlags.None);
        var (cell, origin, _, written, _) = ReadBack(new LammpsDataFormat().WriteString([s]));
        var inv = cell.Inverse();
        foreach (var p in written)
        {
            var f = (p - origin) * inv;
            for (int c = 0; c < 3; c++) Assert.InRange(f[c], 0.0, 1.0);
        }
        Assert.Equal((pos[1] - pos[0]).Norm, (written[1] - written[0]).Norm, 12);
        Assert.Equal((pos[2] - pos[1]).Norm, (written[2] - written[1]).Norm, 12);
    }
}
