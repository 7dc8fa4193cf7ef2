using System.Text.Json.Nodes;
using Mlip.Distributed;
using Mlip.Tests.Support;

namespace Mlip.Tests.Distributed;

/// <summary>The MPI transport: collectives between real processes under mpirun, the launch detection, the split of work.</summary>
public class CommunicatorTests
{
    [Theory]
    [InlineData(2, 1 << 30)]
    [InlineData(3, 1000)] // long messages in rounds of 1000 bytes; one rank sends nothing
    public void Collectives_between_ranks_of_mpirun_deliver_what_each_rank_expects(int ranks, int roundBytes)
    {
        var r = Mpirun.Run(ranks, Path.GetTempPath(), "mpi-check", "--round-bytes", roundBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}\n{r.Stdout}\n{r.Stderr}");
        var line = Assert.Single(r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), l => l.StartsWith('{'));
        var o = JsonNode.Parse(line)!.AsObject();
        Assert.Equal(ranks, (int)o["size"]!);
        Assert.Equal("openmpi", (string)o["transport"]!);
        Assert.Equal(ranks, o["pids"]!.AsArray().Select(p => (long)p!).Distinct().Count()); // separate processes
        Assert.Equal(0, (long)o["failures"]!);
        Assert.All(o["checks"]!.AsObject(), c => Assert.True((bool)c.Value!, c.Key));
        Assert.True((bool)o["checks"]!["tree_reduce_in_rank_order"]!); // point to point along the tree (3 ranks: an odd one out)
    }

    [Fact]
    public void An_error_on_the_ranks_ends_the_run_with_the_message_and_does_not_hang()
    {
        // a config that does not exist: every rank fails; mpirun returns the exit code of the abort
        var r = Mpirun.Run(2, Path.GetTempPath(), "train", "does-not-exist.yaml");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("mlip: error", r.Stderr);
        Assert.Contains("does-not-exist.yaml", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr); // no stack trace
    }

    [Fact]
    public void Without_a_launcher_the_communicator_is_the_single_process()
    {
        Assert.Null(Communicator.LaunchedBy(_ => null));
        Assert.Null(Communicator.LaunchedBy(v => v == "OMPI_COMM_WORLD_SIZE" ? "1" : null)); // mpirun -n 1: as without
        Assert.Equal(4, Communicator.LaunchedBy(v => v == "OMPI_COMM_WORLD_SIZE" ? "4" : null));
        Assert.Equal(8, Communicator.LaunchedBy(v => v switch { "PMIX_RANK" => "0", "SLURM_NTASKS" => "8", _ => null }));
        Assert.Equal(3, Communicator.LaunchedBy(v => v == "PMI_SIZE" ? "3" : null));
        Assert.Null(Communicator.LaunchedBy(v => v switch { "MLIP_MPI" => "0", "OMPI_COMM_WORLD_SIZE" => "4", _ => null }));
        var single = SingleProcess.Instance;
        Span<double> v = [1.5, 2];
        single.AllreduceSum(v);
        Assert.Equal([1.5, 2], v.ToArray());
        Assert.Equal((0, 10), single.Share(10));
    }

    [Theory]
    [InlineData(10, 3)]
    [InlineData(2, 5)]
    [InlineData(0, 2)]
    [InlineData(10007, 64)]
    public void Shares_are_contiguous_cover_every_item_once_and_differ_by_at_most_one(int count, int size)
    {
        int next = 0;
        var lengths = new List<int>();
        for (int r = 0; r < size; r++)
        {
            var (start, end) = Collectives.Share(count, r, size);
            Assert.Equal(next, start);
            next = end;
            lengths.Add(end - start);
        }
        Assert.Equal(count, next);
        Assert.True(lengths.Max() - lengths.Min() <= 1);
    }
}
