using Mlip.Tests.Support;
using Mlip.Training;
using Mlip.Training.Streaming;

namespace Mlip.Tests.Training;

/// <summary>
/// The streaming tall-skinny QR: its factor gives the same solution, residual and objective as an in-memory QR of all rows,
/// whatever the chunking, the backend, or the order in which per-rank factors are merged; the row-class factors re-solve for
/// other loss weights and ridge terms exactly as an in-memory weighted fit.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class TsqrAccumulatorTests
{
    private static (double[] A, double[] B) Random(int rows, int cols, int seed, double noise = 0.1)
    {
        var rng = new Random(seed);
        var a = new double[rows * cols];
        var b = new double[rows];
        var x = new double[cols];
        for (int j = 0; j < cols; j++) x[j] = rng.NextDouble() - 0.5;
        for (int i = 0; i < rows; i++)
        {
            double s = 0;
            for (int j = 0; j < cols; j++)
            {
                // columns of very different scales and a near-collinear pair: a problem with κ ~ 1e5
                double v = (rng.NextDouble() - 0.5) * Math.Pow(10, j % 4);
                if (j == cols - 1) v = a[i * cols] + 1e-4 * (rng.NextDouble() - 0.5);
                a[i * cols + j] = v;
                s += v * x[j];
            }
            b[i] = s + noise * (rng.NextDouble() - 0.5);
        }
        return (a, b);
    }

    private static double RelativeDifference(double[] x, double[] y)
    {
        double d = 0, n = 0;
        for (int i = 0; i < x.Length; i++) { d += (x[i] - y[i]) * (x[i] - y[i]); n += y[i] * y[i]; }
        return Math.Sqrt(d / n);
    }

    private static FactoredSolution SolveFactor(TsqrAccumulator acc, double[] ridge)
    {
        var f = new RowClassFactors(acc.Columns, [RowClass.Energy]);
        f.Of(RowClass.Energy)!.Merge(acc);
        // weight 1 per row: the energy weight is the row count
        return f.Solve(new LossWeights { Energy = f.RowsOf(RowClass.Energy), Force = 0 }, ridge, new TorchLeastSquares(1));
    }

    [Theory]
    [InlineData(TsqrBackend.Torch)]
    [InlineData(TsqrBackend.Managed)]
    public void FactorSolvesLikeInMemoryQr(TsqrBackend backend)
    {
        const int rows = 3000, cols = 23;
        var (a, b) = Random(rows, cols, 7);
        var ridge = LeastSquaresProblem.RidgeVector(cols, 1e-6, 0);
        var reference = new TorchLeastSquares(1).Solve(new LeastSquaresProblem(a, rows, b, null, ridge));

        var acc = new TsqrAccumulator(cols, backend, threads: 1, bufferRows: 257);
        var rng = new Random(3);
        for (int start = 0; start < rows;)
        {
            int n = Math.Min(rows - start, rng.Next(1, 400));
            acc.AddRows(a.AsSpan(start * cols, n * cols), b.AsSpan(start, n), n);
            start += n;
        }
        Assert.Equal(rows, acc.Rows);
        var s = SolveFactor(acc, ridge);
        Assert.True(RelativeDifference(s.Coefficients, reference.Coefficients) < 1e-10, $"{RelativeDifference(s.Coefficients, reference.Coefficients)}");
        Assert.Equal(reference.Objective, s.Objective, reference.Objective * 1e-10);
        Assert.Equal(reference.ConditionNumber, s.ConditionNumber, reference.ConditionNumber * 1e-6);

        // without ridge the residual beyond the column space is the least-squares residual
        var plain = new TorchLeastSquares(1).Solve(new LeastSquaresProblem(a, rows, b));
        Assert.Equal(plain.WeightedResidualSumOfSquares, acc.ResidualSumOfSquares, plain.WeightedResidualSumOfSquares * 1e-10);
    }

    [Fact]
    public void ResultDependsOnTheRowsNotOnHowTheyAreSplitIntoCalls()
    {
        const int rows = 1500, cols = 17;
        var (a, b) = Random(rows, cols, 11);
        var whole = new TsqrAccumulator(cols, TsqrBackend.Torch, 1, bufferRows: 200);
        whole.AddRows(a, b, rows);
        var pieces = new TsqrAccumulator(cols, TsqrBackend.Torch, 1, bufferRows: 200);
        for (int i = 0; i < rows; i += 7)
        {
            int n = Math.Min(7, rows - i);
            pieces.AddRows(a.AsSpan(i * cols, n * cols), b.AsSpan(i, n), n);
        }
        Assert.Equal(whole.ToFlat(), pieces.ToFlat()); // bitwise
    }

    /// <summary>
    /// The fold in place (LAPACK dgeqrf on the accumulator's own column-major stacked buffer) against the fold it replaced:
    /// libtorch's geqrf of a freshly stacked row-major [T; rows], the upper triangle of its top kept. Full folds of 150 rows and a
    /// last fold of 97 (> p + 1, so geqrf too), rows given in uneven calls; and a checkpoint taken mid-buffer resumes to the same bits.
    /// </summary>
    [Fact]
    public void InPlaceFoldEqualsTorchGeqrfOfTheStackedRows()
    {
        const int rows = 697, cols = 40, buffer = 150;
        var (a, b) = Random(rows, cols, 11);
        var acc = new TsqrAccumulator(cols, TsqrBackend.Torch, 1, bufferRows: buffer);
        int at = 0;
        foreach (int n in new[] { 7, 200, 1, 330, 159 })
        {
            acc.AddRows(a.AsSpan(at * cols, n * cols), b.AsSpan(at, n), n);
            at += n;
        }
        Assert.Equal(rows, at);
        var t = acc.Triangle;

        int w = cols + 1;
        var reference = new double[w * w];
        for (int start = 0; start < rows; start += buffer)
        {
            int m = Math.Min(buffer, rows - start);
            using var scope = TorchSharp.torch.NewDisposeScope();
            var stacked = new double[(w + m) * w];
            reference.CopyTo(stacked, 0);
            for (int i = 0; i < m; i++)
            {
                a.AsSpan((start + i) * cols, cols).CopyTo(stacked.AsSpan((w + i) * w, cols));
                stacked[(w + i) * w + cols] = b[start + i];
            }
            var (qr, _) = TorchSharp.torch.geqrf(TorchSharp.torch.tensor(stacked, [w + m, w]));
            reference = qr.narrow(0, 0, w).triu().contiguous().data<double>().ToArray();
        }
        double scale = reference.Max(Math.Abs), worst = 0;
        for (int i = 0; i < w * w; i++) worst = Math.Max(worst, Math.Abs(t[i] - reference[i]));
        Assert.True(worst <= 1e-13 * scale, $"in-place fold differs from geqrf of the stacked rows by {worst / scale:E2} of the largest entry");
        for (int i = 1; i < w; i++)
            for (int j = 0; j < i; j++) Assert.Equal(0.0, t[i * w + j]);

        // a checkpoint with rows in the buffer, restored into a fresh accumulator and continued: the same triangle to the bit
        var first = new TsqrAccumulator(cols, TsqrBackend.Torch, 1, bufferRows: buffer);
        first.AddRows(a.AsSpan(0, 230 * cols), b.AsSpan(0, 230), 230);
        var resumed = TsqrAccumulator.FromState(first.SaveState(), TsqrBackend.Torch, 1, buffer);
        resumed.AddRows(a.AsSpan(230 * cols), b.AsSpan(230), rows - 230);
        Assert.Equal(t, resumed.Triangle);
    }

    [Fact]
    public void BackendsAgreeUpToTheSignsOfTheRows()
    {
        const int rows = 800, cols = 12;
        var (a, b) = Random(rows, cols, 5);
        var torch = new TsqrAccumulator(cols, TsqrBackend.Torch, 1, bufferRows: 100);
        var managed = new TsqrAccumulator(cols, TsqrBackend.Managed, 2, bufferRows: 100);
        torch.AddRows(a, b, rows);
        managed.AddRows(a, b, rows);
        double[] rt = torch.R, rm = managed.R;
        for (int i = 0; i < cols; i++)
        {
            double sign = Math.Sign(rt[i * cols + i]) * Math.Sign(rm[i * cols + i]);
            for (int j = i; j < cols; j++)
                Assert.Equal(rt[i * cols + j], sign * rm[i * cols + j], 1e-9 * Math.Abs(rt[i * cols + i]) + 1e-12);
            Assert.Equal(torch.QtB[i], sign * managed.QtB[i], 1e-9 * Math.Abs(torch.QtB[i]) + 1e-9);
        }
        Assert.Equal(torch.ResidualSumOfSquares, managed.ResidualSumOfSquares, 1e-9 * torch.ResidualSumOfSquares);
    }

    [Fact]
    public void MergedRankFactorsEqualOneFactorOfAllRows()
    {
        const int rows = 2400, cols = 19, ranks = 3;
        var (a, b) = Random(rows, cols, 13);
        var all = new TsqrAccumulator(cols, TsqrBackend.Torch, 1);
        all.AddRows(a, b, rows);
        // each "rank" factors a share; the flat forms are merged in rank order (as after an MPI allgather)
        var flats = new List<double[]>();
        for (int r = 0; r < ranks; r++)
        {
            int start = r * rows / ranks, end = (r + 1) * rows / ranks;
            var part = new TsqrAccumulator(cols, TsqrBackend.Torch, 1);
            part.AddRows(a.AsSpan(start * cols, (end - start) * cols), b.AsSpan(start, end - start), end - start);
            flats.Add(part.ToFlat());
        }
        var merged = TsqrAccumulator.FromFlat(flats[0]);
        for (int r = 1; r < ranks; r++) merged.Merge(flats[r]);
        Assert.Equal(rows, merged.Rows);
        var ridge = LeastSquaresProblem.RidgeVector(cols, 1e-8);
        Assert.True(RelativeDifference(SolveFactor(merged, ridge).Coefficients, SolveFactor(all, ridge).Coefficients) < 1e-10);
        Assert.Equal(all.ResidualSumOfSquares, merged.ResidualSumOfSquares, all.ResidualSumOfSquares * 1e-10);
        Assert.Throws<ArgumentException>(() => merged.Merge(new double[5]));
    }

    [Fact]
    public void RowClassFactorsResolveForAnyLossWeightsAndRidge()
    {
        const int cols = 15;
        var (ae, be) = Random(60, cols, 21);     // few "energy" rows
        var (af, bf) = Random(2000, cols, 22);   // many "force" rows
        var (asr, bs) = Random(300, cols, 23);   // "stress" rows
        var factors = new RowClassFactors(cols, [RowClass.Energy, RowClass.Force, RowClass.Stress], TsqrBackend.Torch);
        factors.AddRows(RowClass.Energy, ae, be, 60);
        factors.AddRows(RowClass.Force, af, bf, 2000);
        factors.AddRows(RowClass.Stress, asr, bs, 300);
        var reloaded = RowClassFactors.FromFlat(factors.ToFlat());

        foreach (var (loss, lambda) in new[] { (new LossWeights { Energy = 1, Force = 0.05 }, 1e-8), (new LossWeights { Energy = 1, Force = 1, Stress = 0.3 }, 1e-3), (new LossWeights { Energy = 0, Force = 1 }, 0.0) })
        {
            // the in-memory weighted problem: every row with its class weight over the class's row count
            var a = ae.Concat(af).Concat(asr).ToArray();
            var b = be.Concat(bf).Concat(bs).ToArray();
            var w = Enumerable.Repeat(loss.Energy / 60, 60).Concat(Enumerable.Repeat(loss.Force / 2000, 2000)).Concat(Enumerable.Repeat(loss.Stress / 300, 300)).ToArray();
            var ridge = LeastSquaresProblem.RidgeVector(cols, lambda);
            var reference = new TorchLeastSquares(1).Solve(new LeastSquaresProblem(a, 2360, b, w, ridge));
            var s = reloaded.Solve(loss, ridge, new TorchLeastSquares(1));
            Assert.True(RelativeDifference(s.Coefficients, reference.Coefficients) < 1e-10, $"{loss} {lambda}: {RelativeDifference(s.Coefficients, reference.Coefficients)}");
            Assert.Equal(reference.Objective, s.Objective, reference.Objective * 1e-9);
        }
    }

    [Fact]
    public void BadRowsAndShapesAreRefused()
    {
        var acc = new TsqrAccumulator(3, TsqrBackend.Managed);
        Assert.Throws<ArgumentException>(() => acc.AddRows(new double[5], new double[2], 2));
        Assert.Throws<Mlip.Validation.NonFiniteValueException>(() => acc.AddRows([1, 2, double.NaN], [1], 1));
        Assert.Throws<ArgumentException>(() => acc.Merge(new TsqrAccumulator(4, TsqrBackend.Managed)));
        Assert.Throws<ArgumentException>(() => RowClassFactors.FromFlat([1, 0, 3, 0]));
    }
}
