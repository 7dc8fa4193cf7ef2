using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.AutoFit;
using Mlip.IO;

namespace Mlip.Bench;

/// <summary>
/// An average of the best candidates of one basis of <c>mlip fit</c> (issue: a linear model again, its coefficients a
/// weighted mean of the top k candidates' coefficients, the weights chosen on the validation folds): the mlearn Si
/// training set, the basis of a finished search's report.json (<c>--report</c>, <c>--basis</c> its label), its k best
/// candidates by the report's score re-solved on the search's folds, then every weight vector on a simplex grid (step
/// <c>--step</c>) of the best 2 and 3 and the uniform means of the best 2..k, scored like the search (validation MAEs over
/// the best candidate's: E + F + 0.25 S). Validation errors only; TEST is not read.
/// </summary>
public static class FitAverageBenchmark
{
    public static void Run(string[] args)
    {
        string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        string reportPath = Arg("--report", "fit/report.json");
        string label = Arg("--basis", "ace L2 rc 5.5");
        int k = int.Parse(Arg("--k", "5"), CultureInfo.InvariantCulture);
        double step = double.Parse(Arg("--step", "0.1"), CultureInfo.InvariantCulture);
        int threads = int.Parse(Arg("--threads", "1"), CultureInfo.InvariantCulture);
        // a report.json, or the fit-checkpoint.json of a run that has not written one
        var report = JsonNode.Parse(File.ReadAllText(reportPath))!;
        JsonNode? basisJson;
        IEnumerable<JsonNode?> candidates;
        if (report["fingerprint"] is not null)
        {
            var saved = report["bases"]!.AsArray().First(b => b!["label"]!.GetValue<string>() == label)!;
            (basisJson, candidates) = (saved["outcome"]!["basis"], saved["candidates"]!.AsArray());
        }
        else
        {
            basisJson = report["bases"]!.AsArray().First(b => b!["basis"]!["label"]!.GetValue<string>() == label)!["basis"];
            candidates = report["candidates"]!.AsArray().Where(c => c!["basis"]!.GetValue<string>() == label);
        }
        var basis = FitBasis.FromJson(basisJson!);
        var top = candidates.Where(c => c!["score"] is not null)
            .OrderBy(c => c!["score"]!.GetValue<double>()).Take(k)
            .Select(c => FitHyper.FromJson(c!["hyperparameters"]!)).ToList();
        string root = FitBenchmark.RepoRoot();
        var train = StructureIO.Read(Path.Combine(root, "..", "shared", "data", "mlearn", "Si", "training.json"));
        var search = new FitSearch(new FitOptions { Train = train, Output = Path.GetTempPath(), Threads = threads });
        var folds = search.Folds;
        var design = LinearDesign.Build(basis.Descriptor.Create(["Si"]), basis.Order, train, folds, threads);
        Console.WriteLine($"{label}: {design.Columns} columns; the {top.Count} best candidates of {reportPath}");
        var x = top.Select(h =>
        {
            var byFold = new Dictionary<int, double[]>();
            foreach (int f in folds.Validated) byFold[f] = design.Blocks.Solve(f, [1, h.Force, h.Stress], FitSearch.RidgeVector(design, h))!;
            return byFold;
        }).ToList();
        var first = design.Score(x[0]).Overall;
        double Score(Mlip.Training.ErrorMetrics m) => m.EnergyMaeMevPerAtom!.Value / first.EnergyMaeMevPerAtom!.Value
            + m.ForceMaeEvPerA!.Value / first.ForceMaeEvPerA!.Value + 0.25 * (m.StressMaeGpa ?? 0) / (first.StressMaeGpa ?? 1);
        void Print(string what, double[] w)
        {
            var mean = new Dictionary<int, double[]>();
            foreach (int f in folds.Validated)
            {
                var v = new double[design.Columns];
                for (int i = 0; i < w.Length; i++)
                    if (w[i] != 0)
                        for (int j = 0; j < v.Length; j++) v[j] += w[i] * x[i][f][j];
                mean[f] = v;
            }
            var m = design.Score(mean).Overall;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{what}: weights {string.Join(" ", w.Select(v => v.ToString("F2", CultureInfo.InvariantCulture)))}: E {m.EnergyMaeMevPerAtom:F3} meV/atom, F {m.ForceMaeEvPerA:F4} eV/Å, S {m.StressMaeGpa:F3} GPa, score vs the best {Score(m):F4}"));
        }
        for (int i = 0; i < top.Count; i++) Print($"candidate {i + 1} ({top[i]})", [.. Enumerable.Range(0, top.Count).Select(j => j == i ? 1.0 : 0)]);
        for (int n = 2; n <= top.Count; n++) Print($"uniform mean of the best {n}", [.. Enumerable.Range(0, top.Count).Select(j => j < n ? 1.0 / n : 0)]);
        int steps = (int)Math.Round(1 / step);
        for (int a = 0; a <= steps; a++)
            for (int b = 0; a + b <= steps && top.Count >= 3; b++)
                Print("grid of the best 3", [.. new[] { a * step, b * step, 1 - (a + b) * step }.Concat(Enumerable.Repeat(0.0, top.Count - 3))]);
    }
}
