using System.Globalization;
using System.Text;

namespace Mlip.Simulation;

/// <summary>
/// CSV thermodynamic log: step, time_fs, temperature_K, epot_eV, ekin_eV, etot_eV, conserved_eV,
/// pressure_GPa, volume_A3. Each row is appended and flushed as one write, so a crash leaves whole
/// rows; a new log replaces an old file of the same name. A staged log (<c>staged: true</c>) is written to
/// <c>STEM.partial.EXT</c> and replaces the file only on <see cref="Commit"/> (see <see cref="TrajectoryWriter"/>).
/// </summary>
public sealed class ThermoLog : IDisposable
{
    public const string Header = "step,time_fs,temperature_K,epot_eV,ekin_eV,etot_eV,conserved_eV,pressure_GPa,volume_A3";
    private readonly Stream _stream;
    private readonly Mlip.IO.StagedFile? _staged;

    public ThermoLog(string path, bool append = false, bool staged = false)
    {
        if (append && staged) throw new ArgumentException("a staged log cannot append", nameof(staged));
        FilePath = path;
        if (staged)
        {
            _staged = new Mlip.IO.StagedFile(path);
            _stream = _staged.Stream;
            WriteLine(Header);
            return;
        }
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        bool writeHeader = !append || !File.Exists(path) || new FileInfo(path).Length == 0;
        _stream = new FileStream(path, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.Read);
        if (writeHeader) WriteLine(Header);
    }

    public string FilePath { get; }

    /// <summary>Where the rows are written now: <see cref="FilePath"/>, or the partial file of a staged log.</summary>
    public string WritingPath => _staged?.PartialPath ?? FilePath;

    /// <summary>Rows written (the header not counted).</summary>
    public int Rows { get; private set; }

    /// <summary>A staged log replaces <see cref="FilePath"/> (nothing to do for a direct one, beyond a flush).</summary>
    public void Commit()
    {
        if (_staged is not null) _staged.Commit();
        else _stream.Flush();
    }

    public void Write(MdState s, double conserved)
    {
        var c = CultureInfo.InvariantCulture;
        WriteLine(string.Join(',',
            s.Step.ToString(c), s.Time.ToString("R", c), s.Temperature.ToString("R", c),
            s.PotentialEnergy.ToString("R", c), s.KineticEnergy.ToString("R", c), s.TotalEnergy.ToString("R", c),
            conserved.ToString("R", c), s.HasPressure ? s.Pressure.ToString("R", c) : "nan", s.HasPressure ? s.Volume.ToString("R", c) : "nan"));
        Rows++;
    }

    private void WriteLine(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line + "\n");
        _stream.Write(bytes);
        _stream.Flush();
    }

    /// <summary>Closes the file; an uncommitted staged log keeps its partial file only when it holds rows.</summary>
    public void Dispose()
    {
        if (_staged is not null) _staged.Abandon(keepPartial: Rows > 0);
        else _stream.Dispose();
    }
}
