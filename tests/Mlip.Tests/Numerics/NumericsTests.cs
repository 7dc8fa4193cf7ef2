using Mlip.Numerics;
using Mlip.Validation;

namespace Mlip.Tests.Numerics;

/// <summary>The one managed numerics module: each routine against a result known in closed form or by another route.</summary>
public class NumericsTests
{
    private static double[] RandomSpd(int n, int seed, out double[] b)
    {
        var rng = new Random(seed);
        var m = new double[n * n];
        for (int i = 0; i < m.Length; i++) m[i] = rng.NextDouble() - 0.5;
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double s = i == j ? n : 0;
                for (int k = 0; k < n; k++) s += m[i * n + k] * m[j * n + k];
                a[i * n + j] = s;
            }
        b = new double[n];
        for (int i = 0; i < n; i++) b[i] = rng.NextDouble();
        return a;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(300)] // above the size where rows are updated in parallel
    public void Cholesky_solve_reproduces_the_right_hand_side(int n)
    {
        var a = RandomSpd(n, n, out var b);
        var x = DenseCholesky.Solve(a, n, b, 1, CholeskyJitter.None("not SPD"));
        for (int i = 0; i < n; i++)
        {
            double s = 0;
            for (int j = 0; j < n; j++) s += a[i * n + j] * x[j];
            Assert.Equal(b[i], s, 1e-10);
        }
        var l = DenseCholesky.Factor(a, n, CholeskyJitter.None("not SPD"));
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) Assert.Equal(0.0, l[i * n + j]);
        // |L⁻¹ b|² = bᵀ A⁻¹ b
        var z = new double[n];
        double quad = DenseCholesky.ForwardSolve(l, n, b, z);
        double expected = 0;
        for (int i = 0; i < n; i++) expected += b[i] * x[i];
        Assert.Equal(expected, quad, 1e-10 * Math.Max(1, expected));
    }

    [Fact]
    public void Cholesky_shifts_a_singular_matrix_by_its_schedule_and_names_the_failure()
    {
        double[] singular = [1, 1, 1, 1];
        var l = DenseCholesky.Factor(singular, 2, new CholeskyJitter(1e-12, 100, 8, "x"));
        Assert.True(l[3] > 0);
        var e = Assert.Throws<MlipException>(() => DenseCholesky.Factor([1, 2, 2, 1], 2, new CholeskyJitter(1e-12, 10, 3, "the metric is not positive definite")));
        Assert.Equal("the metric is not positive definite", e.Message);
    }

    [Fact]
    public void Symmetric_eigenvalues_of_a_matrix_with_known_spectrum()
    {
        // Q diag(λ) Qᵀ with Q a Householder reflection: the spectrum is λ exactly.
        double[] lambda = [-2, 0.5, 1, 3, 7.25];
        int n = lambda.Length;
        double[] v = [1, -2, 0.5, 3, 1];
        double vv = v.Sum(t => t * t);
        var q = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) q[i * n + j] = (i == j ? 1 : 0) - 2 * v[i] * v[j] / vv;
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                for (int k = 0; k < n; k++) a[i * n + j] += q[i * n + k] * lambda[k] * q[j * n + k];
        var ev = SymmetricEigen.SymmetricEigenvalues((double[])a.Clone(), n);
        Array.Sort(ev);
        for (int k = 0; k < n; k++) Assert.Equal(lambda[k], ev[k], 1e-12);

        var (values, vectors) = SymmetricEigen.Jacobi(n, a);
        var sorted = lambda.OrderDescending().ToArray();
        for (int k = 0; k < n; k++) Assert.Equal(sorted[k], values[k], 1e-12);
        // A v_k = λ_k v_k for the columns of the returned matrix
        for (int k = 0; k < n; k++)
            for (int i = 0; i < n; i++)
            {
                double s = 0;
                for (int j = 0; j < n; j++) s += a[i * n + j] * vectors[j * n + k];
                Assert.Equal(values[k] * vectors[i * n + k], s, 1e-11);
            }
    }

    [Fact]
    public void Lu_inverse_times_the_matrix_is_the_identity()
    {
        var a = RandomSpd(6, 3, out _);
        a[1] += 0.3; // not symmetric
        var inv = DenseLu.Inverse(6, a, "singular");
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++)
            {
                double s = 0;
                for (int k = 0; k < 6; k++) s += a[i * 6 + k] * inv[k * 6 + j];
                Assert.Equal(i == j ? 1.0 : 0.0, s, 1e-12);
            }
        Assert.Equal("singular", Assert.Throws<MlipException>(() => DenseLu.Inverse(2, [0, 0, 1, 1], "singular")).Message);
    }

    [Fact]
    public void Nelder_mead_finds_the_minimum_of_the_rosenbrock_valley()
    {
        int calls = 0;
        var (x, value) = NelderMead.Minimise(p => { calls++; return 100 * Math.Pow(p[1] - p[0] * p[0], 2) + Math.Pow(1 - p[0], 2); },
            [-1.2, 1.0], step: 0.5, tolerance: 1e-14, maxEvaluations: 5000);
        Assert.Equal(1.0, x[0], 1e-4);
        Assert.Equal(1.0, x[1], 1e-4);
        Assert.True(value < 1e-8);
        Assert.True(calls <= 5000);
    }

    [Fact]
    public void Column_statistics_merged_from_chunks_equal_one_pass_and_the_two_pass_formula()
    {
        var rng = new Random(5);
        int rows = 1000, k = 4;
        var data = new double[rows * k];
        for (int r = 0; r < rows; r++)
        {
            data[r * k] = 1e6 + rng.NextDouble();   // large mean, small spread: the one-pass Σx² formula loses digits here
            data[r * k + 1] = rng.NextDouble() * 10 - 5;
            data[r * k + 2] = 3.0;                  // constant: scale 1
            data[r * k + 3] = 1e-17 * rng.NextDouble(); // noise-level values: scale 1, not amplified
        }
        var all = new ColumnStatistics(k);
        all.AddRows(data);
        var merged = new ColumnStatistics(k);
        foreach (var (from, to) in new[] { (0, 17), (17, 500), (500, 1000) })
        {
            var part = new ColumnStatistics(k);
            part.AddRows(data.AsSpan(from * k, (to - from) * k));
            merged.Merge(part);
        }
        Assert.Equal(rows, merged.Count);
        for (int c = 0; c < 2; c++)
        {
            double mean = 0;
            for (int r = 0; r < rows; r++) mean += data[r * k + c];
            mean /= rows;
            double v = 0;
            for (int r = 0; r < rows; r++) v += Math.Pow(data[r * k + c] - mean, 2);
            double sd = Math.Sqrt(v / rows);
            Assert.Equal(mean, all.Mean()[c], 1e-12 * Math.Abs(mean) + 1e-14);
            Assert.Equal(sd, all.Scale()[c], 1e-9 * sd);
            Assert.Equal(all.Mean()[c], merged.Mean()[c], 1e-12 * Math.Abs(mean) + 1e-14);
            Assert.Equal(all.Scale()[c], merged.Scale()[c], 1e-9 * sd);
        }
        Assert.Equal(1.0, all.Scale()[2]);
        Assert.Equal(1.0, all.Scale()[3]);
        Assert.Equal(3.0, all.Mean()[2]);
    }
}
