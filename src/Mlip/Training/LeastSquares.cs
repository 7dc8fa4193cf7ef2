using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Mlip.Validation;

namespace Mlip.Training;

/// <summary>
/// Solves the dense weighted ridge least-squares problem
/// min_x ||W^(1/2) (A x − b)||² + Σ_j λ_j x_j² (see <see cref="LeastSquaresProblem"/>) in float64.
/// </summary>
/// <remarks>
/// Implementations: <see cref="TorchLeastSquares"/> (libtorch/LAPACK, the fast one) and
/// <see cref="ManagedLeastSquares"/> (plain C#, no native code; the reference and fallback).
/// A problem whose weighted, ridge-augmented matrix is rank-deficient (a column that is a linear
/// combination of others and not penalised, fewer weighted rows than unknowns) raises
/// <see cref="RankDeficientException"/> instead of returning an arbitrary solution.
/// </remarks>
public interface ILeastSquaresSolver
{
    /// <summary>Short description of the method ("torch QR", "managed Householder QR" ...).</summary>
    string Name { get; }

    /// <summary>Solves <paramref name="problem"/>.</summary>
    LeastSquaresSolution Solve(LeastSquaresProblem problem);
}

/// <summary>How <see cref="TorchLeastSquares"/> factorises the problem.</summary>
public enum LeastSquaresMethod
{
    /// <summary>
    /// Householder QR of the weighted matrix stacked on sqrt(λ) I (LAPACK geqrf/ormqr/trtrs). Error grows
    /// like κ·ε (κ: condition number of the column-scaled matrix); usable up to κ ≈ 1e11. The default.
    /// </summary>
    Qr,

    /// <summary>
    /// Cholesky of AᵀWA + diag(λ) with one step of iterative refinement: about twice as fast as QR on
    /// tall problems, as accurate as QR while κ ≤ 1e6; above that (or when Cholesky fails) the solver
    /// switches to <see cref="Qr"/> by itself and says so in <see cref="LeastSquaresSolution.Method"/>.
    /// </summary>
    NormalEquations,
}

/// <summary>
/// A weighted ridge least-squares problem: min_x Σ_i w_i (A_i·x − b_i)² + Σ_j λ_j x_j².
/// A is dense (rows × columns, row-major), b has one value per row, the weights w (default 1) one
/// per row and the ridge λ (default 0) one per column; λ_j = 0 leaves column j unpenalised (for
/// example per-element constant terms). Rows of weight 0 take no part.
/// </summary>
/// <remarks>
/// The arrays are referenced, not copied: do not change them while a solver runs. Everything is
/// checked on construction: shapes (<see cref="ArgumentException"/>), NaN or infinity
/// (<see cref="NonFiniteValueException"/>), negative weights or ridge terms
/// (<see cref="ArgumentOutOfRangeException"/>).
/// </remarks>
public sealed class LeastSquaresProblem
{
    private readonly double[]? _flat;
    private readonly double[,]? _matrix;
    private readonly double[] _target;
    private readonly double[]? _weights;
    private readonly double[]? _ridge;

    /// <summary>A problem with a rectangular matrix (rows = a.GetLength(0)).</summary>
    public LeastSquaresProblem(double[,] a, double[] b, double[]? weights = null, double[]? ridge = null)
    {
        ArgumentNullException.ThrowIfNull(a);
        _matrix = a;
        Rows = a.GetLength(0);
        Columns = a.GetLength(1);
        if (Rows == 0 || Columns == 0)
            throw new ArgumentException($"the design matrix is empty ({Rows} x {Columns})", nameof(a));
        (_target, _weights, _ridge) = Check(b, weights, ridge);
    }

    /// <summary>A problem with a row-major matrix of <paramref name="rows"/> rows (columns = a.Length / rows).</summary>
    public LeastSquaresProblem(double[] a, int rows, double[] b, double[]? weights = null, double[]? ridge = null)
    {
        ArgumentNullException.ThrowIfNull(a);
        if (rows <= 0)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, "the design matrix needs at least one row");
        if (a.Length == 0 || a.Length % rows != 0)
            throw new ArgumentException(
                $"the design matrix has {a.Length} values, which is not a positive multiple of {rows} rows", nameof(a));
        _flat = a;
        Rows = rows;
        Columns = a.Length / rows;
        (_target, _weights, _ridge) = Check(b, weights, ridge);
    }

    /// <summary>Number of rows of A (observations).</summary>
    public int Rows { get; }

    /// <summary>Number of columns of A (unknowns).</summary>
    public int Columns { get; }

    /// <summary>A, row-major (Rows × Columns values).</summary>
    public ReadOnlySpan<double> Matrix => _flat ?? MemoryMarshal.CreateReadOnlySpan(
        ref Unsafe.As<byte, double>(ref MemoryMarshal.GetArrayDataReference(_matrix!)), _matrix!.Length);

    /// <summary>Row <paramref name="row"/> of A.</summary>
    public ReadOnlySpan<double> Row(int row) => Matrix.Slice(row * Columns, Columns);

    /// <summary>b, one value per row.</summary>
    public ReadOnlySpan<double> Target => _target;

    /// <summary>True when weights were given (otherwise every weight is 1).</summary>
    public bool HasWeights => _weights is not null;

    /// <summary>True when ridge terms were given (otherwise every λ is 0).</summary>
    public bool HasRidge => _ridge is not null;

    /// <summary>The weight w of <paramref name="row"/>.</summary>
    public double WeightOf(int row) => _weights is null ? 1.0 : _weights[row];

    /// <summary>The ridge term λ of <paramref name="column"/>.</summary>
    public double RidgeOf(int column) => _ridge is null ? 0.0 : _ridge[column];

    /// <summary>
    /// A ridge vector with <paramref name="lambda"/> on every column except <paramref name="unpenalised"/>
    /// (for example the per-element constant terms), which get 0.
    /// </summary>
    public static double[] RidgeVector(int columns, double lambda, params int[] unpenalised)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        if (!double.IsFinite(lambda) || lambda < 0)
            throw new ArgumentOutOfRangeException(nameof(lambda), lambda, "the ridge term must be finite and >= 0");
        var ridge = new double[columns];
        Array.Fill(ridge, lambda);
        foreach (int j in unpenalised)
        {
            if ((uint)j >= (uint)columns)
                throw new ArgumentOutOfRangeException(nameof(unpenalised), j, $"column {j} is not in 0..{columns - 1}");
            ridge[j] = 0;
        }
        return ridge;
    }

    private (double[], double[]?, double[]?) Check(double[] b, double[]? weights, double[]? ridge)
    {
        ArgumentNullException.ThrowIfNull(b);
        if (b.Length != Rows)
            throw new ArgumentException($"the target b has {b.Length} values but the design matrix has {Rows} rows", nameof(b));
        if (weights is not null && weights.Length != Rows)
            throw new ArgumentException($"there are {weights.Length} weights but the design matrix has {Rows} rows", nameof(weights));
        if (ridge is not null && ridge.Length != Columns)
            throw new ArgumentException($"there are {ridge.Length} ridge terms but the design matrix has {Columns} columns", nameof(ridge));

        ReadOnlySpan<double> a = Matrix;
        if (!TensorPrimitives.IsFiniteAll(a))
        {
            int k = FirstNonFinite(a);
            throw new NonFiniteValueException(InputLocation.Unknown, string.Create(CultureInfo.InvariantCulture,
                $"design matrix entry (row {k / Columns}, column {k % Columns})"));
        }
        if (!TensorPrimitives.IsFiniteAll<double>(b))
            throw new NonFiniteValueException(InputLocation.Unknown, string.Create(CultureInfo.InvariantCulture,
                $"target value b[{FirstNonFinite(b)}]"));
        if (weights is not null)
        {
            for (int i = 0; i < weights.Length; i++)
            {
                if (!double.IsFinite(weights[i]))
                    throw new NonFiniteValueException(InputLocation.Unknown, string.Create(CultureInfo.InvariantCulture, $"weight w[{i}]"));
                if (weights[i] < 0)
                    throw new ArgumentOutOfRangeException(nameof(weights), weights[i], $"weight w[{i}] is negative");
            }
        }
        if (ridge is not null)
        {
            for (int j = 0; j < ridge.Length; j++)
            {
                if (!double.IsFinite(ridge[j]))
                    throw new NonFiniteValueException(InputLocation.Unknown, string.Create(CultureInfo.InvariantCulture, $"ridge term λ[{j}]"));
                if (ridge[j] < 0)
                    throw new ArgumentOutOfRangeException(nameof(ridge), ridge[j], $"ridge term λ[{j}] is negative");
            }
        }
        return (b, weights, ridge);
    }

    private static int FirstNonFinite(ReadOnlySpan<double> values)
    {
        for (int k = 0; k < values.Length; k++)
            if (!double.IsFinite(values[k])) return k;
        return -1;
    }
}

/// <summary>The solution of a <see cref="LeastSquaresProblem"/>.</summary>
public sealed class LeastSquaresSolution
{
    internal LeastSquaresSolution(double[] coefficients, double[] residual, double weightedResidualSumOfSquares,
        double penaltySumOfSquares, double conditionNumber, string method)
    {
        Coefficients = coefficients;
        Residual = residual;
        WeightedResidualSumOfSquares = weightedResidualSumOfSquares;
        PenaltySumOfSquares = penaltySumOfSquares;
        ConditionNumber = conditionNumber;
        Method = method;
    }

    /// <summary>x, one value per column of A.</summary>
    public double[] Coefficients { get; }

    /// <summary>A x − b, one value per row (unweighted; rows of weight 0 included).</summary>
    public double[] Residual { get; }

    /// <summary>Σ_i w_i (A_i·x − b_i)².</summary>
    public double WeightedResidualSumOfSquares { get; }

    /// <summary>Σ_j λ_j x_j².</summary>
    public double PenaltySumOfSquares { get; }

    /// <summary>The minimised objective: <see cref="WeightedResidualSumOfSquares"/> + <see cref="PenaltySumOfSquares"/>.</summary>
    public double Objective => WeightedResidualSumOfSquares + PenaltySumOfSquares;

    /// <summary>
    /// 2-norm condition number of the weighted, ridge-augmented matrix [W^(1/2) A; sqrt(λ) I] after scaling
    /// its columns to unit length (the number that bounds the solver's relative error, about κ·1e-16).
    /// Exact (singular values) for <see cref="TorchLeastSquares"/>, a power-iteration estimate for
    /// <see cref="ManagedLeastSquares"/>.
    /// </summary>
    public double ConditionNumber { get; }

    /// <summary>What solved it ("torch QR (geqrf)", "torch Cholesky + 1 refinement", ...).</summary>
    public string Method { get; }
}

/// <summary>
/// The weighted, ridge-augmented matrix is (numerically) rank-deficient: some combination of the
/// unknowns is not determined by the data. Add a ridge term or remove the dependent column.
/// </summary>
public sealed class RankDeficientException(string message) : MlipException(message)
{
}

/// <summary>Steps shared by the solvers: the augmented layout, the rank test, the residual.</summary>
internal static class LeastSquaresCore
{
    /// <summary>
    /// Rows of the augmented matrix [W^(1/2) A; sqrt(λ) I]: the rows of non-zero weight, then one row per
    /// penalised column. Throws when there are fewer of them than unknowns.
    /// </summary>
    public static (int[] KeptRows, int[] PenalisedColumns) Layout(LeastSquaresProblem p)
    {
        var kept = new List<int>(p.Rows);
        for (int i = 0; i < p.Rows; i++)
            if (p.WeightOf(i) > 0) kept.Add(i);
        var penalised = new List<int>();
        for (int j = 0; j < p.Columns; j++)
            if (p.RidgeOf(j) > 0) penalised.Add(j);
        if (kept.Count + penalised.Count < p.Columns)
            throw new RankDeficientException(string.Create(CultureInfo.InvariantCulture,
                $"the least-squares problem is underdetermined: {kept.Count} rows of non-zero weight and {penalised.Count} penalised columns for {p.Columns} unknowns; add a ridge term or more data"));
        return (kept.ToArray(), penalised.ToArray());
    }

    /// <summary>Lengths of the columns of the augmented matrix: sqrt(Σ_i w_i a_ij² + λ_j).</summary>
    public static double[] ColumnNorms(LeastSquaresProblem p, int[] keptRows)
    {
        int n = p.Columns;
        var sum = new double[n];
        var scaled = new double[n];
        foreach (int i in keptRows)
        {
            TensorPrimitives.Multiply(p.Row(i), Math.Sqrt(p.WeightOf(i)), scaled);
            TensorPrimitives.MultiplyAdd(scaled, scaled, sum, sum);
        }
        for (int j = 0; j < n; j++)
            sum[j] = Math.Sqrt(sum[j] + p.RidgeOf(j));
        return sum;
    }

    /// <summary>Throws for a column that is zero in every weighted row and not penalised.</summary>
    public static void CheckZeroColumns(double[] columnNorms)
    {
        for (int j = 0; j < columnNorms.Length; j++)
            if (columnNorms[j] == 0)
                throw new RankDeficientException(string.Create(CultureInfo.InvariantCulture,
                    $"column {j} of the design matrix is zero in every row of non-zero weight and not penalised, so x[{j}] is undetermined; add a ridge term or remove the column"));
    }

    /// <summary>The relative tolerance on 1/κ below which the problem counts as rank-deficient: ε·max(M, n).</summary>
    public static double RankTolerance(int augmentedRows, int columns) => MachineEpsilon * Math.Max(augmentedRows, columns);

    /// <summary>2^-52, the spacing of float64 numbers at 1.</summary>
    public const double MachineEpsilon = 2.220446049250313e-16;

    /// <summary>
    /// Throws when the column-scaled condition number is beyond what float64 can resolve, naming the column
    /// whose independent part (|R_jj| / ||a_j||) is smallest.
    /// </summary>
    public static void CheckRank(double conditionNumber, int augmentedRows, int columns, Func<int, double> relativeDiagonal)
    {
        double tolerance = RankTolerance(augmentedRows, columns);
        if (!(conditionNumber * tolerance < 1))
        {
            int worst = 0;
            double smallest = double.PositiveInfinity;
            for (int j = 0; j < columns; j++)
            {
                double d = relativeDiagonal(j);
                if (d < smallest) { smallest = d; worst = j; }
            }
            throw new RankDeficientException(string.Create(CultureInfo.InvariantCulture,
                $"the design matrix is rank-deficient (condition number {conditionNumber:G3} after column scaling, limit {1 / tolerance:G3}); column {worst} is (nearly) a linear combination of the columns before it; add a ridge term or remove the column"));
        }
    }

    /// <summary>Residual A x − b, its weighted sum of squares and the ridge penalty of x.</summary>
    public static LeastSquaresSolution Finish(LeastSquaresProblem p, double[] x, double conditionNumber, string method, int threads)
    {
        var residual = new double[p.Rows];
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) };
        const int block = 1024;
        int blocks = (p.Rows + block - 1) / block;
        Parallel.For(0, blocks, options, blk =>
        {
            int end = Math.Min(p.Rows, (blk + 1) * block);
            for (int i = blk * block; i < end; i++)
                residual[i] = TensorPrimitives.Dot(p.Row(i), x) - p.Target[i];
        });
        double wrss = 0;
        for (int i = 0; i < p.Rows; i++)
            wrss += p.WeightOf(i) * residual[i] * residual[i];
        double penalty = 0;
        for (int j = 0; j < p.Columns; j++)
            penalty += p.RidgeOf(j) * x[j] * x[j];
        return new LeastSquaresSolution(x, residual, wrss, penalty, conditionNumber, method);
    }

    /// <summary>The thread count to use: <paramref name="threads"/> when positive, otherwise all cores.</summary>
    public static int ResolveThreads(int threads) => threads > 0 ? threads : Environment.ProcessorCount;
}
