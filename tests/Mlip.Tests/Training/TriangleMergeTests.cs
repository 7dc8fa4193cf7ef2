using Mlip.Tests.Support;
using Mlip.Training;
using Mlip.Training.Streaming;
using TorchSharp;
using static TorchSharp.torch;

namespace Mlip.Tests.Training;

/// <summary>
/// The structured QR of two stacked triangles (<see cref="TriangleMerge"/>) against a dense Householder QR of the stacked
/// matrix (libtorch geqrf) and against the normal equations: the same triangle up to the signs of its rows, the same solution
/// and residual of an augmented [A | b] triangle, on a well-conditioned and an ill-conditioned case, with both backends, with
/// a lower triangle of fewer nonzero rows than columns and across several panels.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class TriangleMergeTests
{
    /// <summary>An upper triangle R of a QR of random rows whose columns are scaled by 10^(−decades·j/(n−1)) (κ ~ 10^decades).</summary>
    private static double[] Triangle(int n, int rows, int seed, double decades)
    {
        var rng = new Random(seed);
        var a = new double[rows * n];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < n; j++)
                a[i * n + j] = (rng.NextDouble() - 0.5) * Math.Pow(10, -decades * j / Math.Max(1, n - 1));
        return DenseR(a, rows, n);
    }

    /// <summary>The n × n triangle of a dense geqrf of <paramref name="a"/> (rows × n, row-major; rows below n give zero rows).</summary>
    private static double[] DenseR(double[] a, int rows, int n)
    {
        using var scope = NewDisposeScope();
        var t = tensor(a, new long[] { rows, n }, ScalarType.Float64);
        if (rows < n) t = cat([t, zeros(new long[] { n - rows, n }, ScalarType.Float64)], 0);
        var (qr, _) = geqrf(t);
        return qr.narrow(0, 0, n).triu().contiguous().data<double>().ToArray();
    }

    private static double[] Stack(double[] top, double[] bottom) => [.. top, .. bottom];

    /// <summary>The triangle with each row's sign chosen so that its diagonal is ≥ 0.</summary>
    private static double[] Signed(double[] r, int n)
    {
        var s = (double[])r.Clone();
        for (int i = 0; i < n; i++)
            if (s[i * n + i] < 0)
                for (int j = i; j < n; j++) s[i * n + j] = -s[i * n + j];
        return s;
    }

    private static double MaxRelative(double[] x, double[] y)
    {
        double d = 0, m = 0;
        for (int i = 0; i < x.Length; i++) { d = Math.Max(d, Math.Abs(x[i] - y[i])); m = Math.Max(m, Math.Abs(y[i])); }
        return d / m;
    }

    /// <summary>x = R⁻¹ c of an augmented (p + 1)-triangle [R c; 0 ρ] and ρ² (the residual sum of squares).</summary>
    private static (double[] X, double Rss) Solve(double[] t, int w)
    {
        int p = w - 1;
        var x = new double[p];
        for (int i = p - 1; i >= 0; i--)
        {
            double s = t[i * w + p];
            for (int j = i + 1; j < p; j++) s -= t[i * w + j] * x[j];
            x[i] = s / t[i * w + i];
        }
        return (x, t[p * w + p] * t[p * w + p]);
    }

    [Theory]
    [InlineData(true, 0.0)]
    [InlineData(false, 0.0)]
    [InlineData(true, 7.0)]
    [InlineData(false, 7.0)]
    public void EqualsTheDenseQrOfTheStackedTriangles(bool useTorch, double decades)
    {
        const int n = 131; // three panels, the last one partial
        var a = Triangle(n, 400, 1, decades);
        var b = Triangle(n, 300, 2, decades);
        var merged = (double[])a.Clone();
        TriangleMerge.Merge(merged, b, n, useTorch, threads: 1);
        var dense = DenseR(Stack(a, b), 2 * n, n);
        // the triangle is unique up to the signs of its rows (full rank); round-off relative to the largest entry
        double diff = MaxRelative(Signed(merged, n), Signed(dense, n));
        Assert.True(diff < (decades > 0 ? 1e-12 : 1e-13), $"structured vs dense R: {diff:G3}");
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++) Assert.Equal(0.0, merged[i * n + j]);
        // the last column as a right-hand side: the solution of all the rows and their residual (κ·ε relative)
        var (x, rss) = Solve(merged, n);
        var (xd, rssd) = Solve(dense, n);
        double tolerance = decades > 0 ? 1e-8 : 1e-12;
        Assert.True(MaxRelative(x, xd) < tolerance, $"solution: {MaxRelative(x, xd):G3}");
        Assert.True(Math.Abs(rss - rssd) <= 1e-10 * rssd, $"rss {rss} vs {rssd}");
    }

    [Fact]
    public void WellConditionedMergeSolvesTheNormalEquations()
    {
        const int n = 60;
        var a = Triangle(n, 200, 3, 0);
        var b = Triangle(n, 150, 4, 0);
        var merged = (double[])a.Clone();
        TriangleMerge.Merge(merged, b, n, useTorch: false);
        // the normal equations of the stacked rows [A; B]: G = AᵀA + BᵀB over the first p columns, h = the last column's products
        int p = n - 1;
        var g = new double[p * p];
        var h = new double[p];
        foreach (var t in new[] { a, b })
            for (int i = 0; i < n; i++)
                for (int j = 0; j < p; j++)
                {
                    h[j] += t[i * n + j] * t[i * n + p];
                    for (int l = 0; l < p; l++) g[j * p + l] += t[i * n + j] * t[i * n + l];
                }
        using var scope = NewDisposeScope();
        var xn = linalg.solve(tensor(g, new long[] { p, p }, ScalarType.Float64), tensor(h, ScalarType.Float64)).data<double>().ToArray();
        var (x, _) = Solve(merged, n);
        Assert.True(MaxRelative(x, xn) < 1e-10, $"merged vs normal equations: {MaxRelative(x, xn):G3}");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void LowerTriangleOfFewRowsAndZeroRows(bool useTorch)
    {
        // an energy-like factor: 40 rows of data for 101 columns (rows 40.. zero), and a zero row inside
        const int n = 101;
        var a = Triangle(n, 300, 5, 2);
        var b = Triangle(n, 40, 6, 2);
        var merged = (double[])a.Clone();
        TriangleMerge.Merge(merged, b, n, useTorch);
        var dense = DenseR(Stack(a, b), 2 * n, n);
        Assert.True(MaxRelative(Signed(merged, n), Signed(dense, n)) < 1e-12);
        // a zero lower triangle leaves the upper one as it was, bit for bit
        var same = (double[])a.Clone();
        TriangleMerge.Merge(same, new double[n * n], n, useTorch);
        Assert.Equal(a, same);
    }

    [Fact]
    public void BackendsAgree()
    {
        const int n = 97;
        var a = Triangle(n, 200, 7, 3);
        var b = Triangle(n, 200, 8, 3);
        var torchMerged = (double[])a.Clone();
        var managed = (double[])a.Clone();
        TriangleMerge.Merge(torchMerged, b, n, useTorch: true);
        TriangleMerge.Merge(managed, b, n, useTorch: false);
        Assert.True(MaxRelative(torchMerged, managed) < 1e-13, $"{MaxRelative(torchMerged, managed):G3}");
    }

    [Fact]
    public void SolveOfMergedClassFactorsEqualsTheStackedSolve()
    {
        // two classes and a ridge: the structured solve (torch QR solver) against the stacked dense solve (managed solver)
        const int cols = 70;
        var rng = new Random(11);
        var f = new RowClassFactors(cols, [RowClass.Energy, RowClass.Force], TsqrBackend.Torch);
        foreach (var (c, rows) in new[] { (RowClass.Energy, 50), (RowClass.Force, 900) })
        {
            var a = new double[rows * cols];
            var y = new double[rows];
            for (int i = 0; i < a.Length; i++) a[i] = (rng.NextDouble() - 0.5) * Math.Pow(10, -(i % cols) / 20.0);
            for (int i = 0; i < rows; i++) y[i] = rng.NextDouble();
            f.AddRows(c, a, y, rows);
        }
        var loss = new LossWeights { Energy = 1, Force = 0.05 };
        var ridge = LeastSquaresProblem.RidgeVector(cols, 1e-6, 0);
        var structured = f.Solve(loss, ridge, new TorchLeastSquares(1));
        var stacked = f.Solve(loss, ridge, new ManagedLeastSquares(1));
        var normal = f.Solve(loss, ridge, new TorchLeastSquares(1, LeastSquaresMethod.NormalEquations));
        Assert.Contains("structured", structured.Method, StringComparison.Ordinal);
        Assert.True(MaxRelative(structured.Coefficients, stacked.Coefficients) < 1e-9, $"{MaxRelative(structured.Coefficients, stacked.Coefficients):G3}");
        Assert.Equal(stacked.WeightedResidualSumOfSquares, structured.WeightedResidualSumOfSquares, 1e-10 * stacked.WeightedResidualSumOfSquares);
        Assert.Equal(stacked.PenaltySumOfSquares, structured.PenaltySumOfSquares, 1e-8 * stacked.PenaltySumOfSquares);
        // the condition number: exact singular values in both torch paths
        Assert.Equal(normal.ConditionNumber, structured.ConditionNumber, 1e-6 * normal.ConditionNumber);
    }

    [Theory]
    [InlineData(true, 30)]
    [InlineData(false, 30)]
    [InlineData(true, 250)]
    public void FoldOfDenseRowsEqualsTheDenseQr(bool useTorch, int m)
    {
        // rows under a triangle (a TSQR fold): fewer and more rows than columns, across panels
        const int n = 113;
        var a = Triangle(n, 300, 9, 4);
        var rng = new Random(10);
        var rows = new double[m * n];
        for (int i = 0; i < rows.Length; i++) rows[i] = rng.NextDouble() - 0.5;
        var folded = (double[])a.Clone();
        TriangleMerge.FoldRows(folded, rows, m, n, useTorch);
        var dense = DenseR(Stack(a, rows), n + m, n);
        double diff = MaxRelative(Signed(folded, n), Signed(dense, n));
        Assert.True(diff < 1e-12, $"structured fold vs dense R: {diff:G3}");
        var (x, rss) = Solve(folded, n);
        var (xd, rssd) = Solve(dense, n);
        Assert.True(MaxRelative(x, xd) < 1e-9, $"solution: {MaxRelative(x, xd):G3}");
        Assert.Equal(rssd, rss, 1e-10 * rssd);
    }
}
