using Mlip.Neighbors;
using Mlip.Structures;

namespace Mlip.Tests.Neighbors;

public class NeighborListTests
{
    /// <summary>All pairs by looping over enough periodic images: the reference the cell list must equal.</summary>
    internal static SortedSet<(int i, int j, int sa, int sb, int sc)> BruteForce(
        Matrix3 cell, Vec3[] pos, PeriodicFlags pbc, double rc, Dictionary<(int, int, int, int, int), Vec3>? vectors = null)
    {
        var set = new SortedSet<(int, int, int, int, int)>();
        var range = new int[3];
        Vec3 heights = pbc.Any ? CellGeometry.Heights(cell) : new Vec3(1, 1, 1);
        Vec3[] frac = pbc.Any ? new Structure(cell, pos, Fill(pos.Length), pbc).FractionalPositions() : pos;
        for (int k = 0; k < 3; k++)
        {
            if (!pbc[k]) { range[k] = 0; continue; }
            double mn = double.MaxValue, mx = double.MinValue;
            foreach (var f in frac) { mn = Math.Min(mn, f[k]); mx = Math.Max(mx, f[k]); }
            range[k] = (int)Math.Ceiling(rc / heights[k]) + (int)Math.Ceiling(mx - mn) + 1;
        }
        double rc2 = rc * rc;
        for (int i = 0; i < pos.Length; i++)
            for (int j = 0; j < pos.Length; j++)
                for (int sa = -range[0]; sa <= range[0]; sa++)
                    for (int sb = -range[1]; sb <= range[1]; sb++)
                        for (int sc = -range[2]; sc <= range[2]; sc++)
                        {
                            if (i == j && sa == 0 && sb == 0 && sc == 0) continue;
                            var v = NeighborList.PairVector(pos[i], pos[j], cell, sa, sb, sc);
                            if (v.NormSquared < rc2)
                            {
                                set.Add((i, j, sa, sb, sc));
                                if (vectors is not null) vectors[(i, j, sa, sb, sc)] = v;
                            }
                        }
        return set;
    }

    private static int[] Fill(int n)
    {
        var z = new int[n];
        Array.Fill(z, 14);
        return z;
    }

    internal static SortedSet<(int i, int j, int sa, int sb, int sc)> AsSet(NeighborList nl)
    {
        var set = new SortedSet<(int, int, int, int, int)>();
        for (int p = 0; p < nl.PairCount; p++)
            Assert.True(set.Add((nl.Centers[p], nl.Neighbors[p], nl.Shifts[3 * p], nl.Shifts[3 * p + 1], nl.Shifts[3 * p + 2])),
                "a pair is listed twice");
        return set;
    }

    /// <summary>A random cell: lengths 1..8 Å, any angles, skew limited only by a minimum volume ratio.</summary>
    private static Matrix3 RandomCell(Random rng, bool verySkewed)
    {
        while (true)
        {
            Vec3 V() => new(rng.NextDouble() * 2 - 1, rng.NextDouble() * 2 - 1, rng.NextDouble() * 2 - 1);
            var a = V(); var b = V(); var c = V();
            if (a.Norm < 0.1 || b.Norm < 0.1 || c.Norm < 0.1) continue;
            a = (1 + 7 * rng.NextDouble()) / a.Norm * a;
            b = (1 + 7 * rng.NextDouble()) / b.Norm * b;
            c = (1 + 7 * rng.NextDouble()) / c.Norm * c;
            if (verySkewed) b = a + 0.15 * b; // b nearly parallel to a
            var m = Matrix3.FromRows(a, b, c);
            double ratio = Math.Abs(m.Determinant) / (a.Norm * b.Norm * c.Norm);
            if (ratio > (verySkewed ? 0.02 : 0.1)) return m;
        }
    }

    [Fact]
    public void EqualsBruteForceOnRandomTriclinicCells()
    {
        int checkedCells = 0, withLargeCutoff = 0, withNonPeriodic = 0, tiny = 0;
        for (int seed = 0; seed < 240; seed++)
        {
            var rng = new Random(seed);
            bool skew = seed % 5 == 0;
            var cell = RandomCell(rng, skew);
            if (seed % 7 == 0) cell = 0.3 * cell; // tiny cells (sub-Å to a few Å)
            var pbc = new PeriodicFlags(seed % 8 != 1 && seed % 8 != 4, seed % 8 != 2 && seed % 8 != 4, seed % 8 != 3 && seed % 8 != 5);
            int n = 1 + rng.Next(12);
            var pos = new Vec3[n];
            for (int i = 0; i < n; i++)
                pos[i] = new Vec3(rng.NextDouble() * 2 - 0.5, rng.NextDouble() * 2 - 0.5, rng.NextDouble() * 2 - 0.5) * cell;
            var h = CellGeometry.Heights(cell);
            double hmin = Math.Min(h.X, Math.Min(h.Y, h.Z));
            // cutoffs from a fraction of the shortest height up to 3x it
            double rc = hmin * (0.2 + 2.8 * rng.NextDouble());
            if (seed % 4 == 0) rc = 3.0 * hmin;

            var vectors = new Dictionary<(int, int, int, int, int), Vec3>();
            var expected = BruteForce(cell, pos, pbc, rc, vectors);
            var nl = NeighborList.Build(cell, pos, pbc, rc);
            var actual = AsSet(nl);
            Assert.True(expected.SetEquals(actual),
                $"seed {seed}: brute force {expected.Count} pairs, cell list {actual.Count} (pbc {pbc}, rc {rc}, n {n})");
            for (int p = 0; p < nl.PairCount; p++)
            {
                var key = (nl.Centers[p], nl.Neighbors[p], nl.Shifts[3 * p], nl.Shifts[3 * p + 1], nl.Shifts[3 * p + 2]);
                Assert.Equal(vectors[key], nl.Vectors[p]);
                Assert.Equal(nl.Vectors[p].Norm, nl.Distances[p], 12);
            }
            checkedCells++;
            if (rc >= 2.9 * hmin) withLargeCutoff++;
            if (!pbc.AllPeriodic) withNonPeriodic++;
            if (seed % 7 == 0) tiny++;
        }
        Assert.True(checkedCells >= 200);
        Assert.True(withLargeCutoff >= 50);
        Assert.True(withNonPeriodic >= 60);
        Assert.True(tiny >= 30);
    }

    /// <summary>
    /// A cell of more than one build block (512 atoms) is built in parallel blocks and copied into place: the list equals brute
    /// force, and its arrays are the same bits on 1, 2 and 3 threads (the rows are those of the serial loop, in its order).
    /// </summary>
    [Fact]
    public void ParallelBuildOfALargeCellEqualsBruteForceOnAnyThreadCount()
    {
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 4, 4, 9), 0.1, 3);
        Assert.True(s.Count > 1024);
        const double rc = 4.0; // below half of every height (21.7, 21.7, 48.9 Å): the 27 nearest images hold every pair
        var expected = new SortedSet<(int, int, int, int, int)>();
        var pos = s.Positions;
        for (int i = 0; i < s.Count; i++)
            for (int j = 0; j < s.Count; j++)
                for (int sa = -1; sa <= 1; sa++)
                    for (int sb = -1; sb <= 1; sb++)
                        for (int sc = -1; sc <= 1; sc++)
                            if ((i != j || sa != 0 || sb != 0 || sc != 0) && NeighborList.PairVector(pos[i], pos[j], s.Cell, sa, sb, sc).NormSquared < rc * rc)
                                expected.Add((i, j, sa, sb, sc));
        NeighborList? reference = null;
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var limit = Mlip.Validation.MlipParallel.LimitThreads(threads);
            var nl = NeighborList.Build(s, rc);
            Assert.True(expected.SetEquals(AsSet(nl)), $"{threads} threads: {nl.PairCount} pairs, brute force {expected.Count}");
            if (reference is null) { reference = nl; continue; }
            Assert.Equal(reference.Offsets.ToArray(), nl.Offsets.ToArray());
            Assert.Equal(reference.Neighbors.ToArray(), nl.Neighbors.ToArray());
            Assert.Equal(reference.Centers.ToArray(), nl.Centers.ToArray());
            Assert.Equal(reference.Shifts.ToArray(), nl.Shifts.ToArray());
            Assert.Equal(reference.Vectors.ToArray(), nl.Vectors.ToArray());
            Assert.Equal(reference.Distances.ToArray(), nl.Distances.ToArray());
            Assert.Equal(reference.Reverse.ToArray(), nl.Reverse.ToArray());
        }
    }

    [Fact]
    public void MoleculeWithoutCell()
    {
        var rng = new Random(3);
        var pos = new Vec3[30];
        for (int i = 0; i < pos.Length; i++) pos[i] = new Vec3(rng.NextDouble() * 12, rng.NextDouble() * 6, rng.NextDouble() * 3);
        var expected = BruteForce(Matrix3.Zero, pos, PeriodicFlags.None, 2.5);
        var nl = NeighborList.Build(Matrix3.Zero, pos, PeriodicFlags.None, 2.5);
        Assert.True(expected.SetEquals(AsSet(nl)));
        Assert.NotEmpty(expected);
    }

    [Fact]
    public void SlabWithZeroVectorAlongVacuum()
    {
        // periodic in a, b; c is zero and atoms spread along z
        var cell = new Matrix3(3.1, 0, 0, 1.2, 2.9, 0, 0, 0, 0);
        var rng = new Random(11);
        var pos = new Vec3[15];
        for (int i = 0; i < pos.Length; i++) pos[i] = new Vec3(rng.NextDouble() * 3, rng.NextDouble() * 3, rng.NextDouble() * 10);
        var pbc = new PeriodicFlags(true, true, false);
        var nl = NeighborList.Build(cell, pos, pbc, 4.0);
        // brute force with a stand-in c vector (any, since c is not periodic)
        var standIn = new Matrix3(3.1, 0, 0, 1.2, 2.9, 0, 0, 0, 1);
        var expected = BruteForce(standIn, pos, pbc, 4.0);
        Assert.True(expected.SetEquals(AsSet(nl)));
    }

    [Fact]
    public void DiamondSiliconHasFourNearestNeighbours()
    {
        var s = Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 2, 2);
        var nl = NeighborList.Build(s, 2.6);
        double bond = 5.431 * Math.Sqrt(3) / 4;
        for (int i = 0; i < s.Count; i++)
        {
            Assert.Equal(4, nl.NeighborCount(i));
            foreach (int p in nl.PairRange(i)) Assert.Equal(bond, nl.Distances[p], 10);
        }
        // second shell: 12 more at a/sqrt(2)
        var nl2 = NeighborList.Build(s, 4.0);
        for (int i = 0; i < s.Count; i++) Assert.Equal(16, nl2.NeighborCount(i));
    }

    [Fact]
    public void OneAtomCellSeesItsOwnImages()
    {
        var s = Crystals.SimpleCubic("Po", 2.0);
        var nl = NeighborList.Build(s, 2.1);
        Assert.Equal(6, nl.PairCount); // the six face neighbours are images of atom 0
        for (int p = 0; p < nl.PairCount; p++) Assert.Equal(0, nl.Neighbors[p]);
        var far = NeighborList.Build(s, 6.0 + 1e-9);
        // all lattice points within 3 lattice constants (|n|^2 <= 9), minus the origin
        int count = 0;
        for (int a = -3; a <= 3; a++) for (int b = -3; b <= 3; b++) for (int c = -3; c <= 3; c++)
                    if (a * a + b * b + c * c <= 9 && (a, b, c) != (0, 0, 0)) count++;
        Assert.Equal(count, far.PairCount);
    }

    [Fact]
    public void ListIsSymmetricAndTranslationInvariant()
    {
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 1, 1), 0.2, 5);
        s.Cell = new Matrix3(10.862, 0, 0, 1.3, 5.431, 0, -0.7, 0.4, 5.431);
        var nl = NeighborList.Build(s, 4.5);
        var set = AsSet(nl);
        foreach (var (i, j, a, b, c) in set) Assert.Contains((j, i, -a, -b, -c), set);

        var moved = s.Clone();
        var shift = new Vec3(0.37, -2.2, 13.1);
        for (int i = 0; i < moved.Count; i++) moved.Positions[i] += shift;
        var nl2 = NeighborList.Build(moved, 4.5);
        Assert.Equal(nl.PairCount, nl2.PairCount);
        var d1 = nl.Distances.ToArray(); Array.Sort(d1);
        var d2 = nl2.Distances.ToArray(); Array.Sort(d2);
        for (int k = 0; k < d1.Length; k++) Assert.Equal(d1[k], d2[k], 9);
    }

    [Fact]
    public void RejectsBadCutoff()
    {
        var s = Crystals.Diamond("Si", 5.431);
        Assert.Throws<ArgumentOutOfRangeException>(() => NeighborList.Build(s, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => NeighborList.Build(s, double.NaN));
    }
}
