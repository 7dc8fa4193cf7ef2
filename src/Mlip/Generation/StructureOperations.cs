using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Generation;

/// <summary>
/// Operations that make new structures from any given one (any elements, any cell): rattles, strains, vacancies,
/// species swaps and surfaces cut along a Miller plane. Labels are dropped; every random choice comes from the
/// caller's generator. Used by the active-learning exploration and by its generated validation set.
/// </summary>
public static class StructureOperations
{
    /// <summary>A random symmetric strain with components in [−max, max] (shear halved).</summary>
    public static Matrix3 RandomStrain(Random rng, double max)
    {
        double U() => max * (2 * rng.NextDouble() - 1);
        double xx = U(), yy = U(), zz = U(), yz = U() / 2, xz = U() / 2, xy = U() / 2;
        return new Matrix3(xx, xy, xz, xy, yy, yz, xz, yz, zz);
    }

    /// <summary>Every atom moved by a uniform random displacement in [−amplitude, amplitude] per component.</summary>
    public static Structure Rattle(Structure s, double amplitude, Random rng) => Clean(Crystals.Rattle(s, amplitude, rng.Next()));

    /// <summary>A random homogeneous strain of at most <paramref name="max"/> per component, then a small rattle.</summary>
    public static Structure Strain(Structure s, double max, double rattle, Random rng) =>
        Clean(Crystals.Rattle(Crystals.Deform(s, RandomStrain(rng, max)), rattle, rng.Next()));

    /// <summary>
    /// The structure, repeated until it has at least <paramref name="minAtoms"/> atoms (along its shortest periodic
    /// cell vectors first), with <paramref name="count"/> atoms removed at random. Null when it has too few atoms.
    /// </summary>
    public static Structure? Vacancies(Structure s, int count, int minAtoms, Random rng)
    {
        var big = Enlarge(s, minAtoms);
        if (big.Count <= count + 1) return null;
        var gone = new HashSet<int>();
        while (gone.Count < count) gone.Add(rng.Next(big.Count));
        var keep = Enumerable.Range(0, big.Count).Where(k => !gone.Contains(k)).ToArray();
        return new Structure(big.Cell, [.. keep.Select(k => big.Positions[k])], [.. keep.Select(k => big.AtomicNumbers[k])], big.Pbc) { Group = s.Group };
    }

    /// <summary>
    /// <paramref name="count"/> swaps of the species of two atoms of different elements (antisite pairs), chosen at random;
    /// null for a single-element structure.
    /// </summary>
    public static Structure? Swap(Structure s, int count, Random rng)
    {
        if (s.DistinctAtomicNumbers().Length < 2) return null;
        var r = Clean(s.Clone());
        for (int k = 0; k < count; k++)
        {
            int i = rng.Next(r.Count), j;
            do j = rng.Next(r.Count); while (r.AtomicNumbers[j] == r.AtomicNumbers[i]);
            (r.AtomicNumbers[i], r.AtomicNumbers[j]) = (r.AtomicNumbers[j], r.AtomicNumbers[i]);
        }
        return r;
    }

    /// <summary>
    /// A slab of the periodic crystal <paramref name="bulk"/> with the (h k l) plane (Miller indices of its cell
    /// vectors) as surface: a unimodular basis c1, c2 in the plane and c3 out of it (the construction of ASE's
    /// <c>ase.build.surface</c>), <paramref name="layers"/> repeats of c3, the third vector made normal to the plane
    /// and lengthened by <paramref name="vacuum"/> Å (atoms centred along the normal). Periodic in all three directions
    /// (the vacuum separates the images). The slab's atom count is layers × the bulk's.
    /// </summary>
    public static Structure Surface(Structure bulk, int h, int k, int l, int layers, double vacuum)
    {
        if (h == 0 && k == 0 && l == 0) throw new MlipException("surface: the Miller indices (0 0 0) name no plane");
        if (layers < 1) throw new MlipException($"surface: need at least one layer (got {layers})");
        if (!bulk.Pbc.AllPeriodic || !bulk.HasCell) throw new MlipException($"surface: {bulk.Formula()} is not a periodic crystal");
        var (c1, c2, c3) = SurfaceBasis(bulk.Cell, h, k, l);
        var basis = new Matrix3(c1[0], c1[1], c1[2], c2[0], c2[1], c2[2], c3[0], c3[1], c3[2]);
        // fractional coordinates in the new cell basis·cell (rows), wrapped into [0, 1); a left-handed cell gets −c3 (the same plane and layers)
        var cell = basis * bulk.Cell;
        if (cell.Determinant < 0)
        {
            basis = new Matrix3(c1[0], c1[1], c1[2], c2[0], c2[1], c2[2], -c3[0], -c3[1], -c3[2]);
            cell = basis * bulk.Cell;
        }
        var inv = cell.Inverse();
        var frac = new Vec3[bulk.Count];
        for (int i = 0; i < bulk.Count; i++)
        {
            var f = bulk.Positions[i] * inv;
            frac[i] = new Vec3(Wrap(f.X), Wrap(f.Y), Wrap(f.Z));
        }
        var a1 = cell.Row(0); var a2 = cell.Row(1); var a3 = cell.Row(2);
        var pos = new List<Vec3>(bulk.Count * layers);
        var z = new List<int>(bulk.Count * layers);
        for (int layer = 0; layer < layers; layer++)
            for (int i = 0; i < bulk.Count; i++)
            {
                pos.Add(frac[i].X * a1 + frac[i].Y * a2 + (frac[i].Z + layer) * a3);
                z.Add(bulk.AtomicNumbers[i]);
            }
        // rotate: x along a1, z along the plane's normal
        var n = Vec3.Cross(a1, a2);
        n /= n.Norm;
        var ex = a1 / a1.Norm;
        var ey = Vec3.Cross(n, ex);
        Vec3 Rot(Vec3 v) => new(Vec3.Dot(v, ex), Vec3.Dot(v, ey), Vec3.Dot(v, n));
        double thickness = layers * Vec3.Dot(a3, n);
        var ra1 = Rot(a1); var ra2 = Rot(a2);
        var rpos = pos.Select(Rot).ToArray();
        // wrap in the plane, centre along the normal
        var inPlane = Matrix3.FromRows(ra1, ra2, new Vec3(0, 0, 1));
        var inPlaneInv = inPlane.Inverse();
        double zMin = double.PositiveInfinity, zMax = double.NegativeInfinity;
        for (int i = 0; i < rpos.Length; i++)
        {
            var f = rpos[i] * inPlaneInv;
            rpos[i] = new Vec3(Wrap(f.X), Wrap(f.Y), 0) * inPlane + new Vec3(0, 0, rpos[i].Z);
            zMin = Math.Min(zMin, rpos[i].Z); zMax = Math.Max(zMax, rpos[i].Z);
        }
        double height = thickness + vacuum;
        double shift = height / 2 - (zMin + zMax) / 2;
        for (int i = 0; i < rpos.Length; i++) rpos[i] += new Vec3(0, 0, shift);
        var slab = new Structure(Matrix3.FromRows(ra1, ra2, new Vec3(0, 0, height)), rpos, [.. z], PeriodicFlags.All)
        {
            Group = FormattableString.Invariant($"surface_{h}{k}{l}"),
        };
        return slab;
    }

    /// <summary>The integer basis (c1, c2 in the (h k l) plane, c3 out of it, determinant ±1) of ASE's <c>surface</c>.</summary>
    public static (long[] C1, long[] C2, long[] C3) SurfaceBasis(Matrix3 cell, int h, int k, int l)
    {
        long[] c1, c2, c3;
        bool h0 = h == 0, k0 = k == 0, l0 = l == 0;
        if ((h0 && k0) || (h0 && l0) || (k0 && l0))
        {
            if (!h0) (c1, c2, c3) = ([0, 1, 0], [0, 0, 1], [1, 0, 0]);
            else if (!k0) (c1, c2, c3) = ([0, 0, 1], [1, 0, 0], [0, 1, 0]);
            else (c1, c2, c3) = ([1, 0, 0], [0, 1, 0], [0, 0, 1]);
        }
        else
        {
            var (p, q) = ExtGcd(k, l);
            var a1 = cell.Row(0); var a2 = cell.Row(1); var a3 = cell.Row(2);
            var v = l * a2 - k * a3;
            double k1 = Vec3.Dot(p * (k * a1 - h * a2) + q * (l * a1 - h * a3), v);
            double k2 = Vec3.Dot(l * (k * a1 - h * a2) - k * (l * a1 - h * a3), v);
            if (Math.Abs(k2) > 1e-10)
            {
                long i = -(long)Math.Round(k1 / k2, MidpointRounding.ToEven);
                (p, q) = (p + i * l, q - i * k);
            }
            var (a, b) = ExtGcd(p * k + q * l, h);
            c1 = [p * k + q * l, -p * h, -q * h];
            long g = Math.Abs(Gcd(l, k));
            c2 = [0, l / g, -k / g];
            c3 = [b, a * p, a * q];
        }
        long det = c1[0] * (c2[1] * c3[2] - c2[2] * c3[1]) - c1[1] * (c2[0] * c3[2] - c2[2] * c3[0]) + c1[2] * (c2[0] * c3[1] - c2[1] * c3[0]);
        if (Math.Abs(det) != 1) throw new InvalidOperationException($"surface basis of ({h} {k} {l}) has determinant {det}");
        return (c1, c2, c3);
    }

    /// <summary>The structure repeated along its periodic directions until it has at least <paramref name="minAtoms"/> atoms (the shortest direction grown first).</summary>
    public static Structure Enlarge(Structure s, int minAtoms)
    {
        if (!s.HasCell || !s.Pbc.AllPeriodic) return s;
        int[] n = [1, 1, 1];
        while (s.Count * n[0] * n[1] * n[2] < minAtoms)
        {
            int best = 0;
            for (int d = 1; d < 3; d++)
                if (n[d] * s.Cell.Row(d).Norm < n[best] * s.Cell.Row(best).Norm) best = d;
            n[best]++;
        }
        return n[0] * n[1] * n[2] == 1 ? s : Crystals.Supercell(s, n[0], n[1], n[2]);
    }

    private static double Wrap(double f)
    {
        double w = f - Math.Floor(f + 1e-10);
        return w < 0 ? 0 : w;
    }

    private static (long X, long Y) ExtGcd(long a, long b)
    {
        if (b == 0) return (1, 0);
        if (a % b == 0) return (0, 1);
        var (x, y) = ExtGcd(b, FloorMod(a, b));
        return (y, x - y * FloorDiv(a, b));
    }

    private static long FloorDiv(long a, long b) => (long)Math.Floor((double)a / b);
    private static long FloorMod(long a, long b) => a - b * FloorDiv(a, b);
    private static long Gcd(long a, long b) => b == 0 ? a : Gcd(b, a % b);

    private static Structure Clean(Structure s)
    {
        s.Energy = null; s.Forces = null; s.Stress = null;
        s.Info.Clear();
        s.AtomArrays.Clear();
        return s;
    }
}
