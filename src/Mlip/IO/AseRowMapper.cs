using System.Collections.Frozen;
using System.Globalization;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.IO;

/// <summary>
/// Turns one ASE database row (ase.db's AtomsRow fields, decoded into <see cref="AseValue"/>s) into a
/// <see cref="Structure"/>. Shared by <see cref="AseJsonFormat"/> and <see cref="AseDbFormat"/>.
/// <list type="bullet">
/// <item>numbers, positions (required), cell (3x3, or a cell object with "array"), pbc (missing: not periodic);</item>
/// <item>energy; forces; stress (Voigt xx yy zz yz xz xy, or 3x3, in eV/Å³, converted to GPa);</item>
/// <item>per-atom arrays (<see cref="PerAtomFields"/>) into <see cref="Structure.AtomArrays"/> under ASE's names;</item>
/// <item>free_energy, magmom, dipole, unique_id, ctime, user, calculator and the row id into <see cref="Structure.Info"/>;</item>
/// <item>key_value_pairs into Info; "config_type" (or else "group") sets the group, "weight" the weight;</item>
/// <item>numeric arrays in data whose first dimension is the number of atoms into AtomArrays, numeric arrays in data["info"] into Info (other data is skipped).</item>
/// </list>
/// </summary>
internal static class AseRowMapper
{
    /// <summary>Per-atom fields of a row, stored under these names in <see cref="Structure.AtomArrays"/>.</summary>
    public static readonly string[] PerAtomFields =
        ["charges", "magmoms", "momenta", "initial_magmoms", "initial_charges", "tags", "masses", "energies"];

    private static readonly string[] InfoTextFields = ["unique_id", "user", "calculator"];
    private static readonly string[] InfoNumberFields = ["free_energy", "magmom", "ctime"];

    /// <summary>The row fields the mapping uses; readers may skip decoding anything else.</summary>
    public static readonly FrozenSet<string> UsedFields = FrozenSet.ToFrozenSet(
        ["numbers", "positions", "cell", "pbc", "energy", "forces", "stress", "dipole", "key_value_pairs", "data",
         .. PerAtomFields, .. InfoTextFields, .. InfoNumberFields],
        StringComparer.Ordinal);

    public static Structure ToStructure(AseRow row, InputLocation where)
    {
        var f = row.Fields;
        int[] numbers = AtomicNumbers(Require(row, "numbers", where), where);
        int n = numbers.Length;
        Vec3[] positions = Vectors(Require(row, "positions", where), n, "positions", where);

        PeriodicFlags? cellPbc = null;
        Matrix3 cell = f.TryGetValue("cell", out var c) ? Cell(c, where, ref cellPbc) : Matrix3.Zero;
        PeriodicFlags pbc = f.TryGetValue("pbc", out var p) && p is not AseNull ? Pbc(p, where) : cellPbc ?? PeriodicFlags.None;

        var s = new Structure(cell, positions, numbers, pbc) { Source = where };

        if (Present(f, "energy") is { } e) s.Energy = Scalar(e, "energy", where);
        if (Present(f, "forces") is { } forces) s.Forces = Vectors(forces, n, "forces", where);
        if (Present(f, "stress") is { } stress) s.Stress = StressInGpa(stress, where);

        foreach (string name in PerAtomFields)
            if (Present(f, name) is { } v) s.AtomArrays[name] = PerAtom(v, n, name, where);

        if (Present(f, "key_value_pairs") is { } kvp) ApplyKeyValuePairs(s, kvp, where);
        if (Present(f, "data") is AseObject data) AddDataArrays(s, data, n);

        foreach (string name in InfoNumberFields)
            if (Present(f, name) is { } v) s.Info[name] = Scalar(v, name, where);
        foreach (string name in InfoTextFields)
            if (Present(f, name) is AseText t) s.Info[name] = t.Value;
        if (Present(f, "dipole") is { } dipole)
        {
            var a = Numeric(dipole, "dipole", where);
            if (a.Values.Length != 3) throw new FileFormatException(where, $"'dipole' has {a.Values.Length} values, expected 3");
            s.Info["dipole"] = a.Values;
        }
        s.Info["id"] = row.Id;
        return s;
    }

    private static AseValue? Present(Dictionary<string, AseValue> fields, string name) =>
        fields.TryGetValue(name, out var v) && v is not AseNull ? v : null;

    private static AseValue Require(AseRow row, string name, InputLocation where)
    {
        if (Present(row.Fields, name) is { } v) return v;
        throw new FileFormatException(where, $"ASE row id {row.Id} has no '{name}'");
    }

    private static AseArray Numeric(AseValue v, string name, InputLocation where) => v switch
    {
        AseArray a => a,
        AseNumber x => AseArray.Vector([x.Value], x.Integer.HasValue),
        _ => throw new FileFormatException(where, $"'{name}' should be a numeric array, but is {v.Kind}"),
    };

    private static double Scalar(AseValue v, string name, InputLocation where) => v switch
    {
        AseNumber x => x.Value,
        AseArray { Values.Length: 1 } a => a.Values[0],
        _ => throw new FileFormatException(where, $"'{name}' should be a number, but is {v.Kind}"),
    };

    private static int[] AtomicNumbers(AseValue v, InputLocation where)
    {
        var a = Numeric(v, "numbers", where);
        var z = new int[a.Values.Length];
        for (int i = 0; i < z.Length; i++)
        {
            double x = a.Values[i];
            if (x != Math.Floor(x) || !Elements.IsValidNumber((int)Math.Clamp(x, int.MinValue, int.MaxValue)))
                throw new UnknownElementException(where.WithAtom(i), x.ToString(CultureInfo.InvariantCulture));
            z[i] = (int)x;
        }
        return z;
    }

    /// <summary>An (n, 3) array (or n·3 flat values) as vectors.</summary>
    private static Vec3[] Vectors(AseValue v, int atoms, string name, InputLocation where)
    {
        var a = Numeric(v, name, where);
        double[] x = a.Values;
        if (x.Length % 3 != 0 || (a.Rank >= 2 && a.Shape[^1] != 3))
            throw new FileFormatException(where, $"'{name}' should have 3 values per atom, but is {a.Kind}");
        if (x.Length / 3 != atoms) throw new LabelShapeException(where, name, atoms, x.Length / 3);
        var r = new Vec3[atoms];
        for (int i = 0; i < atoms; i++) r[i] = new Vec3(x[3 * i], x[3 * i + 1], x[3 * i + 2]);
        return r;
    }

    private static Matrix3 Cell(AseValue v, InputLocation where, ref PeriodicFlags? cellPbc)
    {
        switch (v)
        {
            case AseNull:
                return Matrix3.Zero;
            case AseObject o:
                // ase.cell.Cell: {"array": ..., "__ase_objtype__": "cell"}; older ASE also put "pbc" there.
                if (o["pbc"] is { } p and not AseNull) cellPbc = Pbc(p, where);
                return o["array"] is { } array ? Cell(array, where, ref cellPbc) : throw new FileFormatException(where, "'cell' object has no 'array'");
            default:
                var a = Numeric(v, "cell", where);
                if (a.Values.Length != 9) throw new FileFormatException(where, $"'cell' should be 3x3, but is {a.Kind}");
                return Matrix3.FromArray(a.Values);
        }
    }

    private static PeriodicFlags Pbc(AseValue v, InputLocation where)
    {
        switch (v)
        {
            case AseBool b:
                return new PeriodicFlags(b.Value, b.Value, b.Value);
            case AseArray { Values.Length: 3 } a:
                return new PeriodicFlags(a.Values[0] != 0, a.Values[1] != 0, a.Values[2] != 0);
            case AseArray { Values.Length: 1 } a1:
                return new PeriodicFlags(a1.Values[0] != 0, a1.Values[0] != 0, a1.Values[0] != 0);
            default:
                throw new FileFormatException(where, $"'pbc' should be three booleans, but is {v.Kind}");
        }
    }

    private static Stress StressInGpa(AseValue v, InputLocation where)
    {
        var a = Numeric(v, "stress", where);
        Span<double> x = stackalloc double[a.Values.Length == 9 ? 9 : 6];
        if (a.Values.Length != x.Length) throw new LabelShapeException(where, "stress", 6, a.Values.Length);
        for (int i = 0; i < x.Length; i++) x[i] = a.Values[i] * Stress.EvPerCubicAngstromInGpa;
        return x.Length == 6 ? Stress.FromVoigt(x) : Stress.FromMatrix(Matrix3.FromArray(x));
    }

    /// <summary>An array whose first dimension is the atom (any number of components per atom).</summary>
    private static AtomArray PerAtom(AseValue v, int atoms, string name, InputLocation where)
    {
        var a = Numeric(v, name, where);
        int rows = a.Rank == 0 ? 1 : a.Shape[0];
        if (rows != atoms) throw new LabelShapeException(where, name, atoms, rows);
        int components = atoms == 0 ? Math.Max(1, ComponentsOf(a)) : a.Values.Length / atoms;
        if (components < 1) throw new FileFormatException(where, $"'{name}' has no values per atom ({a.Kind})");
        return new AtomArray(atoms, components, atoms == 0 ? [] : a.Values, a.IsInteger);
    }

    private static int ComponentsOf(AseArray a)
    {
        int c = 1;
        for (int i = 1; i < a.Rank; i++) c *= a.Shape[i];
        return c;
    }

    private static void ApplyKeyValuePairs(Structure s, AseValue kvp, InputLocation where)
    {
        if (kvp is not AseObject o)
            throw new FileFormatException(where, $"'key_value_pairs' should be a JSON object, but is {kvp.Kind}");
        foreach (var (key, value) in o.Members)
        {
            object? info = value switch
            {
                AseText t => t.Value,
                AseBool b => b.Value,
                AseNumber { Integer: long l } => l,
                AseNumber x => x.Value,
                AseArray a => a.Values,
                _ => null,
            };
            if (info is not null) s.Info[key] = info;
        }

        var group = o["config_type"] is { } ct and not AseNull ? ct : o["group"];
        if (group is not null and not AseNull) s.Group = GroupName(group, where);

        if (o["weight"] is { } w and not AseNull)
        {
            s.Weight = w is AseNumber x ? x.Value
                : throw new FileFormatException(where, $"key 'weight' should be a number, but is {w.Kind}");
        }
    }

    private static string GroupName(AseValue v, InputLocation where) => v switch
    {
        AseText t => t.Value,
        AseNumber { Integer: long l } => l.ToString(CultureInfo.InvariantCulture),
        AseNumber x => x.Value.ToString("R", CultureInfo.InvariantCulture),
        AseBool b => b.Value ? "True" : "False",
        _ => throw new FileFormatException(where, $"key 'config_type'/'group' should be text, but is {v.Kind}"),
    };

    /// <summary>
    /// Numeric per-atom arrays of data (first dimension = atoms); nothing already read is overwritten.
    /// data["info"], an object of numeric arrays (what Mlip writes for array-valued Info entries), goes to Info.
    /// </summary>
    private static void AddDataArrays(Structure s, AseObject data, int atoms)
    {
        if (data["info"] is AseObject info)
            foreach (var (key, value) in info.Members)
                if (value is AseArray a && !s.Info.ContainsKey(key)) s.Info[key] = a.Values;
        if (atoms == 0) return;
        foreach (var (key, value) in data.Members)
        {
            if (value is not AseArray { Rank: >= 1 } a || a.Shape[0] != atoms || a.Values.Length < atoms) continue;
            if (s.AtomArrays.ContainsKey(key)) continue;
            s.AtomArrays[key] = new AtomArray(atoms, a.Values.Length / atoms, a.Values, a.IsInteger);
        }
    }
}
