using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Mlip.Calculators;
using Mlip.Interop;
using Mlip.Structures;
using Mlip.Tests.Support;

namespace Mlip.Tests.Interop;

/// <summary>
/// i-PI protocol: ASE's SocketIOCalculator (Debian python3-ase, /usr/bin/python3) acts as the server,
/// Mlip's <see cref="IpiClient"/> answers with Stillinger-Weber Si; the energies, forces and stresses ASE
/// receives (after its own unit conversions and transposes) equal Mlip's SW on the same positions.
/// </summary>
public class IpiTests
{
    private const string Python = "/usr/bin/python3";

    private const string Script = """
        import json, sys
        import numpy as np
        from ase import Atoms, units
        from ase.calculators.socketio import SocketIOCalculator
        from ase.md.verlet import VelocityVerlet
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
        from ase.optimize import BFGS

        spec = json.load(open(sys.argv[1]))
        atoms = Atoms(spec['symbols'], positions=spec['positions'], cell=spec['cell'], pbc=True)
        records = []

        def record(a):
            records.append(dict(cell=a.cell[:].tolist(), positions=a.positions.tolist(),
                                energy=float(a.get_potential_energy()), forces=a.get_forces().tolist(),
                                stress=a.get_stress(voigt=True).tolist()))

        with SocketIOCalculator(unixsocket=spec['socket'], timeout=600) as calc:
            atoms.calc = calc
            record(atoms)
            rng = np.random.RandomState(7)
            for k in range(2):
                atoms.positions += rng.uniform(-0.05, 0.05, atoms.positions.shape)
                record(atoms)
            # a sheared, stretched (triclinic) cell: checks the cell transpose and the virial
            strain = np.array([[1.01, 0.02, -0.01], [0.0, 0.99, 0.015], [0.005, 0.0, 1.02]])
            atoms.set_cell(atoms.cell[:] @ strain, scale_atoms=True)
            record(atoms)
            MaxwellBoltzmannDistribution(atoms, temperature_K=600, rng=np.random.RandomState(3))
            md = VelocityVerlet(atoms, timestep=1.0 * units.fs)
            md.attach(lambda: record(atoms), interval=1)
            md.run(4)
            opt = BFGS(atoms, logfile=None)
            opt.attach(lambda: record(atoms), interval=1)
            opt.run(fmax=1e-6, steps=3)
        json.dump(records, open(sys.argv[2], 'w'))
        """;

    private static bool HasAse()
    {
        if (!File.Exists(Python)) return false;
        using var p = Process.Start(new ProcessStartInfo(Python, ["-c", "import ase.calculators.socketio"]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        if (!p.WaitForExit(HangGuard.WaitMilliseconds)) { p.Kill(); return false; }
        return p.ExitCode == 0;
    }

    [Fact]
    public async Task AseSocketIoCalculatorGetsMlipStillingerWeber()
    {
        Assert.True(HasAse(), "needs /usr/bin/python3 with ASE (apt-get install python3-ase; .ci/setup.sh does it)");
        var template = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 2, 2), 0.05, 11);
        Assert.Equal(64, template.Count);

        string dir = Path.Combine(Path.GetTempPath(), "mlip-ipi-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        string socketName = "mlip_test_" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            var inv = CultureInfo.InvariantCulture;
            var spec = new Dictionary<string, object>
            {
                ["symbols"] = template.Symbols(),
                ["cell"] = new[] { 0, 1, 2 }.Select(i => new[] { template.Cell[i, 0], template.Cell[i, 1], template.Cell[i, 2] }).ToArray(),
                ["positions"] = template.Positions.Select(p => new[] { p.X, p.Y, p.Z }).ToArray(),
                ["socket"] = socketName,
            };
            string specPath = Path.Combine(dir, "spec.json"), outPath = Path.Combine(dir, "out.json"), scriptPath = Path.Combine(dir, "server.py");
            File.WriteAllText(specPath, JsonSerializer.Serialize(spec));
            File.WriteAllText(scriptPath, Script);

            using var python = Process.Start(new ProcessStartInfo(Python, [scriptPath, specPath, outPath])
            {
                RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = dir,
            })!;
            var stderrTask = python.StandardError.ReadToEndAsync();
            var stdoutTask = python.StandardOutput.ReadToEndAsync();

            using var cancel = new CancellationTokenSource(HangGuard.Run);
            var client = Task.Run(async () =>
            {
                using var c = await IpiClient.ConnectAsync("unix:" + socketName, ClassicalPotentials.Parse("sw"), template,
                    HangGuard.Wait, HangGuard.Wait, cancel.Token);
                return c.Run(cancel.Token);
            });

            bool exited = true;
            try { await python.WaitForExitAsync(cancel.Token); }
            catch (OperationCanceledException) { exited = false; python.Kill(entireProcessTree: true); }
            Assert.True(exited, $"the ASE server did not finish within {HangGuard.Run}");
            await python.WaitForExitAsync();
            string pyErr = await stderrTask, pyOut = await stdoutTask;
            Assert.True(python.ExitCode == 0, $"ASE server failed ({python.ExitCode}): {pyErr}{pyOut}");
            int calculations = await client.WaitAsync(HangGuard.Wait);

            using var doc = JsonDocument.Parse(File.ReadAllText(outPath));
            var records = doc.RootElement.EnumerateArray().ToList();
            Assert.True(records.Count >= 10, $"only {records.Count} records");
            Assert.True(calculations >= 10, $"only {calculations} calculations");

            var sw = ClassicalPotentials.Parse("sw");
            double maxE = 0, maxF = 0, maxS = 0;
            foreach (var r in records)
            {
                static double[] Row(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();
                var cellRows = r.GetProperty("cell").EnumerateArray().Select(Row).ToArray();
                var cell = Matrix3.FromRows(new Vec3(cellRows[0][0], cellRows[0][1], cellRows[0][2]),
                    new Vec3(cellRows[1][0], cellRows[1][1], cellRows[1][2]), new Vec3(cellRows[2][0], cellRows[2][1], cellRows[2][2]));
                var positions = r.GetProperty("positions").EnumerateArray().Select(Row).Select(p => new Vec3(p[0], p[1], p[2])).ToArray();
                var s = new Structure(cell, positions, (int[])template.AtomicNumbers.Clone(), template.Pbc);
                var mine = sw.Calculate(s, forces: true, stress: true);

                double eAse = r.GetProperty("energy").GetDouble();
                maxE = Math.Max(maxE, Math.Abs(eAse - mine.Energy) / Math.Abs(mine.Energy));

                var fAse = r.GetProperty("forces").EnumerateArray().Select(Row).ToArray();
                double fScale = mine.Forces!.Max(f => Math.Max(Math.Abs(f.X), Math.Max(Math.Abs(f.Y), Math.Abs(f.Z))));
                for (int i = 0; i < s.Count; i++)
                    for (int k = 0; k < 3; k++)
                        maxF = Math.Max(maxF, Math.Abs(fAse[i][k] - mine.Forces![i][k]) / fScale);

                // ASE stress: eV/Å³, tension positive, Voigt xx yy zz yz xz xy (Mlip's order)
                var sAse = Row(r.GetProperty("stress")).Select(v => v * Stress.EvPerCubicAngstromInGpa).ToArray();
                var sMine = mine.Stress!.Value.ToVoigt();
                double sScale = sMine.Max(Math.Abs);
                for (int k = 0; k < 6; k++) maxS = Math.Max(maxS, Math.Abs(sAse[k] - sMine[k]) / sScale);
            }
            Console.WriteLine(string.Format(inv, "i-PI/ASE: {0} records, max rel. diff E {1:E2} F {2:E2} stress {3:E2}", records.Count, maxE, maxF, maxS));
            Assert.True(maxE < 1e-8, string.Format(inv, "energy relative difference {0:E2}", maxE));
            Assert.True(maxF < 1e-8, string.Format(inv, "force relative difference {0:E2}", maxF));
            Assert.True(maxS < 1e-6, string.Format(inv, "stress relative difference {0:E2}", maxS));
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    [Theory]
    [InlineData("unix:abc", "/tmp/ipi_abc")]
    [InlineData("localhost:31415", "127.0.0.1:31415")]
    [InlineData("127.0.0.1:12345", "127.0.0.1:12345")]
    public void ParsesAddresses(string address, string expected)
    {
        var (endPoint, _, _) = IpiClient.ParseAddress(address);
        Assert.Equal(expected, endPoint.ToString());
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("host:0")]
    [InlineData("unix:")]
    public void RejectsBadAddresses(string address) =>
        Assert.Throws<Mlip.Validation.MlipException>(() => IpiClient.ParseAddress(address));
}
