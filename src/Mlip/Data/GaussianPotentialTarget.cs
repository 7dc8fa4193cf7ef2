using Mlip.Neighbors;
using Mlip.Numerics;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Data;

/// <summary>
/// A model atomic potential of one element: v(r) = Σ_m c_m exp(−b_m r²), in OLCAO's atomic units
/// (Hartree, bohr). The default for every element is the silicon-like screened potential
/// c = (−3.0, −1.2, −0.25) Ha, b = (1.5, 0.35, 0.08) bohr⁻² scaled by Z/14 (docs/per-atom-targets.md).
/// </summary>
public sealed record ModelAtomicPotential(double[] Coefficients, double[] Exponents)
{
    public static ModelAtomicPotential For(int z)
    {
        double s = z / 14.0;
        return new ModelAtomicPotential([-3.0 * s, -1.2 * s, -0.25 * s], [1.5, 0.35, 0.08]);
    }
}

/// <summary>
/// The per-atom vector target of OLCAO form (docs/per-atom-targets.md). For atom B, the potential of its
/// neighbours, V_B(r) = Σ_j f_c(d_j) v_j(|r − d_j|) (neighbours j ≠ B within R_c, any periodic image,
/// each weighted by the smooth cosine cutoff f_c), is projected in the 3D L2 norm onto the spherical
/// Gaussians exp(−α_k r²) centred on B with fixed exponents α_k: A = S⁻¹ b with the Gram matrix
/// S_kl = (π/(α_k+α_l))^{3/2} and b_k = ∫ V_B(r) e^{−α_k r²} d³r
/// = Σ_j f_c(d_j) Σ_m c_m (π/(α_k+b_m))^{3/2} exp(−α_k b_m d_j²/(α_k+b_m)). The projection of V_B equals
/// the projection of its spherical average around B, so A is the least-squares fit of that average.
/// Everything is closed form: the target is an exact, smooth function of the environment.
/// Units: r and d in bohr, V in Hartree, α in bohr⁻² (positions are converted from Å).
/// </summary>
public sealed class GaussianPotentialTarget
{
    /// <summary>Bohr radius in Å (CODATA 2018).</summary>
    public const double BohrInAngstrom = 0.529177210903;

    /// <summary>Name of the per-atom array the target is stored under.</summary>
    public const string ArrayName = "olcao_coefficients";

    /// <summary>Info key holding the exponents α_k (bohr⁻²) in every structure that carries the target.</summary>
    public const string AlphasKey = "olcao_alphas";

    private readonly double[] _cholesky; // lower factor of the normalised Gram matrix, row-major
    private readonly double[] _norm;      // 1/sqrt(S_kk)

    public GaussianPotentialTarget(double[] alphas, double cutoffAngstrom = 5.5, Func<int, ModelAtomicPotential>? potentials = null)
    {
        if (alphas.Length == 0) throw new MlipException("no exponents");
        foreach (double a in alphas) if (!(a > 0)) throw new MlipException("exponents must be positive");
        Alphas = alphas;
        Cutoff = cutoffAngstrom;
        Potentials = potentials ?? ModelAtomicPotential.For;
        int n = alphas.Length;
        _norm = new double[n];
        for (int k = 0; k < n; k++) _norm[k] = 1 / Math.Sqrt(Overlap(alphas[k], alphas[k]));
        var g = new double[n * n];
        for (int k = 0; k < n; k++)
            for (int l = 0; l < n; l++) g[k * n + l] = Overlap(alphas[k], alphas[l]) * _norm[k] * _norm[l];
        _cholesky = DenseCholesky.Factor(g, n, CholeskyJitter.None("the Gram matrix of the exponents is not positive definite (exponents too close)"));
        ConditionNumber = EstimateCondition(g);
    }

    /// <summary>α_k = first · (last/first)^{k/(count−1)}: OLCAO's geometric series (Si: 16 values 0.15 … 1e6 bohr⁻²).</summary>
    public static double[] GeometricExponents(int count, double first = 0.15, double last = 1e6)
    {
        if (count < 1) throw new MlipException("need at least one exponent");
        var a = new double[count];
        for (int k = 0; k < count; k++) a[k] = count == 1 ? first : first * Math.Pow(last / first, k / (double)(count - 1));
        return a;
    }

    public double[] Alphas { get; }
    public int Terms => Alphas.Length;

    /// <summary>Neighbour cutoff R_c (Å) of the cosine weight.</summary>
    public double Cutoff { get; }

    public Func<int, ModelAtomicPotential> Potentials { get; }

    /// <summary>2-norm condition number of the normalised Gram matrix (largest/smallest eigenvalue, by power iterations).</summary>
    public double ConditionNumber { get; }

    /// <summary>∫ e^{−a r²} e^{−b r²} d³r = (π/(a+b))^{3/2}.</summary>
    public static double Overlap(double a, double b) => Math.Pow(Math.PI / (a + b), 1.5);

    /// <summary>Per element, the terms of b_k for a neighbour at squared distance d²: Σ_m pre[k,m] exp(−rate[k,m] d²).</summary>
    private sealed record ElementTerms(int Terms, double[] Prefactor, double[] Rate);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, ElementTerms> _terms = new();

    private ElementTerms TermsOf(int z) => _terms.GetOrAdd(z, zz =>
    {
        var v = Potentials(zz);
        int t = Terms, m = v.Coefficients.Length;
        var pre = new double[t * m];
        var rate = new double[t * m];
        for (int k = 0; k < t; k++)
            for (int q = 0; q < m; q++)
            {
                double ak = Alphas[k], bm = v.Exponents[q];
                pre[k * m + q] = v.Coefficients[q] * Math.Pow(Math.PI / (ak + bm), 1.5);
                rate[k * m + q] = ak * bm / (ak + bm);
            }
        return new ElementTerms(m, pre, rate);
    });

    /// <summary>The coefficients A (Terms per atom, atom-major) for every atom of <paramref name="s"/>.</summary>
    public double[] Compute(Structure s)
    {
        var nl = NeighborList.Build(s, Cutoff);
        int n = s.Count, t = Terms;
        var result = new double[n * t];
        var b = new double[t];
        var byAtom = new ElementTerms[n];
        for (int i = 0; i < n; i++) byAtom[i] = TermsOf(s.AtomicNumbers[i]);
        for (int i = 0; i < n; i++)
        {
            Array.Clear(b);
            var neighbors = nl.NeighborsOf(i);
            var distances = nl.DistancesOf(i);
            for (int p = 0; p < neighbors.Length; p++)
            {
                double dA = distances[p];
                if (dA >= Cutoff) continue;
                double fc = 0.5 * (1 + Math.Cos(Math.PI * dA / Cutoff));
                double d = dA / BohrInAngstrom, d2 = d * d;
                var v = byAtom[neighbors[p]];
                int m = v.Terms;
                for (int k = 0; k < t; k++)
                {
                    double sum = 0;
                    for (int q = 0; q < m; q++) sum += v.Prefactor[k * m + q] * Math.Exp(-v.Rate[k * m + q] * d2);
                    b[k] += fc * sum;
                }
            }
            Solve(b, result.AsSpan(i * t, t));
        }
        return result;
    }

    /// <summary>Computes the target of every structure and stores it as <see cref="ArrayName"/>, with the exponents in Info.</summary>
    public void Label(IEnumerable<Structure> structures)
    {
        foreach (var s in structures)
        {
            s.AtomArrays[ArrayName] = new AtomArray(s.Count, Terms, Compute(s));
            s.Info[AlphasKey] = (double[])Alphas.Clone();
        }
    }

    /// <summary>A = S⁻¹ b with the normalised Gram matrix: Ã = G⁻¹ (N b), A = N Ã.</summary>
    private void Solve(double[] b, Span<double> a)
    {
        int n = b.Length;
        for (int k = 0; k < n; k++) a[k] = b[k] * _norm[k];
        DenseCholesky.SolveFactored(_cholesky, n, a[..n], 1);
        for (int k = 0; k < n; k++) a[k] *= _norm[k];
    }

    private double EstimateCondition(double[] g)
    {
        int n = _norm.Length;
        var x = Enumerable.Repeat(1.0, n).ToArray();
        double max = 0;
        for (int it = 0; it < 200; it++)
        {
            var y = new double[n];
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) y[i] += g[i * n + j] * x[j];
            max = Math.Sqrt(y.Sum(v => v * v));
            for (int i = 0; i < n; i++) x[i] = y[i] / max;
        }
        // smallest eigenvalue: power iteration on G⁻¹ through the Cholesky factor
        x = Enumerable.Range(0, n).Select(i => 1.0 + 0.1 * i).ToArray();
        double inv = 0;
        for (int it = 0; it < 200; it++)
        {
            var y = new double[n];
            for (int i = 0; i < n; i++) y[i] = x[i] / _norm[i]; // undo the scaling Solve applies
            var r = new double[n];
            Solve(y, r);
            for (int i = 0; i < n; i++) r[i] /= _norm[i];
            inv = Math.Sqrt(r.Sum(v => v * v));
            for (int i = 0; i < n; i++) x[i] = r[i] / inv;
        }
        return max * inv;
    }
}

/// <summary>Gaussian expansions V(r) = Σ_k A_k exp(−α_k r²) and their errors on a radial grid.</summary>
public static class GaussianExpansion
{
    public static double Evaluate(ReadOnlySpan<double> coefficients, ReadOnlySpan<double> alphas, double r)
    {
        double v = 0, r2 = r * r;
        for (int k = 0; k < coefficients.Length; k++) v += coefficients[k] * Math.Exp(-alphas[k] * r2);
        return v;
    }

    /// <summary>The metric of <see cref="RelativeL2Error"/> on coefficients: G_kl = Σ_g r_g² e^{−α_k r_g²} e^{−α_l r_g²} (row-major).</summary>
    public static double[] Gram(ReadOnlySpan<double> alphas, double rmax = 12.0, int points = 400)
    {
        int n = alphas.Length;
        var g = new double[n * n];
        var e = new double[n];
        double h = rmax / points;
        for (int p = 0; p < points; p++)
        {
            double r = (p + 0.5) * h, w = r * r;
            for (int k = 0; k < n; k++) e[k] = Math.Exp(-alphas[k] * r * r);
            for (int k = 0; k < n; k++) for (int l = 0; l < n; l++) g[k * n + l] += w * e[k] * e[l];
        }
        return g;
    }

    /// <summary>
    /// ‖V_pred − V_ref‖ / ‖V_ref‖ in the 3D L2 norm on a radial grid: points r_g = (g + ½)·rmax/points
    /// (bohr), weights r_g² (the volume element of a spherical function).
    /// </summary>
    public static double RelativeL2Error(ReadOnlySpan<double> predicted, ReadOnlySpan<double> reference, ReadOnlySpan<double> alphas,
        double rmax = 12.0, int points = 400)
    {
        double num = 0, den = 0, h = rmax / points;
        for (int g = 0; g < points; g++)
        {
            double r = (g + 0.5) * h;
            double vr = Evaluate(reference, alphas, r), vp = Evaluate(predicted, alphas, r);
            num += r * r * (vp - vr) * (vp - vr);
            den += r * r * vr * vr;
        }
        return den > 0 ? Math.Sqrt(num / den) : Math.Sqrt(num);
    }
}
