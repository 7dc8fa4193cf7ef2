using Mlip.Structures;

namespace Mlip.Descriptors;

/// <summary>
/// Orthonormal real spherical harmonics Y_lm(r̂), l = 0..lmax, and their gradients with respect to
/// the vector r (not just the direction), from Cartesian recursions that have no singularity at
/// the poles:
/// <code>
///   Y_l0  = K_l0 Q_l^0(z)
///   Y_lm  = √2 K_lm Q_l^m(z) Re (x + i y)^m      (m &gt; 0)
///   Y_l−m = √2 K_lm Q_l^m(z) Im (x + i y)^m      (m &gt; 0)
/// </code>
/// with (x, y, z) = r̂, K_lm = √((2l+1)/(4π) · (l−m)!/(l+m)!) and Q_l^m = P_l^m / (1 − z²)^(m/2)
/// (no Condon–Shortley phase): Q_m^m = (2m−1)!!, Q_(m+1)^m = (2m+1) z Q_m^m,
/// (l−m) Q_l^m = (2l−1) z Q_(l−1)^m − (l+m−1) Q_(l−2)^m. The gradient follows from treating the
/// polynomial in (x, y, z) as a function on R³ and projecting: ∇_r Y = (I − r̂r̂ᵀ) ∇P(r̂) / |r|.
/// Layout: index l² + l + m, m = −l..l.
/// </summary>
/// <remarks>
/// For each l they are a real orthogonal transform of the complex Y_lm, so any rotation-invariant
/// contraction over m (Σ_m c_lm c'*_lm of a power spectrum) is the same number with either set.
/// </remarks>
public sealed class RealSphericalHarmonics
{
    private readonly int _lmax;
    private readonly double[] _k; // √2 K_lm for m > 0, K_l0 for m = 0, at l(l+1)/2 + m

    public RealSphericalHarmonics(int lmax)
    {
        if (lmax < 0) throw new ArgumentOutOfRangeException(nameof(lmax));
        _lmax = lmax;
        _k = new double[(lmax + 1) * (lmax + 2) / 2];
        for (int l = 0; l <= lmax; l++)
            for (int m = 0; m <= l; m++)
            {
                // (l−m)!/(l+m)! as a product, without overflowing factorials
                double ratio = 1.0;
                for (int t = l - m + 1; t <= l + m; t++) ratio /= t;
                double k = Math.Sqrt((2 * l + 1) / (4 * Math.PI) * ratio);
                _k[l * (l + 1) / 2 + m] = m == 0 ? k : Math.Sqrt(2.0) * k;
            }
    }

    public int Lmax => _lmax;

    /// <summary>(lmax+1)² values.</summary>
    public int Count => (_lmax + 1) * (_lmax + 1);

    /// <summary>Y_lm(r/|r|) into <paramref name="y"/>.</summary>
    public void Evaluate(Vec3 r, Span<double> y) => Compute(r, y, Span<double>.Empty);

    /// <summary>
    /// Y_lm(r/|r|) into <paramref name="y"/> and ∂Y_lm/∂r into <paramref name="gradient"/> (three
    /// values per harmonic, [index][xyz]). Allocation-free; r must not be zero.
    /// </summary>
    public void Evaluate(Vec3 r, Span<double> y, Span<double> gradient)
    {
        if (gradient.Length < 3 * Count) throw new ArgumentException("gradient span too short", nameof(gradient));
        Compute(r, y, gradient);
    }

    private void Compute(Vec3 r, Span<double> y, Span<double> grad)
    {
        int lmax = _lmax;
        if (y.Length < Count) throw new ArgumentException("value span too short", nameof(y));
        bool withGrad = !grad.IsEmpty;
        double norm = Math.Sqrt(r.X * r.X + r.Y * r.Y + r.Z * r.Z);
        double inv = 1.0 / norm;
        double ux = r.X * inv, uy = r.Y * inv, uz = r.Z * inv;

        double c = 1, s = 0;          // Re, Im (x + i y)^m
        double cPrev = 0, sPrev = 0;  // the same for m − 1
        double qmm = 1;               // Q_m^m = (2m − 1)!!
        for (int m = 0; m <= lmax; m++)
        {
            if (m > 0)
            {
                cPrev = c; sPrev = s;
                c = ux * cPrev - uy * sPrev;
                s = ux * sPrev + uy * cPrev;
                qmm *= 2 * m - 1;
            }
            double q2 = 0, dq2 = 0, q1 = 0, dq1 = 0; // Q_(l−2), Q_(l−1) and d/dz
            for (int l = m; l <= lmax; l++)
            {
                double q, dq;
                if (l == m) { q = qmm; dq = 0; }
                else if (l == m + 1) { q = (2 * m + 1) * uz * qmm; dq = (2 * m + 1) * qmm; }
                else
                {
                    q = ((2 * l - 1) * uz * q1 - (l + m - 1) * q2) / (l - m);
                    dq = ((2 * l - 1) * (q1 + uz * dq1) - (l + m - 1) * dq2) / (l - m);
                }
                q2 = q1; dq2 = dq1; q1 = q; dq1 = dq;

                double k = _k[l * (l + 1) / 2 + m];
                int centre = l * l + l;
                if (m == 0)
                {
                    y[centre] = k * q;
                    if (withGrad) Project(grad, centre, 0, 0, k * dq, ux, uy, uz, inv);
                }
                else
                {
                    y[centre + m] = k * q * c;
                    y[centre - m] = k * q * s;
                    if (withGrad)
                    {
                        double kq = k * q * m, kdq = k * dq;
                        Project(grad, centre + m, kq * cPrev, -kq * sPrev, kdq * c, ux, uy, uz, inv);
                        Project(grad, centre - m, kq * sPrev, kq * cPrev, kdq * s, ux, uy, uz, inv);
                    }
                }
            }
        }
    }

    /// <summary>grad[idx] = (g − (g·u) u) / |r|.</summary>
    private static void Project(Span<double> grad, int idx, double gx, double gy, double gz, double ux, double uy, double uz, double inv)
    {
        double d = gx * ux + gy * uy + gz * uz;
        grad[3 * idx] = (gx - d * ux) * inv;
        grad[3 * idx + 1] = (gy - d * uy) * inv;
        grad[3 * idx + 2] = (gz - d * uz) * inv;
    }
}
