using Mlip.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Mlip.Training;

/// <summary>
/// Per-element dense networks (inputs → hidden… → outputs) stored in a flat parameter vector from
/// <see cref="Offset"/> on, layer by layer (weights [rows, cols] then bias [rows]) and element by element:
/// Xavier start, torch leaf tensors and the forward pass for training, and the managed <see cref="Mlp"/>s.
/// </summary>
internal sealed class ElementNetworks
{
    private readonly List<(int Element, int Layer, bool Bias, int Rows, int Cols)> _shapes = [];
    private readonly Activation _activation;
    private readonly int _layers;

    public ElementNetworks(int elements, int inputs, IReadOnlyList<int> hidden, int outputs, Activation activation, int offset = 0)
    {
        _activation = activation;
        Offset = offset;
        var sizes = new List<int> { inputs };
        sizes.AddRange(hidden);
        sizes.Add(outputs);
        _layers = sizes.Count - 1;
        for (int e = 0; e < elements; e++)
            for (int l = 0; l + 1 < sizes.Count; l++)
            {
                _shapes.Add((e, l, false, sizes[l + 1], sizes[l]));
                _shapes.Add((e, l, true, sizes[l + 1], 1));
            }
        Count = _shapes.Sum(s => s.Rows * s.Cols);
    }

    /// <summary>Where the networks start in the flat vector.</summary>
    public int Offset { get; }

    /// <summary>Number of network parameters.</summary>
    public int Count { get; }

    /// <summary>Xavier-uniform weights from <paramref name="rng"/> (biases zero); the output layers stay zero with <paramref name="zeroOutput"/>.</summary>
    public void Initialize(double[] x, Random rng, bool zeroOutput = false)
    {
        int o = Offset;
        foreach (var (_, l, bias, rows, cols) in _shapes)
        {
            if (!bias && !(zeroOutput && l == _layers - 1))
            {
                double limit = Math.Sqrt(6.0 / (rows + cols));
                for (int q = 0; q < rows * cols; q++) x[o + q] = (2 * rng.NextDouble() - 1) * limit;
            }
            o += rows * cols;
        }
    }

    /// <summary>The managed networks of <paramref name="x"/>, one per element.</summary>
    public Mlp[] ToMlps(double[] x, int elements)
    {
        var nets = new Mlp[elements];
        int o = Offset;
        for (int e = 0; e < elements; e++)
        {
            var layers = new List<DenseLayer>();
            for (int l = 0; l < _layers; l++)
            {
                var (_, _, _, rows, cols) = _shapes[(e * _layers + l) * 2];
                var w = x.AsSpan(o, rows * cols).ToArray(); o += rows * cols;
                var b = x.AsSpan(o, rows).ToArray(); o += rows;
                layers.Add(new DenseLayer(cols, rows, w, b));
            }
            nets[e] = new Mlp(layers, _activation);
        }
        return nets;
    }

    /// <summary>Fresh leaf tensors of the layers of <paramref name="x"/>, in the flat order.</summary>
    public List<Tensor> Tensors(double[] x, bool grad)
    {
        var list = new List<Tensor>(_shapes.Count);
        int o = Offset;
        foreach (var (_, _, bias, rows, cols) in _shapes)
        {
            int count = rows * cols;
            list.Add(tensor(x.AsSpan(o, count).ToArray(), bias ? [rows] : [rows, (long)cols], dtype: ScalarType.Float64).requires_grad_(grad));
            o += count;
        }
        return list;
    }

    /// <summary>The outputs [atoms, outputs] of <paramref name="element"/>'s network on <paramref name="input"/>.</summary>
    public Tensor Forward(List<Tensor> p, int element, Tensor input)
    {
        var h = input;
        for (int l = 0; l < _layers; l++)
        {
            h = nn.functional.linear(h, p[(element * _layers + l) * 2], p[(element * _layers + l) * 2 + 1]);
            if (l < _layers - 1) h = _activation switch
            {
                Activation.Tanh => tanh(h),
                Activation.Sigmoid => sigmoid(h),
                Activation.HalfTanh => sigmoid(h).sub(TorchScalars.Of(0.5)),
                Activation.Softplus => h.Softplus(),
                Activation.Silu => nn.functional.silu(h),
                Activation.Relu => nn.functional.relu(h),
                _ => h,
            };
        }
        return h;
    }

    /// <summary>
    /// Σ_c w_c Σ_a (∂out_ic/∂in_ia)² of every row i of <paramref name="input"/> ([rows]; <paramref name="weights"/> null: all w_c = 1):
    /// the squared Jacobian of <paramref name="element"/>'s network with respect to its input, written out as
    /// J = W_L D_{L-1} W_{L-1} ... D_1 W_1 (D_l the activation's derivative at each row), accumulated from the output side so that
    /// every intermediate is [rows, outputs, width] (the outputs being fewer than the widths), and differentiable with respect to
    /// the weights by a plain backward pass.
    /// </summary>
    public Tensor JacobianSquared(List<Tensor> p, int element, Tensor input, Tensor? weights)
    {
        var h = input;
        var derivatives = new Tensor[_layers - 1];
        for (int l = 0; l < _layers - 1; l++)
        {
            var z = nn.functional.linear(h, p[(element * _layers + l) * 2], p[(element * _layers + l) * 2 + 1]);
            switch (_activation)
            {
                case Activation.Tanh: h = tanh(z); derivatives[l] = h.pow(TorchScalars.Of(2)).negative().Plus(TorchScalars.Of(1)); break;
                case Activation.Sigmoid: h = sigmoid(z); derivatives[l] = h * h.negative().Plus(TorchScalars.Of(1)); break;
                case Activation.HalfTanh: { var s = sigmoid(z); h = s.sub(TorchScalars.Of(0.5)); derivatives[l] = s * s.negative().Plus(TorchScalars.Of(1)); break; }
                case Activation.Softplus: h = z.Softplus(); derivatives[l] = sigmoid(z); break;
                case Activation.Silu: { var s = sigmoid(z); h = z * s; derivatives[l] = s.Plus(h * s.negative().Plus(TorchScalars.Of(1))); break; }
                case Activation.Relu: h = nn.functional.relu(z); derivatives[l] = z.gt(TorchScalars.Of(0.0)).to_type(ScalarType.Float64); break;
                default: h = z; derivatives[l] = ones_like(z); break;
            }
        }
        var jac = p[(element * _layers + _layers - 1) * 2].unsqueeze(0); // [1, outputs, width of the last hidden layer]
        for (int l = _layers - 2; l >= 0; l--)
            jac = matmul(jac * derivatives[l].unsqueeze(1), p[(element * _layers + l) * 2]); // [rows, outputs, inputs of layer l]
        var j2 = jac.pow(TorchScalars.Of(2)).sum(2); // [rows or 1, outputs]
        if (j2.shape[0] != input.shape[0]) j2 = j2.expand(input.shape[0], j2.shape[1]);
        return weights is null ? j2.sum(1) : (j2 * weights).sum(1);
    }

    /// <summary><paramref name="loss"/> + <paramref name="l2"/> Σ W² over the weights (not the biases); unchanged for l2 ≤ 0.</summary>
    public Tensor AddL2(Tensor loss, List<Tensor> p, double l2)
    {
        if (l2 > 0)
            for (int q = 0; q < p.Count; q++)
                if (!_shapes[q].Bias) loss = loss.Plus(p[q].pow(TorchScalars.Of(2)).sum().Times(l2));
        return loss;
    }

    /// <summary>0 · Σ p: a zero term that puts every parameter in the graph (an element missing from a rank's structures then gets a zero gradient, not an error).</summary>
    public Tensor Touch(List<Tensor> p)
    {
        Tensor sum = p[0].sum();
        for (int q = 1; q < p.Count; q++) sum = sum.Plus(p[q].sum());
        return sum.mul(TorchScalars.Of(0.0));
    }

    /// <summary>The L2 penalty alone at <paramref name="x"/> and its gradient (an MPI rank's part of a batch none of whose structures it holds).</summary>
    public double L2Only(double[] x, double[] gradient, double l2)
    {
        using var scope = NewDisposeScope();
        var p = Tensors(x, grad: true);
        var loss = AddL2(Touch(p), p, l2);
        Gradient(loss, p, gradient);
        return loss.item<double>();
    }

    /// <summary>d loss / d p into <paramref name="gradient"/> at <see cref="Offset"/>.</summary>
    public void Gradient(Tensor loss, List<Tensor> p, double[] gradient)
    {
        var grads = autograd.grad([loss], p);
        int o = Offset;
        foreach (var gq in grads)
        {
            var arr = gq.contiguous().data<double>().ToArray();
            Array.Copy(arr, 0, gradient, o, arr.Length);
            o += arr.Length;
        }
    }
}
