using Mlip.Models;
using Mlip.Training;
using Mlip.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace Mlip.Tests.Pinn;

/// <summary>
/// The squared input Jacobian of the element networks (the PINN's gradient_penalty) written out layer by layer equals the one
/// autograd gives, row by row, for every activation and for one and two hidden layers.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class JacobianPenaltyTests
{
    [Theory]
    [InlineData(Activation.Tanh, 2)]
    [InlineData(Activation.Sigmoid, 2)]
    [InlineData(Activation.HalfTanh, 1)]
    [InlineData(Activation.Softplus, 2)]
    [InlineData(Activation.Silu, 1)]
    [InlineData(Activation.Relu, 2)]
    [InlineData(Activation.Linear, 1)]
    public void JacobianSquaredEqualsAutograd(Activation activation, int hiddenLayers)
    {
        TorchRuntime.EnsureLoaded();
        const int inputs = 6, outputs = 3, rows = 5;
        int[] hidden = hiddenLayers == 1 ? [7] : [7, 4];
        var nets = new ElementNetworks(2, inputs, hidden, outputs, activation);
        var x = new double[nets.Count];
        nets.Initialize(x, new Random(11));
        var rng = new Random(4);
        for (int q = 0; q < x.Length; q++) x[q] += 0.3 * (2 * rng.NextDouble() - 1); // no zero output layer, biases away from 0
        var w = new[] { 1.0, 0.5, 3.0 };
        using var scope = NewDisposeScope();
        var p = nets.Tensors(x, grad: false);
        var input = tensor(Enumerable.Range(0, rows * inputs).Select(_ => 2 * rng.NextDouble() - 1).ToArray(), [rows, inputs], dtype: ScalarType.Float64);
        foreach (int element in new[] { 0, 1 })
        {
            var got = nets.JacobianSquared(p, element, input, tensor(w, dtype: ScalarType.Float64)).data<double>().ToArray();
            var xin = input.detach().requires_grad_(true);
            var y = nets.Forward(p, element, xin);
            var expected = new double[rows];
            for (int c = 0; c < outputs; c++)
            {
                var g = autograd.grad([y.select(1, c).sum()], [xin], retain_graph: true)[0]; // rows are independent: row i is ∂y_ic/∂x_i
                var g2 = g.pow(TorchScalars.Of(2)).sum(1).data<double>().ToArray();
                for (int i = 0; i < rows; i++) expected[i] += w[c] * g2[i];
            }
            for (int i = 0; i < rows; i++)
                Assert.True(Math.Abs(got[i] - expected[i]) <= 1e-12 * Math.Max(1, expected[i]), $"{activation}, element {element}, row {i}: {got[i]} vs autograd {expected[i]}");
            Assert.Contains(expected, v => v > 1e-3); // not a trivially zero Jacobian
        }
    }
}
