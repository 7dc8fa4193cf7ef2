using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.IO;
using Mlip.Tests.AutoFit;
using Mlip.Tests.Cli;
using Mlip.Tests.Support;

namespace Mlip.Tests.Distributed;

/// <summary>
/// <c>mpirun -n 2 mlip fit</c>: each rank builds the normal-equation blocks of its share of the structures for every basis,
/// rank 0 adds them, searches and writes; the choice is the single process's and so are the coefficients and validation errors
/// to 1e-10 relative, on an ACE basis at ridge 1e-8 whose normal equations amplify an ε-level difference of the sums by
/// κ(A)² (before the sums were made alike the models were 4.5e-7 apart): the feature statistics are gathered and computed as
/// one process does, each block's rows are cut into the one process's chunks and the chunks' sums are compensated
/// (NormalEquationBlocks), so rank 0's blocks are the one process's.
/// </summary>
public class DistributedAutoFitTests
{
    [Fact]
    public void Mpirun_fit_chooses_the_single_process_candidate_with_the_same_coefficients()
    {
        string dir = TestPaths.TempDir();
        string train = Path.Combine(dir, "train.xyz"), test = Path.Combine(dir, "test.xyz"), config = Path.Combine(dir, "fit.yaml");
        StructureIO.Write(train, FitTestData.Silicon(0, 24));
        StructureIO.Write(test, FitTestData.Silicon(100, 4));
        // a small search: one ACE basis and two quadratic SO(4) bases, cross-validated (24 structures), a few weights and ridges
        File.WriteAllText(config, """
            seed: 3
            threads: 1
            search:
              budget: 20
              families: [ace, quadratic]
              cutoffs: [4.5]
              ace_levels: 1
              twojmax: [2, 4]
              ridges: [1e-8, 1e-6]
              force_weights: [0.1, 1]
              stress_weights: [0, 1e-4]
              smoothness: [2]
              sweeps: 1
            """);
        string oneDir = Path.Combine(dir, "one"), manyDir = Path.Combine(dir, "many");
        var one = CliTests.Run("fit", train, "--test", test, "--config", config, "-o", oneDir);
        Assert.True(one.code == 0, one.stderr);
        var many = Mpirun.Run(2, dir, "fit", train, "--test", test, "--config", config, "-o", manyDir);
        Assert.True(many.ExitCode == 0, $"exit {many.ExitCode}\n{many.Stdout}\n{many.Stderr}");
        Assert.Contains("mpi: 2 ranks", many.Stdout);
        Assert.DoesNotContain("does not use MPI", many.Stderr);

        static string Chosen(string stdout) => stdout.Split('\n').Single(l => l.StartsWith("chosen: ", StringComparison.Ordinal));
        Assert.Equal(Chosen(one.stdout), Chosen(many.Stdout));

        // the same candidates, in the same order, scored alike (their validation errors come from coefficients equal to round-off)
        var a = JsonNode.Parse(File.ReadAllText(Path.Combine(oneDir, "report.json")))!;
        var b = JsonNode.Parse(File.ReadAllText(Path.Combine(manyDir, "report.json")))!;
        var ca = a["candidates"]!.AsArray();
        var cb = b["candidates"]!.AsArray();
        Assert.True(ca.Count >= 10, $"{ca.Count} candidates");
        Assert.Equal(ca.Count, cb.Count);
        for (int i = 0; i < ca.Count; i++)
        {
            Assert.Equal(ca[i]!["basis"]!.ToJsonString(), cb[i]!["basis"]!.ToJsonString());
            Assert.Equal(ca[i]!["hyperparameters"]!.ToJsonString(), cb[i]!["hyperparameters"]!.ToJsonString());
            if (ca[i]!["validation"] is null)
            {
                Assert.Null(cb[i]!["validation"]);
                continue;
            }
            var va = DistributedTrainingTests.Numbers(ca[i]!["validation"]!);
            var vb = DistributedTrainingTests.Numbers(cb[i]!["validation"]!);
            Assert.Equal(va.Count, vb.Count);
            for (int q = 0; q < va.Count; q++)
                Assert.True(Math.Abs(va[q] - vb[q]) <= 1e-10 * Math.Max(1e-3, Math.Abs(va[q])), $"candidate {i}: validation {va[q]} vs {vb[q]}");
        }

        var x = DistributedTrainingTests.Numbers(JsonNode.Parse(File.ReadAllText(Path.Combine(oneDir, "model.json")))!["model"]!);
        var y = DistributedTrainingTests.Numbers(JsonNode.Parse(File.ReadAllText(Path.Combine(manyDir, "model.json")))!["model"]!);
        Assert.Equal(x.Count, y.Count);
        Assert.True(x.Count > 10);
        double scale = x.Max(Math.Abs), diff = x.Zip(y, (p, q) => Math.Abs(p - q)).Max();
        Assert.True(diff <= 1e-10 * scale, string.Create(CultureInfo.InvariantCulture, $"models differ by {diff:G3}, relative {diff / scale:G3}"));

        // rank 0 alone wrote: the same files as one process, and nothing else in the run's folder
        static string[] Files(string d) => [.. Directory.GetFiles(d, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(d, f)).Order(StringComparer.Ordinal)];
        Assert.Equal(Files(oneDir), Files(manyDir));
    }
}
