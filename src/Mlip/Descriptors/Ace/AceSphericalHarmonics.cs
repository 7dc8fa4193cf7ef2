namespace Mlip.Descriptors.Ace;

/// <summary>
/// Complex spherical harmonics in PACE's normalisation: Y_lm(r̂) = √(4π) × the orthonormal Condon–Shortley
/// Y_lm, so Y_00 = 1, for m ≥ 0 only (Y_{l,−m} = (−1)^m conj Y_lm), computed from Cartesian r̂ with the
/// normalised associated-Legendre recursion of PACE's ACECartesianSphericalHarmonics, with the tangential
/// gradient ∇Y (the derivative with respect to r̂ projected off r̂; ∂Y/∂r_j = ∇Y / r).
/// Storage: index l(l+1)/2 + m; gradients three (x, y, z) complex values per (l, m).
/// </summary>
public sealed class AceSphericalHarmonics
{
    private readonly int _lmax;
    private readonly double[] _alm, _blm, _cl, _dl;

    public AceSphericalHarmonics(int lmax)
    {
        _lmax = lmax;
        int size = Count(lmax);
        _alm = new double[size];
        _blm = new double[size];
        _cl = new double[lmax + 1];
        _dl = new double[lmax + 1];
        for (int l = 1; l <= lmax; l++)
        {
            double lsq = l * l, l1 = 4 * lsq - 1, l2 = lsq - 2 * l + 1;
            for (int m = 0; m < l - 1; m++)
            {
                double msq = m * m;
                _alm[Index(l, m)] = Math.Sqrt(l1 / (lsq - msq));
                _blm[Index(l, m)] = -Math.Sqrt((l2 - msq) / (4 * l2 - 1));
            }
        }
        for (int l = 1; l <= lmax; l++)
        {
            _cl[l] = -Math.Sqrt(1.0 + 0.5 / l);
            _dl[l] = Math.Sqrt(2 * (l - 1) + 3.0);
        }
    }

    public int LMax => _lmax;
    public static int Count(int lmax) => (lmax + 1) * (lmax + 2) / 2;
    public static int Index(int l, int m) => l * (l + 1) / 2 + m;

    /// <summary>
    /// Y (re, im) and its tangential gradient (dre, dim: 3 per entry) at the unit vector (x, y, z);
    /// <paramref name="p"/> and <paramref name="dp"/> are scratch of <see cref="Count"/> entries.
    /// </summary>
    public void Compute(double x, double y, double z, Span<double> re, Span<double> im, Span<double> dre, Span<double> dim, Span<double> p, Span<double> dp)
        => Compute(x, y, z, re, im, dre, dim, p, dp, true);

    /// <summary>As above; without <paramref name="gradients"/> only Y is computed (dre, dim untouched).</summary>
    public void Compute(double x, double y, double z, Span<double> re, Span<double> im, Span<double> dre, Span<double> dim, Span<double> p, Span<double> dp, bool gradients)
    {
        const double sq3 = 1.73205080756887719318, sq3o2 = 1.22474487139158894067;
        int lmax = _lmax;
        p[0] = 1; dp[0] = 0;
        if (lmax > 0)
        {
            p[Index(1, 0)] = sq3 * z; dp[Index(1, 0)] = sq3;
            p[Index(1, 1)] = -sq3o2; dp[Index(1, 1)] = 0;
            for (int l = 2; l <= lmax; l++)
            {
                for (int m = 0; m < l - 1; m++)
                {
                    int i = Index(l, m), i1 = Index(l - 1, m), i2 = Index(l - 2, m);
                    p[i] = _alm[i] * (z * p[i1] + _blm[i] * p[i2]);
                    dp[i] = _alm[i] * (p[i1] + z * dp[i1] + _blm[i] * dp[i2]);
                }
                double t = _dl[l] * p[Index(l - 1, l - 1)];
                p[Index(l, l - 1)] = t * z;
                dp[Index(l, l - 1)] = t;
                p[Index(l, l)] = _cl[l] * p[Index(l - 1, l - 1)];
                dp[Index(l, l)] = 0;
            }
        }
        if (!gradients)
        {
            for (int l = 0; l <= lmax; l++) { re[Index(l, 0)] = p[Index(l, 0)]; im[Index(l, 0)] = 0; }
            double qr = 1, qi = 0;
            for (int m = 1; m <= lmax; m++)
            {
                double t = qr * x - qi * y;
                qi = qr * y + qi * x;
                qr = t;
                for (int l = m; l <= lmax; l++)
                {
                    int i = Index(l, m);
                    re[i] = qr * p[i]; im[i] = qi * p[i];
                }
            }
            return;
        }
        // m = 0
        for (int l = 0; l <= lmax; l++)
        {
            int i = Index(l, 0);
            re[i] = p[i]; im[i] = 0;
            double dyz = dp[i], rdy = dyz * z;
            dre[3 * i] = -rdy * x; dre[3 * i + 1] = -rdy * y; dre[3 * i + 2] = dyz - rdy * z;
            dim[3 * i] = 0; dim[3 * i + 1] = 0; dim[3 * i + 2] = 0;
        }
        // m = 1
        for (int l = 1; l <= lmax; l++)
        {
            int i = Index(l, 1);
            re[i] = x * p[i]; im[i] = y * p[i];
            double dyxr = p[i], dyyi = p[i], dyzr = x * dp[i], dyzi = y * dp[i];
            double rdyr = x * dyxr + z * dyzr, rdyi = y * dyyi + z * dyzi;
            dre[3 * i] = dyxr - rdyr * x; dim[3 * i] = -rdyi * x;
            dre[3 * i + 1] = -rdyr * y; dim[3 * i + 1] = dyyi - rdyi * y;
            dre[3 * i + 2] = dyzr - rdyr * z; dim[3 * i + 2] = dyzi - rdyi * z;
        }
        // m > 1
        double phr = x, phi = y;
        for (int m = 2; m <= lmax; m++)
        {
            double mpr = phr * m, mpi = phi * m;
            double nr = phr * x - phi * y, ni = phr * y + phi * x;
            phr = nr; phi = ni;
            for (int l = m; l <= lmax; l++)
            {
                int i = Index(l, m);
                re[i] = phr * p[i]; im[i] = phi * p[i];
                double dyxr = mpr * p[i], dyxi = mpi * p[i];
                double dyyr = -dyxi, dyyi = dyxr;
                double dyzr = phr * dp[i], dyzi = phi * dp[i];
                double rdyr = x * dyxr + y * dyyr + z * dyzr, rdyi = x * dyxi + y * dyyi + z * dyzi;
                dre[3 * i] = dyxr - rdyr * x; dim[3 * i] = dyxi - rdyi * x;
                dre[3 * i + 1] = dyyr - rdyr * y; dim[3 * i + 1] = dyyi - rdyi * y;
                dre[3 * i + 2] = dyzr - rdyr * z; dim[3 * i + 2] = dyzi - rdyi * z;
            }
        }
    }
}
