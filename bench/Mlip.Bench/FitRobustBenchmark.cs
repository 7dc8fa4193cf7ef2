using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using Mlip.AutoFit;
using Mlip.IO;

namespace Mlip.Bench;

/// <summary>
/// A robust (Huber) force loss on one basis of <c>mlip fit</c>, measured offline on the search's own validation folds: the
/// mlearn Si training set, one ACE ladder level, the least-squares candidate of given hyperparameters (as the search solves
/// it), then iteratively reweighted least squares in which each fold's force rows whose residual (of the fold's previous
/// model, on that fold's training rows) passes k·σ (σ = 1.4826 × the median absolute force residual) weigh k·σ/|r| instead
/// of 1 (Huber's weights). The reweighting is a downdate of the fold's assembled system by the down-weighted rows only.
/// Prints the pooled validation errors (energy, forces, stress: MAE and RMSE) of every iteration. TEST is not read.
/// </summary>
public static class FitRobustBenchmark
{
    public static void Run(string[] args)
    {
        string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        double[] List(string name, string fallback) => [.. Arg(name, fallback).Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture))];
        int level = int.Parse(Arg("--level", "2"), CultureInfo.InvariantCulture);
        double rc = double.Parse(Arg("--rc", "5.5"), CultureInfo.InvariantCulture);
        int threads = int.Parse(Arg("--threads", "1"), CultureInfo.InvariantCulture);
        int iterations = int.Parse(Arg("--iterations", "3"), CultureInfo.InvariantCulture);
        var ks = List("--k", "1.345");
        var forceWeights = List("--wf", "0.01");
        var ridges = List("--ridge", "1e-10");
        double ws = double.Parse(Arg("--ws", "1e-4"), CultureInfo.InvariantCulture);
        double s = double.Parse(Arg("--s", "0"), CultureInfo.InvariantCulture);
        string root = FitBenchmark.RepoRoot();
        var train = StructureIO.Read(Path.Combine(root, "..", "shared", "data", "mlearn", "Si", "training.json"));
        var basis = FitBasis.Ace(level, rc);
        var search = new FitSearch(new FitOptions { Train = train, Output = Path.GetTempPath(), Threads = threads });
        var folds = search.Folds;
        var clock = Stopwatch.StartNew();
        var design = LinearDesign.Build(basis.Descriptor.Create(["Si"]), basis.Order, train, folds, threads);
        int p = design.Columns;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{basis.Label}: {p} columns, design built in {clock.Elapsed.TotalSeconds:F0} s; {folds.Validated.Length} validated folds"));
        var m = new double[(long)p * p];
        var rhs = new double[p];
        foreach (double wf in forceWeights)
            foreach (double ridge in ridges)
            {
                var hyper = new FitHyper(wf, ws, ridge, s);
                var lambda = FitSearch.RidgeVector(design, hyper);
                double[] weights = [1, wf, ws];
                var ls = new Dictionary<int, double[]>();
                foreach (int f in folds.Validated) ls[f] = design.Blocks.Solve(f, weights, lambda)!;
                Print($"{hyper} least squares", design.Score(ls));
                foreach (double k in ks)
                {
                    var x = new Dictionary<int, double[]>(ls);
                    for (int it = 1; it <= iterations; it++)
                    {
                        clock.Restart();
                        var next = new Dictionary<int, double[]>();
                        double downWeighted = 0, total = 0;
                        foreach (int f in folds.Validated)
                        {
                            design.Blocks.Assemble(f, weights, lambda, m, rhs);
                            double perRow = wf / design.Blocks.Rows(RowClass.Force, f);
                            var (n, all) = Downdate(design, f, x[f], k, perRow, m, rhs);
                            downWeighted += n;
                            total += all;
                            next[f] = Cholesky.Solve(m, p, rhs) ? (double[])rhs.Clone() : throw new InvalidOperationException("not positive definite");
                        }
                        x = next;
                        Print(string.Create(CultureInfo.InvariantCulture,
                            $"{hyper} Huber k {k:G3} iteration {it} ({downWeighted / total:P0} of the force rows down-weighted, {clock.Elapsed.TotalSeconds:F0} s)"), design.Score(x));
                    }
                }
            }
    }

    private static void Print(string label, ValidationErrors e)
    {
        var o = e.Overall;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{label}: E {o.EnergyMaeMevPerAtom:F3} / {o.EnergyRmseMevPerAtom:F3} meV/atom, F {o.ForceMaeEvPerA:F4} / {o.ForceRmseEvPerA:F4} eV/Å, S {o.StressMaeGpa:F3} / {o.StressRmseGpa:F3} GPa (MAE / RMSE)"));
    }

    /// <summary>Downdates fold <paramref name="f"/>'s system by (1 − w_r) of each training force row with Huber weight w_r &lt; 1 under the residuals of <paramref name="x"/>.</summary>
    private static (long DownWeighted, long Rows) Downdate(LinearDesign design, int f, double[] x, double k, double perRow, double[] m, double[] rhs)
    {
        int p = design.Columns;
        var rows = design.Validation.Where(v => v.Fold != f).ToList();
        var residuals = new List<double>();
        foreach (var v in rows)
            for (int r = v.EnergyRows; r < v.EnergyRows + v.ForceRows; r++)
                residuals.Add((Dot(v.A.AsSpan(r * p, p), x) - v.B[r]) / v.RootWeight);
        var sorted = residuals.Select(Math.Abs).Order().ToArray();
        double delta = k * 1.4826 * sorted[sorted.Length / 2];
        const int chunk = 256;
        var buffer = new double[(long)p * chunk];
        int filled = 0;
        long down = 0;
        int at = 0;
        foreach (var v in rows)
            for (int r = v.EnergyRows; r < v.EnergyRows + v.ForceRows; r++)
            {
                double d = residuals[at++];
                if (Math.Abs(d) <= delta) continue;
                double c = (1 - delta / Math.Abs(d)) * perRow;
                var a = v.A.AsSpan(r * p, p);
                double root = Math.Sqrt(c);
                for (int i = 0; i < p; i++)
                {
                    buffer[(long)i * chunk + filled] = root * a[i];
                    rhs[i] -= c * a[i] * v.B[r];
                }
                down++;
                if (++filled == chunk) { Subtract(buffer, filled, p, m); filled = 0; }
            }
        if (filled > 0) Subtract(buffer, filled, p, m);
        for (int i = 0; i < p; i++)
            for (int j = 0; j < i; j++) m[(long)i * p + j] = m[(long)j * p + i];
        return (down, residuals.Count);
    }

    /// <summary>m's upper triangle −= BᵀB for the <paramref name="n"/> rows held column-major in <paramref name="buffer"/>.</summary>
    private static void Subtract(double[] buffer, int n, int p, double[] m)
    {
        const int chunk = 256;
        for (int i = 0; i < p; i++)
        {
            var ci = buffer.AsSpan(i * chunk, n);
            for (int j = i; j < p; j++) m[(long)i * p + j] -= TensorPrimitives.Dot(ci, buffer.AsSpan(j * chunk, n));
        }
        buffer.AsSpan(0, p * chunk).Clear();
    }

    private static double Dot(ReadOnlySpan<float> a, double[] x)
    {
        double s = 0;
        for (int j = 0; j < a.Length; j++) s += a[j] * x[j];
        return s;
    }
}
