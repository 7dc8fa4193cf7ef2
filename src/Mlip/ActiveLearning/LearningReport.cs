using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlip.IO;

namespace Mlip.ActiveLearning;

/// <summary>The loop's report: history.json per mode and a learning-curve PNG (validation errors against labelled structures, active vs random).</summary>
public static class LearningReport
{
    public static void Write(string output, string estimatorName, List<IterationRecord> active, List<IterationRecord>? random)
    {
        var json = new JsonObject
        {
            ["uncertainty"] = estimatorName,
            ["active"] = new JsonArray(active.Select(h => (JsonNode)h.ToJson()).ToArray()),
        };
        if (random is not null) json["random"] = new JsonArray(random.Select(h => (JsonNode)h.ToJson()).ToArray());
        AtomicFile.WriteText(Path.Combine(output, "report.json"), w => w.Write(json.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));

        foreach (var (name, title, y) in new (string, string, Func<IterationRecord, double>)[]
        {
            ("learning_curve.png", "validation force RMSE (eV/Å)", h => h.ForceRmse),
            ("learning_curve_energy.png", "validation energy RMSE (meV/atom)", h => h.EnergyRmse),
        })
        {
            var curves = new List<(string Label, double[] X, double[] Y)> { Of(active, "active (uncertainty)", y) };
            if (random is not null) curves.Add(Of(random, "random selection", y));
            Reporting.Plots.LogCurves(Path.Combine(output, name), title, "labelled structures", curves);
        }
    }

    private static (string Label, double[] X, double[] Y) Of(List<IterationRecord> h, string label, Func<IterationRecord, double> y) =>
        (label, h.Select(r => (double)r.Labelled).ToArray(), h.Select(y).ToArray());

    public static string Summary(List<IterationRecord> active, List<IterationRecord>? random)
    {
        var a = active[^1];
        string s = string.Create(CultureInfo.InvariantCulture,
            $"active: {a.Labelled} labelled, validation E {a.EnergyRmse:F2} meV/atom, F {a.ForceRmse:F4} eV/Å, Spearman(uncertainty, force error) {a.Spearman:F2}");
        if (random is { Count: > 0 })
        {
            var r = random[^1];
            s += string.Create(CultureInfo.InvariantCulture,
                $"\nrandom: {r.Labelled} labelled, validation E {r.EnergyRmse:F2} meV/atom, F {r.ForceRmse:F4} eV/Å, Spearman {r.Spearman:F2}");
        }
        return s;
    }
}
