using System.Numerics.Tensors;

namespace Mlip.Training;

/// <summary>
/// Weighted ridge least squares in plain C# (no native code): Householder QR of the weighted,
/// ridge-augmented matrix [W^(1/2) A; sqrt(λ) I], column by column, vectorised, parallel over the trailing
/// columns. The reference for <see cref="TorchLeastSquares"/> and the fallback where libtorch is missing.
/// </summary>
/// <remarks>
/// Unblocked Householder QR is memory-bound: about 10× slower than <see cref="TorchLeastSquares"/> on tall
/// problems (20000 × 500: a few seconds on 2 cores). Same accuracy (κ·1e-16), same rank test; the
/// condition number it reports is a power-iteration estimate (a lower bound, usually within a few per cent).
/// </remarks>
public sealed class ManagedLeastSquares : ILeastSquaresSolver
{
    /// <summary>A solver that uses up to <paramref name="threads"/> threads (≤ 0: all cores).</summary>
    public ManagedLeastSquares(int threads = 0)
    {
        Threads = LeastSquaresCore.ResolveThreads(threads);
    }

    /// <summary>Threads used by <see cref="Solve"/>.</summary>
    public int Threads { get; }

    /// <inheritdoc />
    public string Name => "managed Householder QR";

    /// <inheritdoc />
    public LeastSquaresSolution Solve(LeastSquaresProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var (keptRows, penalised) = LeastSquaresCore.Layout(problem);
        double[] norms = LeastSquaresCore.ColumnNorms(problem, keptRows);
        LeastSquaresCore.CheckZeroColumns(norms);

        int n = problem.Columns;
        int m = keptRows.Length + penalised.Length;
        if ((long)(n + 1) * m > Array.MaxLength)
            throw new NotSupportedException(
                $"the augmented matrix ({m} x {n + 1}) is too large for one managed array; use {nameof(TorchLeastSquares)}");
        double[] c = ColumnMajorAugmented(problem, keptRows, penalised);
        double[] diagonal = Factorise(c, m, n);

        double condition = ConditionEstimate(c, m, n, diagonal, norms);
        LeastSquaresCore.CheckRank(condition, m, n, j => Math.Abs(diagonal[j]) / norms[j]);

        // R x = (Qᵀ b)[0..n): back substitution, column by column.
        var x = c.AsSpan(n * m, n).ToArray();
        for (int j = n - 1; j >= 0; j--)
        {
            x[j] /= diagonal[j];
            if (j > 0)
                TensorPrimitives.MultiplyAdd(c.AsSpan(j * m, j), -x[j], x.AsSpan(0, j), x.AsSpan(0, j));
        }
        return LeastSquaresCore.Finish(problem, x, condition, Name, Threads);
    }

    /// <summary>
    /// The augmented matrix and right-hand side, column-major: column j (j &lt; n) at [j·m, (j+1)·m), the
    /// right-hand side as column n.
    /// </summary>
    private static double[] ColumnMajorAugmented(LeastSquaresProblem p, int[] keptRows, int[] penalised)
    {
        int n = p.Columns;
        int m = keptRows.Length + penalised.Length;
        var c = new double[(n + 1) * m];
        for (int k = 0; k < keptRows.Length; k++)
        {
            int i = keptRows[k];
            double s = Math.Sqrt(p.WeightOf(i));
            ReadOnlySpan<double> row = p.Row(i);
            for (int j = 0; j < n; j++)
                c[j * m + k] = s * row[j];
            c[n * m + k] = s * p.Target[i];
        }
        for (int k = 0; k < penalised.Length; k++)
        {
            int j = penalised[k];
            c[j * m + keptRows.Length + k] = Math.Sqrt(p.RidgeOf(j));
        }
        return c;
    }

    /// <summary>
    /// Householder QR in place (LAPACK's dgeqr2/dlarfg conventions): below the diagonal of column k the
    /// reflector's vector v (v_k = 1 implied), the strict upper triangle of R above it, the right-hand side
    /// column replaced by Qᵀ b. Returns the diagonal of R.
    /// </summary>
    private double[] Factorise(double[] c, int m, int n)
    {
        var diagonal = new double[n];
        var options = new ParallelOptions { MaxDegreeOfParallelism = Threads };
        for (int k = 0; k < n; k++)
        {
            int length = m - k;
            Span<double> v = c.AsSpan(k * m + k, length);
            double alpha = v[0];
            double tail = length > 1 ? TensorPrimitives.Norm<double>(v[1..]) : 0;
            double tau;
            if (tail == 0)
            {
                tau = 0;
                diagonal[k] = alpha;
                continue; // H = I
            }
            double beta = -Math.CopySign(Hypot(alpha, tail), alpha);
            tau = (beta - alpha) / beta;
            TensorPrimitives.Multiply(v[1..], 1 / (alpha - beta), v[1..]);
            v[0] = 1;
            diagonal[k] = beta;

            int first = k + 1, count = n + 1 - first; // trailing columns and the right-hand side
            if ((long)count * length < 1 << 16 || Threads == 1)
            {
                for (int j = first; j <= n; j++)
                    Reflect(c, m, k, j, tau);
            }
            else
            {
                int chunks = Math.Min(count, Threads * 4);
                Parallel.For(0, chunks, options, chunk =>
                {
                    int start = first + (int)((long)count * chunk / chunks);
                    int end = first + (int)((long)count * (chunk + 1) / chunks);
                    for (int j = start; j < end; j++)
                        Reflect(c, m, k, j, tau);
                });
            }
            v[0] = beta;
        }
        return diagonal;
    }

    /// <summary>Column j := (I − τ v vᵀ) column j, on rows k..m−1.</summary>
    private static void Reflect(double[] c, int m, int k, int j, double tau)
    {
        ReadOnlySpan<double> v = c.AsSpan(k * m + k, m - k);
        Span<double> a = c.AsSpan(j * m + k, m - k);
        double s = tau * TensorPrimitives.Dot(v, a);
        TensorPrimitives.MultiplyAdd(v, -s, a, a);
    }

    private static double Hypot(double a, double b)
    {
        a = Math.Abs(a);
        b = Math.Abs(b);
        double big = Math.Max(a, b), small = Math.Min(a, b);
        if (big == 0) return 0;
        double r = small / big;
        return big * Math.Sqrt(1 + r * r);
    }

    /// <summary>
    /// σ_max / σ_min of R D⁻¹ (columns scaled by the augmented column norms) by power iteration on
    /// (R D⁻¹)ᵀ(R D⁻¹) and on its inverse (triangular solves). R's diagonal is <paramref name="diagonal"/>,
    /// its strict upper triangle column j at c[j·m, j·m + j).
    /// </summary>
    private static double ConditionEstimate(double[] c, int m, int n, double[] diagonal, double[] norms)
    {
        foreach (double d in diagonal)
            if (d == 0) return double.PositiveInfinity;

        const int iterations = 40;
        var rng = new Random(20240607);
        var v = new double[n];
        var u = new double[n];

        // σ_max²: v ← R̃ᵀ R̃ v
        for (int j = 0; j < n; j++) v[j] = 0.5 + rng.NextDouble();
        double sigmaMax2 = 0;
        for (int it = 0; it < iterations; it++)
        {
            Normalise(v);
            // u = R̃ v = R (D⁻¹ v)
            Array.Clear(u);
            for (int j = 0; j < n; j++)
            {
                double vj = v[j] / norms[j];
                if (j > 0) TensorPrimitives.MultiplyAdd(c.AsSpan(j * m, j), vj, u.AsSpan(0, j), u.AsSpan(0, j));
                u[j] += diagonal[j] * vj;
            }
            // v = R̃ᵀ u = D⁻¹ Rᵀ u
            for (int j = 0; j < n; j++)
            {
                double s = diagonal[j] * u[j];
                if (j > 0) s += TensorPrimitives.Dot(c.AsSpan(j * m, j), u.AsSpan(0, j));
                v[j] = s / norms[j];
            }
            sigmaMax2 = TensorPrimitives.Norm<double>(v);
        }

        // 1/σ_min²: v ← R̃⁻¹ R̃⁻ᵀ v
        for (int j = 0; j < n; j++) v[j] = 0.5 + rng.NextDouble();
        double inverseSigmaMin2 = 0;
        for (int it = 0; it < iterations; it++)
        {
            Normalise(v);
            // R̃ᵀ u = v  ⇔  Rᵀ u = D v (forward substitution)
            for (int j = 0; j < n; j++)
            {
                double s = norms[j] * v[j];
                if (j > 0) s -= TensorPrimitives.Dot(c.AsSpan(j * m, j), u.AsSpan(0, j));
                u[j] = s / diagonal[j];
            }
            // R̃ w = u  ⇔  R (D⁻¹ w) = u (back substitution), then w = D (D⁻¹ w)
            Array.Copy(u, v, n);
            for (int j = n - 1; j >= 0; j--)
            {
                v[j] /= diagonal[j];
                if (j > 0) TensorPrimitives.MultiplyAdd(c.AsSpan(j * m, j), -v[j], v.AsSpan(0, j), v.AsSpan(0, j));
            }
            for (int j = 0; j < n; j++) v[j] *= norms[j];
            inverseSigmaMin2 = TensorPrimitives.Norm<double>(v);
            if (!double.IsFinite(inverseSigmaMin2)) return double.PositiveInfinity;
        }
        return Math.Sqrt(sigmaMax2 * inverseSigmaMin2);
    }

    private static void Normalise(double[] v)
    {
        double norm = TensorPrimitives.Norm<double>(v);
        if (norm > 0) TensorPrimitives.Multiply(v, 1 / norm, v);
    }
}
