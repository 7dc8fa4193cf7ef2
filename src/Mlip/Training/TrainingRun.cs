using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Reporting;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Training;

/// <summary>The result of <c>mlip train</c>: the potential, the errors on the training and test sets, the files written.</summary>
public sealed record TrainingOutcome(Potential Potential, Evaluation TrainErrors, Evaluation? TestErrors, string ModelPath, TimeSpan DescriptorTime, TimeSpan FitTime);

/// <summary>
/// A whole training run from a <see cref="TrainConfig"/>: read the data, compute descriptors (with
/// derivatives), fit, write the model atomically, evaluate on the training and test sets, write
/// metrics.json and the parity plots. Progress goes to the log writer given to Execute.
/// </summary>
public static class TrainingRun
{
    public static readonly string[] Kinds = ["linear", "quadratic", "nn", "gpr", "pinn", "ace"];

    public static TrainingOutcome Execute(TrainConfig config, TextWriter log, IProgress<WorkProgress>? progress = null, bool resume = false)
    {
        if (!Kinds.Contains(config.ModelKind))
            throw new MlipException($"unknown model kind '{config.ModelKind}' ({string.Join(", ", Kinds)})");
        Directory.CreateDirectory(config.Output);
        var needForces = config.Loss.Force > 0;
        var validation = ValidationOptions.Default with { RequireEnergy = config.Loss.Energy > 0, RequireForces = needForces, RequireStress = config.Loss.Stress > 0 };
        var train = StructureIO.ReadAll(config.Train, config.Format, validation);
        var test = StructureIO.ReadAll(config.Test, config.Format, ValidationOptions.Default);
        log.WriteLine($"data: {train.Count} training structures ({train.Sum(s => s.Count)} atoms), {test.Count} test structures ({test.Sum(s => s.Count)} atoms)");

        var (elements, spec, descriptor) = CreateDescriptor(config, train, log);

        var clock = Stopwatch.StartNew();
        bool derivatives = config.Loss.Force > 0 || config.Loss.Stress > 0;
        // a linear ACE folds each structure's derivative blocks into the design matrix as it goes (AceLinearFit)
        var set = config.ModelKind == "ace" ? null : TrainingSet.Compute(descriptor, train, derivatives, config.Threads, progress);
        var descriptorTime = clock.Elapsed;
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"descriptors: {descriptorTime.TotalSeconds:F1} s"));

        clock.Restart();
        IAtomicModel model;
        JsonObject fitInfo;
        Potential? pace = null; // a fitted nonlinear ACE, as a PACE potential
        switch (config.ModelKind)
        {
            case "linear" or "quadratic":
            {
                var options = new PolynomialFitOptions
                {
                    Order = config.ModelKind == "linear" ? 1 : 2,
                    Weights = config.Loss,
                    Ridge = Setting(config, "ridge", 1e-8),
                    Normalize = Setting(config, "normalize", 1) != 0,
                    Threads = config.Threads,
                };
                CheckKnown(config, "ridge", "normalize", "solver");
                var solver = LeastSquaresSolvers.ByName(config.Model.TryGetValue("solver", out var sv) ? sv : "default", config.Threads);
                var (m, report) = PolynomialFit.Fit(set!, options, solver);
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"fit: {report.Rows} x {report.Columns} least squares, built in {report.BuildTime.TotalSeconds:F2} s, solved in {report.SolveTime.TotalSeconds:F2} s ({report.Method})"));
                model = m;
                fitInfo = new JsonObject
                {
                    ["rows"] = report.Rows, ["columns"] = report.Columns,
                    ["build_seconds"] = report.BuildTime.TotalSeconds, ["solve_seconds"] = report.SolveTime.TotalSeconds,
                    ["solver"] = report.Method,
                };
                break;
            }
            case "nn":
            {
                CheckKnown(config, "hidden", "activation", "optimizer", "epochs", "learning_rate", "momentum", "batch", "validation", "patience", "evaluate_every", "checkpoint_every", "l2");
                var options = new NeuralNetworkOptions
                {
                    Hidden = config.Model.TryGetValue("hidden", out var h) ? ParseInts(h, config) : [30, 30],
                    Activation = config.Model.TryGetValue("activation", out var a) ? Mlp.ParseActivation(a) : Activation.Tanh,
                    Optimizer = config.Model.TryGetValue("optimizer", out var op) ? op : "lbfgs",
                    Epochs = (int)Setting(config, "epochs", 1000),
                    LearningRate = Setting(config, "learning_rate", 0),
                    Momentum = Setting(config, "momentum", 0.9),
                    BatchStructures = (int)Setting(config, "batch", 0),
                    ValidationFraction = Setting(config, "validation", 0.1),
                    Patience = (int)Setting(config, "patience", 0),
                    EvaluateEvery = (int)Setting(config, "evaluate_every", 10),
                    CheckpointEvery = (int)Setting(config, "checkpoint_every", 50),
                    L2 = Setting(config, "l2", 1e-6),
                    Weights = config.Loss,
                    Seed = config.Seed,
                    Threads = config.Threads,
                };
                var trainer = new NeuralNetworkTrainer(set!, options);
                log.WriteLine($"network: {string.Join("-", new[] { descriptor.FeatureCount }.Concat(options.Hidden).Append(1))} per element, {options.Activation}, {trainer.ParameterCount} parameters; " +
                              $"{options.Optimizer}, {trainer.TrainStructures} training / {trainer.ValidationStructures} validation structures");
                var (m, curve, finalLoss) = trainer.Train(log, Path.Combine(config.Output, "checkpoint.json"), resume);
                WriteLearningCurve(config.Output, curve);
                model = m;
                fitInfo = new JsonObject
                {
                    ["optimizer"] = options.Optimizer, ["epochs"] = curve.Count > 0 ? curve[^1].Epoch : 0,
                    ["final_loss"] = finalLoss, ["parameters"] = trainer.ParameterCount,
                };
                break;
            }
            case "pinn":
            {
                if (descriptor is not PinnFeatures pf)
                    throw new MlipException($"{config.SourcePath}: a pinn model needs the 'pinn' descriptor (its rc and dc are the BOP's)");
                CheckKnown(config, "hidden", "activation", "optimizer", "epochs", "bop_epochs", "bop_initial", "learning_rate", "batch", "validation",
                    "penalty", "evaluate_every", "checkpoint_every", "l2");
                var options = new PinnOptions
                {
                    Cutoff = pf.Parameters.Cutoff,
                    CutoffRange = pf.Parameters.CutoffRange,
                    InitialParameters = config.Model.ContainsKey("bop_initial") ? Numbers(config, "bop_initial", []) : null,
                    Hidden = config.Model.TryGetValue("hidden", out var h) ? ParseInts(h, config) : [16, 16],
                    Activation = config.Model.TryGetValue("activation", out var a) ? Mlp.ParseActivation(a) : Activation.Tanh,
                    Optimizer = config.Model.TryGetValue("optimizer", out var op) ? op : "lbfgs",
                    BopEpochs = (int)Setting(config, "bop_epochs", 100),
                    Epochs = (int)Setting(config, "epochs", 200),
                    LearningRate = Setting(config, "learning_rate", 0),
                    BatchStructures = (int)Setting(config, "batch", 0),
                    ValidationFraction = Setting(config, "validation", 0.1),
                    Penalty = Setting(config, "penalty", 1e-3),
                    EvaluateEvery = (int)Setting(config, "evaluate_every", 10),
                    CheckpointEvery = (int)Setting(config, "checkpoint_every", 20),
                    L2 = Setting(config, "l2", 1e-6),
                    Weights = config.Loss,
                    Seed = config.Seed,
                    Threads = config.Threads,
                };
                var trainer = new PinnTrainer(set!, options);
                log.WriteLine($"pinn: {string.Join("-", new[] { descriptor.FeatureCount }.Concat(options.Hidden).Append(new Calculators.PinnBopLayout(elements.Count).SetSize))} network per element, {options.Activation}, " +
                              $"{trainer.ParameterCount} parameters; stage 1: {options.BopEpochs} L-BFGS iterations on the BOP, stage 2: {options.Optimizer} {options.Epochs} epochs, " +
                              $"{trainer.TrainStructures} training / {trainer.ValidationStructures} validation structures");
                var (m, curve, finalLoss) = trainer.Train(log, Path.Combine(config.Output, "checkpoint.json"), resume);
                WriteLearningCurve(config.Output, curve);
                model = m;
                fitInfo = new JsonObject
                {
                    ["optimizer"] = options.Optimizer, ["bop_epochs"] = options.BopEpochs, ["epochs"] = options.Epochs,
                    ["penalty"] = options.Penalty, ["final_loss"] = finalLoss, ["parameters"] = trainer.ParameterCount,
                };
                break;
            }
            case "gpr":
            {
                var options = GaussianProcessOptions(config);
                var solver = LeastSquaresSolvers.ByName(config.Model.TryGetValue("solver", out var sv) ? sv : "torch", config.Threads);
                var (m, report) = GaussianProcessFit.Fit(set!, options, solver);
                var c = report.Chosen;
                foreach (var t in report.Trials)
                {
                    string shape = options.Kernel == GaussianProcessKernelType.Rbf ? $"zeta {t.Zeta}, l {t.LengthScale:G3}, bias {t.Bias:G3}" : $"zeta {t.Zeta}, bias {t.Bias:G3}";
                    string noise = (report.EnergyRows > 0 ? $", sigma_E {t.SigmaEnergy:G3} eV/atom" : "") + (report.ForceRows > 0 ? $", sigma_F {t.SigmaForce:G3} eV/A" : "")
                                   + (report.StressRows > 0 ? $", sigma_S {t.SigmaStress:G3} GPa" : "");
                    log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"gpr: {shape}: log marginal likelihood {t.LogMarginalLikelihood:F1} at sigma^2 {t.Variance:G4} eV^2{noise} ({t.Evaluations} evaluations){(t == c ? "  <- chosen" : "")}"));
                }
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"fit: gpr, {report.SparsePoints} sparse points, {report.EnergyRows + report.ForceRows + report.StressRows} observations ({report.EnergyRows} energies, {report.ForceRows} forces, {report.StressRows} stresses); selection {report.SelectTime.TotalSeconds:F2} s, K_NM {report.BuildTime.TotalSeconds:F2} s, marginal likelihood {report.OptimizeTime.TotalSeconds:F2} s, solve {report.SolveTime.TotalSeconds:F2} s ({report.Method})"));
                model = m;
                fitInfo = new JsonObject
                {
                    ["sparse_points"] = report.SparsePoints,
                    ["energy_rows"] = report.EnergyRows, ["force_rows"] = report.ForceRows, ["stress_rows"] = report.StressRows,
                    ["zeta"] = c.Zeta, ["length_scale"] = c.LengthScale, ["bias"] = c.Bias, ["variance"] = c.Variance,
                    ["sigma_energy"] = report.EnergyRows > 0 ? c.SigmaEnergy : null,
                    ["sigma_force"] = report.ForceRows > 0 ? c.SigmaForce : null,
                    ["sigma_stress"] = report.StressRows > 0 ? c.SigmaStress : null,
                    ["log_marginal_likelihood"] = c.LogMarginalLikelihood,
                    ["select_seconds"] = report.SelectTime.TotalSeconds, ["build_seconds"] = report.BuildTime.TotalSeconds,
                    ["optimize_seconds"] = report.OptimizeTime.TotalSeconds, ["solve_seconds"] = report.SolveTime.TotalSeconds,
                    ["solver"] = report.Method,
                };
                break;
            }
            case "ace":
            {
                if (descriptor is not Mlip.Descriptors.Ace.AceBasisDescriptor ace)
                    throw new MlipException($"{config.SourcePath}: model kind 'ace' needs descriptor type 'ace' (found '{config.DescriptorType}')");
                CheckKnown(config, "ridge", "smoothness", "solver", "embedding", "fs_parameters", "iterations", "initial_scale", "optimizer", "tolerance", "fs_ridge");
                string embedding = Text(config, "embedding", "linear").ToLowerInvariant();
                if (embedding is not ("linear" or "fs"))
                    throw new MlipException($"{config.SourcePath}: model.embedding must be linear or fs, got '{embedding}'");
                // the embedding fit's optimiser, checked before the linear fit
                var optimizer = Text(config, "optimizer", "lm").ToLowerInvariant() switch
                {
                    "lm" or "levenberg-marquardt" => AceEmbeddingOptimizer.LevenbergMarquardt,
                    "lbfgs" or "l-bfgs" => AceEmbeddingOptimizer.Lbfgs,
                    var o => throw new MlipException($"{config.SourcePath}: model.optimizer must be lm or lbfgs, got '{o}'"),
                };
                bool lm = optimizer == AceEmbeddingOptimizer.LevenbergMarquardt;
                var options = new AceLinearFitOptions
                {
                    Weights = config.Loss,
                    Ridge = Setting(config, "ridge", 1e-10),
                    Smoothness = Setting(config, "smoothness", 2),
                    Threads = config.Threads,
                };
                var solver = LeastSquaresSolvers.ByName(config.Model.TryGetValue("solver", out var sv) ? sv : "default", config.Threads);
                log.WriteLine($"ace: {ace.FeatureCount} basis functions, order {ace.Spec.MaxRank}, smoothness prior λ = {options.Ridge:G3}·(d/d_min)^{options.Smoothness:G3}");
                var (m, report) = AceLinearFit.Fit(ace, train, options, solver, progress);
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"fit: {report.Rows} x {report.Columns} least squares, built in {report.BuildTime.TotalSeconds:F2} s, solved in {report.SolveTime.TotalSeconds:F2} s ({report.Method})"));
                model = m;
                fitInfo = new JsonObject
                {
                    ["rows"] = report.Rows, ["columns"] = report.Columns, ["functions"] = ace.FeatureCount,
                    ["build_seconds"] = report.BuildTime.TotalSeconds, ["solve_seconds"] = report.SolveTime.TotalSeconds,
                    ["solver"] = report.Method,
                };
                if (embedding == "fs")
                {
                    var fsOptions = new AceEmbeddingFitOptions
                    {
                        FsParameters = Numbers(config, "fs_parameters", [1, 1, 1, 0.5]),
                        Optimizer = optimizer,
                        Iterations = IntegerOf(config, "iterations", Setting(config, "iterations", lm ? 100 : 200)),
                        Tolerance = Setting(config, "tolerance", 1e-9),
                        InitialScale = Setting(config, "initial_scale", lm ? 0 : 0.05),
                        Ridge = Setting(config, "fs_ridge", DefaultFsRidge),
                        Smoothness = options.Smoothness,
                        Weights = config.Loss,
                        Seed = config.Seed,
                        Threads = config.Threads,
                    };
                    var fs = new AceEmbeddingFit(ace, train, m, fsOptions, progress);
                    log.WriteLine($"fs embedding: {fs.DensityCount} densities (FS parameters {string.Join(" ", fsOptions.FsParameters.Select(v => v.ToString("G4", CultureInfo.InvariantCulture)))}), " +
                                  $"{fs.Parameters.Length} parameters, {fs.ResidualCount} residuals in {fs.ChunkCount} blocks, at most {fsOptions.Iterations} {(lm ? "Levenberg-Marquardt" : "L-BFGS")} iterations from the linear fit");
                    log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fs embedding: Tikhonov regulariser λ = {fsOptions.Ridge:G3}·(d/d_min)^{fsOptions.Smoothness:G3} on the densities' coefficients; at the start {fs.Penalty(fs.Parameters):G4}"));
                    var (startLoss, endLoss) = fs.Run(null, log.WriteLine); // one log line per iteration (the progress line here counts structures)
                    double penalty = fs.Penalty(fs.Parameters);
                    log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fs embedding: loss {startLoss:G4} at the start (the linear fit{(fsOptions.InitialScale > 0 ? " + random further densities" : "")}) → {endLoss:G4} (regulariser {penalty:G4}, data {endLoss - penalty:G4})"));
                    pace = Mlip.Models.Ace.AcePotential.Create(fs.ToCTilde());
                    fitInfo["embedding"] = "fs";
                    fitInfo["fs_optimizer"] = lm ? "lm" : "lbfgs";
                    fitInfo["fs_parameters"] = new JsonArray([.. fsOptions.FsParameters.Select(v => (JsonNode)v)]);
                    fitInfo["fs_start_loss"] = startLoss;
                    fitInfo["fs_final_loss"] = endLoss;
                    fitInfo["fs_ridge"] = fsOptions.Ridge;
                    fitInfo["fs_final_penalty"] = penalty;
                }
                break;
            }
            default:
                throw new MlipException($"unknown model kind '{config.ModelKind}'");
        }
        var fitTime = clock.Elapsed;
        set = null; // the derivative blocks are no longer needed

        var potential = pace ?? new Potential(descriptor, model, spec);
        var trainErrors = Evaluation.Run(potential, train, config.Threads);
        var testErrors = test.Count > 0 ? Evaluation.Run(potential, test, config.Threads) : null;
        if (model is IUncertainModel)
        {
            log.WriteLine();
            UncertaintySummary.Write(log, "training set", trainErrors);
            if (testErrors is not null)
            {
                log.WriteLine();
                UncertaintySummary.Write(log, "test set", testErrors);
            }
        }

        // a nonlinear ACE is a PACE potential: its model file is model.yace
        string modelPath = Path.Combine(config.Output, pace is null ? "model.json" : "model.yace");
        var training = new JsonObject
        {
            ["config"] = config.SourcePath,
            ["seed"] = config.Seed,
            ["loss"] = new JsonObject { ["energy"] = config.Loss.Energy, ["force"] = config.Loss.Force, ["stress"] = config.Loss.Stress },
            ["fit"] = fitInfo,
            ["train_errors"] = MetricsJson.Of(trainErrors.Overall),
            ["test_errors"] = testErrors is null ? null : MetricsJson.Of(testErrors.Overall),
        };
        ModelFile.Save(modelPath, potential, training);
        if (pace is not null)
        {
            AtomicFile.WriteJson(Path.Combine(config.Output, "training.json"), training);
            log.WriteLine($"wrote {modelPath} (pair_style pace; the model file of a nonlinear ACE) and training.json");
        }
        if (Mlip.Models.Ace.AceLinearExport.IsLinearAce(potential))
        {
            // the same potential in PACE's C-tilde form, for LAMMPS pair_style pace
            ModelFile.Save(Path.Combine(config.Output, "model.yace"), potential);
            log.WriteLine($"wrote {Path.Combine(config.Output, "model.yace")} (pair_style pace)");
        }
        WriteMetrics(Path.Combine(config.Output, "metrics.json"), trainErrors, testErrors, descriptorTime, fitTime);
        WriteParityPlots(config.Output, trainErrors, testErrors);
        return new TrainingOutcome(potential, trainErrors, testErrors, modelPath, descriptorTime, fitTime);
    }

    internal static int[] ParseInts(string text, TrainConfig c)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var v = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out v[i]) || v[i] < 1)
                throw new MlipException($"{c.SourcePath}: model.hidden must be a list of layer sizes, e.g. [30, 30]");
        return v;
    }

    private static void WriteLearningCurve(string dir, IReadOnlyList<LearningPoint> curve)
    {
        AtomicFile.WriteText(Path.Combine(dir, "learning_curve.csv"), w =>
        {
            w.WriteLine("epoch,loss,validation_energy_mae_mev_per_atom,validation_force_mae_ev_per_a,seconds");
            foreach (var p in curve)
                w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{p.Epoch},{p.Loss:R},{p.ValidationEnergyMae:R},{p.ValidationForceMae:R},{p.Seconds:F2}"));
        });
        var x = curve.Select(p => (double)p.Epoch).ToArray();
        var series = new List<(string, double[], double[])> { ("training loss", x, curve.Select(p => p.Loss).ToArray()) };
        var ve = curve.Where(p => p.ValidationEnergyMae is not null).ToList();
        if (ve.Count > 0)
        {
            series.Add(("validation E MAE (meV/atom)", ve.Select(p => (double)p.Epoch).ToArray(), ve.Select(p => p.ValidationEnergyMae!.Value).ToArray()));
            series.Add(("validation F MAE (eV/Å)", ve.Select(p => (double)p.Epoch).ToArray(), ve.Select(p => p.ValidationForceMae ?? double.NaN).ToArray()));
        }
        Plots.LearningCurve(Path.Combine(dir, "learning_curve.png"), "Learning curve", series);
    }

    /// <summary>Default `fs_ridge` of `model: {kind: ace, embedding: fs}`, centred on the linear fit: best of 0 ... 1e-7 on mlearn Si (docs/ace.md).</summary>
    public const double DefaultFsRidge = 1e-7;

    internal static double Setting(TrainConfig c, string key, double fallback)
    {
        if (!c.Model.TryGetValue(key, out var v)) return fallback;
        if (v.Equals("true", StringComparison.OrdinalIgnoreCase)) return 1;
        if (v.Equals("false", StringComparison.OrdinalIgnoreCase)) return 0;
        if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x)) return x;
        throw new MlipException($"{c.SourcePath}: model.{key} must be a number, got '{v}'");
    }

    /// <summary>The model settings of a "gpr" run (docs/gpr.md); unknown keys are errors.</summary>
    private static GaussianProcessFitOptions GaussianProcessOptions(TrainConfig config)
    {
        CheckKnown(config, "sparse", "selection", "kernel", "zeta", "length_scale", "bias", "normalize", "variance", "sigma_energy",
            "sigma_force", "sigma_stress", "noise", "optimize", "jitter", "solver");
        string Choice(string key, string fallback, params string[] allowed)
        {
            string v = Text(config, key, fallback).ToLowerInvariant();
            return allowed.Contains(v) ? v : throw new MlipException($"{config.SourcePath}: model.{key} must be {string.Join(" or ", allowed)}, got '{v}'");
        }
        return new GaussianProcessFitOptions
        {
            Kernel = GaussianProcessKernel.ParseType(Text(config, "kernel", "dot")),
            Zeta = [.. Numbers(config, "zeta", [2]).Select(z => IntegerOf(config, "zeta", z))],
            LengthScale = Numbers(config, "length_scale", [0.5]),
            Bias = Numbers(config, "bias", [0]),
            Normalization = Choice("normalize", "scale", "none", "scale", "standard") switch
            {
                "none" => FeatureNormalization.None,
                "scale" => FeatureNormalization.Scale,
                _ => FeatureNormalization.Standard,
            },
            SparsePoints = IntegerOf(config, "sparse", Setting(config, "sparse", 500)),
            Selection = Choice("selection", "cur", "cur", "random") == "cur" ? SparseSelection.Cur : SparseSelection.Random,
            Weights = config.Loss,
            Variance = Optional(config, "variance"),
            SigmaEnergy = Optional(config, "sigma_energy"),
            SigmaForce = Optional(config, "sigma_force"),
            SigmaStress = Optional(config, "sigma_stress"),
            Noise = Choice("noise", "loss", "loss", "likelihood") == "loss" ? NoiseLevels.Loss : NoiseLevels.Likelihood,
            Optimize = Setting(config, "optimize", 1) != 0,
            Jitter = Setting(config, "jitter", 1e-8),
            Seed = config.Seed,
            Threads = config.Threads,
        };
    }

    private static string Text(TrainConfig c, string key, string fallback) => c.Model.TryGetValue(key, out var v) ? v : fallback;

    private static double? Optional(TrainConfig c, string key) => c.Model.ContainsKey(key) ? Setting(c, key, 0) : null;

    /// <summary>A number or a comma-separated list of numbers (YAML lists arrive joined by commas).</summary>
    private static double[] Numbers(TrainConfig c, string key, double[] fallback)
    {
        if (!c.Model.TryGetValue(key, out var v)) return fallback;
        var parts = v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new MlipException($"{c.SourcePath}: model.{key} is empty");
        return [.. parts.Select(t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double x)
            ? x : throw new MlipException($"{c.SourcePath}: model.{key} must be a number or a list of numbers, got '{v}'"))];
    }

    private static int IntegerOf(TrainConfig c, string key, double v) =>
        v == Math.Round(v) && Math.Abs(v) < int.MaxValue ? (int)v : throw new MlipException($"{c.SourcePath}: model.{key} must be a whole number, got {v.ToString(CultureInfo.InvariantCulture)}");

    internal static void CheckKnown(TrainConfig c, params string[] keys)
    {
        foreach (var k in c.Model.Keys)
            if (!keys.Contains(k, StringComparer.OrdinalIgnoreCase))
                throw new MlipException($"{c.SourcePath}: unknown setting model.{k} for a {c.ModelKind} model ({string.Join(", ", keys)})");
    }

    /// <summary>The config's descriptor for the elements of the training structures (sorted by atomic number), logged.</summary>
    internal static (List<string> Elements, DescriptorSpec Spec, IDescriptor Descriptor) CreateDescriptor(TrainConfig config, IReadOnlyList<Structure> train, TextWriter log)
    {
        var elements = train.SelectMany(s => s.AtomicNumbers).Distinct().Order().Select(Elements.Symbol).ToList();
        var spec = new DescriptorSpec(config.DescriptorType, config.DescriptorParameters);
        var descriptor = spec.Create(elements);
        log.WriteLine($"descriptor: {descriptor.Name}, {descriptor.FeatureCount} features, cutoff {descriptor.Cutoff.ToString("G4", CultureInfo.InvariantCulture)} Å");
        return (elements, spec, descriptor);
    }

    private static void WriteMetrics(string path, Evaluation train, Evaluation? test, TimeSpan descriptors, TimeSpan fit)
    {
        var root = new JsonObject
        {
            ["train"] = MetricsJson.Report(train),
            ["test"] = test is null ? null : MetricsJson.Report(test),
            ["descriptor_seconds"] = descriptors.TotalSeconds,
            ["fit_seconds"] = fit.TotalSeconds,
        };
        if (UncertaintySummary.ByGroup(train).Count > 0)
            root["uncertainty"] = new JsonObject
            {
                ["train"] = UncertaintySummary.Json(train),
                ["test"] = test is null ? null : UncertaintySummary.Json(test),
            };
        AtomicFile.WriteJson(path, root);
    }

    private static void WriteParityPlots(string dir, Evaluation train, Evaluation? test)
    {
        (string, double[], double[]) Energies(string label, Evaluation e)
        {
            var c = e.Comparisons.Where(x => x.Structure.Energy is not null && x.Structure.Count > 0).ToList();
            return (label, c.Select(x => x.Structure.Energy!.Value / x.Structure.Count).ToArray(), c.Select(x => x.Predicted.Energy / x.Structure.Count).ToArray());
        }
        (string, double[], double[]) Forces(string label, Evaluation e)
        {
            var r = new List<double>(); var p = new List<double>();
            foreach (var c in e.Comparisons)
                if (c.Structure.Forces is { } f && c.Predicted.Forces is { } pf)
                    for (int i = 0; i < f.Length; i++)
                        for (int k = 0; k < 3; k++) { r.Add(f[i][k]); p.Add(pf[i][k]); }
            return (label, r.ToArray(), p.ToArray());
        }
        var es = new List<(string, double[], double[])> { Energies("train", train) };
        var fs = new List<(string, double[], double[])> { Forces("train", train) };
        if (test is not null) { es.Add(Energies("test", test)); fs.Add(Forces("test", test)); }
        Plots.Parity(Path.Combine(dir, "parity_energy.png"), "Energy per atom", "E/N (eV/atom)", es);
        Plots.Parity(Path.Combine(dir, "parity_forces.png"), "Force components", "F (eV/Å)", fs);
    }
}

/// <summary>The JSON keys of error reports (mlip test --json, metrics.json).</summary>
public static class MetricsJson
{
    public static JsonObject Of(ErrorMetrics m) => new()
    {
        ["structures"] = m.Structures,
        ["atoms"] = m.Atoms,
        ["energy_mae_mev_per_atom"] = m.EnergyMaeMevPerAtom,
        ["energy_rmse_mev_per_atom"] = m.EnergyRmseMevPerAtom,
        ["force_mae_ev_per_a"] = m.ForceMaeEvPerA,
        ["force_rmse_ev_per_a"] = m.ForceRmseEvPerA,
        ["stress_mae_gpa"] = m.StressMaeGpa,
        ["stress_rmse_gpa"] = m.StressRmseGpa,
    };

    public static JsonObject Report(Evaluation e)
    {
        var o = Of(e.Overall);
        var groups = new JsonObject();
        foreach (var (g, m) in e.Groups) groups[g] = Of(m);
        o["groups"] = groups;
        return o;
    }
}
