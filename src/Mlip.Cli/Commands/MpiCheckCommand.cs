using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlip.Distributed;

namespace Mlip.Cli.Commands;

/// <summary>
/// <c>mpirun -n N mlip mpi-check</c> (hidden): every collective of <see cref="ICommunicator"/> on known data, each rank
/// checking what it received; rank 0 prints one JSON object (ranks, process ids, the checks) and the exit code is 1
/// when any check failed on any rank. The test of the MPI transport (tests/Mlip.Tests/Distributed) and a first thing
/// to run on a new cluster (docs/scale.md).
/// </summary>
public static class MpiCheckCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var round = new Option<int>("--round-bytes") { Description = "Largest message of one MPI call (exercises the rounds of long messages)", DefaultValueFactory = _ => 1 << 30 };
        var cmd = new Command("mpi-check", "Check the MPI collectives between the ranks of an mpirun (prints JSON on rank 0)") { Hidden = true };
        cmd.Options.Add(round);
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var world = Communicator.World;
            if (world is OpenMpi mpi) mpi.MaxMessageBytes = parse.GetValue(round);
            var checks = Run(world);
            int failures = checks.Count(c => !c.Value);
            var pids = world.AllgatherVariable(new double[] { Environment.ProcessId, world.Rank });
            long total = (long)world.AllreduceSum(failures);
            if (world.IsRoot)
            {
                var o = new JsonObject
                {
                    ["size"] = world.Size,
                    ["transport"] = world is OpenMpi ? "openmpi" : "single-process",
                    ["pids"] = new JsonArray(pids.Select(p => (JsonNode)(long)p[0]).ToArray()),
                    ["checks"] = new JsonObject(checks.Select(c => KeyValuePair.Create(c.Key, (JsonNode?)c.Value))),
                    ["failures"] = total,
                };
                stdout.WriteLine(o.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
            }
            if (total > 0) throw new Mlip.Validation.MlipException(string.Create(CultureInfo.InvariantCulture, $"mpi-check: {total} collective check(s) failed (see the JSON)"));
            return 0;
        }));
        return cmd;
    }

    /// <summary>The checks on this rank: name → passed.</summary>
    private static Dictionary<string, bool> Run(ICommunicator c)
    {
        var result = new Dictionary<string, bool>();
        int n = 1000;
        // a sum whose value depends on the order of addition: rank order gives exactly this
        double[] Local(int r) => Enumerable.Range(0, n).Select(i => Math.Pow(10, (r + i) % 17 - 8) * (1 + 0.1 * r) + r / 3.0).ToArray();
        var v = Local(c.Rank);
        c.AllreduceSum(v);
        var expected = Local(0);
        for (int r = 1; r < c.Size; r++) { var x = Local(r); for (int i = 0; i < n; i++) expected[i] += x[i]; }
        result["allreduce_sum_in_rank_order"] = v.AsSpan().SequenceEqual(expected);

        Span<long> counts = [c.Rank + 1, 1];
        c.AllreduceSum(counts);
        result["allreduce_sum_long"] = counts[0] == (long)c.Size * (c.Size + 1) / 2 && counts[1] == c.Size;
        result["allreduce_max"] = c.AllreduceMax(c.Rank) == c.Size - 1;

        var all = c.Allgather(Bytes(c.Rank, 4099));
        bool ok = all.Length == 4099 * c.Size;
        for (int r = 0; r < c.Size && ok; r++) ok = all.AsSpan(r * 4099, 4099).SequenceEqual(Bytes(r, 4099));
        result["allgather"] = ok;

        // rank r sends 3r + 5 doubles; rank 1 sends none when there are more than two ranks
        int Length(int r) => c.Size > 2 && r == 1 ? 0 : 3 * r + 5000;
        var mine = Enumerable.Range(0, Length(c.Rank)).Select(i => c.Rank * 1e6 + i + 0.25).ToArray();
        var gathered = c.AllgatherVariable(mine);
        ok = gathered.Length == c.Size;
        for (int r = 0; r < c.Size && ok; r++)
            ok = gathered[r].Length == Length(r) && gathered[r].Select((x, i) => x == r * 1e6 + i + 0.25).All(b => b);
        result["allgather_variable"] = ok;

        int root = c.Size - 1;
        var b = c.Rank == root ? Enumerable.Range(0, 777).Select(i => Math.Sqrt(i + 2)).ToArray() : new double[777];
        c.Broadcast(b, root);
        result["broadcast"] = b.Select((x, i) => x == Math.Sqrt(i + 2)).All(t => t);

        var text = c.BroadcastBytes(c.IsRoot ? Encoding.UTF8.GetBytes("from rank 0: Si ψ") : null);
        result["broadcast_bytes"] = Encoding.UTF8.GetString(text) == "from rank 0: Si ψ";

        // a merge that is not commutative (concatenation) along the tree: rank 0 gets every rank's values in rank order
        double[] Part(int r) => Enumerable.Range(0, 2000 + 37 * r).Select(i => r * 1e6 + i).ToArray();
        var tree = c.TreeReduce(Part(c.Rank), (x, y) => [.. x, .. y]);
        result["tree_reduce_in_rank_order"] = c.IsRoot
            ? tree is not null && tree.AsSpan().SequenceEqual(Enumerable.Range(0, c.Size).SelectMany(Part).ToArray())
            : tree is null;

        var (start, end) = c.Share(10007);
        Span<long> share = [end - start];
        c.AllreduceSum(share);
        result["share_covers_all"] = share[0] == 10007;
        c.Barrier();
        result["barrier"] = true;
        return result;
    }

    private static byte[] Bytes(int rank, int length) => Enumerable.Range(0, length).Select(i => (byte)((i * 31 + rank * 7) & 0xff)).ToArray();
}
