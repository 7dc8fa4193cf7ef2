using System.CommandLine;
using System.Text.Json;
using Mlip.IO;
using Mlip.Models;
using Mlip.Training;

namespace Mlip.Cli.Commands;

/// <summary><c>mlip test --model MODEL DATA... [--json]</c> (or <c>mlip test MODEL DATA...</c>): errors of a model on labelled data, overall and per group.</summary>
public static class TestCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = CommonOptions.Model();
        var modelArg = CommonOptions.ModelArgument();
        var data = new Argument<string[]>("data") { Arity = ArgumentArity.ZeroOrMore, Description = "Labelled structure files" };
        var json = CommonOptions.Json();
        var format = CommonOptions.InputFormat();
        var legacyFormat = CommonOptions.Legacy("--format", format);
        var threads = CommonOptions.Threads();
        var cmd = new Command("test", "Energy, force and stress errors of a model on labelled data, overall and per group") { modelArg, data, model, json, format, legacyFormat, threads };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var (modelPath, files) = CommonOptions.ModelAndData(parse, model, modelArg, data);
            string? inFormat = CommonOptions.Value(parse, format, legacyFormat);
            if (PerAtomModelFile.IsPerAtom(modelPath))
            {
                var predictor = PerAtomModelFile.Load(modelPath);
                var labelled = StructureIO.ReadAll(files, inFormat,
                    Mlip.IO.ValidationOptions.Default with { RequiredAtomArrays = [predictor.TargetName] });
                var set = PerAtomData.Build(predictor.Descriptor, labelled, predictor.TargetName, parse.GetValue(threads), new ProgressLine(stderr, "test", "structures"));
                var (errors, _) = PerAtomTrainingRun.Evaluate(predictor.Model, set, predictor.Alphas);
                if (parse.GetValue(json)) stdout.WriteLine(PerAtomTrainingRun.Json(errors).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                else PerAtomTable.Write(stdout, predictor.Name, errors);
                return 0;
            }
            var potential = ModelFile.Load(modelPath);
            var structures = StructureIO.ReadAll(files, inFormat);
            var e = Evaluation.Run(potential, structures, parse.GetValue(threads), new ProgressLine(stderr, "test", "structures"));
            if (parse.GetValue(json))
            {
                var root = MetricsJson.Report(e);
                stdout.WriteLine(root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            else ErrorTable.Write(stdout, $"{potential.Name}", e);
            return 0;
        }));
        return cmd;
    }
}
