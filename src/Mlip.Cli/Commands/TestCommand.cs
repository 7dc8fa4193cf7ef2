using System.CommandLine;
using System.Text.Json;
using Mlip.IO;
using Mlip.Models;
using Mlip.Training;

namespace Mlip.Cli.Commands;

/// <summary><c>mlip test MODEL DATA... [--json]</c>: errors of a model on labelled data, overall and per group.</summary>
public static class TestCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new Argument<string>("model") { Description = "Model file (model.json; LAMMPS SNAP: X.snapcoeff with X.snapparam beside it, or snap:COEFF,PARAM; LAMMPS ML-IAP: X.mliap.model with X.mliap.descriptor beside it, X.mliap, or mliap:MODEL,DESCRIPTOR)" };
        var data = new Argument<string[]>("data") { Arity = ArgumentArity.OneOrMore, Description = "Labelled structure files" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var format = new Option<string?>("--format", "-f") { Description = "Input format; default: from the file name" };
        var threads = new Option<int>("--threads", "-j") { Description = "Threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var cmd = new Command("test", "Energy, force and stress errors of a model on labelled data, overall and per group") { model, data, json, format, threads };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            string modelPath = parse.GetValue(model)!;
            if (PerAtomModelFile.IsPerAtom(modelPath))
            {
                var predictor = PerAtomModelFile.Load(modelPath);
                var labelled = StructureIO.ReadAll(parse.GetValue(data)!, parse.GetValue(format),
                    Mlip.IO.ValidationOptions.Default with { RequiredAtomArrays = [predictor.TargetName] });
                var set = PerAtomData.Build(predictor.Descriptor, labelled, predictor.TargetName, parse.GetValue(threads), new ProgressLine(stderr, "test", "structures"));
                var (errors, _) = PerAtomTrainingRun.Evaluate(predictor.Model, set, predictor.Alphas);
                if (parse.GetValue(json)) stdout.WriteLine(PerAtomTrainingRun.Json(errors).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                else PerAtomTable.Write(stdout, predictor.Name, errors);
                return 0;
            }
            var potential = ModelFile.Load(modelPath);
            var structures = StructureIO.ReadAll(parse.GetValue(data)!, parse.GetValue(format));
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
