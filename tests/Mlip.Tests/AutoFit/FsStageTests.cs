using System.Text.Json.Nodes;
using Mlip.AutoFit;
using Mlip.Descriptors.Ace;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Structures;
using Mlip.Tests.Support;
using Mlip.Training;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.AutoFit;

/// <summary>The FS stage of mlip fit (docs/fit.md): an FS density on a sub-basis over the best linear ACE model.</summary>
[Collection("libtorch")]
public class FsStageTests(ITestOutputHelper output)
{
    /// <summary>The small search with the FS stage on: one cut-off, two ACE levels, the FS density on the smallest level, few LM steps.</summary>
    public static FitSearchSettings Settings() => FitTestData.Settings() with
    {
        Families = "ace", Cutoffs = [4.5], Fs = true, FsLevel = 0, FsIterations = 6,
    };

    private static FitOutcome Run(List<Structure> train, List<Structure> test, string dir, int threads, bool resume = false, TextWriter? log = null) =>
        new FitSearch(new FitOptions
        {
            Train = train, Test = test, Output = dir, Search = Settings(), Seed = 3, Threads = threads, Resume = resume, Fingerprint = "fs",
            Log = log ?? TextWriter.Null,
        }).Run();

    [Fact]
    public void TheCombinedPaceModelIsTheLinearModelPlusTheFsPartAndExportsAsYace()
    {
        var train = FitTestData.Silicon(0, 12);
        var big = (AceBasisDescriptor)FitBasis.Ace(1, 4.5).Descriptor.Create(["Si"]);
        var sub = (AceBasisDescriptor)FitBasis.Ace(0, 4.5).Descriptor.Create(["Si"]);
        var (model, _) = AceLinearFit.Fit(big, train, new AceLinearFitOptions { Weights = new LossWeights { Energy = 1, Force = 0.1 }, Ridge = 1e-8, Smoothness = 2, Threads = 1 },
            LeastSquaresSolvers.ByName("managed", 1));
        var linear = new Potential(big, model, FitBasis.Ace(1, 4.5).Descriptor);
        var r = FsOverLinear.Fit(linear, sub, train, new FitHyper(0.1, 0, 1e-8, 2), 4, 1);
        output.WriteLine($"loss {r.StartLoss:G6} -> {r.EndLoss:G6} in {r.Iterations} steps");
        Assert.True(r.EndLoss < r.StartLoss);
        // the start is the linear model: its loss is the linear model's residual loss (nothing else is in it)
        var combined = AcePotential.Create(r.Combined);
        var part = AcePotential.Create(r.Fs);
        Assert.Equal(2, r.Combined.NDensityMax);
        string yace = Path.Combine(TestPaths.TempDir(), "fs.yace");
        ModelFile.Save(yace, combined);
        var loaded = ModelFile.Load(yace);
        double worstE = 0, worstF = 0, changed = 0;
        foreach (var s in FitTestData.Silicon(50, 4))
        {
            var a = linear.Calculate(s, forces: true, stress: false);
            var b = part.Calculate(s, forces: true, stress: false);
            var c = combined.Calculate(s, forces: true, stress: false);
            var d = loaded.Calculate(s, forces: true, stress: false);
            worstE = Math.Max(worstE, Math.Abs(c.Energy - (a.Energy + b.Energy)));
            changed = Math.Max(changed, Math.Abs(b.Energy - r.Fs.E0[0] * s.Count));
            Assert.Equal(c.Energy, d.Energy, 9);
            for (int i = 0; i < s.Count; i++)
                for (int k = 0; k < 3; k++) worstF = Math.Max(worstF, Math.Abs(c.Forces![i][k] - (a.Forces![i][k] + b.Forces![i][k])));
        }
        output.WriteLine($"combined vs linear + FS part: max |ΔE| {worstE:G3} eV, max |ΔF| {worstF:G3} eV/Å; FS part's energy beyond E0 up to {changed:G3} eV");
        Assert.True(worstE < 1e-8, $"energy {worstE}");
        Assert.True(worstF < 1e-8, $"forces {worstF}");
        Assert.True(changed > 1e-6); // the FS part is not nothing
    }

    [Fact]
    public void TheFsStageIsACandidateLikeTheOthersDeterministicAndBlindToTest()
    {
        var train = FitTestData.Silicon(0, 30);
        var test = FitTestData.Silicon(100, 6);
        string dir = TestPaths.TempDir();
        var log = new StringWriter();
        var clean = Run(train, test, dir, threads: 1, log: log);
        output.WriteLine(log.ToString());
        var fs = Assert.Single(clean.Candidates, c => c.Basis.Family == "fs-ace");
        Assert.Equal("evaluated", fs.Status);
        Assert.True(double.IsFinite(fs.Score));
        Assert.StartsWith("fs-ace L0 over ace L", fs.Basis.Label);
        Assert.Equal(clean.Candidates.Where(c => c.Basis.Family == "ace").MinBy(c => c.Score)!.Hyper, fs.Hyper); // the linear winner's hyperparameters
        Assert.Contains(clean.Bases, b => b.Basis.Family == "fs-ace" && b.Status == "done");
        // chosen only when its validation score is the lowest
        Assert.Equal(clean.Candidates.MinBy(c => c.Score)!.Id, clean.Chosen.Id);
        bool fsChosen = clean.Chosen.Basis.Family == "fs-ace";
        output.WriteLine($"FS score {fs.Score:F4}, chosen {clean.Chosen.Basis.Label} {clean.Chosen.Score:F4}");
        // one model file every verb loads; the report lists the FS candidate with its family
        string modelPath = Path.Combine(dir, fsChosen ? "model.yace" : "model.json");
        var loaded = ModelFile.Load(modelPath);
        foreach (var s in test) Assert.Equal(clean.Potential.Calculate(s, forces: true, stress: false).Energy, loaded.Calculate(s, forces: true, stress: false).Energy, 8);
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "report.json")))!;
        Assert.Contains(report["candidates"]!.AsArray(), c => c!["family"]!.GetValue<string>() == "fs-ace" && c["validation"] is not null);

        // TEST never influences the choice: poisoned test labels give the same candidates, choice and coefficients
        var poisoned = test.Select(s =>
        {
            var p = s.Clone();
            p.Energy = s.Energy + 50;
            p.Forces = [.. s.Forces!.Select(f => new Vec3(-3 * f.X, f.Y + 1, f.Z))];
            return p;
        }).ToList();
        var dirty = Run(train, poisoned, TestPaths.TempDir(), threads: 1);
        Assert.Equal(clean.Candidates.Select(c => (c.Basis.Label, c.Hyper, c.Score)), dirty.Candidates.Select(c => (c.Basis.Label, c.Hyper, c.Score)));
        Assert.Equal(clean.Chosen.Id, dirty.Chosen.Id);
        Assert.Equal(clean.Coefficients, dirty.Coefficients);

        // deterministic on two threads: run twice, the same scores, choice and coefficients
        var a = Run(train, test, TestPaths.TempDir(), threads: 2);
        var b = Run(train, test, TestPaths.TempDir(), threads: 2);
        Assert.Equal(a.Candidates.Select(c => (c.Basis.Label, c.Hyper, c.Score)), b.Candidates.Select(c => (c.Basis.Label, c.Hyper, c.Score)));
        Assert.Equal(a.Chosen.Id, b.Chosen.Id);
        Assert.Equal(a.Coefficients, b.Coefficients);
    }
}

/// <summary>
/// The path of a chosen FS candidate (model.yace, resume with and without the stage in the checkpoint) on labels of an FS-ACE model
/// (a linear part plus a square-root density on the smallest level). The FS candidate wins here by a small margin only: from the
/// exact linear start Levenberg-Marquardt stops after one step (the second density's Jacobian equals the first's there, docs/fit.md),
/// so this checks the machinery and the determinism of the choice, not that the stage recovers the density.
/// </summary>
[Collection("libtorch")]
public class FsStageChosenTests(ITestOutputHelper output)
{
    /// <summary>Diamond cells labelled by linear ACE L0 (fitted to Stillinger-Weber) plus F(ρ2) with ρ2 a fixed combination of its pair functions.</summary>
    private static List<Structure> Labelled(int from, int count)
    {
        var sw = FitTestData.Silicon(0, 20);
        var basis = FitBasis.Ace(0, 4.5);
        var d = (AceBasisDescriptor)basis.Descriptor.Create(["Si"]);
        var (model, _) = AceLinearFit.Fit(d, sw, new AceLinearFitOptions { Weights = new LossWeights { Energy = 1, Force = 0.1 }, Ridge = 1e-8, Smoothness = 2, Threads = 1 },
            LeastSquaresSolvers.ByName("managed", 1));
        var linear = AceLinearExport.ToCTilde(new Potential(d, model, basis.Descriptor));
        // the FS part: density 2 on the first pair functions (rank 1), weights of the size of the atoms' densities
        var pair = d.Functions.Select((f, k) => (f, k)).Where(t => t.f.Rank == 1).Take(6).ToList();
        var fs = new AceBasisSet
        {
            Elements = d.Skeleton.Elements, LMax = d.Skeleton.LMax, NRadBase = d.Skeleton.NRadBase, NRadMax = d.Skeleton.NRadMax, RankMax = d.Skeleton.RankMax, NDensityMax = 2,
            CutoffMax = d.Skeleton.CutoffMax, DeltaSplineBins = d.Skeleton.DeltaSplineBins, E0 = [0], Bonds = d.Skeleton.Bonds,
            Embeddings = [new AceEmbedding { FsParameters = [.. FsOverLinear.FsParameters], NDensity = 2 }],
            Functions = [[.. pair.Select((t, i) => new AceFunction
            {
                Mu0 = 0, Rank = 1, NDensity = 2, Mus = t.f.Mus, Ns = t.f.Ns, Ls = t.f.Ls, Ms = t.f.Ms,
                Ctildes = [.. t.f.Ctildes.SelectMany(c => new[] { 0.0, c * (i % 2 == 0 ? 1.5 : -0.7) })],
            })]],
        };
        var truth = AcePotential.Create(FsOverLinear.Combine(linear, fs));
        var list = FitTestData.Silicon(from, count);
        foreach (var s in list)
        {
            var r = truth.Calculate(s, forces: true, stress: true);
            s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
        }
        return list;
    }

    private static FitSearchSettings Settings() => FsStageTests.Settings() with { AceLevels = 1, FsIterations = 12 };

    [Fact]
    public void OnDataWithASquareRootDensityTheFsStageIsChosenWrittenAsYaceAndResumed()
    {
        var train = Labelled(0, 24);
        var test = Labelled(100, 4);
        string dir = TestPaths.TempDir();
        var log = new StringWriter();
        FitOutcome Run(string d, bool resume) => new FitSearch(new FitOptions
        {
            Train = train, Test = test, Output = d, Search = Settings(), Seed = 3, Threads = 1, Resume = resume, Fingerprint = "fs", Log = log,
        }).Run();
        var o = Run(dir, false);
        output.WriteLine(log.ToString());
        var linear = o.Candidates.Where(c => c.Basis.Family == "ace").MinBy(c => c.Score)!;
        output.WriteLine($"chosen {o.Chosen.Basis.Label} score {o.Chosen.Score:F4}, best linear {linear.Score:F4}; test F MAE {o.TestErrors!.Overall.ForceMaeEvPerA:G4}");
        Assert.Equal("fs-ace", o.Chosen.Basis.Family);
        Assert.True(o.Chosen.Score < linear.Score);
        // one model: model.yace (PACE, two densities), loadable, the outcome's potential; no model.json
        Assert.False(File.Exists(Path.Combine(dir, "model.json")));
        var loaded = ModelFile.Load(Path.Combine(dir, "model.yace"));
        Assert.Equal(2, AcePotential.BasisOf(loaded)!.NDensityMax);
        foreach (var s in test) Assert.Equal(o.Potential.Calculate(s, forces: true, stress: false).Energy, loaded.Calculate(s, forces: true, stress: false).Energy, 9);

        // resumed with everything in the checkpoint: the FS model comes from fs-model.yace, the same bits
        var again = Run(dir, true);
        Assert.Equal(o.Chosen.Basis.Label, again.Chosen.Basis.Label);
        Assert.Equal(o.Coefficients, again.Coefficients);
        // resumed after a kill during the FS stage (its entry not yet in the checkpoint): the linear winner's design is rebuilt, the FS fits redone, the same bits
        string path = Path.Combine(dir, "fit-checkpoint.json");
        var root = JsonNode.Parse(File.ReadAllText(path))!;
        var bases = root["bases"]!.AsArray();
        bases.Remove(bases.Single(b => b!["label"]!.GetValue<string>().StartsWith("fs-ace", StringComparison.Ordinal)));
        File.WriteAllText(path, root.ToJsonString());
        File.Delete(Path.Combine(dir, "fs-model.yace"));
        log.GetStringBuilder().Clear();
        var redone = Run(dir, true);
        Assert.Contains("rebuilding the design", log.ToString());
        Assert.Equal(o.Chosen.Basis.Label, redone.Chosen.Basis.Label);
        Assert.Equal(o.Chosen.Score, redone.Chosen.Score);
        Assert.Equal(o.Coefficients, redone.Coefficients);
    }
}
