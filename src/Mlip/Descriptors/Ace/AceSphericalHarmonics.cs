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
        int size = Count(_lmax);
        if (re.Length < size || im.Length < size || p.Length < size || dp.Length < size || (gradients && (dre.Length < 3 * size || dim.Length < 3 * size)))
            throw new ArgumentException("spherical-harmonic spans too short");
        unsafe
        {
            fixed (double* pre = re, pim = im, pdre = dre, pdim = dim, pp = p, pdp = dp, alm = _alm, blm = _blm, cl = _cl, dl = _dl)
            {
                const double sq3 = 1.73205080756887719318, sq3o2 = 1.22474487139158894067;
                int lmax = _lmax;
                pp[0] = 1; pdp[0] = 0;
                if (lmax > 0)
                {
                    pp[Index(1, 0)] = sq3 * z; pdp[Index(1, 0)] = sq3;
                    pp[Index(1, 1)] = -sq3o2; pdp[Index(1, 1)] = 0;
                    for (int l = 2; l <= lmax; l++)
                    {
                        for (int m = 0; m < l - 1; m++)
                        {
                            int i = Index(l, m), i1 = Index(l - 1, m), i2 = Index(l - 2, m);
                            pp[i] = alm[i] * (z * pp[i1] + blm[i] * pp[i2]);
                            pdp[i] = alm[i] * (pp[i1] + z * pdp[i1] + blm[i] * pdp[i2]);
                        }
                        double t = dl[l] * pp[Index(l - 1, l - 1)];
                        pp[Index(l, l - 1)] = t * z;
                        pdp[Index(l, l - 1)] = t;
                        pp[Index(l, l)] = cl[l] * pp[Index(l - 1, l - 1)];
                        pdp[Index(l, l)] = 0;
                    }
                }
                if (!gradients)
                {
                    for (int l = 0; l <= lmax; l++) { pre[Index(l, 0)] = pp[Index(l, 0)]; pim[Index(l, 0)] = 0; }
                    double qr = 1, qi = 0;
                    for (int m = 1; m <= lmax; m++)
                    {
                        double t = qr * x - qi * y;
                        qi = qr * y + qi * x;
                        qr = t;
                        for (int l = m; l <= lmax; l++)
                        {
                            int i = Index(l, m);
                            pre[i] = qr * pp[i]; pim[i] = qi * pp[i];
                        }
                    }
                    return;
                }
                // m = 0
                for (int l = 0; l <= lmax; l++)
                {
                    int i = Index(l, 0);
                    pre[i] = pp[i]; pim[i] = 0;
                    double dyz = pdp[i], rdy = dyz * z;
                    pdre[3 * i] = -rdy * x; pdre[3 * i + 1] = -rdy * y; pdre[3 * i + 2] = dyz - rdy * z;
                    pdim[3 * i] = 0; pdim[3 * i + 1] = 0; pdim[3 * i + 2] = 0;
                }
                // m = 1
                for (int l = 1; l <= lmax; l++)
                {
                    int i = Index(l, 1);
                    pre[i] = x * pp[i]; pim[i] = y * pp[i];
                    double dyxr = pp[i], dyyi = pp[i], dyzr = x * pdp[i], dyzi = y * pdp[i];
                    double rdyr = x * dyxr + z * dyzr, rdyi = y * dyyi + z * dyzi;
                    pdre[3 * i] = dyxr - rdyr * x; pdim[3 * i] = -rdyi * x;
                    pdre[3 * i + 1] = -rdyr * y; pdim[3 * i + 1] = dyyi - rdyi * y;
                    pdre[3 * i + 2] = dyzr - rdyr * z; pdim[3 * i + 2] = dyzi - rdyi * z;
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
                        pre[i] = phr * pp[i]; pim[i] = phi * pp[i];
                        double dyxr = mpr * pp[i], dyxi = mpi * pp[i];
                        double dyyr = -dyxi, dyyi = dyxr;
                        double dyzr = phr * pdp[i], dyzi = phi * pdp[i];
                        double rdyr = x * dyxr + y * dyyr + z * dyzr, rdyi = x * dyxi + y * dyyi + z * dyzi;
                        pdre[3 * i] = dyxr - rdyr * x; pdim[3 * i] = dyxi - rdyi * x;
                        pdre[3 * i + 1] = dyyr - rdyr * y; pdim[3 * i + 1] = dyyi - rdyi * y;
                        pdre[3 * i + 2] = dyzr - rdyr * z; pdim[3 * i + 2] = dyzi - rdyi * z;
                    }
                }
            }
        }
    }
}
