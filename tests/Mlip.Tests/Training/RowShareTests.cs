using Mlip.Structures;
using Mlip.Training.Streaming;

namespace Mlip.Tests.Training;

/// <summary>
/// The split of the rows of an MPI fit over the ranks (<see cref="StreamingLinearFit.CostShare"/>): contiguous ranges that cover every
/// structure once, each near 1/R of the estimated cost (half atoms, half pairs within the cut-off), structures of weight 0 free.
/// </summary>
public sealed class RowShareTests
{
    private static Structure Cell(int atoms, double weight = 1) =>
        new(Matrix3.Diagonal(10, 10, 10), [.. Enumerable.Range(0, atoms).Select(i => new Vec3(i, 0, 0))], [.. Enumerable.Repeat(14, atoms)], PeriodicFlags.All) { Weight = weight };

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    public void Shares_are_contiguous_cover_every_structure_and_balance_the_estimated_cost(int ranks)
    {
        // like mlearn Si: the later structures are larger and have more neighbours per atom
        var random = new Random(3);
        var structures = Enumerable.Range(0, 200).Select(s => Cell(8 + random.Next(0, 1 + s / 2), weight: s % 37 == 5 ? 0 : 1)).ToList();
        var pairs = structures.Select((st, s) => (double)st.Count * (20 + s / 10)).ToArray();
        double atoms = structures.Where(s => s.Weight != 0).Sum(s => s.Count), allPairs = structures.Select((st, s) => st.Weight != 0 ? pairs[s] : 0).Sum();
        double Cost(int s) => structures[s].Weight == 0 ? 0 : structures[s].Count / atoms + pairs[s] / allPairs;
        double largest = Enumerable.Range(0, structures.Count).Max(Cost), total = Enumerable.Range(0, structures.Count).Sum(Cost);

        int next = 0;
        for (int r = 0; r < ranks; r++)
        {
            var (start, end) = StreamingLinearFit.CostShare(structures, pairs, r, ranks);
            Assert.Equal(next, start);
            Assert.True(end >= start);
            next = end;
            double cost = Enumerable.Range(start, end - start).Sum(Cost);
            // each rank's cost is within one structure's cost of the ideal share (an equal count of structures is far off here)
            Assert.True(Math.Abs(cost - total / ranks) <= largest, $"rank {r}: cost {cost:G4}, ideal {total / ranks:G4}, largest structure {largest:G4}");
            Assert.Equal((start, end), StreamingLinearFit.CostShare(structures, pairs, r, ranks));
        }
        Assert.Equal(structures.Count, next);
        var (firstStart, firstEnd) = Mlip.Distributed.Collectives.Share(structures.Count, ranks - 1, ranks);
        double equalCount = Enumerable.Range(firstStart, firstEnd - firstStart).Sum(Cost);
        Assert.True(equalCount > 1.2 * total / ranks, "the test data should make an equal count of structures unbalanced");
    }

    [Fact]
    public void More_ranks_than_structures_leave_some_ranks_empty()
    {
        var structures = new[] { Cell(4), Cell(6) };
        double[] pairs = [40, 60];
        var shares = Enumerable.Range(0, 5).Select(r => StreamingLinearFit.CostShare(structures, pairs, r, 5)).ToList();
        Assert.Equal(0, shares[0].Start);
        Assert.Equal(2, shares[^1].End);
        Assert.Equal(2, shares.Sum(s => s.End - s.Start));
        Assert.Throws<ArgumentException>(() => StreamingLinearFit.CostShare(structures, [1.0], 0, 2));
    }
}
