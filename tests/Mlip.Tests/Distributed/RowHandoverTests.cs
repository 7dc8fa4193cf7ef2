using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Tests.Support;
using Mlip.Training;
using Mlip.Training.Streaming;
using Mlip.Validation;
using Xunit.Abstractions;

namespace Mlip.Tests.Distributed;

/// <summary>
/// The rows' handover between two ranks (docs/scale.md, "Current state"): a rank done with its share builds the rows of its
/// partner's last structures, the partner folds them in its own order, so the merged factors are the bits of a run without the
/// handover, and the model that of one process. Two "ranks" as threads (<see cref="ThreadRanks"/>), a lopsided split forced so
/// that the rank with 2 structures offers help and the other (which waits for the offer) hands most of its share over.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class RowHandoverTests(ITestOutputHelper output)
{
    private static List<Structure> Si(int step) => MlearnSi.Every(step);

    private static readonly DescriptorSpec Spec = new("so4", new Dictionary<string, string> { ["twojmax"] = "4", ["rcutfac"] = "4.9" });
    private static readonly RowClass[] Classes = [RowClass.Energy, RowClass.Force];

    /// <summary>Rank 0's factorisation (the merged factors) and its log, of two thread ranks on a fresh store.</summary>
    private static (LinearFactorization Factors, string Log) TwoRanks(List<Structure> train, bool handOver, (int, int)[] ranges)
    {
        string dir = TestPaths.TempDir();
        var logs = new StringWriter[] { new(), new() };
        var results = ThreadRanks.Run(2, comm =>
        {
            var store = DescriptorStore.Open(dir, Spec, Spec.Create(["Si"]), train, 100);
            var options = new StreamingOptions { Threads = 1, Communicator = comm, HandOverRows = handOver, RowRanges = ranges, AwaitPartnerOnRank = handOver ? 0 : -1 };
            return StreamingLinearFit.Factorise(store, 2, true, Classes, options, logs[comm.Rank]);
        });
        Assert.Equal(results[0].Factors.ToFlat(), results[1].Factors.ToFlat()); // both ranks hold the merged factors
        return (results[0], logs[0].ToString());
    }

    [Fact]
    public void Rows_built_by_the_partner_give_the_same_factor_bits_and_the_single_process_model()
    {
        var train = Si(16);
        int n = train.Count;
        (int, int)[] ranges = [(0, n - 2), (n - 2, n)];
        var (with, log) = TwoRanks(train, handOver: true, ranges);
        var (without, logWithout) = TwoRanks(train, handOver: false, ranges);
        output.WriteLine(log);
        // rank 0 waited for rank 1's offer before its first rows: it handed over the tail of its share, rank 1 built those rows
        Assert.Contains("rank 1 built the rows of structures", log);
        Assert.DoesNotContain("built the rows of structures", logWithout);
        // the same rows in the same order on rank 0: the same bits as without the handover, whoever built them
        Assert.Equal(without.Factors.ToFlat(), with.Factors.ToFlat());
        Assert.Equal(without.Factors.RowsOf(RowClass.Force), with.Factors.RowsOf(RowClass.Force));

        // and the model of one process to round-off
        var single = StreamingLinearFit.Factorise(DescriptorStore.Open(TestPaths.TempDir(), Spec, Spec.Create(["Si"]), train, 100), 2, true, Classes,
            new StreamingOptions { Threads = 1 }, TextWriter.Null);
        var loss = new LossWeights { Energy = 1, Force = 0.05 };
        var solver = new TorchLeastSquares(1);
        var a = single.Model(single.Solve(loss, single.RidgeVector(1e-8), solver).Coefficients);
        var b = with.Model(with.Factors.Solve(loss, with.RidgeVector(1e-8), solver).Coefficients);
        double diff = RelativeDifference(b, a);
        output.WriteLine($"handover: relative difference to one process {diff:E2}");
        Assert.True(diff < 1e-10, $"relative difference {diff}");
    }

    private static double RelativeDifference(PolynomialModel a, PolynomialModel b)
    {
        double num = 0, den = 0;
        for (int e = 0; e < a.Coefficients.Length; e++)
            for (int i = 0; i < a.Coefficients[e].Length; i++)
            {
                num = Math.Max(num, Math.Abs(a.Coefficients[e][i] - b.Coefficients[e][i]));
                den = Math.Max(den, Math.Abs(b.Coefficients[e][i]));
            }
        return num / den;
    }
}
