using System.Diagnostics;
using System.Globalization;
using Mlip.IO;
using Mlip.Structures;

namespace Mlip.Tests.Support;

/// <summary>
/// Runs the LAMMPS executable built by <c>scripts/build-lammps.sh</c> (ML-SNAP, ML-IAP, ML-PACE, MANYBODY;
/// serial) as an outside reference for tests. The executable is looked up in
/// <c>$MLIP_LAMMPS_DIR/bin/lmp</c>, then in the default cache <c>~/.cache/mlip/lammps/bin/lmp</c>.
/// Tests that need LAMMPS call <see cref="RequireExecutable"/> and so fail, never skip, without it.
/// </summary>
public static class Lammps
{
    /// <summary>What to do when LAMMPS is missing; part of every "not found" message.</summary>
    public const string BuildHint =
        "run `bash scripts/build-lammps.sh` from the repository root (builds ~/.cache/mlip/lammps/bin/lmp " +
        "with ML-SNAP, ML-IAP, ML-PACE (PACE library from ../shared/vendor) and MANYBODY from Debian's source package, " +
        "several minutes on 2 cores; " +
        "set MLIP_LAMMPS_DIR to use another folder)";

    /// <summary>Default limit on one LAMMPS run: a hang guard that a healthy run on a loaded machine never reaches.</summary>
    public static readonly TimeSpan DefaultTimeout = HangGuard.Run;

    private static readonly Lazy<string?> executable = new(FindExecutable);

    /// <summary>The LAMMPS folder: <c>$MLIP_LAMMPS_DIR</c> if set, else <c>~/.cache/mlip/lammps</c>.</summary>
    public static string InstallDirectory
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable("MLIP_LAMMPS_DIR");
            return string.IsNullOrWhiteSpace(env) ? DefaultDirectory : env;
        }
    }

    private static string DefaultDirectory =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "mlip", "lammps");

    /// <summary>Full path of <c>lmp</c>, or null when it is not built.</summary>
    public static string? Executable => executable.Value;

    /// <summary>
    /// Frozen reference files from the same LAMMPS source (force-styles/*.yaml, examples/mliap,
    /// examples/snap, potentials), copied by the build script; null when absent.
    /// </summary>
    public static string? ReferenceDirectory
    {
        get
        {
            foreach (string dir in new[] { InstallDirectory, DefaultDirectory })
            {
                string r = Path.Combine(dir, "reference");
                if (File.Exists(Path.Combine(r, ".complete"))) return r;
            }
            return null;
        }
    }

    /// <summary>The executable, or an exception that says how to build it.</summary>
    public static string RequireExecutable() =>
        Executable ?? throw new InvalidOperationException(
            $"LAMMPS not found (looked for {Path.Combine(InstallDirectory, "bin", "lmp")} and {Path.Combine(DefaultDirectory, "bin", "lmp")}): {BuildHint}");

    private static string? FindExecutable()
    {
        foreach (string dir in new[] { InstallDirectory, DefaultDirectory })
        {
            string path = Path.Combine(dir, "bin", "lmp");
            if (File.Exists(path)) return path;
        }
        return null;
    }

    /// <summary>
    /// A potential file by name: Debian's lammps-data (<c>/usr/share/lammps/potentials</c>), then
    /// the copy under <see cref="ReferenceDirectory"/>; null when neither has it.
    /// </summary>
    public static string? PotentialFile(string name)
    {
        string debian = Path.Combine("/usr/share/lammps/potentials", name);
        if (File.Exists(debian)) return debian;
        if (ReferenceDirectory is { } r && File.Exists(Path.Combine(r, "potentials", name))) return Path.Combine(r, "potentials", name);
        return null;
    }

    /// <summary>
    /// The structure as a LAMMPS data file (atomic style, written by <see cref="LammpsDataFormat"/>)
    /// and the box it was written in: <see cref="LammpsBox.FromLammps(Vec3)"/> maps LAMMPS's forces
    /// back to the structure's frame.
    /// </summary>
    public static (string Text, LammpsBox Box) DataFile(Structure s, IReadOnlyList<string>? speciesOrder = null)
    {
        var format = new LammpsDataFormat { SpeciesOrder = speciesOrder };
        using var w = new StringWriter(CultureInfo.InvariantCulture);
        format.Write(w, [s]);
        return (w.ToString(), LammpsBox.For(s));
    }

    /// <summary>
    /// Writes <paramref name="files"/> (name → content) and the input script (as <c>in.lammps</c>)
    /// into <paramref name="workDir"/>, runs <c>lmp -in in.lammps -log log.lammps -screen none</c>
    /// there, and returns the run. Throws <see cref="LammpsException"/> with the end of the log when
    /// LAMMPS exits with an error, prints an ERROR line, or runs past <paramref name="timeout"/>.
    /// </summary>
    public static LammpsRun Run(string inputScript, IDictionary<string, string> files, string workDir, TimeSpan? timeout = null)
    {
        string exe = RequireExecutable();
        Directory.CreateDirectory(workDir);
        foreach (var (name, content) in files)
        {
            string path = Path.Combine(workDir, name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, content);
        }
        File.WriteAllText(Path.Combine(workDir, "in.lammps"), inputScript);
        string logPath = Path.Combine(workDir, "log.lammps");
        File.Delete(logPath);

        var psi = new ProcessStartInfo(exe)
        {
            WorkingDirectory = workDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in new[] { "-in", "in.lammps", "-log", "log.lammps", "-screen", "none" }) psi.ArgumentList.Add(a);
        psi.Environment["OMP_NUM_THREADS"] = "1";

        var limit = timeout ?? DefaultTimeout;
        var sw = Stopwatch.StartNew();
        using var process = Process.Start(psi) ?? throw new LammpsException($"could not start {exe}", workDir, "");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(limit))
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            process.WaitForExit();
            throw new LammpsException($"LAMMPS ran past its {limit.TotalSeconds:0} s limit in {workDir}", workDir, Tail(ReadLog(logPath), 30));
        }
        process.WaitForExit();
        string output = (stdout.Result + stderr.Result).Trim();
        string log = ReadLog(logPath);

        string? errorLine = null;
        foreach (string line in log.Split('\n'))
            if (line.StartsWith("ERROR", StringComparison.Ordinal)) { errorLine = line.Trim(); break; }
        if (process.ExitCode != 0 || errorLine is not null)
        {
            string what = errorLine ?? $"LAMMPS exited with status {process.ExitCode}";
            string tail = Tail(log, 30) + (output.Length > 0 ? "\n--- stdout/stderr ---\n" + Tail(output, 20) : "");
            throw new LammpsException($"{what} (in {workDir})", workDir, tail);
        }
        return new LammpsRun(workDir, log, output, sw.Elapsed);
    }

    private static string ReadLog(string path) => File.Exists(path) ? File.ReadAllText(path) : "(no log.lammps was written)";

    private static string Tail(string text, int lines)
    {
        var all = text.TrimEnd().Split('\n');
        return string.Join('\n', all.AsSpan(Math.Max(0, all.Length - lines)).ToArray());
    }
}

/// <summary>A failed LAMMPS run: the message names the error, <see cref="LogTail"/> holds the end of the log.</summary>
public sealed class LammpsException(string message, string workDir, string logTail)
    : Exception($"{message}\n--- end of log.lammps ---\n{logTail}")
{
    /// <summary>The folder the run used (input, log and outputs stay there).</summary>
    public string WorkDir { get; } = workDir;

    /// <summary>The last lines of log.lammps (and of stdout/stderr).</summary>
    public string LogTail { get; } = logTail;
}

/// <summary>A finished LAMMPS run: its folder, log text, and readers for what it wrote.</summary>
public sealed class LammpsRun(string workDir, string log, string output, TimeSpan elapsed)
{
    /// <summary>The folder holding in.lammps, log.lammps and the run's outputs.</summary>
    public string WorkDir { get; } = workDir;

    /// <summary>The whole of log.lammps.</summary>
    public string Log { get; } = log;

    /// <summary>Whatever LAMMPS wrote to stdout and stderr (normally nothing with -screen none).</summary>
    public string Output { get; } = output;

    /// <summary>Wall time of the run.</summary>
    public TimeSpan Elapsed { get; } = elapsed;

    /// <summary>The last frame of a dump file the run wrote (<c>dump custom</c> or <c>dump local</c>).</summary>
    public LammpsDump Dump(string fileName) => LammpsDump.ReadLast(Path.Combine(WorkDir, fileName));

    /// <summary>Every frame of a dump file the run wrote.</summary>
    public IReadOnlyList<LammpsDump> DumpFrames(string fileName) => LammpsDump.ReadAll(Path.Combine(WorkDir, fileName));

    /// <summary>
    /// Key–value pairs from the log's lines that start with <paramref name="tag"/>, as written by
    /// <c>print "RESULT pe $(pe:%.17g) pxx $(pxx:%.17g)"</c>: <c>{"pe": ..., "pxx": ...}</c>. Later
    /// lines overwrite earlier keys. (The echoed <c>print</c> command itself starts with "print" and
    /// is not read.)
    /// </summary>
    public IReadOnlyDictionary<string, double> Results(string tag = "RESULT")
    {
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        bool any = false;
        foreach (string raw in Log.Split('\n'))
        {
            string line = raw.Trim();
            if (!line.StartsWith(tag + " ", StringComparison.Ordinal)) continue;
            any = true;
            var t = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (t.Length % 2 != 1)
                throw new FormatException($"{WorkDir}/log.lammps: '{line}' is not '{tag} key value key value ...'");
            for (int k = 1; k < t.Length; k += 2)
            {
                if (!double.TryParse(t[k + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                    throw new FormatException($"{WorkDir}/log.lammps: value '{t[k + 1]}' of '{t[k]}' in '{line}' is not a number");
                values[t[k]] = v;
            }
        }
        if (!any) throw new FormatException($"{WorkDir}/log.lammps has no line starting with '{tag} ' (print \"{tag} name value ...\")");
        return values;
    }

    /// <summary>
    /// The thermo tables of every <c>run</c>/<c>minimize</c> in the log (default "one" thermo
    /// style): one list of rows per run, each row keyed by the column header (Step, PotEng, c_x, v_y,
    /// ...). Thermo output is printed with few digits; print exact values with <see cref="Results"/>.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<IReadOnlyDictionary<string, double>>> Thermo()
    {
        var runs = new List<IReadOnlyList<IReadOnlyDictionary<string, double>>>();
        var lines = Log.Split('\n');
        for (int k = 0; k < lines.Length; k++)
        {
            if (!lines[k].StartsWith("Per MPI rank memory", StringComparison.Ordinal) || k + 1 >= lines.Length) continue;
            var header = lines[k + 1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var rows = new List<IReadOnlyDictionary<string, double>>();
            int j = k + 2;
            for (; j < lines.Length && !lines[j].StartsWith("Loop time", StringComparison.Ordinal); j++)
            {
                var t = lines[j].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (t.Length != header.Length) continue; // a WARNING line between rows
                var row = new Dictionary<string, double>(StringComparer.Ordinal);
                bool numeric = true;
                for (int c = 0; c < t.Length && numeric; c++)
                {
                    numeric = double.TryParse(t[c], NumberStyles.Float, CultureInfo.InvariantCulture, out double v);
                    row[header[c]] = v;
                }
                if (numeric) rows.Add(row);
            }
            runs.Add(rows);
            k = j;
        }
        return runs;
    }
}

/// <summary>
/// One frame of a LAMMPS dump file in the text formats of <c>dump custom</c> (per-atom, "ITEM: ATOMS")
/// and <c>dump local</c> ("ITEM: ENTRIES"): columns by name; per-atom rows sorted by id when an
/// <c>id</c> column is present. Ask LAMMPS for full precision with
/// <c>dump_modify ID format float %.17g</c>; the default "%g" keeps only six digits.
/// </summary>
public sealed class LammpsDump
{
    private readonly Dictionary<string, int> columnIndex;
    private readonly double[][] rows;

    private LammpsDump(long timestep, string[] columns, double[][] rows, string boxHeader, string[] boxLines)
    {
        Timestep = timestep;
        Columns = columns;
        this.rows = rows;
        BoxHeader = boxHeader;
        BoxLines = boxLines;
        columnIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int c = 0; c < columns.Length; c++) columnIndex[columns[c]] = c;
    }

    /// <summary>The timestep of this frame.</summary>
    public long Timestep { get; }

    /// <summary>Column names in file order (id, type, fx, c_sna[1], ...).</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>Number of rows (atoms or local entries).</summary>
    public int Count => rows.Length;

    /// <summary>The "ITEM: BOX BOUNDS ..." line (tells orthogonal from triclinic) and its three lines.</summary>
    public string BoxHeader { get; }

    /// <summary>The three box lines under <see cref="BoxHeader"/>.</summary>
    public IReadOnlyList<string> BoxLines { get; }

    /// <summary>True when the dump has a column of this name.</summary>
    public bool Has(string column) => columnIndex.ContainsKey(column);

    /// <summary>One column, a value per row (sorted by id for per-atom dumps).</summary>
    public double[] Column(string name)
    {
        if (!columnIndex.TryGetValue(name, out int c))
            throw new KeyNotFoundException($"dump has no column '{name}' (columns: {string.Join(' ', Columns)})");
        var v = new double[rows.Length];
        for (int i = 0; i < v.Length; i++) v[i] = rows[i][c];
        return v;
    }

    /// <summary>The id column as integers.</summary>
    public int[] Ids()
    {
        var v = Column("id");
        var ids = new int[v.Length];
        for (int i = 0; i < v.Length; i++) ids[i] = (int)v[i];
        return ids;
    }

    /// <summary>Three columns as vectors, e.g. <c>Vectors("fx", "fy", "fz")</c>.</summary>
    public Vec3[] Vectors(string x, string y, string z)
    {
        var a = Column(x); var b = Column(y); var c = Column(z);
        var v = new Vec3[a.Length];
        for (int i = 0; i < v.Length; i++) v[i] = new Vec3(a[i], b[i], c[i]);
        return v;
    }

    /// <summary>Several columns as a [row, column] array, e.g. c_sna[1] .. c_sna[K].</summary>
    public double[,] Matrix(IReadOnlyList<string> names)
    {
        var m = new double[rows.Length, names.Count];
        for (int k = 0; k < names.Count; k++)
        {
            var col = Column(names[k]);
            for (int i = 0; i < rows.Length; i++) m[i, k] = col[i];
        }
        return m;
    }

    /// <summary>Every column whose name starts with <paramref name="prefix"/> followed by "[" (c_sna[1], c_sna[2], ...), in file order.</summary>
    public IReadOnlyList<string> ColumnsOf(string prefix)
    {
        var list = new List<string>();
        foreach (string c in Columns) if (c.StartsWith(prefix + "[", StringComparison.Ordinal)) list.Add(c);
        return list;
    }

    /// <summary>The last frame of a dump file.</summary>
    public static LammpsDump ReadLast(string path)
    {
        var frames = ReadAll(path);
        return frames.Count > 0 ? frames[^1] : throw new FormatException($"{path}: no frames in dump file");
    }

    /// <summary>Every frame of a dump file.</summary>
    public static IReadOnlyList<LammpsDump> ReadAll(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"LAMMPS did not write the dump file {path}", path);
        var lines = File.ReadAllLines(path);
        var frames = new List<LammpsDump>();
        var ci = CultureInfo.InvariantCulture;
        int k = 0;
        while (k < lines.Length)
        {
            if (lines[k].Trim().Length == 0) { k++; continue; }
            long step = 0;
            int count = -1;
            string boxHeader = "";
            string[] box = [];
            string[]? columns = null;
            for (; k < lines.Length && columns is null; k++)
            {
                string l = lines[k];
                if (l.StartsWith("ITEM: TIMESTEP", StringComparison.Ordinal)) step = long.Parse(lines[++k].Trim(), ci);
                else if (l.StartsWith("ITEM: NUMBER OF", StringComparison.Ordinal)) count = int.Parse(lines[++k].Trim(), ci);
                else if (l.StartsWith("ITEM: BOX BOUNDS", StringComparison.Ordinal)) { boxHeader = l; box = lines[(k + 1)..(k + 4)]; k += 3; }
                else if (l.StartsWith("ITEM: ATOMS", StringComparison.Ordinal) || l.StartsWith("ITEM: ENTRIES", StringComparison.Ordinal))
                    columns = l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2..];
                else if (l.StartsWith("ITEM:", StringComparison.Ordinal)) continue;
                else throw new FormatException($"{path}:{k + 1}: unexpected line '{l}' in a dump header");
            }
            if (columns is null || count < 0) throw new FormatException($"{path}: incomplete dump frame (no NUMBER OF and ATOMS/ENTRIES items)");
            if (k + count > lines.Length) throw new FormatException($"{path}: frame at step {step} announces {count} rows but the file ends");
            var rows = new double[count][];
            for (int i = 0; i < count; i++, k++)
            {
                var t = lines[k].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (t.Length != columns.Length) throw new FormatException($"{path}:{k + 1}: {t.Length} values, {columns.Length} columns");
                rows[i] = new double[t.Length];
                for (int c = 0; c < t.Length; c++)
                    if (!double.TryParse(t[c], NumberStyles.Float, ci, out rows[i][c]))
                        throw new FormatException($"{path}:{k + 1}: '{t[c]}' is not a number");
            }
            int idColumn = Array.IndexOf(columns, "id");
            if (idColumn >= 0) Array.Sort(rows, (a, b) => a[idColumn].CompareTo(b[idColumn]));
            frames.Add(new LammpsDump(step, columns, rows, boxHeader, box));
        }
        return frames;
    }
}
