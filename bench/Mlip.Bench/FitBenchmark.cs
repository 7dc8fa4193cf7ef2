using System.Diagnostics;
using System.Globalization;
using MathNet.Numerics;
using MathNet.Numerics.LinearAlgebra;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Training;

namespace Mlip.Bench;

/// <summary>
/// The least-squares fits of the mlearn Si training set (SO(4) 2J = 8, energies and forces): build
/// time, libtorch solve time and, for the linear fit (and the quadratic one with --mathnet-quadratic),
/// the same solve through MathNet.Numerics's managed QR, with the test errors of the result.
/// </summary>
public static class FitBenchmark
{
    public static void Run(string[] args)
    {
        string root = RepoRoot();
        var train = StructureIO.Read(Path.Combine(root, "..", "shared", "data", "mlearn", "Si", "training.json"));
        var test = StructureIO.Read(Path.Combine(root, "..", "shared", "data", "mlearn", "Si", "test.json"));
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "8", ["rcutfac"] = "4.9" });
        var d = spec.Create(["Si"]);
        var clock = Stopwatch.StartNew();
        var set = TrainingSet.Compute(d, train, true, 2);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"mlearn Si, SO(4) 2J=8 with derivatives: {clock.Elapsed.TotalSeconds:F1} s (2 threads)"));
        foreach (var (order, force) in new[] { (1, 0.01), (2, 0.05) })
        {
            var options = new PolynomialFitOptions { Order = order, Weights = new LossWeights { Energy = 1, Force = force }, Ridge = 1e-8, Threads = 2 };
            clock.Restart();
            var (problem, _, _, _) = PolynomialFit.BuildProblem(set, options);
            double build = clock.Elapsed.TotalSeconds;
            var torchSolver = new TorchLeastSquares(2);
            torchSolver.Solve(problem); // warm
            clock.Restart();
            var (model, report) = PolynomialFit.Fit(set, options, torchSolver);
            double total = clock.Elapsed.TotalSeconds;
            var e = Evaluation.Run(new Potential(d, model, spec), test, 2).Overall;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{(order == 1 ? "linear" : "quadratic")}: {problem.Rows} x {problem.Columns}, build {build:F2} s, torch solve {report.SolveTime.TotalSeconds:F2} s, fit {total:F2} s; test {e.EnergyMaeMevPerAtom:F2} meV/atom, {e.ForceMaeEvPerA:F3} eV/Å"));
            if (order == 1 || args.Contains("--mathnet-quadratic"))
            {
                Control.UseManaged();
                Control.MaxDegreeOfParallelism = 2;
                int rows = problem.Rows, cols = problem.Columns;
                var m = Matrix<double>.Build.Dense(rows + cols, cols, (i, j) => i < rows ? problem.Matrix[i * cols + j] : (i - rows == j ? Math.Sqrt(problem.RidgeOf(j)) : 0));
                var v = Vector<double>.Build.Dense(rows + cols, i => i < rows ? problem.Target[i] : 0);
                clock.Restart();
                var x = m.QR().Solve(v);
                double mathnet = clock.Elapsed.TotalSeconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  MathNet.Numerics managed QR on the same problem: {mathnet:F2} s ({mathnet / report.SolveTime.TotalSeconds:F0}x the torch solve)"));
            }
        }
    }

    internal static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Mlip.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
