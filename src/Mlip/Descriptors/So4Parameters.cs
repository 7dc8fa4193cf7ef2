namespace Mlip.Descriptors;

/// <summary>Per-element settings of the SO(4) bispectrum: LAMMPS's radelem and wj.</summary>
public readonly record struct So4Element(string Symbol, double Radius = 0.5, double Weight = 1.0);

/// <summary>
/// Parameters of the SO(4) bispectrum with LAMMPS's names and defaults (<c>compute sna/atom</c>,
/// <c>pair_style snap</c>): the cutoff of a pair (i, j) is rcutfac · (radelem_i + radelem_j).
/// </summary>
public sealed record So4Parameters
{
    /// <summary>Scale of the pair cutoffs: R_ij = RcutFac (radelem_i + radelem_j).</summary>
    public double RcutFac { get; init; } = 4.9;

    /// <summary>rfac0: fraction of π spanned by θ0 at the cutoff (LAMMPS default 0.99363).</summary>
    public double Rfac0 { get; init; } = 0.99363;

    /// <summary>2 J_max: 6, 8, 10 give 30, 55, 91 components.</summary>
    public int TwoJMax { get; init; } = 8;

    /// <summary>rmin0: inner distance of the θ0 mapping (LAMMPS default 0).</summary>
    public double Rmin0 { get; init; }

    /// <summary>switchflag: 1 multiplies each neighbour by the cosine switching function.</summary>
    public bool SwitchFlag { get; init; } = true;

    /// <summary>bzeroflag: 1 subtracts the bispectrum of an isolated atom, (j + 1) · wself³.</summary>
    public bool BzeroFlag { get; init; } = true;

    /// <summary>
    /// quadraticflag: append the products ½B_a² and B_a B_b (b &gt; a) after the linear components, as
    /// compute sna/atom does (the features of a qSNAP model).
    /// </summary>
    public bool QuadraticFlag { get; init; }

    /// <summary>wself: weight of the central atom's own U contribution (LAMMPS: 1).</summary>
    public double WSelf { get; init; } = 1.0;

    /// <summary>Elements with radelem and wj; a structure's elements must all be listed.</summary>
    public IReadOnlyList<So4Element> Elements { get; init; } = [new So4Element("Si", 0.5, 1.0)];

    /// <summary>Largest pair cutoff (Å): the neighbour list must reach this far.</summary>
    public double MaxCutoff
    {
        get
        {
            double m = 0;
            foreach (var e in Elements) m = Math.Max(m, e.Radius);
            return 2 * m * RcutFac;
        }
    }

    /// <summary>Number of B components for 2J_max: (j1, j2, j) with j2 ≤ j1 ≤ j.</summary>
    public static int ComponentCount(int twoJMax)
    {
        int n = 0;
        for (int j1 = 0; j1 <= twoJMax; j1++)
            for (int j2 = 0; j2 <= j1; j2++)
                for (int j = j1 - j2; j <= Math.Min(twoJMax, j1 + j2); j += 2)
                    if (j >= j1) n++;
        return n;
    }
}
