using System.Diagnostics;
using System.Globalization;
using Mlip.Calculators;
using Mlip.Data;
using Mlip.Descriptors;
using Mlip.Training;

namespace Mlip.Bench;

/// <summary>
/// Per-atom targets (docs/per-atom-targets.md): time to generate the OLCAO-form data set (and the part
/// spent on the Gaussian target, against SW labelling of the same structures), descriptor time of the
/// multi-range SO(4) (3 cutoffs) against one SO(4) at the longest cutoff, fit and predict times of
/// each regressor; all measured in the same run.
/// </summary>
public static class PerAtomBenchmark
{
    public static void Run(string[] args)
    {
        var inv = CultureInfo.InvariantCulture;
        int threads = args.Contains("--threads") ? int.Parse(args[Array.IndexOf(args, "--threads") + 1], inv) : Environment.ProcessorCount;
        var sw = ClassicalPotentials.Parse("sw");
        var clock = Stopwatch.StartNew();
        var (train, test) = PerAtomDatasetGenerator.Generate(sw, new PerAtomDatasetOptions { Seed = 7 });
        double generate = clock.Elapsed.TotalSeconds;
        var all = train.Concat(test).ToList();
        var target = new GaussianPotentialTarget(GaussianPotentialTarget.GeometricExponents(16));
        clock.Restart();
        for (int r = 0; r < 5; r++) foreach (var s in all) target.Compute(s);
        double targetTime = clock.Elapsed.TotalSeconds / 5;
        clock.Restart();
        for (int r = 0; r < 5; r++) foreach (var s in all) sw.Calculate(s, forces: true, stress: true);
        double swTime = clock.Elapsed.TotalSeconds / 5;
        int atoms = all.Sum(s => s.Count);
        Console.WriteLine(string.Create(inv, $"data set: {train.Count} + {test.Count} structures, {atoms} atoms, generated in {generate:F2} s ({threads} threads)"));
        Console.WriteLine(string.Create(inv, $"  16-term Gaussian target: {1e6 * targetTime / atoms:F1} µs/atom; SW energy+forces+stress: {1e6 * swTime / atoms:F1} µs/atom; ratio target/SW {targetTime / swTime:F2}"));

        IDescriptor Make(string cutoffs) => DescriptorFactory.Create("multi", new Dictionary<string, string> { ["cutoffs"] = cutoffs, ["twojmax"] = "6" }, ["Si"]);
        var multi = Make("3.0,4.2,5.6");
        var single = Make("5.6");
        double Time(IDescriptor d)
        {
            DatasetDescriptors.Compute(d, all, false, threads);
            var c = Stopwatch.StartNew();
            for (int r = 0; r < 3; r++) DatasetDescriptors.Compute(d, all, false, threads);
            return c.Elapsed.TotalSeconds / 3;
        }
        double tm = Time(multi), ts = Time(single);
        Console.WriteLine(string.Create(inv, $"descriptors (values only, {threads} threads): multi-range 3 x SO(4) 2J=6: {1e6 * tm / atoms:F1} µs/atom; one SO(4) at 5.6 Å: {1e6 * ts / atoms:F1} µs/atom; ratio {tm / ts:F2}"));

        var trainData = PerAtomData.Build(multi, train, GaussianPotentialTarget.ArrayName, threads);
        var testData = PerAtomData.Build(multi, test, GaussianPotentialTarget.ArrayName, threads);
        var alphas = target.Alphas;
        foreach (var (kind, o, seed) in new (string, object, int)[]
        {
            ("linear", new PerAtomPolynomialSettings(), 1),
            ("nn", new PerAtomNetworkSettings { Hidden = [32], Epochs = 1000, L2 = 1e-8 }, 3),
            ("gpr", new PerAtomGaussianProcessSettings { Sparse = 400, LengthScale = 2.0, Noise = 1e-5 }, 1),
        })
        {
            var c = Stopwatch.StartNew();
            var model = PerAtomFit.Fit(kind, new PerAtomFitContext { Data = trainData, Seed = seed, Threads = threads }, o);
            double fit = c.Elapsed.TotalSeconds;
            var y = new double[testData.Y.Length];
            model.Predict(testData.X, testData.AtomicNumbers, y);
            c.Restart();
            for (int r = 0; r < 10; r++) model.Predict(testData.X, testData.AtomicNumbers, y);
            double predict = c.Elapsed.TotalSeconds / 10;
            var (errors, _) = PerAtomTrainingRun.Evaluate(model, testData, alphas);
            Console.WriteLine(string.Create(inv,
                $"  {kind,-7} fit {fit:F2} s ({trainData.Atoms} atoms), predict (model only, descriptors apart) {1e6 * predict / testData.Atoms:F1} µs/atom; held-out min R2 {errors.MinR2:F4}, V_B rel. L2 mean {100 * errors.MeanRelativeL2:F3} %"));
        }
    }
}
