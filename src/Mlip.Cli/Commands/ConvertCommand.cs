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
        var inFormat = new Option<string?>("--in-format") { Description = $"Input format ({string.Join(", ", StructureFormats.Names)}); default: from the name" };
        var outFormat = new Option<string?>("--out-format") { Description = "Output format; default: from the name (.json writes pymatgen/mlearn)" };
        var index = new Option<int?>("--index", "-i") { Description = "Keep only this frame (0-based; negative counts from the end)" };
        var species = new Option<string[]>("--species-order") { Description = "Element order for LAMMPS atom types (default: increasing atomic number)", AllowMultipleArgumentsPerToken = true };
        var cmd = new Command("convert", "Convert structure files between formats, keeping energies, forces, stress, groups and per-atom arrays")
        {
            input, output, inFormat, outFormat, index, species,
        };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            string inPath = parse.GetValue(input)!, outPath = parse.GetValue(output)!;
            IReadOnlyList<Structure> structures = StructureIO.Read(inPath, parse.GetValue(inFormat), ValidationOptions.Minimal);
            if (parse.GetValue(index) is int k)
            {
                int n = structures.Count;
                int i = k < 0 ? n + k : k;
                if (i < 0 || i >= n) throw new MlipException($"--index {k} is out of range: {inPath} holds {n} structures");
                structures = [structures[i]];
            }
            var format = StructureFormats.ForWriting(outPath, parse.GetValue(outFormat));
            if (format is LammpsDataFormat && parse.GetValue(species) is { Length: > 0 } order)
                format = new LammpsDataFormat { SpeciesOrder = order };
            format.Write(outPath, structures);
            stdout.WriteLine($"wrote {structures.Count} structure(s) to {outPath} ({format.Name})");
            return 0;
        }));
        return cmd;
    }
}
