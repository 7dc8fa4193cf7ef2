using Mlip.Descriptors.Ace;
using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Tests.Support;
using Xunit;

namespace Mlip.Tests.Descriptors;

/// <summary>
/// The contraction of ACE's per-pair gradients into forces and virial (<see cref="AceDensities.Contract"/>): on a list built
/// with its reverse pairs (the MD Verlet list) each atom gathers its force in parallel blocks; on a freshly built list the
/// serial scatter in pair order runs. Both give the same forces and stress to round-off, and the gather gives the same bits on
/// 1 and 2 threads.
/// </summary>
public class AceContractionTests
{
    [Fact]
    public void GatherThroughReversePairsEqualsTheScatterAndIsTheSameOnAnyThreadCount()
    {
        // 500 atoms: two gather blocks of 256 and 32 blocks of 16, so both threads have blocks of their own
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Cu", 3.615), 5, 5, 5), 0.1, 11);
        var fresh = NeighborList.Build(s, 5.0);
        Assert.False(fresh.ReverseGiven);
        var withReverse = NeighborList.FromArrays(fresh.Cutoff, fresh.AtomCount, fresh.PairCount, fresh.Offsets.ToArray(), fresh.Centers.ToArray(),
            fresh.Neighbors.ToArray(), fresh.Shifts.ToArray(), fresh.Vectors.ToArray(), fresh.Distances.ToArray(), fresh.Reverse.ToArray());
        Assert.True(withReverse.ReverseGiven);
        var rng = new Random(5);
        var g = new Vec3[fresh.PairCount + 7]; // a pooled buffer can be longer than the list
        for (int p = 0; p < g.Length; p++) g[p] = new Vec3(rng.NextDouble() - 0.5, rng.NextDouble() - 0.5, rng.NextDouble() - 0.5);

        var (fs, ss) = AceDensities.Contract(s, fresh, g, fresh.PairCount);
        (Vec3[] F, Mlip.Structures.Stress? S) Gather(int threads)
        {
            using var limit = Mlip.Validation.MlipParallel.LimitThreads(threads);
            return AceDensities.Contract(s, withReverse, g, withReverse.PairCount);
        }
        var one = Gather(1);
        var two = Gather(2);
        Assert.Equal(one.F, two.F);
        Assert.Equal(one.S, two.S);
        double worst = 0;
        for (int i = 0; i < s.Count; i++) worst = Math.Max(worst, (one.F[i] - fs[i]).Norm);
        Assert.True(worst < 1e-12, $"gathered forces differ from the scatter by {worst:E2}");
        Assert.NotNull(ss);
        Assert.NotNull(one.S);
        var a = ss!.Value; var b = one.S!.Value;
        foreach (var (x, y) in new[] { (a.Xx, b.Xx), (a.Yy, b.Yy), (a.Zz, b.Zz), (a.Yz, b.Yz), (a.Xz, b.Xz), (a.Xy, b.Xy) })
            Assert.True(Math.Abs(x - y) <= 1e-12 * (1 + Math.Abs(x)), $"stress {x} against {y}");
    }
}
