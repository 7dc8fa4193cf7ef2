using System.Numerics;

namespace Mlip.Numerics;

/// <summary>Eigenvalues and eigenvectors of small dense symmetric (and Hermitian) matrices, row-major.</summary>
public static class SymmetricEigen
{
    /// <summary>Eigenvalues (ascending) of the Hermitian part of an n × n complex matrix, via the real symmetric 2n × 2n form [[A, −B], [B, A]].</summary>
    public static double[] HermitianEigenvalues(Complex[] h, int n)
    {
        int m = 2 * n;
        var s = new double[m * m];
        for (int r = 0; r < n; r++)
            for (int c = 0; c < n; c++)
            {
                var v = 0.5 * (h[r * n + c] + Complex.Conjugate(h[c * n + r]));
                s[r * m + c] = v.Real; s[(r + n) * m + c + n] = v.Real;
                s[r * m + c + n] = -v.Imaginary; s[(r + n) * m + c] = v.Imaginary;
            }
        var all = SymmetricEigenvalues(s, m);
        Array.Sort(all);
        var e = new double[n];
        for (int k = 0; k < n; k++) e[k] = 0.5 * (all[2 * k] + all[2 * k + 1]); // each comes twice
        return e;
    }

    /// <summary>
    /// Eigenvalues of a real symmetric n × n matrix (row-major, destroyed): Householder reduction to
    /// tridiagonal form, then the implicit QL iteration with Wilkinson shifts (tred2/tqli, values only).
    /// </summary>
    public static double[] SymmetricEigenvalues(double[] a, int n)
    {
        var d = new double[n];
        var e = new double[n];
        for (int i = n - 1; i > 0; i--)
        {
            int l = i - 1;
            double h = 0;
            if (l > 0)
            {
                double scale = 0;
                for (int k = 0; k <= l; k++) scale += Math.Abs(a[i * n + k]);
                if (scale == 0) e[i] = a[i * n + l];
                else
                {
                    for (int k = 0; k <= l; k++) { a[i * n + k] /= scale; h += a[i * n + k] * a[i * n + k]; }
                    double f = a[i * n + l];
                    double g = f >= 0 ? -Math.Sqrt(h) : Math.Sqrt(h);
                    e[i] = scale * g;
                    h -= f * g;
                    a[i * n + l] = f - g;
                    f = 0;
                    for (int j = 0; j <= l; j++)
                    {
                        g = 0;
                        for (int k = 0; k <= j; k++) g += a[j * n + k] * a[i * n + k];
                        for (int k = j + 1; k <= l; k++) g += a[k * n + j] * a[i * n + k];
                        e[j] = g / h;
                        f += e[j] * a[i * n + j];
                    }
                    double hh = f / (h + h);
                    for (int j = 0; j <= l; j++)
                    {
                        f = a[i * n + j];
                        e[j] = g = e[j] - hh * f;
                        for (int k = 0; k <= j; k++) a[j * n + k] -= f * e[k] + g * a[i * n + k];
                    }
                }
            }
            else e[i] = a[i * n + l];
        }
        for (int i = 0; i < n; i++) d[i] = a[i * n + i];
        for (int i = 1; i < n; i++) e[i - 1] = e[i];
        if (n > 0) e[n - 1] = 0;
        for (int l = 0; l < n; l++)
        {
            int iter = 0, m;
            do
            {
                for (m = l; m < n - 1; m++)
                {
                    double dd = Math.Abs(d[m]) + Math.Abs(d[m + 1]);
                    if (Math.Abs(e[m]) <= 1e-16 * dd) break;
                }
                if (m == l) break;
                if (iter++ == 100) throw new InvalidOperationException("symmetric eigenvalues did not converge");
                double g = (d[l + 1] - d[l]) / (2 * e[l]);
                double r = Math.Sqrt(g * g + 1);
                g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
                double s = 1, c = 1, p = 0;
                int i;
                bool underflow = false;
                for (i = m - 1; i >= l; i--)
                {
                    double f = s * e[i], b = c * e[i];
                    r = Math.Sqrt(f * f + g * g);
                    e[i + 1] = r;
                    if (r == 0) { d[i + 1] -= p; e[m] = 0; underflow = true; break; }
                    s = f / r; c = g / r;
                    g = d[i + 1] - p;
                    r = (d[i] - g) * s + 2 * c * b;
                    p = s * r;
                    d[i + 1] = g + p;
                    g = c * r - b;
                }
                if (underflow) continue;
                d[l] -= p; e[l] = g; e[m] = 0;
            } while (true);
        }
        return d;
    }

    /// <summary>
    /// Jacobi eigen-decomposition of a symmetric matrix with max-element pivoting (the algorithm of
    /// MathEigen::Jacobi in LAMMPS), eigenvalues sorted decreasing, eigenvectors in the columns of the
    /// returned row-major matrix.
    /// </summary>
    public static (double[] Values, double[] Vectors) Jacobi(int n, double[] mat)
    {
        var m = (double[])mat.Clone();
        var e = new double[n * n]; // eigenvectors in rows while iterating
        for (int i = 0; i < n; i++) e[i * n + i] = 1.0;
        var maxIdx = new int[Math.Max(n, 1)];
        int MaxEntryRow(int i)
        {
            int jMax = i + 1;
            for (int j = i + 2; j < n; j++)
                if (Math.Abs(m[i * n + j]) > Math.Abs(m[i * n + jMax])) jMax = j;
            return jMax;
        }
        for (int i = 0; i < n - 1; i++) maxIdx[i] = MaxEntryRow(i);
        int maxIters = 50 * n * (n - 1) / 2;
        for (int iter = 0; iter < maxIters; iter++)
        {
            int i = 0, j = maxIdx[0];
            double best = Math.Abs(m[i * n + j]);
            for (int r = 1; r < n - 1; r++)
            {
                int c = maxIdx[r];
                if (Math.Abs(m[r * n + c]) > best) { best = Math.Abs(m[r * n + c]); i = r; j = c; }
            }
            if (m[i * n + i] + m[i * n + j] == m[i * n + i] && m[j * n + j] + m[i * n + j] == m[j * n + j])
            {
                m[i * n + j] = 0.0;
                maxIdx[i] = MaxEntryRow(i);
            }
            if (m[i * n + j] == 0.0) break;

            // rotation angle (CalcRot)
            double t = 1.0;
            double mjjii = m[j * n + j] - m[i * n + i];
            if (mjjii != 0.0)
            {
                double kappa = mjjii;
                t = 0.0;
                double mij = m[i * n + j];
                if (mij != 0.0)
                {
                    kappa /= 2.0 * mij;
                    t = 1.0 / (Math.Sqrt(1 + kappa * kappa) + Math.Abs(kappa));
                    if (kappa < 0.0) t = -t;
                }
            }
            double cs = 1.0 / Math.Sqrt(1 + t * t);
            double sn = cs * t;

            // M' = Rᵀ M R on the upper triangle, lower triangle as scratch (ApplyRot)
            m[i * n + i] -= t * m[i * n + j];
            m[j * n + j] += t * m[i * n + j];
            m[i * n + j] = 0.0;
            for (int w = 0; w < i; w++)
            {
                m[i * n + w] = m[w * n + i];
                m[w * n + i] = cs * m[w * n + i] - sn * m[w * n + j];
                if (i == maxIdx[w]) maxIdx[w] = MaxEntryRow(w);
                else if (Math.Abs(m[w * n + i]) > Math.Abs(m[w * n + maxIdx[w]])) maxIdx[w] = i;
            }
            for (int w = i + 1; w < j; w++)
            {
                m[w * n + i] = m[i * n + w];
                m[i * n + w] = cs * m[i * n + w] - sn * m[w * n + j];
            }
            for (int w = j + 1; w < n; w++)
            {
                m[w * n + i] = m[i * n + w];
                m[i * n + w] = cs * m[i * n + w] - sn * m[j * n + w];
            }
            maxIdx[i] = MaxEntryRow(i);
            for (int w = 0; w < i; w++)
            {
                m[w * n + j] = sn * m[i * n + w] + cs * m[w * n + j];
                if (j == maxIdx[w]) maxIdx[w] = MaxEntryRow(w);
                else if (Math.Abs(m[w * n + j]) > Math.Abs(m[w * n + maxIdx[w]])) maxIdx[w] = j;
            }
            for (int w = i + 1; w < j; w++)
            {
                m[w * n + j] = sn * m[w * n + i] + cs * m[w * n + j];
                if (j == maxIdx[w]) maxIdx[w] = MaxEntryRow(w);
                else if (Math.Abs(m[w * n + j]) > Math.Abs(m[w * n + maxIdx[w]])) maxIdx[w] = j;
            }
            for (int w = j + 1; w < n; w++) m[j * n + w] = sn * m[w * n + i] + cs * m[j * n + w];
            maxIdx[j] = MaxEntryRow(j);

            // eigenvectors: E' = Rᵀ E (ApplyRotLeft)
            for (int v = 0; v < n; v++)
            {
                double eiv = e[i * n + v];
                e[i * n + v] = cs * e[i * n + v] - sn * e[j * n + v];
                e[j * n + v] = sn * eiv + cs * e[j * n + v];
            }
        }

        var evals = new double[n];
        for (int i = 0; i < n; i++) evals[i] = m[i * n + i];
        for (int i = 0; i < n - 1; i++)
        {
            int iMax = i;
            for (int j = i + 1; j < n; j++)
                if (evals[j] > evals[iMax]) iMax = j;
            (evals[i], evals[iMax]) = (evals[iMax], evals[i]);
            for (int k = 0; k < n; k++) (e[i * n + k], e[iMax * n + k]) = (e[iMax * n + k], e[i * n + k]);
        }
        var cols = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) cols[i * n + j] = e[j * n + i];
        return (evals, cols);
    }
}
