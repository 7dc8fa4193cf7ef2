using Mlip.Validation;

namespace Mlip.Numerics;

/// <summary>How <see cref="DenseCholesky"/> regularises a matrix that is not numerically positive definite.</summary>
/// <param name="FirstJitter">The first diagonal shift, relative to the mean diagonal (trace / n).</param>
/// <param name="Growth">Factor by which the shift grows on each further failure.</param>
/// <param name="Attempts">Factorisations tried (the first without a shift) before giving up.</param>
/// <param name="FailureMessage">The user error raised when every attempt fails.</param>
public sealed record CholeskyJitter(double FirstJitter, double Growth, int Attempts, string FailureMessage)
{
    /// <summary>No shift: the first failure is the error.</summary>
    public static CholeskyJitter None(string failureMessage) => new(0, 1, 1, failureMessage);
}

/// <summary>
/// Cholesky factorisation A = L Lᵀ of small dense symmetric positive definite matrices (row-major, the lower
/// triangle used and returned) and the triangular solves on its factor. The one implementation of these for
/// managed code; large problems go through libtorch (Training/TorchLeastSquares).
/// </summary>
public static class DenseCholesky
{
    /// <summary>
    /// Factors the lower triangle of <paramref name="a"/> [n, n] in place (row j of L over row j of A; the
    /// strict upper triangle is left untouched). False when a pivot is not positive (A is then partly overwritten).
    /// Rows below the pivot are updated in parallel for large n; each element's sum runs in a fixed order, so the
    /// result does not depend on the thread count.
    /// </summary>
    public static bool TryFactor(double[] a, int n)
    {
        if (a.Length < n * n) throw new ArgumentException($"expected {n} x {n} values, got {a.Length}");
        return FactorRows(a, n);
    }

    /// <summary>
    /// The lower Cholesky factor of <paramref name="a"/> [n, n] (a copy; upper triangle zeroed), shifting the
    /// diagonal by the schedule of <paramref name="jitter"/> while the factorisation fails.
    /// </summary>
    public static double[] Factor(ReadOnlySpan<double> a, int n, CholeskyJitter jitter)
    {
        double trace = 0;
        for (int i = 0; i < n; i++) trace += a[i * n + i];
        double shift = 0;
        for (int attempt = 0; attempt < jitter.Attempts; attempt++)
        {
            var l = a[..(n * n)].ToArray();
            for (int i = 0; i < n; i++) l[i * n + i] += shift;
            if (FactorRows(l, n))
            {
                for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) l[i * n + j] = 0;
                return l;
            }
            shift = shift == 0 ? jitter.FirstJitter * trace / Math.Max(1, n) : shift * jitter.Growth;
        }
        throw new MlipException(jitter.FailureMessage);
    }

    /// <summary>Solves A X = B for symmetric positive definite A [n, n] and B [n, r] (row-major), with the jitter schedule.</summary>
    public static double[] Solve(ReadOnlySpan<double> a, int n, ReadOnlySpan<double> b, int r, CholeskyJitter jitter)
    {
        var l = Factor(a, n, jitter);
        var x = b[..(n * r)].ToArray();
        SolveFactored(l, n, x, r);
        return x;
    }

    /// <summary>Overwrites B [n, r] (row-major) with L⁻ᵀ L⁻¹ B, i.e. solves (L Lᵀ) X = B given the lower factor L.</summary>
    public static void SolveFactored(ReadOnlySpan<double> l, int n, Span<double> x, int r)
    {
        for (int c = 0; c < r; c++)
        {
            for (int i = 0; i < n; i++)
            {
                double s = x[i * r + c];
                for (int j = 0; j < i; j++) s -= l[i * n + j] * x[j * r + c];
                x[i * r + c] = s / l[i * n + i];
            }
            for (int i = n - 1; i >= 0; i--)
            {
                double s = x[i * r + c];
                for (int j = i + 1; j < n; j++) s -= l[j * n + i] * x[j * r + c];
                x[i * r + c] = s / l[i * n + i];
            }
        }
    }

    /// <summary>z = L⁻¹ v by forward substitution (<paramref name="z"/> may be <paramref name="v"/>); returns |z|².</summary>
    public static double ForwardSolve(ReadOnlySpan<double> l, int n, ReadOnlySpan<double> v, Span<double> z)
    {
        double sum = 0;
        for (int r = 0; r < n; r++)
        {
            var row = l.Slice(r * n, r);
            double t = v[r] - System.Numerics.Tensors.TensorPrimitives.Dot<double>(row, z[..r]);
            double zr = t / l[r * n + r];
            z[r] = zr;
            sum += zr * zr;
        }
        return sum;
    }

    private static bool FactorRows(double[] l, int n)
    {
        for (int j = 0; j < n; j++)
        {
            var rj = l.AsSpan(j * n, n);
            double s = rj[j];
            for (int q = 0; q < j; q++) s -= rj[q] * rj[q];
            if (!(s > 0)) return false;
            double djj = Math.Sqrt(s);
            rj[j] = djj;
            int col = j;
            Parallel.For(j + 1, n, new ParallelOptions { MaxDegreeOfParallelism = n - j > 256 ? Environment.ProcessorCount : 1 }, i =>
            {
                var ri = l.AsSpan(i * n, n);
                var rjj = l.AsSpan(col * n, n);
                double t = ri[col];
                for (int q = 0; q < col; q++) t -= ri[q] * rjj[q];
                ri[col] = t / djj;
            });
        }
        return true;
    }
}
