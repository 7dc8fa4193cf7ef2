using Mlip.Structures;

namespace Mlip.Generation;

/// <summary>
/// One Wyckoff position of a space group: the orbit of a site subspace x = Origin + Σ u_k Directions[k]
/// (fractional coordinates, <see cref="Dof"/> free parameters) whose points share a site-symmetry group of
/// order <see cref="SiteSymmetryOrder"/>; <see cref="Multiplicity"/> atoms per conventional cell.
/// Letters are our own order (by multiplicity, then freedom), close to but not always the ITA letters.
/// </summary>
public sealed record WyckoffPosition(char Letter, int Multiplicity, int Dof, int SiteSymmetryOrder, Vec3 Origin, Vec3[] Directions)
{
    /// <summary>The point of the site subspace for parameters u (one per free direction).</summary>
    public Vec3 Point(ReadOnlySpan<double> u)
    {
        var x = Origin;
        for (int k = 0; k < Directions.Length; k++) x += u[k] * Directions[k];
        return FractionalMath.Wrap(x);
    }

    public override string ToString() => $"{Multiplicity}{Letter} ({Dof} free)";
}

/// <summary>
/// Derives the Wyckoff positions of a space group from its operations alone. Every special position of
/// the 230 groups passes through points whose coordinates are multiples of 1/24, so the derivation
/// computes the stabilizer H(p) = {g : g p ≡ p} of every point p of the 24×24×24 fractional grid; the
/// site subspace through p is the component of Fix(H) = ∩ ker(I − R_h) + p, its dimension the
/// freedom. Site subspaces are identified by (H, component invariant) and merged into Wyckoff
/// positions when an operation maps one onto another (union-find over the orbits). The multiplicity
/// is |G| / |H|.
/// </summary>
internal static class WyckoffDerivation
{
    private const int Grid = 24;

    private sealed class SiteSubspace
    {
        public required int[] Point;        // in 1/24 units
        public required int StabilizerOrder;
        public required int Dim;
        public required int[][] Directions; // integer directions
    }

    private sealed class StabilizerInfo
    {
        public required int Order;
        public required int Dim;
        public required int[][] Directions;
        public int[]? LineDirection;   // dim 1
        public int LineIndex = -1;     // a component equal to ±1
        public int[]? PlaneNormal;     // dim 2
    }

    public static IReadOnlyList<WyckoffPosition> Derive(SpaceGroup group)
    {
        var ops = group.Operations;
        int g = ops.Length;
        if (g > 192) throw new InvalidOperationException("more than 192 operations");
        var rot = new int[g * 9];
        var t24 = new int[g * 3];
        for (int k = 0; k < g; k++)
        {
            Array.Copy(ops[k].Rotation, 0, rot, 9 * k, 9);
            for (int c = 0; c < 3; c++)
            {
                double v = ops[k].Translation[c] * Grid;
                int iv = (int)Math.Round(v);
                if (Math.Abs(v - iv) > 1e-6) throw new InvalidOperationException($"{group}: translation {ops[k].Translation} is not a multiple of 1/{Grid}");
                t24[3 * k + c] = Mod(iv);
            }
        }

        var stabilizers = new Dictionary<(ulong, ulong, ulong), StabilizerInfo>();
        var siteIndex = new Dictionary<(ulong, ulong, ulong, int), int>();
        var sites = new List<SiteSubspace>();
        var siteOf = new int[Grid * Grid * Grid];
        Span<ulong> mask = stackalloc ulong[3];
        for (int a = 0; a < Grid; a++)
            for (int b = 0; b < Grid; b++)
                for (int c = 0; c < Grid; c++)
                {
                    mask.Clear();
                    int order = 0;
                    for (int k = 0; k < g; k++)
                    {
                        int o = 9 * k;
                        int x = rot[o] * a + rot[o + 1] * b + rot[o + 2] * c + t24[3 * k] - a;
                        if (Mod(x) != 0) continue;
                        int y = rot[o + 3] * a + rot[o + 4] * b + rot[o + 5] * c + t24[3 * k + 1] - b;
                        if (Mod(y) != 0) continue;
                        int z = rot[o + 6] * a + rot[o + 7] * b + rot[o + 8] * c + t24[3 * k + 2] - c;
                        if (Mod(z) != 0) continue;
                        mask[k >> 6] |= 1UL << (k & 63);
                        order++;
                    }
                    int index = (a * Grid + b) * Grid + c;
                    if (order <= 1) { siteOf[index] = -1; continue; }
                    var key = (mask[0], mask[1], mask[2]);
                    if (!stabilizers.TryGetValue(key, out var info))
                        stabilizers[key] = info = Analyse(rot, mask, order);
                    int component = ComponentKey(info, a, b, c);
                    if (!siteIndex.TryGetValue((key.Item1, key.Item2, key.Item3, component), out int site))
                    {
                        site = sites.Count;
                        siteIndex[(key.Item1, key.Item2, key.Item3, component)] = site;
                        sites.Add(new SiteSubspace { Point = [a, b, c], StabilizerOrder = order, Dim = info.Dim, Directions = info.Directions });
                    }
                    siteOf[index] = site;
                }

        // Union the site subspaces that an operation maps onto each other.
        var parent = new int[sites.Count];
        for (int i = 0; i < parent.Length; i++) parent[i] = i;
        for (int s = 0; s < sites.Count; s++)
        {
            var p = sites[s].Point;
            for (int k = 0; k < g; k++)
            {
                int o = 9 * k;
                int x = Mod(rot[o] * p[0] + rot[o + 1] * p[1] + rot[o + 2] * p[2] + t24[3 * k]);
                int y = Mod(rot[o + 3] * p[0] + rot[o + 4] * p[1] + rot[o + 5] * p[2] + t24[3 * k + 1]);
                int z = Mod(rot[o + 6] * p[0] + rot[o + 7] * p[1] + rot[o + 8] * p[2] + t24[3 * k + 2]);
                int other = siteOf[(x * Grid + y) * Grid + z];
                if (other < 0) throw new InvalidOperationException($"{group}: the image of a special point is general");
                Union(parent, s, other);
            }
        }

        var seen = new HashSet<int>();
        var found = new List<(int Mult, int Dof, int Order, Vec3 Origin, Vec3[] Dirs)>
        {
            (g, 3, 1, Vec3.Zero, [new Vec3(1, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, 1)]),
        };
        for (int s = 0; s < sites.Count; s++)
        {
            int root = Find(parent, s);
            if (!seen.Add(root)) continue;
            var site = sites[root];
            var dirs = new Vec3[site.Directions.Length];
            for (int d = 0; d < dirs.Length; d++) dirs[d] = new Vec3(site.Directions[d][0], site.Directions[d][1], site.Directions[d][2]);
            var origin = new Vec3(site.Point[0], site.Point[1], site.Point[2]) / Grid;
            found.Add((g / site.StabilizerOrder, site.Dim, site.StabilizerOrder, origin, dirs));
        }
        // letters: a = fewest atoms / least freedom (as in the ITA tables, which order by site symmetry)
        found.Sort((x, y) => x.Mult != y.Mult ? x.Mult.CompareTo(y.Mult) : x.Dof != y.Dof ? x.Dof.CompareTo(y.Dof)
            : CompareVec(x.Origin, y.Origin));
        var result = new WyckoffPosition[found.Count];
        for (int i = 0; i < found.Count; i++)
        {
            var f = found[i];
            char letter = i < 26 ? (char)('a' + i) : 'A';
            result[found.Count - 1 - i] = new WyckoffPosition(letter, f.Mult, f.Dof, f.Order, f.Origin, f.Dirs);
        }
        return result;
    }

    private static int CompareVec(Vec3 a, Vec3 b) =>
        a.X != b.X ? a.X.CompareTo(b.X) : a.Y != b.Y ? a.Y.CompareTo(b.Y) : a.Z.CompareTo(b.Z);

    private static int Mod(int x) { x %= Grid; return x < 0 ? x + Grid : x; }

    private static int Find(int[] parent, int i)
    {
        while (parent[i] != i) { parent[i] = parent[parent[i]]; i = parent[i]; }
        return i;
    }

    private static void Union(int[] parent, int a, int b)
    {
        a = Find(parent, a); b = Find(parent, b);
        if (a != b) parent[Math.Max(a, b)] = Math.Min(a, b);
    }

    /// <summary>An invariant of the component of Fix(H) through p, the same for every point of that component modulo lattice vectors.</summary>
    private static int ComponentKey(StabilizerInfo info, int a, int b, int c)
    {
        switch (info.Dim)
        {
            case 0:
                return (a * Grid + b) * Grid + c;
            case 1 when info.LineIndex >= 0:
            {
                // slide along the line until coordinate k is 0: p' = p - (p_k / v_k) v, integer since v_k = ±1
                var v = info.LineDirection!;
                int k = info.LineIndex;
                int[] p = [a, b, c];
                int lambda = p[k] * v[k];
                int x = Mod(p[0] - lambda * v[0]), y = Mod(p[1] - lambda * v[1]), z = Mod(p[2] - lambda * v[2]);
                return (x * Grid + y) * Grid + z;
            }
            case 2:
            {
                var n = info.PlaneNormal!;
                return Mod(n[0] * a + n[1] * b + n[2] * c);
            }
            default:
                return (a * Grid + b) * Grid + c; // no merging (not met in the 230 standard settings)
        }
    }

    /// <summary>Dimension and integer directions of ∩ ker(I − R_h) over the stabilizer.</summary>
    private static StabilizerInfo Analyse(int[] rot, ReadOnlySpan<ulong> mask, int order)
    {
        var rows = new List<int[]>();
        for (int k = 0; k < rot.Length / 9; k++)
        {
            if ((mask[k >> 6] & (1UL << (k & 63))) == 0) continue;
            for (int i = 0; i < 3; i++)
            {
                int[] row = [(i == 0 ? 1 : 0) - rot[9 * k + 3 * i], (i == 1 ? 1 : 0) - rot[9 * k + 3 * i + 1], (i == 2 ? 1 : 0) - rot[9 * k + 3 * i + 2]];
                if (row[0] != 0 || row[1] != 0 || row[2] != 0) rows.Add(row);
            }
        }
        if (rows.Count == 0) return new StabilizerInfo { Order = order, Dim = 3, Directions = [[1, 0, 0], [0, 1, 0], [0, 0, 1]] };
        int[]? cross = null;
        for (int i = 0; i < rows.Count && cross is null; i++)
            for (int j = i + 1; j < rows.Count; j++)
            {
                var cr = Cross(rows[i], rows[j]);
                if (cr[0] != 0 || cr[1] != 0 || cr[2] != 0) { cross = cr; break; }
            }
        if (cross is null)
        {
            var n = Primitive(rows[0]);
            int k = Array.FindIndex(n, x => Math.Abs(x) == 1);
            int[][] dirs;
            if (k >= 0)
            {
                dirs = new int[2][];
                int d = 0;
                for (int j = 0; j < 3; j++)
                {
                    if (j == k) continue;
                    var e = new int[3];
                    e[j] = 1;
                    e[k] = -n[k] * n[j];
                    dirs[d++] = e;
                }
            }
            else
            {
                var u = Primitive(Cross(n, Math.Abs(n[0]) < Math.Abs(n[1]) ? [1, 0, 0] : [0, 1, 0]));
                dirs = [u, Primitive(Cross(n, u))];
            }
            return new StabilizerInfo { Order = order, Dim = 2, Directions = dirs, PlaneNormal = n };
        }
        foreach (var row in rows)
            if (row[0] * cross[0] + row[1] * cross[1] + row[2] * cross[2] != 0)
                return new StabilizerInfo { Order = order, Dim = 0, Directions = [] };
        var v = Primitive(cross);
        return new StabilizerInfo { Order = order, Dim = 1, Directions = [v], LineDirection = v, LineIndex = Array.FindIndex(v, x => Math.Abs(x) == 1) };
    }

    private static int[] Cross(int[] a, int[] b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];

    private static int[] Primitive(int[] v)
    {
        int gcd = 0;
        foreach (int x in v) gcd = Gcd(gcd, Math.Abs(x));
        if (gcd == 0) return v;
        // a fixed sign: first non-zero component positive
        int sign = 1;
        foreach (int x in v) if (x != 0) { sign = Math.Sign(x); break; }
        return [sign * v[0] / gcd, sign * v[1] / gcd, sign * v[2] / gcd];
    }

    private static int Gcd(int a, int b) { while (b != 0) (a, b) = (b, a % b); return a; }
}
