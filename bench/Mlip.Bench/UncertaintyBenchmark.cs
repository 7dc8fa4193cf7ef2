using System.Diagnostics;
using Mlip.ActiveLearning;
using Mlip.Calculators;
using Mlip.Data;
using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Models.Uncertainty;
using Mlip.Structures;
using Mlip.Training;

namespace Mlip.Bench;

/// <summary>
/// Does the uncertainty rank the errors? Models of every kind are fitted to a small Stillinger-Weber Si set, then on a
/// separate validation set (MD at 300 K, 1000 K and the liquid, vacancies, surfaces, strained cells) the Spearman
/// correlation of each structure's uncertainty score with its force RMSE (and, where there is one, of the energy std
/// with the energy error) is printed per model kind (linear ACE: the ACE extrapolation grade over the training set).
/// </summary>
public static class UncertaintyBenchmark
{
    public static void Run(string[] args)
    {
        string potentialName = args.FirstOrDefault(a => !a.StartsWith('-')) ?? "sw";
        bool noNn = args.Contains("--no-nn");
        var reference = ClassicalPotentials.Parse(potentialName);
        var clock = Stopwatch.StartNew();
        var train = DatasetGenerator.Generate(reference, DatasetOptions.Quick with { Seed = 11 });
        var validation = DatasetGenerator.Generate(reference, new DatasetOptions
        {
            Seed = 12, DiamondCells = 10, DiamondSupercells = 2, OtherPhaseCells = 0, VacancyCells = 4, SurfaceSlabs = 4,
            Temperatures = [300, 1000, 2500], SnapshotsPerTemperature = 6, MaxStrain = 0.05,
        });
        Console.WriteLine($"{reference.Name}: {train.Count} training, {validation.Count} validation structures ({clock.Elapsed.TotalSeconds:F1} s)");
        var spec = new DescriptorSpec("so4", new Dictionary<string, string> { ["twojmax"] = "4", ["rcutfac"] = "4.9" });
        var d = spec.Create(["Si"]);
        var set = TrainingSet.Compute(d, train, derivatives: true, 2);
        var weights = new LossWeights { Energy = 1, Force = 0.01 };
        var solver = LeastSquaresSolvers.ByName("default", 2);

        Potential Poly(int order, TrainingSet s) => new(d, PolynomialFit.Fit(s, new PolynomialFitOptions { Order = order, Weights = weights, Ridge = 1e-6, Threads = 2 }, solver).Model, spec);

        var kinds = new List<(string Name, IUncertaintyEstimator Estimator)>
        {
            ("linear (D-optimality)", new DOptimalityUncertainty(Poly(1, set), DOptimality.Build(set))),
            ("quadratic (D-optimality)", new DOptimalityUncertainty(Poly(2, set), DOptimality.Build(set))),
        };
        // linear ACE (142 functions, ranks 1-3, as examples/learn-sw-si-ace.yaml) with pacemaker's extrapolation grade over the training set
        var aceSpec = new DescriptorSpec("ace", new Dictionary<string, string> { ["rc"] = "5.0", ["order"] = "3", ["nmax"] = "8,5,3", ["lmax"] = "0,3,2" });
        var aceD = (Mlip.Descriptors.Ace.AceBasisDescriptor)aceSpec.Create(["Si"]);
        var ace = new Potential(aceD, AceLinearFit.Fit(aceD, train, new AceLinearFitOptions { Weights = weights, Threads = 2 }, solver).Model, aceSpec);
        kinds.Add(($"linear ACE, {aceD.FeatureCount} functions (ACE grade)", Mlip.Models.Ace.AceExtrapolation.Build(ace, train)));
        var gp = GaussianProcessFit.Fit(set, new GaussianProcessFitOptions { SparsePoints = 300, Weights = new LossWeights { Energy = 1, Force = 0.05 }, Threads = 2 }).Model;
        kinds.Add(("gpr (variance)", new GaussianProcessUncertainty(new Potential(d, gp, spec), includeForces: true)));
        // committee of quadratic models on bootstrap resamples of the structures
        var rng = new Random(3);
        var members = new List<ICalculator>();
        for (int m = 0; m < 4; m++)
        {
            var idx = Enumerable.Range(0, train.Count).Select(_ => rng.Next(train.Count)).Distinct().ToArray();
            members.Add(Poly(2, new TrainingSet(idx.Select(i => train[i]).ToList(), idx.Select(i => set.Descriptors[i]).ToArray())));
        }
        kinds.Add(("quadratic committee (4 bootstrap fits)", new CommitteeUncertainty(members)));
        if (!noNn)
        {
            var nns = new List<ICalculator>();
            for (int m = 0; m < 3; m++)
            {
                var trainer = new NeuralNetworkTrainer(set, new NeuralNetworkOptions { Hidden = [16, 16], Epochs = 200, Seed = 100 + m, Threads = 2, Weights = new LossWeights { Energy = 1, Force = 0.02 } });
                nns.Add(new Potential(d, trainer.Train(TextWriter.Null).Model, spec));
            }
            kinds.Add(("nn committee (3 seeds/splits)", new CommitteeUncertainty(nns)));
        }
        Console.WriteLine($"models fitted ({clock.Elapsed.TotalSeconds:F1} s)");
        Console.WriteLine($"{"model kind",-42} {"score",-30} {"Spearman(score, F RMSE)",24} {"Spearman(E std, |ΔE|)",22} {"F RMSE eV/Å",12}");
        foreach (var (name, est) in kinds)
        {
            var score = new double[validation.Count];
            var fErr = new double[validation.Count];
            var eStd = new double[validation.Count];
            var eErr = new double[validation.Count];
            double sq = 0; int nf = 0;
            for (int i = 0; i < validation.Count; i++)
            {
                var s = validation[i];
                var r = est.Estimate(s);
                score[i] = r.Score;
                double e = 0;
                for (int a = 0; a < s.Count; a++) e += (r.Forces[a] - s.Forces![a]).NormSquared;
                sq += e; nf += 3 * s.Count;
                fErr[i] = Math.Sqrt(e / (3.0 * s.Count));
                eStd[i] = r.EnergyStd ?? double.NaN;
                eErr[i] = Math.Abs(r.Energy - s.Energy!.Value);
            }
            double sE = Statistics.Spearman(eStd, eErr);
            Console.WriteLine($"{name,-42} {est.ScoreName,-30} {Statistics.Spearman(score, fErr),24:F3} {(double.IsNaN(sE) ? "-" : sE.ToString("F3")),22} {Math.Sqrt(sq / nf),12:F4}");
        }
        Console.WriteLine($"total {clock.Elapsed.TotalSeconds:F1} s");
    }
}
