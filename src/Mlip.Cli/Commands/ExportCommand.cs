using System.CommandLine;
using Mlip.Interop;
using Mlip.Models;

namespace Mlip.Cli.Commands;

/// <summary>
/// <c>mlip export lammps MODEL -o DIR [--name NAME]</c>: writes a linear or quadratic model on the so4
/// descriptor as LAMMPS pair_style snap files (NAME.snapcoeff, NAME.snapparam), or a neural network on so4
/// as pair_style mliap files (NAME.mliap.model, NAME.mliap.descriptor), an ACE potential (PACE file or linear
/// model on the ace descriptor) as pair_style pace files (NAME.yace, or NAME.ace with --format pace-ace), and an
/// in.lammps snippet.
/// </summary>
public static class ExportCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new Argument<string>("model") { Description = "Model file (model.json, or a .snapcoeff with its .snapparam)" };
        var output = new Option<string>("--output", "-o") { Description = "Output folder", Required = true };
        var name = new Option<string>("--name") { Description = "Base name of the files", DefaultValueFactory = _ => "mlip" };
        var format = new Option<string>("--format") { Description = "snap, mliap, pace (.yace), pace-ace (plain .ace); default: by model", DefaultValueFactory = _ => "auto" };
        var lammps = new Command("lammps", "Write an so4 model for LAMMPS: linear/quadratic as pair_style snap (NAME.snapcoeff, NAME.snapparam), neural network as pair_style mliap (NAME.mliap.model, NAME.mliap.descriptor); and in.lammps")
        {
            model, output, name, format,
        };
        lammps.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var potential = ModelFile.Load(parse.GetValue(model)!);
            string dir = parse.GetValue(output)!, baseName = parse.GetValue(name)!;
            var written = parse.GetValue(format)!.ToLowerInvariant() switch
            {
                "pace" or "yace" => Pace.Write(potential, dir, baseName, "yace"),
                "pace-ace" or "ace" => Pace.Write(potential, dir, baseName, "ace"),
                "snap" => Snap.Write(potential, dir, baseName),
                "mliap" => Mliap.Write(potential, dir, baseName),
                "auto" => Pace.Handles(potential) ? Pace.Write(potential, dir, baseName, "yace")
                    : Mliap.Handles(potential) ? Mliap.Write(potential, dir, baseName) : Snap.Write(potential, dir, baseName),
                var f => throw new Mlip.Validation.MlipException($"unknown export format '{f}' (snap, mliap, pace, pace-ace)"),
            };
            foreach (var p in written) stdout.WriteLine($"wrote {p}");
            return 0;
        }));
        return new Command("export", "Export a model to another program's format") { lammps };
    }
}
