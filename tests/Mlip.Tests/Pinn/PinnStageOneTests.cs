using Mlip.Calculators;
using Mlip.Models;
using Mlip.Descriptors;
using Mlip.Structures;
using Mlip.Training;
using Mlip.Validation;
using Mlip.Tests.Support;

namespace Mlip.Tests.Pinn;

/// <summary>
/// Stage 1 of the PINN fit with its own stress weight (bop_stress) and with every group weighed equally (bop_group_weights:
/// equal): the weighted loss equals the plain loss of a set in which the smaller group's structure is repeated so the groups are
/// equal in size, its gradient equals finite differences, bop_stress changes stage 1 only (docs/pinn.md).
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class PinnStageOneTests
{
    private static PinnOptions Options => PinnTrainerTests.Options;

    /// <summary>Three strained, rattled 8-atom diamond cells labelled with Stillinger–Weber, the first in group "A", the others in "B".</summary>
    private static (List<Structure> Structures, IDescriptor Features) Cells()
    {
        var list = PinnTrainerTests.SwLabelled(q =>
            Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.3 + 0.12 * q), Matrix3.Diagonal(0.02 * q, -0.015, 0.01)), 0.1, q + 4));
        for (int q = 0; q < 3; q++) list[q].Group = q == 0 ? "A" : "B";
        return (list, PinnTrainerTests.SmallPinnFeatures());
    }

    private static TrainingSet Set(IReadOnlyList<Structure> s, IDescriptor d) => TrainingSet.Compute(d, s, derivatives: true, threads: 1, neighborCutoff: 6.0);

    [Fact]
    public void GroupWeightsGiveEachGroupTheSameShare()
    {
        var (cells, _) = Cells();
        var four = new List<Structure> { cells[0], cells[1], cells[2], cells[1].Clone() };
        four[3].Forces = null; // a structure without forces counts in the energy and stress terms only
        var w = GroupWeights.Of(four);
        // energy: 4 structures in 2 groups, A holds 1 and B 3; forces: 24 components of A, 48 of B (of 72); stress: 6 and 18 of 24
        Assert.Equal(4.0 / (2 * 1), w["A"].Energy, 12);
        Assert.Equal(4.0 / (2 * 3), w["B"].Energy, 12);
        Assert.Equal(72.0 / (2 * 24), w["A"].Force, 12);
        Assert.Equal(72.0 / (2 * 48), w["B"].Force, 12);
        Assert.Equal(24.0 / (2 * 6), w["A"].Stress, 12);
        Assert.Equal(24.0 / (2 * 18), w["B"].Stress, 12);
    }

    [Fact]
    public void EqualGroupWeightsEqualRepeatingTheSmallerGroupAndTheGradientIsExact()
    {
        var (cells, d) = Cells();
        // weighed: A (1 structure) and B (2) each half of every term; repeated: A twice, B twice, no weights
        var weighed = new PinnTrainer(Set(cells, d), Options with { BopGroupsEqual = true }, d);
        var repeated = new PinnTrainer(Set([cells[0], cells[0].Clone(), cells[1], cells[2]], d), Options, d);
        var plain = new PinnTrainer(Set(cells, d), Options, d);
        var x = weighed.InitialParameters();
        var rng = new Random(9);
        for (int q = 8; q < x.Length; q++) x[q] += 0.05 * (2 * rng.NextDouble() - 1);
        var g = new double[x.Length]; var gr = new double[x.Length]; var gp = new double[x.Length];
        double lw = weighed.LossAndGradient(x, g, 1), lr = repeated.LossAndGradient(x, gr, 1), lp = plain.LossAndGradient(x, gp, 1);
        Assert.True(Math.Abs(lw - lr) <= 1e-12 * lr, $"weighed {lw} vs repeated {lr}");
        Assert.True(Math.Abs(lw - lp) > 1e-3 * lp, $"the weights change nothing: {lw} vs {lp}");
        for (int q = 0; q < 8; q++) Assert.True(Math.Abs(g[q] - gr[q]) <= 1e-10 * Math.Max(1e-3, Math.Abs(gr[q])), $"parameter {q}: {g[q]} vs {gr[q]}");
        // stage 2 is not weighed
        Assert.Equal(plain.LossAndGradient(x, gp, 2), weighed.LossAndGradient(x, g, 2), 14);
        // the weighed stage-1 gradient equals finite differences
        lw = weighed.LossAndGradient(x, g, 1);
        AssertGradientIsFiniteDifferences((p, tmp) => weighed.LossAndGradient(p, tmp, 1), x, g, lw, Enumerable.Range(0, 8));
    }

    [Fact]
    public void BopStressActsInStageOneOnly()
    {
        var (cells, d) = Cells();
        var noStress = Options with { Weights = Options.Weights with { Stress = 0 } };
        var withBop = new PinnTrainer(Set(cells, d), noStress with { BopStress = 0.5 }, d);
        var stageOneRef = new PinnTrainer(Set(cells, d), Options with { Weights = Options.Weights with { Stress = 0.5 } }, d);
        var stageTwoRef = new PinnTrainer(Set(cells, d), noStress, d);
        var x = withBop.InitialParameters();
        var g = new double[x.Length]; var gRef = new double[x.Length];
        double l1 = withBop.LossAndGradient(x, g, 1), r1 = stageOneRef.LossAndGradient(x, gRef, 1);
        Assert.True(Math.Abs(l1 - r1) <= 1e-13 * r1, $"stage 1: {l1} vs {r1}");
        Assert.True(Math.Abs(l1 - stageTwoRef.LossAndGradient(x, gRef, 1)) > 1e-3 * l1, "bop_stress changed nothing in stage 1");
        Assert.Equal(stageTwoRef.LossAndGradient(x, gRef, 2), withBop.LossAndGradient(x, g, 2), 14);
        Assert.Throws<MlipException>(() => new PinnTrainer(Set(cells, d), Options with { BopStress = double.NaN }, d));
    }

    /// <summary>
    /// The energy-response term (response_penalty): the torch loss with it minus the loss without it equals
    /// τ_r · mean over the copies of ((E(copy) − E(cell)) − (E0(copy) − E0(cell)))²/N² computed with the managed PinnModel and the
    /// plain BOP (networks zero) on the same distorted copies, and the loss's gradient equals finite differences.
    /// </summary>
    [Fact]
    public void EnergyResponseTermEqualsTheManagedModelAndItsGradientIsExact()
    {
        var (cells, d) = Cells();
        var set = Set(cells, d);
        var o = Options with { ResponsePenalty = 50.0, UnlabelledCopies = 2, UnlabelledStrain = 0.08, UnlabelledVolume = 0.06 };
        var t = new PinnTrainer(set, o, d);
        var without = new PinnTrainer(set, Options, d);
        var x = t.InitialParameters();
        var rng = new Random(11);
        for (int q = 8; q < x.Length; q++) x[q] += 0.1 * (2 * rng.NextDouble() - 1);
        var g = new double[x.Length];
        double term = t.LossAndGradient(x, g, 2) - without.LossAndGradient(x, new double[x.Length], 2);

        var pinn = new Potential(d, t.ToModel(x), new DescriptorSpec(d.Name, new Dictionary<string, string>()));
        var x0 = (double[])x.Clone();
        Array.Clear(x0, 8, x0.Length - 8);
        var bop = new Potential(d, t.ToModel(x0), new DescriptorSpec(d.Name, new Dictionary<string, string>()));
        var copies = DistortedCopies.Make(cells, [0, 1, 2], o.UnlabelledCopies, o.UnlabelledStrain, o.UnlabelledVolume, o.Seed);
        double managed = 0;
        for (int q = 0; q < copies.Length; q++)
        {
            var cell = cells[q / o.UnlabelledCopies];
            double r = (pinn.Calculate(copies[q]).Energy - pinn.Calculate(cell).Energy - (bop.Calculate(copies[q]).Energy - bop.Calculate(cell).Energy)) / cell.Count;
            managed += r * r;
        }
        managed *= o.ResponsePenalty / copies.Length;
        Assert.True(managed > 1e-3 * without.LossAndGradient(x, new double[x.Length], 2), $"the term is negligible here ({managed}): the test would not see it");
        Assert.True(Math.Abs(term - managed) <= 1e-8 * managed, $"torch term {term} vs managed {managed}");

        double loss = t.LossAndGradient(x, g, 2);
        AssertGradientIsFiniteDifferences((p, tmp) => t.LossAndGradient(p, tmp, 2), x, g, loss, [8, 20, x.Length - 9, x.Length - 1]);
        Assert.Throws<MlipException>(() => new PinnTrainer(set, Options with { ResponsePenalty = -1 }, d));
    }

    /// <summary>Central differences of <paramref name="lossOf"/> at <paramref name="x"/> along the parameters <paramref name="qs"/> equal the gradient <paramref name="g"/> (relative 1e-5; x is restored).</summary>
    private static void AssertGradientIsFiniteDifferences(Func<double[], double[], double> lossOf, double[] x, double[] g, double loss, IEnumerable<int> qs)
    {
        var tmp = new double[x.Length];
        foreach (int q in qs)
        {
            double h = 1e-6 * Math.Max(1, Math.Abs(x[q])), keep = x[q];
            x[q] = keep + h; double lp = lossOf(x, tmp);
            x[q] = keep - h; double lm = lossOf(x, tmp);
            x[q] = keep;
            double fd = (lp - lm) / (2 * h);
            Assert.True(Math.Abs(fd - g[q]) <= 1e-5 * Math.Max(Math.Abs(fd), 1e-3 * loss), $"parameter {q}: gradient {g[q]} vs finite difference {fd}");
        }
    }
}
