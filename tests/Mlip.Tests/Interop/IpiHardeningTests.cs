using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Mlip.Interop;
using Mlip.IO;
using Mlip.Structures;

namespace Mlip.Tests.Interop;

/// <summary>
/// The i-PI driver (<c>mlip serve</c>) and server (<c>mlip label --ipi</c>) against hostile or broken peers:
/// fake servers and clients on loopback only (UNIX sockets, 127.0.0.1), every wait bounded by a generous
/// hang guard, every exchange a handshake (no sleeps).
/// </summary>
public class IpiHardeningTests
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(60);

    private static string SocketPath() => "/tmp/mlip_hard_" + Guid.NewGuid().ToString("N")[..10];

    private static Socket ListenUnix(string path)
    {
        var l = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        l.Bind(new UnixDomainSocketEndPoint(path));
        l.Listen(1);
        return l;
    }

    private static Socket AcceptWithGuard(Socket listener)
    {
        Assert.True(listener.Poll((int)Guard.TotalMicroseconds, SelectMode.SelectRead), "the driver never connected");
        var c = listener.Accept();
        c.ReceiveTimeout = (int)Guard.TotalMilliseconds;
        c.SendTimeout = (int)Guard.TotalMilliseconds;
        return c;
    }

    private static byte[] Header(string h) => Encoding.ASCII.GetBytes(h.PadRight(12));

    private static void ReceiveExactly(Socket s, byte[] buf)
    {
        int got = 0;
        while (got < buf.Length)
        {
            int r = s.Receive(buf, got, buf.Length - got, SocketFlags.None);
            if (r == 0) throw new IOException("closed");
            got += r;
        }
    }

    private static string ReceiveHeader(Socket s)
    {
        var b = new byte[12];
        ReceiveExactly(s, b);
        return Encoding.ASCII.GetString(b).Trim();
    }

    /// <summary>Reads until the peer closes (true) or the hang guard passes (false).</summary>
    private static bool ReadsUntilClosed(Socket s)
    {
        var buf = new byte[4096];
        try
        {
            while (s.Receive(buf) > 0) { }
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted) { return true; }
        catch (SocketException) { return false; }
    }

    private static string Template(string dir)
    {
        string path = Path.Combine(dir, "si.xyz");
        StructureIO.Write(path, [Crystals.Diamond("Si", 5.431)]);
        return path;
    }

    private static Task<(int code, string stdout, string stderr)> Serve(string socketPath, string template, params string[] extra) =>
        Task.Factory.StartNew(() => Cli.CliTests.Run(["serve", "--potential", "sw", "--ipi", "unix:" + socketPath, "--structure", template, "--connect-timeout", "60", .. extra]),
            TaskCreationOptions.LongRunning);

    private static string OneErrorLine((int code, string stdout, string stderr) r)
    {
        Assert.True(r.code == 1, $"exit {r.code}: {r.stderr}");
        var lines = r.stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("mlip:")).ToList();
        Assert.Single(lines);
        Assert.StartsWith("mlip: error: ", lines[0]);
        return lines[0];
    }

    private static byte[] PosData(double[] h, double[] positions)
    {
        int n = positions.Length / 3;
        var buf = new byte[12 + 72 + 72 + 4 + 24 * n];
        Header("POSDATA").CopyTo(buf, 0);
        int o = 12;
        foreach (double v in h) { BinaryPrimitives.WriteDoubleLittleEndian(buf.AsSpan(o), v); o += 8; }
        o += 72; // h⁻¹: ignored by the driver
        BinaryPrimitives.WriteInt32LittleEndian(buf.AsSpan(o), n); o += 4;
        foreach (double v in positions) { BinaryPrimitives.WriteDoubleLittleEndian(buf.AsSpan(o), v); o += 8; }
        return buf;
    }

    [Theory]
    [InlineData("position", double.NaN)]
    [InlineData("position", double.PositiveInfinity)]
    [InlineData("position", 1e15)]
    [InlineData("cell", double.NaN)]
    [InlineData("cell", 1e15)]
    public async Task Serve_rejects_non_finite_or_absurd_posdata_with_one_line_and_disconnects(string where, double bad)
    {
        string dir = TestPaths.TempDir();
        string path = SocketPath();
        try
        {
            using var listener = ListenUnix(path);
            var serve = Serve(path, Template(dir));
            using (var c = AcceptWithGuard(listener))
            {
                c.Send(Header("STATUS"));
                Assert.Equal("READY", ReceiveHeader(c));
                var bulk = Crystals.Diamond("Si", 5.431);
                double a = 5.431 / IpiClient.Bohr;
                var h = new[] { a, 0, 0, 0, a, 0, 0, 0, a };
                var pos = bulk.Positions.SelectMany(p => new[] { p.X / IpiClient.Bohr, p.Y / IpiClient.Bohr, p.Z / IpiClient.Bohr }).ToArray();
                if (where == "cell") h[4] = bad; else pos[7] = bad;
                c.Send(PosData(h, pos));
                Assert.True(ReadsUntilClosed(c), "the driver did not disconnect");
            }
            string line = OneErrorLine(await serve.WaitAsync(Guard));
            Assert.Contains("i-PI", line);
            Assert.Contains(where, line);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public async Task Serve_times_out_when_a_server_floods_status_without_reading()
    {
        string dir = TestPaths.TempDir();
        string path = SocketPath();
        try
        {
            using var listener = ListenUnix(path);
            var serve = Serve(path, Template(dir), "--io-timeout", "1");
            using (var c = AcceptWithGuard(listener))
            {
                // far more STATUS than the driver's replies fit in the socket buffers: it blocks sending READY
                var flood = new byte[12 * 400_000];
                for (int k = 0; k < 400_000; k++) Header("STATUS").CopyTo(flood, 12 * k);
                try { c.Send(flood); } catch (SocketException) { } // the driver gives up and closes
            }
            string line = OneErrorLine(await serve.WaitAsync(Guard));
            Assert.Contains("timed out", line);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public async Task Serve_times_out_when_a_server_says_nothing()
    {
        string dir = TestPaths.TempDir();
        string path = SocketPath();
        try
        {
            using var listener = ListenUnix(path);
            var serve = Serve(path, Template(dir), "--io-timeout", "1");
            using var c = AcceptWithGuard(listener);
            string line = OneErrorLine(await serve.WaitAsync(Guard));
            Assert.Contains("timed out", line);
            Assert.True(ReadsUntilClosed(c), "the driver did not disconnect");
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Serve_refuses_a_negative_io_timeout()
    {
        string dir = TestPaths.TempDir();
        var r = Cli.CliTests.Run("serve", "--potential", "sw", "--ipi", "unix:" + SocketPath(), "--structure", Template(dir), "--io-timeout", "-1");
        Assert.Contains("--io-timeout", OneErrorLine(r));
    }

    // ---- server side ----

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    [Theory]
    [InlineData("localhost:{0}")]
    [InlineData("127.0.0.1:{0}")]
    [InlineData(":{0}")]
    [InlineData("{0}")]
    public void The_server_binds_loopback_unless_told_otherwise(string pattern)
    {
        var log = new StringWriter();
        using var server = IpiServer.Listen(string.Format(System.Globalization.CultureInfo.InvariantCulture, pattern, FreePort()), TimeSpan.FromSeconds(5), log: log);
        var ep = Assert.IsType<IPEndPoint>(server.LocalEndPoint);
        Assert.True(IPAddress.IsLoopback(ep.Address), ep.ToString());
        Assert.Equal("", log.ToString());
    }

    [Theory]
    [InlineData("*:{0}")]
    [InlineData("0.0.0.0:{0}")]
    public void Every_interface_only_when_asked_and_with_a_warning(string pattern)
    {
        var log = new StringWriter();
        using var server = IpiServer.Listen(string.Format(System.Globalization.CultureInfo.InvariantCulture, pattern, FreePort()), TimeSpan.FromSeconds(5), log: log);
        var ep = Assert.IsType<IPEndPoint>(server.LocalEndPoint);
        Assert.Equal(IPAddress.Any, ep.Address);
        var lines = log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains("warning", lines[0]);
        Assert.Contains("no authentication", lines[0]);
    }

    [Fact]
    public void Label_ipi_on_every_interface_prints_the_warning_on_stderr()
    {
        string dir = TestPaths.TempDir();
        string data = Template(dir);
        // no client ever comes: the run ends at its (short) timeout, after the warning
        var (code, _, stderr) = Cli.CliTests.Run("label", data, "-o", Path.Combine(dir, "out.xyz"), "--ipi", $"*:{FreePort()}", "--timeout", "0.5", "--work", Path.Combine(dir, "work"));
        Assert.Equal(1, code);
        Assert.Contains("no authentication", stderr);
        Assert.Contains("mlip: error: i-PI server: no client connected", stderr);
    }

    [Fact]
    public void A_regular_file_at_the_socket_path_is_kept_and_named_but_a_stale_socket_is_replaced()
    {
        string dir = TestPaths.TempDir();
        string file = Path.Combine(dir, "not-a-socket");
        File.WriteAllText(file, "keep me");
        var e = Assert.Throws<IpiException>(() => IpiServer.Listen("unix:" + file, TimeSpan.FromSeconds(5)));
        Assert.Contains(file, e.Message);
        Assert.Contains("not a socket", e.Message);
        Assert.Equal("keep me", File.ReadAllText(file));

        Directory.CreateDirectory(Path.Combine(dir, "folder"));
        var e2 = Assert.Throws<IpiException>(() => IpiServer.Listen("unix:" + Path.Combine(dir, "folder"), TimeSpan.FromSeconds(5)));
        Assert.Contains("not a socket", e2.Message);
        Assert.True(Directory.Exists(Path.Combine(dir, "folder")));

        // a socket file nobody listens on (its server died) is stale and replaced
        string stale = SocketPath();
        try
        {
            // .NET unlinks the files of its own sockets; a crashed server (here a Python process) leaves one behind
            using (var p = System.Diagnostics.Process.Start("/usr/bin/python3", ["-c", "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", stale]))
                Assert.True(p.WaitForExit((int)Guard.TotalMilliseconds) && p.ExitCode == 0, "python3 could not make a socket file");
            Assert.True(File.Exists(stale), "the socket file stays after its process ended");
            Assert.True(UnixFileType.IsSocket(stale));
            Assert.False(UnixFileType.IsSocket(file));
            using var server = IpiServer.Listen("unix:" + stale, TimeSpan.FromSeconds(5));
            Assert.True(File.Exists(stale));
        }
        finally { File.Delete(stale); }
    }

    /// <summary>A fake DFT client: answers the handshake and returns the given energy and forces (atomic units) for every atom.</summary>
    private static Task FakeClient(string path, double energy, double force) => Task.Factory.StartNew(() =>
    {
        using var c = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        c.Connect(new UnixDomainSocketEndPoint(path));
        c.ReceiveTimeout = (int)Guard.TotalMilliseconds;
        Assert.Equal("STATUS", ReceiveHeader(c));
        c.Send(Header("READY"));
        Assert.Equal("POSDATA", ReceiveHeader(c));
        var rest = new byte[72 + 72 + 4];
        ReceiveExactly(c, rest);
        int n = BinaryPrimitives.ReadInt32LittleEndian(rest.AsSpan(144));
        ReceiveExactly(c, new byte[24 * n]);
        Assert.Equal("STATUS", ReceiveHeader(c));
        c.Send(Header("HAVEDATA"));
        Assert.Equal("GETFORCE", ReceiveHeader(c));
        var reply = new byte[12 + 8 + 4 + 24 * n + 72 + 4];
        Header("FORCEREADY").CopyTo(reply, 0);
        BinaryPrimitives.WriteDoubleLittleEndian(reply.AsSpan(12), energy);
        BinaryPrimitives.WriteInt32LittleEndian(reply.AsSpan(20), n);
        for (int k = 0; k < 3 * n; k++) BinaryPrimitives.WriteDoubleLittleEndian(reply.AsSpan(24 + 8 * k), force);
        c.Send(reply);
        ReadsUntilClosed(c);
    }, TaskCreationOptions.LongRunning);

    [Theory]
    [InlineData(double.NaN, 0.0, "energy")]
    [InlineData(-10.0, double.PositiveInfinity, "forces")]
    [InlineData(1e308, 0.0, "energy")] // finite in Hartree, infinite in eV
    [InlineData(-10.0, 1e308, "forces")]
    public async Task The_server_rejects_non_finite_results_from_a_client(double energy, double force, string what)
    {
        string path = SocketPath();
        try
        {
            using var server = IpiServer.Listen("unix:" + path, Guard);
            var client = FakeClient(path, energy, force);
            var e = Assert.Throws<IpiException>(() => server.Calculate(Crystals.Diamond("Si", 5.431), "s3"));
            Assert.Contains(what, e.Message);
            Assert.Contains("s3", e.Message);
            server.Dispose();
            await client.WaitAsync(Guard);
        }
        finally { File.Delete(path); }
    }
}
