using System.Diagnostics;
using System.Globalization;
using Mlip.AutoFit;
using Mlip.Descriptors.Ace;
using Mlip.IO;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Training;

namespace Mlip.Bench;

/// <summary>
/// The FS stage of <c>mlip fit</c> on its own: an FS density on a ladder level fitted to the residuals of a given linear ACE
/// model (e.g. a fit's model.json) on the mlearn Si training set with given hyperparameters, then TRAIN and TEST errors of the
/// linear model and of the combined one (for information: the search chooses on validation only).
/// </summary>
public static class FitFsBenchmark
{
    public static void Run(string[] args)
    {
        string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        double D(string name, string fallback) => double.Parse(Arg(name, fallback), CultureInfo.InvariantCulture);
        string data = args.Contains("--train") ? "" : Path.Combine(FitBenchmark.RepoRoot(), "..", "shared", "data", "mlearn", "Si");
        var train = StructureIO.Read(Arg("--train", Path.Combine(data, "training.json")));
        var test = StructureIO.Read(Arg("--test", Path.Combine(data, "test.json")));
        int take = int.Parse(Arg("--structures", "0"), CultureInfo.InvariantCulture);
        if (take > 0) train = [.. train.Where((_, i) => i % Math.Max(1, train.Count / take) == 0).Take(take)];
        var linear = ModelFile.Load(Arg("--model", "/work/fit-si/model.json"));
        int level = int.Parse(Arg("--level", "1"), CultureInfo.InvariantCulture);
        int threads = int.Parse(Arg("--threads", "1"), CultureInfo.InvariantCulture);
        int iterations = int.Parse(Arg("--iterations", "30"), CultureInfo.InvariantCulture);
        var hyper = new FitHyper(D("--wf", "0.017320508075688773"), 0, D("--ridge", "1e-5"), D("--s", "0"));
        double rc = linear.Descriptor.Cutoff;
        var sub = (AceBasisDescriptor)FitBasis.Ace(level, rc).Descriptor.Create(["Si"]);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"FS over {linear.Descriptor.FeatureCount} linear functions: sub-basis level {level} ({sub.FeatureCount} functions), {train.Count} structures ({train.Sum(s => s.Count)} atoms), {hyper}, {iterations} LM steps at most, {threads} threads"));
        var clock = Stopwatch.StartNew();
        var result = FsOverLinear.Fit(linear, sub, train, hyper, iterations, threads, Console.WriteLine, D("--initial-scale", "0"));
        double cpu = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fit: {result.Iterations} LM steps, loss {result.StartLoss:G6} -> {result.EndLoss:G6}, {result.Seconds:F0} s wall ({cpu:F0} CPU s for the process so far); peak resident {Process.GetCurrentProcess().PeakWorkingSet64 / 1e9:F2} GB"));
        var fs = AcePotential.Create(result.Combined);
        if (Arg("--yace", "") is { Length: > 0 } y) ModelFile.Save(y, fs);
        foreach (var (name, set) in new[] { ("train", train), ("test", test) })
        {
            var a = Evaluation.Run(linear, set, threads).Overall;
            var b = Evaluation.Run(fs, set, threads).Overall;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name}: linear E {a.EnergyMaeMevPerAtom:F3} meV/atom F {a.ForceMaeEvPerA:F4} eV/Å S {a.StressMaeGpa:F3} GPa; linear + FS E {b.EnergyMaeMevPerAtom:F3} meV/atom F {b.ForceMaeEvPerA:F4} eV/Å S {b.StressMaeGpa:F3} GPa"));
        }
    }
}
