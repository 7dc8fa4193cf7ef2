using System.CommandLine;
using Mlip.Interop;
using Mlip.Models;

namespace Mlip.Cli.Commands;

/// <summary>
/// <c>mlip export lammps --model MODEL -o DIR [--name NAME] [--format auto|snap|mliap|pace|pace-ace|pinn]</c>: writes a linear or
/// quadratic model on the so4 descriptor as LAMMPS pair_style snap files (NAME.snapcoeff, NAME.snapparam),
/// or any linear, quadratic or neural-network model on so4 or so3 as pair_style mliap files
/// (NAME.mliap.model, NAME.mliap.descriptor, NAME.mliap), an ACE potential (PACE file or linear model on the ace
/// descriptor) as pair_style pace files (NAME.yace, or NAME.ace with pace-ace), and an in.lammps snippet.
/// A PINN is written as pair_style pinn (NAME.pinn).
/// auto: pace for ACE, pinn for PINN, snap for polynomial models on so4, mliap otherwise.
/// </summary>
public static class ExportCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = CommonOptions.Model();
        var modelArg = CommonOptions.ModelArgument();
        var output = CommonOptions.Output("Output folder", required: true);
        var name = new Option<string>("--name") { Description = "Base name of the files", DefaultValueFactory = _ => "mlip" };
        var format = new Option<string>("--format") { Description = "auto (pace for ACE, pinn for PINN, snap for linear/quadratic on so4, mliap otherwise), snap, mliap, pace (.yace), pace-ace (plain .ace) or pinn", DefaultValueFactory = _ => "auto" };
        format.AcceptOnlyFromAmong("auto", "snap", "mliap", "pace", "pace-ace", "pinn");
        var lammps = new Command("lammps", "Write a model for LAMMPS: linear/quadratic on so4 as pair_style snap (NAME.snapcoeff, NAME.snapparam), linear/quadratic/nn on so4 or so3 as pair_style mliap (NAME.mliap.model, NAME.mliap.descriptor, NAME.mliap), ACE as pair_style pace (NAME.yace or NAME.ace), PINN as pair_style pinn (NAME.pinn); and in.lammps")
        {
            modelArg, model, output, name, format,
        };
        lammps.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var potential = ModelFile.Load(CommonOptions.RequireModel(parse, model, modelArg));
            string dir = parse.GetValue(output)!, baseName = parse.GetValue(name)!;
            string fmt = parse.GetValue(format)!;
            if (fmt == "auto")
                fmt = Pace.Handles(potential) ? "pace" : PinnFile.Handles(potential) ? "pinn" : Mliap.Handles(potential) ? "mliap" : "snap";
            var written = fmt switch
            {
                "pace" => Pace.Write(potential, dir, baseName, "yace"),
                "pace-ace" => Pace.Write(potential, dir, baseName, "ace"),
                "pinn" => PinnFile.Write(potential, dir, baseName),
                "mliap" => Mliap.Write(potential, dir, baseName),
                _ => Snap.Write(potential, dir, baseName),
            };
            foreach (var p in written) stdout.WriteLine($"wrote {p}");
            if (fmt == "pace")
                stdout.WriteLine("note: .yace needs LAMMPS built with PACE library v.2021.10.25 or later; older builds " +
                                 "(e.g. Debian's LAMMPS 20220106, PACE v.2021.4.9) read only the plain .ace: use --format pace-ace (docs/ace.md)");
            if (fmt is "pace" or "pace-ace" && Mlip.Models.Ace.AcePotential.PaceBasis(potential).ElementCount > 1)
                stdout.WriteLine("note: PACE library v.2021.4.9 (LAMMPS 2021-2022) evaluates single-element potentials only; " +
                                 "this one has several elements and needs a newer pair_style pace (docs/ace.md)");
            return 0;
        }));
        return new Command("export", "Export a model to another program's format") { lammps };
    }
}
