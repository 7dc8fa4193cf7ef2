using System.Diagnostics;
using System.IO.Pipes;
using System.Runtime.InteropServices;
using System.Text;

namespace Mlip.Tests.Support;

/// <summary>The built CLI (Mlip.Cli.dll beside the tests) as a separate process, for tests that kill a run and resume it.</summary>
public static class CliProcess
{
    /// <summary>Starts <c>dotnet Mlip.Cli.dll ARGS</c> (split on spaces) in <paramref name="dir"/>, stdout and stderr redirected, with <paramref name="environment"/> added to its environment.</summary>
    public static Process Start(string dir, string args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Mlip.Cli.dll"));
        foreach (var a in args.Split(' ')) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>
    /// Starts the CLI like <see cref="Start"/> for a test that reads its standard output line by line and kills it at a
    /// line (a handshake, not a sleep): see <see cref="HeldCli"/>.
    /// </summary>
    public static HeldCli StartHeld(string dir, string args) => new(Start(dir, args));
}

/// <summary>
/// A CLI process whose standard output the test reads itself, line by line, unbuffered. Its stdout pipe is shrunk to one
/// page (Linux F_SETPIPE_SZ, 4 KiB): a process that writes a line per step cannot get more than about 4 KiB of output ahead
/// of the test, because its next write blocks until the test reads. So a test that stops reading at a line and kills the
/// process knows, whatever the machine's load, that it died within that many lines of the one read; no time window decides
/// the outcome. Standard error is drained in the background (a full stderr pipe would block the process too).
/// </summary>
public sealed class HeldCli : IDisposable
{
    private const int FSetPipeSize = 1031; // F_SETPIPE_SZ (linux/fcntl.h)
    private readonly Stream _stdout;
    private readonly Task<string> _stderr;
    private readonly StringBuilder _read = new();
    private bool _shrunk;

    internal HeldCli(Process p)
    {
        Process = p;
        _stdout = p.StandardOutput.BaseStream; // read directly: the StreamReader's buffers would let the process run further ahead
        _stderr = p.StandardError.ReadToEndAsync();
        Shrink();
    }

    /// <summary>The process.</summary>
    public Process Process { get; }

    /// <summary>Everything read from standard output so far (for failure messages).</summary>
    public string Output => _read.ToString();

    /// <summary>Standard error, once the process has ended (waits for it).</summary>
    public string Error => _stderr.Wait(HangGuard.Wait) ? _stderr.Result : "(stderr still open)";

    /// <summary>
    /// The next line of standard output (without its end), or null at its end (the process closed it: it ended).
    /// Blocks until the line is complete; a hang guard (<see cref="HangGuard.Run"/>) kills a process that writes nothing.
    /// </summary>
    public string? ReadLine()
    {
        var line = new List<byte>();
        var one = new byte[1];
        using var guard = new CancellationTokenSource(HangGuard.Run);
        using var kill = guard.Token.Register(() => { try { Process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } });
        while (true)
        {
            if (!_shrunk) Shrink(); // refused while the pipe holds more than a page: retried after each read
            if (_stdout.Read(one, 0, 1) == 0)
            {
                Assert.False(guard.IsCancellationRequested, $"the CLI wrote no line within {HangGuard.Run}: killed\n{Output}");
                return line.Count > 0 ? Decode(line) : null;
            }
            if (one[0] == (byte)'\n') return Decode(line);
            line.Add(one[0]);
        }
    }

    private string Decode(List<byte> bytes)
    {
        string s = Encoding.UTF8.GetString(bytes.ToArray()).TrimEnd('\r');
        _read.AppendLine(s);
        return s;
    }

    /// <summary>Kills the process and all its children and waits for them to end.</summary>
    public void Kill()
    {
        Process.Kill(entireProcessTree: true);
        Assert.True(Process.WaitForExit(HangGuard.WaitMilliseconds), "the killed CLI did not end");
    }

    private void Shrink()
    {
        if (!OperatingSystem.IsLinux() || _stdout is not PipeStream pipe) { _shrunk = true; return; } // elsewhere: the default pipe
        _shrunk = fcntl((int)pipe.SafePipeHandle.DangerousGetHandle(), FSetPipeSize, 4096) >= 0;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int fcntl(int fd, int cmd, int arg);

    /// <inheritdoc/>
    public void Dispose()
    {
        try { if (!Process.HasExited) Process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
        Process.Dispose();
    }
}
