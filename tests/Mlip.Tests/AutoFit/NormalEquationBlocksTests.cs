using Mlip.AutoFit;
using Mlip.Distributed;
using Mlip.Tests.Support;

namespace Mlip.Tests.AutoFit;

/// <summary>
/// The normal-equation blocks of rows split over ranks (contiguous shares of "structures", as <c>mpirun mlip fit</c> splits
/// them) equal one process's to the last bit: the same chunks, compensated sums. Ranks are threads here (<see cref="ThreadRanks"/>).
/// </summary>
public class NormalEquationBlocksTests
{
    private const int Columns = 29, Folds = 2;

    /// <summary>Structures of 1 energy row and 3n force rows (n = 1..40), rows of wide dynamic range and a few zero columns.</summary>
    private static List<(int Fold, double[][] Energy, double[][] Force)> Data(int structures, int seed)
    {
        var rng = new Random(seed);
        double[] Row(bool sparse)
        {
            var r = new double[Columns + 1]; // the last value is the target
            for (int i = 0; i <= Columns; i++)
                r[i] = sparse && i % 5 == 2 ? 0 : (rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-3, 4));
            return r;
        }
        return [.. Enumerable.Range(0, structures).Select(s =>
        {
            int n = 1 + rng.Next(40);
            return (rng.Next(Folds), new[] { Row(false) }, Enumerable.Range(0, 3 * n).Select(_ => Row(s % 3 == 0)).ToArray());
        })];
    }

    private static NormalEquationBlocks Build(List<(int Fold, double[][] Energy, double[][] Force)> data, ICommunicator comm)
    {
        var (first, end) = comm.Share(data.Count);
        NormalEquationBlocks blocks;
        if (comm.Size == 1) blocks = new NormalEquationBlocks(Columns, Folds, threads: 1);
        else
        {
            var offsets = new long[Folds, 3];
            var totals = new long[Folds, 3];
            for (int s = 0; s < data.Count; s++)
            {
                var (fold, e, f) = data[s];
                totals[fold, 0] += e.Length;
                totals[fold, 1] += f.Length;
                if (s < first) { offsets[fold, 0] += e.Length; offsets[fold, 1] += f.Length; }
            }
            blocks = new NormalEquationBlocks(Columns, Folds, threads: 2, offsets, totals);
        }
        for (int s = first; s < end; s++)
        {
            var (fold, e, f) = data[s];
            foreach (var r in e) blocks.Add(fold, RowClass.Energy, r.AsSpan(0, Columns), r[Columns]);
            foreach (var r in f) blocks.Add(fold, RowClass.Force, r.AsSpan(0, Columns), r[Columns]);
        }
        blocks.Complete();
        blocks.ReduceToRoot(comm);
        return blocks;
    }

    private static double[] Ridge => [.. Enumerable.Repeat(1e-9, Columns)];

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void Ranks_give_the_blocks_of_one_process_bit_for_bit(int ranks)
    {
        var data = Data(70, seed: 11);
        var one = Build(data, SingleProcess.Instance);
        var root = ThreadRanks.Run(ranks, comm => Build(data, comm))[0];
        Assert.True(one.Rows(RowClass.Force) > 4 * NormalEquationBlocks.Chunk, $"{one.Rows(RowClass.Force)} force rows: too few chunks to split");
        foreach (var cls in new[] { RowClass.Energy, RowClass.Force, RowClass.Stress })
            Assert.Equal(one.Rows(cls), root.Rows(cls));
        foreach (int? leftOut in new int?[] { null, 0, 1 })
        {
            var x = one.Solve(leftOut, [1, 0.3, 0], Ridge)!;
            var y = root.Solve(leftOut, [1, 0.3, 0], Ridge)!;
            Assert.Equal(x, y); // exact: the same doubles
        }
    }

    [Fact]
    public void The_sums_are_the_exact_normal_equations_to_round_off()
    {
        var data = Data(40, seed: 5);
        var blocks = Build(data, SingleProcess.Instance);
        // the reference: AᵀA and Aᵀb of the energy and force rows of fold 0 in plain loops, solved by the same Cholesky
        int p = Columns;
        var g = new double[p * p];
        var h = new double[p];
        long ne = 0, nf = 0;
        foreach (var (fold, e, f) in data)
            if (fold != 1) { ne += e.Length; nf += f.Length; }
        foreach (var (fold, e, f) in data)
        {
            if (fold == 1) continue;
            foreach (var (rows, w) in new[] { (e, 1.0 / ne), (f, 0.3 / nf) })
                foreach (var r in rows)
                    for (int i = 0; i < p; i++)
                    {
                        h[i] += w * r[i] * r[p];
                        for (int j = 0; j < p; j++) g[i * p + j] += w * r[i] * r[j];
                    }
        }
        for (int i = 0; i < p; i++) g[i * p + i] += 1e-9;
        Assert.True(Cholesky.Solve(g, p, h));
        var x = blocks.Solve(1, [1, 0.3, 0], Ridge)!;
        double scale = h.Max(Math.Abs), diff = h.Zip(x, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(diff <= 1e-9 * scale, $"the blocks' solution differs from the direct normal equations by {diff / scale:G3} relative");
    }

    [Fact]
    public void Compensated_sums_do_not_depend_on_the_order()
    {
        var rng = new Random(3);
        var terms = Enumerable.Range(0, 5000).Select(_ => (rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-8, 9))).ToArray();
        double Sum(IEnumerable<double> xs)
        {
            double hi = 0, lo = 0;
            foreach (var t in xs) Compensated.Add(ref hi, ref lo, t, 0);
            return hi;
        }
        double forward = Sum(terms), backward = Sum(terms.Reverse()), shuffled = Sum(terms.OrderBy(_ => rng.Next()));
        Assert.Equal(forward, backward);
        Assert.Equal(forward, shuffled);
        double naiveForward = terms.Aggregate(0.0, (a, b) => a + b), naiveBackward = terms.Reverse().Aggregate(0.0, (a, b) => a + b);
        Assert.NotEqual(naiveForward, naiveBackward); // the plain sums do depend on it (what the test would not see otherwise)
    }
}
