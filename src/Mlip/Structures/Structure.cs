using System.Text;
using Mlip.Validation;

namespace Mlip.Structures;

/// <summary>
/// One atomic configuration with its optional labels. Plain data: the lattice (rows are the cell
/// vectors a, b, c in Å), Cartesian positions (Å), the element of each atom, periodicity per cell
/// direction, and the reference values a potential is fitted to: total energy (eV), forces (eV/Å),
/// stress (GPa, tension positive; see <see cref="Structures.Stress"/>), plus the group it belongs
/// to, a fitting weight, free-form info and named per-atom arrays.
/// </summary>
public sealed class Structure
{
    public Structure(Matrix3 cell, Vec3[] positions, int[] atomicNumbers, PeriodicFlags pbc)
    {
        ArgumentNullException.ThrowIfNull(positions);
        ArgumentNullException.ThrowIfNull(atomicNumbers);
        if (positions.Length != atomicNumbers.Length)
            throw new ArgumentException($"{positions.Length} positions but {atomicNumbers.Length} elements");
        foreach (int z in atomicNumbers)
            if (!Elements.IsValidNumber(z)) throw new UnknownElementException(InputLocation.Unknown, z.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Cell = cell;
        Positions = positions;
        AtomicNumbers = atomicNumbers;
        Pbc = pbc;
    }

    /// <summary>Builds a structure from element symbols.</summary>
    public static Structure FromSymbols(Matrix3 cell, Vec3[] positions, IReadOnlyList<string> symbols, PeriodicFlags pbc)
    {
        var z = new int[symbols.Count];
        for (int i = 0; i < z.Length; i++) z[i] = Elements.Number(symbols[i]);
        return new Structure(cell, positions, z, pbc);
    }

    /// <summary>Lattice, rows are the cell vectors (Å).</summary>
    public Matrix3 Cell { get; set; }

    /// <summary>Cartesian positions (Å).</summary>
    public Vec3[] Positions { get; }

    /// <summary>Atomic number of each atom.</summary>
    public int[] AtomicNumbers { get; }

    public PeriodicFlags Pbc { get; set; }

    public int Count => Positions.Length;

    public string Symbol(int atom) => Elements.Symbol(AtomicNumbers[atom]);

    public string[] Symbols()
    {
        var s = new string[Count];
        for (int i = 0; i < s.Length; i++) s[i] = Elements.Symbol(AtomicNumbers[i]);
        return s;
    }

    // ----- labels -----

    /// <summary>Total energy in eV.</summary>
    public double? Energy { get; set; }

    /// <summary>Forces in eV/Å, one per atom.</summary>
    public Vec3[]? Forces { get; set; }

    /// <summary>Stress in GPa, tension positive.</summary>
    public Stress? Stress { get; set; }

    /// <summary>Group (config type) name used for per-group weights and error tables.</summary>
    public string? Group { get; set; }

    /// <summary>Fitting weight of the whole structure (1 by default).</summary>
    public double Weight { get; set; } = 1.0;

    /// <summary>Free-form key-value information (string, double, long, bool or double[] values).</summary>
    public Dictionary<string, object> Info { get; } = new(StringComparer.Ordinal);

    /// <summary>Named per-atom arrays (charges, magnetic moments, per-atom targets ...).</summary>
    public Dictionary<string, AtomArray> AtomArrays { get; } = new(StringComparer.Ordinal);

    /// <summary>Where this structure was read from (for error messages); null when built in code.</summary>
    public InputLocation? Source { get; set; }

    // ----- geometry -----

    /// <summary>Cell volume in Å³ (absolute value of the determinant).</summary>
    public double Volume => Math.Abs(Cell.Determinant);

    public bool HasCell => Volume > 0;

    /// <summary>Fractional coordinates s with r = s · Cell.</summary>
    public Vec3[] FractionalPositions()
    {
        var inv = Cell.Inverse();
        var s = new Vec3[Count];
        for (int i = 0; i < s.Length; i++) s[i] = Positions[i] * inv;
        return s;
    }

    /// <summary>Distinct elements in order of increasing atomic number.</summary>
    public int[] DistinctAtomicNumbers()
    {
        var set = new SortedSet<int>(AtomicNumbers);
        return [.. set];
    }

    /// <summary>Reduced-order formula in order of first appearance, e.g. "Si64" or "Ga32As32".</summary>
    public string Formula()
    {
        var counts = new Dictionary<int, int>();
        var order = new List<int>();
        foreach (int z in AtomicNumbers)
        {
            if (!counts.TryGetValue(z, out int c)) order.Add(z);
            counts[z] = c + 1;
        }
        var sb = new StringBuilder();
        foreach (int z in order) sb.Append(Elements.Symbol(z)).Append(counts[z]);
        return sb.ToString();
    }

    public bool HasLabels => Energy.HasValue || Forces is not null || Stress.HasValue;

    /// <summary>A deep copy (positions, labels, info, arrays).</summary>
    public Structure Clone()
    {
        var s = new Structure(Cell, (Vec3[])Positions.Clone(), (int[])AtomicNumbers.Clone(), Pbc)
        {
            Energy = Energy,
            Forces = Forces is null ? null : (Vec3[])Forces.Clone(),
            Stress = Stress,
            Group = Group,
            Weight = Weight,
            Source = Source,
        };
        foreach (var (k, v) in Info) s.Info[k] = v is double[] a ? a.Clone() : v;
        foreach (var (k, v) in AtomArrays) s.AtomArrays[k] = v.Clone();
        return s;
    }

    /// <summary>A copy with positions mapped into the cell along periodic directions (labels kept).</summary>
    public Structure Wrapped()
    {
        var s = Clone();
        if (!HasCell) return s;
        var inv = Cell.Inverse();
        for (int i = 0; i < Count; i++)
        {
            var f = Positions[i] * inv;
            double fx = Pbc.A ? f.X - Math.Floor(f.X) : f.X;
            double fy = Pbc.B ? f.Y - Math.Floor(f.Y) : f.Y;
            double fz = Pbc.C ? f.Z - Math.Floor(f.Z) : f.Z;
            s.Positions[i] = new Vec3(fx, fy, fz) * Cell;
        }
        return s;
    }

    public override string ToString() => $"{Formula()} ({Count} atoms)";
}
