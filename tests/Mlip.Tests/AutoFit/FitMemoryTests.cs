using System.Text.Json.Nodes;
using Mlip.AutoFit;
using Mlip.IO;
using Mlip.Tests.Cli;
using Mlip.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.AutoFit;

/// <summary>The memory rule of mlip fit (docs/fit.md, "Memory of a basis"): a basis over the limit is skipped with what would
/// make it fit, a search whose smallest basis cannot fit is refused before anything is computed, and so is a train.</summary>
public class FitMemoryTests(ITestOutputHelper output)
{
    private static string Prepare()
    {
        string dir = TestPaths.TempDir();
        StructureIO.Write(Path.Combine(dir, "train.xyz"), FitTestData.Silicon(0, 16));
        File.WriteAllText(Path.Combine(dir, "fit.yaml"), """
            seed: 3
            threads: 1
            search:
              budget: 20
              families: [ace]
              cutoffs: [4.0]
              ace_levels: 2
              ridges: [1e-8]
              force_weights: [0.1]
              stress_weights: [0]
              smoothness: [0]
              sweeps: 1
              refine: false
              fs: false
            """);
        return dir;
    }

    [Fact]
    public void AFitWhoseSmallestBasisCannotFitIsRefusedUpFrontInOneLine()
    {
        string dir = Prepare();
        var (code, stdout, stderr) = CliTests.Run("fit", Path.Combine(dir, "train.xyz"), "--config", Path.Combine(dir, "fit.yaml"), "-o", Path.Combine(dir, "out"), "--memory", "0.05");
        output.WriteLine(stdout + stderr);
        Assert.Equal(1, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains("even the smallest basis (ace L0 rc 4)", lines[0]);
        Assert.Contains("0.05 GB limit (search.memory / --memory)", lines[0]);
        Assert.DoesNotContain("fit: ace L0", stdout); // nothing was computed
        Assert.False(File.Exists(Path.Combine(dir, "out", "model.json")));

        // the machine's memory as MLIP_MEMORY_BYTES gives it (a separate process: the variable is the process's)
        var p = CliProcess.Start(dir, "fit train.xyz --config fit.yaml -o out2", new Dictionary<string, string> { ["MLIP_MEMORY_BYTES"] = "50000000" });
        string o2 = p.StandardOutput.ReadToEnd(), e2 = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(1, p.ExitCode);
        Assert.Contains("0.05 GB limit (MLIP_MEMORY_BYTES)", e2);
        Assert.Single(e2.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.False(File.Exists(Path.Combine(dir, "out2", "model.json")), o2);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-2")]
    [InlineData("NaN")]
    public void ANonPositiveMemoryLimitIsRefusedInOneLine(string gigabytes)
    {
        string dir = Prepare();
        string outDir = Path.Combine(dir, "out");
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "model.json"), "kept"); // an earlier run's model stays as it was
        var (code, stdout, stderr) = CliTests.Run("fit", Path.Combine(dir, "train.xyz"), "--config", Path.Combine(dir, "fit.yaml"), "-o", outDir, "--memory", gigabytes);
        output.WriteLine(stdout + stderr);
        Assert.Equal(1, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains("--memory must be a positive number of GB", lines[0]);
        Assert.DoesNotContain("fit: ace L0", stdout);
        Assert.Equal("kept", File.ReadAllText(Path.Combine(outDir, "model.json")));
    }

    [Fact]
    public void ABasisOverTheLimitIsSkippedSayingWhatWouldMakeItFit()
    {
        var train = FitTestData.Silicon(0, 16);
        var settings = FitTestData.Settings() with { Families = "ace", Cutoffs = [4.0], AceLevels = 2, TwoJMax = [2] };
        var probe = new FitSearch(new FitOptions { Train = train, Output = TestPaths.TempDir(), Search = settings, Threads = 2, Seed = 3 });
        long l0 = probe.Estimate(FitBasis.Ace(0, 4.0)).Memory.Peak, l1 = probe.Estimate(FitBasis.Ace(1, 4.0)).Memory.Peak;
        Assert.True(l1 > l0);
        // a limit between the two: L0 is searched, L1 skipped with a line that says what it needs and what would make it fit
        double limit = (l0 + l1) / 2.0 / 1e9;
        var log = new StringWriter();
        var outcome = new FitSearch(new FitOptions
        {
            Train = train, Output = TestPaths.TempDir(), Search = settings with { Memory = limit }, Threads = 2, Seed = 3, Log = log,
        }).Run();
        output.WriteLine(log.ToString());
        var skipped = Assert.Single(outcome.Bases, b => b.Basis.Label == "ace L1 rc 4");
        Assert.StartsWith("skipped: needs ~", skipped.Status);
        Assert.Contains("GB limit; it would fit with", skipped.Status);
        Assert.Equal("ace L0 rc 4", outcome.Chosen.Basis.Label);
        Assert.Contains("fit: memory limit", log.ToString());
    }

    [Fact]
    public void TheEstimateCountsAStructureInFlightFromItsArraysAndTheBuildCollectsItsGarbage()
    {
        var data = FitTestData.Silicon(0, 40);
        var search = new FitSearch(new FitOptions { Train = data, Output = TestPaths.TempDir(), Search = FitTestData.Settings(), Threads = 2, Seed = 3 });
        var basis = FitBasis.Ace(2, 4.5);
        var (_, columns, memory) = search.Estimate(basis);
        var descriptor = basis.Descriptor.Create(["Si"]);
        // one structure in flight: its derivative blocks, features and neighbour list (the arrays themselves) and its row buffer
        var sets = data.Select(st => descriptor.Compute(st, true)).ToList();
        long Arrays(Mlip.Descriptors.DescriptorSet d) => 8L * (d.PairGradients!.LongLength + d.Values.LongLength) + 56L * d.Neighbors.PairCount;
        long largest = sets.Max(Arrays) + 8L * data.Max(st => LinearDesign.RowsOf(st).Total) * columns;
        output.WriteLine($"estimate {memory}; largest structure's arrays {largest / 1e6:F2} MB");
        Assert.InRange(memory.InFlight, 2 * largest, (long)(2 * largest * 1.3));
        Assert.Equal(LinearDesign.ReclaimAboveBytes, memory.Garbage);
        Assert.Equal(memory.Process + memory.Tables + Math.Max(memory.Features, memory.Blocks + memory.ValidationRows + Math.Max(memory.InFlight + memory.Garbage, memory.Solves)), memory.Peak);
        Assert.Equal(FitMemory.ProcessBytes(data, []), memory.Process);

        // the build collects once its batches left ReclaimAboveBytes of derivative blocks, so the garbage stays under it
        // (other tests' collections can only add to the count)
        long derivatives = sets.Sum(d => 8L * d.PairGradients!.LongLength);
        Assert.True(derivatives > 2 * LinearDesign.ReclaimAboveBytes, $"{derivatives} bytes of derivative blocks");
        int gen2 = GC.CollectionCount(2);
        LinearDesign.Build(descriptor, 1, data, search.Folds, threads: 2);
        Assert.True(GC.CollectionCount(2) - gen2 >= derivatives / LinearDesign.ReclaimAboveBytes, $"{GC.CollectionCount(2) - gen2} full collections");
    }

    [Fact]
    public void ATrainThatCannotFitIsRefusedUpFrontInOneLine()
    {
        string dir = Prepare();
        File.WriteAllText(Path.Combine(dir, "train.yaml"), """
            train: train.xyz
            descriptor:
              type: so4
              parameters: {twojmax: 2, rcutfac: 4.0}
            model: {kind: quadratic, ridge: 1.0e-9}
            threads: 1
            output: run
            """);
        var p = CliProcess.Start(dir, "train train.yaml", new Dictionary<string, string> { ["MLIP_MEMORY_BYTES"] = "50000000" });
        string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        output.WriteLine(stdout + stderr);
        Assert.Equal(1, p.ExitCode);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("of memory and 0.05 GB is available", line);
        Assert.False(File.Exists(Path.Combine(dir, "run", "model.json")));
    }
}
