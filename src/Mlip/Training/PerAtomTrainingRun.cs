using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.Data;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Reporting;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Training;

/// <summary>The result of a per-atom <c>mlip train</c>: the predictor, errors on the training and test sets, the model file.</summary>
public sealed record PerAtomTrainingOutcome(PerAtomPredictor Predictor, PerAtomEvaluation TrainErrors, PerAtomEvaluation? TestErrors, string ModelPath, TimeSpan DescriptorTime, TimeSpan FitTime);

/// <summary>
/// A per-atom training run (<c>target: {per_atom: NAME}</c> in the config; docs/per-atom-targets.md):
/// read the data, compute the descriptors (values only), fit the regressor, write model.json
/// (kind "per_atom"), metrics.json (per component MAE, RMSE, R²; the reconstructed V_B(r) error for
/// Gaussian-expansion targets) and one parity plot per component.
/// </summary>
public static class PerAtomTrainingRun
{
    public static PerAtomTrainingOutcome Execute(TrainConfig config, TextWriter log, IProgress<WorkProgress>? progress = null)
    {
        string target = config.PerAtomTarget ?? throw new MlipException("the config has no per-atom target (target: {per_atom: NAME})");
        var kind = ModelKinds.Get(config.ModelKind);
        var variant = kind.PerAtom ?? throw new MlipException(
            $"{config.SourcePath}: model kind '{kind.Name}' has no per-atom variant ({string.Join(", ", ModelKinds.All.Where(k => k.PerAtom is not null).Select(k => k.Name))})");
        var settings = variant.BindSettings(config.ModelSettings, kind.Name); // each error at its line of the config
        Directory.CreateDirectory(config.Output);
        var validation = ValidationOptions.Default with { RequiredAtomArrays = [target] };
        var train = StructureIO.ReadAll(config.Train, config.Format, validation);
        var test = StructureIO.ReadAll(config.Test, config.Format, validation);
        log.WriteLine($"data: {train.Count} training structures ({train.Sum(s => s.Count)} atoms), {test.Count} test structures ({test.Sum(s => s.Count)} atoms); per-atom target '{target}'");
        double[]? alphas = train.Count > 0 && train[0].Info.TryGetValue(GaussianPotentialTarget.AlphasKey, out var a) && a is double[] al ? al : null;

        var (_, spec, descriptor) = TrainingRun.CreateDescriptor(config, train, log);

        var clock = Stopwatch.StartNew();
        var trainData = PerAtomData.Build(descriptor, train, target, config.Threads, progress);
        var testData = test.Count > 0 ? PerAtomData.Build(descriptor, test, target, config.Threads) : null;
        var descriptorTime = clock.Elapsed;
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"descriptors: {descriptorTime.TotalSeconds:F1} s; {trainData.Outputs} components per atom"));
        if (alphas is not null && alphas.Length != trainData.Outputs) alphas = null;

        clock.Restart();
        var model = variant.Fit(new PerAtomFitContext { Data = trainData, Alphas = alphas, Seed = config.Seed, Threads = config.Threads, Log = log, Source = config.SourcePath }, settings);
        var fitTime = clock.Elapsed;
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fit: {model.Kind}, {fitTime.TotalSeconds:F2} s"));
        var predictor = new PerAtomPredictor(descriptor, model, spec, target, alphas);

        var (trainErrors, trainPredicted) = Evaluate(model, trainData, alphas);
        PerAtomEvaluation? testErrors = null;
        double[]? testPredicted = null;
        if (testData is not null) (testErrors, testPredicted) = Evaluate(model, testData, alphas);

        string modelPath = Path.Combine(config.Output, "model.json");
        PerAtomModelFile.Save(modelPath, predictor, new JsonObject
        {
            ["config"] = config.SourcePath,
            ["seed"] = config.Seed,
            ["train_errors"] = Json(trainErrors),
            ["test_errors"] = testErrors is null ? null : Json(testErrors),
        });
        AtomicFile.WriteJson(Path.Combine(config.Output, "metrics.json"), new JsonObject
        {
            ["target"] = target,
            ["train"] = Json(trainErrors),
            ["test"] = testErrors is null ? null : Json(testErrors),
            ["descriptor_seconds"] = descriptorTime.TotalSeconds,
            ["fit_seconds"] = fitTime.TotalSeconds,
        });
        WriteParityPlots(config.Output, target, trainData, trainPredicted, testData, testPredicted);
        return new PerAtomTrainingOutcome(predictor, trainErrors, testErrors, modelPath, descriptorTime, fitTime);
    }

    public static (PerAtomEvaluation Errors, double[] Predicted) Evaluate(IPerAtomModel model, PerAtomData data, double[]? alphas)
    {
        var predicted = new double[data.Y.Length];
        model.Predict(data.X, data.AtomicNumbers, predicted);
        return (PerAtomEvaluation.Of(data.Y, predicted, data.Outputs, alphas), predicted);
    }

    /// <summary>The JSON of an evaluation: per component MAE, RMSE, R², and the V_B(r) errors when known.</summary>
    public static JsonObject Json(PerAtomEvaluation e) => new()
    {
        ["atoms"] = e.Atoms,
        ["min_r2"] = e.MinR2,
        ["mean_r2"] = e.MeanR2,
        ["vb_relative_l2_mean"] = e.MeanRelativeL2,
        ["vb_relative_l2_max"] = e.MaxRelativeL2,
        ["components"] = new JsonArray([.. e.Components.Select(c => (JsonNode)new JsonObject
        {
            ["component"] = c.Component, ["mae"] = c.Mae, ["rmse"] = c.Rmse, ["r2"] = c.R2, ["reference_std"] = c.ReferenceStd,
        })]),
    };

    private static void WriteParityPlots(string dir, string target, PerAtomData train, double[] trainPredicted, PerAtomData? test, double[]? testPredicted)
    {
        int d = train.Outputs;
        static double[] Column(double[] v, int d, int c)
        {
            var r = new double[v.Length / d];
            for (int i = 0; i < r.Length; i++) r[i] = v[i * d + c];
            return r;
        }
        for (int c = 0; c < d; c++)
        {
            var series = new List<(string, double[], double[])> { ("train", Column(train.Y, d, c), Column(trainPredicted, d, c)) };
            if (test is not null && testPredicted is not null) series.Add(("test", Column(test.Y, d, c), Column(testPredicted, d, c)));
            Plots.Parity(Path.Combine(dir, string.Create(CultureInfo.InvariantCulture, $"parity_{target}_{c:D2}.png")),
                string.Create(CultureInfo.InvariantCulture, $"{target}[{c}]"), string.Create(CultureInfo.InvariantCulture, $"{target}[{c}]"), series);
        }
    }
}
