using System.CommandLine;
using Mlip.Calculators;
using Mlip.Interop;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
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
        var structure = new Option<string?>("--structure", "-s") { Description = "Template structure: elements and atom order of what the server sends (first frame); needed unless the server sends them in Mlip's JSON INIT (python/mlip does)" };
        var parentPid = new Option<int?>("--parent-pid") { Description = "Exit when this process ends (the Python calculator passes its own pid, so a killed Python leaves no server behind)" };
        var potential = CommonOptions.Potential();
        var connectTimeout = new Option<double>("--connect-timeout") { Description = "Seconds to keep trying to connect", DefaultValueFactory = _ => 60 };
        var ioTimeout = new Option<double>("--io-timeout") { Description = "Seconds to wait for the server on each read or write, so a server that hangs or stops reading cannot block the driver for ever (0: wait for ever)", DefaultValueFactory = _ => 600 };
        var cmd = new Command("serve", "Act as an i-PI driver: compute energies, forces and stresses for an i-PI or ASE (SocketIOCalculator) server")
        {
            modelArg, model, ipi, structure, potential, connectTimeout, ioTimeout, parentPid,
        };
        var uncertainty = new UncertaintyOptions();
        uncertainty.AddTo(cmd);
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            double io = parse.GetValue(ioTimeout);
            if (!(io >= 0) || double.IsInfinity(io)) throw new MlipException($"--io-timeout must be zero (no limit) or a positive number of seconds, not {io}");
            if (!(parse.GetValue(connectTimeout) >= 0)) throw new MlipException("--connect-timeout must be zero or positive (seconds)");
            string? modelPath = CommonOptions.ModelPath(parse, model, modelArg);
            var calc = CalculatorSource.OpenForDynamics(modelPath, parse.GetValue(potential));
            var estimator = uncertainty.Build(parse, calc, modelPath, 1);
            Structure? template = null;
            if (parse.GetValue(structure) is string templatePath)
            {
                var frames = StructureIO.Read(templatePath);
                if (frames.Count == 0) throw new MlipException($"{templatePath}: no structure");
                template = frames[0];
            }
            string address = parse.GetValue(ipi)!;
            using var parentGone = new CancellationTokenSource();
            using var watch = parse.GetValue(parentPid) is int pid ? ParentWatch.Start(pid, parentGone) : null;
            IpiClient client;
            try
            {
                client = IpiClient.ConnectAsync(address, calc, template, TimeSpan.FromSeconds(parse.GetValue(connectTimeout)),
                    io > 0 ? TimeSpan.FromSeconds(io) : null, parentGone.Token).GetAwaiter().GetResult();
                client.Uncertainty = estimator;
            }
            catch (OperationCanceledException) when (parentGone.IsCancellationRequested)
            {
                stderr.WriteLine($"mlip serve: the parent process {parse.GetValue(parentPid)} has ended; not connecting");
                return 1;
            }
            using (client)
            {
                stderr.WriteLine($"mlip serve: connected to {address} ({calc.Name}, {template?.Formula() ?? "species from the server's INIT"})");
                int n;
                try { n = client.Run(parentGone.Token); }
                catch (OperationCanceledException) when (parentGone.IsCancellationRequested) { n = client.Calculations; }
                if (parentGone.IsCancellationRequested) stderr.WriteLine($"mlip serve: the parent process {parse.GetValue(parentPid)} has ended");
                stdout.WriteLine($"served {n} calculation(s)");
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary>Cancels <c>gone</c> when process <c>pid</c> no longer exists (checked twice a second, from a timer thread).</summary>
    private sealed class ParentWatch : IDisposable
    {
        private readonly Timer _timer;

        private ParentWatch(int pid, CancellationTokenSource gone)
        {
            _timer = new Timer(_ =>
            {
                if (!Alive(pid)) gone.Cancel();
            }, null, TimeSpan.Zero, TimeSpan.FromMilliseconds(500));
        }

        public static ParentWatch Start(int pid, CancellationTokenSource gone)
        {
            if (pid <= 0) throw new MlipException($"--parent-pid must be a process id, not {pid}");
            if (!Alive(pid)) throw new MlipException($"--parent-pid {pid}: no such process");
            return new ParentWatch(pid, gone);
        }

        private static bool Alive(int pid)
        {
            try
            {
                using var p = System.Diagnostics.Process.GetProcessById(pid);
                return !p.HasExited;
            }
            catch (ArgumentException) { return false; }
            catch (InvalidOperationException) { return false; }
        }

        public void Dispose() => _timer.Dispose();
    }
}
