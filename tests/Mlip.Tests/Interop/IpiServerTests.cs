using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Mlip.ActiveLearning;
using Mlip.Calculators;
using Mlip.Interop;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Tests.Support;
using Xunit.Abstractions;

namespace Mlip.Tests.Interop;

/// <summary>
/// Mlip as the i-PI server: Debian ASE's <c>SocketClient</c> (/usr/bin/python3) is the driver, with an ASE
/// calculator (EMT, Lennard-Jones) as the stand-in DFT code. What Mlip receives equals ASE's own results
/// on the same structures, computed directly in a separate process.
/// </summary>
public class IpiServerTests(ITestOutputHelper output)
{
    private const string Python = "/usr/bin/python3";

    /// <summary>
    /// A driver loop as a user would write one for a DFT code: connect, read the structure Mlip wrote, answer
    /// until EXIT; reconnect while the structure file exists (Mlip removes it before its last EXIT).
    /// "direct" mode instead computes the structures of a JSON file with the same calculator.
    /// </summary>
    private const string Driver = """
        import json, os, sys, time
        import numpy as np
        from ase import Atoms
        from ase.io import read
        from ase.calculators.socketio import SocketClient
        from ase.calculators.emt import EMT
        from ase.calculators.lj import LennardJones

        def calculator(name):
            return EMT() if name == 'emt' else LennardJones(sigma=2.1, epsilon=0.5, rc=4.5)

        if sys.argv[1] == 'direct':
            out = []
            for s in json.load(open(sys.argv[3])):
                pbc = s['pbc']
                atoms = Atoms(s['symbols'], positions=s['positions'], cell=s['cell'], pbc=pbc)
                atoms.calc = calculator(sys.argv[2])
                r = dict(energy=float(atoms.get_potential_energy()), forces=atoms.get_forces().tolist())
                if pbc: r['stress'] = atoms.get_stress(voigt=True).tolist()
                out.append(r)
            json.dump(out, open(sys.argv[4], 'w'))
            sys.exit(0)

        name, structure_file, calc_name = sys.argv[1], sys.argv[2], sys.argv[3]
        connections = 0
        while True:
            t0 = time.time()
            while True:
                try:
                    client = SocketClient(unixsocket=name, timeout=600)
                    break
                except (FileNotFoundError, ConnectionRefusedError):
                    if time.time() - t0 > 600: sys.exit('no server')
                    time.sleep(0.05)
            connections += 1
            atoms = read(structure_file)
            atoms.calc = calculator(calc_name)
            client.run(atoms, use_stress=bool(atoms.pbc.any()))
            if not os.path.exists(structure_file):
                break
        print('connections', connections)
        """;

    private static string WriteDriver(string dir)
    {
        Assert.True(File.Exists(Python), "needs /usr/bin/python3 with ASE (.ci/setup.sh installs python3-ase)");
        // checked here, at once: a driver that cannot start would otherwise only show as the server's hang guard
        using (var probe = Process.Start(new ProcessStartInfo(Python, ["-c", "import ase.calculators.socketio"]) { RedirectStandardError = true, RedirectStandardOutput = true })!)
        {
            var err = probe.StandardError.ReadToEndAsync();
            Assert.True(probe.WaitForExit(HangGuard.WaitMilliseconds), "python3 -c 'import ase' hung");
            Assert.True(probe.ExitCode == 0, "needs /usr/bin/python3 with ASE (.ci/setup.sh installs python3-ase): " + err.Result);
        }
        string path = Path.Combine(dir, "driver.py");
        File.WriteAllText(path, Driver);
        return path;
    }

    private static Process StartPython(string dir, params string[] args)
    {
        var psi = new ProcessStartInfo(Python) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    private static string SocketName() => "mlip_srv_" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>ASE's results computed directly (no socket) on the exact positions and cells (round-trip doubles in JSON).</summary>
    private static List<JsonElement> AseDirect(string dir, string driver, string calc, IReadOnlyList<Structure> structures)
    {
        var spec = structures.Select(s => new Dictionary<string, object>
        {
            ["symbols"] = s.Symbols(),
            ["cell"] = new[] { 0, 1, 2 }.Select(i => new[] { s.Cell[i, 0], s.Cell[i, 1], s.Cell[i, 2] }).ToArray(),
            ["positions"] = s.Positions.Select(p => new[] { p.X, p.Y, p.Z }).ToArray(),
            ["pbc"] = s.Pbc.AllPeriodic,
        }).ToList();
        string inPath = Path.Combine(dir, "direct-in.json"), outPath = Path.Combine(dir, "direct-out.json");
        File.WriteAllText(inPath, JsonSerializer.Serialize(spec));
        using var p = StartPython(dir, driver, "direct", calc, inPath, outPath);
        string err = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(HangGuard.WaitMilliseconds), "ASE direct run hung");
        Assert.True(p.ExitCode == 0, err);
        using var doc = JsonDocument.Parse(File.ReadAllText(outPath));
        return doc.RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
    }

    private static double[] Row(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();

    [Fact]
    public async Task Ase_socket_client_labels_triclinic_mixed_and_resized_structures_as_ase_does_directly()
    {
        string dir = TestPaths.TempDir();
        string driver = WriteDriver(dir);
        string name = SocketName();
        // Cu/Al EMT: cubic, sheared triclinic, a different atom count (reconnect), a primitive triclinic cell, a cluster
        var fcc = Crystals.Fcc("Cu", 3.61);
        var mixed = Crystals.Supercell(fcc, 2, 1, 1);
        for (int i = 0; i < mixed.Count; i += 3) mixed.AtomicNumbers[i] = 13;
        var structures = new List<Structure>
        {
            Crystals.Rattle(mixed, 0.08, 1),
            Crystals.Rattle(Crystals.Deform(mixed, new Matrix3(0.02, 0.07, -0.03, 0.0, -0.03, 0.05, 0.04, 0.0, 0.03)), 0.08, 2),
            Crystals.Rattle(mixed, 0.1, 3),
            Crystals.Rattle(Crystals.Deform(Crystals.Supercell(fcc, 2, 2, 1), new Matrix3(0.01, -0.05, 0.02, 0.03, 0.0, 0.0, -0.02, 0.06, -0.02)), 0.06, 4),
            Crystals.Rattle(new Structure(new Matrix3(0, 1.80, 1.80, 1.85, 0, 1.80, 1.80, 1.75, 0.1), [Vec3.Zero], [29], PeriodicFlags.All), 0, 5),
            Crystals.Rattle(new Structure(Matrix3.Zero, [new(0, 0, 0), new(2.5, 0, 0), new(0, 2.4, 0.3), new(1.2, 1.3, 2.1)], [29, 29, 13, 29], PeriodicFlags.None), 0.05, 6),
        };

        var clock = Stopwatch.StartNew();
        using var python = StartPython(dir, driver, name, Path.Combine(dir, "work", "structure.xyz"), "emt");
        var stdout = python.StandardOutput.ReadToEndAsync();
        var stderr = python.StandardError.ReadToEndAsync();
        var labelled = new List<Structure>();
        int connections;
        using (var reference = new IpiReference("unix:" + name, HangGuard.WaitSeconds, Path.Combine(dir, "work")))
        {
            for (int i = 0; i < structures.Count; i++) labelled.Add(reference.Label(structures[i], $"s{i}"));
            connections = reference.Connections;
        }
        Assert.True(python.WaitForExit(HangGuard.WaitMilliseconds), "the driver did not stop after the server closed");
        string driverOut = await stdout.WaitAsync(HangGuard.Wait), driverErr = await stderr.WaitAsync(HangGuard.Wait);
        Assert.True(python.ExitCode == 0, driverErr + driverOut);
        output.WriteLine($"{structures.Count} structures over {connections} connections in {clock.Elapsed.TotalSeconds:F1} s; driver: {driverOut.Trim()}");
        Assert.Equal(4, connections); // 12 atoms (x3), 8 atoms, 1 atom, 4-atom cluster
        Assert.False(File.Exists(IpiClient.UnixSocketPath(name)), "the socket file is removed");

        var direct = AseDirect(dir, driver, "emt", structures);
        double maxE = 0, maxF = 0, maxS = 0;
        for (int k = 0; k < structures.Count; k++)
        {
            var d = direct[k];
            var s = labelled[k];
            double e = d.GetProperty("energy").GetDouble();
            maxE = Math.Max(maxE, Math.Abs(s.Energy!.Value - e) / Math.Abs(e));
            var f = d.GetProperty("forces").EnumerateArray().Select(Row).ToArray();
            double fScale = Math.Max(1e-3, f.Max(r => r.Max(Math.Abs))); // the 1-atom cell has zero forces by symmetry
            for (int i = 0; i < s.Count; i++)
                for (int q = 0; q < 3; q++) maxF = Math.Max(maxF, Math.Abs(s.Forces![i][q] - f[i][q]) / fScale);
            if (structures[k].Pbc.AllPeriodic)
            {
                var st = Row(d.GetProperty("stress")).Select(v => v * Stress.EvPerCubicAngstromInGpa).ToArray();
                var mine = s.Stress!.Value.ToVoigt();
                double sScale = st.Max(Math.Abs);
                for (int q = 0; q < 6; q++) maxS = Math.Max(maxS, Math.Abs(mine[q] - st[q]) / sScale);
            }
            else Assert.Null(s.Stress);
        }
        output.WriteLine(string.Format(CultureInfo.InvariantCulture, "max relative difference to ASE direct: energy {0:E2}, forces {1:E2}, stress {2:E2}", maxE, maxF, maxS));
        Assert.True(maxE < 1e-10, $"energy {maxE:E2}");
        Assert.True(maxF < 1e-10, $"forces {maxF:E2}");
        Assert.True(maxS < 1e-10, $"stress {maxS:E2}");
    }

    [Fact]
    public void Without_a_client_the_server_times_out_with_a_clear_error()
    {
        string name = SocketName();
        using var server = IpiServer.Listen("unix:" + name, TimeSpan.FromSeconds(0.5));
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<IpiException>(() => server.Calculate(Crystals.Diamond("Si", 5.43), "probe"));
        Assert.Contains("no client connected", e.Message);
        // the timeout is kept (not cut short); how much later it fires depends on the machine's load: only a hang guard above
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.4, HangGuard.Wait.TotalSeconds);
        // a second server on the same socket is refused while the first listens
        Assert.Throws<IpiException>(() => IpiServer.Listen("unix:" + name, TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_calculation_is_replaced_and_the_structure_sent_again()
    {
        string name = SocketName();
        var sw = ClassicalPotentials.Parse("sw");
        var s = Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.43), new Matrix3(0.01, 0.03, 0, 0, -0.02, 0.01, 0.02, 0, 0.01)), 0.1, 7);
        using var server = IpiServer.Listen("unix:" + name, HangGuard.Wait);
        // a client that takes the positions and dies, then a real one (Mlip's own driver with Stillinger-Weber)
        var clients = Task.Run(async () =>
        {
            using (var dying = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            {
                dying.Connect(new UnixDomainSocketEndPoint(IpiClient.UnixSocketPath(name)));
                var buf = new byte[12];
                Receive(dying, buf);
                Assert.Equal("STATUS", Encoding.ASCII.GetString(buf).Trim());
                dying.Send(Encoding.ASCII.GetBytes("READY".PadRight(12)));
                Receive(dying, buf);
                Assert.Equal("POSDATA", Encoding.ASCII.GetString(buf).Trim());
            }
            using var good = await IpiClient.ConnectAsync("unix:" + name, sw, s, HangGuard.Wait, HangGuard.Wait);
            return good.Run();
        });
        var r = server.Calculate(s, "probe");
        server.Dispose(); // EXIT to the good client
        Assert.Equal(1, await clients.WaitAsync(HangGuard.Wait));
        Assert.Equal(2, server.Connections);
        var expected = sw.Calculate(s);
        Assert.Equal(expected.Energy, r.Energy, 1e-10 * Math.Abs(expected.Energy));
        for (int i = 0; i < s.Count; i++) Assert.True((r.Forces[i] - expected.Forces![i]).Norm < 1e-10, $"force {i}");
        var a = r.Stress!.Value.ToVoigt(); var b = expected.Stress!.Value.ToVoigt();
        for (int q = 0; q < 6; q++) Assert.Equal(b[q], a[q], 1e-9);
    }

    [Fact]
    public async Task A_client_that_stops_answering_gives_a_timeout_error_naming_the_structure()
    {
        string name = SocketName();
        using var server = IpiServer.Listen("unix:" + name, TimeSpan.FromSeconds(2));
        using var stuck = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        // connected before the server waits (the listener's backlog holds it), and answered on a thread of its own:
        // a busy thread pool (the whole suite in parallel) must not make the client late for the server's timeout
        stuck.Connect(new UnixDomainSocketEndPoint(IpiClient.UnixSocketPath(name)));
        var client = Task.Factory.StartNew(() =>
        {
            var buf = new byte[12];
            Receive(stuck, buf);
            stuck.Send(Encoding.ASCII.GetBytes("NEEDINIT".PadRight(12)));
            Receive(stuck, buf);
            Assert.Equal("INIT", Encoding.ASCII.GetString(buf).Trim());
            var rest = new byte[8 + 1]; // bead index, length 1, one zero byte
            Receive(stuck, rest);
            Receive(stuck, buf);
            Assert.Equal("STATUS", Encoding.ASCII.GetString(buf).Trim());
            // ... and never answers
        }, TaskCreationOptions.LongRunning);
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<IpiException>(() => server.Calculate(Crystals.Diamond("Si", 5.43), "s7"));
        Assert.Contains("no answer from the client within 2 s for structure s7", e.Message);
        // the 2 s are kept (not cut short); how much later the error comes depends on the machine's load: only a hang guard above
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.9, HangGuard.Wait.TotalSeconds);
        await client.WaitAsync(HangGuard.Wait);
        Assert.False(server.HasClient, "the stuck client is dropped");
    }

    private static void Receive(Socket s, byte[] buf)
    {
        int got = 0;
        while (got < buf.Length)
        {
            int r = s.Receive(buf, got, buf.Length - got, SocketFlags.None);
            if (r == 0) throw new IOException("closed");
            got += r;
        }
    }

    [Fact]
    public async Task Mlip_client_and_server_agree_over_tcp()
    {
        // a free port: bind to 0, read it, release it
        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
            port = ((System.Net.IPEndPoint)probe.LocalEndPoint!).Port;
        }
        var sw = ClassicalPotentials.Parse("sw");
        var s = Crystals.Rattle(Crystals.Deform(Crystals.Supercell(Crystals.Diamond("Si", 5.43), 2, 1, 1), new Matrix3(0.02, -0.04, 0.01, 0.0, 0.01, 0.03, 0.02, 0.0, -0.01)), 0.1, 4);
        using var server = IpiServer.Listen($"127.0.0.1:{port}", HangGuard.Wait);
        var client = Task.Run(async () =>
        {
            using var c = await IpiClient.ConnectAsync($"127.0.0.1:{port}", sw, s, HangGuard.Wait, HangGuard.Wait);
            return c.Run();
        });
        var moved = s.Clone();
        moved.Positions[3] += new Vec3(0.05, -0.02, 0.03);
        var results = new[] { server.Calculate(s), server.Calculate(moved) };
        server.Dispose();
        Assert.Equal(2, await client.WaitAsync(HangGuard.Wait));
        foreach (var (r, x) in results.Zip(new[] { s, moved }))
        {
            var e = sw.Calculate(x);
            Assert.Equal(e.Energy, r.Energy, 1e-12 * Math.Abs(e.Energy));
            for (int i = 0; i < x.Count; i++) Assert.True((r.Forces[i] - e.Forces![i]).Norm < 1e-11, $"force {i}");
            var a = r.Stress!.Value.ToVoigt(); var b = e.Stress!.Value.ToVoigt();
            for (int q = 0; q < 6; q++) Assert.Equal(b[q], a[q], 1e-10);
        }
    }

    [Fact]
    public async Task Mlip_label_over_ipi_equals_the_potential_itself()
    {
        string dir = TestPaths.TempDir();
        string name = SocketName();
        var sw = ClassicalPotentials.Parse("sw");
        var frames = Enumerable.Range(0, 3).Select(i => Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.43), Matrix3.Diagonal(0.01 * i, -0.01, 0.02)), 0.1, 30 + i)).ToList();
        StructureIO.Write(Path.Combine(dir, "in.xyz"), frames);
        var client = Task.Run(async () =>
        {
            using var c = await IpiClient.ConnectAsync("unix:" + name, sw, frames[0], HangGuard.Wait, HangGuard.Wait);
            return c.Run();
        });
        var (code, stdout, err) = Mlip.Tests.Cli.CliTests.Run("label", Path.Combine(dir, "in.xyz"), "-o", Path.Combine(dir, "ipi.xyz"), "--ipi", "unix:" + name,
            "--timeout", HangGuard.WaitSeconds.ToString(CultureInfo.InvariantCulture), "--work", Path.Combine(dir, "work"));
        Assert.True(code == 0, err);
        Assert.Equal(3, await client.WaitAsync(HangGuard.Wait));
        (code, _, err) = Mlip.Tests.Cli.CliTests.Run("label", Path.Combine(dir, "in.xyz"), "-o", Path.Combine(dir, "sw.xyz"), "--potential", "sw", "-j", "1");
        Assert.True(code == 0, err);
        (code, _, err) = Mlip.Tests.Cli.CliTests.Run("label", Path.Combine(dir, "in.xyz"), "-o", Path.Combine(dir, "x.xyz"), "--potential", "sw", "--ipi", "unix:x");
        Assert.Equal(1, code);
        Assert.StartsWith("mlip: error: give exactly one of", err.Trim());
        var a = StructureIO.Read(Path.Combine(dir, "ipi.xyz"));
        var b = StructureIO.Read(Path.Combine(dir, "sw.xyz"));
        for (int k = 0; k < frames.Count; k++)
        {
            Assert.Equal(b[k].Energy!.Value, a[k].Energy!.Value, 1e-9);
            for (int i = 0; i < frames[k].Count; i++) Assert.True((a[k].Forces![i] - b[k].Forces![i]).Norm < 1e-9);
            var sa = a[k].Stress!.Value.ToVoigt(); var sb = b[k].Stress!.Value.ToVoigt();
            for (int q = 0; q < 6; q++) Assert.Equal(sb[q], sa[q], 1e-8);
        }
    }

    [Fact]
    public void The_learn_config_reads_the_ipi_reference_and_refuses_two_references()
    {
        string dir = TestPaths.TempDir();
        string good = Path.Combine(dir, "good.yaml"), bad = Path.Combine(dir, "bad.yaml");
        File.WriteAllText(good, "reference: {ipi: \"unix:dft\", timeout: 120, reconnect: false, stress: false}\nvalidation: v.xyz\n");
        File.WriteAllText(bad, "reference: {ipi: \"unix:dft\", command: \"pw.x\"}\n");
        var c = LearnConfig.Load(good);
        Assert.Equal("unix:dft", c.IpiAddress);
        Assert.Null(c.ReferencePotential);
        Assert.Equal(120, c.CommandTimeoutSeconds);
        Assert.False(c.IpiReconnect);
        Assert.False(c.IpiStress);
        var e = Assert.Throws<Mlip.Validation.FileFormatException>(() => LearnConfig.Load(bad));
        Assert.Contains("bad.yaml:1", e.Message);
    }

    [Fact]
    public async Task Without_reconnect_a_structure_of_another_size_is_refused()
    {
        string dir = TestPaths.TempDir();
        string name = SocketName();
        var sw = ClassicalPotentials.Parse("sw");
        var small = Crystals.Rattle(Crystals.Diamond("Si", 5.43), 0.05, 1);
        var client = Task.Run(async () =>
        {
            using var c = await IpiClient.ConnectAsync("unix:" + name, sw, small, HangGuard.Wait, HangGuard.Wait);
            return c.Run();
        });
        using (var reference = new IpiReference("unix:" + name, HangGuard.WaitSeconds, dir, reconnect: false))
        {
            var l = reference.Label(small, "a");
            Assert.Equal(sw.Calculate(small).Energy, l.Energy!.Value, 1e-9);
            var e = Assert.Throws<IpiException>(() => reference.Label(Crystals.Supercell(small, 2, 1, 1), "b"));
            Assert.Contains("reconnect", e.Message);
        }
        await client.WaitAsync(HangGuard.Wait);
    }

    [Fact]
    public async Task Mlip_learn_runs_with_an_ipi_reference()
    {
        string dir = TestPaths.TempDir();
        string driver = WriteDriver(dir);
        string name = SocketName();
        // validation set labelled by ASE directly with the same Lennard-Jones stand-in
        var validation = new List<Structure>();
        for (int i = 0; i < 4; i++)
            validation.Add(Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.43), 1 + i % 2, 1, 1), 0.1, 20 + i));
        var direct = AseDirect(dir, driver, "lj", validation);
        for (int i = 0; i < validation.Count; i++)
        {
            validation[i].Energy = direct[i].GetProperty("energy").GetDouble();
            validation[i].Forces = direct[i].GetProperty("forces").EnumerateArray().Select(Row).Select(f => new Vec3(f[0], f[1], f[2])).ToArray();
        }
        StructureIO.Write(Path.Combine(dir, "validation.xyz"), validation);
        File.WriteAllText(Path.Combine(dir, "learn.yaml"), $"""
            element: Si
            reference: {"{"}ipi: "unix:{name}", timeout: {HangGuard.WaitSeconds}{"}"}
            descriptor: {"{"}type: so4, parameters: {"{"}twojmax: 2, rcutfac: 4.5{"}"}{"}"}
            model: {"{"}kind: linear{"}"}
            loss: {"{"}energy: 1.0, force: 0.01, stress: 0.0{"}"}
            seed: 3
            threads: 2
            initial: 4
            budget: 8
            batch: 4
            explore:
              rattle: {"{"}count: 4, amplitude: 0.15{"}"}
              strain: {"{"}count: 4, max: 0.05{"}"}
            validation: validation.xyz
            stop: {"{"}patience: 0{"}"}
            compare_random: false
            output: out
            """);
        using var python = StartPython(dir, driver, name, Path.Combine(dir, "out", "reference", "structure.xyz"), "lj");
        var pyOut = python.StandardOutput.ReadToEndAsync();
        var pyErr = python.StandardError.ReadToEndAsync();
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Mlip.Cli.dll"));
        psi.ArgumentList.Add("learn");
        psi.ArgumentList.Add("learn.yaml");
        var clock = Stopwatch.StartNew();
        using var mlip = Process.Start(psi)!;
        var mOut = mlip.StandardOutput.ReadToEndAsync();
        string mErr = mlip.StandardError.ReadToEnd();
        Assert.True(mlip.WaitForExit((int)HangGuard.Run.TotalMilliseconds), "mlip learn hung");
        string mlipOut = await mOut.WaitAsync(HangGuard.Wait);
        output.WriteLine(mlipOut);
        Assert.True(mlip.ExitCode == 0, mErr + mlipOut);
        Assert.True(python.WaitForExit(HangGuard.WaitMilliseconds), "the driver did not stop");
        string driverOut = await pyOut.WaitAsync(HangGuard.Wait), driverErr = await pyErr.WaitAsync(HangGuard.Wait);
        Assert.True(python.ExitCode == 0, driverErr);
        output.WriteLine($"mlip learn with the i-PI reference: {clock.Elapsed.TotalSeconds:F1} s; driver: {driverOut.Trim()}");
        var labelled = StructureIO.Read(Path.Combine(dir, "out", "active", "labelled.xyz"));
        Assert.Equal(8, labelled.Count);
        // every label is ASE's Lennard-Jones value on that structure
        var check = AseDirect(dir, driver, "lj", labelled);
        for (int i = 0; i < labelled.Count; i++)
            Assert.Equal(check[i].GetProperty("energy").GetDouble(), labelled[i].Energy!.Value, 1e-6 * (1 + Math.Abs(labelled[i].Energy!.Value)));
    }
}
