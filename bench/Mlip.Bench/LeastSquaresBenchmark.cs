using System.Diagnostics;
using System.Globalization;
using MathNet.Numerics;
using MathNet.Numerics.LinearAlgebra;
using Mlip.Training;

namespace Mlip.Bench;

/// <summary>
/// Dense least squares, a random 20000 × 500 problem (uniform entries in [−1, 1], seed 1): libtorch QR
/// (<see cref="TorchLeastSquares"/>) against MathNet.Numerics 5.0.0's managed QR, the reference the
/// issue names (~1 s against tens of seconds). Also shown: torch's normal equations, torch on one thread
/// and Mlip's own managed QR (<see cref="ManagedLeastSquares"/>).
/// </summary>
/// <remarks>
/// dotnet run -c Release --project bench/Mlip.Bench -- lstsq [--rows 20000] [--cols 500] [--threads N] [--no-mathnet]
/// </remarks>
public static class LeastSquaresBenchmark
{
    public static void Run(string[] args)
    {
        int rows = Option(args, "--rows", 20000);
        int columns = Option(args, "--cols", 500);
        int threads = Option(args, "--threads", Environment.ProcessorCount);
        bool mathNet = !args.Contains("--no-mathnet");

        var rng = new Random(1);
        var a = new double[rows * columns];
        for (int k = 0; k < a.Length; k++) a[k] = 2 * rng.NextDouble() - 1;
        var b = new double[rows];
        for (int i = 0; i < rows; i++) b[i] = 2 * rng.NextDouble() - 1;
        var problem = new LeastSquaresProblem(a, rows, b);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Least squares, random {rows} x {columns} (uniform [-1, 1], seed 1), float64, {threads} threads, {Environment.ProcessorCount} cores"));

        var load = Stopwatch.StartNew();
        TorchRuntime.EnsureLoaded();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  libtorch load                 {load.Elapsed.TotalSeconds,8:F3} s"));

        var torchQr = new TorchLeastSquares(threads);
        var (first, torchSolution) = Time(() => torchQr.Solve(problem));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  torch QR, first call          {first,8:F3} s"));
        double torchSeconds = Best(() => torchQr.Solve(problem), 3);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  torch QR (best of 3)          {torchSeconds,8:F3} s   condition number {torchSolution.ConditionNumber:G3}"));

        var normal = new TorchLeastSquares(threads, LeastSquaresMethod.NormalEquations);
        var normalSolution = normal.Solve(problem);
        double normalSeconds = Best(() => normal.Solve(problem), 3);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  torch normal equations        {normalSeconds,8:F3} s   |x - x_QR|/|x_QR| = {RelativeDifference(normalSolution.Coefficients, torchSolution.Coefficients):E1}"));

        if (threads != 1)
        {
            var single = new TorchLeastSquares(1);
            single.Solve(problem);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  torch QR, 1 thread            {Best(() => single.Solve(problem), 3),8:F3} s"));
        }

        var (managedSeconds, managedSolution) = Time(() => new ManagedLeastSquares(threads).Solve(problem));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  Mlip managed QR               {managedSeconds,8:F3} s   |x - x_torch|/|x_torch| = {RelativeDifference(managedSolution.Coefficients, torchSolution.Coefficients):E1}"));

        if (mathNet)
        {
            Control.UseManaged();
            Control.MaxDegreeOfParallelism = threads;
            var matrix = Matrix<double>.Build.Dense(rows, columns, (i, j) => a[i * columns + j]);
            var vector = Vector<double>.Build.Dense(b);
            var (mathNetSeconds, x) = Time(() => matrix.QR().Solve(vector));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  MathNet.Numerics 5.0.0 QR     {mathNetSeconds,8:F3} s   |x - x_torch|/|x_torch| = {RelativeDifference(x.ToArray(), torchSolution.Coefficients):E1}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  torch QR is {mathNetSeconds / torchSeconds:F0}x faster than MathNet's managed QR ({mathNetSeconds / first:F0}x counting the first call)"));
        }
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int k = Array.IndexOf(args, name);
        return k >= 0 && k + 1 < args.Length ? int.Parse(args[k + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static (double Seconds, T Result) Time<T>(Func<T> work)
    {
        var sw = Stopwatch.StartNew();
        T result = work();
        return (sw.Elapsed.TotalSeconds, result);
    }

    private static double Best<T>(Func<T> work, int repeats)
    {
        double best = double.PositiveInfinity;
        for (int r = 0; r < repeats; r++)
            best = Math.Min(best, Time(work).Seconds);
        return best;
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
}
