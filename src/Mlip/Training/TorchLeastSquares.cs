using System.Globalization;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Mlip.Training;

/// <summary>
/// Weighted ridge least squares in float64 on libtorch (CPU; LAPACK from the libtorch build, MKL on x64).
/// </summary>
/// <remarks>
/// <para>
/// The weighted rows W^(1/2) A (rows of weight 0 left out) and one row sqrt(λ_j) e_j per penalised column
/// are written straight into one libtorch tensor. <see cref="LeastSquaresMethod.Qr"/> (default) factorises it
/// with Householder QR (geqrf), applies Qᵀ to the right-hand side (ormqr) and back-substitutes (trtrs);
/// <see cref="LeastSquaresMethod.NormalEquations"/> solves AᵀWA + diag(λ) by Cholesky with one refinement step.
/// The condition number comes from the singular values of the column-scaled triangular factor (n × n, cheap).
/// </para>
/// <para>
/// Measured on 2 cores (AMD EPYC, 20000 × 500, <c>bench/Mlip.Bench -- lstsq</c>): 0.25 s with QR (geqrf
/// itself 0.17 s; the rest is copying the problem in, the condition number and the residual), 0.15 s with
/// normal equations; MathNet.Numerics' managed QR takes 5.6 s. The relative
/// error of x grows like κ·1e-16 for QR and like κ²·1e-16 for plain normal equations (one refinement step
/// brings them back to the QR level while κ ≤ 1e6): see docs/least-squares.md.
/// </para>
/// </remarks>
public sealed class TorchLeastSquares : ILeastSquaresSolver
{
    /// <summary>Above this column-scaled condition number <see cref="LeastSquaresMethod.NormalEquations"/> switches to QR.</summary>
    public const double NormalEquationsConditionLimit = 1e6;

    /// <summary>
    /// A solver that uses <paramref name="threads"/> libtorch threads (≤ 0: all cores) and
    /// <paramref name="method"/>. Loads libtorch; throws <see cref="TorchUnavailableException"/> when it cannot.
    /// </summary>
    public TorchLeastSquares(int threads = 0, LeastSquaresMethod method = LeastSquaresMethod.Qr)
    {
        TorchRuntime.EnsureLoaded();
        Threads = LeastSquaresCore.ResolveThreads(threads);
        Method = method;
    }

    /// <summary>Threads libtorch uses during <see cref="Solve"/>.</summary>
    public int Threads { get; }

    /// <summary>The factorisation used.</summary>
    public LeastSquaresMethod Method { get; }

    /// <inheritdoc />
    public string Name => Method == LeastSquaresMethod.Qr ? "torch QR" : "torch normal equations";

    /// <inheritdoc />
    public LeastSquaresSolution Solve(LeastSquaresProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        TorchRuntime.SetThreads(Threads);
        var (keptRows, penalised) = LeastSquaresCore.Layout(problem);
        double[] norms = LeastSquaresCore.ColumnNorms(problem, keptRows);
        LeastSquaresCore.CheckZeroColumns(norms);

        int n = problem.Columns;
        int m = keptRows.Length + penalised.Length;
        double[] x;
        double condition;
        string method;
        using (NewDisposeScope())
        {
            var (a, b) = Augmented(problem, keptRows, penalised);
            var scale = tensor(norms, ScalarType.Float64);
            if (Method == LeastSquaresMethod.NormalEquations
                && TryNormalEquations(problem, a, b, keptRows.Length, penalised, scale, out x, out condition))
            {
                method = "torch Cholesky (normal equations) + 1 refinement step";
            }
            else
            {
                (x, condition) = SolveQr(a, b, m, n, scale);
                method = Method == LeastSquaresMethod.Qr
                    ? "torch QR (geqrf)"
                    : string.Create(CultureInfo.InvariantCulture,
                        $"torch QR (geqrf; normal equations declined, condition number {condition:G3} > {NormalEquationsConditionLimit:G1})");
            }
        }
        return LeastSquaresCore.Finish(problem, x, condition, method, Threads);
    }

    private static (double[] X, double Condition) SolveQr(Tensor a, Tensor b, int m, int n, Tensor scale)
    {
        var (qr, tau) = geqrf(a);
        var r = qr.narrow(0, 0, n).triu();
        double condition = Condition(r / scale);                       // R D⁻¹: columns scaled
        var relativeDiagonal = (r.diagonal().abs() / scale).data<double>().ToArray();
        LeastSquaresCore.CheckRank(condition, m, n, j => relativeDiagonal[j]);
        var qtb = ormqr(qr, tau, b, left: true, transpose: true).narrow(0, 0, n);
        var x = linalg.solve_triangular(r, qtb, upper: true);
        return (x.data<double>().ToArray(), condition);
    }

    /// <summary>The condition number of R D⁻¹ (R: row-major n × n upper triangle; D: the column lengths <paramref name="columnNorms"/>), from its singular values.</summary>
    internal static double ScaledCondition(double[] r, double[] columnNorms, int threads)
    {
        int n = columnNorms.Length;
        TorchRuntime.SetThreads(Math.Max(1, threads));
        using var scope = NewDisposeScope();
        return Condition(tensor(r, new long[] { n, n }, ScalarType.Float64) / tensor(columnNorms, ScalarType.Float64));
    }

    private static bool TryNormalEquations(LeastSquaresProblem p, Tensor a, Tensor b, int keptRows, int[] penalised,
        Tensor scale, out double[] x, out double condition)
    {
        int n = p.Columns;
        x = [];
        var aw = a.narrow(0, 0, keptRows);
        var bw = b.narrow(0, 0, keptRows);
        var ridge = new double[n];
        foreach (int j in penalised)
            ridge[j] = p.RidgeOf(j);
        var lambda = tensor(ridge, ScalarType.Float64);
        var g = aw.t().matmul(aw);
        g.diagonal().PlusInPlace(lambda);
        var (l, info) = linalg.cholesky_ex(g);
        if (info.item<int>() != 0)
        {
            condition = double.PositiveInfinity;
            return false;
        }
        // D⁻¹ G D⁻¹ = (D⁻¹ L)(D⁻¹ L)ᵀ: the singular values of D⁻¹ L are those of the column-scaled augmented matrix.
        condition = Condition(l / scale.unsqueeze(1));
        if (!(condition <= NormalEquationsConditionLimit))
            return false;
        var lambdaColumn = lambda.unsqueeze(1);
        var xt = cholesky_solve(aw.t().matmul(bw), l);
        // One step of iterative refinement: the gradient of the objective at x, solved with the same factor.
        var gradient = aw.t().matmul(bw - aw.matmul(xt)) - lambdaColumn * xt;
        xt = xt.Plus(cholesky_solve(gradient, l));
        x = xt.data<double>().ToArray();
        return true;
    }

    private static double Condition(Tensor squareFactor)
    {
        var s = linalg.svdvals(squareFactor);
        double max = s[0].item<double>(), min = s[s.shape[0] - 1].item<double>();
        return min > 0 ? max / min : double.PositiveInfinity;
    }

    /// <summary>
    /// [W^(1/2) A (kept rows); sqrt(λ_j) e_j (penalised columns)] and [W^(1/2) b; 0], written into
    /// libtorch tensors' memory directly (row-major, contiguous).
    /// </summary>
    private (Tensor A, Tensor B) Augmented(LeastSquaresProblem p, int[] keptRows, int[] penalised)
    {
        int n = p.Columns;
        long m = keptRows.Length + penalised.Length;
        var a = empty(new[] { m, n }, ScalarType.Float64);
        var b = empty(new[] { m, 1L }, ScalarType.Float64);
        if (penalised.Length > 0)
        {
            a.narrow(0, keptRows.Length, penalised.Length).zero_();
            b.narrow(0, keptRows.Length, penalised.Length).zero_();
        }
        unsafe
        {
            double* pa = DataPointer(a), pb = DataPointer(b);
            var options = new ParallelOptions { MaxDegreeOfParallelism = Threads };
            const int block = 512;
            int blocks = (keptRows.Length + block - 1) / block;
            nint addressA = (nint)pa, addressB = (nint)pb;
            Parallel.For(0, blocks, options, blk =>
            {
                double* rowsA = (double*)addressA, rowsB = (double*)addressB;
                int end = Math.Min(keptRows.Length, (blk + 1) * block);
                for (int k = blk * block; k < end; k++)
                {
                    int i = keptRows[k];
                    double s = Math.Sqrt(p.WeightOf(i));
                    var destination = new Span<double>(rowsA + (long)k * n, n);
                    System.Numerics.Tensors.TensorPrimitives.Multiply(p.Row(i), s, destination);
                    rowsB[k] = s * p.Target[i];
                }
            });
            for (int k = 0; k < penalised.Length; k++)
            {
                int j = penalised[k];
                pa[(keptRows.Length + (long)k) * n + j] = Math.Sqrt(p.RidgeOf(j));
            }
        }
        return (a, b);
    }

    /// <summary>Address of the first element of a contiguous float64 tensor.</summary>
    internal static unsafe double* DataPointer(Tensor t)
    {
        // Tensor.bytes is a Span over the tensor's own storage (int-sized): take it of the first row only
        // and use its address, valid for the whole contiguous tensor.
        var first = t.narrow(0, 0, 1);
        fixed (byte* p = first.bytes)
            return (double*)p;
    }
}
