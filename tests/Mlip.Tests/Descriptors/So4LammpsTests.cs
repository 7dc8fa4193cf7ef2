using System.Globalization;
using Mlip.Descriptors;
using Mlip.Structures;
using Mlip.Tests.Support;

namespace Mlip.Tests.Descriptors;

/// <summary>
/// The SO(4) bispectrum against LAMMPS (built by scripts/build-lammps.sh): per-atom B equals
/// <c>compute sna/atom</c>, and the derivative blocks summed as LAMMPS sums them equal
/// <c>compute snad/atom</c> (Σ over pairs of ∂B_i/∂r_ij: + on the centre, − on the neighbour, per
/// centre type) and <c>compute snav/atom</c> (the same weighted by the atoms' positions).
/// The structures are built in LAMMPS's own frame (lower-triangular cell, atoms inside the box), so
/// positions need no rotation and per-atom virials compare directly.
/// </summary>
public class So4LammpsTests
{
    /// <summary>A rattled diamond-Si 2x2x2 cell, tilted a little (lower-triangular, LAMMPS's frame).</summary>
    private static Structure RattledSilicon()
    {
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 2, 2), 0.1, 12345);
        s.Cell = new Matrix3(10.862, 0, 0, 0.6, 10.862, 0, -0.4, 0.3, 10.862);
        for (int i = 0; i < s.Count; i++) s.Positions[i] = s.Positions[i] + new Vec3(0.2, 0.2, 0.2);
        return s.Wrapped();
    }

    /// <summary>Si and Ge atoms in a tilted cell, rattled, with atoms at least 2 Å apart.</summary>
    private static Structure TwoElements()
    {
        var rng = new Random(4);
        var cell = new Matrix3(8.3, 0, 0, 1.1, 7.9, 0, -0.7, 0.9, 8.6);
        var pos = new List<Vec3>();
        var z = new List<int>();
        while (pos.Count < 22)
        {
            var p = new Vec3(rng.NextDouble(), rng.NextDouble(), rng.NextDouble()) * cell;
            var trial = new Structure(cell, [.. pos, p], [.. z, 14], PeriodicFlags.All);
            if (Mlip.Neighbors.NeighborList.Build(trial, 2.0).NeighborCount(pos.Count) > 0) continue;
            pos.Add(p);
            z.Add(pos.Count % 3 == 0 ? 32 : 14);
        }
        return new Structure(cell, [.. pos], [.. z], PeriodicFlags.All).Wrapped();
    }

    public static TheoryData<string, int, bool> Cases() => new()
    {
        { "Si", 6, false }, { "Si", 8, false }, { "SiGe", 6, false }, { "SiGe", 8, false }, { "SiGe", 4, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void BispectrumAndDerivativesEqualLammps(string system, int twojmax, bool quadratic)
    {
        var s = system == "Si" ? RattledSilicon() : TwoElements();
        var p = system == "Si"
            ? new So4Parameters { TwoJMax = twojmax, RcutFac = 4.9, Rfac0 = 0.99363, Elements = [new So4Element("Si", 0.5, 1.0)] }
            : new So4Parameters { TwoJMax = twojmax, RcutFac = 4.1, Rfac0 = 0.99363, Rmin0 = 0.1, Elements = [new So4Element("Si", 0.5, 1.0), new So4Element("Ge", 0.45, 0.7)] };
        p = p with { QuadraticFlag = quadratic };
        var d = new BispectrumSo4(p);
        var set = d.Compute(s, derivatives: true);
        int k = d.FeatureCount, n = s.Count, types = p.Elements.Count;

        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        string radii = string.Join(' ', p.Elements.Select(e => F(e.Radius)));
        string weights = string.Join(' ', p.Elements.Select(e => F(e.Weight)));
        string args = $"{F(p.RcutFac)} {F(p.Rfac0)} {twojmax} {radii} {weights} rmin0 {F(p.Rmin0)} switchflag 1 bzeroflag 1 quadraticflag {(quadratic ? 1 : 0)}";
        var (data, box) = Lammps.DataFile(s, p.Elements.Select(e => e.Symbol).ToList());
        Assert.True(box.Rotation.MaxAbsDifference(Matrix3.Identity) < 1e-14, "the test structure must already be in LAMMPS's frame");
        string input = $"""
            units           metal
            atom_style      atomic
            atom_modify     map array
            read_data       data.in
            pair_style      zero {F(p.MaxCutoff + 0.5)}
            pair_coeff      * *
            compute         b all sna/atom {args}
            compute         db all snad/atom {args}
            compute         vb all snav/atom {args}
            dump            d all custom 1 out.dump id x y z c_b[*] c_db[*] c_vb[*]
            dump_modify     d format float %.17g sort id
            run             0
            """;
        var run = Lammps.Run(input, new Dictionary<string, string> { ["data.in"] = data }, TestPaths.TempDir());
        var dump = run.Dump("out.dump");
        Assert.Equal(n, dump.Count);

        // B: compute sna/atom
        double bscale = set.Values.Max(Math.Abs);
        for (int c = 0; c < k; c++)
        {
            var col = dump.Column($"c_b[{c + 1}]");
            for (int i = 0; i < n; i++)
                Assert.True(Math.Abs(col[i] - set.Values[i * k + c]) <= 1e-9 * Math.Max(Math.Abs(col[i]), 1e-3 * bscale),
                    $"B[{i},{c}]: LAMMPS {col[i]:R} vs Mlip {set.Values[i * k + c]:R}");
        }

        // snad: per atom a, per centre type T, [x(k) y(k) z(k)]; snav: per type [xx yy zz yz xz xy](k)
        var snad = new double[n, types * 3 * k];
        var snav = new double[n, types * 6 * k];
        var x = dump.Vectors("x", "y", "z");
        var nl = set.Neighbors;
        var centers = nl.Centers; var neighbors = nl.Neighbors; var vectors = nl.Vectors;
        var typeOf = s.AtomicNumbers.Select(z => p.Elements.ToList().FindIndex(e => Elements.Number(e.Symbol) == z)).ToArray();
        for (int q = 0; q < nl.PairCount; q++)
        {
            int i = centers[q], j = neighbors[q];
            int t = typeOf[i];
            var xi = x[i];
            var xj = xi + vectors[q]; // the ghost image LAMMPS uses
            var block = set.PairBlock(q);
            for (int c = 0; c < k; c++)
            {
                double gx = block[3 * c], gy = block[3 * c + 1], gz = block[3 * c + 2];
                int o = t * 3 * k;
                snad[i, o + c] += gx; snad[i, o + k + c] += gy; snad[i, o + 2 * k + c] += gz;
                snad[j, o + c] -= gx; snad[j, o + k + c] -= gy; snad[j, o + 2 * k + c] -= gz;
                int v = t * 6 * k;
                snav[i, v + c] += gx * xi.X; snav[i, v + k + c] += gy * xi.Y; snav[i, v + 2 * k + c] += gz * xi.Z;
                snav[i, v + 3 * k + c] += gy * xi.Z; snav[i, v + 4 * k + c] += gx * xi.Z; snav[i, v + 5 * k + c] += gx * xi.Y;
                snav[j, v + c] -= gx * xj.X; snav[j, v + k + c] -= gy * xj.Y; snav[j, v + 2 * k + c] -= gz * xj.Z;
                snav[j, v + 3 * k + c] -= gy * xj.Z; snav[j, v + 4 * k + c] -= gx * xj.Z; snav[j, v + 5 * k + c] -= gx * xj.Y;
            }
        }
        CompareColumns(dump, "c_db", snad, n, types * 3 * k);
        CompareColumns(dump, "c_vb", snav, n, types * 6 * k);
    }

    private static void CompareColumns(Mlip.Tests.Support.LammpsDump dump, string prefix, double[,] ours, int n, int columns)
    {
        Assert.Equal(columns, dump.ColumnsOf(prefix).Count);
        double scale = 0;
        for (int i = 0; i < n; i++) for (int c = 0; c < columns; c++) scale = Math.Max(scale, Math.Abs(ours[i, c]));
        for (int c = 0; c < columns; c++)
        {
            var col = dump.Column($"{prefix}[{c + 1}]");
            for (int i = 0; i < n; i++)
                Assert.True(Math.Abs(col[i] - ours[i, c]) <= 1e-9 * Math.Max(Math.Abs(col[i]), 1e-3 * scale),
                    $"{prefix}[{c + 1}] of atom {i}: LAMMPS {col[i]:R} vs Mlip {ours[i, c]:R}");
        }
    }
}
