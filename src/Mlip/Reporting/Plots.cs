using System.Globalization;

namespace Mlip.Reporting;

/// <summary>PNG figures a scientist looks at: parity plots and learning curves (ScottPlot).</summary>
public static class Plots
{
    /// <summary>Predicted against reference with the y = x line; several series (e.g. train and test).</summary>
    public static void Parity(string path, string title, string axis, IReadOnlyList<(string Label, double[] Reference, double[] Predicted)> series) =>
        Save(ParityPlot(title, axis, series), path);

    /// <summary>The PNG file (800 x 600) of <see cref="Parity"/>, as bytes: drawn by one process, written by another (an MPI run's rank 0).</summary>
    public static byte[] ParityPng(string title, string axis, IReadOnlyList<(string Label, double[] Reference, double[] Predicted)> series) =>
        ParityPlot(title, axis, series).GetImageBytes(800, 600, ScottPlot.ImageFormat.Png);

    private static ScottPlot.Plot ParityPlot(string title, string axis, IReadOnlyList<(string Label, double[] Reference, double[] Predicted)> series)
    {
        var plt = new ScottPlot.Plot();
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        var colors = new[] { ScottPlot.Colors.SteelBlue, ScottPlot.Colors.OrangeRed, ScottPlot.Colors.SeaGreen };
        int c = 0;
        foreach (var (label, reference, predicted) in series)
        {
            if (reference.Length == 0) continue;
            var sc = plt.Add.ScatterPoints(reference, predicted);
            sc.MarkerSize = 3;
            sc.Color = colors[c++ % colors.Length].WithAlpha(0.6);
            double mae = 0;
            for (int i = 0; i < reference.Length; i++) mae += Math.Abs(predicted[i] - reference[i]);
            mae /= reference.Length;
            sc.LegendText = string.Create(CultureInfo.InvariantCulture, $"{label} (MAE {mae:G3})");
            foreach (double v in reference) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
            foreach (double v in predicted) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
        }
        if (double.IsFinite(lo))
        {
            var line = plt.Add.Line(lo, lo, hi, hi);
            line.Color = ScottPlot.Colors.Black.WithAlpha(0.5);
            line.LinePattern = ScottPlot.LinePattern.Dashed;
        }
        plt.Title(title);
        plt.XLabel($"reference {axis}");
        plt.YLabel($"predicted {axis}");
        plt.ShowLegend(ScottPlot.Alignment.UpperLeft);
        return plt;
    }

    /// <summary>Loss (and validation errors) against epoch, log scale on y.</summary>
    public static void LearningCurve(string path, string title, IReadOnlyList<(string Label, double[] X, double[] Y)> curves)
    {
        var plt = new ScottPlot.Plot();
        foreach (var (label, x, y) in curves)
        {
            if (x.Length == 0) continue;
            var logY = y.Select(v => Math.Log10(Math.Max(v, 1e-300))).ToArray();
            var s = plt.Add.Scatter(x, logY);
            s.LegendText = label;
            s.MarkerSize = 0;
        }
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            LabelFormatter = v => Math.Pow(10, v).ToString("G3", CultureInfo.InvariantCulture),
        };
        plt.Title(title);
        plt.XLabel("epoch");
        plt.YLabel("value (log scale)");
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        Save(plt, path);
    }

    /// <summary>
    /// Curves on a log10 y axis (ticks labelled in the original units; values below 1e-300 drawn at 1e-300),
    /// coloured orange-red, steel blue in turn; the title gets " (log scale)".
    /// </summary>
    public static void LogCurves(string path, string title, string xLabel, IReadOnlyList<(string Label, double[] X, double[] Y)> curves)
    {
        var plt = new ScottPlot.Plot();
        var colors = new[] { ScottPlot.Colors.OrangeRed, ScottPlot.Colors.SteelBlue };
        for (int c = 0; c < curves.Count; c++)
        {
            var s = plt.Add.Scatter(curves[c].X, curves[c].Y.Select(v => Math.Log10(Math.Max(v, 1e-300))).ToArray());
            s.LegendText = curves[c].Label;
            s.Color = colors[c % colors.Length];
        }
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            LabelFormatter = v => Math.Pow(10, v).ToString("G3", CultureInfo.InvariantCulture),
        };
        plt.Title(title + " (log scale)");
        plt.XLabel(xLabel);
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        Save(plt, path);
    }

    /// <summary>
    /// Validation error against evaluation cost (log x): every point grey, the Pareto front (no other point both
    /// cheaper and more accurate) joined in steel blue, the chosen point in orange-red.
    /// </summary>
    public static void Pareto(string path, string title, string xLabel, string yLabel, IReadOnlyList<(string Label, double Cost, double Error)> points, int chosen)
    {
        var plt = new ScottPlot.Plot();
        var ok = points.Select((p, i) => (p, i)).Where(t => double.IsFinite(t.p.Cost) && t.p.Cost > 0 && double.IsFinite(t.p.Error)).ToList();
        if (ok.Count > 0)
        {
            var all = plt.Add.ScatterPoints(ok.Select(t => Math.Log10(t.p.Cost)).ToArray(), ok.Select(t => t.p.Error).ToArray());
            all.Color = ScottPlot.Colors.Gray.WithAlpha(0.6);
            all.MarkerSize = 6;
            all.LegendText = "bases (best candidate of each)";
            var front = ok.Where(t => !ok.Any(u => u.p.Cost <= t.p.Cost && u.p.Error < t.p.Error || u.p.Cost < t.p.Cost && u.p.Error <= t.p.Error))
                .OrderBy(t => t.p.Cost).ToList();
            var line = plt.Add.Scatter(front.Select(t => Math.Log10(t.p.Cost)).ToArray(), front.Select(t => t.p.Error).ToArray());
            line.Color = ScottPlot.Colors.SteelBlue;
            line.MarkerSize = 8;
            line.LegendText = "Pareto front";
            foreach (var t in front)
            {
                var text = plt.Add.Text(t.p.Label, Math.Log10(t.p.Cost), t.p.Error);
                text.LabelFontSize = 11;
            }
            var c = ok.FirstOrDefault(t => t.i == chosen);
            if (c.p.Label is not null)
            {
                var mark = plt.Add.ScatterPoints(new[] { Math.Log10(c.p.Cost) }, new[] { c.p.Error });
                mark.Color = ScottPlot.Colors.OrangeRed;
                mark.MarkerSize = 14;
                mark.LegendText = "chosen: " + c.p.Label;
            }
        }
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            LabelFormatter = v => Math.Pow(10, v).ToString("G3", CultureInfo.InvariantCulture),
        };
        plt.Title(title);
        plt.XLabel(xLabel + " (log scale)");
        plt.YLabel(yLabel);
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        Save(plt, path);
    }

    /// <summary>Writes a plot as PNG (800 x 600) under a temporary name, then renames it: readers never see half a file.</summary>
    public static void Save(ScottPlot.Plot plt, string path)
    {
        string tmp = path + ".tmp.png";
        plt.SavePng(tmp, 800, 600);
        File.Move(tmp, path, overwrite: true);
    }
}
