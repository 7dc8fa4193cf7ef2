using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.AutoFit;
using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Tests.Support;
using Mlip.Training;
using Mlip.Validation;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.AutoFit;

/// <summary>A small Stillinger-Weber silicon set (strained and rattled 8-atom diamond cells with energies, forces, stresses) and a small search space.</summary>
public static class FitTestData
{
    public static List<Structure> Silicon(int from, int count)
    {
        var sw = StillingerWeber.Silicon();
        var list = new List<Structure>();
        for (int i = from; i < from + count; i++)
        {
            var rng = new Random(1000 + i);
            double scale = 0.96 + 0.08 * rng.NextDouble();
            var s = Crystals.Diamond("Si", 5.431 * scale);
            bool rattled = i % 3 == 0;
            s = Crystals.Rattle(s, rattled ? 0.12 : 0.04, 7 + i);
            var r = sw.Calculate(s, forces: true, stress: true);
            s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
            s.Group = rattled ? "rattled" : "strained";
            list.Add(s);
        }
        return list;
    }

    /// <summary>The small search space; the FS stage off (its own tests, <see cref="FsStageTests"/>, turn it on).</summary>
    public static FitSearchSettings Settings(double budgetMinutes = 20) => new()
    {
        Fs = false,
        Radials = "SBessel",
        Budget = budgetMinutes,
        Families = "ace,quadratic",
        Cutoffs = [4.0, 4.5],
        AceLevels = 2,
        TwoJMax = [2, 4],
        Ridges = [1e-10, 1e-8, 1e-6],
        ForceWeights = [0.01, 0.1, 1],
        StressWeights = [0, 1e-4],
        Smoothness = [0, 2],
        Sweeps = 1,
    };

    public static FitOutcome Run(List<Structure> train, List<Structure> test, string dir, int threads = 1, bool resume = false, TextWriter? log = null) =>
        new FitSearch(new FitOptions
        {
            Train = train, Test = test, Output = dir, Search = Settings(), Seed = 3, Threads = threads, Resume = resume,
            Fingerprint = "test", Log = log ?? TextWriter.Null,
        }).Run();
}

public class FitSearchTests(ITestOutputHelper output)
{
    [Fact]
    public void BlockSolveEqualsTheDirectWeightedLeastSquaresFit()
    {
        // the normal-equation blocks of every fold, solved together, give the coefficients of mlip train's quadratic fit
        var data = FitTestData.Silicon(0, 24);
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "4", ["rcutfac"] = "4.0" });
        var folds = ValidationFolds.Make(data, 4, true, 1);
        var design = LinearDesign.Build(spec.Create(["Si"]), 2, data, folds, threads: 2);
        var loss = new LossWeights { Energy = 1, Force = 0.1, Stress = 1e-4 };
        double ridge = 1e-6;
        var lambda = new double[design.Columns];
        Array.Fill(lambda, ridge);
        lambda[0] = 1e-4 * ridge;
        var x = design.Blocks.Solve(null, [loss.Energy, loss.Force, loss.Stress], lambda)!;
        var set = TrainingSet.Compute(spec.Create(["Si"]), data, true, 2);
        var (model, _) = PolynomialFit.Fit(set, new PolynomialFitOptions { Order = 2, Weights = loss, Ridge = ridge, Threads = 2 }, new ManagedLeastSquares(2));
        var direct = model.Coefficients[0];
        Assert.Equal(direct.Length, x.Length);
        double scale = direct.Max(Math.Abs), worst = 0;
        for (int i = 0; i < x.Length; i++) worst = Math.Max(worst, Math.Abs(x[i] - direct[i]));
        output.WriteLine($"{x.Length} coefficients, max |difference| {worst:G3} of max |c| {scale:G3}");
        Assert.True(worst < 1e-6 * scale, $"block solve differs from the direct fit by {worst:G3} (max |c| {scale:G3})");
        // and a fold's blocks sum: leaving out fold 0 uses the other folds' rows only
        Assert.Equal(design.Blocks.Rows(RowClass.Force), design.Blocks.Rows(RowClass.Force, 0) + 3 * data.Where((_, i) => folds.FoldOf[i] == 0).Sum(s => s.Count));
    }

    [Fact]
    public void TheMemoryEstimateCountsWhatTheBuildHoldsAndAReusedWorkspaceSolvesTheSame()
    {
        var data = FitTestData.Silicon(0, 24);
        data[5] = Crystals.Supercell(data[5], 2, 1, 1); // one larger structure: it bounds the batch in flight
        var sw = StillingerWeber.Silicon();
        var r = sw.Calculate(data[5], forces: true, stress: true);
        data[5].Energy = r.Energy; data[5].Forces = r.Forces; data[5].Stress = r.Stress;
        var search = new FitSearch(new FitOptions { Train = data, Output = TestPaths.TempDir(), Search = FitTestData.Settings(), Threads = 2, Seed = 3 });
        var basis = FitBasis.Ace(1, 4.5);
        var (_, columns, memory) = search.Estimate(basis);
        var descriptor = basis.Descriptor.Create(["Si"]);
        var design = LinearDesign.Build(descriptor, 1, data, search.Folds, threads: 2);
        Assert.Equal(design.Columns, columns);
        // the parts held for the whole basis are counted exactly
        Assert.Equal(design.Blocks.Bytes, memory.Blocks);
        Assert.Equal(design.Validation.Sum(v => 4L * v.A.Length), memory.ValidationRows);
        // a batch in flight: as many of the largest structure's derivative blocks and rows as threads
        long largest = data.Max(st => 8L * (descriptor.Compute(st, true).PairGradients!.LongLength + (long)LinearDesign.RowsOf(st).Total * columns));
        output.WriteLine($"estimate {memory}; largest structure in flight {largest / 1e6:F1} MB");
        Assert.InRange(memory.InFlight, 2 * largest * 0.9, 2 * largest * 1.5);
        Assert.Equal(3L * columns * columns * 8, memory.Solves); // one system per thread and the refit's
        Assert.Equal(memory.Process + memory.Tables + Math.Max(memory.Features, memory.Blocks + memory.ValidationRows + Math.Max(memory.InFlight + memory.Garbage, memory.Solves)), memory.Peak);

        // a workspace reused across solves (left dirty by the previous one) gives the same bits as a fresh matrix
        var lambda = Enumerable.Repeat(1e-8, design.Columns).ToArray();
        var workspace = new double[design.Columns * design.Columns];
        for (int f = 0; f < search.Folds.Count; f++)
        {
            var fresh = design.Blocks.Solve(f, [1, 0.1, 1e-4], lambda)!;
            var reused = design.Blocks.Solve(f, [1, 0.1, 1e-4], lambda, workspace)!;
            Assert.Equal(fresh, reused);
        }
    }

    [Fact]
    public void RefinementTriesTheGeometricMidpointsBesideTheBestGridValue()
    {
        double[] grid = [0.001, 0.01, 0.1];
        Assert.Equal([Math.Sqrt(1e-5), Math.Sqrt(1e-3)], FitSearch.Midpoints(grid, 0.01));
        Assert.Equal([Math.Sqrt(1e-5)], FitSearch.Midpoints(grid, 0.001));
        Assert.Equal([Math.Sqrt(1e-3)], FitSearch.Midpoints(grid, 0.1));
        Assert.Empty(FitSearch.Midpoints(grid, 0.05)); // a refined value is not refined again
    }

    [Fact]
    public void TheBlockedCholeskyGivesTheRowByRowFactorToTheBitAndSolves()
    {
        // sizes around the row block (one block, a block and one row, several blocks with a ragged last one)
        foreach (int n in new[] { 1, 5, Cholesky.RowBlock - 1, Cholesky.RowBlock, Cholesky.RowBlock + 1, 3 * Cholesky.RowBlock + 17 })
        {
            var rng = new Random(n);
            var b = new double[n * (n + 3)];
            for (int i = 0; i < b.Length; i++) b[i] = rng.NextDouble() * 2 - 1;
            var a = new double[n * n]; // BᵀB-like: B Bᵀ + 1e-3 I, symmetric positive definite with a spread of eigenvalues
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = i == j ? 1e-3 : 0;
                    for (int k = 0; k < n + 3; k++) s += b[i * (n + 3) + k] * b[j * (n + 3) + k];
                    a[i * n + j] = s;
                }
            var blocked = (double[])a.Clone();
            var rowByRow = (double[])a.Clone();
            Assert.True(Cholesky.Factor(blocked, n));
            Assert.True(Cholesky.FactorRowByRow(rowByRow, n));
            for (int i = 0; i < n; i++)
                for (int j = 0; j <= i; j++)
                    Assert.Equal(BitConverter.DoubleToInt64Bits(rowByRow[i * n + j]), BitConverter.DoubleToInt64Bits(blocked[i * n + j]));
            // the solve: A x = rhs
            var rhs = Enumerable.Range(0, n).Select(i => Math.Sin(i + 1.0)).ToArray();
            var x = (double[])rhs.Clone();
            Assert.True(Cholesky.Solve((double[])a.Clone(), n, x));
            for (int i = 0; i < n; i++)
            {
                double ax = 0;
                for (int j = 0; j < n; j++) ax += a[i * n + j] * x[j];
                Assert.True(Math.Abs(ax - rhs[i]) < 1e-8 * (1 + Math.Abs(rhs[i])), $"n {n} row {i}: {ax} vs {rhs[i]}");
            }
        }
        // not positive definite: a negative pivot in the second block is reported, not solved
        int m = Cholesky.RowBlock + 3;
        var bad = new double[m * m];
        for (int i = 0; i < m; i++) bad[i * m + i] = i == m - 2 ? -1 : 1;
        Assert.False(Cholesky.Solve(bad, m, new double[m]));
    }

    [Fact]
    public void FoldsAreStratifiedByGroup()
    {
        var data = FitTestData.Silicon(0, 30);
        var folds = ValidationFolds.Make(data, 5, false, 1);
        foreach (var g in new[] { "rattled", "strained" })
        {
            var counts = Enumerable.Range(0, 5).Select(f => data.Where((s, i) => s.Group == g && folds.FoldOf[i] == f).Count()).ToArray();
            Assert.True(counts.Max() - counts.Min() <= 1, $"{g}: {string.Join(" ", counts)}");
        }
        Assert.Equal([0], folds.Validated);
    }

    [Fact]
    public void PoisonedTestLabelsLeaveTheChoiceAndCoefficientsUnchangedAndTheSearchIsDeterministic()
    {
        var train = FitTestData.Silicon(0, 30);
        var test = FitTestData.Silicon(100, 6);
        var clean = FitTestData.Run(train, test, TestPaths.TempDir());
        var poisoned = test.Select(s =>
        {
            var p = s.Clone();
            var rng = new Random(s.Count + (int)(1000 * s.Energy!.Value % 1000));
            p.Energy = s.Energy + 100 * (rng.NextDouble() - 0.5);
            p.Forces = [.. s.Forces!.Select(f => new Vec3(f.X + rng.NextDouble(), -f.Y, 5 * f.Z))];
            p.Stress = null;
            return p;
        }).ToList();
        var dirty = FitTestData.Run(train, poisoned, TestPaths.TempDir());
        output.WriteLine($"chosen {clean.Chosen.Basis.Label} {clean.Chosen.Hyper}; {clean.Candidates.Count} candidates; test E MAE clean {clean.TestErrors!.Overall.EnergyMaeMevPerAtom:G4}, poisoned {dirty.TestErrors!.Overall.EnergyMaeMevPerAtom:G4}");
        Assert.Equal(clean.Chosen.Id, dirty.Chosen.Id);
        Assert.Equal(clean.Chosen.Basis.Label, dirty.Chosen.Basis.Label);
        Assert.Equal(clean.Chosen.Hyper, dirty.Chosen.Hyper);
        Assert.Equal(clean.Coefficients, dirty.Coefficients); // bit for bit
        Assert.Equal(clean.Candidates.Select(c => c.Score), dirty.Candidates.Select(c => c.Score));
        // the test set was evaluated (and the poison shows there), it just took no part in the choice
        Assert.True(dirty.TestErrors.Overall.EnergyMaeMevPerAtom > 100 * clean.TestErrors.Overall.EnergyMaeMevPerAtom);
        Assert.True(clean.Candidates.Count > 20);
        Assert.Contains(clean.Bases, b => b.Basis.Family == "quadratic" && b.Status == "done");

        // the same seed and thread count give the same search on two threads as well, run twice
        var a = FitTestData.Run(train, test, TestPaths.TempDir(), threads: 2);
        var b = FitTestData.Run(train, test, TestPaths.TempDir(), threads: 2);
        Assert.Equal(a.Coefficients, b.Coefficients);
        Assert.Equal(a.Candidates.Select(c => (c.Basis.Label, c.Hyper, c.Score)), b.Candidates.Select(c => (c.Basis.Label, c.Hyper, c.Score)));
    }

    [Fact]
    public void TheLadderReTunesTheCutOffOnEachLevelAndGoesOnAtTheBest()
    {
        var train = FitTestData.Silicon(0, 24);
        var log = new StringWriter();
        var o = new FitSearch(new FitOptions
        {
            Train = train, Output = TestPaths.TempDir(), Search = FitTestData.Settings() with { Families = "ace", AceLevels = 3, RetuneCutoff = true },
            Seed = 3, Threads = 1, Fingerprint = "t", Log = log,
        }).Run();
        output.WriteLine(log.ToString());
        static double Rc(FitBasis b) => double.Parse(b.Descriptor.Parameters["rc"], CultureInfo.InvariantCulture);
        static int Level(FitBasis b) => int.Parse(b.Label.Split(' ')[1][1..], CultureInfo.InvariantCulture);
        double Best(FitBasis b) => o.Candidates.Where(c => c.Basis.Label == b.Label).Min(c => c.Score);
        var searched = o.Bases.Where(b => b.Status == "done").Select(b => b.Basis).ToList();
        int levels = searched.Max(Level);
        Assert.True(levels >= 1);
        for (int l = 1; l <= levels; l++)
        {
            var here = searched.Where(b => Level(b) == l).ToList();
            // the level starts at the best cut-off of the level below
            Assert.Equal(Rc(searched.Where(b => Level(b) == l - 1).MinBy(Best)!), Rc(here[0]));
            // and searches at least one neighbour (the grid's spacing, 0.5 Å), every one it searches a step from the last better one
            Assert.True(here.Count >= 2, $"level {l}: {string.Join(", ", here.Select(b => b.Label))}");
            Assert.Contains(here.Skip(1), b => Math.Abs(Math.Abs(Rc(b) - Rc(here[0])) - 0.5) < 1e-9);
        }
        // a level's best cut-off is the next level's: the last level's best is where the ladder would have gone on
        var off = new FitSearch(new FitOptions
        {
            Train = train, Output = TestPaths.TempDir(), Search = FitTestData.Settings() with { Families = "ace", AceLevels = 3, RetuneCutoff = false },
            Seed = 3, Threads = 1, Fingerprint = "t",
        }).Run();
        Assert.All(Enumerable.Range(1, off.Bases.Max(b => Level(b.Basis))), l => Assert.Single(off.Bases, b => Level(b.Basis) == l));
    }

    [Fact]
    public void ACutOffListedTwiceOrOutOfRangeIsRefusedAndExtendCutoffsFalseTriesOnlyTheListedRadii()
    {
        var train = FitTestData.Silicon(0, 24);
        FitSearch Search(FitSearchSettings s) => new(new FitOptions
        {
            Train = train, Output = TestPaths.TempDir(), Seed = 3, Threads = 1, Fingerprint = "t", Search = s,
        });
        // a radius listed twice would search one basis twice (and its report would hold two bases of one label)
        var twice = Assert.Throws<MlipException>(() => Search(FitTestData.Settings() with { Families = "ace", Cutoffs = [4.5, 4.5] }).Run());
        Assert.Contains("search.cutoffs: 4.5 Å is listed twice", twice.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', twice.Message);
        Assert.Throws<MlipException>(() => Search(FitTestData.Settings() with { Families = "ace", Cutoffs = [4.5, 4.5] }).PlanForDryRun());
        var far = Assert.Throws<MlipException>(() => Search(FitTestData.Settings() with { Families = "ace", Cutoffs = [4.5, 9] }).Run());
        Assert.Contains("search.cutoffs: 9 Å is outside [2, 8] Å", far.Message, StringComparison.Ordinal);
        // one radius and no extension: the cheapest level at that radius only (with the extension a best radius at the
        // grid's edge, here the only one, goes on in 0.5 Å steps while the score falls)
        var one = Search(FitTestData.Settings() with { Families = "ace", AceLevels = 1, Cutoffs = [4.5], ExtendCutoffs = false }).Run();
        Assert.Equal(["ace L0 rc 4.5"], one.Bases.Where(b => b.Status == "done").Select(b => b.Basis.Label));
        var extended = Search(FitTestData.Settings() with { Families = "ace", AceLevels = 1, Cutoffs = [4.5] }).Run();
        Assert.Contains(extended.Bases, b => b.Basis.Label is "ace L0 rc 5" or "ace L0 rc 4");
    }

    [Fact]
    public void WithRadialLevelOneTheOtherRadialBasesAreComparedOnLevelOneAndTheBestGoesOn()
    {
        var train = FitTestData.Silicon(0, 24);
        var s = FitTestData.Settings() with { Families = "ace", AceLevels = 3, Radials = "SBessel,ChebExpCos:0.5,ChebPow:2", RadialLevel = 1 };
        var o = new FitSearch(new FitOptions { Train = train, Output = TestPaths.TempDir(), Seed = 3, Threads = 1, Fingerprint = "t", Search = s }).Run();
        double Best(FitBasis b) => o.Candidates.Where(c => c.Basis.Label == b.Label).Min(c => c.Score);
        var searched = o.Bases.Where(b => b.Status == "done").Select(b => b.Basis).ToList();
        // level 0 with the first radial base only
        Assert.All(searched.Where(b => b.Label.StartsWith("ace L0 ", StringComparison.Ordinal)), b => Assert.Equal("SBessel", b.Radial));
        // level 1: the first, then the others at the same cut-off, in the order listed
        var l1 = searched.Where(b => b.Label.StartsWith("ace L1 ", StringComparison.Ordinal)).ToList();
        Assert.Equal(["SBessel", "ChebExpCos:0.5", "ChebPow:2"], l1.Select(b => b.Radial));
        Assert.Single(l1.Select(b => b.Descriptor.Parameters["rc"]).Distinct());
        // level 2 (when the ladder got there) goes on with the best of level 1
        var l2 = searched.Where(b => b.Label.StartsWith("ace L2 ", StringComparison.Ordinal)).ToList();
        if (l2.Count > 0) Assert.Equal(l1.MinBy(Best)!.Radial, Assert.Single(l2).Radial);
        // the dry run lists them where they are searched
        var plan = new FitSearch(new FitOptions { Train = train, Output = TestPaths.TempDir(), Seed = 3, Threads = 1, Fingerprint = "t", Search = s }).PlanForDryRun();
        Assert.Equal(["SBessel", "ChebExpCos:0.5", "ChebPow:2"], plan.Where(b => b.Label.StartsWith("ace L1 ", StringComparison.Ordinal)).Select(b => b.Radial));
        Assert.All(plan.Where(b => !b.Label.StartsWith("ace L1 ", StringComparison.Ordinal) && b.IsAce), b => Assert.Equal("SBessel", b.Radial));
    }

    [Fact]
    public void TheOtherRadialBasesAreSearchedOnTheCheapestLevelAtTheBestCutOffAndTheBestIsKeptForTheLadder()
    {
        var train = FitTestData.Silicon(0, 24);
        var log = new StringWriter();
        var o = new FitSearch(new FitOptions
        {
            Train = train, Output = TestPaths.TempDir(), Seed = 3, Threads = 1, Fingerprint = "t", Log = log,
            Search = FitTestData.Settings() with { Families = "ace", AceLevels = 2, Radials = "SBessel, ChebExpCos:2,ChebPow:2", RadialLevel = 0 },
        }).Run();
        output.WriteLine(log.ToString());
        double Best(FitBasis b) => o.Candidates.Where(c => c.Basis.Label == b.Label).Min(c => c.Score);
        var searched = o.Bases.Where(b => b.Status == "done").Select(b => b.Basis).ToList();
        var l0 = searched.Where(b => b.Label.StartsWith("ace L0 ", StringComparison.Ordinal)).ToList();
        // the first radial base on every cut-off of the grid (its labels as before: no radial named), the others at the best of those
        var grid = l0.Where(b => b.Radial == "SBessel").ToList();
        Assert.Equal(["ace L0 rc 4", "ace L0 rc 4.5"], grid.Select(b => b.Label).Take(2));
        string rcBest = grid.MinBy(Best)!.Descriptor.Parameters["rc"];
        var others = l0.Where(b => b.Radial != "SBessel").ToList();
        Assert.Equal(["ChebExpCos:2", "ChebPow:2"], others.Select(b => b.Radial));
        Assert.All(others, b => Assert.Equal(rcBest, b.Descriptor.Parameters["rc"]));
        Assert.Equal($"ace L0 rc {rcBest} ChebExpCos 2", others[0].Label);
        // the ladder goes on with the radial base (and the cut-off) of the best L0 basis
        var bestL0 = l0.MinBy(Best)!;
        var l1 = Assert.Single(searched, b => b.Label.StartsWith("ace L1 ", StringComparison.Ordinal));
        Assert.Equal(bestL0.Radial, l1.Radial);
        Assert.Equal(bestL0.Descriptor.Parameters["rc"], l1.Descriptor.Parameters["rc"]);
        // an unknown radial base: one line naming the setting, before anything is computed
        var bad = new FitSearch(new FitOptions
        {
            Train = train, Output = TestPaths.TempDir(), Seed = 3, Threads = 1, Fingerprint = "t",
            Search = FitTestData.Settings() with { Families = "ace", Radials = "SBessel,Gauss" },
        });
        var e = Assert.Throws<MlipException>(() => bad.Run());
        Assert.Contains("search.radials", e.Message, StringComparison.Ordinal);
        Assert.Contains("'Gauss'", e.Message, StringComparison.Ordinal);
        Assert.Throws<MlipException>(() => new FitSearch(new FitOptions
        {
            Train = train, Output = TestPaths.TempDir(), Seed = 3, Threads = 1, Fingerprint = "t",
            Search = FitTestData.Settings() with { Families = "ace", Radials = "SBessel:3" },
        }).Run());
    }

    [Fact]
    public void ALargeSetHoldsOutOneFoldAndScoresOnItsStructuresOnly()
    {
        var train = FitTestData.Silicon(0, 30);
        var o = new FitSearch(new FitOptions
        {
            Train = train, Output = TestPaths.TempDir(), Search = FitTestData.Settings() with { CrossValidationBelow = 10, Families = "ace", AceLevels = 1 },
            Seed = 3, Threads = 1, Fingerprint = "t",
        }).Run();
        Assert.False(o.Folds.IsCrossValidation);
        int held = train.Where((_, i) => o.Folds.FoldOf[i] == 0).Count();
        Assert.InRange(held, 5, 7);
        Assert.All(o.Candidates, c => Assert.Equal(held, c.Errors!.Overall.Structures));
    }

    [Fact]
    public void ModelLoadsInOtherVerbsAndReportListsEveryCandidate()
    {
        var train = FitTestData.Silicon(0, 30);
        var test = FitTestData.Silicon(100, 6);
        string dir = TestPaths.TempDir();
        var o = FitTestData.Run(train, test, dir);
        var loaded = ModelFile.Load(Path.Combine(dir, "model.json"));
        foreach (var s in test)
        {
            var r1 = o.Potential.Calculate(s, forces: true, stress: true);
            var r2 = loaded.Calculate(s, forces: true, stress: true);
            Assert.Equal(r1.Energy, r2.Energy, 10);
        }
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "report.json")))!;
        Assert.Equal(o.Candidates.Count, report["candidates"]!.AsArray().Count);
        Assert.NotNull(report["candidates"]![0]!["validation"]!["groups"]!["rattled"]!["energy_mae_mev_per_atom"]);
        Assert.NotNull(report["test_errors"]);
        foreach (var f in new[] { "pareto.png", "parity_energy.png", "parity_forces.png", "report.html" })
            Assert.True(new FileInfo(Path.Combine(dir, f)).Length > 1000, f);
    }

    [Theory]
    // the 11:39 idle run's L4 at 7 A: 332 s elapsed, estimated 896 s, 361 s kept for the FS stage, 1800 s budget, ~254 s of
    // other reserves: it fits only without the FS stage's time, so that time gives way
    [InlineData(332, 896, 254, 361, 1800, true)]
    // fits with the FS stage's time too: nothing to give way
    [InlineData(100, 896, 254, 361, 1800, false)]
    // does not fit even without it: the level is skipped, the FS stage keeps its time
    [InlineData(800, 896, 254, 361, 1800, false)]
    public void TheFsStageGivesItsTimeToALadderLevelThatFitsOnlyWithoutIt(double elapsed, double estimate, double reserve, double fs, double budget, bool yields)
        => Assert.Equal(yields, FitSearch.FsReserveYields(elapsed, estimate, reserve, fs, budget));

    [Fact]
    public void ABudgetTooSmallForEveryBasisStillSearchesTheFirstAndSkipsTheRest()
    {
        var train = FitTestData.Silicon(0, 30);
        string dir = TestPaths.TempDir();
        var log = new StringWriter();
        // a budget of 3 s: the reserve (10 s) leaves nothing for any basis; the first one is searched anyway, so that the fit
        // gives a model, and every later one is skipped for time
        var o = new FitSearch(new FitOptions
        {
            Train = train, Output = dir, Search = FitTestData.Settings(0.05), Threads = 1, Fingerprint = "t", Log = log,
        }).Run();
        Assert.Contains("searched anyway", log.ToString());
        Assert.Equal(o.Bases[0].Basis.Label, o.Chosen.Basis.Label);
        Assert.Contains(o.Bases[0].Status, new[] { "done", "stopped: budget" });
        Assert.All(o.Bases.Skip(1), b => Assert.StartsWith("skipped", b.Status));
        Assert.True(File.Exists(Path.Combine(dir, "model.json")));
    }
}
