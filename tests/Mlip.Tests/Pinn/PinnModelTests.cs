using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Structures;

namespace Mlip.Tests.Pinn;

/// <summary>
/// The PINN (features → network → BOP parameters → energy): forces and stress against finite
/// differences of its own energy for one and two elements, and the plain BOP when the network is zero.
/// </summary>
public class PinnModelTests
{
    internal static Dictionary<string, string> SpecParameters(params string[] elements) => new()
    {
        ["rc"] = "4.0", ["dc"] = "1.5", ["width"] = "1.0", ["centres"] = "2.2,3.0,3.8,4.6", ["orders"] = "0,1,2,3", ["elements"] = string.Join(",", elements),
    };

    /// <summary>A PINN with random network weights (outputs of order 0.1) over the given BOP.</summary>
    internal static Potential RandomPinn(PinnBop bop, string[] elements, int seed, double outputScale = 0.05)
    {
        var spec = new DescriptorSpec("pinn", SpecParameters(elements));
        var d = spec.Create(elements);
        var rng = new Random(seed);
        var model = PinnModel.PlainBop([.. elements.Select(e => Elements.Number(e))], d.FeatureCount, bop.PairCutoff, bop.CutoffRange,
            [.. bop.Parameters.Select(p => p.ToArray())], [6, 5], Activation.Tanh, rng);
        foreach (var net in model.Networks)
        {
            var last = net.Layers[^1];
            for (int q = 0; q < last.Weights.Length; q++) last.Weights[q] = outputScale * (2 * rng.NextDouble() - 1);
            for (int q = 0; q < last.Bias.Length; q++) last.Bias[q] = outputScale * (2 * rng.NextDouble() - 1);
        }
        for (int a = 0; a < model.FeatureCount; a++) { model.Mean[a] = 0.1 * rng.NextDouble(); model.Scale[a] = 0.5 + rng.NextDouble(); }
        return new Potential(d, model, spec);
    }

    private static void AssertFd(string what, ICalculator calc, Structure s)
    {
        var r = calc.Calculate(s);
        FiniteDifferences.AssertMatch(what, x => calc.Calculate(x, false, false).Energy, s, r.Forces!, r.Stress, 1e-6, 1e-5);
    }

    [Fact]
    public void OneElementForcesAndStressEqualFiniteDifferences()
    {
        var pinn = RandomPinn(PinnBop.SiliconExample(), ["Si"], 1);
        AssertFd("PINN Si", pinn, Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.3),
            new Matrix3(0.02, 0.03, -0.01, 0.0, -0.02, 0.04, 0.01, 0.0, 0.03)), 0.15, 3));
    }

    [Fact]
    public void TwoElementForcesAndStressEqualFiniteDifferences()
    {
        var pinn = RandomPinn(PinnBopTests.SiGe(), ["Si", "Ge"], 2);
        var s = Crystals.Rattle(Crystals.Diamond("Si", 5.4), 0.15, 4);
        for (int i = 0; i < s.Count; i += 3) s.AtomicNumbers[i] = 32;
        AssertFd("PINN SiGe", pinn, s);
    }

    [Fact]
    public void ZeroNetworkIsThePlainBop()
    {
        var bop = PinnBopTests.SiGe();
        var pinn = RandomPinn(bop, ["Si", "Ge"], 3, outputScale: 0);
        var s = Crystals.Rattle(Crystals.Diamond("Si", 5.4), 0.15, 5);
        for (int i = 0; i < s.Count; i += 2) s.AtomicNumbers[i] = 32;
        var a = pinn.Calculate(s); var b = bop.Calculate(s);
        Assert.Equal(b.Energy, a.Energy, 10);
        for (int i = 0; i < s.Count; i++) Assert.True((a.Forces![i] - b.Forces![i]).Norm < 1e-10);
        var (sa, sb) = (a.Stress!.Value.ToVoigt(), b.Stress!.Value.ToVoigt());
        for (int q = 0; q < 6; q++) Assert.Equal(sb[q], sa[q], 8);
    }
}
