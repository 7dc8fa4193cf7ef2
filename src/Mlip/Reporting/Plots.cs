using System.Globalization;

namespace Mlip.Reporting;

/// <summary>PNG figures a scientist looks at: parity plots and learning curves (ScottPlot).</summary>
public static class Plots
{
    /// <summary>Predicted against reference with the y = x line; several series (e.g. train and test).</summary>
    public static void Parity(string path, string title, string axis, IReadOnlyList<(string Label, double[] Reference, double[] Predicted)> series)
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
        Save(plt, path);
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

    /// <summary>Writes a plot as PNG (800 x 600) under a temporary name, then renames it: readers never see half a file.</summary>
    public static void Save(ScottPlot.Plot plt, string path)
    {
        string tmp = path + ".tmp.png";
        plt.SavePng(tmp, 800, 600);
        File.Move(tmp, path, overwrite: true);
    }
}
