using Mlip.Descriptors;
using Mlip.Descriptors.Ace;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Tests.Support;
using Mlip.Training;
using Mlip.Training.Streaming;
using Mlip.Validation;
using Xunit.Abstractions;

namespace Mlip.Tests.Training;

/// <summary>
/// Fits that stream from the descriptor store (docs/scale.md) give the coefficients of the in-memory QR fits on mlearn Si
/// (quadratic SO(4) and linear ACE); a second fit reuses the store's factors for another ridge without recomputing
/// descriptors; a killed factorisation resumes to the same factor bit for bit; a fit too large for memory is refused.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class StreamingFitTests(ITestOutputHelper output)
{
    /// <summary>A spread subset of the mlearn Si training set (every <paramref name="step"/>-th structure).</summary>
    private static List<Structure> Si(int step) => MlearnSi.Every(step);

    private static double RelativeDifference(PolynomialModel a, PolynomialModel b)
    {
        double d = 0, n = 0;
        for (int e = 0; e < a.Coefficients.Length; e++)
            for (int q = 0; q < a.Coefficients[e].Length; q++)
            {
                double x = a.Coefficients[e][q], y = b.Coefficients[e][q];
                d += (x - y) * (x - y);
                n += y * y;
            }
        return Math.Sqrt(d / n);
    }

    [Fact]
    public void QuadraticSo4FromTheStoreEqualsTheInMemoryQrAndReusesItsFactors()
    {
        var train = Si(12);
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "6", ["rcutfac"] = "4.9", ["rfac0"] = "0.99363" });
        var descriptor = spec.Create(["Si"]);
        var loss = new LossWeights { Energy = 1, Force = 0.05, Stress = 0.01 };
        var solver = new TorchLeastSquares(1);
        var set = TrainingSet.Compute(descriptor, train, true, 1);
        var (reference, _) = PolynomialFit.Fit(set, new PolynomialFitOptions { Order = 2, Weights = loss, Ridge = 1e-8, Threads = 1 }, solver);

        string dir = TestPaths.TempDir();
        var store = DescriptorStore.Open(dir, spec, descriptor, train, chunkAtoms: 150);
        Assert.True(store.ChunkCount > 3);
        var log = new StringWriter();
        var options = new StreamingOptions { Threads = 1 };
        var f = StreamingLinearFit.Factorise(store, 2, true, LinearFactorization.ClassesFor(loss), options, log);
        var streamed = f.Model(f.Solve(loss, f.RidgeVector(1e-8), solver).Coefficients);
        double diff = RelativeDifference(streamed, reference);
        output.WriteLine($"{train.Count} structures, {f.Columns} columns, {store.ChunkCount} chunks: relative difference {diff:E2}\n{log}");
        Assert.True(diff < 1e-8, $"relative difference {diff}");
        Assert.Equal(set.FeatureStatistics().Mean, f.Mean); // the statistics from the store's feature chunks, bit for bit

        // a second fit with another ridge and other weights: the factors are read back, no descriptor is computed
        var again = new StringWriter();
        var reopened = DescriptorStore.Open(dir, spec, descriptor, train, chunkAtoms: 150);
        var f2 = StreamingLinearFit.Factorise(reopened, 2, true, LinearFactorization.ClassesFor(loss), options, again);
        Assert.Contains("descriptor store: reusing", again.ToString());
        var loss2 = loss with { Force = 0.5 };
        var (reference2, _) = PolynomialFit.Fit(set, new PolynomialFitOptions { Order = 2, Weights = loss2, Ridge = 1e-5, Threads = 1 }, solver);
        var streamed2 = f2.Model(f2.Solve(loss2, f2.RidgeVector(1e-5), solver).Coefficients);
        Assert.True(RelativeDifference(streamed2, reference2) < 1e-8, $"relative difference {RelativeDifference(streamed2, reference2)}");
        Assert.True(reopened.DiskBytes() > 0);
    }

    [Fact]
    public void LinearAceFromTheStoreEqualsTheInMemoryQr()
    {
        var train = Si(10);
        var spec = new DescriptorSpec("ace", new Dictionary<string, string> { ["rc"] = "5.0", ["radial"] = "SBessel", ["order"] = "3", ["nmax"] = "6,4,2", ["lmax"] = "0,3,2" });
        var ace = (AceBasisDescriptor)spec.Create(["Si"]);
        var loss = new LossWeights { Energy = 1, Force = 0.05 };
        var solver = new TorchLeastSquares(1);
        var (reference, _) = AceLinearFit.Fit(ace, train, new AceLinearFitOptions { Weights = loss, Ridge = 1e-10, Smoothness = 2, Threads = 1 }, solver);
        var store = DescriptorStore.Open(TestPaths.TempDir(), spec, ace, train, chunkAtoms: 200);
        var f = StreamingLinearFit.Factorise(store, 1, true, LinearFactorization.ClassesFor(loss), new StreamingOptions { Threads = 1 }, TextWriter.Null);
        var streamed = f.Model(f.Solve(loss, f.RidgeVector(1e-10, AceLinearFit.SmoothnessWeights(ace, 2)), solver).Coefficients);
        double diff = RelativeDifference(streamed, reference);
        output.WriteLine($"{ace.FeatureCount} functions, {store.ChunkCount} chunks: relative difference {diff:E2}");
        Assert.True(diff < 1e-8, $"relative difference {diff}");
    }

    [Fact]
    public void AKilledFactorisationResumesToTheSameFactor()
    {
        var train = Si(16);
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "4", ["rcutfac"] = "4.9" });
        var descriptor = spec.Create(["Si"]);
        RowClass[] classes = [RowClass.Energy, RowClass.Force];
        var options = new StreamingOptions { Threads = 1, CheckpointSeconds = 0, Backend = TsqrBackend.Managed };
        var whole = StreamingLinearFit.Factorise(DescriptorStore.Open(TestPaths.TempDir(), spec, descriptor, train, 100), 2, true, classes, options, TextWriter.Null);

        string dir = TestPaths.TempDir();
        var store = DescriptorStore.Open(dir, spec, descriptor, train, 100);
        using var cancel = new CancellationTokenSource();
        int reports = 0;
        // "kill" the run in the middle of the factorisation (the second progress series counts factorised structures)
        var progress = new SynchronousProgress(p => { if (++reports == store.ChunkCount + 3) cancel.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => StreamingLinearFit.Factorise(store, 2, true, classes, options, TextWriter.Null, progress, cancel.Token));
        Assert.True(File.Exists(store.CheckpointPath(LinearFactorization.Key(2, true, classes))));
        var log = new StringWriter();
        var resumed = StreamingLinearFit.Factorise(DescriptorStore.Open(dir, spec, descriptor, train, 100), 2, true, classes, options, log);
        Assert.Contains("resuming the factorisation", log.ToString());
        Assert.Contains("reusing the features", log.ToString());
        Assert.Equal(whole.Factors.ToFlat(), resumed.Factors.ToFlat());
    }

    [Fact]
    public void RankSharesOfTheChunksMergeToTheSingleProcessFit()
    {
        var train = Si(16);
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "4", ["rcutfac"] = "4.9" });
        var descriptor = spec.Create(["Si"]);
        RowClass[] classes = [RowClass.Energy, RowClass.Force];
        var options = new StreamingOptions { Threads = 1 };
        var store = DescriptorStore.Open(TestPaths.TempDir(), spec, descriptor, train, 100);
        var single = StreamingLinearFit.Factorise(store, 2, true, classes, options, TextWriter.Null);

        // two "ranks": chunk c on rank c % 2; running statistics merged and flat factors merged in rank order (allgathers)
        int[][] shares = [[.. Enumerable.Range(0, store.ChunkCount).Where(c => c % 2 == 0)], [.. Enumerable.Range(0, store.ChunkCount).Where(c => c % 2 == 1)]];
        var stats = store.FeatureColumnStatistics(shares[0]);
        stats.Merge(store.FeatureColumnStatistics(shares[1]));
        var (mean, scale) = (stats.Mean(), stats.Scale());
        var flats = shares.Select(share => StreamingLinearFit.FactoriseChunks(store, 2, mean, scale, classes, share, options).ToFlat()).ToList();
        var merged = RowClassFactors.FromFlat(flats[0]);
        merged.Merge(RowClassFactors.FromFlat(flats[1]));
        var distributed = single with { Mean = mean, Scale = scale, Factors = merged };

        var loss = new LossWeights { Energy = 1, Force = 0.05 };
        var solver = new TorchLeastSquares(1);
        var a = single.Model(single.Solve(loss, single.RidgeVector(1e-8), solver).Coefficients);
        var b = distributed.Model(distributed.Solve(loss, distributed.RidgeVector(1e-8), solver).Coefficients);
        double diff = RelativeDifference(b, a);
        output.WriteLine($"{store.ChunkCount} chunks on 2 ranks: relative difference {diff:E2}");
        Assert.True(diff < 1e-10, $"relative difference {diff}");
    }

    [Fact]
    public void AFitThatCannotFitInMemoryIsRefusedWithWhatToChange()
    {
        var estimate = FitEstimate.InMemory(1596, 3_000_000, 0, 2, 0);
        var e = Assert.Throws<MlipException>(() => estimate.Check(TextWriter.Null, "stream the fit from a descriptor store", availableBytes: 24L << 30));
        Assert.Contains("store", e.Message);
        var streamed = FitEstimate.Streamed(1596, 2, 3_000_000, 6200, 50_000_000, 2, 100_000_000);
        Assert.True(streamed.PeakBytes < 2L << 30, $"{streamed.PeakBytes}");
        streamed.Check(TextWriter.Null, "", availableBytes: 24L << 30);
        // an MPI rank with a partner may hold one TSQR buffer of rows built for it (the rows' handover) while it builds its own
        var partner = FitEstimate.Streamed(1596, 2, 3_000_000, 6200, 50_000_000, 2, 100_000_000, partner: true);
        Assert.Equal(8L * TsqrAccumulator.DefaultBufferRows(1596) * 1596, partner.PeakBytes - streamed.PeakBytes);
    }

    [Fact]
    public void ANetworkTrainedOnStreamedMiniBatchesEqualsTheInMemoryOne()
    {
        var train = Si(14);
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "4", ["rcutfac"] = "4.9" });
        var descriptor = spec.Create(["Si"]);
        var options = new NeuralNetworkOptions
        {
            Hidden = [6], Optimizer = "adam", Epochs = 3, BatchStructures = 4, ValidationFraction = 0.25, EvaluateEvery = 1,
            Weights = new LossWeights { Energy = 1, Force = 0.05 }, Seed = 3, Threads = 1,
        };
        var set = TrainingSet.Compute(descriptor, train, true, 1);
        var inMemory = new NeuralNetworkTrainer(set, options);
        var store = DescriptorStore.Open(TestPaths.TempDir(), spec, descriptor, train, 300);
        store.EnsureFeatures(1);
        var streamed = new NeuralNetworkTrainer(train, descriptor, store.FeatureStatistics(), options);
        Assert.True(streamed.Streams);
        Assert.False(inMemory.Streams);

        var x = inMemory.InitialParameters();
        var g1 = new double[x.Length];
        var g2 = new double[x.Length];
        Assert.Equal(inMemory.LossAndGradient(x, g1), streamed.LossAndGradient(x, g2), 1e-12);
        for (int i = 0; i < x.Length; i++) Assert.Equal(g1[i], g2[i], 1e-12 * (1 + Math.Abs(g1[i])));

        var (m1, c1, _) = inMemory.Train(TextWriter.Null);
        var (m2, c2, _) = streamed.Train(TextWriter.Null);
        var probe = train[1];
        double e1 = new Potential(descriptor, m1, spec).Calculate(probe).Energy, e2 = new Potential(descriptor, m2, spec).Calculate(probe).Energy;
        output.WriteLine($"energy {e1} in memory, {e2} streamed; validation energy MAE {c1[^1].ValidationEnergyMae} and {c2[^1].ValidationEnergyMae}");
        Assert.Equal(e1, e2, 1e-9 * Math.Abs(e1));
        Assert.Throws<MlipException>(() => new NeuralNetworkTrainer(train, descriptor, store.FeatureStatistics(), options with { BatchStructures = 0, Optimizer = "lbfgs" }));
    }

    private sealed class SynchronousProgress(Action<WorkProgress> report) : IProgress<WorkProgress>
    {
        public void Report(WorkProgress value) => report(value);
    }
}
