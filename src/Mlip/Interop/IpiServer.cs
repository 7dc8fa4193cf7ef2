using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Interop;

/// <summary>What an i-PI client (driver) returned for one structure, in Mlip's units.</summary>
/// <param name="Energy">eV.</param>
/// <param name="Forces">eV/Å.</param>
/// <param name="Virial">W = −σV in eV, as received (the client sends it transposed; it is transposed back).</param>
/// <param name="Stress">σ = −W/V in GPa, tension positive (docs/units.md); null without a cell.</param>
/// <param name="Extra">The extra string of FORCEREADY (often empty or one zero byte; some codes send JSON).</param>
public sealed record IpiResult(double Energy, Vec3[] Forces, Matrix3 Virial, Stress? Stress, string Extra);

/// <summary>The client disconnected, timed out or broke the protocol.</summary>
public sealed class IpiException(string message, Exception? inner = null) : MlipException(message, inner);

/// <summary>
/// The server side of the i-PI socket protocol (docs/ase.md): Mlip sends positions and cell to a client
/// (a DFT code in driver mode: ASE's <c>SocketClient</c>, the i-PI drivers of Quantum ESPRESSO, CP2K, VASP,
/// DFTB+, …) and receives energy, forces and virial. One client at a time; the client keeps its atom count
/// and species for its whole connection (the protocol sends neither species nor a way to change the count),
/// so a structure of another size needs a new client: <see cref="ReleaseClient"/> sends EXIT and the next
/// <see cref="Calculate"/> waits for a new connection.
/// <para>
/// One calculation: <c>STATUS</c> → <c>NEEDINIT</c>? then <c>INIT</c> (bead index 0, the init string) and
/// <c>STATUS</c> again → <c>READY</c>; <c>POSDATA</c> (h, h⁻¹, natoms, positions); <c>STATUS</c> repeated
/// until <c>HAVEDATA</c> (a client may answer <c>READY</c>/<c>BUSY</c> while it computes); <c>GETFORCE</c> →
/// <c>FORCEREADY</c>, energy, natoms, forces, virial, extra-string length and bytes. All numbers little-endian,
/// atomic units (Bohr, Hartree, Hartree/Bohr). h holds the cell vectors as columns, row-major (i-PI's
/// convention; ASE sends <c>cell.T</c>); h⁻¹ is the inverse of that matrix, row-major.
/// </para>
/// <para>
/// Every wait (for a client to connect, for an answer) is bounded by <see cref="Timeout"/>. If the client
/// disconnects before its answer arrives, the structure is sent again to the next client that connects
/// within the timeout, at most <see cref="MaxRetries"/> times; otherwise an <see cref="IpiException"/> names
/// the structure and what happened.
/// </para>
/// </summary>
public sealed class IpiServer : IDisposable
{
    private const int HeaderLength = 12;
    private readonly Socket _listener;
    private readonly string? _unixPath;
    private Socket? _client;
    private int _clientAtoms = -1;
    private int[]? _clientNumbers;

    private IpiServer(Socket listener, string address, string? unixPath, TimeSpan timeout)
    {
        _listener = listener;
        Address = address;
        _unixPath = unixPath;
        Timeout = timeout;
    }

    /// <summary>HOST:PORT or unix:NAME as given.</summary>
    public string Address { get; }

    /// <summary>Bound on each wait: for a client to connect, and for each answer (the client's calculation included).</summary>
    public TimeSpan Timeout { get; }

    /// <summary>The string sent with INIT (i-PI sends a bead's init string; most clients ignore it).</summary>
    public string InitString { get; init; } = "";

    /// <summary>How many times a structure is resent after its client disconnected.</summary>
    public int MaxRetries { get; init; } = 2;

    /// <summary>Optional progress lines (connections, retries).</summary>
    public TextWriter? Log { get; init; }

    public bool HasClient => _client is not null;

    /// <summary>Atom count of the connected client (fixed by its first structure), or −1.</summary>
    public int ClientAtomCount => _client is null ? -1 : _clientAtoms;

    public int Connections { get; private set; }
    public int Calculations { get; private set; }

    /// <summary>
    /// Binds and listens on <paramref name="address"/>: <c>unix:NAME</c> (socket /tmp/ipi_NAME, as i-PI and ASE;
    /// an absolute NAME is used as is) or <c>HOST:PORT</c>. The i-PI protocol has no authentication, so the
    /// server listens on loopback unless told otherwise: <c>PORT</c>, <c>:PORT</c> and <c>localhost:PORT</c>
    /// bind 127.0.0.1; <c>*:PORT</c> or <c>0.0.0.0:PORT</c> every interface, and a host name what it resolves
    /// to among this machine's own addresses; both with a one-line warning on <paramref name="log"/> when
    /// the address is not loopback. A stale UNIX socket file (a socket nobody listens on) is removed; a
    /// socket in use, or a path that is not a socket (a regular file, a folder), is an error and left alone.
    /// </summary>
    public static IpiServer Listen(string address, TimeSpan timeout, string initString = "", TextWriter? log = null)
    {
        if (timeout <= TimeSpan.Zero) throw new MlipException($"i-PI server: the timeout must be positive (got {timeout.TotalSeconds} s)");
        EndPoint endPoint;
        AddressFamily family;
        ProtocolType protocol;
        string? unixPath = null;
        string given = address;
        if (address.StartsWith("*:", StringComparison.Ordinal)) address = "0.0.0.0" + address[1..];
        (endPoint, family, protocol) = IpiClient.ParseAddress(address);
        if (endPoint is UnixDomainSocketEndPoint)
        {
            unixPath = address[5..].StartsWith('/') ? address[5..] : IpiClient.UnixSocketPath(address[5..]);
            if (File.Exists(unixPath) || Directory.Exists(unixPath))
            {
                // only a socket may be removed as stale: never a user's file that happens to have the name
                if (UnixFileType.IsSocket(unixPath) != true)
                    throw new IpiException($"i-PI server: {unixPath} exists and is not a socket; it is left alone (choose another socket name, or move the file away)");
                if (IsListening(endPoint)) throw new IpiException($"i-PI server: {unixPath} is in use by another server");
                try { File.Delete(unixPath); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new IpiException($"i-PI server: cannot remove the stale socket {unixPath}: {e.Message}");
                }
            }
        }
        else if (endPoint is DnsEndPoint dns)
        {
            IPAddress[] resolved;
            try { resolved = Dns.GetHostAddresses(dns.Host); }
            catch (SocketException e) { throw new IpiException($"i-PI server: cannot resolve '{dns.Host}': {e.Message}", e); }
            var local = LocalAddresses();
            var ip = resolved.Where(a => a.AddressFamily == AddressFamily.InterNetwork && (IPAddress.IsLoopback(a) || local.Contains(a)))
                .OrderBy(a => IPAddress.IsLoopback(a) ? 0 : 1).FirstOrDefault()
                ?? throw new IpiException($"i-PI server: '{dns.Host}' resolves to {(resolved.Length == 0 ? "nothing" : string.Join(", ", resolved.Select(a => a.ToString())))}, "
                    + "none of them an IPv4 address of this machine; give the address to listen on (127.0.0.1:PORT for this machine only)");
            endPoint = new IPEndPoint(ip, dns.Port);
            family = AddressFamily.InterNetwork;
        }
        if (endPoint is IPEndPoint bound && !IPAddress.IsLoopback(bound.Address))
        {
            string where = bound.Address.Equals(IPAddress.Any) || bound.Address.Equals(IPAddress.IPv6Any)
                ? "every network interface" : $"{bound.Address} (not loopback)";
            log?.WriteLine($"i-PI server: warning: {given} listens on {where} and the i-PI protocol has no authentication: anyone who can reach port {bound.Port} "
                + $"can connect, receive the structures and send back results; use 127.0.0.1:{bound.Port} or unix:NAME unless the DFT code runs on another machine");
        }
        var listener = new Socket(family, SocketType.Stream, protocol);
        try
        {
            if (family != AddressFamily.Unix) listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(endPoint);
            listener.Listen(1);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new IpiException($"i-PI server: cannot listen on {address}: {e.Message}", e);
        }
        return new IpiServer(listener, address, unixPath, timeout) { InitString = initString, Log = log };
    }

    /// <summary>The address the server listens on (for TCP, the interface and port actually bound).</summary>
    public EndPoint? LocalEndPoint => _listener.LocalEndPoint;

    /// <summary>The addresses of this machine's network interfaces (empty when they cannot be listed).</summary>
    private static HashSet<IPAddress> LocalAddresses()
    {
        try
        {
            return [.. System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
                .SelectMany(n => n.GetIPProperties().UnicastAddresses).Select(u => u.Address)];
        }
        catch (System.Net.NetworkInformation.NetworkInformationException) { return []; }
    }

    private static bool IsListening(EndPoint endPoint)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try { probe.Connect(endPoint); return true; }
        catch (SocketException) { return false; }
    }

    /// <summary>Waits (at most <see cref="Timeout"/>) for a client to connect.</summary>
    public void Accept()
    {
        if (_client is not null) return;
        var waited = Stopwatch.StartNew();
        while (!_listener.Poll(100_000, SelectMode.SelectRead))
            if (waited.Elapsed > Timeout)
                throw new IpiException($"i-PI server: no client connected to {Address} within {Timeout.TotalSeconds:0.#} s");
        var client = _listener.Accept();
        if (client.AddressFamily != AddressFamily.Unix) client.NoDelay = true;
        client.ReceiveTimeout = Milliseconds(Timeout);
        client.SendTimeout = Milliseconds(Timeout);
        _client = client;
        _clientAtoms = -1;
        _clientNumbers = null;
        Connections++;
        Log?.WriteLine($"i-PI server: client {Connections} connected on {Address}");
    }

    /// <summary>Sends EXIT to the connected client (if any) and closes its connection; the next calculation waits for a new client.</summary>
    public void ReleaseClient()
    {
        if (_client is null) return;
        try { SendHeader("EXIT"); _client.Shutdown(SocketShutdown.Both); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        DropClient();
    }

    /// <summary>
    /// Whether <paramref name="s"/> can go to the connected client: same atom count and elements as its first
    /// structure (true when no client is connected or it has computed nothing yet).
    /// </summary>
    public bool Fits(Structure s) => _client is null || _clientAtoms < 0
        || (s.Count == _clientAtoms && s.AtomicNumbers.AsSpan().SequenceEqual(_clientNumbers));

    /// <summary>
    /// Energy, forces, virial and stress of <paramref name="s"/> from the client (waiting for one to connect
    /// first). Throws <see cref="IpiException"/> when the structure does not fit the connected client
    /// (call <see cref="ReleaseClient"/> first), on timeouts, and on protocol errors.
    /// </summary>
    public IpiResult Calculate(Structure s, string? tag = null)
    {
        ArgumentNullException.ThrowIfNull(s);
        string what = tag is null ? $"a structure of {s.Count} atoms" : $"structure {tag} ({s.Count} atoms)";
        if (!Fits(s))
            throw new IpiException($"i-PI server: {what} does not fit the connected client, which computes {_clientAtoms} atoms "
                + "with fixed elements (the i-PI protocol cannot change the atom count or species: release the client and start one for the new structure)");
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                Accept();
                var r = CalculateOnce(s, what);
                _clientAtoms = s.Count;
                _clientNumbers = (int[])s.AtomicNumbers.Clone();
                Calculations++;
                return r;
            }
            catch (ClientGoneException e)
            {
                DropClient();
                if (attempt >= MaxRetries)
                    throw new IpiException($"i-PI server: the client disconnected {attempt + 1} times while computing {what} ({e.Message})");
                Log?.WriteLine($"i-PI server: the client disconnected ({e.Message}); waiting for a new client to send {what} again");
            }
            catch (IpiException)
            {
                DropClient();
                throw;
            }
        }
    }

    private IpiResult CalculateOnce(Structure s, string what)
    {
        var deadline = Stopwatch.StartNew();
        string status = Status(what);
        if (status == "NEEDINIT")
        {
            SendInit();
            status = Status(what);
        }
        if (status != "READY")
            throw new IpiException($"i-PI server: the client answered STATUS with '{status}' before {what}, expected READY");
        SendPositions(s);
        // A client that answers STATUS while it computes says READY or BUSY (i-PI tolerates both); wait for HAVEDATA.
        while ((status = Status(what)) != "HAVEDATA")
        {
            if (status is not ("READY" or "BUSY"))
                throw new IpiException($"i-PI server: the client answered STATUS with '{status}' after POSDATA for {what}, expected HAVEDATA");
            if (deadline.Elapsed > Timeout)
                throw new IpiException($"i-PI server: the client did not finish {what} within {Timeout.TotalSeconds:0.#} s");
            Thread.Sleep(20);
        }
        SendHeader("GETFORCE");
        string reply = ReceiveHeader(what);
        if (reply != "FORCEREADY")
            throw new IpiException($"i-PI server: the client answered GETFORCE with '{reply}' for {what}, expected FORCEREADY");
        double energy = ReceiveDoubles(1, what)[0];
        int n = ReceiveInt32(what);
        if (n != s.Count)
            throw new IpiException($"i-PI server: the client returned forces on {n} atoms for {what}");
        var f = ReceiveDoubles(3 * n, what);
        var w = ReceiveDoubles(9, what);
        int extraLength = ReceiveInt32(what);
        if (extraLength < 0 || extraLength > 1 << 26)
            throw new IpiException($"i-PI server: bad extra-string length {extraLength} for {what}");
        string extra = extraLength == 0 ? "" : Encoding.UTF8.GetString(ReceiveBytes(extraLength, what)).TrimEnd('\0');

        const double forceUnit = IpiClient.Hartree / IpiClient.Bohr;
        var forces = new Vec3[n];
        for (int i = 0; i < n; i++) forces[i] = forceUnit * new Vec3(f[3 * i], f[3 * i + 1], f[3 * i + 2]);
        // in atomic units as received, and in eV and Å (a huge finite value may overflow there)
        foreach (double v in f) CheckFinite(v * forceUnit, "forces", what);
        foreach (double v in w) CheckFinite(v * IpiClient.Hartree, "virial", what);
        CheckFinite(energy * IpiClient.Hartree, "energy", what);
        var virial = IpiClient.Hartree * Matrix3.FromArray(w).Transpose();
        Stress? stress = s.HasCell ? Structures.Stress.FromVirial(virial, s.Volume) : null;
        return new IpiResult(energy * IpiClient.Hartree, forces, virial, stress, extra);
    }

    private static void CheckFinite(double v, string name, string what)
    {
        if (!double.IsFinite(v)) throw new IpiException($"i-PI server: the client returned non-finite {name} (NaN, infinity, or beyond the range of a double in eV and Å) for {what}");
    }

    private string Status(string what)
    {
        SendHeader("STATUS");
        return ReceiveHeader(what);
    }

    private void SendInit()
    {
        var text = Encoding.UTF8.GetBytes(InitString);
        // at least one byte: some clients cannot read an empty string (ASE sends one zero byte)
        if (text.Length == 0) text = [0];
        var buf = new byte[HeaderLength + 8 + text.Length];
        Encoding.ASCII.GetBytes("INIT".PadRight(HeaderLength), buf);
        BinaryPrimitives.WriteInt32LittleEndian(buf.AsSpan(HeaderLength), 0);
        BinaryPrimitives.WriteInt32LittleEndian(buf.AsSpan(HeaderLength + 4), text.Length);
        text.CopyTo(buf, HeaderLength + 8);
        Send(buf);
    }

    private void SendPositions(Structure s)
    {
        int n = s.Count;
        var buf = new byte[HeaderLength + 72 + 72 + 4 + 24 * n];
        Encoding.ASCII.GetBytes("POSDATA".PadRight(HeaderLength), buf);
        int o = HeaderLength;
        void D(double v) { BinaryPrimitives.WriteDoubleLittleEndian(buf.AsSpan(o), v); o += 8; }
        // h: cell vectors as columns = transpose of Mlip's cell (rows); a cell-less structure gets a zero h and h⁻¹.
        var h = (1.0 / IpiClient.Bohr) * s.Cell.Transpose();
        var hinv = s.HasCell ? h.Inverse() : Matrix3.Zero;
        foreach (double v in h.ToArray()) D(v);
        foreach (double v in hinv.ToArray()) D(v);
        BinaryPrimitives.WriteInt32LittleEndian(buf.AsSpan(o), n); o += 4;
        foreach (var p in s.Positions) { D(p.X / IpiClient.Bohr); D(p.Y / IpiClient.Bohr); D(p.Z / IpiClient.Bohr); }
        Send(buf);
    }

    private void SendHeader(string msg) => Send(Encoding.ASCII.GetBytes(msg.PadRight(HeaderLength)));

    private void Send(byte[] buf)
    {
        var c = _client ?? throw new ClientGoneException("no client");
        try
        {
            int sent = 0;
            while (sent < buf.Length) sent += c.Send(buf, sent, buf.Length - sent, SocketFlags.None);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
        {
            throw new IpiException($"i-PI server: sending to the client timed out after {Timeout.TotalSeconds:0.#} s");
        }
        catch (SocketException e)
        {
            throw new ClientGoneException(e.Message);
        }
    }

    private string ReceiveHeader(string what) => Encoding.ASCII.GetString(ReceiveBytes(HeaderLength, what)).TrimEnd(' ', '\0');

    private int ReceiveInt32(string what) => BinaryPrimitives.ReadInt32LittleEndian(ReceiveBytes(4, what));

    private double[] ReceiveDoubles(int count, string what)
    {
        var b = ReceiveBytes(8 * count, what);
        var v = new double[count];
        for (int i = 0; i < count; i++) v[i] = BinaryPrimitives.ReadDoubleLittleEndian(b.AsSpan(8 * i));
        return v;
    }

    private byte[] ReceiveBytes(int n, string what)
    {
        var c = _client ?? throw new ClientGoneException("no client");
        var buf = new byte[n];
        int got = 0;
        while (got < n)
        {
            int r;
            try { r = c.Receive(buf, got, n - got, SocketFlags.None); }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
            {
                throw new IpiException($"i-PI server: no answer from the client within {Timeout.TotalSeconds:0.#} s for {what}");
            }
            catch (SocketException e) { throw new ClientGoneException(e.Message); }
            if (r == 0) throw new ClientGoneException("connection closed");
            got += r;
        }
        return buf;
    }

    private void DropClient()
    {
        _client?.Dispose();
        _client = null;
        _clientAtoms = -1;
        _clientNumbers = null;
    }

    private static int Milliseconds(TimeSpan t) => (int)Math.Clamp(t.TotalMilliseconds, 1, int.MaxValue);

    /// <summary>Sends EXIT to the client, closes the sockets and removes the UNIX socket file.</summary>
    public void Dispose()
    {
        ReleaseClient();
        _listener.Dispose();
        if (_unixPath is not null)
        {
            try { if (UnixFileType.IsSocket(_unixPath) == true) File.Delete(_unixPath); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    private sealed class ClientGoneException(string message) : Exception(message);
}
