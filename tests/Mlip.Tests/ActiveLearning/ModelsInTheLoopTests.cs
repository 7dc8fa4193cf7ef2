using System.Text.Json.Nodes;
using Mlip.ActiveLearning;
using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Descriptors.Ace;
using Mlip.IO;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Models.Uncertainty;
using Mlip.Structures;
using Mlip.Tests.Support;
using Mlip.Training;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.ActiveLearning;

/// <summary>
/// The loop's other models: a Finnis-Sinclair ACE refitted from the previous iteration's coefficients and graded on its FS
/// projections, and a committee of neural networks graded by its spread; the selection's pool and the MD stop score.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class ModelsInTheLoopTests(ITestOutputHelper output)
{
    private const string Common = """
        element: Si
        reference: sw
        seed: 5
        threads: 2
        batch: 4
        explore:
          md: {temperatures: [600, 1500], steps: 40, snapshots: 3, cells: 1}
          rattle: {count: 6, amplitude: 0.15}
          strain: {count: 6, max: 0.06}
        validation: {temperatures: [300, 2500], snapshots: 2}
        stop: {patience: 0}
        compare_random: false

        """;

    [Fact]
    public void An_fs_ace_loop_grades_by_the_fs_projections_of_its_training_set_and_saves_a_yace()
    {
        string dir = TestPaths.TempDir();
        // 32 functions x 2 densities = 64 projections against 10 x 8 initial atoms
        File.WriteAllText(Path.Combine(dir, "fs.yaml"), Common + """
            descriptor: {type: ace, parameters: {rc: 4.5, order: 3, nmax: [4, 3, 2], lmax: [0, 2, 1]}}
            model: {kind: ace, ridge: 1.0e-8, smoothness: 2, embedding: fs, fs_parameters: [1, 1, 1, 0.5], iterations: 5}
            loss: {energy: 1.0, force: 0.01}
            initial: 10
            budget: 22
            select: {d_optimal: true, max_score: 50, grade: full}
            output: fs
            """);
        output.WriteLine(LearnKillResume.RunToEnd(dir, "fs.yaml"));
        var labelled = StructureIO.Read(Path.Combine(dir, "fs", "active", "labelled.xyz"));
        var validation = StructureIO.Read(Path.Combine(dir, "fs", "validation.xyz"));
        var model = ModelFile.Load(Path.Combine(dir, "fs", "active", "model.yace"));
        var basis = AcePotential.BasisOf(model)!;
        Assert.All(basis.Embeddings, e => Assert.Equal(2, e.NDensity));
        Assert.Equal(22, labelled.Count);
        // the loop's estimator for an FS model is the full grade (FS projections), built over the labelled structures
        var kindGrade = Assert.IsType<AceExtrapolation>(ModelKinds.Get("ace").Uncertainty(model, TrainingSet.Compute(model.Descriptor, labelled, false, 2)));
        Assert.Equal(AceGradeKind.Full, kindGrade.GradeKind);
        var grade = AceExtrapolation.Build(model, labelled, AceGradeKind.Full);
        double trainMax = labelled.Max(s => grade.Grades(s).Max());
        output.WriteLine($"max γ (FS projections) over the {labelled.Count} labelled structures: {trainMax:F6}");
        Assert.InRange(trainMax, 1.0 - 1e-9, 1.0011);
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "fs", "report.json")))!;
        var last = report["active"]!.AsArray()[^1]!;
        double reported = (double)last["validation_mean_uncertainty"]!;
        double mean = validation.Average(s => grade.Grades(s).Max());
        output.WriteLine($"validation mean max γ: loop {reported:R}, rebuilt {mean:R}");
        Assert.Equal(mean, reported, 1e-9 * mean);
        // the loop's validation errors are those of the saved model
        var eval = Evaluation.Run(model, validation, 2);
        Assert.Equal(eval.Overall.ForceRmseEvPerA!.Value, (double)last["validation_force_rmse_ev_per_a"]!, 1e-9);
    }

    [Fact]
    public void The_loop_grades_an_fs_ace_on_its_linear_projections_unless_select_grade_is_full()
    {
        string dir = TestPaths.TempDir();
        string path = Path.Combine(dir, "fs.yaml");
        File.WriteAllText(path, Common + """
            descriptor: {type: ace, parameters: {rc: 4.5, order: 3, nmax: [4, 3, 2], lmax: [0, 2, 1]}}
            model: {kind: ace, ridge: 1.0e-8, smoothness: 2, embedding: fs, fs_parameters: [1, 1, 1, 0.5], iterations: 5}
            loss: {energy: 1.0, force: 0.01}
            initial: 10
            output: fs
            """);
        var sw = ClassicalPotentials.Parse("sw");
        var data = Enumerable.Range(0, 10).Select(q => Label(sw, Crystals.Rattle(Crystals.Diamond("Si", 5.30 + 0.02 * q), 0.06 + 0.01 * q, 300 + q))).ToList();
        var c = LearnConfig.Load(path);
        Assert.Null(c.AceGrade);
        var descriptor = DescriptorFactory.Create(c.DescriptorType, c.DescriptorParameters, c.Elements);
        var spec = new DescriptorSpec(c.DescriptorType, c.DescriptorParameters);
        var fitted = new ActiveLearningLoop(c, new CalculatorReference(sw), TextWriter.Null).Train(descriptor, spec, data);
        var byDefault = Assert.IsType<AceExtrapolation>(fitted.Estimator);
        Assert.Equal(AceGradeKind.Linear, byDefault.GradeKind);
        var full = new ActiveLearningLoop(c with { AceGrade = AceGradeKind.Full }, new CalculatorReference(sw), TextWriter.Null).Train(descriptor, spec, data);
        Assert.Equal(AceGradeKind.Full, Assert.IsType<AceExtrapolation>(full.Estimator).GradeKind);
        // why linear by default: the FS fit from the linear start leaves the second density near zero, where F'(ρ₂) is
        // nearly the same for every atom (F'(0) = 1.25 for the shifted-scaled square root), so the full projections' second
        // block is that constant times the first: the blocks are nearly collinear and the active set of the full grade is
        // near-singular (its γ measures the tiny differences)
        var fullGrade = AceExtrapolation.Build(fitted.Members[0], data, AceGradeKind.Full);
        double lo = double.MaxValue, hi = double.MinValue;
        foreach (var s in data)
        {
            var (species, x, offsets) = fullGrade.Projections(s);
            int nf = fullGrade.ProjectionLength(species[0]) / 2;
            for (int i = 0; i < s.Count; i++)
                for (int f = 0; f < nf; f++)
                {
                    double b = x[offsets[i] + f];
                    if (Math.Abs(b) < 1e-8) continue;
                    double ratio = x[offsets[i] + nf + f] / b; // F'(ρ₂) / F'(ρ₁), F'(ρ₁) = 1
                    lo = Math.Min(lo, ratio); hi = Math.Max(hi, ratio);
                }
        }
        output.WriteLine($"F'(ρ₂) over the training atoms: {lo:R} .. {hi:R}");
        // (measured: 1.2404 .. 1.2483; the first block's F'(ρ₁) = 1 exactly, so the blocks differ by under 1 % per atom)
        Assert.InRange(lo, 1.25 * 0.99, 1.25);
        Assert.InRange(hi, lo, lo * 1.01);
    }

    [Fact]
    public void An_fs_refit_starts_from_the_previous_coefficients_in_their_raw_units()
    {
        var sw = ClassicalPotentials.Parse("sw");
        var data = Enumerable.Range(0, 12).Select(q => Label(sw, Crystals.Rattle(Crystals.Diamond("Si", 5.30 + 0.02 * q), 0.06 + 0.01 * q, 300 + q))).ToList();
        var spec = new DescriptorSpec("ace", new Dictionary<string, string> { ["rc"] = "4.5", ["order"] = "3", ["nmax"] = "4,3,2", ["lmax"] = "0,2,1" });
        var d = (AceBasisDescriptor)spec.Create(["Si"]);
        var options = new AceEmbeddingFitOptions { FsParameters = [1, 1, 1, 0.5], Iterations = 8, Threads = 2, Weights = new LossWeights { Energy = 1, Force = 0.01 } };
        var fitOptions = new AceLinearFitOptions { Threads = 2, Weights = options.Weights };
        var solver = LeastSquaresSolvers.ByName("default", 2);
        // the first fit on part of the data, the refit on all of it (other column scales σ_k)
        var part = data.Take(8).ToList();
        var first = new AceEmbeddingFit(d, part, AceLinearFit.Fit(d, part, fitOptions, solver).Model, options);
        first.Run();
        var raw = first.RawParameters();
        var refit = new AceEmbeddingFit(d, data, AceLinearFit.Fit(d, data, fitOptions, solver).Model, options);
        var linearStart = (double[])refit.Parameters.Clone();
        var (previous, linear, taken) = refit.StartFrom(raw);
        output.WriteLine($"loss of the previous coefficients {previous:G6}, of the linear start {linear:G6}, taken {taken}");
        Assert.Equal(refit.Loss(linearStart, null), linear, 1e-12 * linear);
        // the same potential: the refit's start predicts what the first fit predicts (the σ scaling cancels)
        var before = AcePotential.Create(first.ToCTilde());
        var after = AcePotential.Create(refit.ToCTilde());
        if (taken)
            foreach (var s in data.Skip(8))
            {
                var a = before.Calculate(s, forces: true, stress: false);
                var b = after.Calculate(s, forces: true, stress: false);
                Assert.Equal(a.Energy, b.Energy, 1e-8);
                for (int i = 0; i < s.Count; i++) Assert.True((a.Forces![i] - b.Forces![i]).Norm < 1e-8);
            }
        else Assert.True(previous >= linear);
        Assert.Throws<Mlip.Validation.MlipException>(() => refit.StartFrom(raw[..^1]));
    }

    [Fact]
    public void A_committee_of_networks_runs_the_loop_with_the_members_mean_and_their_spread()
    {
        string dir = TestPaths.TempDir();
        File.WriteAllText(Path.Combine(dir, "nn.yaml"), Common + """
            descriptor: {type: so4, parameters: {twojmax: 2, rcutfac: 4.5}}
            model: {kind: nn, committee: 2, hidden: [6], epochs: 15, validation: 0}
            loss: {energy: 1.0, force: 0.01}
            initial: 6
            budget: 14
            select: {min_distance: 0.05}
            output: nn
            """);
        output.WriteLine(LearnKillResume.RunToEnd(dir, "nn.yaml"));
        var members = new[] { ModelFile.Load(Path.Combine(dir, "nn", "active", "model-1.json")), ModelFile.Load(Path.Combine(dir, "nn", "active", "model-2.json")) };
        var validation = StructureIO.Read(Path.Combine(dir, "nn", "validation.xyz"));
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "nn", "report.json")))!;
        Assert.StartsWith("committee of 2", (string)report["uncertainty"]!);
        var last = report["active"]!.AsArray()[^1]!;
        Assert.Equal(14, (int)last["labelled"]!);
        // members with different seeds differ; the loop's uncertainty is their spread, its errors those of their mean
        var committee = new CommitteeUncertainty(members);
        var spread = validation.Select(s => committee.Estimate(s)).ToList();
        Assert.True(spread.Max(r => r.Score) > 0, "the members should disagree somewhere");
        double mean = spread.Average(r => r.Score);
        double reported = (double)last["validation_mean_uncertainty"]!;
        output.WriteLine($"validation mean force spread: loop {reported:R}, recomputed {mean:R}");
        Assert.Equal(mean, reported, 1e-9 * mean);
        var eval = Evaluation.Run(new CommitteeCalculator(committee), validation, 2);
        Assert.Equal(eval.Overall.ForceRmseEvPerA!.Value, (double)last["validation_force_rmse_ev_per_a"]!, 1e-9);
        var single = Evaluation.Run(members[0], validation, 2);
        Assert.NotEqual(single.Overall.ForceRmseEvPerA!.Value, eval.Overall.ForceRmseEvPerA!.Value);
    }

    [Fact]
    public void Networks_enter_the_loop_only_as_a_committee_and_bad_selection_keys_are_refused_at_their_line()
    {
        string dir = TestPaths.TempDir();
        string path = Path.Combine(dir, "bad.yaml");
        File.WriteAllText(path, "element: Si\nreference: sw\nmodel: {kind: nn, hidden: [4]}\n");
        var e = Assert.Throws<Mlip.Validation.FileFormatException>(() => LearnConfig.Load(path));
        Assert.Contains("bad.yaml:3", e.Message);
        Assert.Contains("committee", e.Message);
        File.WriteAllText(path, "element: Si\nreference: sw\nmodel:\n  kind: nn\n  committee: 0\n");
        Assert.Contains("bad.yaml:5", Assert.Throws<Mlip.Validation.FileFormatException>(() => LearnConfig.Load(path)).Message);
        File.WriteAllText(path, "element: Si\nreference: sw\nselect: {pool_fraction: 1.5}\n");
        Assert.Contains("pool_fraction", Assert.Throws<Mlip.Validation.FileFormatException>(() => LearnConfig.Load(path)).Message);
        File.WriteAllText(path, "element: Si\nreference: sw\nexplore:\n  from: everywhere\n");
        Assert.Contains("bad.yaml:4", Assert.Throws<Mlip.Validation.FileFormatException>(() => LearnConfig.Load(path)).Message);
        File.WriteAllText(path, "element: Si\nreference: sw\nmodel: {kind: nn, committee: 3, hidden: [4]}\nexplore:\n  md: {stop_score: 4}\n  from: given\nselect: {pool_fraction: 0.25}\n");
        var c = LearnConfig.Load(path);
        Assert.True(c.ExploreFromGiven);
        Assert.Equal(3, c.Committee);
        Assert.Equal([4], Assert.IsType<NeuralNetworkSettings>(c.ModelSettings).Hidden);
        Assert.Equal(4, c.Md!.StopScore);
        Assert.Equal(0.25, c.PoolFraction);
    }

    [Fact]
    public void The_pool_is_the_threshold_or_the_least_extrapolating_fraction_whichever_is_larger()
    {
        double[] scores = [9, 1e4, 3, 50, 7, 1e6, 20, 2, 400, 11];
        // two below 5: the lower half (5 of 10) instead
        Assert.Equal([7, 2, 4, 0, 9], BatchSelector.Pool(scores, 3, 5, 0.5));
        // fraction 0: at least a batch
        Assert.Equal([7, 2, 4], BatchSelector.Pool(scores, 3, 5, 0));
        // enough below the threshold: the threshold alone
        Assert.Equal([0, 2, 4, 7, 9], BatchSelector.Pool(scores, 3, 12, 0.5).Order().ToList());
        Assert.Equal(10, BatchSelector.Pool(scores, 3, double.PositiveInfinity, 0.5).Count);
    }

    [Fact]
    public void With_explore_from_given_the_operations_start_from_the_given_crystals_not_from_labelled_picks()
    {
        string dir = TestPaths.TempDir();
        string path = Path.Combine(dir, "g.yaml");
        File.WriteAllText(path, "element: Si\nlattice_constant: 5.431\nreference: sw\nexplore:\n  rattle: {count: 12, amplitude: 0.1}\n  strain: {count: 12, max: 0.05}\n  vacancy: {count: 6, vacancies: 1, min_atoms: 8}\n");
        var c = LearnConfig.Load(path);
        var seeds = ExplorationSeeds.From(c);
        // a labelled pick far from the given diamond cell: a 64-atom supercell, compressed
        var far = Crystals.Supercell(Crystals.Diamond("Si", 5.0), 2, 2, 2);
        var labelled = new List<Structure> { far };
        var fromLabelled = Explorer.Candidates(c, seeds, ClassicalPotentials.Parse("sw"), labelled, new Random(3));
        Assert.All(fromLabelled, s => Assert.Equal(s.Group == "vacancy" ? 63 : 64, s.Count));
        var fromGiven = Explorer.Candidates(c with { ExploreFromGiven = true }, seeds, ClassicalPotentials.Parse("sw"), labelled, new Random(3));
        Assert.Equal(30, fromGiven.Count);
        Assert.All(fromGiven, s => Assert.Equal(s.Group == "vacancy" ? 7 : 8, s.Count));
    }

    [Fact]
    public void Md_exploration_stops_at_the_first_snapshot_past_the_stop_score()
    {
        var sw = ClassicalPotentials.Parse("sw");
        var start = Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 1, 1);
        var md = new MdExploration([600], [null], 40, 8, 1, 1.0, StopScore: 2.5);
        int calls = 0;
        var snaps = Explorer.RunMd(start, md, sw, 600, null, 11, _ => ++calls);   // scores 1, 2, 3, ...
        Assert.Equal(3, snaps.Count);       // the third (score 3 > 2.5) is kept, then the run stops
        Assert.Equal(3, calls);
        Assert.Equal(8, Explorer.RunMd(start, md with { StopScore = double.PositiveInfinity }, sw, 600, null, 11, _ => 1e9).Count);
    }

    private static Structure Label(ICalculator calc, Structure s)
    {
        var r = calc.Calculate(s, forces: true, stress: true);
        s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
        return s;
    }
}
