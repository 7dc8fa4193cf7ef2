using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.Tests.Cli;
using Mlip.Tests.Support;

namespace Mlip.Tests.Distributed;

/// <summary>
/// <c>mpirun -n N mlip train</c> of the nonlinear fits: a network and a PINN (each rank computes the loss and gradient of its share
/// of every batch) and the Finnis-Sinclair embedding of an ACE (each rank accumulates JᵀJ and Jᵀr over the blocks of its structures). The
/// sums over the ranks (in rank order) drive the same optimiser on every rank, and the result is the single-process model to
/// round-off (the sums are added in another order, which the optimisers amplify only slightly over a few iterations).
/// The single-process run is in this test process (libtorch), so the class is in the libtorch collection.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class DistributedNonlinearFitTests
{
    private static readonly Lazy<string> Data = new(() =>
    {
        string dir = TestPaths.TempDir();
        string path = Path.Combine(dir, "sw.xyz");
        var (code, _, stderr) = CliTests.Run("generate", "--potential", "sw", "-o", path, "--seed", "5", "--quick");
        Assert.True(code == 0, stderr);
        return path;
    });

    private static string Config(string dir, string model, string output) =>
        Write(dir, $$"""
            train: {{Data.Value}}
            descriptor: {type: so4, parameters: {twojmax: 4, rcutfac: 4.9, rfac0: 0.99363} }
            model: {{model}}
            loss: {energy: 1.0, force: 0.05, stress: 0.01}
            seed: 1
            threads: 1
            store: none
            output: {{output}}
            """);

    private static string Write(string dir, string text)
    {
        string path = Path.Combine(dir, $"c{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, text);
        return path;
    }

    [Theory]
    [InlineData("{kind: nn, hidden: [8, 8], optimizer: lbfgs, epochs: 12, validation: 0.2, evaluate_every: 4}", 2, 1e-9)]
    [InlineData("{kind: nn, hidden: [8], optimizer: adam, batch: 5, epochs: 6, validation: 0.2, evaluate_every: 2, learning_rate: 0.01}", 3, 1e-11)]
    [InlineData("{kind: pinn, hidden: [6], bop_epochs: 5, optimizer: lbfgs, epochs: 6, penalty: 1.0e-3, validation: 0.2, evaluate_every: 2}", 2, 1e-9)]
    // the PINN streamed from a descriptor store (pieces of at most 60 atoms), each rank its share, against one streamed process
    [InlineData("{kind: pinn, hidden: [6], bop_epochs: 5, optimizer: lbfgs, epochs: 6, penalty: 1.0e-3, validation: 0.2, evaluate_every: 2}", 2, 1e-9, true)]
    public void Mpirun_train_of_a_network_gives_the_single_process_network(string model, int ranks, double tolerance, bool store = false)
    {
        string dir = TestPaths.TempDir();
        string Of(string output)
        {
            string path = Config(dir, model, Path.Combine(dir, output));
            if (store)
                File.WriteAllText(path, File.ReadAllText(path).Replace("store: none", $"store: {Path.Combine(dir, "store-" + output)}\nstore_chunk_atoms: 60", StringComparison.Ordinal));
            return path;
        }
        var one = CliTests.Run("train", Of("one"));
        Assert.True(one.code == 0, one.stderr);
        if (store) Assert.Contains("batches streamed in pieces of at most 60 atoms", one.stdout);
        var many = Mpirun.Run(ranks, dir, "train", Of("many"));
        Assert.True(many.ExitCode == 0, $"exit {many.ExitCode}\n{many.Stdout}\n{many.Stderr}");
        Assert.Contains($"mpi: {ranks} ranks", many.Stdout);
        var (diff, scale, count) = Difference(Path.Combine(dir, "one", "model.json"), Path.Combine(dir, "many", "model.json"));
        Assert.True(count > 50, $"{count} numbers");
        Assert.True(diff <= tolerance * scale, string.Create(CultureInfo.InvariantCulture, $"max difference {diff:G3}, relative {diff / scale:G3} > {tolerance:G3}"));
        // the learning curve (validation errors gathered from the ranks) is the same to the printed digits, and only rank 0 wrote it
        Assert.Equal(Curve(one.stdout), Curve(many.Stdout));
        Assert.True(File.Exists(Path.Combine(dir, "many", "learning_curve.csv")));
    }

    [Fact]
    public void Mpirun_train_of_a_finnis_sinclair_ace_gives_the_single_process_potential()
    {
        string dir = TestPaths.TempDir();
        const string ace = "{type: ace, parameters: {rc: 4.5, radial: ChebExpCos, lambda: 3, order: 3, nmax: [6, 3, 2], lmax: [0, 2, 1]} }";
        const string model = "{kind: ace, ridge: 1.0e-8, embedding: fs, fs_parameters: [1, 1, 1, 0.5], optimizer: lm, iterations: 8, fs_ridge: 1.0e-7}";
        string Of(string output, string store)
        {
            string path = Config(dir, model, Path.Combine(dir, output));
            File.WriteAllText(path, File.ReadAllText(path).Replace("store: none", "store: " + Path.Combine(dir, store), StringComparison.Ordinal)
                .Replace("descriptor: {type: so4, parameters: {twojmax: 4, rcutfac: 4.9, rfac0: 0.99363} }", "descriptor: " + ace, StringComparison.Ordinal));
            return path;
        }
        var one = CliTests.Run("train", Of("one", "store-one"));
        Assert.True(one.code == 0, one.stderr);
        var many = Mpirun.Run(2, dir, "train", Of("many", "store-many"));
        Assert.True(many.ExitCode == 0, $"exit {many.ExitCode}\n{many.Stdout}\n{many.Stderr}");
        Assert.Contains("mpi: 2 ranks", many.Stdout);
        Assert.Contains("fs embedding: LM", many.Stdout);
        // the .yace of both runs: every number (E0, the C-tilde coefficients, the radial parameters) to round-off
        var x = YaceNumbers(Path.Combine(dir, "one", "model.yace"));
        var y = YaceNumbers(Path.Combine(dir, "many", "model.yace"));
        Assert.Equal(x.Count, y.Count);
        Assert.True(x.Count > 100, $"{x.Count} numbers");
        double scale = x.Max(Math.Abs), diff = x.Zip(y, (p, q) => Math.Abs(p - q)).Max();
        Assert.True(diff <= 1e-9 * scale, string.Create(CultureInfo.InvariantCulture, $"max difference {diff:G3}, relative {diff / scale:G3}"));
        Assert.Equal(DistributedTrainingTests.Table(one.stdout), DistributedTrainingTests.Table(many.Stdout));
    }

    private static List<double> YaceNumbers(string path) =>
        [.. System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(path), @"-?\d+\.\d+(?:[eE][-+]?\d+)?|-?\d+[eE][-+]?\d+")
            .Select(m => double.Parse(m.Value, CultureInfo.InvariantCulture))];


    [Fact]
    public void Streamed_mini_batches_are_refused_under_mpirun_with_one_line()
    {
        string dir = TestPaths.TempDir();
        string config = Config(dir, "{kind: nn, hidden: [4], optimizer: adam, batch: 4, epochs: 1}", Path.Combine(dir, "nn"));
        File.WriteAllText(config, File.ReadAllText(config).Replace("store: none", "store: " + Path.Combine(dir, "store"), StringComparison.Ordinal));
        var r = Mpirun.Run(2, dir, "train", config);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("do not split over MPI ranks yet", r.Stderr);
        Assert.False(File.Exists(Path.Combine(dir, "nn", "model.json")));
    }

    private static (double Diff, double Scale, int Count) Difference(string a, string b)
    {
        var x = DistributedTrainingTests.Numbers(JsonNode.Parse(File.ReadAllText(a))!["model"]!);
        var y = DistributedTrainingTests.Numbers(JsonNode.Parse(File.ReadAllText(b))!["model"]!);
        Assert.Equal(x.Count, y.Count);
        return (x.Zip(y, (p, q) => Math.Abs(p - q)).Max(), x.Max(Math.Abs), x.Count);
    }

    /// <summary>The learning-curve lines ("epoch N: loss ..., validation E, F"; a PINN's "BOP N: ..." and "PINN N: ...") without their seconds.</summary>
    private static List<string> Curve(string stdout)
    {
        var lines = System.Text.RegularExpressions.Regex.Matches(stdout, @"^(epoch|BOP|PINN) +\d+: loss [^,\n]+(, validation [^,\n]+, [^,\n]+)?", System.Text.RegularExpressions.RegexOptions.Multiline)
            .Select(m => m.Value).ToList();
        Assert.NotEmpty(lines);
        return lines;
    }
}
