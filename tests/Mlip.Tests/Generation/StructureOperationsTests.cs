using System.Text.Json.Nodes;
using Mlip.Generation;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Tests.Support;

namespace Mlip.Tests.Generation;

/// <summary><see cref="StructureOperations"/>: surfaces equal ASE's <c>ase.build.surface</c>; vacancies, swaps and strains keep what they should.</summary>
public class StructureOperationsTests
{
    private static Structure ZincBlende(double a) => Structure.FromSymbols(Matrix3.Diagonal(a, a, a),
        [.. new Vec3[] { new(0, 0, 0), new(0, 0.5, 0.5), new(0.5, 0, 0.5), new(0.5, 0.5, 0), new(0.25, 0.25, 0.25), new(0.25, 0.75, 0.75), new(0.75, 0.25, 0.75), new(0.75, 0.75, 0.25) }.Select(f => a * f)],
        ["Si", "Si", "Si", "Si", "C", "C", "C", "C"], PeriodicFlags.All);

    private static Structure Wurtzite(double a, double c, double u)
    {
        var cell = Matrix3.FromRows(new Vec3(a, 0, 0), new Vec3(-a / 2, a * Math.Sqrt(3) / 2, 0), new Vec3(0, 0, c));
        Vec3[] frac = [new(1.0 / 3, 2.0 / 3, 0), new(2.0 / 3, 1.0 / 3, 0.5), new(1.0 / 3, 2.0 / 3, u), new(2.0 / 3, 1.0 / 3, 0.5 + u)];
        return Structure.FromSymbols(cell, [.. frac.Select(f => f * cell)], ["Ga", "Ga", "N", "N"], PeriodicFlags.All);
    }

    [Fact]
    public void Surfaces_by_miller_index_equal_those_of_ase()
    {
        PythonScript.Require("ase", "python3-ase");
        string dir = TestPaths.TempDir();
        var cases = new (string Name, Structure Bulk, int[][] Planes)[]
        {
            ("zb", ZincBlende(4.36), [[1, 0, 0], [0, 1, 0], [1, 1, 0], [1, 1, 1], [2, 1, 0], [1, -1, 0], [3, 2, 1], [0, 1, 1], [-1, 2, 3]]),
            ("wz", Wurtzite(3.19, 5.19, 0.377), [[0, 0, 1], [1, 0, 0], [1, 0, 1], [1, 1, 0], [1, -1, 2]]),
        };
        foreach (var (name, bulk, planes) in cases)
        {
            StructureIO.Write(Path.Combine(dir, name + ".xyz"), [bulk]);
            string planeArg = string.Join(";", planes.Select(p => string.Join(",", p)));
            string json = PythonScript.Run(dir, "surf.py", """
                import sys, json
                from ase.io import read
                from ase.build import surface
                bulk = read(sys.argv[1])
                out = []
                for p in sys.argv[2].split(";"):
                    h, k, l = (int(v) for v in p.split(","))
                    s = surface(bulk, (h, k, l), 2, vacuum=4.0)
                    out.append({"cell": s.cell[:].tolist(), "z": s.numbers.tolist(), "pos": s.positions.tolist()})
                print(json.dumps(out))
                """, [Path.Combine(dir, name + ".xyz"), planeArg]);
            var ase = JsonNode.Parse(json)!.AsArray();
            for (int i = 0; i < planes.Length; i++)
            {
                var (h, k, l) = (planes[i][0], planes[i][1], planes[i][2]);
                string what = $"{name} ({h} {k} {l})";
                var mine = StructureOperations.Surface(bulk, h, k, l, 2, 8.0);
                var reference = ase[i]!;
                var cell = reference["cell"]!.AsArray().Select(r => r!.AsArray().Select(v => (double)v!).ToArray()).ToArray();
                // the same in-plane cell (x along a1, a2 in the xy plane)
                for (int r = 0; r < 2; r++)
                    for (int q = 0; q < 3; q++) Assert.True(Math.Abs(mine.Cell[r, q] - cell[r][q]) < 1e-8, $"{what}: cell[{r},{q}] {mine.Cell[r, q]} vs ase {cell[r][q]}");
                var z = reference["z"]!.AsArray().Select(v => (int)v!).ToArray();
                var pos = reference["pos"]!.AsArray().Select(r => { var a = r!.AsArray(); return new Vec3((double)a[0]!, (double)a[1]!, (double)a[2]!); }).ToArray();
                Assert.Equal(2 * bulk.Count, mine.Count);
                Assert.Equal(z.Length, mine.Count);
                // the same atoms up to a shift along the normal: in-plane fractional coordinates (mod 1) and heights. Where ASE's
                // integer basis is left-handed (here h < 0 or k < 0), ASE maps the crystal by a reflection (its cell is set
                // right-handed with the atoms' fractional coordinates kept) while Surface takes −c3 and rotates: those slabs are
                // mirror images terminated differently, and only the cell, the count and the area are compared.
                var (c1, c2, c3) = StructureOperations.SurfaceBasis(bulk.Cell, h, k, l);
                long det = c1[0] * (c2[1] * c3[2] - c2[2] * c3[1]) - c1[1] * (c2[0] * c3[2] - c2[2] * c3[0]) + c1[2] * (c2[0] * c3[1] - c2[1] * c3[0]);
                Assert.Equal(1, Math.Abs(det));
                var inPlane = Matrix3.FromRows(mine.Cell.Row(0), mine.Cell.Row(1), new Vec3(0, 0, 1)).Inverse();
                bool Same(int a, int b, double shift)
                {
                    if (mine.AtomicNumbers[b] != z[a]) return false;
                    var fa = pos[a] * inPlane; var fb = mine.Positions[b] * inPlane;
                    double dx = fa.X - fb.X, dy = fa.Y - fb.Y, dz = pos[a].Z + shift - mine.Positions[b].Z;
                    dx -= Math.Round(dx); dy -= Math.Round(dy);
                    return Math.Abs(dx) < 1e-7 && Math.Abs(dy) < 1e-7 && Math.Abs(dz) < 1e-7;
                }
                bool All(double shift)
                {
                    var used = new bool[mine.Count];
                    for (int a = 0; a < z.Length; a++)
                    {
                        int match = Enumerable.Range(0, mine.Count).FirstOrDefault(b => !used[b] && Same(a, b, shift), -1);
                        if (match < 0) return false;
                        used[match] = true;
                    }
                    return true;
                }
                // the shift: one that takes ASE's atom 0 onto one of ours
                if (det > 0) Assert.True(Enumerable.Range(0, mine.Count).Any(b => All(mine.Positions[b].Z - pos[0].Z)), $"{what}: the atoms differ from ase's");
                // normal to the plane: a1 × a2 parallel to h b1 + k b2 + l b3 of the bulk's reciprocal cell
                var recip = bulk.Cell.Inverse().Transpose();
                var g = h * recip.Row(0) + k * recip.Row(1) + l * recip.Row(2);
                // (in the rotated frame: compare the areas, |a1 × a2| = V / d_hkl = V |g|)
                double area = Vec3.Cross(mine.Cell.Row(0), mine.Cell.Row(1)).Norm;
                Assert.True(Math.Abs(area - bulk.Volume * g.Norm) < 1e-8 * area, $"{what}: area {area} vs V|g| {bulk.Volume * g.Norm}");
                Assert.True(mine.Cell[2, 2] > 8.0 && mine.Cell[2, 0] == 0 && mine.Cell[2, 1] == 0, $"{what}: c {mine.Cell.Row(2)}");
            }
        }
    }

    [Fact]
    public void Vacancies_swaps_and_strains_keep_the_rest_of_the_structure()
    {
        var zb = ZincBlende(4.36);
        var rng = new Random(3);
        var v = StructureOperations.Vacancies(zb, 2, 16, rng)!;
        Assert.Equal(14, v.Count); // repeated to 16 atoms, two removed
        Assert.Equal(2.0 * zb.Volume, v.Volume, 9);
        var sw = StructureOperations.Swap(zb, 1, rng)!;
        Assert.Equal(zb.Positions, sw.Positions);
        Assert.Equal(4, sw.AtomicNumbers.Count(n => n == 14)); // composition kept
        Assert.Equal(2, Enumerable.Range(0, 8).Count(i => sw.AtomicNumbers[i] != zb.AtomicNumbers[i])); // one Si-C pair exchanged
        Assert.Null(StructureOperations.Swap(Crystals.Diamond("Si", 5.43), 1, rng)); // nothing to swap in one element
        var st = StructureOperations.Strain(zb, 0.05, 0, rng);
        var f = zb.Cell.Inverse() * st.Cell; // I + ε
        for (int r = 0; r < 3; r++)
            for (int q = 0; q < 3; q++) Assert.InRange(Math.Abs(f[r, q] - (r == q ? 1 : 0)), 0, 0.05 + 1e-12);
        Assert.Null(st.Energy);
        Assert.Equal(string.Join(",", zb.Symbols()), string.Join(",", st.Symbols()));
    }
}
