using System.Numerics.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Mlip.Training.Streaming;

/// <summary>
/// The QR of two stacked upper triangles, [A; B] = Q [R; 0] with A and B upper-triangular n × n, by Householder reflections
/// that use the structure: column j of B has nonzeros only in its rows 0..j, so the reflector of column j has j + 2 nonzeros
/// (A's diagonal and B's rows 0..j) and the whole merge costs about 2n³/3 flops, against about 10n³/3 for a dense QR of the
/// stacked 2n × n matrix (LAPACK's dtpqrt with a triangular lower block does the same). Rows of B that are zero are dropped
/// first (a triangle of fewer rows than columns: the energy rows' factor), so B of k nonzero rows costs about 2k²n.
/// </summary>
/// <remarks>
/// <para>
/// Blocked as LAPACK's dtpqrt: the reflectors of a panel of <see cref="PanelColumns"/> columns are computed column by column
/// (they touch only the panel), gathered in the compact WY form Q = I − V T Vᵀ (V's upper block is the identity: the reflectors'
/// unit entries sit on A's diagonal), and applied to the columns right of the panel by matrix products: W = Tᵀ (A_panel-rows + Uᵀ B),
/// A_panel-rows −= W, B −= U W (U: B's part of V). With libtorch the products are its GEMM (MKL), else plain C# loops on rows.
/// </para>
/// <para>
/// Signs are LAPACK's (dlarfg: the new diagonal is −sign(old)·norm), as the dense folds of <see cref="TsqrAccumulator"/>. The
/// result equals a dense Householder QR of [A; B] up to the signs of R's rows and round-off (tests/Mlip.Tests/Training/TriangleMergeTests.cs):
/// RᵀR = AᵀA + BᵀB, and with the right-hand side as the last column (the augmented triangle of a TSQR factor) the solution and
/// the residual sum of squares are those of all the rows.
/// </para>
/// </remarks>
public static class TriangleMerge
{
    /// <summary>Columns per panel (reflectors applied together).</summary>
    public const int PanelColumns = 48;

    /// <summary>
    /// Replaces <paramref name="a"/> (row-major n × n upper triangle) by the triangle R of [a; b] (<paramref name="b"/> row-major
    /// n × n upper triangle, not changed). <paramref name="useTorch"/>: the trailing products on libtorch with
    /// <paramref name="threads"/> threads (else managed loops). Entries below a's diagonal are taken as zero and left zero.
    /// </summary>
    public static void Merge(Span<double> a, ReadOnlySpan<double> b, int n, bool useTorch, int threads = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        if (a.Length != n * n || b.Length != n * n) throw new ArgumentException($"triangles of {n} x {n} have {n * n} values, not {a.Length} and {b.Length}");
        // B's nonzero rows, in order: row i of the compacted B still has zeros left of its column i (an upper trapezoid)
        var rows = new List<int>();
        for (int i = 0; i < n; i++)
            if (b.Slice(i * n + i, n - i).ContainsAnyExcept(0.0)) rows.Add(i);
        int k = rows.Count;
        if (k == 0) return;
        if (useTorch) MergeTorch(a, b, rows, n, threads, dense: false);
        else MergeManaged(a, b, rows, n, dense: false);
    }

    /// <summary>
    /// Replaces <paramref name="a"/> (row-major n × n upper triangle) by the triangle R of [a; rows] for <paramref name="m"/> dense
    /// rows (<paramref name="b"/>, row-major m × n): LAPACK's dtpqrt with a rectangular lower block, 2mn² flops, against
    /// 2(n + m)n² − 2n³/3 for a dense QR of the stacked matrix (which pays about 4n³/3 for the triangle whatever m: 10 times the
    /// work of a fold of 100 rows into a 1597-triangle).
    /// </summary>
    public static void FoldRows(Span<double> a, ReadOnlySpan<double> b, int m, int n, bool useTorch, int threads = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        if (a.Length != n * n || b.Length < (long)m * n) throw new ArgumentException($"a triangle of {n} x {n} and {m} rows of {n}: {a.Length} and {b.Length} values");
        if (m == 0) return;
        var rows = Enumerable.Range(0, m).ToList();
        if (useTorch) MergeTorch(a, b, rows, n, threads, dense: true);
        else MergeManaged(a, b, rows, n, dense: true);
    }

    /// <summary>
    /// Merges the rows <paramref name="rows"/> of <paramref name="b"/> into <paramref name="a"/> in place (both row-major): an upper
    /// trapezoid (column j nonzero in the first j + 1 of those rows) or, <paramref name="dense"/>, any rows.
    /// </summary>
    private static unsafe void MergeTorch(Span<double> a, ReadOnlySpan<double> b, List<int> rows, int n, int threads, bool dense)
    {
        TorchRuntime.EnsureLoaded();
        TorchRuntime.SetThreads(Math.Max(1, threads));
        int k = rows.Count;
        using var scope = NewDisposeScope();
        var at = empty(new long[] { n, n }, ScalarType.Float64);
        var bt = empty(new long[] { k, n }, ScalarType.Float64);
        double* pa = TorchLeastSquares.DataPointer(at), pb = TorchLeastSquares.DataPointer(bt);
        var aSpan = new Span<double>(pa, n * n);
        var bSpan = new Span<double>(pb, k * n);
        a.CopyTo(aSpan);
        for (int i = 0; i < k; i++) b.Slice(rows[i] * n, n).CopyTo(bSpan.Slice(i * n, n));
        int nb = PanelColumns;
        var ut = empty(new long[] { nb, k }, ScalarType.Float64);      // Uᵀ: row jj = reflector jj's part in B (panel-local)
        var tt = zeros(new long[] { nb, nb }, ScalarType.Float64);     // the compact WY factor T (upper)
        double* pu = TorchLeastSquares.DataPointer(ut), pt = TorchLeastSquares.DataPointer(tt);
        for (int j0 = 0; j0 < n; j0 += nb)
        {
            int j1 = Math.Min(n, j0 + nb), width = j1 - j0, r = dense ? k : Math.Min(j1, k);
            var u = new Span<double>(pu, nb * k);
            var t = new Span<double>(pt, nb * nb);
            Panel(aSpan, bSpan, n, k, j0, j1, r, u, t, dense);
            if (j1 == n) break;
            using var step = NewDisposeScope();
            var aRows = at.narrow(0, j0, width).narrow(1, j1, n - j1);
            var bRows = bt.narrow(0, 0, r).narrow(1, j1, n - j1);
            var uT = ut.narrow(0, 0, width).narrow(1, 0, r);
            var tw = tt.narrow(0, 0, width).narrow(1, 0, width);
            var w = tw.t().matmul(aRows.Plus(uT.matmul(bRows)));
            aRows.sub_(w);
            bRows.sub_(uT.t().matmul(w));
        }
        aSpan.CopyTo(a);
    }

    private static void MergeManaged(Span<double> a, ReadOnlySpan<double> b, List<int> rows, int n, bool dense)
    {
        int k = rows.Count, nb = PanelColumns;
        var bc = new double[k * n];
        for (int i = 0; i < k; i++) b.Slice(rows[i] * n, n).CopyTo(bc.AsSpan(i * n, n));
        var u = new double[nb * k];
        var t = new double[nb * nb];
        var w = new double[nb * n];
        var wt = new double[nb * n];
        for (int j0 = 0; j0 < n; j0 += nb)
        {
            int j1 = Math.Min(n, j0 + nb), width = j1 - j0, r = dense ? k : Math.Min(j1, k), trail = n - j1;
            Panel(a, bc, n, k, j0, j1, r, u, t, dense);
            if (trail == 0) break;
            // W = Uᵀ B + A's panel rows (width × trail, row-major with stride trail)
            for (int jj = 0; jj < width; jj++) a.Slice((j0 + jj) * n + j1, trail).CopyTo(w.AsSpan(jj * trail, trail));
            for (int i = 0; i < r; i++)
            {
                var bRow = bc.AsSpan(i * n + j1, trail);
                for (int jj = 0; jj < width; jj++)
                {
                    double uij = u[jj * k + i];
                    if (uij != 0) TensorPrimitives.MultiplyAdd(bRow, uij, w.AsSpan(jj * trail, trail), w.AsSpan(jj * trail, trail));
                }
            }
            // W := Tᵀ W (T upper: row jj of Tᵀ W = Σ_{q ≤ jj} T[q, jj] W[q])
            for (int jj = 0; jj < width; jj++)
            {
                var row = wt.AsSpan(jj * trail, trail);
                row.Clear();
                for (int q = 0; q <= jj; q++)
                {
                    double tq = t[q * nb + jj];
                    if (tq != 0) TensorPrimitives.MultiplyAdd(w.AsSpan(q * trail, trail), tq, row, row);
                }
            }
            for (int jj = 0; jj < width; jj++)
            {
                var aRow = a.Slice((j0 + jj) * n + j1, trail);
                TensorPrimitives.Subtract(aRow, wt.AsSpan(jj * trail, trail), aRow);
            }
            for (int i = 0; i < r; i++)
            {
                var bRow = bc.AsSpan(i * n + j1, trail);
                for (int jj = 0; jj < width; jj++)
                {
                    double uij = u[jj * k + i];
                    if (uij != 0) TensorPrimitives.MultiplyAdd(wt.AsSpan(jj * trail, trail), -uij, bRow, bRow);
                }
            }
        }
    }

    /// <summary>
    /// The reflectors of columns [j0, j1): applied within the panel, A's panel rows updated in place, their B parts left in
    /// <paramref name="u"/> (row jj, stride k: Uᵀ) and the compact WY factor in <paramref name="t"/> (stride <see cref="PanelColumns"/>).
    /// </summary>
    private static void Panel(Span<double> a, Span<double> b, int n, int k, int j0, int j1, int r, Span<double> u, Span<double> t, bool dense)
    {
        int width = j1 - j0, nb = PanelColumns;
        // the panel's columns of B (rows 0..r-1) as rows of u, contiguous
        for (int jj = 0; jj < width; jj++)
        {
            var col = u.Slice(jj * k, k);
            col.Clear();
            for (int i = 0; i < r; i++) col[i] = b[i * n + j0 + jj];
        }
        t[..(nb * nb)].Clear();
        Span<double> z = stackalloc double[nb];
        for (int jj = 0; jj < width; jj++)
        {
            int j = j0 + jj, length = dense ? k : Math.Min(j + 1, k);
            var x = u.Slice(jj * k, length);
            double tail = TensorPrimitives.Norm<double>(x);
            double tau = 0;
            if (tail != 0)
            {
                double alpha = a[j * n + j];
                double beta = -Math.CopySign(Math.Sqrt(alpha * alpha + tail * tail), alpha);
                tau = (beta - alpha) / beta;
                TensorPrimitives.Multiply(x, 1 / (alpha - beta), x); // v = [1 (A's row j); x / (α − β) (B's rows)]
                a[j * n + j] = beta;
                for (int ll = jj + 1; ll < width; ll++)
                {
                    int l = j0 + ll;
                    var y = u.Slice(ll * k, length);
                    double s = tau * (a[j * n + l] + TensorPrimitives.Dot<double>(x, y));
                    a[j * n + l] -= s;
                    TensorPrimitives.MultiplyAdd(x, -s, y, y);
                }
            }
            else x.Clear();
            // T[0..jj, jj] = −τ T[0..jj, 0..jj] (Vᵀ v_jj): the A parts of the reflectors are distinct unit vectors, so only U's count
            for (int q = 0; q < jj; q++)
            {
                int lq = dense ? k : Math.Min(j0 + q + 1, k);
                z[q] = TensorPrimitives.Dot<double>(u.Slice(q * k, lq), x[..Math.Min(lq, length)]);
            }
            for (int q = 0; q < jj; q++)
            {
                double s = 0;
                for (int m = q; m < jj; m++) s += t[q * nb + m] * z[m];
                t[q * nb + jj] = -tau * s;
            }
            t[jj * nb + jj] = tau;
        }
    }
}
