using System.CommandLine;
using System.Globalization;
using Mlip.Calculators;
using Mlip.IO;
using Mlip.Models;
using Mlip.Models.Uncertainty;
using Mlip.Training;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary>
/// <c>mlip predict --model MODEL DATA -o OUT.xyz</c> (or <c>mlip predict MODEL DATA ...</c>): energies, forces and stresses from a model, written as extxyz;
/// with <c>--uncertainty</c> also the model's uncertainty (Mlip.Models.Uncertainty).
/// </summary>
public static class PredictCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = CommonOptions.Model();
        var modelArg = CommonOptions.ModelArgument();
        var data = new Argument<string[]>("data") { Arity = ArgumentArity.ZeroOrMore, Description = "Structure files" };
        var output = CommonOptions.Output("Output file (extxyz or any writable format)", required: true);
        var format = CommonOptions.InputFormat();
        var legacyFormat = CommonOptions.Legacy("--format", format);
        var threads = CommonOptions.Threads();
        var olcao = new Option<string?>("--olcao") { Description = "Per-atom models of Gaussian coefficients: also write OLCAO potential files (one potential type per atom; PATH for one structure, PATH.K for several)" };
        var uncertainty = new UncertaintyOptions();
        var cmd = new Command("predict", "Predict energies, forces and stresses (and, with --uncertainty, how sure the model is), or per-atom targets") { modelArg, data, model, output, format, legacyFormat, threads, olcao };
        uncertainty.AddTo(cmd);
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var (modelPath, files) = CommonOptions.ModelAndData(parse, model, modelArg, data);
            string? inFormat = CommonOptions.Value(parse, format, legacyFormat);
            if (PerAtomModelFile.IsPerAtom(modelPath))
                return PredictPerAtom(stdout, stderr, PerAtomModelFile.Load(modelPath), StructureIO.ReadAll(files, inFormat, ValidationOptions.Default),
                    parse.GetValue(output)!, parse.GetValue(olcao), parse.GetValue(threads));
            if (parse.GetValue(olcao) is not null) throw new MlipException("--olcao needs a per-atom model of Gaussian coefficients");
            var potential = ModelFile.Load(modelPath);
            var structures = StructureIO.ReadAll(files, inFormat, ValidationOptions.Default);
            int nThreads = Math.Max(1, parse.GetValue(threads));
            var estimator = uncertainty.Build(parse, potential, modelPath, nThreads);
            var results = BatchPrediction.Run(potential, structures, estimator, nThreads, new ProgressLine(stderr, "predict", "structures"));
            string outPath = parse.GetValue(output)!;
            StructureIO.Write(outPath, results);
            if (estimator is not null)
            {
                var scores = results.Select(r => (double)r.Info["uncertainty"]).ToArray();
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"uncertainty ({estimator.Kind}, {estimator.ScoreName}): mean {scores.Average():G4}, max {scores.Max():G4} (structure {Array.IndexOf(scores, scores.Max())})"));
            }
            stdout.WriteLine($"wrote {results.Length} structure(s) with predicted energies, forces and stresses{(estimator is null ? "" : " and uncertainties")} to {outPath}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Predicted per-atom arrays under the target's name (a reference array of that name is kept as reference_NAME); OLCAO files on request.</summary>
    private static int PredictPerAtom(TextWriter stdout, TextWriter stderr, PerAtomPredictor predictor, IReadOnlyList<Structure> structures, string outPath, string? olcaoPath, int threads)
    {
        var results = BatchPrediction.RunPerAtom(predictor, structures, Math.Max(1, threads), new ProgressLine(stderr, "predict", "structures"));
        StructureIO.Write(outPath, results);
        stdout.WriteLine($"wrote {results.Length} structure(s) with predicted '{predictor.TargetName}' ({predictor.Outputs} per atom) to {outPath}");
        if (olcaoPath is not null)
        {
            var alphas = predictor.Alphas ?? throw new MlipException("--olcao: the model's target has no Gaussian exponents (alphas)");
            for (int i = 0; i < results.Length; i++)
            {
                string path = results.Length == 1 ? olcaoPath : $"{olcaoPath}.{i}";
                Interop.OlcaoPotentialFile.Write(path, Interop.OlcaoPotentialFile.TypesPerAtom(results[i], predictor.TargetName, alphas));
                stdout.WriteLine($"wrote {path}: {results[i].Count} potential types (one per atom), {alphas.Length} terms each");
            }
        }
        return 0;
    }
}
