using Mlip.Validation;

namespace Mlip.Models;

/// <summary>Activation functions of the per-element networks.</summary>
public enum Activation { Tanh, Sigmoid, Softplus, Silu, Relu, Linear, HalfTanh }

/// <summary>One dense layer: y = W x + b, W stored row-major [Out, In].</summary>
public sealed record DenseLayer(int In, int Out, double[] Weights, double[] Bias);

/// <summary>A multilayer perceptron: dense layers with the activation after every layer but the last (a single output).</summary>
public sealed record Mlp(IReadOnlyList<DenseLayer> Layers, Activation Activation)
{
    public int ParameterCount => Layers.Sum(l => l.Weights.Length + l.Bias.Length);

    /// <summary>A network with Xavier-uniform weights and zero biases, from a seeded generator.</summary>
    public static Mlp Create(int inputs, IReadOnlyList<int> hidden, Activation activation, Random rng)
    {
        var sizes = new List<int> { inputs };
        sizes.AddRange(hidden);
        sizes.Add(1);
        var layers = new List<DenseLayer>();
        for (int l = 0; l + 1 < sizes.Count; l++)
        {
            int fanIn = sizes[l], fanOut = sizes[l + 1];
            double limit = Math.Sqrt(6.0 / (fanIn + fanOut));
            var w = new double[fanIn * fanOut];
            for (int q = 0; q < w.Length; q++) w[q] = (2 * rng.NextDouble() - 1) * limit;
            layers.Add(new DenseLayer(fanIn, fanOut, w, new double[fanOut]));
        }
        return new Mlp(layers, activation);
    }

    public static double Apply(Activation a, double x, out double derivative)
    {
        switch (a)
        {
            case Activation.Tanh: { double t = Math.Tanh(x); derivative = 1 - t * t; return t; }
            case Activation.Sigmoid: { double s = 1 / (1 + Math.Exp(-x)); derivative = s * (1 - s); return s; }
            case Activation.Softplus:
            {
                double s = 1 / (1 + Math.Exp(-x));
                derivative = s;
                return x > 30 ? x : Math.Log(1 + Math.Exp(x));
            }
            case Activation.Silu: { double s = 1 / (1 + Math.Exp(-x)); derivative = s * (1 + x * (1 - s)); return x * s; }
            case Activation.Relu: derivative = x > 0 ? 1 : 0; return x > 0 ? x : 0;
            case Activation.HalfTanh: { double s = 1 / (1 + Math.Exp(-x)) - 0.5; derivative = 0.25 - s * s; return s; }
            default: derivative = 1; return x;
        }
    }

    public static Activation ParseActivation(string name) => name.Trim().ToLowerInvariant() switch
    {
        "tanh" => Activation.Tanh,
        "sigmoid" => Activation.Sigmoid,
        "softplus" => Activation.Softplus,
        "silu" or "swish" => Activation.Silu,
        "relu" => Activation.Relu,
        "linear" or "identity" => Activation.Linear,
        "halftanh" => Activation.HalfTanh,
        _ => throw new MlipException($"unknown activation '{name}' (tanh, sigmoid, softplus, silu, relu, linear, halftanh)"),
    };
}

/// <summary>
/// One multilayer perceptron per element: E_i = e0_element + MLP_element((x_i − mean)/scale) (eV).
/// Inference and dE/dX are plain managed code (forward and backward passes), so MD and relaxation need
/// no libtorch; training uses libtorch (<see cref="Training.NeuralNetworkTrainer"/>).
/// </summary>
public sealed class NeuralNetworkModel : IAtomicModel
{
    public NeuralNetworkModel(int[] elements, int featureCount, Mlp[] networks, double[] energyOffsets, double[] mean, double[] scale)
    {
        if (networks.Length != elements.Length || energyOffsets.Length != elements.Length) throw new ArgumentException("one network and one offset per element");
        foreach (var n in networks)
        {
            if (n.Layers.Count == 0 || n.Layers[0].In != featureCount || n.Layers[^1].Out != 1)
                throw new ArgumentException($"each network must map {featureCount} features to one energy");
            for (int l = 1; l < n.Layers.Count; l++)
                if (n.Layers[l].In != n.Layers[l - 1].Out) throw new ArgumentException("layer sizes do not chain");
        }
        Elements = elements;
        FeatureCount = featureCount;
        Networks = networks;
        _width = Math.Max(featureCount, networks.Length == 0 ? 0 : networks.Max(n => n.Layers.Max(l => l.Out)));
        _depth = networks.Length == 0 ? 0 : networks.Max(n => n.Layers.Count);
        EnergyOffsets = energyOffsets;
        Mean = mean;
        Scale = scale;
    }

    public string Kind => "nn";
    public IReadOnlyList<int> Elements { get; }
    public int FeatureCount { get; }
    public Mlp[] Networks { get; }

    /// <summary>e0 per element (eV/atom), the energy of an atom whose network outputs 0.</summary>
    public double[] EnergyOffsets { get; }
    public double[] Mean { get; }
    public double[] Scale { get; }

    // the widest layer (or the feature count) and the most layers of the networks: the size of Evaluate's scratch
    private readonly int _width, _depth;

    /// <summary>Scratch of <see cref="Evaluate"/> up to this many doubles lives on the stack (2000 is 16 KB; the 30-24-24-1 network needs 300).</summary>
    private const int StackScratch = 2000;

    public void Evaluate(ReadOnlySpan<double> features, ReadOnlySpan<int> atomicNumbers, Span<double> atomEnergies, Span<double> dEdX)
    {
        int width = _width, depth = _depth;
        // activations and their derivatives per layer, delta and next, reused for every atom: one scratch per call, on the stack for
        // the usual sizes (the fused MD pass calls this once per block of 8 atoms: it used to allocate ~3 KB and run two Linq
        // maxima each time, ~0.8 MB a step for 2000 atoms)
        int size = (2 * (depth + 1) + 2) * width;
        double[]? rented = size > StackScratch ? System.Buffers.ArrayPool<double>.Shared.Rent(size) : null;
        Span<double> scratch = rented is null ? stackalloc double[size] : rented.AsSpan(0, size);
        try { EvaluateInto(features, atomicNumbers, atomEnergies, dEdX, scratch, width, depth); }
        finally { if (rented is not null) System.Buffers.ArrayPool<double>.Shared.Return(rented); }
    }

    private void EvaluateInto(ReadOnlySpan<double> features, ReadOnlySpan<int> atomicNumbers, Span<double> atomEnergies, Span<double> dEdX, Span<double> scratch, int width, int depth)
    {
        int k = FeatureCount;
        // layer l's activations at scratch[l * width], their derivatives at scratch[(depth + 1 + l) * width], then delta and next
        var delta = scratch.Slice(2 * (depth + 1) * width, width);
        var next = scratch.Slice((2 * (depth + 1) + 1) * width, width);
        for (int i = 0; i < atomicNumbers.Length; i++)
        {
            int e = -1;
            for (int q = 0; q < Elements.Count; q++) if (Elements[q] == atomicNumbers[i]) e = q;
            if (e < 0) throw new MlipException($"the network has no element {Structures.Elements.Symbol(atomicNumbers[i])}");
            var net = Networks[e];
            var x = features.Slice(i * k, k);
            var act0 = scratch[..width];
            for (int a = 0; a < k; a++) act0[a] = (x[a] - Mean[a]) / Scale[a];
            int L = net.Layers.Count;
            for (int l = 0; l < L; l++)
            {
                var layer = net.Layers[l];
                var input = scratch.Slice(l * width, width);
                var output = scratch.Slice((l + 1) * width, width);
                var derivative = scratch.Slice((depth + 2 + l) * width, width);
                bool last = l == L - 1;
                for (int o = 0; o < layer.Out; o++)
                {
                    double s = layer.Bias[o];
                    var row = layer.Weights.AsSpan(o * layer.In, layer.In);
                    for (int a = 0; a < layer.In; a++) s += row[a] * input[a];
                    if (last) { output[o] = s; derivative[o] = 1; }
                    else output[o] = Mlp.Apply(net.Activation, s, out derivative[o]);
                }
            }
            atomEnergies[i] = EnergyOffsets[e] + scratch[L * width];
            if (dEdX.IsEmpty) continue;
            // backward: delta = dE/d(pre-activation) of each layer
            delta[0] = 1;
            for (int l = L - 1; l >= 0; l--)
            {
                var layer = net.Layers[l];
                var derivative = scratch.Slice((depth + 2 + l) * width, width);
                for (int o = 0; o < layer.Out; o++) delta[o] *= derivative[o];
                next[..layer.In].Clear();
                for (int o = 0; o < layer.Out; o++)
                {
                    double d = delta[o];
                    if (d == 0) continue;
                    var row = layer.Weights.AsSpan(o * layer.In, layer.In);
                    for (int a = 0; a < layer.In; a++) next[a] += d * row[a];
                }
                next[..layer.In].CopyTo(delta);
            }
            var g = dEdX.Slice(i * k, k);
            for (int a = 0; a < k; a++) g[a] = delta[a] / Scale[a];
        }
    }
}
