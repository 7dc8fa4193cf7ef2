namespace Mlip.Reporting;

/// <summary>
/// The PNG figures of the simulations (equation of state, NEB energy profile, phonon bands and DOS), drawn
/// from plain arrays: Simulation computes the numbers and hands them here, so it needs no plotting library.
/// </summary>
public static class SimulationPlots
{
    /// <summary>E(V): the calculated points and a fitted curve.</summary>
    public static void EnergyVolume(string path, string title, double[] volumes, double[] energies, double[] curveVolumes, double[] curveEnergies, string curveLegend)
    {
        var plt = new ScottPlot.Plot();
        var pts = plt.Add.Scatter(volumes, energies);
        pts.LineWidth = 0;
        pts.LegendText = "calculated";
        var line = plt.Add.Scatter(curveVolumes, curveEnergies);
        line.MarkerSize = 0;
        line.LegendText = curveLegend;
        plt.Title(title);
        plt.XLabel("volume (Å³)");
        plt.YLabel("energy (eV)");
        plt.ShowLegend(ScottPlot.Alignment.UpperCenter);
        Plots.Save(plt, path);
    }

    /// <summary>An energy profile along a reaction coordinate: a smooth curve and the images on it.</summary>
    public static void EnergyProfile(string path, string title, double[] curveX, double[] curveY, string curveLegend, double[] imageX, double[] imageEnergies, string imagesLegend)
    {
        var plt = new ScottPlot.Plot();
        var line = plt.Add.Scatter(curveX, curveY);
        line.MarkerSize = 0;
        line.LegendText = curveLegend;
        var pts = plt.Add.Scatter(imageX, imageEnergies);
        pts.LineWidth = 0;
        pts.MarkerSize = 8;
        pts.LegendText = imagesLegend;
        plt.Title(title);
        plt.XLabel("reaction coordinate (Å)");
        plt.YLabel("energy relative to the initial state (eV)");
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        Plots.Save(plt, path);
    }

    /// <summary>
    /// Band structure: frequency (THz) against path distance, one line per band and path segment (segments of
    /// equal point counts), special points marked with vertical lines and tick labels.
    /// </summary>
    public static void Bands(string path, string title, double[] distances, double[][] frequenciesThz, double[] labelDistances, string[] labels)
    {
        var plt = new ScottPlot.Plot();
        int nb = frequenciesThz[0].Length;
        int perSegment = labels.Length > 1 ? distances.Length / (labels.Length - 1) : distances.Length;
        for (int s = 0; s + 1 < labels.Length; s++)
        {
            var x = distances.Skip(s * perSegment).Take(perSegment).ToArray();
            for (int b = 0; b < nb; b++)
            {
                var y = new double[x.Length];
                for (int k = 0; k < x.Length; k++) y[k] = frequenciesThz[s * perSegment + k][b];
                var line = plt.Add.Scatter(x, y);
                line.MarkerSize = 0;
                line.LineWidth = 1.5f;
                line.Color = ScottPlot.Colors.SteelBlue;
            }
        }
        var ticks = new List<ScottPlot.Tick>();
        for (int k = 0; k < labels.Length; k++)
        {
            var v = plt.Add.VerticalLine(labelDistances[k]);
            v.Color = ScottPlot.Colors.Gray.WithAlpha(0.6);
            v.LineWidth = 1;
            ticks.Add(new ScottPlot.Tick(labelDistances[k], labels[k]));
        }
        var zero = plt.Add.HorizontalLine(0);
        zero.Color = ScottPlot.Colors.Black.WithAlpha(0.4);
        zero.LineWidth = 1;
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. ticks]);
        plt.Axes.SetLimitsX(0, labelDistances[^1]);
        plt.Title(title);
        plt.YLabel("frequency (THz)");
        Plots.Save(plt, path);
    }

    /// <summary>Density of states: states/THz against frequency (THz), filled.</summary>
    public static void DensityOfStates(string path, string title, double[] frequenciesThz, double[] dos)
    {
        var plt = new ScottPlot.Plot();
        var line = plt.Add.Scatter(frequenciesThz, dos);
        line.MarkerSize = 0;
        line.LineWidth = 1.5f;
        line.Color = ScottPlot.Colors.SteelBlue;
        line.FillY = true;
        line.FillYColor = ScottPlot.Colors.SteelBlue.WithAlpha(0.3);
        plt.Title(title);
        plt.XLabel("frequency (THz)");
        plt.YLabel("DOS (states/THz per cell)");
        Plots.Save(plt, path);
    }
}
