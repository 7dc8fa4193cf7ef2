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

    /// <summary>A linear SNAP-like potential on SO(4) (the fused pass) with a reused list follows the trajectory of fresh builds.</summary>
    [Fact]
    public void So4PotentialWithReusedListFollowsTheSameTrajectory()
    {
        var d = new Mlip.Descriptors.BispectrumSo4(new Mlip.Descriptors.So4Parameters { TwoJMax = 4, RcutFac = 4.0 });
        var rng = new Random(3);
        double[] coefficients = [.. Enumerable.Range(0, 1 + d.FeatureCount).Select(q => q == 0 ? -4.0 : 0.05 * (rng.NextDouble() - 0.5))];
        (MdState State, Mlip.Models.Potential P) Md(double skin)
        {
            var p = new Mlip.Models.Potential(d, new Mlip.Models.PolynomialModel(1, [14], d.FeatureCount, [coefficients]),
                new Mlip.Models.DescriptorSpec("so4", new Dictionary<string, string>())) { NeighborSkin = skin };
            var state = new MdState(Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 2, 2), 0.05, 5));
            MaxwellBoltzmann.Initialize(state, 3000, seed: 11);
            new MolecularDynamics(new VelocityVerlet(p, 1.0), state).Run(40);
            return (state, p);
        }
        var (fresh, _) = Md(0);
        var (reused, potential) = Md(0.3);
        Assert.InRange(potential.NeighborListBuilds, 2, 39); // rebuilt some steps, reused on most
        Assert.True(fresh.Forces.Max(f => f.Norm) > 1e-2);
        for (int i = 0; i < fresh.Count; i++)
        {
            Assert.True((fresh.Positions[i] - reused.Positions[i]).Norm < 1e-10, $"position {i}");
            Assert.True((fresh.Forces[i] - reused.Forces[i]).Norm < 1e-9, $"force {i}");
        }
        Assert.Equal(fresh.PotentialEnergy, reused.PotentialEnergy, 9);
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

    /// <summary>
    /// The displacement test runs inside the parallel filter pass: one atom of the last block moved just under skin/2 keeps
    /// the wide list, just over it rebuilds it (then the list is a fresh build's pairs), on 1 and 2 threads; the span overload
    /// (positions copied) gives the same list as the structure's.
    /// </summary>
    [Fact]
    public void AtomMovedPastHalfTheSkinInAnyBlockRebuildsTheList()
    {
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 5, 5, 5), 0.05, 3);
        Assert.True(s.Count > 3 * 256);
        Structure Moved(double dx)
        {
            var m = s.Clone();
            m.Positions[s.Count - 3] += new Vec3(dx, 0, 0);
            return m;
        }
        foreach (int threads in new[] { 1, 2 })
        {
            using var limit = Mlip.Validation.MlipParallel.LimitThreads(threads);
            var v = new VerletList(3.77, 1.0);
            v.Get(s);
            Assert.Equal(1, v.Builds);
            v.Get(Moved(0.499));
            Assert.Equal(1, v.Builds);
            var moved = Moved(0.501);
            var a = v.Get(moved);
            Assert.Equal(2, v.Builds);
            var b = NeighborList.Build(moved, 3.77);
            Assert.Equal(b.PairCount, a.PairCount);
            var pa = Enumerable.Range(0, a.PairCount).Select(p => (a.Centers[p], a.Neighbors[p], a.Vectors[p])).OrderBy(x => x.ToString()).ToList();
            var pb = Enumerable.Range(0, b.PairCount).Select(p => (b.Centers[p], b.Neighbors[p], b.Vectors[p])).OrderBy(x => x.ToString()).ToList();
            Assert.Equal(pb, pa);
            var again = Moved(0.3);
            var fromStructure = v.Get(again);
            var (offsets, neighbors, vectors) = (fromStructure.Offsets.ToArray(), fromStructure.Neighbors.ToArray(), fromStructure.Vectors.ToArray());
            var fromSpan = v.Get(again.Cell, again.Positions.AsSpan(), again.Pbc);
            Assert.Equal(2, v.Builds);
            Assert.Equal(offsets, fromSpan.Offsets.ToArray());
            Assert.Equal(neighbors, fromSpan.Neighbors.ToArray());
            Assert.Equal(vectors, fromSpan.Vectors.ToArray());
        }
    }

    /// <summary>
    /// The reverse-pair index that the classical force gather reads: for every pair (i, j, S) of a fresh list and of a
    /// reused list (a cell small enough that atoms meet their own images), Reverse names (j, i, −S), with the exact negative
    /// vector and the same distance, and Reverse[Reverse[p]] = p. The reused list (built in parallel blocks of atoms) is the
    /// same on 1 and 2 threads.
    /// </summary>
    [Fact]
    public void ReverseIndexNamesTheOtherEndOfEveryPair()
    {
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 1, 1, 2), 0.1, 3);
        var lists = new List<NeighborList> { NeighborList.Build(s, 6.0) };
        var v = new VerletList(6.0, 1.0);
        v.Get(s);
        var moved = Crystals.Rattle(s, 0.2, 4);
        lists.Add(v.Get(moved));
        foreach (var nl in lists)
        {
            Assert.True(nl.PairCount > 16 * 2 * s.Count);
            AssertReverseIndex(nl);
        }
        var big = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 5, 5, 5), 0.1, 3);
        NeighborList Reused(int threads)
        {
            using var limit = Mlip.Validation.MlipParallel.LimitThreads(threads);
            var list = new VerletList(3.77, 1.0);
            list.Get(big);
            return list.Get(Crystals.Rattle(big, 0.2, 4));
        }
        var one = Reused(1); var two = Reused(2);
        Assert.True(one.AtomCount > 2 * 256);
        Assert.Equal(one.Offsets.ToArray(), two.Offsets.ToArray());
        Assert.Equal(one.Neighbors.ToArray(), two.Neighbors.ToArray());
        Assert.Equal(one.Vectors.ToArray(), two.Vectors.ToArray());
        Assert.Equal(one.Reverse.ToArray(), two.Reverse.ToArray());
    }

    /// <summary>
    /// The reverse index of a list of many atoms: short rows (3.77 Å in Si, 16 pairs per atom: the parallel row scan) and
    /// long rows (6.5 Å, ~90 per atom: the counting sort) both name the other end of every pair, and the row scan gives the
    /// same index on 1 and 2 threads.
    /// </summary>
    [Fact]
    public void ReverseIndexOfManyAtomsByRowScanAndBySort()
    {
        var big = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 5, 5, 5), 0.1, 3);
        foreach (double cutoff in new[] { 3.77, 6.5 })
        {
            int[] Index(int threads)
            {
                using var limit = Mlip.Validation.MlipParallel.LimitThreads(threads);
                var nl = NeighborList.Build(big, cutoff);
                AssertReverseIndex(nl);
                return nl.Reverse.ToArray();
            }
            Assert.Equal(Index(1), Index(2));
        }
    }

    /// <summary>MD asks a classical potential to write its forces into the state's array (IForceWriter): the same bits as Calculate's result.</summary>
    [Fact]
    public void ForcesWrittenInPlaceEqualTheCalculatorResult()
    {
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 3, 3, 3), 0.1, 8);
        var sw = StillingerWeber.Silicon();
        var r = sw.Calculate(s);
        var state = new MdState(s);
        state.ComputeForces(sw);
        Assert.Equal(r.Forces, state.Forces);
        Assert.Equal(r.Energy, state.PotentialEnergy);
        Assert.Equal(r.Stress, state.Stress);
    }
    /// <summary>Every pair's reverse names the other end: the reverse of the reverse, swapped atoms, opposite image shift and vector, same distance.</summary>
    private static void AssertReverseIndex(NeighborList nl)
    {
        var rev = nl.Reverse;
        for (int p = 0; p < nl.PairCount; p++)
        {
            int q = rev[p];
            Assert.Equal(p, rev[q]);
            Assert.Equal((nl.Centers[p], nl.Neighbors[p]), (nl.Neighbors[q], nl.Centers[q]));
            Assert.Equal((-nl.Shifts[3 * p], -nl.Shifts[3 * p + 1], -nl.Shifts[3 * p + 2]), (nl.Shifts[3 * q], nl.Shifts[3 * q + 1], nl.Shifts[3 * q + 2]));
            Assert.Equal(-nl.Vectors[p], nl.Vectors[q]);
            Assert.Equal(nl.Distances[p], nl.Distances[q]);
        }
    }
}
