using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Models;

/// <summary>
/// Polynomial regression in the (optionally normalised) descriptors, one set of coefficients per
/// element: order 1 (linear, SNAP-like) E_i = c_e + Σ_k w_ek x̃_k, order 2 (quadratic, qSNAP-like)
/// adds Σ_{k≤l} q_ekl x̃_k x̃_l, with x̃ = (x − μ)/σ. Coefficients per element are stored in one
/// vector in the order [c, w_1..w_K, q_11, q_12, .., q_1K, q_22, ..] (the row-by-row upper triangle,
/// the order of LAMMPS's quadratic SNAP features).
/// </summary>
public sealed class PolynomialModel : IAtomicModel
{
    public PolynomialModel(int order, int[] elements, int featureCount, double[][] coefficients, double[]? mean = null, double[]? scale = null)
    {
        if (order is not (1 or 2)) throw new MlipException($"polynomial order must be 1 or 2 (got {order})");
        if (coefficients.Length != elements.Length) throw new ArgumentException("one coefficient vector per element");
        int per = CoefficientsPerElement(order, featureCount);
        foreach (var c in coefficients)
            if (c.Length != per) throw new ArgumentException($"expected {per} coefficients per element, got {c.Length}");
        Order = order;
        Elements = elements;
        FeatureCount = featureCount;
        Coefficients = coefficients;
        Mean = mean ?? new double[featureCount];
        Scale = scale ?? Enumerable.Repeat(1.0, featureCount).ToArray();
        if (Mean.Length != featureCount || Scale.Length != featureCount) throw new ArgumentException("normalisation has the wrong length");
    }

    public int Order { get; }
    public string Kind => Order == 1 ? "linear" : "quadratic";
    public IReadOnlyList<int> Elements { get; }
    public int FeatureCount { get; }

    /// <summary>Per element: [constant, K linear, K(K+1)/2 quadratic when order 2].</summary>
    public double[][] Coefficients { get; }

    /// <summary>Feature normalisation x̃ = (x − Mean)/Scale.</summary>
    public double[] Mean { get; }
    public double[] Scale { get; }

    public static int CoefficientsPerElement(int order, int k) => 1 + k + (order == 2 ? k * (k + 1) / 2 : 0);

    public int ElementIndex(int z)
    {
        for (int e = 0; e < Elements.Count; e++) if (Elements[e] == z) return e;
        return -1;
    }

    public void Evaluate(ReadOnlySpan<double> features, ReadOnlySpan<int> atomicNumbers, Span<double> atomEnergies, Span<double> dEdX)
    {
        int k = FeatureCount, n = atomicNumbers.Length;
        bool grad = !dEdX.IsEmpty;
        Span<double> xt = k <= 512 ? stackalloc double[k] : new double[k];
        Span<double> g = k <= 512 ? stackalloc double[k] : new double[k];
        for (int i = 0; i < n; i++)
        {
            int e = ElementIndex(atomicNumbers[i]);
            if (e < 0) throw new MlipException($"the model has no coefficients for {Mlip.Structures.Elements.Symbol(atomicNumbers[i])}");
            var c = Coefficients[e];
            var x = features.Slice(i * k, k);
            for (int a = 0; a < k; a++) xt[a] = (x[a] - Mean[a]) / Scale[a];
            double energy = c[0];
            for (int a = 0; a < k; a++) { energy += c[1 + a] * xt[a]; g[a] = c[1 + a]; }
            if (Order == 2)
            {
                int q = 1 + k;
                for (int a = 0; a < k; a++)
                {
                    double xa = xt[a];
                    double ga = 0;
                    for (int b = a; b < k; b++, q++)
                    {
                        double cq = c[q];
                        energy += cq * xa * xt[b];
                        ga += cq * xt[b];
                        g[b] += cq * xa;
                    }
                    g[a] += ga;
                }
            }
            atomEnergies[i] = energy;
            if (grad)
            {
                var d = dEdX.Slice(i * k, k);
                for (int a = 0; a < k; a++) d[a] = g[a] / Scale[a];
            }
        }
    }
}
