using Mlip.Training;
using Mlip.Tests.Support;

namespace Mlip.Tests.Distributed;

/// <summary>
/// The per-rank reduction of <see cref="DistributedLeastSquares"/>: the triangle R of [A | b] keeps A's information
/// (RᵀR = [A b]ᵀ[A b]), with libtorch and in plain C#, and stacking the triangles of row blocks gives the solution of all rows.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class DistributedLeastSquaresTests
{
    private static (double[] A, double[] B) Random(int rows, int p, int seed)
    {
        var rng = new Random(seed);
        var a = new double[rows * p];
        var b = new double[rows];
        for (int i = 0; i < a.Length; i++) a[i] = rng.NextDouble() * 2 - 1 + (i % p == 0 ? 3 : 0);
        for (int i = 0; i < rows; i++) b[i] = rng.NextDouble();
        return (a, b);
    }

    /// <summary>max |(RᵀR − MᵀM)_jk| / max |MᵀM| with M = [A | b].</summary>
    private static double GramError(double[] r, double[] a, double[] b, int rows, int p)
    {
        int n = p + 1, rr = r.Length / n;
        double worst = 0, scale = 0;
        for (int j = 0; j < n; j++)
            for (int k = 0; k < n; k++)
            {
                double m = 0, q = 0;
                for (int i = 0; i < rows; i++) m += (j < p ? a[i * p + j] : b[i]) * (k < p ? a[i * p + k] : b[i]);
                for (int i = 0; i < rr; i++) q += r[i * n + j] * r[i * n + k];
                worst = Math.Max(worst, Math.Abs(m - q));
                scale = Math.Max(scale, Math.Abs(m));
            }
        return worst / scale;
    }

    [Theory]
    [InlineData(40, 6)]
    [InlineData(4, 6)] // fewer rows than columns: R has 4 rows
    public void The_triangle_keeps_the_information_of_the_rows(int rows, int p)
    {
        var (a, b) = Random(rows, p, 3);
        var torch = DistributedLeastSquares.TriangularFactor(a, rows, b, p, 1);
        var managed = DistributedLeastSquares.ManagedFactor(a, rows, b, p);
        Assert.Equal(Math.Min(rows, p + 1) * (p + 1), torch.Length);
        Assert.Equal(torch.Length, managed.Length);
        Assert.True(GramError(torch, a, b, rows, p) < 1e-13, $"torch {GramError(torch, a, b, rows, p):G3}");
        Assert.True(GramError(managed, a, b, rows, p) < 1e-13, $"managed {GramError(managed, a, b, rows, p):G3}");
        for (int i = 0; i < torch.Length / (p + 1); i++)
            for (int j = 0; j < i; j++) Assert.Equal(0.0, managed[i * (p + 1) + j]); // upper triangular
        Assert.Empty(DistributedLeastSquares.TriangularFactor([], 0, [], p, 1));
    }

    [Fact]
    public void Stacked_triangles_of_row_blocks_solve_the_whole_problem()
    {
        const int rows = 300, p = 12;
        var (a, b) = Random(rows, p, 7);
        var ridge = LeastSquaresProblem.RidgeVector(p, 1e-6, 0);
        var solver = new TorchLeastSquares(1);
        var whole = solver.Solve(new LeastSquaresProblem(a, rows, b, null, ridge));

        var stackA = new List<double>();
        var stackB = new List<double>();
        foreach (var (start, end) in new[] { (0, 97), (97, 98), (98, 300) }) // three "ranks", one with a single row
        {
            int n = end - start;
            var r = (start % 2 == 0 ? (Func<double[], int, double[], int, double[]>)((x, m, y, q) => DistributedLeastSquares.ManagedFactor(x, m, y, q))
                : (x, m, y, q) => DistributedLeastSquares.TriangularFactor(x, m, y, q, 1))(a[(start * p)..(end * p)], n, b[start..end], p);
            for (int i = 0; i < r.Length / (p + 1); i++)
            {
                stackA.AddRange(r.AsSpan(i * (p + 1), p).ToArray());
                stackB.Add(r[i * (p + 1) + p]);
            }
        }
        var merged = solver.Solve(new LeastSquaresProblem(stackA.ToArray(), stackB.Count, stackB.ToArray(), null, ridge));
        double scale = whole.Coefficients.Max(Math.Abs);
        for (int j = 0; j < p; j++) Assert.True(Math.Abs(whole.Coefficients[j] - merged.Coefficients[j]) < 1e-12 * scale, $"coefficient {j}");
        // the last row of each triangle carries its block's residual: the merged residual is the whole one
        Assert.Equal(whole.WeightedResidualSumOfSquares, merged.WeightedResidualSumOfSquares, 1e-10 * whole.WeightedResidualSumOfSquares);
    }
}
