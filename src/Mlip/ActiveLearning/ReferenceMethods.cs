using System.Diagnostics;
using Mlip.Calculators;
using Mlip.Interop;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.ActiveLearning;

/// <summary>The method that labels selected structures (DFT in production, a classical potential in tests and demos).</summary>
public interface IReferenceMethod
{
    string Name { get; }

    /// <summary>How many structures may be labelled at once: 0 as many as the run has threads (an in-process calculator), N at most N jobs.</summary>
    int Jobs { get; }

    /// <summary>A copy of the structure with energy, forces (and stress when the method gives it); <paramref name="tag"/> names its work.</summary>
    Structure Label(Structure structure, string tag);
}

/// <summary>Labels with any <see cref="ICalculator"/> (classical potentials: SW, Tersoff, EAM ...).</summary>
public sealed class CalculatorReference(ICalculator calculator) : IReferenceMethod
{
    public string Name => calculator.Name;
    public int Jobs => 0;

    public Structure Label(Structure structure, string tag)
    {
        var s = structure.Clone();
        var r = calculator.Calculate(s, forces: true, stress: s.Pbc.AllPeriodic);
        s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
        return s;
    }
}

/// <summary>
/// Runs a user's code on a written input: in a fresh folder <c>WORK/TAG</c> the structure is written as
/// <see cref="InputName"/> (format from the name: POSCAR, *.xyz/*.extxyz, ...), the shell command runs there, and
/// the last frame of <see cref="OutputName"/> (OUTCAR, extxyz ...) gives energy, forces and stress. Up to
/// <see cref="Jobs"/> structures are labelled at once, each in its own folder.
/// <para>
/// With <see cref="Submit"/> the command hands the work to a queue (<c>sbatch job.sh</c>, <c>qsub job.sh</c>) and
/// returns at once; the job's end is detected by the file <see cref="DoneName"/> appearing in the folder (default:
/// the output file itself), polled every <see cref="PollSeconds"/>. A submitted job is remembered by a marker file,
/// so a killed and resumed loop waits for it (or reads its finished output) instead of submitting it again.
/// </para>
/// </summary>
public sealed class CommandReference(string command, string workRoot, string inputName = "POSCAR", string outputName = "OUTCAR", double timeoutSeconds = 3600,
    int jobs = 1, bool submit = false, string? doneName = null, double pollSeconds = 10) : IReferenceMethod
{
    /// <summary>The marker written in a job's folder once its submit command has returned.</summary>
    public const string SubmittedMarker = ".mlip-submitted";

    public string Command { get; } = command;
    public string InputName { get; } = inputName;
    public string OutputName { get; } = outputName;
    public bool Submit { get; } = submit;
    public string DoneName { get; } = doneName ?? outputName;
    public double PollSeconds { get; } = pollSeconds;
    public string Name => Submit ? $"submitted jobs '{Command}'" : $"command '{Command}'";
    public int Jobs { get; } = Math.Max(1, jobs);

    public Structure Label(Structure structure, string tag)
    {
        string dir = Path.Combine(workRoot, tag);
        if (Submit)
        {
            if (File.Exists(Path.Combine(dir, DoneName))) return Read(structure, dir); // finished while the loop was down
            if (!File.Exists(Path.Combine(dir, SubmittedMarker)))
            {
                Fresh(dir, structure);
                RunShell(dir);
                File.WriteAllText(Path.Combine(dir, SubmittedMarker), DateTime.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            }
            var clock = Stopwatch.StartNew();
            while (!File.Exists(Path.Combine(dir, DoneName)))
            {
                if (clock.Elapsed.TotalSeconds > timeoutSeconds)
                    throw new MlipException($"submitted job in {dir}: no {DoneName} after {timeoutSeconds} s");
                Thread.Sleep(TimeSpan.FromSeconds(PollSeconds));
            }
            return Read(structure, dir);
        }
        Fresh(dir, structure);
        RunShell(dir);
        return Read(structure, dir);
    }

    private void Fresh(string dir, Structure structure)
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        StructureIO.Write(Path.Combine(dir, InputName), [structure]);
    }

    private void RunShell(string dir)
    {
        var psi = new ProcessStartInfo("/bin/sh") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(Command);
        using var p = Process.Start(psi) ?? throw new MlipException($"reference command '{Command}' could not start");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(timeoutSeconds)))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new MlipException($"reference command '{Command}' in {dir} ran past {timeoutSeconds} s");
        }
        File.WriteAllText(Path.Combine(dir, "stdout.txt"), stdout.Result);
        File.WriteAllText(Path.Combine(dir, "stderr.txt"), stderr.Result);
        if (p.ExitCode != 0)
        {
            string tail = stderr.Result.Trim();
            if (tail.Length > 200) tail = tail[^200..];
            throw new MlipException($"reference command '{Command}' in {dir} exited with {p.ExitCode}: {tail.ReplaceLineEndings(" ")}");
        }
    }

    private Structure Read(Structure structure, string dir)
    {
        string outPath = Path.Combine(dir, OutputName);
        if (!File.Exists(outPath)) throw new MlipException($"reference command '{Command}' in {dir} wrote no {OutputName}");
        var frames = StructureIO.Read(outPath);
        if (frames.Count == 0) throw new MlipInputException(new InputLocation(outPath), "no structure in the reference output");
        var last = frames[^1];
        if (last.Energy is null) throw new MissingLabelException(new InputLocation(outPath), "energy");
        if (last.Forces is null) throw new MissingLabelException(new InputLocation(outPath), "forces");
        if (last.Count != structure.Count) throw new LabelShapeException(new InputLocation(outPath), "forces", structure.Count, last.Count);
        var s = structure.Clone();
        s.Energy = last.Energy; s.Forces = last.Forces; s.Stress = last.Stress;
        return s;
    }
}

/// <summary>
/// Labels through a running i-PI client (a DFT code in driver mode) connected to Mlip's <see cref="IpiServer"/>
/// on <see cref="Address"/> (<c>unix:NAME</c> or <c>HOST:PORT</c>). Before each structure is sent, it is written
/// (atomically, extended XYZ with species and cell) to <see cref="StructureFile"/>, so a driver script knows what
/// it computes. The i-PI protocol fixes a client's atom count and species: when the next structure differs,
/// Mlip sends EXIT to the client and waits for a new one (<see cref="Reconnect"/>; a driver script restarted in a
/// loop reads the new <see cref="StructureFile"/>), or, with <c>Reconnect = false</c>, stops with an error.
/// On <see cref="Dispose"/> the file is removed before the last EXIT: a driver loop stops when it is gone.
/// </summary>
public sealed class IpiReference : IReferenceMethod, IDisposable
{
    private readonly TimeSpan _timeout;
    private readonly TextWriter? _log;
    private IpiServer? _server;

    public IpiReference(string address, double timeoutSeconds, string workDir, bool reconnect = true, bool stress = true, TextWriter? log = null)
    {
        IpiClient.ParseAddress(address.StartsWith("*:", StringComparison.Ordinal) ? "0.0.0.0" + address[1..] : address); // fail early on a bad address
        if (!(timeoutSeconds > 0)) throw new MlipException($"i-PI reference: the timeout must be positive (got {timeoutSeconds} s)");
        Address = address;
        _timeout = TimeSpan.FromSeconds(timeoutSeconds);
        Reconnect = reconnect;
        Stress = stress;
        _log = log;
        Directory.CreateDirectory(workDir);
        StructureFile = Path.Combine(workDir, "structure.xyz");
    }

    public string Address { get; }
    public bool Reconnect { get; }

    /// <summary>Whether the virial is turned into a stress label (clients that compute no stress send zeros).</summary>
    public bool Stress { get; }

    /// <summary>The structure being labelled (extended XYZ), written before it is sent.</summary>
    public string StructureFile { get; }

    /// <summary>Clients that have connected so far.</summary>
    public int Connections => _server?.Connections ?? 0;

    public string Name => $"i-PI client on {Address}";
    public int Jobs => 1;

    public Structure Label(Structure structure, string tag)
    {
        StructureIO.Write(StructureFile, [structure]);
        if (_server is null)
        {
            _server = IpiServer.Listen(Address, _timeout, log: _log);
            _log?.WriteLine($"i-PI reference: listening on {Address}; waiting up to {_timeout.TotalSeconds:0} s for a client (the structure to compute is in {StructureFile})");
        }
        else if (!_server.Fits(structure))
        {
            if (!Reconnect)
                throw new IpiException($"i-PI reference: structure {tag} has {structure.Count} atoms or other elements than the {_server.ClientAtomCount} the client computes; set reference.reconnect: true and run the driver in a loop that reads {StructureFile}");
            _server.ReleaseClient();
        }
        var r = _server.Calculate(structure, tag);
        var s = structure.Clone();
        s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = Stress && structure.Pbc.AllPeriodic ? r.Stress : null;
        return s;
    }

    public void Dispose()
    {
        try { File.Delete(StructureFile); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        _server?.Dispose();
        _server = null;
    }
}
