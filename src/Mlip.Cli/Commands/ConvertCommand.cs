using System.CommandLine;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary><c>mlip convert IN OUT</c>: between any readable and any writable format, labels kept.</summary>
public static class ConvertCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var input = new Argument<string>("input") { Description = "File to read" };
        var output = new Argument<string>("output") { Description = "File to write (written atomically)" };
        var inFormat = CommonOptions.InputFormat();
        var legacyIn = CommonOptions.Legacy("--in-format", inFormat);
        var outFormat = new Option<string?>("--output-format") { Description = "Output structure format; default: from the name (.json writes pymatgen/mlearn)" };
        var legacyOut = CommonOptions.Legacy("--out-format", outFormat);
        var index = CommonOptions.Index();
        var species = new Option<string[]>("--species-order") { Description = "Element order for LAMMPS atom types (default: increasing atomic number)", AllowMultipleArgumentsPerToken = true };
        var cmd = new Command("convert", "Convert structure files between formats, keeping energies, forces, stress, groups and per-atom arrays")
        {
            input, output, inFormat, legacyIn, outFormat, legacyOut, index, species,
        };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            string inPath = parse.GetValue(input)!, outPath = parse.GetValue(output)!;
            IReadOnlyList<Structure> structures = StructureIO.Read(inPath, CommonOptions.Value(parse, inFormat, legacyIn), ValidationOptions.Minimal);
            if (parse.GetValue(index) is int k)
                structures = [structures[CommonOptions.ResolveIndex(k, structures.Count, inPath)]];
            var format = StructureFormats.ForWriting(outPath, CommonOptions.Value(parse, outFormat, legacyOut));
            if (format is LammpsDataFormat && parse.GetValue(species) is { Length: > 0 } order)
                format = new LammpsDataFormat { SpeciesOrder = order };
            format.Write(outPath, structures);
            stdout.WriteLine($"wrote {structures.Count} structure(s) to {outPath} ({format.Name})");
            return 0;
        }));
        return cmd;
    }
}
