using System.Globalization;

namespace Mlip.Training.Streaming;

/// <summary>The kinds of rows of a potential's least squares: energy per atom, force components, stress components.</summary>
public enum RowClass
{
    Energy,
    Force,
    Stress,
}

/// <summary>A solution of a <see cref="RowClassFactors"/> problem for one choice of loss weights and ridge.</summary>
/// <param name="Coefficients">x, one value per column.</param>
/// <param name="WeightedResidualSumOfSquares">Σ_c w_c ||A_c x − b_c||² (w_c: the class's weight over its row count).</param>
/// <param name="PenaltySumOfSquares">Σ_j λ_j x_j².</param>
/// <param name="ConditionNumber">Column-scaled condition number of the weighted, ridge-augmented matrix (as the in-memory solvers report it).</param>
/// <param name="Method">The solver that solved the p-row problem.</param>
public sealed record FactoredSolution(double[] Coefficients, double WeightedResidualSumOfSquares, double PenaltySumOfSquares, double ConditionNumber, string Method)
{
    /// <summary>The minimised objective.</summary>
    public double Objective => WeightedResidualSumOfSquares + PenaltySumOfSquares;
}

/// <summary>
/// One <see cref="TsqrAccumulator"/> per <see cref="RowClass"/> (rows scaled by the square root of each structure's weight,
/// not by the loss weights), so that a least-squares fit can be re-solved for any loss weights and any ridge in O(p³)
/// without the data: <see cref="Solve"/> stacks [√w_E R_E; √w_F R_F; √w_S R_S; √λ I] (3p + p rows) and hands it to a
/// <see cref="ILeastSquaresSolver"/>. Column norms and singular values of R_c are those of the class's rows, so the rank
/// test, the condition number and the coefficients are those of the in-memory QR of all rows (to round-off).
/// </summary>
/// <remarks>
/// The weight of class c is the loss weight over the class's row count (the loss of eq. 2.74 in the PyXtal_FF thesis,
/// as <see cref="PolynomialFit"/> weighs its rows): energy / (energy rows), force / (force rows), stress / (stress rows).
/// A class with weight 0 or no rows takes no part.
/// </remarks>
public sealed class RowClassFactors
{
    private readonly TsqrAccumulator?[] _factors = new TsqrAccumulator?[3];

    /// <summary>Empty factors of <paramref name="columns"/> unknowns for the classes in <paramref name="classes"/>.</summary>
    public RowClassFactors(int columns, IEnumerable<RowClass> classes, TsqrBackend backend = TsqrBackend.Auto, int threads = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        Columns = columns;
        foreach (var c in classes) _factors[(int)c] ??= new TsqrAccumulator(columns, backend, threads);
    }

    private RowClassFactors(int columns) => Columns = columns;

    /// <summary>Unknowns p.</summary>
    public int Columns { get; }

    /// <summary>The classes that have a factor.</summary>
    public IReadOnlyList<RowClass> Classes => [.. Enum.GetValues<RowClass>().Where(c => _factors[(int)c] is not null)];

    /// <summary>The factor of class <paramref name="c"/>, or null.</summary>
    public TsqrAccumulator? Of(RowClass c) => _factors[(int)c];

    /// <summary>Rows of class <paramref name="c"/> so far (0 without a factor).</summary>
    public long RowsOf(RowClass c) => _factors[(int)c]?.Rows ?? 0;

    /// <summary>Adds rows of class <paramref name="c"/> (row-major, count × p).</summary>
    public void AddRows(RowClass c, ReadOnlySpan<double> a, ReadOnlySpan<double> b, int count)
    {
        if (count == 0) return;
        (_factors[(int)c] ?? throw new InvalidOperationException($"no factor for {c} rows")).AddRows(a, b, count);
    }

    /// <summary>Rows of all classes added but not yet folded (<see cref="TsqrAccumulator.BufferedRows"/>).</summary>
    public long BufferedRows => _factors.Sum(f => (long)(f?.BufferedRows ?? 0));

    /// <summary>Folds every factor's buffered rows into its triangle now.</summary>
    public void Flush()
    {
        foreach (var f in _factors) f?.Flush();
    }

    /// <summary>Adds another set of factors' rows (same classes), class by class.</summary>
    public void Merge(RowClassFactors other)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (int c = 0; c < 3; c++)
        {
            if ((_factors[c] is null) != (other._factors[c] is null))
                throw new ArgumentException($"the factors hold different row classes ({string.Join(",", Classes)} and {string.Join(",", other.Classes)})", nameof(other));
            if (_factors[c] is { } f) f.Merge(other._factors[c]!);
        }
    }

    /// <summary>Adds the rows of factors in flat form (<see cref="ToFlat"/>, the same classes and columns; for example another MPI rank's), class by class, in place.</summary>
    public void Merge(ReadOnlySpan<double> flat)
    {
        if (flat.Length != FlatLength || flat[0] != Classes.Count) throw new ArgumentException($"flat factors of {flat.Length} values, expected {FlatLength} for {Classes.Count} classes", nameof(flat));
        int offset = 1, length = TsqrAccumulator.FlatLength(Columns);
        foreach (var c in Classes)
        {
            if ((int)flat[offset] != (int)c) throw new ArgumentException($"flat factors hold row class {flat[offset]} where {c} was expected", nameof(flat));
            _factors[(int)c]!.Merge(flat.Slice(offset + 1, length));
            offset += 1 + length;
        }
    }

    /// <summary>The length of <see cref="ToFlat"/>'s array.</summary>
    public int FlatLength => 1 + Classes.Count * (1 + TsqrAccumulator.FlatLength(Columns));

    /// <summary>
    /// Flat form for files and collectives: [class count, then per class: class id, then <see cref="TsqrAccumulator.ToFlat"/>].
    /// </summary>
    public double[] ToFlat()
    {
        var classes = Classes;
        var flat = new double[FlatLength];
        flat[0] = classes.Count;
        int offset = 1;
        foreach (var c in classes)
        {
            flat[offset++] = (int)c;
            offset += _factors[(int)c]!.WriteFlat(flat.AsSpan(offset));
        }
        return flat;
    }

    /// <summary>The factors of a flat form (<see cref="ToFlat"/>).</summary>
    public static RowClassFactors FromFlat(ReadOnlySpan<double> flat, TsqrBackend backend = TsqrBackend.Auto, int threads = 1)
    {
        if (flat.Length < 1 || flat[0] is < 1 or > 3) throw new ArgumentException("not a flat set of row-class factors", nameof(flat));
        int count = (int)flat[0], offset = 1, columns = -1;
        RowClassFactors? result = null;
        for (int i = 0; i < count; i++)
        {
            if (offset + 3 > flat.Length) throw new ArgumentException("a flat set of row-class factors is truncated", nameof(flat));
            int c = (int)flat[offset];
            if (c is < 0 or > 2) throw new ArgumentException($"unknown row class {flat[offset]}", nameof(flat));
            int cols = (int)flat[offset + 1];
            int length = TsqrAccumulator.FlatLength(cols);
            if (offset + 1 + length > flat.Length) throw new ArgumentException("a flat set of row-class factors is truncated", nameof(flat));
            if (columns >= 0 && cols != columns) throw new ArgumentException("row-class factors of different widths", nameof(flat));
            columns = cols;
            result ??= new RowClassFactors(cols);
            result._factors[c] = TsqrAccumulator.FromFlat(flat.Slice(offset + 1, length), backend, threads);
            offset += 1 + length;
        }
        if (offset != flat.Length) throw new ArgumentException("a flat set of row-class factors has trailing values", nameof(flat));
        return result!;
    }

    /// <summary>The state of every factor, buffered rows included (<see cref="TsqrAccumulator.SaveState"/>), for checkpoints.</summary>
    public double[][] SaveState() => [.. Enum.GetValues<RowClass>().Select(c => _factors[(int)c]?.SaveState() ?? [])];

    /// <summary>Factors in a saved state (<see cref="SaveState"/>).</summary>
    public static RowClassFactors FromState(double[][] state, TsqrBackend backend = TsqrBackend.Auto, int threads = 1)
    {
        if (state.Length != 3) throw new ArgumentException("a row-class state has 3 parts", nameof(state));
        RowClassFactors? result = null;
        for (int c = 0; c < 3; c++)
        {
            if (state[c].Length == 0) continue;
            var f = TsqrAccumulator.FromState(state[c], backend, threads);
            result ??= new RowClassFactors(f.Columns);
            if (f.Columns != result.Columns) throw new ArgumentException("row-class factors of different widths", nameof(state));
            result._factors[c] = f;
        }
        return result ?? throw new ArgumentException("a row-class state without factors", nameof(state));
    }

    /// <summary>The weight of each class's rows for loss weights <paramref name="loss"/>: the loss weight over the class's row count.</summary>
    public double WeightOf(RowClass c, LossWeights loss)
    {
        long rows = RowsOf(c);
        double w = c switch { RowClass.Energy => loss.Energy, RowClass.Force => loss.Force, _ => loss.Stress };
        return rows > 0 && w > 0 ? w / rows : 0;
    }

    /// <summary>
    /// Solves min_x Σ_c w_c ||A_c x − b_c||² + Σ_j λ_j x_j² for the class weights of <paramref name="loss"/>
    /// (<see cref="WeightOf"/>) and the ridge <paramref name="ridge"/> (one λ per column), in O(p³) from the factors.
    /// </summary>
    public FactoredSolution Solve(LossWeights loss, double[] ridge, ILeastSquaresSolver solver)
    {
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(ridge);
        ArgumentNullException.ThrowIfNull(solver);
        if (ridge.Length != Columns) throw new ArgumentException($"{ridge.Length} ridge terms for {Columns} columns", nameof(ridge));
        int p = Columns;
        if (solver is TorchLeastSquares { Method: LeastSquaresMethod.Qr } torchQr) return SolveMerged(Merged(loss, ridge, torchQr.Threads), ridge);
        var used = UsedClasses(loss);
        var a = new double[(long)used.Count * p * p];
        var b = new double[used.Count * p];
        double rss = 0;
        for (int u = 0; u < used.Count; u++)
        {
            var f = _factors[(int)used[u]]!;
            double w = WeightOf(used[u], loss), s = Math.Sqrt(w);
            var r = f.R;
            var qtb = f.QtB;
            for (int q = 0; q < p * p; q++) a[(long)u * p * p + q] = s * r[q];
            for (int q = 0; q < p; q++) b[u * p + q] = s * qtb[q];
            rss += w * f.ResidualSumOfSquares;
        }
        var solution = solver.Solve(new LeastSquaresProblem(a, used.Count * p, b, null, ridge));
        return new FactoredSolution(solution.Coefficients, solution.WeightedResidualSumOfSquares + rss, solution.PenaltySumOfSquares, solution.ConditionNumber,
            string.Create(CultureInfo.InvariantCulture, $"streamed TSQR ({Backend}) + {solution.Method} of the {used.Count * p} x {p} factors"));
    }

    /// <summary>The classes of positive weight under <paramref name="loss"/> (those a solve uses).</summary>
    private List<RowClass> UsedClasses(LossWeights loss)
    {
        var used = Classes.Where(c => WeightOf(c, loss) > 0).ToList();
        if (used.Count == 0) throw new Mlip.Validation.MlipException("the training data has no labels to fit (energy, forces or stress with non-zero weight)");
        return used;
    }

    /// <summary>Whether <see cref="Solve"/> with <paramref name="solver"/> merges the triangles (<see cref="Merged"/>) instead of a dense stacked QR.</summary>
    internal static bool SolvesByMerging(ILeastSquaresSolver solver) => solver is TorchLeastSquares { Method: LeastSquaresMethod.Qr };

    /// <summary>
    /// The merged problem of <see cref="Solve"/>: [√w_E T_E; √w_F T_F; √w_S T_S; √λ I] (T_c: the augmented (p + 1)-triangles)
    /// reduced to one (p + 1)-triangle by structured merges (<see cref="TriangleMerge"/>, about 2(p + 1)³/3 flops each) instead of
    /// a dense QR of the stacked (C + 1)p × p matrix, with the column lengths of the stacked matrix (those of the R_c and √λ).
    /// </summary>
    internal MergedProblem Merged(LossWeights loss, double[] ridge, int threads)
    {
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(ridge);
        if (ridge.Length != Columns) throw new ArgumentException($"{ridge.Length} ridge terms for {Columns} columns", nameof(ridge));
        var used = UsedClasses(loss);
        int p = Columns, w = p + 1;
        var merged = new double[w * w];
        var scaled = new double[w * w];
        var norms = new double[p];
        var penalty = new double[w * w];
        int penalised = 0;
        for (int j = 0; j < p; j++)
        {
            if (ridge[j] > 0) { penalty[j * w + j] = Math.Sqrt(ridge[j]); penalised++; }
            norms[j] = ridge[j];
        }
        var parts = new List<(double W, double[] T)>();
        foreach (var c in used)
        {
            var t = _factors[(int)c]!.Triangle;
            double weight = WeightOf(c, loss);
            parts.Add((weight, t));
            for (int i = 0; i < p; i++)
            {
                var row = t.AsSpan(i * w + i, p - i);
                for (int j = 0; j < row.Length; j++) norms[i + j] += weight * row[j] * row[j];
            }
        }
        for (int j = 0; j < p; j++) norms[j] = Math.Sqrt(norms[j]);
        LeastSquaresCore.CheckZeroColumns(norms);
        // the class with the most rows first: a later triangle's zero rows are dropped (TriangleMerge), so the energy rows'
        // factor (a few hundred nonzero rows) merged into the force rows' costs ~2k²p flops instead of a full 2p³/3 merge of the
        // force triangle into the energy one (0.2 s of CPU for p = 1596); the merged R is the same up to round-off
        bool first = true;
        foreach (var (weight, t) in parts.Zip(used).OrderByDescending(x => RowsOf(x.Second)).Select(x => x.First))
        {
            System.Numerics.Tensors.TensorPrimitives.Multiply(t, Math.Sqrt(weight), first ? merged : scaled);
            if (!first) TriangleMerge.Merge(merged, scaled, w, useTorch: true, threads);
            first = false;
        }
        if (penalised > 0) TriangleMerge.Merge(merged, penalty, w, useTorch: true, threads);
        var r = new double[p * p];
        var qtb = new double[p];
        for (int i = 0; i < p; i++)
        {
            merged.AsSpan(i * w + i, p - i).CopyTo(r.AsSpan(i * p + i, p - i));
            qtb[i] = merged[i * w + p];
        }
        return new MergedProblem(r, qtb, norms, used.Count * p + penalised, parts);
    }

    /// <summary>
    /// The solution of a <see cref="Merged"/> problem: the rank test on the column-scaled condition number (its Lanczos estimate,
    /// <see cref="MergedProblem.Condition"/>), R x = Qᵀb by back substitution, the weighted residual
    /// Σ_c w_c (||R_c x − Qᵀb_c||² + rss_c) as the dense path computes it, and the penalty.
    /// </summary>
    internal FactoredSolution SolveMerged(MergedProblem m, double[] ridge)
    {
        int p = Columns, w = p + 1;
        double kappa = m.Condition();
        LeastSquaresCore.CheckRank(kappa, m.AugmentedRows, p, j => Math.Abs(m.R[(long)j * p + j]) / m.Norms[j]);
        // back substitution in a fixed order of operations (O(p²), ~1 ms for p = 1596): libtorch's solve_triangular of the same R
        // and Qᵀb gave different last bits in processes whose earlier allocations differed (an MPI rank that had folded rows
        // another rank built against one that had not), which a model bit for bit the same from run to run cannot have
        var x = BackSubstitute(m.R, m.QtB, p);
        double wrss = 0;
        foreach (var (weight, t) in m.Parts)
        {
            double sum = 0;
            for (int i = 0; i < p; i++)
            {
                double v = System.Numerics.Tensors.TensorPrimitives.Dot<double>(t.AsSpan(i * w + i, p - i), x.AsSpan(i, p - i)) - t[i * w + p];
                sum += v * v;
            }
            double rss = t[p * w + p];
            wrss += weight * (sum + rss * rss);
        }
        double pen = 0;
        for (int j = 0; j < p; j++) pen += ridge[j] * x[j] * x[j];
        return new FactoredSolution(x, wrss, pen, kappa,
            string.Create(CultureInfo.InvariantCulture, $"streamed TSQR ({Backend}) + structured QR merge of the {m.Parts.Count} class triangles and the ridge ({p} columns), back substitution; condition number estimated (Lanczos)"));
    }

    /// <summary>x with R x = c for the row-major p × p upper triangle R: x_i = (c_i − Σ_{j>i} R_ij x_j) / R_ii, each sum from j = i + 1 up.</summary>
    internal static double[] BackSubstitute(double[] r, double[] c, int p)
    {
        var x = new double[p];
        for (int i = p - 1; i >= 0; i--)
        {
            double s = c[i];
            var row = r.AsSpan(i * p, p);
            for (int j = i + 1; j < p; j++) s -= row[j] * x[j];
            x[i] = s / row[i];
        }
        return x;
    }

    private string Backend => Classes.Count > 0 ? _factors[(int)Classes[0]]!.Backend.ToString().ToLowerInvariant() : "";
}

/// <summary>
/// The row-class factors and the ridge merged into one triangle (<see cref="RowClassFactors"/>, internal): R and Qᵀb of the whole
/// weighted, ridge-augmented problem, the column lengths of its stacked matrix, its row count, and the weighted class triangles.
/// </summary>
internal sealed record MergedProblem(double[] R, double[] QtB, double[] Norms, int AugmentedRows, List<(double W, double[] T)> Parts)
{
    /// <summary>
    /// The column-scaled condition number κ₂(R D⁻¹), the dense solver's quantity, estimated in O(p²) per Lanczos step
    /// (<see cref="TriangularCondition"/>; the exact singular values cost O(p³), about 1 s for p = 1596).
    /// </summary>
    public double Condition() => TriangularCondition.Estimate(R, Norms).Condition;
}
