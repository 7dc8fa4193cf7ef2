using System.CommandLine;
using Mlip.ActiveLearning;
using Mlip.Calculators;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary>
/// <c>mlip label DATA... -o OUT (--model M | --potential P | --ipi ADDRESS | --command CMD)</c>: energies, forces and stresses of
/// every structure from a reference method (Mlip.ActiveLearning reference methods): a model, a classical potential, a
/// DFT code in i-PI driver mode connected to Mlip's i-PI server, or a command run on a written input.
/// </summary>
public static class LabelCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var data = new Argument<string[]>("data") { Arity = ArgumentArity.OneOrMore, Description = "Structure files" };
        var output = CommonOptions.Output("Labelled structures (extxyz or any writable format)", required: true);
        var format = CommonOptions.InputFormat();
        var legacyFormat = CommonOptions.Legacy("--format", format);
        var model = CommonOptions.Model();
        var potential = CommonOptions.Potential();
        var ipi = new Option<string?>("--ipi") { Description = "Be the i-PI server on unix:NAME or HOST:PORT and label with the connected client (a DFT code in driver mode); each structure is first written to WORK/structure.xyz" };
        var command = new Option<string?>("--command") { Description = "Shell command run in WORK/TAG on the written input (--input), whose output (--result) is read" };
        var input = new Option<string>("--input") { Description = "With --command: input file name (format from the name)", DefaultValueFactory = _ => "POSCAR" };
        var result = new Option<string>("--result") { Description = "With --command: output file name (OUTCAR, *.xyz ...)", DefaultValueFactory = _ => "OUTCAR" };
        var work = new Option<string>("--work") { Description = "Work folder of --ipi and --command", DefaultValueFactory = _ => "label-work" };
        var timeout = new Option<double>("--timeout") { Description = "Seconds per structure (--command), or per wait for a client or an answer (--ipi)", DefaultValueFactory = _ => 3600 };
        var noReconnect = new Option<bool>("--no-reconnect") { Description = "With --ipi: stop with an error when the atom count or elements change, instead of asking for a new client" };
        var threads = CommonOptions.Threads();
        var cmd = new Command("label", "Label structures with a reference method: a potential, a DFT code over the i-PI protocol (Mlip as the server), or a command")
        {
            data, output, format, legacyFormat, model, potential, ipi, command, input, result, work, timeout, noReconnect, threads,
        };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var given = new[] { parse.GetValue(model), parse.GetValue(potential), parse.GetValue(ipi), parse.GetValue(command) }.Count(v => v is not null);
            if (given != 1) throw new MlipException("give exactly one of --model, --potential, --ipi and --command");
            var structures = StructureIO.ReadAll(parse.GetValue(data)!, CommonOptions.Value(parse, format, legacyFormat), ValidationOptions.Default);
            string workDir = Path.GetFullPath(parse.GetValue(work)!);
            // a file given as --potential is still read as a model (the spelling before --model)
            IReferenceMethod reference = parse.GetValue(model) is { } m ? new CalculatorReference(CalculatorSource.Open(m, null))
                : parse.GetValue(potential) is { } p ? new CalculatorReference(CalculatorSource.Open(File.Exists(p) ? p : null, File.Exists(p) ? null : p))
                : parse.GetValue(ipi) is { } address ? new IpiReference(address, parse.GetValue(timeout), workDir, !parse.GetValue(noReconnect), log: stderr)
                : new CommandReference(parse.GetValue(command)!, workDir, parse.GetValue(input)!, parse.GetValue(result)!, parse.GetValue(timeout));
            using var disposeReference = reference as IDisposable;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var labelled = BatchLabelling.Run(reference, structures, Math.Max(1, parse.GetValue(threads)), new ProgressLine(stderr, "label", "structures"));
            string outPath = parse.GetValue(output)!;
            StructureIO.Write(outPath, labelled);
            stdout.WriteLine($"labelled {labelled.Length} structure(s) with {reference.Name} in {clock.Elapsed.TotalSeconds:F1} s; wrote {outPath}");
            return 0;
        }));
        return cmd;
    }
}
