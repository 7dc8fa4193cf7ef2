using System.Globalization;

namespace Mlip.Descriptors;

/// <summary>A radial G2 term: exp(−η (r − Rs)²) fc(r).</summary>
public readonly record struct RadialTerm(double Eta, double Rs);

/// <summary>An angular G4/G5 term: 2^(1−ζ) (1 + λ cos θ)^ζ exp(−η Σ r²) Π fc.</summary>
public readonly record struct AngularTerm(double Eta, double Zeta, double Lambda);

/// <summary>How neighbours enter the sums.</summary>
public enum AcsfWeighting
{
    /// <summary>Behler ACSF: a separate channel per neighbour element (G2) and per element pair (G4, G5).</summary>
    ElementResolved,
    /// <summary>Weighted ACSF (wACSF): one channel, each neighbour weighted by Z_j (G2) or Z_j Z_k (G4, G5).</summary>
    AtomicNumber,
}

/// <summary>
/// Parameters of Behler–Parrinello atom-centred symmetry functions (PyXtal_FF thesis eq. 2.57–2.62).
/// G2_i = Σ_j exp(−η (r_ij − Rs)²) fc(r_ij);
/// G4_i = 2^(1−ζ) Σ_{j&lt;k} (1 + λ cos θ_ijk)^ζ exp(−η (r_ij² + r_ik² + r_jk²)) fc(r_ij) fc(r_ik) fc(r_jk);
/// G5_i = 2^(1−ζ) Σ_{j&lt;k} (1 + λ cos θ_ijk)^ζ exp(−η (r_ij² + r_ik²)) fc(r_ij) fc(r_ik).
/// Angular sums run over unordered neighbour pairs (each triplet once, as n2p2 does).
/// </summary>
public sealed record AcsfParameters
{
    /// <summary>Cutoff radius Rc (Å).</summary>
    public double Cutoff { get; init; } = 5.0;

    public CutoffKind CutoffFunction { get; init; } = CutoffKind.Cosine;

    /// <summary>Element symbols of the channels (element-resolved ACSF); required when the data has several elements.</summary>
    public IReadOnlyList<string> Elements { get; init; } = ["Si"];

    public AcsfWeighting Weighting { get; init; } = AcsfWeighting.ElementResolved;

    public IReadOnlyList<RadialTerm> G2 { get; init; } = CentredRadialGrid(6, 5.0);
    public IReadOnlyList<AngularTerm> G4 { get; init; } = AngularGrid([0.005, 0.05], [1, 4], [1, -1]);
    public IReadOnlyList<AngularTerm> G5 { get; init; } = [];

    /// <summary>
    /// Centred radial grid (Imbalzano et al., J. Chem. Phys. 148, 241730, 2018): Rs = 0,
    /// η_m = (n^(m/n) / Rc)², m = 0..n.
    /// </summary>
    public static RadialTerm[] CentredRadialGrid(int n, double cutoff)
    {
        var terms = new RadialTerm[n + 1];
        for (int m = 0; m <= n; m++)
        {
            double s = Math.Pow(n, (double)m / n) / cutoff;
            terms[m] = new RadialTerm(s * s, 0);
        }
        return terms;
    }

    /// <summary>
    /// Shifted radial grid (Imbalzano et al. 2018): Rs_m = Rc / n^(m/n), η_m = 1 / (Rs_(n−m) − Rs_(n−m−1))², m = 0..n−1.
    /// </summary>
    public static RadialTerm[] ShiftedRadialGrid(int n, double cutoff)
    {
        var rs = new double[n + 1];
        for (int m = 0; m <= n; m++) rs[m] = cutoff / Math.Pow(n, (double)m / n);
        var terms = new RadialTerm[n];
        for (int m = 0; m < n; m++)
        {
            double d = rs[n - m - 1] - rs[n - m];
            terms[m] = new RadialTerm(1 / (d * d), rs[m]);
        }
        return terms;
    }

    /// <summary>All combinations of η, ζ, λ.</summary>
    public static AngularTerm[] AngularGrid(double[] etas, double[] zetas, double[] lambdas)
    {
        var list = new List<AngularTerm>();
        foreach (double e in etas)
            foreach (double z in zetas)
                foreach (double l in lambdas)
                    list.Add(new AngularTerm(e, z, l));
        return [.. list];
    }

    internal static string Format(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
