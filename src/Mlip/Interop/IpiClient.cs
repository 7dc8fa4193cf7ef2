using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlip.Calculators;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Interop;

/// <summary>
/// The driver (client) side of the i-PI socket protocol, as spoken by i-PI and by ASE's
/// <c>SocketIOCalculator</c> (ase/calculators/socketio.py): the server sends positions and cell, this
/// client answers with energy, forces and virial computed by an <see cref="ICalculator"/>.
/// <para>
/// Wire format (little-endian, native on every supported machine): 12-byte ASCII headers padded with
/// spaces; all numbers in atomic units (Bohr, Hartree). <c>POSDATA</c> carries the cell matrix h whose
/// <b>columns</b> are the cell vectors (ASE sends <c>cell.T / Bohr</c>), its inverse (ignored here),
/// natoms (int32) and positions (natoms×3 float64, Bohr). <c>FORCEREADY</c> answers with energy
/// (Hartree), natoms, forces (Hartree/Bohr), the virial W = −σV (Hartree, sent transposed as ASE does;
/// σ is symmetric), and an extra string of length 0.
/// </para>
/// <para>i-PI sends no species: the elements, periodicity and atom order come from a template structure, or from
/// Mlip's extension of INIT: an init string that is a JSON object with <c>"mlip": 1</c> sets them (<c>numbers</c>,
/// <c>pbc</c>) and may ask for <c>"extras": true</c>, after which every FORCEREADY carries a JSON extra string with
/// the per-atom energies (<c>energies</c>, eV) and, where the model has one, <c>energy_std</c> (eV). A server may send
/// such an INIT before any POSDATA, so one connection can compute structures of any size and species
/// (python/mlip's <c>MlipCalculator</c> does; docs/python.md).</para>
/// </summary>
public sealed class IpiClient : IDisposable
{
    /// <summary>Bohr radius in Å, as ase.units.Bohr (CODATA 2014).</summary>
    public const double Bohr = 0.5291772105638411;

    /// <summary>Hartree in eV, as ase.units.Hartree (CODATA 2014).</summary>
    public const double Hartree = 27.211386024367243;

    private const int HeaderLength = 12;

    private readonly Socket _socket;
    private readonly ICalculator _calculator;
    private Structure? _template;
    private bool _extras;

    private readonly TimeSpan? _ioTimeout;

    private IpiClient(Socket socket, ICalculator calculator, Structure? template, TimeSpan? ioTimeout)
    {
        _socket = socket;
        _calculator = calculator;
        _template = template;
        _ioTimeout = ioTimeout;
    }

    /// <summary>
    /// Largest coordinate (Å) accepted in a cell or position from the server: far beyond any simulation cell,
    /// small enough that neighbour searches stay sane. Larger values are refused as corrupt data.
    /// </summary>
    public const double MaxCoordinate = 1e6;

    /// <summary>Number of POSDATA messages answered (calculations done).</summary>
    public int Calculations { get; private set; }

    /// <summary>Bead index and init string from the last INIT message, if any.</summary>
    public int BeadIndex { get; private set; }

    public string? InitString { get; private set; }

    /// <summary>The socket file i-PI and ASE use for <c>unix:NAME</c>: /tmp/ipi_NAME.</summary>
    public static string UnixSocketPath(string name) => "/tmp/ipi_" + name;

    /// <summary>
    /// Connects to <paramref name="address"/> (<c>HOST:PORT</c> or <c>unix:NAME</c>), retrying until the
    /// server listens or <paramref name="connectTimeout"/> passes. <paramref name="ioTimeout"/> bounds
    /// every receive and send (infinite when null). Without a <paramref name="template"/> the server must send
    /// Mlip's JSON INIT (the species) before its first POSDATA.
    /// </summary>
    public static async Task<IpiClient> ConnectAsync(string address, ICalculator calculator, Structure? template,
        TimeSpan connectTimeout, TimeSpan? ioTimeout = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(calculator);
        if (ioTimeout is { } io && !(io > TimeSpan.Zero)) throw new MlipException($"i-PI: the I/O timeout must be positive (got {io.TotalSeconds} s)");
        var (endPoint, family, protocol) = ParseAddress(address);
        var deadline = DateTime.UtcNow + connectTimeout;
        while (true)
        {
            var socket = new Socket(family, SocketType.Stream, protocol);
            try
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                attempt.CancelAfter(TimeSpan.FromSeconds(5));
                await socket.ConnectAsync(endPoint, attempt.Token).ConfigureAwait(false);
                if (family != AddressFamily.Unix) socket.NoDelay = true;
                if (ioTimeout is { } t)
                {
                    socket.ReceiveTimeout = (int)Math.Clamp(t.TotalMilliseconds, 1, int.MaxValue);
                    socket.SendTimeout = (int)Math.Clamp(t.TotalMilliseconds, 1, int.MaxValue);
                }
                return new IpiClient(socket, calculator, template, ioTimeout);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException && !cancel.IsCancellationRequested)
            {
                socket.Dispose();
                if (DateTime.UtcNow >= deadline)
                    throw new MlipException($"i-PI: could not connect to {address} within {connectTimeout.TotalSeconds:0} s ({e.Message})");
                await Task.Delay(100, cancel).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Reads <c>HOST:PORT</c>, <c>[IPV6]:PORT</c> or <c>unix:NAME</c> (socket /tmp/ipi_NAME; an absolute NAME is used as is).</summary>
    public static (EndPoint EndPoint, AddressFamily Family, ProtocolType Protocol) ParseAddress(string address)
    {
        if (string.IsNullOrWhiteSpace(address)) throw new MlipException("i-PI address is empty: give HOST:PORT or unix:NAME");
        if (address.StartsWith("unix:", StringComparison.Ordinal))
        {
            string name = address[5..];
            if (name.Length == 0) throw new MlipException($"i-PI address '{address}': unix:NAME needs a name");
            string path = name.StartsWith('/') ? name : UnixSocketPath(name);
            return (new UnixDomainSocketEndPoint(path), AddressFamily.Unix, ProtocolType.Unspecified);
        }
        int colon = address.LastIndexOf(':');
        // PORT alone or :PORT: this machine (loopback)
        if (colon < 0 && address.All(char.IsAsciiDigit)) colon = (address = ":" + address).IndexOf(':');
        if (colon < 0 || !int.TryParse(address[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port) || port is <= 0 or > 65535)
            throw new MlipException($"i-PI address '{address}': expected HOST:PORT (port 1-65535), PORT (this machine) or unix:NAME");
        string host = address[..colon].Trim('[', ']');
        if (host.Length == 0) return (new IPEndPoint(IPAddress.Loopback, port), AddressFamily.InterNetwork, ProtocolType.Tcp);
        if (IPAddress.TryParse(host, out var ip)) return (new IPEndPoint(ip, port), ip.AddressFamily, ProtocolType.Tcp);
        if (host == "localhost") return (new IPEndPoint(IPAddress.Loopback, port), AddressFamily.InterNetwork, ProtocolType.Tcp);
        return (new DnsEndPoint(host, port), AddressFamily.InterNetwork, ProtocolType.Tcp);
    }

    /// <summary>
    /// Answers the server until it sends EXIT or closes the connection; returns the number of calculations.
    /// </summary>
    public int Run(CancellationToken cancel = default)
    {
        bool haveData = false;
        double energy = 0;
        Vec3[] forces = [];
        Matrix3 virial = Matrix3.Zero;
        byte[] extra = [];
        using var registration = cancel.Register(() => { try { _socket.Shutdown(SocketShutdown.Both); } catch (Exception) { } });
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            string? msg = ReceiveHeader();
            if (msg is null || msg == "EXIT") return Calculations;
            switch (msg)
            {
                case "STATUS":
                    SendHeader(haveData ? "HAVEDATA" : "READY");
                    break;
                case "INIT":
                    BeadIndex = ReceiveInt32();
                    int n = ReceiveInt32();
                    if (n < 0 || n > 1 << 24) throw new MlipException($"i-PI: bad INIT string length {n}");
                    var bytes = ReceiveBytes(n);
                    InitString = bytes is null ? null : Encoding.UTF8.GetString(bytes).TrimEnd('\0');
                    if (InitString is { } init) ApplyInit(init);
                    break;
                case "POSDATA":
                {
                    var structure = ReceivePositions();
                    if (structure is null) return Calculations;
                    (energy, forces, virial, extra) = Compute(structure);
                    haveData = true;
                    Calculations++;
                    break;
                }
                case "GETFORCE":
                    if (!haveData) throw new MlipException("i-PI: GETFORCE before any POSDATA");
                    SendForces(energy, forces, virial, extra);
                    haveData = false;
                    break;
                default:
                    throw new MlipException($"i-PI: unexpected message '{msg}' from the server");
            }
        }
    }

    /// <summary>
    /// Mlip's INIT extension: a JSON object with <c>"mlip": 1</c> and <c>numbers</c> (atomic numbers, in the order of
    /// the positions that follow), optionally <c>pbc</c> (three booleans, default all true) and <c>extras</c>
    /// (bool: per-atom energies and the uncertainty in FORCEREADY's extra string). Any other init string (i-PI's
    /// bead strings, ASE's one zero byte) is kept in <see cref="InitString"/> and changes nothing.
    /// </summary>
    private void ApplyInit(string init)
    {
        if (!init.StartsWith('{')) return;
        JsonObject? o;
        try { o = JsonNode.Parse(init) as JsonObject; }
        catch (JsonException) { return; }
        if (o is null || o["mlip"] is null) return;
        try
        {
            if (o["numbers"] is JsonArray numbers)
            {
                var z = numbers.Select(n => n!.GetValue<int>()).ToArray();
                foreach (int k in z)
                    if (k < 1 || k > 118) throw new MlipException($"i-PI: the server's INIT names atomic number {k}");
                var pbc = PeriodicFlags.All;
                if (o["pbc"] is JsonArray p)
                {
                    if (p.Count != 3) throw new MlipException("i-PI: the server's INIT has a pbc that is not three booleans");
                    pbc = new PeriodicFlags(p[0]!.GetValue<bool>(), p[1]!.GetValue<bool>(), p[2]!.GetValue<bool>());
                }
                _template = new Structure(Matrix3.Zero, new Vec3[z.Length], z, pbc);
            }
            if (o["extras"] is JsonNode e) _extras = e.GetValue<bool>();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new MlipException($"i-PI: the server's INIT JSON is malformed ({e.Message})");
        }
    }

    /// <summary>Energy (eV), forces (eV/Å), virial W = −σV (eV) and the extra string (empty unless asked for) of a structure.</summary>
    private (double Energy, Vec3[] Forces, Matrix3 Virial, byte[] Extra) Compute(Structure s)
    {
        var r = _calculator.Calculate(s, forces: true, stress: s.HasCell);
        var f = r.Forces ?? throw new MlipException($"i-PI: calculator {_calculator.Name} gave no forces");
        var virial = Matrix3.Zero;
        if (s.HasCell && r.Stress is { } stress) virial = (-s.Volume) * stress.ToEvPerCubicAngstrom();
        return (r.Energy, f, virial, _extras ? Extras(r, Uncertainty?.Estimate(s)) : []);
    }

    /// <summary>The JSON extra string: per-atom energies (eV) and the energy's standard deviation (eV) where the calculator gives them.</summary>
    private static byte[] Extras(CalculatorResult r, UncertaintyResult? u)
    {
        var o = new JsonObject();
        if (r.AtomEnergies is { } e) o["energies"] = new JsonArray([.. e.Select(v => (JsonNode)v)]);
        if (r.EnergyVariance is double variance) o["energy_std"] = Math.Sqrt(Math.Max(variance, 0));
        if (u is not null)
        {
            o["uncertainty"] = u.Score;
            if (u.EnergyStd is double es) o["energy_std"] = es;
            if (u.ForceStd is { } fs) o["force_std"] = new JsonArray([.. fs.Select(v => (JsonNode)v)]);
            if (u.AtomGrade is { } g) o["gamma"] = new JsonArray([.. g.Select(v => (JsonNode)v)]);
        }
        return Encoding.UTF8.GetBytes(o.ToJsonString());
    }

    /// <summary>
    /// The model's uncertainty estimator (<c>mlip serve --uncertainty</c>), or null: with it every extra string also carries
    /// <c>uncertainty</c> (the score), and where the estimator gives them <c>energy_std</c>, <c>force_std</c> and <c>gamma</c> (per atom).
    /// </summary>
    public IUncertaintyEstimator? Uncertainty { get; set; }

    private Structure? ReceivePositions()
    {
        var h = ReceiveDoubles(9);
        var hinv = ReceiveDoubles(9);
        if (h is null || hinv is null) return null;
        int n = ReceiveInt32();
        if (_template is null)
            throw new MlipException("i-PI: the server sent positions before the species: give a template structure (mlip serve --structure), or send Mlip's JSON INIT first (docs/ase.md)");
        if (n != _template.Count)
            throw new MlipException($"i-PI: the server sent {n} atoms, the template structure has {_template.Count}");
        var pos = ReceiveDoubles(3 * n);
        if (pos is null) return null;
        // refuse corrupt data with one clear line (and close the connection) instead of computing on it
        for (int k = 0; k < 9; k++) CheckCoordinate(h[k], "cell");
        for (int k = 0; k < pos.Length; k++) CheckCoordinate(pos[k], $"position of atom {k / 3}");
        // The wire holds h row-major with cell vectors as columns: Mlip's cell (rows) is its transpose.
        var cell = Bohr * Matrix3.FromArray(h).Transpose();
        var positions = new Vec3[n];
        for (int i = 0; i < n; i++) positions[i] = Bohr * new Vec3(pos[3 * i], pos[3 * i + 1], pos[3 * i + 2]);
        var s = new Structure(cell, positions, (int[])_template.AtomicNumbers.Clone(), _template.Pbc);
        if (_template.Pbc.AllPeriodic && !(Math.Abs(s.Volume) > 1e-6))
            throw new MlipException(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"i-PI: the server sent a cell of volume {s.Volume:G4} Å³ for a periodic structure; disconnecting"));
        return s;
    }

    private static void CheckCoordinate(double bohr, string what)
    {
        if (!double.IsFinite(bohr))
            throw new MlipException($"i-PI: the server sent a {what} that is not a finite number (NaN or infinity); disconnecting");
        if (Math.Abs(bohr * Bohr) > MaxCoordinate)
            throw new MlipException(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"i-PI: the server sent an absurd {what} ({bohr * Bohr:G4} Å, beyond ±{MaxCoordinate:G3} Å); disconnecting"));
    }

    private void SendForces(double energy, Vec3[] forces, Matrix3 virial, byte[] extra)
    {
        int n = forces.Length;
        var buf = new byte[HeaderLength + 8 + 4 + 24 * n + 72 + 4 + extra.Length];
        Encoding.ASCII.GetBytes("FORCEREADY".PadRight(HeaderLength), buf);
        int o = HeaderLength;
        void D(double v) { BinaryPrimitives.WriteDoubleLittleEndian(buf.AsSpan(o), v); o += 8; }
        void I(int v) { BinaryPrimitives.WriteInt32LittleEndian(buf.AsSpan(o), v); o += 4; }
        D(energy / Hartree);
        I(n);
        const double forceUnit = Bohr / Hartree;
        foreach (var f in forces) { D(f.X * forceUnit); D(f.Y * forceUnit); D(f.Z * forceUnit); }
        foreach (double w in virial.Transpose().ToArray()) D(w / Hartree);
        I(extra.Length);
        extra.CopyTo(buf, o);
        Send(buf);
    }

    private void SendHeader(string msg) => Send(Encoding.ASCII.GetBytes(msg.PadRight(HeaderLength)));

    private string TimeoutText => _ioTimeout is { } t ? $" after {t.TotalSeconds:0.###} s" : "";

    private void Send(byte[] buf)
    {
        try
        {
            int sent = 0;
            while (sent < buf.Length) sent += _socket.Send(buf, sent, buf.Length - sent, SocketFlags.None);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
        {
            throw new MlipException($"i-PI: timed out sending to the server{TimeoutText} (it does not read its socket)");
        }
        catch (SocketException e)
        {
            throw new MlipException($"i-PI: the connection to the server broke while sending ({e.Message})");
        }
    }

    private string? ReceiveHeader()
    {
        var b = ReceiveBytes(HeaderLength);
        return b is null ? null : Encoding.ASCII.GetString(b).Trim();
    }

    private int ReceiveInt32()
    {
        var b = ReceiveBytes(4) ?? throw new MlipException("i-PI: the server closed the connection in the middle of a message");
        return BinaryPrimitives.ReadInt32LittleEndian(b);
    }

    private double[]? ReceiveDoubles(int count)
    {
        var b = ReceiveBytes(8 * count);
        if (b is null) return null;
        var v = new double[count];
        for (int i = 0; i < count; i++) v[i] = BinaryPrimitives.ReadDoubleLittleEndian(b.AsSpan(8 * i));
        return v;
    }

    /// <summary>Exactly <paramref name="n"/> bytes, or null when the server closed the connection.</summary>
    private byte[]? ReceiveBytes(int n)
    {
        var buf = new byte[n];
        int got = 0;
        while (got < n)
        {
            int r;
            try
            {
                r = _socket.Receive(buf, got, n - got, SocketFlags.None);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted)
            {
                return null;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
            {
                throw new MlipException($"i-PI: timed out waiting for the server{TimeoutText}");
            }
            catch (SocketException e)
            {
                throw new MlipException($"i-PI: the connection to the server broke ({e.Message})");
            }
            if (r == 0) return null;
            got += r;
        }
        return buf;
    }

    public void Dispose() => _socket.Dispose();
}
