using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlip.IO;

namespace Mlip.ActiveLearning;

/// <summary>
/// The loop's report: report.json (per mode: history, why it stopped, the structures the reference could not label)
/// and learning-curve PNGs (validation errors against labelled structures, active vs random).
/// </summary>
public static class LearningReport
{
    public static void Write(string output, string estimatorName, LearningRun active, LearningRun? random)
    {
        var json = new JsonObject
        {
            ["uncertainty"] = estimatorName,
            ["active"] = History(active.History),
            ["active_stop_reason"] = active.StopReason,
            ["active_failures"] = Failures(active.Failures),
        };
        if (random is not null)
        {
            json["random"] = History(random.History);
            json["random_stop_reason"] = random.StopReason;
            json["random_failures"] = Failures(random.Failures);
        }
        AtomicFile.WriteText(Path.Combine(output, "report.json"), w => w.Write(json.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));

        foreach (var (name, title, y) in new (string, string, Func<IterationRecord, double>)[]
        {
            ("learning_curve.png", "validation force RMSE (eV/Å)", h => h.ForceRmse),
            ("learning_curve_energy.png", "validation energy RMSE (meV/atom)", h => h.EnergyRmse),
        })
        {
            var curves = new List<(string Label, double[] X, double[] Y)> { Of(active.History, "active (uncertainty)", y) };
            if (random is not null) curves.Add(Of(random.History, "random selection", y));
            Reporting.Plots.LogCurves(Path.Combine(output, name), title, "labelled structures", curves);
        }
    }

    private static JsonArray History(List<IterationRecord> h) => new([.. h.Select(r => (JsonNode)r.ToJson())]);
    private static JsonArray Failures(List<LabelFailure> f) => new([.. f.Select(r => (JsonNode)r.ToJson())]);

    private static (string Label, double[] X, double[] Y) Of(List<IterationRecord> h, string label, Func<IterationRecord, double> y) =>
        (label, h.Select(r => (double)r.Labelled).ToArray(), h.Select(y).ToArray());

    public static string Summary(LearningRun active, LearningRun? random)
    {
        string Line(string mode, LearningRun run, bool full)
        {
            var a = run.History[^1];
            string s = string.Create(CultureInfo.InvariantCulture,
                $"{mode}: {a.Labelled} labelled, validation E {a.EnergyRmse:F2} meV/atom, F {a.ForceRmse:F4} eV/Å, Spearman{(full ? "(uncertainty, force error)" : "")} {a.Spearman:F2}");
            s += $"\n{mode}: stopped: {run.StopReason}";
            if (run.Failures.Count > 0)
                s += $"\n{mode}: {run.Failures.Count} structure(s) could not be labelled and were skipped ({string.Join(", ", run.Failures.Take(3).Select(f => f.Tag))}{(run.Failures.Count > 3 ? ", ..." : "")}; see report.json)";
            return s;
        }
        string text = Line("active", active, true);
        if (random is { History.Count: > 0 }) text += "\n" + Line("random", random, false);
        return text;
    }
}
