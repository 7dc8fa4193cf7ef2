using Mlip.Calculators;
using Mlip.Neighbors;
using Mlip.Simulation;
using Mlip.Structures;

namespace Mlip.Tests.Simulation;

public sealed class VerletListTests
{
    private static (MdState State, StillingerWeber Sw) Run(double skin, int steps)
    {
        var sw = StillingerWeber.Silicon();
        sw.NeighborSkin = skin;
        var state = new MdState(Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 3, 3, 3), 0.05, 5));
        MaxwellBoltzmann.Initialize(state, 1500, seed: 11);
        new MolecularDynamics(new VelocityVerlet(sw, 1.0), state).Run(steps);
        return (state, sw);
    }

    [Fact]
    public void MdWithReusedListFollowsTheSameTrajectory()
    {
        var (fresh, _) = Run(0, 150);
        var (reused, sw) = Run(0.3, 150);
        Assert.InRange(sw.NeighborListBuilds, 2, 100); // rebuilt some steps, reused on most
        for (int i = 0; i < fresh.Count; i++)
        {
            Assert.True((fresh.Positions[i] - reused.Positions[i]).Norm < 1e-10, $"position {i}");
            Assert.True((fresh.Velocities[i] - reused.Velocities[i]).Norm < 1e-10, $"velocity {i}");
            Assert.True((fresh.Forces[i] - reused.Forces[i]).Norm < 1e-10, $"force {i}");
        }
        Assert.Equal(fresh.PotentialEnergy, reused.PotentialEnergy, 10);
        var a = fresh.Stress!.Value; var b = reused.Stress!.Value;
        Assert.Equal(a.Xx, b.Xx, 8); Assert.Equal(a.Yz, b.Yz, 8);
    }

    [Fact]
    public void ReusedListHasTheSamePairsAsAFreshBuild()
    {
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 2, 2), 0.1, 3);
        var v = new VerletList(3.77, 1.0);
        v.Get(s);
        var moved = Crystals.Rattle(s, 0.2, 4); // ≤ 0.2·√3 < skin/2
        var a = v.Get(moved);
        var b = NeighborList.Build(moved, 3.77);
        Assert.Equal(1, v.Builds);
        Assert.Equal(b.PairCount, a.PairCount);
        var pa = Enumerable.Range(0, a.PairCount).Select(p => (a.Centers[p], a.Neighbors[p], a.Shifts[3 * p], a.Shifts[3 * p + 1], a.Shifts[3 * p + 2], a.Vectors[p])).OrderBy(x => x.ToString()).ToList();
        var pb = Enumerable.Range(0, b.PairCount).Select(p => (b.Centers[p], b.Neighbors[p], b.Shifts[3 * p], b.Shifts[3 * p + 1], b.Shifts[3 * p + 2], b.Vectors[p])).OrderBy(x => x.ToString()).ToList();
        Assert.Equal(pb, pa); // vectors bit for bit
    }
}
