using System.Diagnostics;
using System.Text.Json.Nodes;
using Mlip.ActiveLearning;
using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Descriptors.Ace;
using Mlip.IO;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Structures;
using Mlip.Tests.Support;
using Mlip.Training;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.ActiveLearning;

/// <summary>The learning loop with a linear ACE: refit each iteration, candidates scored by the ACE extrapolation grade.</summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class AceActiveLearningTests(ITestOutputHelper output)
{
    // 32 functions (ranks 1-3) against 48 initial atoms: the active set is determined from the start
    private const string Config = """
        element: Si
        reference: sw
        descriptor: {type: ace, parameters: {rc: 4.5, order: 3, nmax: [4, 3, 2], lmax: [0, 2, 1]}}
        model: {kind: ace, ridge: 1.0e-8, smoothness: 2}
        loss: {energy: 1.0, force: 0.01}
        seed: 5
        threads: 2
        initial: 6
        budget: 36
        batch: 3
        explore:
          md: {temperatures: [600, 1500], steps: 40, snapshots: 3, cells: 1}
          random: {count: 6, composition: Si8}
          rattle: {count: 6, amplitude: 0.15}
          strain: {count: 6, max: 0.06}
        select: {d_optimal: true, max_score: 50}
        validation: {temperatures: [300, 2500], snapshots: 2}
        stop: {patience: 0}
        compare_random: false
        """;

    [Fact]
    public void An_ace_loop_scores_by_the_ace_grade_of_its_training_set_and_resumes_to_the_same_data_set()
    {
        string dir = TestPaths.TempDir();
        File.WriteAllText(Path.Combine(dir, "a.yaml"), Config + "\noutput: a\n");
        File.WriteAllText(Path.Combine(dir, "b.yaml"), Config + "\noutput: b\n");
        var clock = Stopwatch.StartNew();
        output.WriteLine(LearnKillResume.RunToEnd(dir, "a.yaml"));
        output.WriteLine($"uninterrupted run: {clock.Elapsed.TotalSeconds:F1} s");

        // the loop's scores are the ACE grade over its training set: the final model and data set, graded here independently
        var labelled = StructureIO.Read(Path.Combine(dir, "a", "active", "labelled.xyz"));
        var validation = StructureIO.Read(Path.Combine(dir, "a", "validation.xyz"));
        var model = ModelFile.Load(Path.Combine(dir, "a", "active", "model.json"));
        Assert.True(AceLinearExport.IsLinearAce(model));
        var grade = AceExtrapolation.Build(model, labelled);
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "a", "report.json")))!;
        Assert.Equal("ace extrapolation grade max gamma", (string)report["uncertainty"]!);
        var last = report["active"]!.AsArray()[^1]!;
        Assert.Equal(36, (int)last["labelled"]!);
        double mean = validation.Average(s => grade.Grades(s).Max());
        double reported = (double)last["validation_mean_uncertainty"]!;
        output.WriteLine($"validation mean max γ: loop {reported:R}, rebuilt {mean:R}");
        Assert.Equal(mean, reported, 1e-9 * mean);
        // the loop's estimator for this model (the ace kind's) is the ACE grade (not D-optimality over the descriptor values)
        Assert.IsType<AceExtrapolation>(ModelKinds.Get("ace").Uncertainty(model, TrainingSet.Compute(model.Descriptor, labelled, false, 2)));
        // the active set is built over the labelled structures: none of them extrapolates
        double trainMax = labelled.Max(s => grade.Grades(s).Max());
        output.WriteLine($"max γ over the {labelled.Count} labelled structures: {trainMax:F6}");
        Assert.InRange(trainMax, 1.0 - 1e-9, 1.0011);
        Assert.True(mean > 1.0, "the validation set should extrapolate somewhere");

        // killed once its checkpoint shows iteration 2, resumed: the same data set
        int killedAt = LearnKillResume.KillAndResume(dir, "b.yaml", "b");
        LearnKillResume.AssertSameStructures(labelled, StructureIO.Read(Path.Combine(dir, "b", "active", "labelled.xyz")));
        output.WriteLine($"killed at iteration {killedAt}; total {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public void Greedy_batches_on_the_ace_grade_pick_the_most_extrapolating_and_not_its_copy()
    {
        var sw = ClassicalPotentials.Parse("sw");
        var train = Enumerable.Range(0, 8).Select(q => Label(sw, Crystals.Rattle(Crystals.Diamond("Si", 5.40 + 0.01 * q), 0.05, 100 + q))).ToList();
        var spec = new DescriptorSpec("ace", new Dictionary<string, string> { ["rc"] = "4.5", ["order"] = "3", ["nmax"] = "4,3,2", ["lmax"] = "0,2,1" });
        var d = (AceBasisDescriptor)spec.Create(["Si"]);
        var fit = AceLinearFit.Fit(d, train, new AceLinearFitOptions { Threads = 2 }, LeastSquaresSolvers.ByName("default", 2)).Model;
        var potential = new Potential(d, fit, spec);
        var grade = AceExtrapolation.Build(potential, train);
        var far = Crystals.Rattle(Crystals.Diamond("Si", 5.1), 0.25, 7);          // compressed and strongly rattled
        Structure[] candidates = [Crystals.Rattle(Crystals.Diamond("Si", 5.43), 0.08, 8), far, far.Clone(), Crystals.Rattle(Crystals.Diamond("Si", 5.6), 0.1, 9)];
        var vectors = candidates.Select(grade.Vectors).ToList();
        var sets = grade.Sets;
        for (int c = 0; c < candidates.Length; c++)
            Assert.Equal(grade.Grades(candidates[c]).Max(), sets.MaxGrade(vectors[c]), 12);
        double gFar = sets.MaxGrade(vectors[1]);
        output.WriteLine("max γ of the candidates: " + string.Join(", ", vectors.Select(v => sets.MaxGrade(v).ToString("G4"))));
        Assert.True(gFar > 1.5 && gFar == vectors.Max(sets.MaxGrade), $"the strained, rattled cell should extrapolate most (γ {gFar})");
        // with the far cell added its copy interpolates
        var after = sets.With(vectors[1]);
        Assert.InRange(after.MaxGrade(vectors[2]), 0, 1.0011);
        var pick = BatchSelector.DOptimal(sets, vectors, 2);
        Assert.Equal(1, pick[0]);
        Assert.NotEqual(2, pick[1]);
    }

    [Fact]
    public void Model_kind_ace_needs_the_ace_descriptor()
    {
        string dir = TestPaths.TempDir();
        string path = Path.Combine(dir, "bad.yaml");
        File.WriteAllText(path, "element: Si\nreference: sw\ndescriptor: {type: so4, parameters: {twojmax: 2}}\nmodel: {kind: ace}\n");
        var e = Assert.Throws<Mlip.Validation.FileFormatException>(() => LearnConfig.Load(path));
        Assert.Contains("bad.yaml:4", e.Message);
        Assert.Contains("descriptor type 'ace'", e.Message);
        File.WriteAllText(path, "element: Si\nreference: sw\ndescriptor: {type: ace, parameters: {nmax: [4, 3], lmax: [0, 2], order: 2}}\nmodel: {kind: ace, smoothness: 1}\n");
        var c = LearnConfig.Load(path);
        Assert.Equal("4,3", c.DescriptorParameters["nmax"]);
        var settings = Assert.IsType<AceSettings>(c.ModelSettings);
        Assert.Equal(1, settings.Smoothness);
        Assert.Equal(new AceSettings().Ridge, settings.Ridge); // the same default as mlip train's
        File.WriteAllText(path, "element: Si\nreference: sw\ndescriptor: {type: ace}\nmodel:\n  kind: ace\n  smoothnes: 1\n");
        var typo = Assert.Throws<Mlip.Validation.FileFormatException>(() => LearnConfig.Load(path));
        Assert.Contains("bad.yaml:6", typo.Message);
        Assert.Contains("smoothness", typo.Message); // the known keys are listed
    }

    private static Structure Label(ICalculator calc, Structure s)
    {
        var r = calc.Calculate(s, forces: true, stress: true);
        s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
        return s;
    }
}
