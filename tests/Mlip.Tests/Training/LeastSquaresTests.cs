using System.Text;
using Mlip.Training;
using Mlip.Validation;
using TorchSharp;
using Mlip.Tests.Support;

namespace Mlip.Tests.Training;

/// <summary>
/// libtorch loads (the build's GLIBCXX patch included); the torch and managed least-squares solvers agree
/// with each other and with problems whose solution is known; weights, ridge terms and bad input behave.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class LeastSquaresTests
{
    private static readonly ILeastSquaresSolver[] Solvers =
    [
        new TorchLeastSquares(threads: 2),
        new TorchLeastSquares(threads: 2, method: LeastSquaresMethod.NormalEquations),
        new ManagedLeastSquares(threads: 2),
    ];

    public static TheoryData<int> SolverIndices => new() { 0, 1, 2 };

    // ---- libtorch itself ---------------------------------------------------------------------------

    [Fact]
    public void TorchLoadsAndComputesInFloat64()
    {
        TorchRuntime.EnsureLoaded();
        Assert.True(TorchRuntime.IsAvailable);
        using var a = torch.tensor(new[] { 1.0, 2.0, 3.0 }, torch.ScalarType.Float64);
        using var b = a * a + 1e-12;
        using var s = b.sum();
        Assert.Equal(torch.ScalarType.Float64, s.dtype);
        Assert.Equal(14.0 + 3e-12, s.item<double>(), 1e-15);  // beyond float32's resolution
        using var m = torch.tensor(new[] { 4.0, 1.0, 1.0, 3.0 }, new long[] { 2, 2 }, torch.ScalarType.Float64);
        using var l = torch.linalg.cholesky(m);
        Assert.Equal(2.0, l[0, 0].item<double>(), 14);
    }

    [Fact]
    public void TorchUsesTheThreadCountAsked()
    {
        try
        {
            var one = new TorchLeastSquares(threads: 1);
            one.Solve(RandomProblem(50, 5, seed: 1));
            Assert.Equal(1, TorchRuntime.Threads);
            var two = new TorchLeastSquares(threads: 2);
            two.Solve(RandomProblem(50, 5, seed: 1));
            Assert.Equal(2, TorchRuntime.Threads);
        }
        finally
        {
            LibtorchThreadsAttribute.Reset(); // what the libtorch collection's tests start with (the attribute resets it after, too)
        }
    }

    [Fact]
    public void BuildMarkedGlibcxx3432WeakInTheOutputCopy()
    {
        // build/WeakenVerneed.targets runs after the copy to this test project's output folder.
        string path = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        if (!File.Exists(path)) return; // not a linux-x64 output
        var flags = VersionNeedFlags(File.ReadAllBytes(path));
        if (!flags.TryGetValue("GLIBCXX_3.4.32", out ushort f)) return; // a TorchSharp build without the requirement
        Assert.True((f & 0x2) != 0, $"GLIBCXX_3.4.32 in {path} is not marked VER_FLG_WEAK");
        Assert.Equal(0, flags["GLIBCXX_3.4.30"] & 0x2); // only that one entry is touched
    }

    // ---- agreement and exact solutions ---------------------------------------------------------------

    [Theory]
    [InlineData(200, 10, 1)]
    [InlineData(1000, 60, 2)]
    [InlineData(3000, 120, 3)]
    public void TorchEqualsManagedOnRandomWellConditionedProblems(int rows, int columns, int seed)
    {
        var rng = new Random(seed);
        var p = RandomProblem(rows, columns, seed, weights: RandomArray(rng, rows, 0.1, 3),
            ridge: LeastSquaresProblem.RidgeVector(columns, 0.05, 0));
        var managed = new ManagedLeastSquares(threads: 2).Solve(p);
        foreach (var solver in Solvers.Take(2))
        {
            var torchSolution = solver.Solve(p);
            Assert.True(RelativeDifference(torchSolution.Coefficients, managed.Coefficients) < 1e-10,
                $"{solver.Name}: relative difference {RelativeDifference(torchSolution.Coefficients, managed.Coefficients):E2}");
            Assert.Equal(managed.Objective, torchSolution.Objective, 1e-10 * managed.Objective);
            Assert.True(Math.Abs(torchSolution.ConditionNumber / managed.ConditionNumber - 1) < 0.05,
                $"condition numbers {torchSolution.ConditionNumber} and {managed.ConditionNumber}");
        }
    }

    [Theory]
    [MemberData(nameof(SolverIndices))]
    public void ConsistentProblemGivesTheExactSolution(int solver)
    {
        const int rows = 500, columns = 30;
        var rng = new Random(7);
        double[] a = RandomArray(rng, rows * columns, -1, 1);
        double[] xTrue = RandomArray(rng, columns, -5, 5);
        double[] b = MatVec(a, rows, xTrue);
        var s = Solvers[solver].Solve(new LeastSquaresProblem(a, rows, b, weights: RandomArray(rng, rows, 0.5, 2)));
        Assert.True(RelativeDifference(s.Coefficients, xTrue) < 1e-12, $"{RelativeDifference(s.Coefficients, xTrue):E2}");
        Assert.True(s.WeightedResidualSumOfSquares < 1e-20);
        Assert.All(s.Residual, r => Assert.True(Math.Abs(r) < 1e-11));
    }

    [Theory]
    [MemberData(nameof(SolverIndices))]
    public void RidgeOnOrthonormalColumnsShrinksByOnePlusLambda(int solver)
    {
        // A = Q with orthonormal columns (Gram-Schmidt): x_j = (Qᵀb)_j / (1 + λ_j) exactly.
        const int rows = 300, columns = 8;
        var rng = new Random(11);
        double[,] q = Orthonormal(rng, rows, columns);
        double[] b = RandomArray(rng, rows, -1, 1);
        double[] ridge = [0, 0.5, 1, 2, 0, 10, 0.1, 3];
        var s = Solvers[solver].Solve(new LeastSquaresProblem(q, b, ridge: ridge));
        for (int j = 0; j < columns; j++)
        {
            double qtb = 0;
            for (int i = 0; i < rows; i++) qtb += q[i, j] * b[i];
            Assert.Equal(qtb / (1 + ridge[j]), s.Coefficients[j], 1e-13);
        }
        double penalty = 0;
        for (int j = 0; j < columns; j++) penalty += ridge[j] * s.Coefficients[j] * s.Coefficients[j];
        Assert.Equal(penalty, s.PenaltySumOfSquares, 1e-13);
    }

    [Theory]
    [MemberData(nameof(SolverIndices))]
    public void ConditionNumberIsThatOfTheColumnScaledMatrix(int solver)
    {
        // Two unit columns at angle θ: the Gram matrix has eigenvalues 1 ± cos θ, κ = sqrt((1 + c)/(1 − c)).
        // Scaling a column (×1000) must not change it; orthogonal columns of any lengths give κ = 1.
        const int rows = 50;
        double theta = 0.01, c = Math.Cos(theta);
        var a = new double[rows, 2];
        var b = new double[rows];
        for (int i = 0; i < rows; i++) b[i] = i % 3;
        a[0, 0] = 1;
        a[0, 1] = 1000 * Math.Cos(theta);
        a[1, 1] = 1000 * Math.Sin(theta);
        var s = Solvers[solver].Solve(new LeastSquaresProblem(a, b));
        Assert.Equal(Math.Sqrt((1 + c) / (1 - c)), s.ConditionNumber, 1e-6 * s.ConditionNumber);

        var orthogonal = new double[rows, 3];
        orthogonal[0, 0] = 1e-3;
        orthogonal[1, 1] = 1;
        orthogonal[2, 2] = 1e4;
        Assert.Equal(1.0, Solvers[solver].Solve(new LeastSquaresProblem(orthogonal, b)).ConditionNumber, 1e-12);
    }

    // ---- weights and ridge --------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(SolverIndices))]
    public void ZeroWeightRowsAreIgnored(int solver)
    {
        const int rows = 120, extra = 40, columns = 6;
        var rng = new Random(3);
        double[] a = RandomArray(rng, rows * columns, -1, 1);
        double[] b = RandomArray(rng, rows, -1, 1);
        double[] w = RandomArray(rng, rows, 0.5, 2);
        var reference = Solvers[solver].Solve(new LeastSquaresProblem(a, rows, b, w));

        // the same rows plus wild rows of weight 0
        double[] a2 = a.Concat(RandomArray(rng, extra * columns, -1e6, 1e6)).ToArray();
        double[] b2 = b.Concat(RandomArray(rng, extra, -1e9, 1e9)).ToArray();
        double[] w2 = w.Concat(new double[extra]).ToArray();
        var s = Solvers[solver].Solve(new LeastSquaresProblem(a2, rows + extra, b2, w2));
        Assert.True(RelativeDifference(s.Coefficients, reference.Coefficients) < 1e-12);
        Assert.Equal(reference.WeightedResidualSumOfSquares, s.WeightedResidualSumOfSquares, 1e-12);
        Assert.Equal(rows + extra, s.Residual.Length);
    }

    [Theory]
    [MemberData(nameof(SolverIndices))]
    public void WeightTwoEqualsARepeatedRow(int solver)
    {
        const int rows = 60, columns = 4;
        var rng = new Random(5);
        double[] a = RandomArray(rng, rows * columns, -1, 1);
        double[] b = RandomArray(rng, rows, -1, 1);
        double[] w = Enumerable.Repeat(1.0, rows).ToArray();
        w[7] = 2;
        var weighted = Solvers[solver].Solve(new LeastSquaresProblem(a, rows, b, w));
        double[] a2 = a.Concat(a.AsSpan(7 * columns, columns).ToArray()).ToArray();
        double[] b2 = b.Append(b[7]).ToArray();
        var repeated = Solvers[solver].Solve(new LeastSquaresProblem(a2, rows + 1, b2));
        Assert.True(RelativeDifference(weighted.Coefficients, repeated.Coefficients) < 1e-12);
    }

    [Theory]
    [MemberData(nameof(SolverIndices))]
    public void LargeRidgeShrinksOnlyThePenalisedColumns(int solver)
    {
        // Column 0 is a constant (an unpenalised per-element term): with λ → ∞ on the others they go to 0
        // and the constant becomes the weighted mean of b.
        const int rows = 200, columns = 5;
        var rng = new Random(9);
        var a = new double[rows, columns];
        var b = new double[rows];
        var w = RandomArray(rng, rows, 0.5, 2);
        for (int i = 0; i < rows; i++)
        {
            a[i, 0] = 1;
            for (int j = 1; j < columns; j++) a[i, j] = rng.NextDouble() * 2 - 1;
            b[i] = 3 + a[i, 1] - 2 * a[i, 2] + 0.1 * (rng.NextDouble() - 0.5);
        }
        double mean = 0, total = 0;
        for (int i = 0; i < rows; i++) { mean += w[i] * b[i]; total += w[i]; }
        mean /= total;

        var small = Solvers[solver].Solve(new LeastSquaresProblem(a, b, w, LeastSquaresProblem.RidgeVector(columns, 1e-6, 0)));
        Assert.Equal(1.0, small.Coefficients[1], 0.05);
        Assert.Equal(-2.0, small.Coefficients[2], 0.05);

        var large = Solvers[solver].Solve(new LeastSquaresProblem(a, b, w, LeastSquaresProblem.RidgeVector(columns, 1e12, 0)));
        for (int j = 1; j < columns; j++)
            Assert.True(Math.Abs(large.Coefficients[j]) < 1e-9, $"x[{j}] = {large.Coefficients[j]:E2}");
        Assert.Equal(mean, large.Coefficients[0], 1e-8);
    }

    [Theory]
    [MemberData(nameof(SolverIndices))]
    public void RidgeMakesAnUnderdeterminedProblemSolvable(int solver)
    {
        const int rows = 5, columns = 12;
        var rng = new Random(13);
        double[] a = RandomArray(rng, rows * columns, -1, 1);
        double[] b = RandomArray(rng, rows, -1, 1);
        Assert.Throws<RankDeficientException>(() => Solvers[solver].Solve(new LeastSquaresProblem(a, rows, b)));
        var s = Solvers[solver].Solve(new LeastSquaresProblem(a, rows, b, ridge: LeastSquaresProblem.RidgeVector(columns, 1e-3)));
        Assert.All(s.Coefficients, x => Assert.True(double.IsFinite(x)));
        Assert.True(s.WeightedResidualSumOfSquares < 1e-4);
    }

    [Fact]
    public void NormalEquationsHandOverToQrWhenIllConditioned()
    {
        // columns 0 and 1 nearly equal: scaled κ ≈ 2e7 > 1e6
        const int rows = 400, columns = 6;
        var rng = new Random(17);
        double[] a = RandomArray(rng, rows * columns, -1, 1);
        for (int i = 0; i < rows; i++) a[i * columns + 1] = a[i * columns] + 1e-7 * (rng.NextDouble() - 0.5);
        double[] xTrue = [1, 2, 3, 4, 5, 6];
        double[] b = MatVec(a, rows, xTrue);
        var p = new LeastSquaresProblem(a, rows, b);
        var s = new TorchLeastSquares(threads: 2, method: LeastSquaresMethod.NormalEquations).Solve(p);
        Assert.Contains("declined", s.Method);
        Assert.True(s.ConditionNumber > 1e6);
        Assert.True(RelativeDifference(s.Coefficients, xTrue) < 1e-6, $"{RelativeDifference(s.Coefficients, xTrue):E2}");
    }

    // ---- bad input ------------------------------------------------------------------------------------------

    [Fact]
    public void NaNOrInfinityIsReportedWithItsPlace()
    {
        double[] a = RandomArray(new Random(1), 20 * 3, -1, 1);
        double[] b = new double[20];
        a[7 * 3 + 2] = double.NaN;
        var e = Assert.Throws<NonFiniteValueException>(() => new LeastSquaresProblem(a, 20, b));
        Assert.Contains("row 7, column 2", e.Message);

        a[7 * 3 + 2] = 0;
        b[4] = double.PositiveInfinity;
        Assert.Contains("b[4]", Assert.Throws<NonFiniteValueException>(() => new LeastSquaresProblem(a, 20, b)).Message);
        b[4] = 0;
        var w = Enumerable.Repeat(1.0, 20).ToArray();
        w[3] = double.NaN;
        Assert.Contains("w[3]", Assert.Throws<NonFiniteValueException>(() => new LeastSquaresProblem(a, 20, b, w)).Message);
        Assert.Contains("λ[1]", Assert.Throws<NonFiniteValueException>(
            () => new LeastSquaresProblem(a, 20, b, ridge: [0, double.NaN, 0])).Message);
    }

    [Fact]
    public void ShapeMismatchesAreClear()
    {
        double[] a = new double[20 * 3];
        Assert.Contains("not a positive multiple of 7 rows",
            Assert.Throws<ArgumentException>(() => new LeastSquaresProblem(a, 7, new double[7])).Message);
        Assert.Contains("b has 19 values but the design matrix has 20 rows",
            Assert.Throws<ArgumentException>(() => new LeastSquaresProblem(a, 20, new double[19])).Message);
        Assert.Contains("there are 2 ridge terms but the design matrix has 3 columns",
            Assert.Throws<ArgumentException>(() => new LeastSquaresProblem(a, 20, new double[20], ridge: new double[2])).Message);
        Assert.Contains("there are 21 weights",
            Assert.Throws<ArgumentException>(() => new LeastSquaresProblem(new double[20, 3], new double[20], new double[21])).Message);
        Assert.Throws<ArgumentException>(() => new LeastSquaresProblem(new double[0, 3], []));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LeastSquaresProblem(a, 20, new double[20], Enumerable.Repeat(-1.0, 20).ToArray()));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LeastSquaresProblem(a, 20, new double[20], ridge: [0, -1, 0]));
    }

    [Theory]
    [MemberData(nameof(SolverIndices))]
    public void DependentOrZeroColumnsAreRankDeficient(int solver)
    {
        const int rows = 100, columns = 5;
        var rng = new Random(19);
        double[] a = RandomArray(rng, rows * columns, -1, 1);
        for (int i = 0; i < rows; i++) a[i * columns + 3] = 2 * a[i * columns + 1] - a[i * columns + 2];
        double[] b = RandomArray(rng, rows, -1, 1);
        var e = Assert.Throws<RankDeficientException>(() => Solvers[solver].Solve(new LeastSquaresProblem(a, rows, b)));
        Assert.Contains("column 3", e.Message);
        Assert.IsAssignableFrom<MlipException>(e);
        // a ridge on the dependent column resolves it
        var ridge = new double[columns];
        ridge[3] = 1e-6;
        Solvers[solver].Solve(new LeastSquaresProblem(a, rows, b, ridge: ridge));

        for (int i = 0; i < rows; i++) a[i * columns + 4] = 0;
        ridge[4] = 0;
        Assert.Contains("column 4 of the design matrix is zero",
            Assert.Throws<RankDeficientException>(() => Solvers[solver].Solve(new LeastSquaresProblem(a, rows, b, ridge: ridge))).Message);
    }

    // ---- helpers ------------------------------------------------------------------------------------------

    private static LeastSquaresProblem RandomProblem(int rows, int columns, int seed, double[]? weights = null, double[]? ridge = null)
    {
        var rng = new Random(seed * 7919 + 1);
        return new LeastSquaresProblem(RandomArray(rng, rows * columns, -1, 1), rows, RandomArray(rng, rows, -1, 1), weights, ridge);
    }

    private static double[] RandomArray(Random rng, int length, double low, double high)
    {
        var v = new double[length];
        for (int i = 0; i < length; i++) v[i] = low + (high - low) * rng.NextDouble();
        return v;
    }

    private static double[] MatVec(double[] a, int rows, double[] x)
    {
        int columns = x.Length;
        var y = new double[rows];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < columns; j++)
                y[i] += a[i * columns + j] * x[j];
        return y;
    }

    private static double[,] Orthonormal(Random rng, int rows, int columns)
    {
        var q = new double[rows, columns];
        for (int j = 0; j < columns; j++)
        {
            for (int i = 0; i < rows; i++) q[i, j] = rng.NextDouble() - 0.5;
            for (int pass = 0; pass < 2; pass++)          // Gram-Schmidt, twice for full orthogonality
                for (int k = 0; k < j; k++)
                {
                    double d = 0;
                    for (int i = 0; i < rows; i++) d += q[i, k] * q[i, j];
                    for (int i = 0; i < rows; i++) q[i, j] -= d * q[i, k];
                }
            double norm = 0;
            for (int i = 0; i < rows; i++) norm += q[i, j] * q[i, j];
            norm = Math.Sqrt(norm);
            for (int i = 0; i < rows; i++) q[i, j] /= norm;
        }
        return q;
    }

    private static double RelativeDifference(double[] x, double[] reference)
    {
        double d = 0, r = 0;
        for (int i = 0; i < x.Length; i++)
        {
            d += (x[i] - reference[i]) * (x[i] - reference[i]);
            r += reference[i] * reference[i];
        }
        return Math.Sqrt(d / r);
    }

    /// <summary>Vernaux name → flags of an ELF64 little-endian shared object (the .gnu.version_r section).</summary>
    private static Dictionary<string, ushort> VersionNeedFlags(byte[] b)
    {
        var result = new Dictionary<string, ushort>();
        ulong shoff = BitConverter.ToUInt64(b, 0x28);
        int shentsize = BitConverter.ToUInt16(b, 0x3A), shnum = BitConverter.ToUInt16(b, 0x3C);
        for (int s = 0; s < shnum; s++)
        {
            int sh = (int)shoff + s * shentsize;
            if (BitConverter.ToUInt32(b, sh + 4) != 0x6ffffffe) continue; // SHT_GNU_verneed
            int vn = (int)BitConverter.ToUInt64(b, sh + 24);
            int link = (int)BitConverter.ToUInt32(b, sh + 40), count = (int)BitConverter.ToUInt32(b, sh + 44);
            int strtab = (int)BitConverter.ToUInt64(b, (int)shoff + link * shentsize + 24);
            for (int e = 0; e < count; e++)
            {
                int a = vn + (int)BitConverter.ToUInt32(b, vn + 8);
                for (int k = 0; k < BitConverter.ToUInt16(b, vn + 2); k++)
                {
                    int name = strtab + (int)BitConverter.ToUInt32(b, a + 8);
                    result[Encoding.ASCII.GetString(b, name, Array.IndexOf(b, (byte)0, name) - name)] = BitConverter.ToUInt16(b, a + 4);
                    a += (int)BitConverter.ToUInt32(b, a + 12);
                }
                vn += (int)BitConverter.ToUInt32(b, vn + 12);
            }
        }
        return result;
    }
}
