using System.Globalization;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Descriptors;

/// <summary>
/// Parameters of the SO(3) power spectrum (<see cref="So3"/>), named after the keywords of LAMMPS's
/// ML-IAP <c>descriptor so3</c> parameter file (<c>.mliap.descriptor</c>): <c>rcutfac</c>,
/// <c>nmax</c>, <c>lmax</c>, <c>alpha</c>, <c>nelems</c>/<c>elems</c>, <c>radelems</c>,
/// <c>welems</c>. The defaults are the "SO3-40" setting (nmax 4, lmax 3, alpha 2, rc 4.9 Å):
/// nmax(nmax+1)/2 · (lmax+1) = 10 · 4 = 40 features.
/// </summary>
/// <remarks>
/// How LAMMPS uses them (src/ML-IAP/mliap_descriptor_so3.cpp, mliap_data.cpp, mliap_so3.cpp,
/// 20220106 and later), which Mlip follows:
/// <list type="bullet">
/// <item><c>rcutfac</c> is the radius of the radial basis and of the cosine switching function
/// fc(r) = ½(cos(π r/rcutfac) + 1); a pair contributes nothing beyond it.</item>
/// <item><c>radelems</c> only select pairs: a pair of elements (a, b) is kept when
/// r² &lt; ((rad_a + rad_b)·rcutfac)². With the usual 0.5 this is r &lt; rcutfac; smaller radii cut
/// the pair off abruptly (the descriptor is then discontinuous there); larger radii change nothing.</item>
/// <item><c>welems</c> weight the neighbour density by the neighbour's element; LAMMPS stores the
/// weight in an <c>int</c> (<c>int weight = wjelem[jelem]</c>), so a fractional weight is truncated
/// toward zero (2.9 → 2, 0.5 → 0). Mlip does the same so that a model fitted here means the same
/// in LAMMPS; <see cref="EffectiveWeight"/> gives the value used.</item>
/// <item>The centre atom's element enters only through its radius.</item>
/// </list>
/// PyXtal_FF writes <c>radelems 0.5</c> and <c>welems</c> = atomic numbers (its own SO3 code
/// weights neighbours by Z_j); those are the defaults here when <see cref="Radii"/> or
/// <see cref="Weights"/> are left null.
/// </remarks>
public sealed record So3Parameters
{
    /// <summary><c>rcutfac</c>: cutoff radius of the radial basis and switching function (Å).</summary>
    public double Rcutfac { get; init; } = 4.9;

    /// <summary><c>nmax</c>: number of radial basis functions (1 ≤ nmax; see <see cref="So3RadialBasis"/> for the upper limit).</summary>
    public int Nmax { get; init; } = 4;

    /// <summary><c>lmax</c>: largest angular momentum of the spherical harmonics.</summary>
    public int Lmax { get; init; } = 3;

    /// <summary><c>alpha</c>: exponent of the Gaussian smearing exp(−α |r − r_j|²) of each neighbour (Å⁻²).</summary>
    public double Alpha { get; init; } = 2.0;

    /// <summary><c>elems</c>: element symbols; every atom of a structure must be one of them.</summary>
    public IReadOnlyList<string> Elements { get; init; } = ["Si"];

    /// <summary><c>radelems</c>, one per element; null means 0.5 for every element.</summary>
    public IReadOnlyList<double>? Radii { get; init; }

    /// <summary><c>welems</c>, one per element; null means the atomic numbers (as PyXtal_FF writes).</summary>
    public IReadOnlyList<double>? Weights { get; init; }

    /// <summary>nmax(nmax+1)/2 · (lmax+1).</summary>
    public int FeatureCount => Nmax * (Nmax + 1) / 2 * (Lmax + 1);

    /// <summary>The <c>radelems</c> value of element <paramref name="e"/> (index into <see cref="Elements"/>).</summary>
    public double RadiusOf(int e) => Radii is null ? 0.5 : Radii[e];

    /// <summary>The <c>welems</c> value of element <paramref name="e"/> as written.</summary>
    public double WeightOf(int e) => Weights is null ? Structures.Elements.Number(Elements[e]) : Weights[e];

    /// <summary>The weight LAMMPS actually applies: <see cref="WeightOf"/> truncated toward zero to an integer.</summary>
    public double EffectiveWeight(int e) => Math.Truncate(WeightOf(e));

    /// <summary>Throws <see cref="MlipException"/> for values LAMMPS would reject or mis-handle.</summary>
    public void Validate()
    {
        if (!(Rcutfac > 0) || !double.IsFinite(Rcutfac)) throw new MlipException($"SO3 rcutfac must be positive (got {Format(Rcutfac)})");
        if (!(Alpha > 0) || !double.IsFinite(Alpha)) throw new MlipException($"SO3 alpha must be positive (got {Format(Alpha)})");
        if (Nmax < 1) throw new MlipException($"SO3 nmax must be at least 1 (got {Nmax})");
        if (Lmax < 0 || Lmax > DescriptorLimits.MaxLmax) throw new MlipException($"SO3 lmax must be between 0 and {DescriptorLimits.MaxLmax} (got {Lmax})");
        if (Rcutfac > DescriptorLimits.MaxCutoff) throw new MlipException($"SO3 rcutfac must be at most {DescriptorLimits.MaxCutoff} Å (got {Format(Rcutfac)})");
        if (Elements.Count == 0) throw new MlipException("SO3 needs at least one element");
        foreach (var e in Elements)
            if (!Structures.Elements.TryNumber(e, out _)) throw new MlipException($"SO3: unknown element '{e}'");
        if (Elements.Distinct().Count() != Elements.Count) throw new MlipException("SO3: an element is listed twice");
        if (Radii is not null && Radii.Count != Elements.Count)
            throw new MlipException($"SO3 radelems has {Radii.Count} values for {Elements.Count} elements");
        if (Weights is not null && Weights.Count != Elements.Count)
            throw new MlipException($"SO3 welems has {Weights.Count} values for {Elements.Count} elements");
        for (int e = 0; e < Elements.Count; e++)
        {
            if (!(RadiusOf(e) > 0) || !double.IsFinite(RadiusOf(e))) throw new MlipException($"SO3 radelems of {Elements[e]} must be positive");
            if (!double.IsFinite(WeightOf(e)) || Math.Abs(WeightOf(e)) >= int.MaxValue)
                throw new MlipException($"SO3 welems of {Elements[e]} must be a finite number within the int range");
        }
    }

    internal static string Format(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
