using System.Diagnostics;
using Mlip.Descriptors;
using Mlip.Descriptors.Ace;
using Mlip.Distributed;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Training;

/// <summary>Settings of a linear ACE fit.</summary>
public sealed record AceLinearFitOptions
{
    public LossWeights Weights { get; init; } = new();
    /// <summary>Ridge scale λ0; function k gets λ0 · (d_k / d_min)^<see cref="Smoothness"/> with d_k = Σ_t (n_t + w_L l_t).</summary>
    public double Ridge { get; init; } = 1e-10;
    /// <summary>Exponent of the smoothness prior (0: plain ridge).</summary>
    public double Smoothness { get; init; } = 2;
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>The ranks of an MPI run, each with its share of the structures (<see cref="DistributedLeastSquares"/>); one process by default.</summary>
    public ICommunicator Communicator { get; init; } = SingleProcess.Instance;
}

/// <summary>
/// Weighted least squares for a linear ACE (docs/ace.md): the rows of <see cref="PolynomialFit"/> (energy per
/// atom, forces, stress; one block of columns per element whose constant is the automatic per-element
/// reference energy) on the normalised basis values of <see cref="AceBasisDescriptor"/>, with a smoothness
/// prior (ridge growing with the degree Σ(n + w_L l) of each function). The derivative blocks of one
/// structure at a time are computed and folded into the design matrix, so memory grows with rows × functions,
/// not with pairs × functions.
/// </summary>
public static class AceLinearFit
{
    /// <summary>
    /// The relative weights of the smoothness prior, one per basis function: (d_k / d_min)^<paramref name="smoothness"/> with
    /// d_k = Σ_t (n_t + w_L l_t) the degree of function k (1 for the lowest degree; all 1 for smoothness 0). Function k's ridge is λ0 times this.
    /// </summary>
    public static double[] SmoothnessWeights(AceBasisDescriptor descriptor, double smoothness)
    {
        var degrees = descriptor.Degrees;
        double dmin = degrees.Min();
        var w = new double[degrees.Count];
        for (int q = 0; q < w.Length; q++) w[q] = Math.Pow(degrees[q] / dmin, smoothness);
        return w;
    }

    public static (PolynomialModel Model, PolynomialFitReport Report) Fit(AceBasisDescriptor descriptor, IReadOnlyList<Structure> structures,
        AceLinearFitOptions options, ILeastSquaresSolver solver, IProgress<WorkProgress>? progress = null)
    {
        var comm = options.Communicator;
        if (structures.Count == 0 && comm.Size == 1) throw new MlipException("no structures to fit");
        var clock = Stopwatch.StartNew();
        int k = descriptor.FeatureCount, per = 1 + k;
        // values only (cheap): normalisation and the energy rows
        var values = DatasetDescriptors.Compute(descriptor, structures, false, options.Threads);
        var (mean, scale) = comm.Size == 1 ? new TrainingSet(structures, values).FeatureStatistics()
            : DistributedFit.FeatureStatistics(comm, new TrainingSet(structures, values), k);
        int[] elements = comm.Size == 1 ? [.. structures.SelectMany(s => s.AtomicNumbers).Distinct().Order()] : DistributedFit.Elements(comm, structures);
        int ne = elements.Length, cols = ne * per;
        var w = options.Weights;
        var energyRow = new int[structures.Count]; var forceRow = new int[structures.Count]; var stressRow = new int[structures.Count];
        int rows = 0, eRows = 0, fRows = 0, sRows = 0;
        for (int s = 0; s < structures.Count; s++)
        {
            var st = structures[s];
            energyRow[s] = forceRow[s] = stressRow[s] = -1;
            if (st.Weight == 0) continue;
            if (w.Energy > 0 && st.Energy is not null) { energyRow[s] = rows; rows += 1; eRows++; }
            if (w.Force > 0 && st.Forces is not null) { forceRow[s] = rows; rows += 3 * st.Count; fRows += 3 * st.Count; }
            if (w.Stress > 0 && st.Stress is not null && st.Pbc.AllPeriodic) { stressRow[s] = rows; rows += 6; sRows += 6; }
        }
        long globalRows = rows;
        if (comm.Size > 1)
        {
            Span<long> counts = [eRows, fRows, sRows, rows];
            comm.AllreduceSum(counts);
            (eRows, fRows, sRows, globalRows) = ((int)counts[0], (int)counts[1], (int)counts[2], counts[3]);
        }
        if (globalRows == 0) throw new MlipException("the training data has no labels to fit (energy, forces or stress with non-zero weight)");
        if ((long)rows * cols > Array.MaxLength) throw new MlipException($"the design matrix ({rows} x {cols}) is too large; use fewer structures or functions");
        var weights = new LossWeights
        {
            Energy = eRows > 0 ? w.Energy / eRows : 0,
            Force = fRows > 0 ? w.Force / fRows : 0,
            Stress = sRows > 0 ? w.Stress / sRows : 0,
        };
        var a = new double[(long)rows * cols];
        var b = new double[rows];
        int done = 0;
        var po = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.Threads) };
        var order = Enumerable.Range(0, structures.Count).OrderByDescending(i => structures[i].Count).ToArray();
        MlipParallel.Run(() => Parallel.ForEach(order, po, () => new PolynomialFit.RowScratch(k, per), (s, _, scratch) =>
        {
            bool grads = forceRow[s] >= 0 || stressRow[s] >= 0;
            var d = grads ? descriptor.Compute(structures[s], true) : values[s];
            PolynomialFit.FillStructure(structures[s], d, elements, 1, k, per, cols, mean, scale, weights, energyRow[s], forceRow[s], stressRow[s], a, b, scratch);
            progress?.Report(new WorkProgress(Interlocked.Increment(ref done), structures.Count, clock.Elapsed));
            return scratch;
        }, _ => { }));
        var build = clock.Elapsed;
        // smoothness prior: ridge grows with the degree of the function; the constants get 1e-4 of λ0
        var prior = SmoothnessWeights(descriptor, options.Smoothness);
        var lambda = new double[cols];
        for (int e = 0; e < ne; e++)
        {
            lambda[e * per] = 1e-4 * options.Ridge;
            for (int q = 0; q < k; q++) lambda[e * per + 1 + q] = options.Ridge * prior[q];
        }
        clock.Restart();
        double[] x;
        double wrss;
        string method;
        if (comm.Size > 1)
            (x, wrss, _, method) = DistributedLeastSquares.Solve(comm, a, rows, b, lambda, solver, options.Threads);
        else
        {
            var result = solver.Solve(new LeastSquaresProblem(a, rows, b, null, lambda));
            (x, wrss, method) = (result.Coefficients, result.WeightedResidualSumOfSquares, result.Method);
        }
        var solve = clock.Elapsed;
        var coefficients = new double[ne][];
        for (int e = 0; e < ne; e++) coefficients[e] = x.AsSpan(e * per, per).ToArray();
        var model = new PolynomialModel(1, elements, k, coefficients, mean, scale);
        return (model, new PolynomialFitReport((int)globalRows, cols, build, solve, Math.Sqrt(wrss), method));
    }
}
