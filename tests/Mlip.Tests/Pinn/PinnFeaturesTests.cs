using Mlip.Descriptors;
using Mlip.Structures;
using Mlip.Tests.Descriptors;

namespace Mlip.Tests.Pinn;

/// <summary>PINN features: derivative blocks against finite differences, invariances, and a hand-computed dimer value.</summary>
public class PinnFeaturesTests
{
    private static PinnFeatures Features(params string[] elements) => new(new PinnFeatureParameters
    {
        Cutoff = 3.2, CutoffRange = 1.2, Width = 0.9, Centres = [2.0, 3.0, 4.0], Orders = [0, 1, 2, 4], Shift = 0.1, Elements = elements,
    });

    [Fact]
    public void OneElementDerivativesEqualFiniteDifferences() =>
        DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(Features("Si"), Crystals.Rattle(Crystals.Diamond("Si", 5.3), 0.15, 3), seed: 2);

    [Fact]
    public void TwoElementDerivativesEqualFiniteDifferences() =>
        DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(Features("Si", "O"), DescriptorTestKit.RandomCell(7, ["Si", "O"], atoms: 6), seed: 4);

    [Fact]
    public void Invariances() => DescriptorTestKit.AssertInvariances(Features("Si", "O"), DescriptorTestKit.RandomCell(9, ["Si", "O"], atoms: 6), seed: 1);

    [Fact]
    public void DimerValueByHand()
    {
        // two atoms 2.5 Å apart: for each atom one neighbour, j = k only: Γ = Δ + P_l(1) f_s(r)²
        var d = Features("Si");
        var s = new Structure(Matrix3.Diagonal(0, 0, 0), [new Vec3(0, 0, 0), new Vec3(2.5, 0, 0)], [14, 14], PeriodicFlags.None);
        var set = d.Compute(s, false);
        double rc = 1.5 * 3.2, x = (2.5 - rc) / 1.2, fc = Math.Pow(x, 4) / (1 + Math.Pow(x, 4));
        for (int l = 0; l < 4; l++)
            for (int q = 0; q < 3; q++)
            {
                double r0 = new[] { 2.0, 3.0, 4.0 }[q];
                double fs = Math.Exp(-(2.5 - r0) * (2.5 - r0) / 0.81) * fc / r0;
                Assert.Equal(Math.Asinh(0.1 + fs * fs), set.Values[l * 3 + q], 12);
            }
        DescriptorTestKit.AssertUnknownElementIsReported(Features("Si"), "Si", "O");
    }
}
