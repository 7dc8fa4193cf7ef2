using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.Configuration;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Training;
using Mlip.Validation;

namespace Mlip.Tests.Extending;

/// <summary>The settings of <c>model: {kind: ridge-path, ...}</c>: keys, defaults, ranges and docs (the schema reads them).</summary>
public sealed record RidgePathSettings
{
    [Setting("ridges", "the L2 penalties tried on the coefficients; the one with the lowest hold-out error wins", Min = 0)]
    public double[] Ridges { get; init; } = [1e-8, 1e-6, 1e-4, 1e-2, 1];

    [Setting("holdout", "every holdout-th structure is held out to choose the penalty", Min = 2, Max = 100)]
    public int Holdout { get; init; } = 4;
}

/// <summary>E_i = b_Z + w_Z · x_i per element Z; the model file stores b and w (one row per element).</summary>
public sealed class RidgePathModel(int[] elements, int features, double[] bias, double[] weights) : IAtomicModel
{
    public string Kind => RidgePathKind.KindName;
    public IReadOnlyList<int> Elements => elements;
    public int FeatureCount => features;

    public void Evaluate(ReadOnlySpan<double> x, ReadOnlySpan<int> atomicNumbers, Span<double> atomEnergies, Span<double> dEdX)
    {
        for (int i = 0; i < atomicNumbers.Length; i++)
        {
            int e = Array.IndexOf(elements, atomicNumbers[i]);
            if (e < 0) throw new MlipException($"ridge-path: the model has no element {Mlip.Structures.Elements.Symbol(atomicNumbers[i])}");
            var w = weights.AsSpan(e * features, features);
            var xi = x.Slice(i * features, features);
            double energy = bias[e];
            for (int k = 0; k < features; k++) energy += w[k] * xi[k];
            atomEnergies[i] = energy;
            if (!dEdX.IsEmpty) w.CopyTo(dEdX.Slice(i * features, features));
        }
    }

    /// <summary>How the model file holds the model ("model": {...}), and how it is read back.</summary>
    public static ModelCodec Codec { get; } = new(RidgePathKind.KindName,
        m => new JsonObject { ["bias"] = Numbers(((RidgePathModel)m).Bias), ["weights"] = Numbers(((RidgePathModel)m).Weights) },
        (json, z, count, file) => new RidgePathModel(z, count, Read(json, "bias", z.Length, file), Read(json, "weights", z.Length * count, file)));

    private double[] Bias => bias;
    private double[] Weights => weights;

    private static JsonArray Numbers(double[] v) => [.. v.Select(x => (JsonNode)x)];

    private static double[] Read(JsonObject json, string key, int count, string file)
    {
        var v = json[key]?.AsArray().Select(n => n!.GetValue<double>()).ToArray() ?? throw new MlipException($"{file}: model.{key} is missing");
        return v.Length == count ? v : throw new MlipException($"{file}: model.{key} has {v.Length} values, expected {count}");
    }
}

/// <summary>
/// A per-element linear model fitted to energies per atom by ridge least squares along a path of penalties: each
/// penalty is fitted without the held-out structures, the one with the lowest hold-out RMSE is refitted on all.
/// </summary>
public sealed class RidgePathKind : ModelKind<RidgePathSettings>
{
    public const string KindName = "ridge-path";
    public override string Name => KindName;
    public override string Doc => "E_i = b_Z + w_Z . x_i per element, fitted to energies with the ridge penalty chosen on held-out structures";
    public override ModelCodec? Codec => RidgePathModel.Codec;

    protected override ModelFitResult Fit(ModelFitContext c, RidgePathSettings s)
    {
        var set = c.Set!;
        int[] z = [.. c.Elements.Select(symbol => Elements.Number(symbol))];
        int f = set.FeatureCount, columns = z.Length * (f + 1);
        // one row per structure: [per element: fraction of atoms, mean features of its atoms] -> energy per atom
        var rows = new List<(double[] A, double Y, bool Held)>();
        for (int t = 0; t < set.Count; t++)
        {
            var structure = set.Structures[t];
            var a = new double[columns];
            for (int i = 0; i < structure.Count; i++)
            {
                int e = Array.IndexOf(z, structure.AtomicNumbers[i]);
                a[e * (f + 1)] += 1.0 / structure.Count;
                var x = set.Descriptors[t].Of(i);
                for (int k = 0; k < f; k++) a[e * (f + 1) + 1 + k] += x[k] / structure.Count;
            }
            double energy = structure.Energy ?? throw new MlipException($"{c.Source}: ridge-path fits energies; structure {t} has none");
            rows.Add((a, energy / structure.Count, t % s.Holdout == s.Holdout - 1));
        }
        if (rows.Count(r => r.Held) == 0) throw new MlipException($"{c.Source}: ridge-path needs at least {s.Holdout} structures (holdout)");
        double best = double.PositiveInfinity, bestRidge = s.Ridges[0];
        foreach (double ridge in s.Ridges)
        {
            var coefficients = Solve(rows.Where(r => !r.Held).ToList(), columns, f, ridge);
            var held = rows.Where(r => r.Held).ToList();
            double rmse = Math.Sqrt(held.Average(r => Math.Pow(Dot(r.A, coefficients) - r.Y, 2)));
            c.Log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ridge-path: ridge {ridge:G3}: hold-out RMSE {rmse * 1000:F3} meV/atom"));
            if (rmse < best) (best, bestRidge) = (rmse, ridge);
        }
        var all = Solve(rows, columns, f, bestRidge);
        var bias = new double[z.Length];
        var weights = new double[z.Length * f];
        for (int e = 0; e < z.Length; e++)
        {
            bias[e] = all[e * (f + 1)];
            Array.Copy(all, e * (f + 1) + 1, weights, e * f, f);
        }
        var info = new JsonObject { ["ridge"] = bestRidge, ["holdout_rmse_ev_per_atom"] = best };
        return new ModelFitResult(new RidgePathModel(z, f, bias, weights), info);
    }

    private static double Dot(double[] a, double[] b) => a.Zip(b, (x, y) => x * y).Sum();

    /// <summary>Minimises Σ (a·c − y)² / rows + ridge |w|² (the constants b nearly unpenalised) by Cholesky.</summary>
    private static double[] Solve(List<(double[] A, double Y, bool Held)> rows, int n, int features, double ridge)
    {
        var g = new double[n, n];
        var c = new double[n];
        foreach (var (a, y, _) in rows)
            for (int p = 0; p < n; p++)
            {
                c[p] += a[p] * y / rows.Count;
                for (int q = 0; q < n; q++) g[p, q] += a[p] * a[q] / rows.Count;
            }
        for (int p = 0; p < n; p++) g[p, p] += p % (features + 1) == 0 ? 1e-12 : ridge + 1e-12;
        for (int p = 0; p < n; p++) // g = L L^T, in place (lower triangle)
        {
            for (int k = 0; k < p; k++) g[p, p] -= g[p, k] * g[p, k];
            if (!(g[p, p] > 0)) throw new MlipException("ridge-path: the normal equations are singular (give a larger ridge)");
            g[p, p] = Math.Sqrt(g[p, p]);
            for (int q = p + 1; q < n; q++)
            {
                for (int k = 0; k < p; k++) g[q, p] -= g[q, k] * g[p, k];
                g[q, p] /= g[p, p];
            }
        }
        for (int p = 0; p < n; p++) // L u = c, then L^T x = u
        {
            for (int k = 0; k < p; k++) c[p] -= g[p, k] * c[k];
            c[p] /= g[p, p];
        }
        for (int p = n - 1; p >= 0; p--)
        {
            for (int k = p + 1; k < n; k++) c[p] -= g[k, p] * c[k];
            c[p] /= g[p, p];
        }
        return c;
    }

    /// <summary>The one line that adds the kind to <c>mlip train</c>, the model file and the schema.</summary>
    public static void Register() => ModelKinds.Register(new RidgePathKind());
}
