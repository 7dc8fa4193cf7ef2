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
            var plt = new ScottPlot.Plot();
            Curve(plt, title, active, random, y);
            Reporting.Plots.Save(plt, Path.Combine(output, name));
        }
    }

    private static void Curve(ScottPlot.Plot plt, string title, List<IterationRecord> active, List<IterationRecord>? random, Func<IterationRecord, double> y)
    {
        void Add(List<IterationRecord> h, string label, ScottPlot.Color color)
        {
            var s = plt.Add.Scatter(h.Select(r => (double)r.Labelled).ToArray(), h.Select(r => Math.Log10(Math.Max(y(r), 1e-300))).ToArray());
            s.LegendText = label;
            s.Color = color;
        }
        Add(active, "active (uncertainty)", ScottPlot.Colors.OrangeRed);
        if (random is not null) Add(random, "random selection", ScottPlot.Colors.SteelBlue);
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            LabelFormatter = v => Math.Pow(10, v).ToString("G3", CultureInfo.InvariantCulture),
        };
        plt.Title(title + " (log scale)");
        plt.XLabel("labelled structures");
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
    }

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
