using System.Diagnostics;
using Mlip.Descriptors;
using Mlip.Distributed;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Training;

/// <summary>Settings of a linear or quadratic fit.</summary>
public sealed record PolynomialFitOptions
{
    /// <summary>1: linear (SNAP); 2: quadratic (qSNAP).</summary>
    public int Order { get; init; } = 1;

    public LossWeights Weights { get; init; } = new();

    /// <summary>L2 (ridge) penalty on the coefficients (1e-4 of it on the per-element constants), in the units of the weighted rows.</summary>
    public double Ridge { get; init; } = 1e-8;

    /// <summary>Fit in normalised features x̃ = (x − mean)/std (stored in the model).</summary>
    public bool Normalize { get; init; } = true;

    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// The ranks of an MPI run: each holds the structures of its share in the training set, and the fit is the one of
    /// all of them (<see cref="DistributedLeastSquares"/>). One process by default.
    /// </summary>
    public ICommunicator Communicator { get; init; } = SingleProcess.Instance;
}

/// <summary>Size and timing of a fit.</summary>
public sealed record PolynomialFitReport(int Rows, int Columns, TimeSpan BuildTime, TimeSpan SolveTime, double WeightedResidual, string Method);

/// <summary>
/// Weighted ridge least squares for <see cref="PolynomialModel"/>: energy rows (per atom: Σ_i φ(x_i)/N
/// = E/N), force rows (F_j = −Σ_p ∂φ(x_i)/∂r_j, built from the sparse derivative blocks) and stress rows
/// (σ = (1/V) Σ_p ∂φ/∂r_ij ⊗ r_ij), each scaled by the square root of its weight and the structure's
/// weight, one block of columns per element: [1, x̃, x̃_a x̃_b (a ≤ b)].
/// </summary>
public static class PolynomialFit
{
    public static (PolynomialModel Model, PolynomialFitReport Report) Fit(TrainingSet data, PolynomialFitOptions options, ILeastSquaresSolver solver)
    {
        var clock = Stopwatch.StartNew();
        var rows = BuildRows(data, options);
        var build = clock.Elapsed;
        clock.Restart();
        double[] x;
        double wrss;
        string method;
        if (options.Communicator.Size > 1)
            (x, wrss, _, method) = DistributedLeastSquares.Solve(options.Communicator, rows.A, rows.Rows, rows.B, rows.Ridge, solver, options.Threads);
        else
        {
            var result = solver.Solve(new LeastSquaresProblem(rows.A, rows.Rows, rows.B, null, rows.Ridge));
            (x, wrss, method) = (result.Coefficients, result.WeightedResidualSumOfSquares, result.Method);
        }
        var solve = clock.Elapsed;
        int k = rows.Mean.Length, per = PolynomialModel.CoefficientsPerElement(options.Order, k);
        var coefficients = new double[rows.Elements.Length][];
        for (int e = 0; e < rows.Elements.Length; e++) coefficients[e] = x.AsSpan(e * per, per).ToArray();
        var model = new PolynomialModel(options.Order, rows.Elements, k, coefficients, rows.Mean, rows.Scale);
        return (model, new PolynomialFitReport((int)rows.GlobalRows, rows.Ridge.Length, build, solve, Math.Sqrt(wrss), method));
    }

    /// <summary>The weighted rows of this rank's structures, the ridge, and what the model stores (elements, normalisation), all global.</summary>
    internal sealed record FitRows(double[] A, int Rows, double[] B, double[] Ridge, long GlobalRows, int[] Elements, double[] Mean, double[] Scale);

    /// <summary>The weighted ridge least-squares problem of a fit (also for benchmarks of the solvers).</summary>
    public static (LeastSquaresProblem Problem, int[] Elements, double[] Mean, double[] Scale) BuildProblem(TrainingSet data, PolynomialFitOptions options)
    {
        var r = BuildRows(data, options);
        return (new LeastSquaresProblem(r.A, r.Rows, r.B, null, r.Ridge), r.Elements, r.Mean, r.Scale);
    }

    internal static FitRows BuildRows(TrainingSet data, PolynomialFitOptions options)
    {
        var comm = options.Communicator;
        if (comm.Size == 1 && data.Count == 0) throw new MlipException("no structures to fit");
        int k = comm.Size == 1 ? data.FeatureCount : (int)comm.AllreduceMax(data.FeatureCount);
        int[] elements = comm.Size == 1 ? data.Elements() : DistributedFit.Elements(comm, data.Structures);
        int ne = elements.Length;
        int per = PolynomialModel.CoefficientsPerElement(options.Order, k);
        int cols = ne * per;
        var (mean, scale) = !options.Normalize ? (new double[k], Enumerable.Repeat(1.0, k).ToArray())
            : comm.Size == 1 ? data.FeatureStatistics() : DistributedFit.FeatureStatistics(comm, data, k);
        var w = options.Weights;

        // row layout
        var energyRow = new int[data.Count];
        var forceRow = new int[data.Count];
        var stressRow = new int[data.Count];
        int rows = 0;
        for (int s = 0; s < data.Count; s++)
        {
            var st = data.Structures[s];
            energyRow[s] = forceRow[s] = stressRow[s] = -1;
            if (st.Weight == 0) continue;
            if (w.Energy > 0 && st.Energy is not null) { energyRow[s] = rows; rows += 1; }
            if (w.Force > 0 && st.Forces is not null)
            {
                if (!data.Descriptors[s].HasDerivatives) throw new MlipException("force rows need descriptor derivatives");
                forceRow[s] = rows; rows += 3 * st.Count;
            }
            if (w.Stress > 0 && st.Stress is not null && st.Pbc.AllPeriodic)
            {
                if (!data.Descriptors[s].HasDerivatives) throw new MlipException("stress rows need descriptor derivatives");
                stressRow[s] = rows; rows += 6;
            }
        }
        // The loss is the thesis's (eq. 2.74): mean over structures of (ΔE/N)², plus w_F times the mean
        // over force components of ΔF², plus w_S times the mean over stress components of Δσ²; so each
        // kind of row is weighted by its weight over its count.
        int energyRows = 0, forceRows = 0, stressRows = 0;
        for (int s = 0; s < data.Count; s++)
        {
            if (energyRow[s] >= 0) energyRows++;
            if (forceRow[s] >= 0) forceRows += 3 * data.Structures[s].Count;
            if (stressRow[s] >= 0) stressRows += 6;
        }
        long globalRows = rows;
        if (comm.Size > 1)
        {
            Span<long> counts = [energyRows, forceRows, stressRows, rows];
            comm.AllreduceSum(counts);
            (energyRows, forceRows, stressRows, globalRows) = ((int)counts[0], (int)counts[1], (int)counts[2], counts[3]);
        }
        if (globalRows == 0) throw new MlipException("the training data has no labels to fit (energy, forces or stress with non-zero weight)");
        w = new LossWeights
        {
            Energy = energyRows > 0 ? w.Energy / energyRows : 0,
            Force = forceRows > 0 ? w.Force / forceRows : 0,
            Stress = stressRows > 0 ? w.Stress / stressRows : 0,
        };
        if ((long)rows * cols > Array.MaxLength) throw new MlipException($"the design matrix ({rows} x {cols}) is too large; use fewer structures or features");

        var a = new double[(long)rows * cols];
        var b = new double[rows];
        var options2 = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.Threads) };
        MlipParallel.Run(() => Parallel.For(0, data.Count, options2, () => new RowScratch(k, per), (s, _, scratch) =>
        {
            FillStructure(data.Structures[s], data.Descriptors[s], elements, options.Order, k, per, cols, mean, scale, w, energyRow[s], forceRow[s], stressRow[s], a, b, scratch);
            return scratch;
        }, _ => { }));

        // Ridge on every coefficient; the per-element constants get 1e-4 of it: enough to pin them when
        // every structure has the same stoichiometry (then only their weighted sum is determined), too
        // little to bias the reference energy (~1e-12 relative at the default ridge).
        var lambda = new double[cols];
        for (int e = 0; e < ne; e++)
        {
            lambda[e * per] = 1e-4 * options.Ridge;
            for (int c = 1; c < per; c++) lambda[e * per + c] = options.Ridge;
        }
        return new FitRows(a, rows, b, lambda, globalRows, elements, mean, scale);
    }

    internal sealed class RowScratch(int k, int per)
    {
        public readonly double[] Xt = new double[k];
        public readonly double[] Phi = new double[per];
        public readonly double[] G = new double[3 * k];
        public readonly double[] DPhi = new double[3 * per];
    }

    /// <summary>Adds one structure's energy, force and stress rows (those with a row index ≥ 0) to the design matrix.</summary>
    internal static void FillStructure(Structure st, Mlip.Descriptors.DescriptorSet d, int[] elements, int order, int k, int per, int cols,
        double[] mean, double[] scale, LossWeights w, int eRow, int fRow, int sRow, double[] a, double[] b, RowScratch scratch)
    {
        int n = st.Count;
        var elementOf = new int[n];
        for (int i = 0; i < n; i++) elementOf[i] = Array.IndexOf(elements, st.AtomicNumbers[i]);
        var xt = scratch.Xt;
        var phi = scratch.Phi;

        if (eRow >= 0)
        {
            double sw = Math.Sqrt(w.Energy * st.Weight);
            var row = a.AsSpan((int)((long)eRow * cols), cols);
            for (int i = 0; i < n; i++)
            {
                Normalised(d.Of(i), mean, scale, xt);
                Features(xt, order, phi);
                var block = row.Slice(elementOf[i] * per, per);
                for (int c = 0; c < per; c++) block[c] += sw * phi[c] / n;
            }
            b[eRow] = sw * st.Energy!.Value / n;
        }
        if (fRow < 0 && sRow < 0) return;

        var nl = d.Neighbors;
        var centers = nl.Centers;
        var neighbors = nl.Neighbors;
        var vectors = nl.Vectors;
        double fw = fRow >= 0 ? Math.Sqrt(w.Force * st.Weight) : 0;
        double sw2 = sRow >= 0 ? Math.Sqrt(w.Stress * st.Weight) : 0;
        double virialScale = sRow >= 0 ? Stress.EvPerCubicAngstromInGpa / st.Volume : 0;
        var g = scratch.G;
        var dphi = scratch.DPhi;
        int lastCentre = -1;
        for (int p = 0; p < nl.PairCount; p++)
        {
            int i = centers[p], j = neighbors[p];
            if (i != lastCentre) { Normalised(d.Of(i), mean, scale, xt); lastCentre = i; }
            var block = d.PairBlock(p);
            bool any = false;
            for (int q = 0; q < 3 * k; q++)
            {
                g[q] = block[q] / scale[q / 3];
                any |= g[q] != 0;
            }
            if (!any) continue;
            // ∂φ/∂r_ij for c = x, y, z: [0, g̃_c, x̃_a g̃_b,c + x̃_b g̃_a,c]
            for (int c = 0; c < 3; c++)
            {
                var dp = dphi.AsSpan(c * per, per);
                dp[0] = 0;
                for (int f = 0; f < k; f++) dp[1 + f] = g[3 * f + c];
                if (order == 2)
                {
                    int q = 1 + k;
                    for (int f = 0; f < k; f++)
                    {
                        double xf = xt[f], gf = g[3 * f + c];
                        for (int h = f; h < k; h++, q++) dp[q] = xf * g[3 * h + c] + xt[h] * gf;
                    }
                }
            }
            int colBase = elementOf[i] * per;
            if (fRow >= 0)
            {
                for (int c = 0; c < 3; c++)
                {
                    var dp = dphi.AsSpan(c * per, per);
                    var ri = a.AsSpan((int)((long)(fRow + 3 * i + c) * cols + colBase), per);
                    var rj = a.AsSpan((int)((long)(fRow + 3 * j + c) * cols + colBase), per);
                    for (int q = 0; q < per; q++)
                    {
                        double v = fw * dp[q];
                        ri[q] += v;
                        rj[q] -= v;
                    }
                }
            }
            if (sRow >= 0)
            {
                var r = vectors[p];
                // Voigt xx yy zz yz xz xy: σ_ab = (1/V) Σ ∂E/∂r_a r_b, symmetrised
                AddStress(a, cols, colBase, per, sRow + 0, dphi, 0, r.X, 0, 0, sw2 * virialScale);
                AddStress(a, cols, colBase, per, sRow + 1, dphi, 1, r.Y, 1, 0, sw2 * virialScale);
                AddStress(a, cols, colBase, per, sRow + 2, dphi, 2, r.Z, 2, 0, sw2 * virialScale);
                AddStress(a, cols, colBase, per, sRow + 3, dphi, 1, r.Z, 2, r.Y, 0.5 * sw2 * virialScale);
                AddStress(a, cols, colBase, per, sRow + 4, dphi, 0, r.Z, 2, r.X, 0.5 * sw2 * virialScale);
                AddStress(a, cols, colBase, per, sRow + 5, dphi, 0, r.Y, 1, r.X, 0.5 * sw2 * virialScale);
            }
        }
        if (fRow >= 0)
            for (int i = 0; i < n; i++)
            {
                var f = st.Forces![i];
                b[fRow + 3 * i] = fw * f.X;
                b[fRow + 3 * i + 1] = fw * f.Y;
                b[fRow + 3 * i + 2] = fw * f.Z;
            }
        if (sRow >= 0)
        {
            var v = st.Stress!.Value.ToVoigt();
            for (int q = 0; q < 6; q++) b[sRow + q] = sw2 * v[q];
        }
    }

    /// <summary>Adds factor · (∂φ/∂r_c1 · r1 + ∂φ/∂r_c2 · r2) to a stress row.</summary>
    private static void AddStress(double[] a, int cols, int colBase, int per, int row, double[] dphi, int c1, double r1, int c2, double r2, double factor)
    {
        var dst = a.AsSpan((int)((long)row * cols + colBase), per);
        var d1 = dphi.AsSpan(c1 * per, per);
        var d2 = dphi.AsSpan(c2 * per, per);
        if (r2 == 0)
            for (int q = 0; q < per; q++) dst[q] += factor * d1[q] * r1;
        else
            for (int q = 0; q < per; q++) dst[q] += factor * (d1[q] * r1 + d2[q] * r2);
    }

    private static void Normalised(ReadOnlySpan<double> x, double[] mean, double[] scale, double[] xt)
    {
        for (int a = 0; a < x.Length; a++) xt[a] = (x[a] - mean[a]) / scale[a];
    }

    /// <summary>φ = [1, x̃, x̃_a x̃_b (a ≤ b)].</summary>
    private static void Features(double[] xt, int order, double[] phi)
    {
        int k = xt.Length;
        phi[0] = 1;
        for (int a = 0; a < k; a++) phi[1 + a] = xt[a];
        if (order != 2) return;
        int q = 1 + k;
        for (int a = 0; a < k; a++)
            for (int c = a; c < k; c++, q++) phi[q] = xt[a] * xt[c];
    }
}
