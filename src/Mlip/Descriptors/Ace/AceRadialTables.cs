using Mlip.Validation;

namespace Mlip.Descriptors.Ace;

/// <summary>
/// Cubic Hermite look-up tables of a set of radial functions on a uniform grid of step ~deltaSplineBins
/// from 0 to the pair cutoff, built exactly as PACE's SplineInterpolator: knot n holds the value and
/// derivative at r_n = n·rc/nlut and the cubic on [r_n, r_{n+1}] matches value and slope at both ends,
/// with zero value and slope beyond the last knot.
/// </summary>
public sealed class AceSpline
{
    private readonly double[] _table; // [knot][function][4]
    private readonly int _functions, _nlut;
    private readonly double _scale;

    public AceSpline(int functions, double delta, double cutoff, Action<double, double[], double[]> exact)
    {
        _functions = functions;
        _nlut = (int)(cutoff / delta);
        _scale = _nlut / cutoff;
        double inv = 1.0 / _scale;
        _table = new double[(_nlut + 1) * functions * 4];
        var v = new double[functions];
        var dv = new double[functions];
        var f1 = new double[functions];
        var f1d1 = new double[functions];
        for (int n = _nlut; n >= 1; n--)
        {
            double r = inv * n;
            exact(r, v, dv);
            for (int f = 0; f < functions; f++)
            {
                double f0 = v[f], f0d1 = dv[f] * inv;
                int o = (n * functions + f) * 4;
                _table[o] = f0;
                _table[o + 1] = f0d1;
                _table[o + 2] = 3.0 * (f1[f] - f0) - f1d1[f] - 2.0 * f0d1;
                _table[o + 3] = -2.0 * (f1[f] - f0) + f1d1[f] + f0d1;
                f1[f] = f0;
                f1d1[f] = f0d1;
            }
        }
    }

    public int Functions => _functions;

    /// <summary>Values only (see <see cref="Evaluate"/>).</summary>
    public void Values(double r, Span<double> values)
    {
        double x = r * _scale;
        int nl = (int)Math.Floor(x);
        if (nl <= 0) throw new MlipException($"ACE: a neighbour distance of {r:G4} Å is below the radial table's first grid step: atoms on top of each other");
        if (nl >= _nlut) { values[.._functions].Clear(); return; }
        double w = x - nl, w2 = w * w, w3 = w2 * w;
        var c = _table.AsSpan(nl * _functions * 4, _functions * 4);
        for (int f = 0; f < _functions; f++)
        {
            int o = 4 * f;
            values[f] = c[o] + c[o + 1] * w + c[o + 2] * w2 + c[o + 3] * w3;
        }
    }

    /// <summary>Values and derivatives of every function at r; throws for r below one grid step (PACE refuses those too).</summary>
    public void Evaluate(double r, Span<double> values, Span<double> derivatives)
    {
        double x = r * _scale;
        int nl = (int)Math.Floor(x);
        if (nl <= 0) throw new MlipException($"ACE: a neighbour distance of {r:G4} Å is below the radial table's first grid step: atoms on top of each other");
        if (nl >= _nlut)
        {
            values[.._functions].Clear();
            derivatives[.._functions].Clear();
            return;
        }
        double w = x - nl, w2 = w * w, w3 = w2 * w, w2l1 = 2.0 * w, w3l2 = 3.0 * w2;
        int nf = _functions;
        if (values.Length < nf || derivatives.Length < nf) throw new ArgumentException("output spans too short");
        unsafe
        {
            fixed (double* t = &_table[nl * nf * 4], v = values, d = derivatives)
            {
                double* c = t;
                for (int f = 0; f < nf; f++, c += 4)
                {
                    v[f] = c[0] + c[1] * w + c[2] * w2 + c[3] * w3;
                    d[f] = (c[1] + c[2] * w2l1 + c[3] * w3l2) * _scale;
                }
            }
        }
    }
}

/// <summary>
/// The spline tables of one basis set, per species pair: the radial base g_k (rank-1 functions), the
/// radial functions R_nl = Σ_k crad_nlk g_k, and the core repulsion term.
/// </summary>
public sealed class AceRadialTables
{
    private readonly AceSpline[] _g, _r, _hc;

    public AceRadialTables(AceBasisSet basis)
    {
        int ne = basis.ElementCount, nb = basis.NRadBase, nr = basis.NRadMax, l1 = basis.LMax + 1;
        _g = new AceSpline[ne * ne];
        _r = new AceSpline[ne * ne];
        _hc = new AceSpline[ne * ne];
        for (int p = 0; p < ne * ne; p++)
        {
            var b = basis.Bonds[p];
            var kind = AceRadialBasis.Kind(b.RadBaseName);
            double rc = b.Cut;
            _g[p] = new AceSpline(nb, basis.DeltaSplineBins, rc, (r, v, d) => AceRadialBasis.Evaluate(kind, b.Lambda, rc, b.DCut, r, v, d));
            var crad = b.Crad;
            _r[p] = new AceSpline(nr * l1, basis.DeltaSplineBins, rc, (r, v, d) =>
            {
                Span<double> g = stackalloc double[nb], dg = stackalloc double[nb];
                AceRadialBasis.Evaluate(kind, b.Lambda, rc, b.DCut, r, g, dg);
                for (int q = 0; q < nr * l1; q++)
                {
                    double s = 0, ds = 0;
                    for (int k = 0; k < nb; k++)
                    {
                        s += crad[q * nb + k] * g[k];
                        ds += crad[q * nb + k] * dg[k];
                    }
                    v[q] = s; d[q] = ds;
                }
            });
            _hc[p] = new AceSpline(1, basis.DeltaSplineBins, rc, (r, v, d) => v[0] = AceRadialBasis.Core(r, b.Prehc, b.Lambdahc, rc, out d[0]));
        }
    }

    public AceSpline Base(int pair) => _g[pair];
    public AceSpline Radial(int pair) => _r[pair];
    public AceSpline Core(int pair) => _hc[pair];
}
