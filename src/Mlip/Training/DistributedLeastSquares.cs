using System.Globalization;
using Mlip.Distributed;
using Mlip.Validation;
using static TorchSharp.torch;

namespace Mlip.Training;

/// <summary>
/// A weighted ridge least-squares problem whose rows are spread over the ranks of an MPI run (each rank holds the
/// rows of its structures, already weighted), solved as if one process held them all. Each rank reduces its rows
/// [A_r | b_r] to the triangular factor of a Householder QR, R_r ((p+1) × (p+1) at most: the rows' information,
/// whatever their number, since A_rᵀA_r = R_rᵀR_r and the last row carries the rank's residual norm); the factors
/// are gathered in rank order and rank 0 solves the stacked problem [R_0; R_1; ...] with the ridge by the usual
/// solver (column scaling, rank test, condition number), then broadcasts the coefficients. This is one level of
/// tall-skinny QR (TSQR): no normal equations, so no squared condition number; the coefficients equal the
/// single-process QR to about κ·1e-16, the weighted residual is the full one.
/// </summary>
public static class DistributedLeastSquares
{
    /// <summary>
    /// Solves min_x Σ_ranks ||A_r x − b_r||² + Σ_j λ_j x_j²: <paramref name="a"/> (<paramref name="rows"/> × ridge.Length,
    /// row-major) and <paramref name="b"/> are this rank's rows with their weights folded in; <paramref name="ridge"/> is the
    /// global one, the same on every rank. Every rank gets the same coefficients.
    /// </summary>
    public static (double[] Coefficients, double WeightedResidual, double ConditionNumber, string Method) Solve(
        ICommunicator comm, double[] a, int rows, double[] b, double[] ridge, ILeastSquaresSolver solver, int threads)
    {
        int p = ridge.Length;
        if (rows > 0 && a.Length != (long)rows * p) throw new ArgumentException("the local rows do not have ridge.Length columns", nameof(a));
        var r = TriangularFactor(a, rows, b, p, threads);
        var all = comm.AllgatherVariable(r);
        double[] coefficients = new double[p];
        Span<double> info = stackalloc double[2];
        string method = "";
        if (comm.IsRoot)
        {
            int stacked = all.Sum(x => x.Length) / (p + 1);
            if (stacked == 0) throw new MlipException("no rows to fit on any rank");
            if (Streaming.RowClassFactors.SolvesByMerging(solver))
            {
                // the ranks' triangles merged by the structured QR of two triangles (Streaming.TriangleMerge), then the ridge:
                // one factor of weight 1 per row (its "row count" is the number of ranks, and so is its loss weight)
                var factors = new Streaming.RowClassFactors(p, [Streaming.RowClass.Energy], Streaming.TsqrBackend.Torch, threads);
                var flat = new double[Streaming.TsqrAccumulator.FlatLength(p)];
                flat[0] = p;
                flat[1] = 1;
                foreach (var part in all)
                {
                    Array.Clear(flat, 2, flat.Length - 2);
                    part.CopyTo(flat, 2); // min(rows, p + 1) rows of the (p + 1)-triangle, row-major: the rest stays zero
                    factors.Of(Streaming.RowClass.Energy)!.Merge(flat);
                }
                var merged = factors.Solve(new LossWeights { Energy = all.Length, Force = 0, Stress = 0 }, ridge, solver);
                merged.Coefficients.CopyTo(coefficients, 0);
                info[0] = merged.WeightedResidualSumOfSquares;
                info[1] = merged.ConditionNumber;
                method = string.Create(CultureInfo.InvariantCulture, $"structured QR merge of the {comm.Size} ranks' QR factors (TSQR) and the ridge, back substitution; condition number estimated (Lanczos)");
            }
            else
            {
                var sa = new double[(long)stacked * p];
                var sb = new double[stacked];
                int row = 0;
                foreach (var part in all)
                    for (int i = 0; i < part.Length / (p + 1); i++, row++)
                    {
                        part.AsSpan(i * (p + 1), p).CopyTo(sa.AsSpan(row * p, p));
                        sb[row] = part[i * (p + 1) + p];
                    }
                var result = solver.Solve(new LeastSquaresProblem(sa, stacked, sb, null, ridge));
                result.Coefficients.CopyTo(coefficients, 0);
                info[0] = result.WeightedResidualSumOfSquares;
                info[1] = result.ConditionNumber;
                method = string.Create(CultureInfo.InvariantCulture, $"{result.Method} of the {comm.Size} ranks' QR factors (TSQR)");
            }
        }
        comm.Barrier(); // the other ranks wait for rank 0's solve asleep (a broadcast would spin)
        comm.Broadcast(coefficients);
        comm.Broadcast(info);
        return (coefficients, info[0], info[1], method);
    }

    /// <summary>
    /// R of the Householder QR of [A | b] (rows × (p + 1), row-major), the first min(rows, p + 1) rows, row-major:
    /// ||[A b] y||² = ||R y||² for every y. Empty when there are no rows.
    /// </summary>
    public static double[] TriangularFactor(double[] a, int rows, double[] b, int p, int threads)
    {
        if (rows == 0) return [];
        int n = p + 1;
        if (TorchRuntime.IsAvailable)
        {
            TorchRuntime.SetThreads(LeastSquaresCore.ResolveThreads(threads));
            using var scope = NewDisposeScope();
            // [A | b] row by row into one tensor
            var augmented = new double[(long)rows * n];
            for (int i = 0; i < rows; i++)
            {
                a.AsSpan((int)((long)i * p), p).CopyTo(augmented.AsSpan((int)((long)i * n), p));
                augmented[(long)i * n + p] = b[i];
            }
            var m = tensor(augmented, [rows, n], ScalarType.Float64);
            var (_, rf) = linalg.qr(m, linalg.QRMode.R);
            return rf.contiguous().data<double>().ToArray();
        }
        return ManagedFactor(a, rows, b, p);
    }

    /// <summary>Householder QR (R only) in plain C#, for machines without libtorch: the same contract as <see cref="TriangularFactor"/>.</summary>
    public static double[] ManagedFactor(double[] a, int rows, double[] b, int p)
    {
        int n = p + 1;
        // column-major copy of [A | b]
        var c = new double[(long)rows * n];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < p; j++) c[(long)j * rows + i] = a[(long)i * p + j];
            c[(long)p * rows + i] = b[i];
        }
        int kmax = Math.Min(rows, n);
        for (int k = 0; k < kmax; k++)
        {
            var col = c.AsSpan((int)((long)k * rows), rows);
            double norm = 0;
            for (int i = k; i < rows; i++) norm += col[i] * col[i];
            norm = Math.Sqrt(norm);
            if (norm == 0) continue;
            double alpha = col[k] > 0 ? -norm : norm;
            var v = new double[rows - k];
            for (int i = k; i < rows; i++) v[i - k] = col[i];
            v[0] -= alpha;
            double vv = 0;
            foreach (double x in v) vv += x * x;
            if (vv == 0) continue;
            for (int j = k; j < n; j++)
            {
                var cj = c.AsSpan((int)((long)j * rows), rows);
                double dot = 0;
                for (int i = k; i < rows; i++) dot += v[i - k] * cj[i];
                double f = 2 * dot / vv;
                for (int i = k; i < rows; i++) cj[i] -= f * v[i - k];
            }
        }
        var r = new double[(long)kmax * n];
        for (int i = 0; i < kmax; i++)
            for (int j = i; j < n; j++) r[(long)i * n + j] = c[(long)j * rows + i];
        return r;
    }
}
