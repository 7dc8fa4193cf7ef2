using System.Diagnostics;
using System.Globalization;
using Mlip.Calculators;
using Mlip.Data;
using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Training;
using Xunit.Abstractions;
using Mlip.Tests.Support;

namespace Mlip.Tests.Training;

/// <summary>
/// Issue 11's acceptance on a small generated set: from multi-range SO(4) bispectra, the held-out
/// amorphous cell's 16 Gaussian coefficients per atom with per-component R² ≥ 0.99 and a mean relative
/// L2 error of the reconstructed V_B(r) below 1 %, and multi-range better than a single cutoff.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public sealed class PerAtomTargetTests(ITestOutputHelper output)
{
    private static readonly Lazy<(List<Mlip.Structures.Structure> Train, List<Mlip.Structures.Structure> Test)> Set = new(() =>
        PerAtomDatasetGenerator.Generate(ClassicalPotentials.Parse("sw"), new PerAtomDatasetOptions { Seed = 7 }));

    private static IDescriptor Multi(string cutoffs, int twoJMax = 6, bool average = false) => DescriptorFactory.Create("multi",
        new Dictionary<string, string> { ["cutoffs"] = cutoffs, ["twojmax"] = twoJMax.ToString(CultureInfo.InvariantCulture), ["average"] = average ? "1" : "0" }, ["Si"]);

    private (PerAtomEvaluation Eval, double Seconds) Run(string kind, IDescriptor descriptor, object? settings = null, int seed = 1)
    {
        var (train, test) = Set.Value;
        var clock = Stopwatch.StartNew();
        var trainData = PerAtomData.Build(descriptor, train, GaussianPotentialTarget.ArrayName, 2);
        var testData = PerAtomData.Build(descriptor, test, GaussianPotentialTarget.ArrayName, 2);
        var model = PerAtomFit.Fit(kind, new PerAtomFitContext { Data = trainData, Seed = seed, Threads = 2 }, settings); // through the model-kind registry
        var predicted = new double[testData.Y.Length];
        model.Predict(testData.X, testData.AtomicNumbers, predicted);
        var alphas = (double[])test[0].Info[GaussianPotentialTarget.AlphasKey];
        var eval = PerAtomEvaluation.Of(testData.Y, predicted, testData.Outputs, alphas);
        double seconds = clock.Elapsed.TotalSeconds;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{kind,-9} {descriptor.Name,-40} {descriptor.FeatureCount,4} features: min R2 {eval.MinR2:F5}, mean R2 {eval.MeanR2:F5}, V_B rel L2 mean {100 * eval.MeanRelativeL2:F3} % max {100 * eval.MaxRelativeL2:F3} %  ({seconds:F1} s)"));
        output.WriteLine("   R2 per component: " + string.Join(" ", eval.Components.Select(c => c.R2.ToString("F4", CultureInfo.InvariantCulture))));
        return (eval, seconds);
    }

    [Fact]
    public void LinearOnMultiRangeBispectraMeetsAcceptanceAndBeatsSingleCutoff()
    {
        var (train, test) = Set.Value;
        output.WriteLine($"{train.Count} training structures ({train.Sum(s => s.Count)} atoms), held out: {test[0].Group} ({test[0].Count} atoms)");
        var multi = Run("linear", Multi("3.0,4.2,5.6"));
        var single = Run("linear", Multi("5.6"));
        Assert.True(multi.Eval.MinR2 >= 0.99, $"min R2 {multi.Eval.MinR2}");
        Assert.True(multi.Eval.MeanRelativeL2 < 0.01, $"mean relative L2 {multi.Eval.MeanRelativeL2}");
        Assert.True(multi.Eval.MeanRelativeL2 < single.Eval.MeanRelativeL2, "multi-range should beat one cutoff");
    }

    [Fact]
    public void NetworkGaussianProcessAndQuadraticOnMultiRangeBispectra()
    {
        var nn = Run("nn", Multi("3.0,4.2,5.6"), new PerAtomNetworkSettings { Hidden = [32], Epochs = 1000, L2 = 1e-8 }, seed: 3);
        var gpr = Run("gpr", Multi("3.0,4.2,5.6"), new PerAtomGaussianProcessSettings { Sparse = 400, LengthScale = 2.0, Noise = 1e-5 }, seed: 3);
        var quadratic = Run("quadratic", Multi("3.0,4.2,5.6", twoJMax: 4), new PerAtomPolynomialSettings { Ridge = 1e-6 });
        // measured 0.9918 here; the network's result moves by ~0.002 with the seed, so the hard line is a little lower
        Assert.True(nn.Eval.MinR2 >= 0.985, $"nn min R2 {nn.Eval.MinR2}");
        Assert.True(nn.Eval.MeanRelativeL2 < 0.01, $"nn mean relative L2 {nn.Eval.MeanRelativeL2}");
        Assert.True(gpr.Eval.MinR2 >= 0.98, $"gpr min R2 {gpr.Eval.MinR2}");
        Assert.True(quadratic.Eval.MinR2 >= 0.98, $"quadratic min R2 {quadratic.Eval.MinR2}");
    }
}
