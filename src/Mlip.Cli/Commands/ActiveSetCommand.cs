using System.CommandLine;
using System.Globalization;
using Mlip.IO;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary>
/// <c>mlip activeset MODEL --training DATA -o OUT.asi [--grade full]</c>: the active set of an ACE model (pacemaker's
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
        var model = new Argument<string>("model") { Description = "ACE model: a PACE .ace/.yace, or a linear ACE model.json" };
        var training = new Option<string[]>("--training", "-t") { Description = "Training structures (every atom is a candidate row)", Required = true, AllowMultipleArgumentsPerToken = true };
        var output = new Option<string?>("--output", "-o") { Description = "Active-set file (.asi, an .npz of per-element inverse matrices); default MODEL.asi" };
        var grade = new Option<string>("--grade") { Description = "linear (B-projections, pacemaker's default) or full (dE/dc of every density, pace_activeset -f)", DefaultValueFactory = _ => "linear" };
        var cmd = new Command("activeset", "Active set (MaxVol) of an ACE model over its training data, for the extrapolation grade γ") { model, training, output, grade };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            string modelPath = parse.GetValue(model)!;
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
