using Mlip.Descriptors;
using Mlip.Descriptors.Ace;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Structures;
using Mlip.Tests.Support;
using Mlip.Training;
using Mlip.Training.Streaming;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.Training;

/// <summary>
/// The Finnis-Sinclair ACE fit streamed from the descriptor store (docs/scale.md, "FS-ACE and PINN from the store"): the same
/// blocks recomputed at every pass give the in-memory fit's iterates to round-off, for Levenberg–Marquardt and for L-BFGS.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class StoreNonlinearFitTests(ITestOutputHelper output)
{
    private static (AceBasisDescriptor D, DescriptorSpec Spec, List<Structure> Data, PolynomialModel Linear) FsProblem()
    {
        var spec = new DescriptorSpec("ace", new Dictionary<string, string> { ["rc"] = "5.0", ["order"] = "3", ["nmax"] = "6,3,2", ["lmax"] = "0,2,1", ["radial"] = "ChebExpCos", ["lambda"] = "3" });
        var d = (AceBasisDescriptor)spec.Create(["Cu"]);
        int k = d.FeatureCount;
        var data = new List<Structure>();
        for (int q = 0; q < 14; q++)
            data.Add(Mlip.Tests.Descriptors.DescriptorTestKit.RandomCell(q, ["Cu"], atoms: 6 + q % 3, minDistance: 2.0, length: 4.6 + 0.08 * q));
        // labels from an FS-ACE on the same basis (ρ_2 a positive pair density), one structure without forces
        var rng = new Random(3);
        var (truth, _) = AceEmbeddingFitTests.FsTruth(d, data, rng);
        foreach (var s in data)
        {
            var r = truth.Calculate(s);
            s.Energy = r.Energy + 1e-3 * rng.NextDouble();
            s.Forces = r.Forces;
        }
        data[5].Forces = null;
        var (linear, _) = AceLinearFit.Fit(d, data, new AceLinearFitOptions { Weights = Weights, Ridge = 1e-8, Threads = 1 }, LeastSquaresSolvers.ByName("default", 1));
        return (d, spec, data, linear);
    }

    private static readonly LossWeights Weights = new() { Energy = 1, Force = 0.1, Stress = 0 };

    [Theory]
    [InlineData(AceEmbeddingOptimizer.LevenbergMarquardt, 6)]
    [InlineData(AceEmbeddingOptimizer.Lbfgs, 6)]
    public void Fs_fit_streamed_from_the_store_takes_the_in_memory_iterates(AceEmbeddingOptimizer optimizer, int iterations)
    {
        var (d, spec, data, linear) = FsProblem();
        // small blocks: several structures per block and several blocks (ChunkDoubles bounds pairs × 3 × functions × densities)
        var options = new AceEmbeddingFitOptions
        {
            Weights = Weights, Optimizer = optimizer, Iterations = iterations, Threads = 1, Ridge = 1e-7, ChunkDoubles = 100_000,
            InitialScale = optimizer == AceEmbeddingOptimizer.Lbfgs ? 0.05 : 0,
        };
        var memory = new AceEmbeddingFit(d, data, linear, options);
        var store = DescriptorStore.Open(TestPaths.TempDir(), spec, d, data, chunkAtoms: 30);
        var streamed = new AceEmbeddingFit(d, data, linear, options, store);
        Assert.False(memory.Streams);
        Assert.True(streamed.Streams);
        Assert.True(memory.ChunkCount > 2, $"{memory.ChunkCount} blocks");
        Assert.Equal(memory.ChunkCount, streamed.ChunkCount);
        Assert.Equal(memory.ResidualCount, streamed.ResidualCount);
        // the start, the loss, its gradient and the normal equations at the start
        AssertClose(memory.Parameters, streamed.Parameters, 1e-13, "start");
        int n = memory.Parameters.Length;
        var g1 = new double[n]; var g2 = new double[n];
        double l1 = memory.Loss(memory.Parameters, g1), l2 = streamed.Loss(streamed.Parameters, g2);
        Assert.Equal(l1, l2, 1e-13 * l1);
        AssertClose(g1, g2, 1e-11, "gradient");
        var a1 = new double[n * n]; var b1 = new double[n]; var a2 = new double[n * n]; var b2 = new double[n];
        memory.NormalEquations(memory.Parameters, a1, b1);
        streamed.NormalEquations(streamed.Parameters, a2, b2);
        AssertClose(a1, a2, 1e-12, "JᵀJ");
        AssertClose(b1, b2, 1e-11, "Jᵀr");
        AssertClose(memory.Residuals(memory.Parameters), streamed.Residuals(streamed.Parameters), 1e-12, "residuals");

        var (s1, e1) = memory.Run();
        var (s2, e2) = streamed.Run();
        output.WriteLine($"{optimizer}: loss {s1:E6} → {e1:E6} in memory, {s2:E6} → {e2:E6} streamed");
        Assert.True(e1 < s1);
        Assert.Equal(e1, e2, 1e-12 * e1);
        AssertClose(memory.Parameters, streamed.Parameters, 1e-12, "fitted parameters");
        var (em, fm) = memory.Evaluate();
        var (es, fsv) = streamed.Evaluate();
        AssertClose(em, es, 1e-12, "energies");
        AssertClose(fm!, fsv!, 1e-11, "forces");
    }

    internal static void AssertClose(IReadOnlyList<double> x, IReadOnlyList<double> y, double relative, string what)
    {
        Assert.Equal(x.Count, y.Count);
        double scale = x.Max(Math.Abs), diff = 0;
        for (int i = 0; i < x.Count; i++) diff = Math.Max(diff, Math.Abs(x[i] - y[i]));
        Assert.True(diff <= relative * scale, $"{what}: max difference {diff:G3}, relative {diff / scale:G3} > {relative:G3}");
    }
}
