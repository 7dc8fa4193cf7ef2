namespace Mlip.Numerics;

/// <summary>Nelder–Mead simplex minimisation (deterministic; standard coefficients 1, 2, ½, ½).</summary>
public static class NelderMead
{
    /// <summary>
    /// Minimises <paramref name="f"/> from <paramref name="x0"/> with an initial simplex of edge <paramref name="step"/>,
    /// until the values at the simplex's vertices differ by at most <paramref name="tolerance"/> (absolute).
    /// </summary>
    public static (double[] X, double Value) Minimise(Func<double[], double> f, double[] x0, double step, double tolerance, int maxEvaluations)
    {
        int n = x0.Length;
        var points = new double[n + 1][];
        var values = new double[n + 1];
        points[0] = (double[])x0.Clone();
        values[0] = f(points[0]);
        for (int i = 0; i < n; i++)
        {
            points[i + 1] = (double[])x0.Clone();
            points[i + 1][i] += step;
            values[i + 1] = f(points[i + 1]);
        }
        int evaluations = n + 1;
        var centroid = new double[n];
        double[] Along(double t, double[] worst)
        {
            var x = new double[n];
            for (int k = 0; k < n; k++) x[k] = centroid[k] + t * (worst[k] - centroid[k]);
            return x;
        }
        while (evaluations < maxEvaluations)
        {
            var order = Enumerable.Range(0, n + 1).OrderBy(i => values[i]).ToArray();
            points = order.Select(i => points[i]).ToArray();
            values = order.Select(i => values[i]).ToArray();
            if (double.IsFinite(values[n]) && values[n] - values[0] <= tolerance) break;
            Array.Clear(centroid);
            for (int i = 0; i < n; i++)
                for (int k = 0; k < n; k++) centroid[k] += points[i][k] / n;
            var reflected = Along(-1, points[n]);
            double fr = f(reflected); evaluations++;
            if (fr < values[0])
            {
                var expanded = Along(-2, points[n]);
                double fe = f(expanded); evaluations++;
                (points[n], values[n]) = fe < fr ? (expanded, fe) : (reflected, fr);
                continue;
            }
            if (fr < values[n - 1])
            {
                (points[n], values[n]) = (reflected, fr);
                continue;
            }
            var contracted = fr < values[n] ? Along(-0.5, points[n]) : Along(0.5, points[n]);
            double fc = f(contracted); evaluations++;
            if (fc < Math.Min(fr, values[n]))
            {
                (points[n], values[n]) = (contracted, fc);
                continue;
            }
            for (int i = 1; i <= n; i++)
            {
                for (int k = 0; k < n; k++) points[i][k] = points[0][k] + 0.5 * (points[i][k] - points[0][k]);
                values[i] = f(points[i]); evaluations++;
            }
        }
        int bestIndex = 0;
        for (int i = 1; i <= n; i++) if (values[i] < values[bestIndex]) bestIndex = i;
        return (points[bestIndex], values[bestIndex]);
    }
}
