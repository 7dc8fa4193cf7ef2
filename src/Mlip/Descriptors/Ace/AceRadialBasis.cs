namespace Mlip.Descriptors.Ace;

/// <summary>The radial bases of PACE (docs/ace.md).</summary>
public enum AceRadialKind { ChebExpCos, ChebPow, ChebLinear, SBessel }

/// <summary>
/// The radial base functions g_k(r), k = 0..nradbase-1, of PACE, with their derivatives, evaluated
/// exactly (the spline tables of <see cref="AceRadialTables"/> are built from these):
/// <list type="bullet">
/// <item>ChebExpCos: x = 1 − 2 (e^{−λr/rc} − e^{−λ}) / (1 − e^{−λ}); g_0 = 1, g_k = (1 − T_k(x))/2, times
/// the envelope (1 + cos πr/rc)/2 and a cosine tail over the last dcut.</item>
/// <item>ChebPow: x = 1 − 2 (1 − r/rc)^λ; g_k = (1 − T_{k+1}(x))/2.</item>
/// <item>ChebLinear: x = 1 − r/rc; g_k = (1 − T_{k+1}(x))/2.</item>
/// <item>SBessel: the orthogonalised simplified spherical Bessel functions of Kocer et al.</item>
/// </list>
/// </summary>
public static class AceRadialBasis
{
    public static AceRadialKind Kind(string name) => name switch
    {
        "ChebExpCos" => AceRadialKind.ChebExpCos,
        "ChebPow" => AceRadialKind.ChebPow,
        "ChebLinear" => AceRadialKind.ChebLinear,
        "SBessel" or "TEST_SBessel" => AceRadialKind.SBessel,
        _ => throw new ArgumentException($"unknown radial basis '{name}' (ChebExpCos, ChebPow, ChebLinear, SBessel)"),
    };

    /// <summary>Fills g[0..n) and dg[0..n) at distance r (zero at and beyond rc).</summary>
    public static void Evaluate(AceRadialKind kind, double lambda, double rc, double dcut, double r, Span<double> g, Span<double> dg)
    {
        int n = g.Length;
        if (r >= rc)
        {
            g.Clear(); dg.Clear();
            return;
        }
        switch (kind)
        {
            case AceRadialKind.ChebExpCos:
            {
                double y1 = Math.Exp(-lambda * r / rc), y2 = Math.Exp(-lambda);
                double x = 1.0 - 2.0 * ((y1 - y2) / (1 - y2));
                double dx = 2 * (lambda / rc) * (y1 / (1 - y2));
                Span<double> t = stackalloc double[n + 1], dt = stackalloc double[n + 1];
                Chebyshev(n, x, t, dt);
                g[0] = t[0]; dg[0] = dt[0] * dx;
                for (int k = 2; k <= n; k++)
                {
                    g[k - 1] = 0.5 - 0.5 * t[k - 1];
                    dg[k - 1] = -0.5 * dt[k - 1] * dx;
                }
                double env = 0.5 * (1.0 + Math.Cos(Math.PI * r / rc));
                double denv = -0.5 * Math.Sin(Math.PI * r / rc) * Math.PI / rc;
                for (int k = 0; k < n; k++)
                {
                    dg[k] = g[k] * denv + dg[k] * env;
                    g[k] *= env;
                }
                double r0 = rc - dcut;
                if (r > r0)
                {
                    double fc = 0.5 * (1.0 + Math.Cos(Math.PI * (r - r0) / dcut));
                    double dfc = -0.5 * Math.Sin(Math.PI * (r - r0) / dcut) * Math.PI / dcut;
                    for (int k = 0; k < n; k++)
                    {
                        dg[k] = g[k] * dfc + dg[k] * fc;
                        g[k] *= fc;
                    }
                }
                break;
            }
            case AceRadialKind.ChebPow:
            {
                double y = 1.0 - r / rc;
                double dy = Math.Pow(y, lambda - 1.0);
                y = dy * y;
                dy = -lambda / rc * dy;
                ShiftedChebyshev(n, 2.0 * (1.0 - y) - 1.0, -2.0 * dy, g, dg);
                break;
            }
            case AceRadialKind.ChebLinear:
            {
                ShiftedChebyshev(n, 1.0 - r / rc, -1 / rc, g, dg);
                break;
            }
            case AceRadialKind.SBessel:
            {
                g[0] = BesselAux(r, rc, 0, out dg[0]);
                double dPrev = 1.0;
                for (int k = 1; k < n; k++)
                {
                    double en = (double)k * k * (k + 2) * (k + 2) / (4 * Math.Pow(k + 1, 4) + 1);
                    double dn = 1 - en / dPrev;
                    double f = BesselAux(r, rc, k, out double df);
                    double s = Math.Sqrt(en / dPrev), inv = 1 / Math.Sqrt(dn);
                    g[k] = inv * (f + s * g[k - 1]);
                    dg[k] = inv * (df + s * dg[k - 1]);
                    dPrev = dn;
                }
                break;
            }
        }
    }

    /// <summary>T_0..T_n at x and their derivatives (via U_{m-1}), as PACE's calcCheb.</summary>
    /// <summary>g_k = (1 − T_(k+1)(x)) / 2 for k &lt; n, and dg_k = −T'_(k+1)(x) dx / 2 (<paramref name="dx"/> = dx/dr).</summary>
    private static void ShiftedChebyshev(int n, double x, double dx, Span<double> g, Span<double> dg)
    {
        Span<double> t = stackalloc double[n + 1], dt = stackalloc double[n + 1];
        Chebyshev(n, x, t, dt);
        for (int k = 1; k <= n; k++)
        {
            g[k - 1] = 0.5 - 0.5 * t[k];
            dg[k - 1] = -0.5 * dt[k] * dx;
        }
    }

    private static void Chebyshev(int n, double x, Span<double> t, Span<double> dt)
    {
        double twox = 2.0 * x;
        Span<double> u = stackalloc double[n + 1];
        t[0] = 1; dt[0] = 0; u[0] = 1;
        if (n >= 1) { t[1] = x; u[1] = twox; }
        for (int m = 1; m <= n - 1; m++)
        {
            t[m + 1] = twox * t[m] - t[m - 1];
            u[m + 1] = twox * u[m] - u[m - 1];
        }
        for (int m = 1; m <= n; m++) dt[m] = m * u[m - 1];
    }

    private static double Sinc(double x) => x != 0.0 ? Math.Sin(x) / x : 1;
    private static double DSinc(double x) => x != 0.0 ? (Math.Cos(x) * x - Math.Sin(x)) / (x * x) : 0;

    private static double BesselAux(double x, double rc, int n, out double d)
    {
        double pre = (n % 2 == 0 ? 1 : -1) * Math.Sqrt(2) * Math.PI / Math.Pow(rc, 1.5) * (n + 1) * (n + 2)
                     / Math.Sqrt((double)(n + 1) * (n + 1) + (double)(n + 2) * (n + 2));
        double a = (n + 1) * Math.PI / rc, b = (n + 2) * Math.PI / rc;
        d = pre * (DSinc(x * a) * a + DSinc(x * b) * b);
        return pre * (Sinc(x * a) + Sinc(x * b));
    }

    /// <summary>
    /// Core repulsion pair term: pre·e^{−λr²}/r times (1 + cos πr/rc)/2 (zero when λr² ≥ 50), and its derivative.
    /// </summary>
    public static double Core(double r, double pre, double lambda, double rc, out double d)
    {
        pre = Math.Abs(pre);
        lambda = Math.Abs(lambda);
        double r2 = r * r, lr2 = lambda * r2;
        if (lr2 >= 50.0) { d = 0; return 0; }
        double y = Math.Exp(-lr2);
        double cr = pre * y / r;
        double dcr = -pre * y * (2.0 * lr2 + 1.0) / r2;
        double x0 = r / rc;
        double env = 0.5 * (1.0 + Math.Cos(Math.PI * x0));
        double denv = -0.5 * Math.Sin(Math.PI * x0) * Math.PI / rc;
        d = cr * denv + dcr * env;
        return cr * env;
    }
}
