using System.Globalization;
using Mlip.Configuration;
using Mlip.Descriptors;
using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Tests.Extending;

/// <summary>The parameters of <c>descriptor: {type: radial-histogram, parameters: {...}}</c>: keys, defaults, ranges and docs.</summary>
public sealed record RadialHistogramSettings
{
    [Setting("rc", "cut-off radius (Å)", Min = 0.5, Max = 12)]
    public double Cutoff { get; init; } = 4.0;

    [Setting("bins", "Gaussian bins, centred at (k + 1/2) rc / bins", Min = 1, Max = 64)]
    public int Bins { get; init; } = 8;

    [Setting("width", "standard deviation of a bin's Gaussian (Å)", Min = 0.01, Max = 5)]
    public double Width { get; init; } = 0.4;
}

/// <summary>
/// A smooth radial histogram per neighbour element: X_i[e, k] = Σ_{j of element e} g_k(r_ij) with
/// g_k(r) = exp(−(r − μ_k)² / 2w²) f_c(r) and f_c(r) = (1 + cos(π r / rc)) / 2. Its derivative blocks are exact:
/// ∂X_i[e, k]/∂r_ij = g_k'(r_ij) r_ij / |r_ij| for the neighbour j of pair p (element e).
/// </summary>
public sealed class RadialHistogram : IDescriptor
{
    private readonly RadialHistogramSettings _s;
    private readonly int[] _slot = new int[Elements.MaxAtomicNumber + 1];

    public RadialHistogram(RadialHistogramSettings settings, IReadOnlyList<string> elements)
    {
        _s = settings;
        Array.Fill(_slot, -1);
        for (int e = 0; e < elements.Count; e++) _slot[Elements.Number(elements[e])] = e;
        FeatureNames = [.. elements.SelectMany(el => Enumerable.Range(0, settings.Bins).Select(k => string.Create(CultureInfo.InvariantCulture, $"hist[{el}]({Centre(k):G4})")))];
    }

    public string Name => "radial-histogram";
    public double Cutoff => _s.Cutoff;
    public int FeatureCount => FeatureNames.Count;
    public IReadOnlyList<string> FeatureNames { get; }

    private double Centre(int k) => (k + 0.5) * _s.Cutoff / _s.Bins;

    public DescriptorSet Compute(Structure structure, bool derivatives, NeighborList? neighbors = null)
    {
        var nl = neighbors is { } given && given.Cutoff >= Cutoff && given.AtomCount == structure.Count
            ? given : NeighborList.Build(structure, Cutoff);
        int n = structure.Count, f = FeatureCount, bins = _s.Bins;
        double w2 = _s.Width * _s.Width;
        var values = new double[n * f];
        var grad = derivatives ? new double[nl.PairCount * f * 3] : null; // [pair][feature][xyz]
        for (int i = 0; i < n; i++)
            foreach (int p in nl.PairRange(i))
            {
                double r = nl.Distances[p];
                if (r >= Cutoff) continue; // a longer list passed in: pairs beyond the cut-off give nothing
                int z = structure.AtomicNumbers[nl.Neighbors[p]];
                int e = _slot[z] >= 0 ? _slot[z] : throw new MlipException($"radial-histogram: element {Elements.Symbol(z)} is not among the descriptor's elements");
                double fc = 0.5 * (1 + Math.Cos(Math.PI * r / Cutoff));
                double dfc = -0.5 * Math.PI / Cutoff * Math.Sin(Math.PI * r / Cutoff);
                Vec3 u = nl.Vectors[p] / r;
                for (int k = 0; k < bins; k++)
                {
                    double d = r - Centre(k), gauss = Math.Exp(-d * d / (2 * w2));
                    int q = e * bins + k;
                    values[i * f + q] += gauss * fc;
                    if (grad is null) continue;
                    double dg = gauss * (dfc - fc * d / w2); // d(gauss · fc)/dr
                    int at = (p * f + q) * 3;
                    grad[at] = dg * u.X;
                    grad[at + 1] = dg * u.Y;
                    grad[at + 2] = dg * u.Z;
                }
            }
        return new DescriptorSet(n, f, values, nl, grad);
    }

    /// <summary>The one line that adds the type to <c>mlip train</c>, <c>mlip descriptors</c>, the model file and the schema.</summary>
    public static void Register() =>
        DescriptorTypes.Register<RadialHistogramSettings>("radial-histogram", "Gaussian-smoothed radial histogram per neighbour element",
            (settings, elements) => new RadialHistogram(settings, elements));
}
