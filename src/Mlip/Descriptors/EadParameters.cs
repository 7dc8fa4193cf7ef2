namespace Mlip.Descriptors;

/// <summary>Which of the two published forms of the EAD density <see cref="Ead"/> computes.</summary>
public enum EadConvention
{
    /// <summary>
    /// What PyXtal_FF's code computes (pyxtal_ff/descriptors/EAD.py, <c>calculate_eamd</c>): the
    /// feature for L sums the squared densities of every monomial of degree 0..L (cumulative), with
    /// the prefactor L!/(lx! ly! lz!) written as L!·(1/(lx! ly! lz!)) and divided by Rc^(2L):
    /// ρ_L = (L!/Rc^(2L)) Σ_{n=0..L} Σ_{lx+ly+lz=n} (1/(lx! ly! lz!)) S²_{lx,ly,lz}.
    /// Use this to reproduce PyXtal_FF feature values.
    /// </summary>
    PyXtalFF,

    /// <summary>
    /// The formula of Zhang, Hu and Jiang (J. Phys. Chem. Lett. 10, 4962, 2019) and of PyXtal_FF's
    /// documentation (thesis eq. 2.63–2.64): only the monomials of degree exactly L,
    /// ρ_L = Σ_{lx+ly+lz=L} L!/(lx! ly! lz!) S²_{lx,ly,lz}, with no Rc scaling.
    /// The two conventions span the same information (one is an invertible triangular mix of the other).
    /// </summary>
    Paper,
}

/// <summary>
/// Parameters of the embedded atom density descriptor (<see cref="Ead"/>). One feature per
/// (L, η, Rs) with L = 0..<see cref="Lmax"/>; feature order is L outermost, then η, then Rs
/// (PyXtal_FF's order), so the count is (Lmax + 1) · |Eta| · |Rs|.
/// Defaults follow PyXtal_FF: Rc = 5 Å, cosine cutoff, L = 2, η = 0.36 Å⁻², ten shifts
/// Rs = 0, 0.5, …, 4.5 Å, neighbours weighted by their atomic number, PyXtal_FF convention.
/// </summary>
public sealed record EadParameters
{
    /// <summary>Cutoff radius Rc (Å). PyXtal_FF default 5.</summary>
    public double Cutoff { get; init; } = 5.0;

    /// <summary>Cutoff function fc (PyXtal_FF default: cosine).</summary>
    public CutoffKind CutoffFunction { get; init; } = CutoffKind.Cosine;

    /// <summary>Highest total angular momentum L = lx + ly + lz, 0 (s) to 3 (f) as in PyXtal_FF. Default 2.</summary>
    public int Lmax { get; init; } = 2;

    /// <summary>Gaussian widths η (Å⁻²) of exp(−η (r − Rs)²). Default [0.36].</summary>
    public IReadOnlyList<double> Eta { get; init; } = [0.36];

    /// <summary>Gaussian centres ("shifts", μ) Rs (Å). Default 0, 0.5, …, 4.5.</summary>
    public IReadOnlyList<double> Rs { get; init; } = Shifts(10, 0, 4.5);

    /// <summary>Element symbols a structure may contain; an atom of any other element is an error.</summary>
    public IReadOnlyList<string> Elements { get; init; } = ["Si"];

    /// <summary>
    /// Weight c_j of a neighbour of each element (same order as <see cref="Elements"/>); null (the
    /// default) uses the atomic number Z_j, as PyXtal_FF does.
    /// </summary>
    public IReadOnlyList<double>? Weights { get; init; }

    /// <summary>Cumulative PyXtal_FF form (default) or the paper's form; see <see cref="EadConvention"/>.</summary>
    public EadConvention Convention { get; init; } = EadConvention.PyXtalFF;

    /// <summary><paramref name="count"/> evenly spaced values from <paramref name="first"/> to <paramref name="last"/> (numpy linspace).</summary>
    public static double[] Shifts(int count, double first, double last)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), "need at least one shift");
        var v = new double[count];
        if (count == 1) { v[0] = first; return v; }
        double step = (last - first) / (count - 1);
        for (int k = 0; k < count; k++) v[k] = first + k * step;
        v[count - 1] = last;
        return v;
    }

    /// <summary>
    /// The EAD-30 setting of the PyXtal_FF reference timings (shared/data/reference-timings.md):
    /// L = 2, η = 0.36, ten shifts 0..4.5 Å, Rc = 4.9 Å, cosine cutoff, Z_j weights: 3 · 1 · 10 = 30 features.
    /// </summary>
    public static EadParameters PyXtalFF30(IReadOnlyList<string>? elements = null) => new()
    {
        Cutoff = 4.9,
        CutoffFunction = CutoffKind.Cosine,
        Lmax = 2,
        Eta = [0.36],
        Rs = Shifts(10, 0, 4.5),
        Elements = elements ?? ["Si"],
        Convention = EadConvention.PyXtalFF,
    };
}
