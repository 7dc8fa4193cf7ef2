using System.Globalization;
using Mlip.Models;
using Mlip.Training;
using Mlip.Tests.Support;

namespace Mlip.Tests.Training;

/// <summary>
/// The per-atom network is trained with the activation it is saved with: the returned model's mean squared
/// error on the standardised targets equals the training loss that libtorch reported at (nearly) the same
/// parameters, for every activation (halftanh included, which the torch side once treated as linear).
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public sealed class PerAtomNetworkTests
{
    [Theory]
    [InlineData(Activation.Tanh)]
    [InlineData(Activation.HalfTanh)]
    [InlineData(Activation.Sigmoid)]
    [InlineData(Activation.Softplus)]
    public void ReturnedModelHasTheTrainingLoss(Activation activation)
    {
        const int atoms = 120, k = 3, d = 2;
        var rng = new Random(11);
        var x = new double[atoms * k];
        var y = new double[atoms * d];
        var z = new int[atoms];
        for (int i = 0; i < atoms; i++)
        {
            for (int a = 0; a < k; a++) x[i * k + a] = 2 * rng.NextDouble() - 1;
            z[i] = i % 3 == 0 ? 8 : 14;
            y[i * d] = Math.Sin(2 * x[i * k]) + x[i * k + 1] * x[i * k + 2];
            y[i * d + 1] = 3 + Math.Exp(x[i * k + 1]) - (z[i] == 8 ? 1 : 0);
        }
        var data = new PerAtomData(x, y, z, [.. Enumerable.Range(0, atoms)], k, d);
        // one Adam step of negligible size: the reported loss is that of the initial parameters, which the model keeps
        var options = new PerAtomFitOptions { Hidden = [6, 4], Activation = activation, Optimizer = "adam", LearningRate = 1e-300, Epochs = 1, L2 = 0, Seed = 4, Threads = 1 };
        var log = new StringWriter();
        var model = PerAtomFit.Network(data, options, log);
        var line = log.ToString().Split('\n').First(l => l.StartsWith("nn: epoch 1, loss "));
        double reported = double.Parse(line["nn: epoch 1, loss ".Length..].Trim(), CultureInfo.InvariantCulture);

        var predicted = new double[atoms * d];
        model.Predict(x, z, predicted);
        var ts = Standardization.Of(y, d);
        double mse = 0;
        for (int i = 0; i < atoms; i++)
            for (int c = 0; c < d; c++) { double e = (predicted[i * d + c] - y[i * d + c]) / ts.Scale[c]; mse += e * e; }
        mse /= atoms * d;
        Assert.True(reported > 0.05, $"loss {reported}: the start should be far from the targets");
        Assert.True(Math.Abs(mse - reported) <= 1e-3 * reported, $"{activation}: model MSE {mse} vs reported training loss {reported}");
    }
}
