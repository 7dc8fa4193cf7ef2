using System.Text;
using Mlip.IO;

namespace Mlip.Simulation;

/// <summary>
/// Appends MD frames to an extxyz file (positions, per-atom "velocities" in Å/fs, energy, forces,
/// stress, step, time_fs, temperature_K). Each frame is formatted in memory and written with one
/// append plus a flush, so a reader or a crash sees whole frames only (at most a torn last one if
/// the machine dies mid-write).
/// </summary>
public sealed class TrajectoryWriter : IDisposable
{
    private readonly FileStream _stream;
    private readonly ExtXyzFormat _format = new();

    public TrajectoryWriter(string path, bool append = false)
    {
        string? dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        _stream = new FileStream(path, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.Read);
        Path = path;
    }

    public string Path { get; }
    public int Frames { get; private set; }

    public void Write(MdState state)
    {
        using var sw = new StringWriter { NewLine = "\n" };
        _format.Write(sw, [state.Snapshot()]);
        var bytes = new UTF8Encoding(false).GetBytes(sw.ToString());
        _stream.Write(bytes);
        _stream.Flush(flushToDisk: false);
        Frames++;
    }

    public void Dispose() => _stream.Dispose();
}
