using System.CommandLine;
using Mlip.Calculators;
using Mlip.Interop;
using Mlip.IO;
using Mlip.Models;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary>
/// <c>mlip serve (--model MODEL | --potential P) --ipi HOST:PORT|unix:NAME --structure TEMPLATE</c> (MODEL alone is a shorthand for --model MODEL): runs as an
/// i-PI driver (client) for i-PI or ASE's SocketIOCalculator, answering energy, forces and virial until
/// the server sends EXIT or closes the connection. The template gives the elements (i-PI sends none).
/// </summary>
public static class ServeCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = CommonOptions.Model();
        var modelArg = CommonOptions.ModelArgument();
        var ipi = new Option<string>("--ipi") { Description = "i-PI server address: HOST:PORT or unix:NAME (socket /tmp/ipi_NAME)", Required = true };
        var structure = new Option<string>("--structure", "-s") { Description = "Template structure: elements and atom order of what the server sends (first frame)", Required = true };
        var potential = CommonOptions.Potential();
        var connectTimeout = new Option<double>("--connect-timeout") { Description = "Seconds to keep trying to connect", DefaultValueFactory = _ => 60 };
        var ioTimeout = new Option<double>("--io-timeout") { Description = "Seconds to wait for the server on each read or write, so a server that hangs or stops reading cannot block the driver for ever (0: wait for ever)", DefaultValueFactory = _ => 600 };
        var cmd = new Command("serve", "Act as an i-PI driver: compute energies, forces and stresses for an i-PI or ASE (SocketIOCalculator) server")
        {
            modelArg, model, ipi, structure, potential, connectTimeout, ioTimeout,
        };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            double io = parse.GetValue(ioTimeout);
            if (!(io >= 0) || double.IsInfinity(io)) throw new MlipException($"--io-timeout must be zero (no limit) or a positive number of seconds, not {io}");
            if (!(parse.GetValue(connectTimeout) >= 0)) throw new MlipException("--connect-timeout must be zero or positive (seconds)");
            var calc = CalculatorSource.OpenForDynamics(CommonOptions.ModelPath(parse, model, modelArg), parse.GetValue(potential));
            var frames = StructureIO.Read(parse.GetValue(structure)!);
            if (frames.Count == 0) throw new MlipException($"{parse.GetValue(structure)}: no structure");
            var template = frames[0];
            string address = parse.GetValue(ipi)!;
            using var client = IpiClient.ConnectAsync(address, calc, template, TimeSpan.FromSeconds(parse.GetValue(connectTimeout)),
                io > 0 ? TimeSpan.FromSeconds(io) : null).GetAwaiter().GetResult();
            stderr.WriteLine($"mlip serve: connected to {address} ({calc.Name}, {template.Formula()})");
            int n = client.Run();
            stdout.WriteLine($"served {n} calculation(s)");
            return 0;
        }));
        return cmd;
    }
}
