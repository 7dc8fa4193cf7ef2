using Mlip.Validation;

namespace Mlip.Numerics;

/// <summary>LU decomposition of small dense matrices.</summary>
public static class DenseLu
{
    /// <summary>
    /// Inverse of an n × n matrix (row-major) by LU with scaled partial pivoting, the sequence of LAMMPS's
    /// SO3Math::invert_matrix (LUPdecompose/LUPSolve), so that results match it to the last bit;
    /// <paramref name="singularMessage"/> is the error when a row is zero.
    /// </summary>
    public static double[] Inverse(int n, double[] matrix, string singularMessage)
    {
        const double dtol = 1e-30;
        var a = (double[])matrix.Clone();
        var p = new int[n];
        var normi = new double[n];
        for (int i = 0; i < n; i++)
        {
            double maxA = 0;
            for (int j = 0; j < n; j++) maxA = Math.Max(maxA, Math.Abs(a[i * n + j]));
            if (maxA < dtol) throw new MlipException(singularMessage);
            normi[i] = 1.0 / maxA;
        }
        int maxi = 0;
        for (int j = 0; j < n; j++)
        {
            for (int i = 0; i < j; i++)
                for (int k = 0; k < i; k++) a[i * n + j] -= a[i * n + k] * a[k * n + j];
            double maxA = 0;
            for (int i = j; i < n; i++)
            {
                for (int k = 0; k < j; k++) a[i * n + j] -= a[i * n + k] * a[k * n + j];
                double t = Math.Abs(a[i * n + j]) * normi[i];
                if (t >= maxA) { maxA = t; maxi = i; }
            }
            if (maxi != j)
            {
                if (j == n - 2 && a[j * n + j + 1] == 0.0) maxi = j;
                else
                {
                    for (int k = 0; k < n; k++) (a[j * n + k], a[maxi * n + k]) = (a[maxi * n + k], a[j * n + k]);
                    normi[maxi] = normi[j];
                }
            }
            p[j] = maxi;
            if (a[j * n + j] == 0.0) a[j * n + j] = dtol;
            if (j != n - 1)
            {
                double t = 1.0 / a[j * n + j];
                for (int i = j + 1; i < n; i++) a[i * n + j] *= t;
            }
        }
        var inv = new double[n * n];
        var b = new double[n];
        for (int col = 0; col < n; col++)
        {
            Array.Clear(b);
            b[col] = 1.0;
            for (int i = 0; i < n; i++)
            {
                double d = b[p[i]];
                b[p[i]] = b[i];
                for (int j = i - 1; j >= 0; j--) d -= a[i * n + j] * b[j];
                b[i] = d;
            }
            for (int i = n - 1; i >= 0; i--)
            {
                for (int j = i + 1; j < n; j++) b[i] -= a[i * n + j] * b[j];
                b[i] /= a[i * n + i];
            }
            for (int j = 0; j < n; j++) inv[j * n + col] = b[j];
        }
        return inv;
    }
}
