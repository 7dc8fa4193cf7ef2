using System.Numerics.Tensors;

namespace Mlip.Training;

/// <summary>
/// An O(p²)-per-step estimate of the 2-norm condition number of B = R D⁻¹ (R: an upper triangle, D: column lengths), the
/// quantity <see cref="TorchLeastSquares"/> computes exactly from singular values (O(p³), about 1 s for p = 1596 on one core).
/// </summary>
/// <remarks>
/// Lanczos with full reorthogonalisation on BᵀB (products with R and Rᵀ) for σ_max² and on (BᵀB)⁻¹ (two triangular solves) for
/// 1/σ_min², each from the same fixed start vector, until the residual bound of the largest Ritz value, β_k |s_k|, is below
/// <see cref="Tolerance"/> times it (then the Ritz value is within about that squared, relative, of an eigenvalue) or the Krylov
/// space is the whole space. Ritz values never exceed the largest eigenvalue, so the estimate is a lower bound of the exact
/// condition number, equal to it to ~1e-12 relative once converged (tests compare it with the singular values); a zero or
/// non-finite diagonal entry gives +∞. Deterministic: a function of R and D only.
/// </remarks>
public static class TriangularCondition
{
    /// <summary>Relative residual bound at which a Ritz value counts as converged.</summary>
    public const double Tolerance = 1e-8;

    /// <summary>The most Lanczos steps of each of the two runs (the space is exhausted earlier when p is smaller).</summary>
    public const int MaxSteps = 400;

    /// <summary>The estimate of κ₂(R D⁻¹) (<paramref name="r"/>: row-major p × p upper triangle; <paramref name="columnNorms"/>: D) and the Lanczos steps taken.</summary>
    public static (double Condition, int Steps) Estimate(double[] r, double[] columnNorms)
    {
        ArgumentNullException.ThrowIfNull(r);
        ArgumentNullException.ThrowIfNull(columnNorms);
        int p = columnNorms.Length;
        if (r.Length != p * p) throw new ArgumentException($"{r.Length} entries for a {p} x {p} triangle", nameof(r));
        if (p == 0) return (1, 0);
        for (int i = 0; i < p; i++)
            if (!(r[i * p + i] != 0 && double.IsFinite(r[i * p + i]) && columnNorms[i] > 0 && double.IsFinite(columnNorms[i])))
                return (double.PositiveInfinity, 0);
        var t1 = new double[p];
        var t2 = new double[p];
        // BᵀB v = D⁻¹ Rᵀ R D⁻¹ v
        var (largest, s1) = LargestEigenvalue(p, (v, w) =>
        {
            for (int j = 0; j < p; j++) t1[j] = v[j] / columnNorms[j];
            MultiplyR(r, p, t1, t2);
            MultiplyRTransposed(r, p, t2, w);
            for (int j = 0; j < p; j++) w[j] /= columnNorms[j];
        });
        // (BᵀB)⁻¹ v = D R⁻¹ R⁻ᵀ D v
        var (inverse, s2) = LargestEigenvalue(p, (v, w) =>
        {
            for (int j = 0; j < p; j++) t1[j] = v[j] * columnNorms[j];
            SolveRTransposed(r, p, t1, t2);
            SolveR(r, p, t2, w);
            for (int j = 0; j < p; j++) w[j] *= columnNorms[j];
        });
        double kappa = Math.Sqrt(largest * inverse);
        return (double.IsFinite(kappa) ? kappa : double.PositiveInfinity, s1 + s2);
    }

    /// <summary>The largest eigenvalue of a symmetric positive semi-definite operator by Lanczos, and the steps taken.</summary>
    private static (double Value, int Steps) LargestEigenvalue(int p, Action<double[], double[]> apply)
    {
        int max = Math.Min(p, MaxSteps);
        var basis = new List<double[]>(max);
        var alpha = new List<double>(max);
        var beta = new List<double>(max);
        var q = new double[p];
        var rng = new Random(20261207);
        for (int j = 0; j < p; j++) q[j] = 1 + rng.NextDouble();
        TensorPrimitives.Divide(q, TensorPrimitives.Norm(q), q);
        double theta = 0;
        for (int k = 0; k < max; k++)
        {
            basis.Add(q);
            var w = new double[p];
            apply(q, w);
            double a = TensorPrimitives.Dot<double>(q, w);
            if (!double.IsFinite(a)) return (double.PositiveInfinity, k + 1);
            alpha.Add(a);
            // full reorthogonalisation, twice (classical Gram-Schmidt against the whole basis)
            for (int pass = 0; pass < 2; pass++)
                foreach (var v in basis)
                {
                    double c = TensorPrimitives.Dot<double>(v, w);
                    TensorPrimitives.MultiplyAdd(v, -c, w, w);
                }
            double b = TensorPrimitives.Norm<double>(w);
            theta = LargestTridiagonalEigenvalue(alpha, beta);
            double last = LastComponent(alpha, beta, theta);
            if (!double.IsFinite(theta)) return (double.PositiveInfinity, k + 1);
            if (b * Math.Abs(last) <= Tolerance * theta || b <= 1e-300 * Math.Max(theta, 1e-300)) return (theta, k + 1);
            beta.Add(b);
            TensorPrimitives.Divide(w, b, w);
            q = w;
        }
        return (theta, max);
    }

    /// <summary>The largest eigenvalue of the symmetric tridiagonal matrix (diagonal <paramref name="a"/>, off-diagonal <paramref name="b"/>) by bisection on Sturm counts.</summary>
    private static double LargestTridiagonalEigenvalue(List<double> a, List<double> b)
    {
        int n = a.Count;
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        for (int i = 0; i < n; i++)
        {
            double radius = (i > 0 ? Math.Abs(b[i - 1]) : 0) + (i < n - 1 ? Math.Abs(b[i]) : 0);
            lo = Math.Min(lo, a[i] - radius);
            hi = Math.Max(hi, a[i] + radius);
        }
        if (!double.IsFinite(lo) || !double.IsFinite(hi)) return double.PositiveInfinity;
        for (int it = 0; it < 200 && hi - lo > 1e-15 * Math.Max(Math.Abs(hi), Math.Abs(lo)); it++)
        {
            double mid = 0.5 * (lo + hi);
            if (CountAbove(a, b, mid) > 0) lo = mid;
            else hi = mid;
        }
        return hi;
    }

    /// <summary>Eigenvalues greater than <paramref name="x"/> (Sturm sequence of the LDLᵀ of T − xI).</summary>
    private static int CountAbove(List<double> a, List<double> b, double x)
    {
        int below = 0;
        double d = 1;
        for (int i = 0; i < a.Count; i++)
        {
            double off = i > 0 ? b[i - 1] : 0;
            d = a[i] - x - (i > 0 ? off * off / d : 0);
            if (d == 0) d = -1e-300;
            if (d < 0) below++;
        }
        return a.Count - below;
    }

    /// <summary>The last component of the unit eigenvector of the tridiagonal matrix for <paramref name="theta"/> (three-term recurrence, rescaled).</summary>
    private static double LastComponent(List<double> a, List<double> b, double theta)
    {
        int n = a.Count;
        if (n == 1) return 1;
        double prev = 0, cur = 1, sumSq = 1;
        for (int i = 0; i < n - 1; i++)
        {
            double next = ((theta - a[i]) * cur - (i > 0 ? b[i - 1] * prev : 0)) / b[i];
            prev = cur;
            cur = next;
            sumSq += cur * cur;
            if (sumSq > 1e200)
            {
                double s = 1 / Math.Sqrt(sumSq);
                prev *= s; cur *= s; sumSq = 1;
            }
        }
        double last = Math.Abs(cur) / Math.Sqrt(sumSq);
        return double.IsFinite(last) ? last : 1;
    }

    /// <summary>y = R x.</summary>
    private static void MultiplyR(double[] r, int p, double[] x, double[] y)
    {
        for (int i = 0; i < p; i++) y[i] = TensorPrimitives.Dot<double>(r.AsSpan(i * p + i, p - i), x.AsSpan(i, p - i));
    }

    /// <summary>y = Rᵀ x.</summary>
    private static void MultiplyRTransposed(double[] r, int p, double[] x, double[] y)
    {
        Array.Clear(y);
        for (int i = 0; i < p; i++)
        {
            var tail = y.AsSpan(i, p - i);
            TensorPrimitives.MultiplyAdd(r.AsSpan(i * p + i, p - i), x[i], tail, tail);
        }
    }

    /// <summary>R y = x by back substitution.</summary>
    private static void SolveR(double[] r, int p, double[] x, double[] y)
    {
        for (int i = p - 1; i >= 0; i--)
            y[i] = (x[i] - TensorPrimitives.Dot<double>(r.AsSpan(i * p + i + 1, p - i - 1), y.AsSpan(i + 1, p - i - 1))) / r[i * p + i];
    }

    /// <summary>Rᵀ y = x by forward substitution (row-wise updates).</summary>
    private static void SolveRTransposed(double[] r, int p, double[] x, double[] y)
    {
        x.CopyTo(y, 0);
        for (int i = 0; i < p; i++)
        {
            y[i] /= r[i * p + i];
            var tail = y.AsSpan(i + 1, p - i - 1);
            TensorPrimitives.MultiplyAdd(r.AsSpan(i * p + i + 1, p - i - 1), -y[i], tail, tail);
        }
    }
}
