namespace Mlip.Structures;

/// <summary>Builds common crystals (conventional cubic cells), supercells, strains and rattles.</summary>
public static class Crystals
{
    /// <summary>Diamond structure, 8-atom conventional cubic cell of lattice constant <paramref name="a"/> Å.</summary>
    public static Structure Diamond(string symbol, double a) => Cubic(symbol, a,
    [
        new(0, 0, 0), new(0, 0.5, 0.5), new(0.5, 0, 0.5), new(0.5, 0.5, 0),
        new(0.25, 0.25, 0.25), new(0.25, 0.75, 0.75), new(0.75, 0.25, 0.75), new(0.75, 0.75, 0.25),
    ]);

    /// <summary>Zincblende (diamond with the second fcc sublattice of <paramref name="second"/>), 8-atom conventional cell.</summary>
    public static Structure Zincblende(string first, string second, double a)
    {
        var s = Diamond(first, a);
        int z = Elements.Number(second);
        for (int i = 4; i < 8; i++) s.AtomicNumbers[i] = z;
        return s;
    }

    /// <summary>Rock salt (two interpenetrating fcc lattices, <paramref name="second"/> shifted by a/2 along x), 8-atom conventional cell.</summary>
    public static Structure RockSalt(string first, string second, double a)
    {
        var s = Cubic(first, a,
        [
            new(0, 0, 0), new(0, 0.5, 0.5), new(0.5, 0, 0.5), new(0.5, 0.5, 0),
            new(0.5, 0, 0), new(0.5, 0.5, 0.5), new(0, 0, 0.5), new(0, 0.5, 0),
        ]);
        int z = Elements.Number(second);
        for (int i = 4; i < 8; i++) s.AtomicNumbers[i] = z;
        return s;
    }

    /// <summary>Face-centred cubic, 4-atom conventional cell.</summary>
    public static Structure Fcc(string symbol, double a) =>
        Cubic(symbol, a, [new(0, 0, 0), new(0, 0.5, 0.5), new(0.5, 0, 0.5), new(0.5, 0.5, 0)]);

    /// <summary>Body-centred cubic, 2-atom conventional cell.</summary>
    public static Structure Bcc(string symbol, double a) => Cubic(symbol, a, [new(0, 0, 0), new(0.5, 0.5, 0.5)]);

    /// <summary>Simple cubic, 1 atom.</summary>
    public static Structure SimpleCubic(string symbol, double a) => Cubic(symbol, a, [new(0, 0, 0)]);

    private static Structure Cubic(string symbol, double a, Vec3[] fractional)
    {
        var cell = Matrix3.Diagonal(a, a, a);
        var pos = new Vec3[fractional.Length];
        for (int i = 0; i < pos.Length; i++) pos[i] = fractional[i] * cell;
        int z = Elements.Number(symbol);
        var numbers = new int[pos.Length];
        Array.Fill(numbers, z);
        return new Structure(cell, pos, numbers, PeriodicFlags.All);
    }

    /// <summary>The na × nb × nc supercell (labels are dropped; per-atom arrays are repeated).</summary>
    public static Structure Supercell(Structure s, int na, int nb, int nc)
    {
        if (na < 1 || nb < 1 || nc < 1) throw new ArgumentOutOfRangeException(nameof(na), "repeats must be >= 1");
        int n = s.Count * na * nb * nc;
        var pos = new Vec3[n];
        var z = new int[n];
        var a = s.Cell.Row(0); var b = s.Cell.Row(1); var c = s.Cell.Row(2);
        int k = 0;
        for (int ia = 0; ia < na; ia++)
            for (int ib = 0; ib < nb; ib++)
                for (int ic = 0; ic < nc; ic++)
                {
                    var t = ia * a + ib * b + ic * c;
                    for (int i = 0; i < s.Count; i++, k++)
                    {
                        pos[k] = s.Positions[i] + t;
                        z[k] = s.AtomicNumbers[i];
                    }
                }
        var cell = Matrix3.FromRows(na * a, nb * b, nc * c);
        var result = new Structure(cell, pos, z, s.Pbc) { Group = s.Group, Weight = s.Weight };
        int copies = na * nb * nc;
        foreach (var (name, arr) in s.AtomArrays)
        {
            var values = new double[n * arr.Components];
            for (int r = 0; r < copies; r++) Array.Copy(arr.Values, 0, values, r * arr.Values.Length, arr.Values.Length);
            result.AtomArrays[name] = new AtomArray(n, arr.Components, values, arr.IsInteger);
        }
        return result;
    }

    /// <summary>Moves every atom by a uniform random displacement in [-amplitude, amplitude] per component.</summary>
    public static Structure Rattle(Structure s, double amplitude, int seed)
    {
        var r = s.Clone();
        r.Energy = null; r.Forces = null; r.Stress = null;
        var rng = new Random(seed);
        for (int i = 0; i < r.Count; i++)
            r.Positions[i] += new Vec3(
                amplitude * (2 * rng.NextDouble() - 1),
                amplitude * (2 * rng.NextDouble() - 1),
                amplitude * (2 * rng.NextDouble() - 1));
        return r;
    }

    /// <summary>
    /// Applies a homogeneous deformation: cell and positions are multiplied by (I + ε) on the right
    /// (row vectors), ε given as a full 3x3 matrix. Labels are dropped.
    /// </summary>
    public static Structure Deform(Structure s, Matrix3 strain)
    {
        var f = Matrix3.Identity + strain;
        var r = s.Clone();
        r.Energy = null; r.Forces = null; r.Stress = null;
        r.Cell = s.Cell * f;
        for (int i = 0; i < r.Count; i++) r.Positions[i] = s.Positions[i] * f;
        return r;
    }
}
