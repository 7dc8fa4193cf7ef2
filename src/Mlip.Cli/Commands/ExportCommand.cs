using System.CommandLine;
using Mlip.Interop;
using Mlip.Models;

namespace Mlip.Cli.Commands;

/// <summary>
/// <c>mlip export lammps MODEL -o DIR [--name NAME]</c>: writes a linear or quadratic model on the so4
/// descriptor as LAMMPS pair_style snap files (NAME.snapcoeff, NAME.snapparam) and an in.lammps snippet.
/// </summary>
public static class ExportCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new Argument<string>("model") { Description = "Model file (model.json, or a .snapcoeff with its .snapparam)" };
        var output = new Option<string>("--output", "-o") { Description = "Output folder", Required = true };
        var name = new Option<string>("--name") { Description = "Base name of the files", DefaultValueFactory = _ => "mlip" };
        var lammps = new Command("lammps", "Write a linear/quadratic so4 (SNAP) model for LAMMPS pair_style snap: NAME.snapcoeff, NAME.snapparam, in.lammps")
        {
            model, output, name,
        };
        lammps.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var potential = ModelFile.Load(parse.GetValue(model)!);
            foreach (var p in Snap.Write(potential, parse.GetValue(output)!, parse.GetValue(name)!)) stdout.WriteLine($"wrote {p}");
            return 0;
        }));
        return new Command("export", "Export a model to another program's format") { lammps };
    }
}
