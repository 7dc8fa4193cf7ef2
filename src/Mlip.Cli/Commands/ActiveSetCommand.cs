using System.CommandLine;
using System.Globalization;
using Mlip.IO;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary>
/// <c>mlip activeset --model MODEL --training DATA -o OUT.asi [--grade full]</c> (or <c>mlip activeset MODEL ...</c>): the active set of an ACE model (pacemaker's
/// <c>pace_activeset</c>), for <c>mlip predict --uncertainty</c> and <c>mlip md --uncertainty-threshold</c>.
/// </summary>
public static class ActiveSetCommand
{
    public static AceGradeKind ParseGrade(string s) => s.ToLowerInvariant() switch
    {
        "linear" => AceGradeKind.Linear,
        "full" => AceGradeKind.Full,
        _ => throw new MlipException($"unknown --grade '{s}' (linear or full)"),
    };

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = CommonOptions.Model();
        var modelArg = CommonOptions.ModelArgument();
        var training = CommonOptions.Training("Training structures (every atom is a candidate row)", required: true);
        var output = CommonOptions.Output("Active-set file (.asi, an .npz of per-element inverse matrices); default MODEL.asi");
        var grade = new Option<string>("--grade") { Description = "linear (B-projections, pacemaker's default) or full (dE/dc of every density, pace_activeset -f)", DefaultValueFactory = _ => "linear" };
        var cmd = new Command("activeset", "Active set (MaxVol) of an ACE model over its training data, for the extrapolation grade γ (the model: an ACE .ace/.yace or a linear ACE model.json)") { modelArg, model, training, output, grade };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            string modelPath = CommonOptions.RequireModel(parse, model, modelArg);
            var p = ModelFile.Load(modelPath);
            var data = StructureIO.ReadAll(parse.GetValue(training)!, null, ValidationOptions.Default);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var g = AceExtrapolation.Build(p, data, ParseGrade(parse.GetValue(grade)!), new ProgressLine(stderr, "activeset", "structures"));
            string outPath = parse.GetValue(output) ?? Path.ChangeExtension(modelPath, ".asi");
            g.Save(outPath);
            double max = data.Max(s => g.Grades(s).Max());
            foreach (var el in g.Basis.Elements)
                if (g.InverseOf(el) is { } inv)
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{el}: {g.ActiveAtoms[el].Length} active atoms for {inv.Inverse.Length / Math.Max(1, inv.Rows)} projections ({g.ActiveAtoms[el].Select(a => a.Structure).Distinct().Count()} structures)"));
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"max γ over the training atoms {max:F4} ({clock.Elapsed.TotalSeconds:F1} s)"));
            stdout.WriteLine($"wrote {outPath}");
            return 0;
        }));
        return cmd;
    }
}
