using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Mlip.Numerics;
using Mlip.Validation;

namespace Mlip.Descriptors;

/// <summary>
/// The radial part of the SO(3) expansion coefficients, exactly as LAMMPS ML-IAP
/// <c>descriptor so3</c> computes it (src/ML-IAP/mliap_so3.cpp: compute_W, phi, compute_g,
/// init_garray, get_sbes_array, get_rip_array):
/// <code>
///   R_nl(r) = 4π e^(−α r²) ∫_0^rc x² g_n(x) e^(−α x²) i_l(2α r x) dx
/// </code>
/// (PyXtal_FF thesis eq. 2.71–2.72; the Gaussian of width α smears each neighbour, and the
/// product of Gaussians leaves the modified spherical Bessel function i_l of the first kind).
/// <list type="bullet">
/// <item>Radial basis: φ_a(x) = (rc − x)^(a+2) / √(2 rc^(2a+7) / ((2a+5)(2a+6)(2a+7))),
/// a = 1..nmax, orthonormalised as g_n = Σ_a W_na φ_a with W = S^(−1/2), S the overlap matrix
/// S_ab = √((2a+5)(2a+6)(2a+7)(2b+5)(2b+6)(2b+7)) / ((5+a+b)(6+a+b)(7+a+b)). W is computed by
/// LAMMPS's own sequence: LU inverse of S, Jacobi eigen-decomposition of S⁻¹ (max-element
/// pivoting, eigenvalues sorted decreasing), W = V √D V⁻¹ with V⁻¹ again by LU. S is badly
/// conditioned (cond ≈ 3.5e5 at nmax 4, 6e8 at nmax 6, 8e11 at nmax 8), so W depends on the
/// algorithm at the 1e-12 (nmax 4) to 1e-5 (nmax 8) level; following LAMMPS step by step keeps
/// Mlip equal to LAMMPS rather than to the exact S^(−1/2). nmax = 8 and nmax ≥ 12 give negative
/// eigenvalues of S⁻¹ in float64 (NaN in LAMMPS) and are rejected here; 9..11 are accepted, as
/// LAMMPS accepts them, but W is then only accurate to ~1e-5..1e-3 (PyXtal_FF refuses nmax &gt; 11).</item>
/// <item>Quadrature: Gauss–Chebyshev with N = (nmax + lmax + 1)·10 points for every (n, l):
/// x_i = cos((2i−1)π/(2N)), ξ_i = rc/2 (x_i + 1), weight rc/2 · π/N · √(1 − x_i²).
/// PyXtal_FF's SO3.py uses N = (n + l + 1)·10 per (n, l) instead; LAMMPS's fixed N is followed.</item>
/// <item>i_l by upward recurrence from i_0 = sinh(z)/z, i_1 = (cosh(z) − i_0)/z,
/// i_l = i_(l−2) − (2l−1)/z · i_(l−1); derivative i_l' = (l i_(l−1) + (l+1) i_(l+1))/(2l+1),
/// i_0' = i_1. Upward recurrence is unstable for small z: at the first quadrature points
/// (ξ ≈ 5e-4 Å) i_l loses about l·log10(1/z) digits. Up to l = 4 this stays below ~1e-10 relative in
/// R_nl, but compared with exact i_l the relative error of R_nl (r = 1.5–4.8 Å, rc 4.9) is, for
/// l = 5: 3e-9 (α = 2), 2e-6 (α = 1), 1e-4 (α = 0.5); for l = 6: 2e-4, 2e-2 and 4e1. That noise is
/// part of LAMMPS's definition, it is not smooth in r (with lmax ≥ 5 and small α the forces of
/// LAMMPS, and of Mlip, are no longer the derivatives of the energies to better than that), and no
/// evaluation that rounds differently reproduces it. Apart from this, the quadrature agrees with
/// adaptive integration of the exact integrand to ~1e-9..1e-8.</item>
/// </list>
/// <see cref="Evaluate"/> is vectorised over the quadrature points (sinh and cosh from one
/// exponential where z &gt; 1, dot products over the points), which rounds differently from LAMMPS's
/// loop: the results agree with LAMMPS to ~1e-13 where the recurrence is stable (l ≤ 4 at α ≥ 2;
/// tests/Mlip.Tests/Descriptors/So3Tests.cs) and only to the amplified round-off above.
/// </summary>
public sealed class So3RadialBasis
{
    private readonly int _nmax, _lmax, _nq;
    private readonly double _rc, _alpha, _pfac1;
    private readonly double[] _w;       // [n][a], row-major nmax × nmax
    private readonly double[] _g;       // [q][n]: quadrature weight · ξ² g_n(ξ) e^(−α ξ²)
    private readonly double[] _gByN;    // the same, [n][q], for dot products over q
    private readonly double[] _xPlus1;  // [q]: x_q + 1 of get_sbes_array
    private readonly double[] _xi;      // [q]: ξ_q of get_sbes_array

    /// <summary>
    /// Largest nmax accepted, PyXtal_FF's limit. In LAMMPS's float64 algorithm nmax 8 and 12–14 give a
    /// non-finite W (rejected here too) and nmax ≥ 15 overflows its int products in S.
    /// </summary>
    public const int MaxNmax = 11;

    public So3RadialBasis(double rcut, int nmax, int lmax, double alpha)
    {
        if (!(rcut > 0) || !double.IsFinite(rcut)) throw new MlipException($"SO3 rcutfac must be positive (got {rcut})");
        if (!(alpha > 0) || !double.IsFinite(alpha)) throw new MlipException($"SO3 alpha must be positive (got {alpha})");
        if (nmax < 1 || nmax > MaxNmax) throw new MlipException($"SO3 nmax must be between 1 and {MaxNmax} (got {nmax})");
        if (lmax < 0) throw new MlipException($"SO3 lmax must be at least 0 (got {lmax})");
        _rc = rcut; _nmax = nmax; _lmax = lmax; _alpha = alpha;
        _nq = (nmax + lmax + 1) * 10;
        _pfac1 = alpha * rcut;
        _w = ComputeW(nmax);
        foreach (double v in _w)
            if (!double.IsFinite(v))
                throw new MlipException($"SO3 nmax = {nmax}: the radial overlap matrix is numerically singular in float64 " +
                                        "(W = S^-1/2 is not finite, as in LAMMPS); use nmax <= 7 or 9..11");

        // init_garray
        _g = new double[_nq * nmax];
        for (int i = 1; i <= _nq; i++)
        {
            double x = Math.Cos((2 * i - 1) * Math.PI / 2 / _nq);
            double xi = rcut / 2 * (x + 1);
            for (int n = 1; n <= nmax; n++)
                _g[(i - 1) * nmax + n - 1] = rcut / 2 * Math.PI / _nq * Math.Sqrt(1 - x * x) * xi * xi
                    * G(xi, n) * Math.Exp(-alpha * xi * xi);
        }

        // nodes as get_sbes_array writes them (π/2/N first, then times 2i − 1)
        _gByN = new double[_nq * nmax];
        for (int q = 0; q < _nq; q++)
            for (int n = 0; n < nmax; n++) _gByN[n * _nq + q] = _g[q * nmax + n];
        _xPlus1 = new double[_nq];
        _xi = new double[_nq];
        double pfac3 = Math.PI / 2.0 / _nq, pfac4 = rcut / 2.0;
        for (int i = 1; i <= _nq; i++)
        {
            double x = Math.Cos((2 * i - 1) * pfac3);
            _xPlus1[i - 1] = x + 1;
            _xi[i - 1] = pfac4 * (x + 1);
        }
    }

    public int Nmax => _nmax;
    public int Lmax => _lmax;
    public double Cutoff => _rc;
    public double Alpha => _alpha;

    /// <summary>Number of Gauss–Chebyshev points, (nmax + lmax + 1)·10.</summary>
    public int QuadraturePoints => _nq;

    /// <summary>W_na (row n, column a), the orthonormalisation of the polynomial basis.</summary>
    public double W(int n, int a) => _w[n * _nmax + a];

    /// <summary>The orthonormal radial basis function g_n(r), n = 1..nmax (as LAMMPS numbers them).</summary>
    public double G(double r, int n)
    {
        double sum = 0.0;
        for (int a = 1; a <= _nmax; a++) sum += _w[(n - 1) * _nmax + a - 1] * Phi(r, a);
        return sum;
    }

    private double Phi(double r, int a) =>
        PowInt(_rc - r, a + 2) / Math.Sqrt(2 * PowInt(_rc, 2 * a + 7) / (2 * a + 5) / (2 * a + 6) / (2 * a + 7));

    /// <summary>
    /// R_nl(r) into <paramref name="values"/>[n·(lmax+1) + l] (n = 0..nmax−1) and dR_nl/dr into
    /// <paramref name="derivatives"/>. Allocation-free.
    /// </summary>
    public void Evaluate(double r, Span<double> values, Span<double> derivatives)
    {
        int nmax = _nmax, lmax = _lmax, nl = nmax * (lmax + 1), nq = _nq;
        if (values.Length < nl || derivatives.Length < nl) throw new ArgumentException("spans too short");
        // Vectorised over the quadrature points: i_l(z_q) and ξ_q i_l'(z_q) for all q at once
        // (get_sbes_array), then each R_nl is a dot product over q with the weights g_n (get_rip_array).
        var ws = _workspace ??= new Workspace(nq, lmax);
        var rb = ws.Rb.AsSpan(0, nq);
        TensorPrimitives.Multiply(_xPlus1, _pfac1 * r, rb);
        var e = ws.E.AsSpan(0, nq);
        var inv = ws.Inv.AsSpan(0, nq);
        TensorPrimitives.Exp(rb, e);
        TensorPrimitives.Reciprocal(e, inv);
        var sinh = ws.Sinh.AsSpan(0, nq);
        var cosh = ws.Cosh.AsSpan(0, nq);
        TensorPrimitives.Subtract(e, inv, sinh);
        TensorPrimitives.Multiply(sinh, 0.5, sinh);
        TensorPrimitives.Add(e, inv, cosh);
        TensorPrimitives.Multiply(cosh, 0.5, cosh);
        for (int q = 0; q < nq; q++)
            if (!(rb[q] > 1.0)) { sinh[q] = Math.Sinh(rb[q]); cosh[q] = Math.Cosh(rb[q]); } // no cancellation near 0
        var invRb = ws.InvRb.AsSpan(0, nq);
        TensorPrimitives.Reciprocal(rb, invRb);

        // a[l][q] = i_l(rb_q): i_0 = sinh/rb, i_1 = (cosh − i_0)/rb, i_l = i_(l−2) − (2l − 1)/rb i_(l−1); one more for the derivative
        var a = ws.A;
        var a0 = a[0].AsSpan(0, nq);
        TensorPrimitives.Multiply(sinh, invRb, a0);
        var a1 = a[1].AsSpan(0, nq);
        TensorPrimitives.Subtract(cosh, a0, a1);
        TensorPrimitives.Multiply(a1, invRb, a1);
        for (int j = 2; j <= lmax + 1; j++)
        {
            var aj = a[j].AsSpan(0, nq);
            TensorPrimitives.Multiply(a[j - 1].AsSpan(0, nq), invRb, aj);
            TensorPrimitives.Multiply(aj, -(2 * j - 1), aj);
            TensorPrimitives.Add(aj, a[j - 2].AsSpan(0, nq), aj);
        }
        // d[l][q] = ξ_q i_l'(rb_q) = ξ (l i_(l−1) + (l+1) i_(l+1)) / (2l + 1); d[0] = ξ i_1
        var d = ws.D;
        TensorPrimitives.Multiply(a1, _xi, d[0].AsSpan(0, nq));
        for (int l = 1; l <= lmax; l++)
        {
            var dl = d[l].AsSpan(0, nq);
            TensorPrimitives.Multiply(a[l - 1].AsSpan(0, nq), (double)l / (2 * l + 1), dl);
            TensorPrimitives.MultiplyAdd(a[l + 1].AsSpan(0, nq), (double)(l + 1) / (2 * l + 1), dl, dl);
            TensorPrimitives.Multiply(dl, _xi, dl);
        }

        // get_rip_array: times 4π e^(−α r²); spectrum_dxdr: d/dr = R·(−2α r) + (Σ g ξ i_l')·e·2α
        double expfac = 4 * Math.PI * Math.Exp(-_alpha * r * r);
        double twoAlpha = 2.0 * _alpha;
        for (int n = 0; n < nmax; n++)
        {
            var gn = _gByN.AsSpan(n * nq, nq);
            int o = n * (lmax + 1);
            for (int l = 0; l <= lmax; l++)
            {
                double v = TensorPrimitives.Dot(gn, a[l].AsSpan(0, nq)) * expfac;
                double dv = TensorPrimitives.Dot(gn, d[l].AsSpan(0, nq));
                values[o + l] = v;
                derivatives[o + l] = dv * expfac * twoAlpha - twoAlpha * r * v;
            }
        }
    }

    /// <summary>Scratch arrays of <see cref="Evaluate"/>, one set per thread.</summary>
    private sealed class Workspace
    {
        public readonly double[] Rb, E, Inv, Sinh, Cosh, InvRb;
        public readonly double[][] A, D;

        public Workspace(int nq, int lmax)
        {
            Rb = new double[nq]; E = new double[nq]; Inv = new double[nq]; Sinh = new double[nq]; Cosh = new double[nq]; InvRb = new double[nq];
            A = new double[lmax + 2][];
            for (int l = 0; l < A.Length; l++) A[l] = new double[nq];
            D = new double[lmax + 1][];
            for (int l = 0; l < D.Length; l++) D[l] = new double[nq];
        }
    }

    [ThreadStatic] private static Workspace? _workspaceStatic;

    private Workspace? _workspace
    {
        get => _workspaceStatic is { } w && w.Rb.Length == _nq && w.A.Length == _lmax + 2 ? w : null;
        set => _workspaceStatic = value;
    }

    /// <summary>MathSpecial::powint: x^n by binary exponentiation (n ≥ 0).</summary>
    private static double PowInt(double x, int n)
    {
        if (n == 0) return 1.0;
        if (x == 0.0) return 0.0;
        double yy = 1.0, ww = x;
        for (int nn = n; nn != 0; nn >>= 1, ww *= ww)
            if ((nn & 1) != 0) yy *= ww;
        return yy;
    }

    // ---------------------------------------------------------------------------------------
    // W = S^(-1/2), by LAMMPS's sequence of steps (MLIAP_SO3::compute_W and SO3Math in
    // mliap_so3_math.h: LUPdecompose/LUPSolve inverse, MathEigen::Jacobi::Diagonalize).
    // ---------------------------------------------------------------------------------------

    private static double[] ComputeW(int n)
    {
        var s = new double[n * n];
        for (int a = 1; a <= n; a++)
        {
            int t1 = (2 * a + 5) * (2 * a + 6) * (2 * a + 7);
            for (int b = 1; b <= a; b++)
            {
                int t2 = (2 * b + 5) * (2 * b + 6) * (2 * b + 7);
                s[(a - 1) * n + b - 1] = Math.Sqrt(t1 * t2) / (5 + a + b) / (6 + a + b) / (7 + a + b);
                s[(b - 1) * n + a - 1] = s[(a - 1) * n + b - 1];
            }
        }
        var sinv = DenseLu.Inverse(n, s, "SO3: cannot invert the radial overlap matrix");
        var (evals, v) = SymmetricEigen.Jacobi(n, sinv); // v: eigenvectors in columns, row-major
        var temp = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double acc = 0;
                for (int k = 0; k < n; k++) acc += v[i * n + k] * (k == j ? Math.Sqrt(evals[k]) : 0.0);
                temp[i * n + j] = acc;
            }
        var vinv = DenseLu.Inverse(n, v, "SO3: cannot invert the eigenvector matrix");
        var w = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double acc = 0;
                for (int k = 0; k < n; k++) acc += temp[i * n + k] * vinv[k * n + j];
                w[i * n + j] = acc;
            }
        return w;
    }
}
