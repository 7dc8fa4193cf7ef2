using Mlip.Numerics;
using Mlip.Validation;

namespace Mlip.Models;

/// <summary>
/// A regressor from per-atom descriptors to per-atom vectors (docs/per-atom-targets.md): y_i = f_element(X_i),
/// <see cref="Outputs"/> components per atom. Features are standardised x̃ = (x − mean)/scale and the
/// targets per component ỹ = (y − mean)/scale, both stored with the model.
/// </summary>
public interface IPerAtomModel
{
    /// <summary>"linear", "quadratic", "nn", "gpr".</summary>
    string Kind { get; }
    IReadOnlyList<int> Elements { get; }
    int FeatureCount { get; }
    int Outputs { get; }

    /// <summary>Predictions for every atom (atom-major: Outputs values per atom).</summary>
    void Predict(ReadOnlySpan<double> features, ReadOnlySpan<int> atomicNumbers, Span<double> outputs);
}

/// <summary>Per-component affine map between a quantity and its standardised form: x̃ = (x − Mean)/Scale.</summary>
public sealed record Standardization(double[] Mean, double[] Scale)
{
    public int Count => Mean.Length;

    /// <summary>Mean and standard deviation per column of a row-major [rows, columns] array (<see cref="ColumnStatistics"/>; scale 1 where a column is constant).</summary>
    public static Standardization Of(ReadOnlySpan<double> values, int columns)
    {
        var stats = new ColumnStatistics(columns);
        stats.AddRows(values);
        return new Standardization(stats.Mean(), stats.Scale());
    }

    public static Standardization Identity(int n) => new(new double[n], Enumerable.Repeat(1.0, n).ToArray());

    public void Forward(ReadOnlySpan<double> x, Span<double> xt)
    {
        for (int c = 0; c < Mean.Length; c++) xt[c] = (x[c] - Mean[c]) / Scale[c];
    }

    public void Backward(ReadOnlySpan<double> yt, Span<double> y)
    {
        for (int c = 0; c < Mean.Length; c++) y[c] = Mean[c] + Scale[c] * yt[c];
    }
}

/// <summary>Shared plumbing: element lookup, feature and target standardisation.</summary>
public abstract class PerAtomModelBase : IPerAtomModel
{
    protected PerAtomModelBase(int[] elements, Standardization features, Standardization targets)
    {
        Elements = elements;
        Features = features;
        Targets = targets;
    }

    public abstract string Kind { get; }
    public IReadOnlyList<int> Elements { get; }
    public int FeatureCount => Features.Count;
    public int Outputs => Targets.Count;
    public Standardization Features { get; }
    public Standardization Targets { get; }

    public int ElementIndex(int z)
    {
        for (int e = 0; e < Elements.Count; e++) if (Elements[e] == z) return e;
        throw new MlipException($"the model has nothing for {Structures.Elements.Symbol(z)} (trained on {string.Join(" ", Elements.Select(Structures.Elements.Symbol))})");
    }

    public void Predict(ReadOnlySpan<double> features, ReadOnlySpan<int> atomicNumbers, Span<double> outputs)
    {
        int k = FeatureCount, d = Outputs;
        var xt = new double[k];
        var yt = new double[d];
        for (int i = 0; i < atomicNumbers.Length; i++)
        {
            Features.Forward(features.Slice(i * k, k), xt);
            PredictStandardized(ElementIndex(atomicNumbers[i]), xt, yt);
            Targets.Backward(yt, outputs.Slice(i * d, d));
        }
    }

    /// <summary>ỹ of one atom of element index <paramref name="element"/> from its standardised features.</summary>
    protected abstract void PredictStandardized(int element, ReadOnlySpan<double> xt, Span<double> yt);
}

/// <summary>
/// Multi-output ridge regression, one weight matrix per element over φ(x̃) = [1, x̃] (linear) or
/// [1, x̃, x̃_a x̃_b (a ≤ b)] (quadratic): ỹ = Wᵀ φ. Weights [element][basis · Outputs], basis-major.
/// </summary>
public sealed class PerAtomPolynomialModel(int order, int[] elements, Standardization features, Standardization targets, double[][] weights)
    : PerAtomModelBase(elements, features, targets)
{
    public int Order { get; } = order is 1 or 2 ? order : throw new MlipException($"polynomial order must be 1 or 2 (got {order})");
    public override string Kind => Order == 1 ? "linear" : "quadratic";
    public double[][] Weights { get; } = weights;

    public static int BasisSize(int order, int k) => 1 + k + (order == 2 ? k * (k + 1) / 2 : 0);

    public static void Basis(int order, ReadOnlySpan<double> xt, Span<double> phi)
    {
        int k = xt.Length;
        phi[0] = 1;
        xt.CopyTo(phi[1..]);
        if (order == 2)
        {
            int q = 1 + k;
            for (int a = 0; a < k; a++)
                for (int b = a; b < k; b++) phi[q++] = xt[a] * xt[b];
        }
    }

    protected override void PredictStandardized(int element, ReadOnlySpan<double> xt, Span<double> yt)
    {
        int p = BasisSize(Order, xt.Length), d = yt.Length;
        Span<double> phi = p <= 4096 ? stackalloc double[p] : new double[p];
        Basis(Order, xt, phi);
        var w = Weights[element];
        yt.Clear();
        for (int b = 0; b < p; b++)
        {
            double f = phi[b];
            if (f == 0) continue;
            var row = w.AsSpan(b * d, d);
            for (int c = 0; c < d; c++) yt[c] += f * row[c];
        }
    }
}

/// <summary>
/// One multilayer perceptron per element with shared hidden layers and one linear output per component:
/// ỹ = MLP_element(x̃). Layers are <see cref="DenseLayer"/> (weights [Out, In] row-major).
/// </summary>
public sealed class PerAtomNetworkModel(int[] elements, Standardization features, Standardization targets, IReadOnlyList<DenseLayer>[] networks, Activation activation)
    : PerAtomModelBase(elements, features, targets)
{
    public override string Kind => "nn";
    public IReadOnlyList<DenseLayer>[] Networks { get; } = networks;
    public Activation Activation { get; } = activation;

    protected override void PredictStandardized(int element, ReadOnlySpan<double> xt, Span<double> yt)
    {
        var layers = Networks[element];
        double[] h = xt.ToArray();
        for (int l = 0; l < layers.Count; l++)
        {
            var layer = layers[l];
            var next = new double[layer.Out];
            for (int o = 0; o < layer.Out; o++)
            {
                double s = layer.Bias[o];
                var w = layer.Weights.AsSpan(o * layer.In, layer.In);
                for (int q = 0; q < layer.In; q++) s += w[q] * h[q];
                next[o] = l + 1 < layers.Count ? Mlp.Apply(Activation, s, out _) : s;
            }
            h = next;
        }
        h.CopyTo(yt);
    }
}

/// <summary>
/// Sparse Gaussian-process regression with one kernel and vector outputs: ỹ(x) = Σ_m k(x̃, z_m) α_m
/// (α_m one row of Outputs values) over the sparse points z_m of the same element, with the squared
/// exponential kernel k = σ² exp(−|x̃ − z|²/(2 ℓ² K)) (K features, so ℓ is per feature on average).
/// </summary>
public sealed class PerAtomGaussianProcessModel(int[] elements, Standardization features, Standardization targets,
    double[][] sparsePoints, double[][] alpha, double lengthScale, double variance)
    : PerAtomModelBase(elements, features, targets)
{
    public override string Kind => "gpr";

    /// <summary>Per element: sparse points, row-major [M_e, K] in standardised features.</summary>
    public double[][] SparsePoints { get; } = sparsePoints;

    /// <summary>Per element: weights, row-major [M_e, Outputs].</summary>
    public double[][] Alpha { get; } = alpha;
    public double LengthScale { get; } = lengthScale;
    public double Variance { get; } = variance;

    public static double Kernel(ReadOnlySpan<double> x, ReadOnlySpan<double> z, double lengthScale, double variance)
    {
        double d2 = 0;
        for (int q = 0; q < x.Length; q++) { double t = x[q] - z[q]; d2 += t * t; }
        return variance * Math.Exp(-d2 / (2 * lengthScale * lengthScale * x.Length));
    }

    protected override void PredictStandardized(int element, ReadOnlySpan<double> xt, Span<double> yt)
    {
        int k = xt.Length, d = yt.Length;
        var z = SparsePoints[element];
        var a = Alpha[element];
        int m = z.Length / k;
        yt.Clear();
        for (int j = 0; j < m; j++)
        {
            double kv = Kernel(xt, z.AsSpan(j * k, k), LengthScale, Variance);
            for (int c = 0; c < d; c++) yt[c] += kv * a[j * d + c];
        }
    }
}
