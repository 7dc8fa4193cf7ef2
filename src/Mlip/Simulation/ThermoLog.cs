using System.Globalization;
using System.Text;

namespace Mlip.Simulation;

/// <summary>
/// CSV thermodynamic log: step, time_fs, temperature_K, epot_eV, ekin_eV, etot_eV, conserved_eV,
/// pressure_GPa, volume_A3. Each row is appended and flushed as one write, so a crash leaves whole
/// rows; a new log replaces an old file of the same name.
/// </summary>
public sealed class ThermoLog : IDisposable
{
    public const string Header = "step,time_fs,temperature_K,epot_eV,ekin_eV,etot_eV,conserved_eV,pressure_GPa,volume_A3";
    private readonly FileStream _stream;

    public ThermoLog(string path, bool append = false)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        bool writeHeader = !append || !File.Exists(path) || new FileInfo(path).Length == 0;
        _stream = new FileStream(path, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.Read);
        FilePath = path;
        if (writeHeader) WriteLine(Header);
    }

    public string FilePath { get; }

    public void Write(MdState s, double conserved)
    {
        var c = CultureInfo.InvariantCulture;
        WriteLine(string.Join(',',
            s.Step.ToString(c), s.Time.ToString("R", c), s.Temperature.ToString("R", c),
            s.PotentialEnergy.ToString("R", c), s.KineticEnergy.ToString("R", c), s.TotalEnergy.ToString("R", c),
            conserved.ToString("R", c), s.Pressure.ToString("R", c), s.Volume.ToString("R", c)));
    }

    private void WriteLine(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line + "\n");
        _stream.Write(bytes);
        _stream.Flush(flushToDisk: false);
    }

    public void Dispose() => _stream.Dispose();
}
