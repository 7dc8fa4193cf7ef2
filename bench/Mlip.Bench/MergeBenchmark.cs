using System.Diagnostics;
using System.Globalization;
using Mlip.Training;
using Mlip.Training.Streaming;
using static TorchSharp.torch;

namespace Mlip.Bench;

/// <summary>
/// <c>merge [--factors FILE.tsqr] [--columns 1596] [--threads 1] [--repeats 3]</c>: the merge of two (p + 1)-triangles and the solve of
/// the row-class factors, the dense way (geqrf of the stacked 2(p + 1) × (p + 1) matrix; the stacked (C + 1)p × p QR solve with
/// svdvals) against the structured one (<see cref="TriangleMerge"/>, <see cref="RowClassFactors.Solve"/>), and the exact condition number
/// (svdvals) against its Lanczos estimate (<see cref="TriangularCondition"/>), in one process: wall and
/// CPU seconds of each, their ratios and the differences of the results. Default: random triangles of the quadratic SO(4) 2J=8
/// fit's size; <c>--factors</c> takes a store's factor file (e.g. the mpi bench's), whose force triangle is merged with a copy of itself.
/// </summary>
public static class MergeBenchmark
{
    public static void Run(string[] args)
    {
        int columns = 1596, threads = 1, repeats = 3;
        string? factorsPath = null;
        for (int i = 0; i + 1 < args.Length; i++)
        {
            if (args[i] == "--columns") columns = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--threads") threads = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--repeats") repeats = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--factors") factorsPath = args[i + 1];
        }
        TorchRuntime.EnsureLoaded();
        TorchRuntime.SetThreads(threads);
        RowClassFactors factors = factorsPath is not null ? StreamingLinearFit.Load(factorsPath).Factors : RandomFactors(columns);
        int p = factors.Columns, w = p + 1;
        var force = factors.Of(RowClass.Force) ?? factors.Of(factors.Classes[0])!;
        var a = force.Triangle;
        var b = force.Triangle;
        for (int i = 0; i < b.Length; i++) b[i] *= 0.5;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(factorsPath ?? "random triangles")}: p = {p}, classes {string.Join(",", factors.Classes)}, {threads} thread(s), best of {repeats}"));

        double[] dense = [], structured = [], managed = [];
        var tDense = Best(repeats, () => dense = DenseMerge(a, b, w));
        var tTorch = Best(repeats, () => { structured = (double[])a.Clone(); TriangleMerge.Merge(structured, b, w, useTorch: true, threads); });
        var tManaged = Best(1, () => { managed = (double[])a.Clone(); TriangleMerge.Merge(managed, b, w, useTorch: false, threads); });
        Console.WriteLine("merge of two triangles            wall s   CPU s");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"dense geqrf of [A; B]            {tDense.Wall,8:F3} {tDense.Cpu,7:F3}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"structured, torch GEMM updates   {tTorch.Wall,8:F3} {tTorch.Cpu,7:F3}   ({tDense.Cpu / tTorch.Cpu:F1}x less CPU than dense)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"structured, managed updates      {tManaged.Wall,8:F3} {tManaged.Cpu,7:F3}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"|R| differences / max |R|: torch vs dense {Diff(Abs(structured), Abs(dense)):G3}, managed vs torch {Diff(managed, structured):G3}"));

        var loss = new LossWeights { Energy = 1, Force = 0.05 };
        var ridge = Enumerable.Repeat(1e-8, p).ToArray();
        FactoredSolution? merged = null;
        LeastSquaresSolution? stacked = null;
        var solver = new TorchLeastSquares(threads);
        var tStacked = Best(repeats, () => stacked = StackedSolve(factors, loss, ridge, solver));
        var tMerged = Best(repeats, () => merged = factors.Solve(loss, ridge, solver));
        Console.WriteLine("solve of the row-class factors    wall s   CPU s");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"stacked dense QR (before)        {tStacked.Wall,8:F3} {tStacked.Cpu,7:F3}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"structured merges (now)          {tMerged.Wall,8:F3} {tMerged.Cpu,7:F3}   ({tStacked.Cpu / tMerged.Cpu:F1}x less CPU)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"coefficients: max |difference| / max |value| = {Diff(merged!.Coefficients, stacked!.Coefficients):G3}; condition numbers {merged.ConditionNumber:G6} (estimate) / {stacked.ConditionNumber:G6} (exact)"));

        // the condition number of the merged problem: the exact singular values (what the solve did before) against the estimate
        var problem = factors.Merged(loss, ridge, threads);
        double exact = 0, estimate = 0;
        int steps = 0;
        var tExact = Best(repeats, () => exact = TorchLeastSquares.ScaledCondition(problem.R, problem.Norms, threads));
        var tEstimate = Best(repeats, () => (estimate, steps) = TriangularCondition.Estimate(problem.R, problem.Norms));
        Console.WriteLine("condition number of the merged R   wall s   CPU s");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"exact (svdvals, before)          {tExact.Wall,8:F3} {tExact.Cpu,7:F3}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Lanczos estimate (now)           {tEstimate.Wall,8:F3} {tEstimate.Cpu,7:F3}   ({tExact.Cpu / tEstimate.Cpu:F1}x less CPU; {steps} steps; {exact:G10} vs {estimate:G10}, relative difference {Math.Abs(estimate / exact - 1):G3})"));
    }

    private static RowClassFactors RandomFactors(int p)
    {
        var rng = new Random(1);
        var f = new RowClassFactors(p, [RowClass.Energy, RowClass.Force], TsqrBackend.Torch, 1);
        foreach (var (c, rows) in new[] { (RowClass.Energy, 200), (RowClass.Force, 2 * (p + 1)) })
        {
            var m = new double[rows * p];
            var y = new double[rows];
            for (int i = 0; i < m.Length; i++) m[i] = rng.NextDouble() - 0.5;
            for (int i = 0; i < rows; i++) y[i] = rng.NextDouble();
            f.AddRows(c, m, y, rows);
        }
        return f;
    }

    /// <summary>What the tree merge did before: geqrf of the stacked triangles, the top triangle kept.</summary>
    private static double[] DenseMerge(double[] a, double[] b, int w)
    {
        using var scope = NewDisposeScope();
        var stacked = tensor([.. a, .. b], new long[] { 2L * w, w }, ScalarType.Float64);
        var (qr, _) = geqrf(stacked);
        return qr.narrow(0, 0, w).triu().contiguous().data<double>().ToArray();
    }

    /// <summary>What the factored solve did before: the dense QR solve of [√w_c R_c ...; √λ I].</summary>
    private static LeastSquaresSolution StackedSolve(RowClassFactors f, LossWeights loss, double[] ridge, TorchLeastSquares solver)
    {
        int p = f.Columns;
        var used = f.Classes.Where(c => f.WeightOf(c, loss) > 0).ToList();
        var a = new double[(long)used.Count * p * p];
        var b = new double[used.Count * p];
        for (int u = 0; u < used.Count; u++)
        {
            var acc = f.Of(used[u])!;
            double s = Math.Sqrt(f.WeightOf(used[u], loss));
            var r = acc.R;
            var q = acc.QtB;
            for (int i = 0; i < p * p; i++) a[(long)u * p * p + i] = s * r[i];
            for (int i = 0; i < p; i++) b[u * p + i] = s * q[i];
        }
        return solver.Solve(new LeastSquaresProblem(a, used.Count * p, b, null, ridge));
    }

    private static (double Wall, double Cpu) Best(int repeats, Action action)
    {
        double wall = double.PositiveInfinity, cpu = double.PositiveInfinity;
        var me = Process.GetCurrentProcess();
        for (int r = 0; r < repeats; r++)
        {
            me.Refresh();
            var c0 = me.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            action();
            wall = Math.Min(wall, clock.Elapsed.TotalSeconds);
            me.Refresh();
            cpu = Math.Min(cpu, (me.TotalProcessorTime - c0).TotalSeconds);
        }
        return (wall, cpu);
    }

    private static double[] Abs(double[] x) => [.. x.Select(Math.Abs)];

    private static double Diff(double[] x, double[] y)
    {
        double d = 0, m = 0;
        for (int i = 0; i < x.Length; i++) { d = Math.Max(d, Math.Abs(x[i] - y[i])); m = Math.Max(m, Math.Abs(y[i])); }
        return d / m;
    }
}
