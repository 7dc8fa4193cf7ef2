using Mlip.Tests.Support;
using Mlip.Training;
using static TorchSharp.torch;

namespace Mlip.Tests.Training;

/// <summary>
/// The Lanczos estimate of κ₂(R D⁻¹) (<see cref="TriangularCondition"/>) against the exact singular values of libtorch
/// (<see cref="TorchLeastSquares.ScaledCondition"/>): well- and ill-conditioned triangles of several sizes, a diagonal one, a
/// rank-deficient one and a zero pivot.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class TriangularConditionTests
{
    /// <summary>The triangle of a QR of random rows whose columns are scaled by 10^(−decades·j/(n−1)), and random column lengths D.</summary>
    private static (double[] R, double[] Norms) Problem(int n, int seed, double decades)
    {
        var rng = new Random(seed);
        int rows = 2 * n + 3;
        var a = new double[rows * n];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < n; j++)
                a[i * n + j] = (rng.NextDouble() - 0.5) * Math.Pow(10, -decades * j / Math.Max(1, n - 1));
        using var scope = NewDisposeScope();
        var (qr, _) = geqrf(tensor(a, new long[] { rows, n }, ScalarType.Float64));
        var r = qr.narrow(0, 0, n).triu().contiguous().data<double>().ToArray();
        var norms = new double[n];
        for (int j = 0; j < n; j++) norms[j] = Math.Pow(10, 2 * rng.NextDouble() - 1);
        return (r, norms);
    }

    [Theory]
    [InlineData(1, 0.0)]
    [InlineData(7, 0.0)]
    [InlineData(60, 0.0)]
    [InlineData(60, 8.0)]
    [InlineData(300, 0.0)]
    [InlineData(300, 4.0)]
    [InlineData(500, 10.0)]
    public void EqualsTheSingularValuesRatio(int n, double decades)
    {
        var (r, norms) = Problem(n, 17 + n, decades);
        double exact = TorchLeastSquares.ScaledCondition(r, norms, 1);
        var (estimate, steps) = TriangularCondition.Estimate(r, norms);
        Assert.True(Math.Abs(estimate / exact - 1) < 1e-9, $"estimate {estimate:G17}, exact {exact:G17}, {steps} steps");
        Assert.True(estimate <= exact * (1 + 1e-12), $"a Lanczos estimate is a lower bound: {estimate:G17} > {exact:G17}");
        Assert.True(steps <= 2 * Math.Min(n, TriangularCondition.MaxSteps));
    }

    [Fact]
    public void DiagonalTriangleGivesTheRatioOfItsEntries()
    {
        int n = 40;
        var r = new double[n * n];
        for (int i = 0; i < n; i++) r[i * n + i] = Math.Pow(10, -3.0 * i / (n - 1)) * (i % 2 == 0 ? 1 : -1);
        var (estimate, _) = TriangularCondition.Estimate(r, Enumerable.Repeat(1.0, n).ToArray());
        Assert.Equal(1000, estimate, 1e-9 * 1000);
    }

    [Fact]
    public void RankDeficientTriangleIsBeyondTheRankTest()
    {
        // column 5 is column 2 times 3 (up to round-off): its pivot is at the rounding level
        int n = 30, rows = 80;
        var rng = new Random(5);
        var a = new double[rows * n];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < n; j++) a[i * n + j] = rng.NextDouble() - 0.5;
            a[i * n + 5] = 3 * a[i * n + 2];
        }
        using var scope = NewDisposeScope();
        var (qr, _) = geqrf(tensor(a, new long[] { rows, n }, ScalarType.Float64));
        var r = qr.narrow(0, 0, n).triu().contiguous().data<double>().ToArray();
        var norms = Enumerable.Repeat(1.0, n).ToArray();
        var (estimate, _) = TriangularCondition.Estimate(r, norms);
        Assert.True(estimate * LeastSquaresCore.RankTolerance(rows, n) >= 1, $"estimate {estimate:G3}");
        r[7 * n + 7] = 0;
        Assert.Equal(double.PositiveInfinity, TriangularCondition.Estimate(r, norms).Condition);
    }
}
