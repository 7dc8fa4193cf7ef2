using System.Text;
using Mlip.IO;

namespace Mlip.Simulation;

/// <summary>
/// Appends MD frames to an extxyz file (positions, per-atom "velocities" in Å/fs, energy, forces,
/// stress, step, time_fs, temperature_K). Each frame is formatted in memory and written with one
/// append plus a flush, so a reader or a crash sees whole frames only (at most a torn last one if
/// the machine dies mid-write).
/// <para>
/// Staged (<c>staged: true</c>, what <c>mlip md</c> uses): the frames go to <c>STEM.partial.EXT</c> and
/// replace the file at <see cref="Path"/> only on <see cref="Commit"/>, when the run has ended well; a run
/// that fails or is killed leaves an existing trajectory untouched (and its own frames, if any, in the
/// partial file).
/// </para>
/// </summary>
public sealed class TrajectoryWriter : IDisposable
{
    private readonly Stream _stream;
    private readonly StagedFile? _staged;
    private readonly ExtXyzFormat _format = new();

    public TrajectoryWriter(string path, bool append = false, bool staged = false)
    {
        if (append && staged) throw new ArgumentException("a staged trajectory cannot append", nameof(staged));
        Path = path;
        if (staged)
        {
            _staged = new StagedFile(path);
            _stream = _staged.Stream;
            return;
        }
        string? dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        _stream = new FileStream(path, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.Read);
    }

    /// <summary>The trajectory's file (a staged writer writes to <see cref="WritingPath"/> until <see cref="Commit"/>).</summary>
    public string Path { get; }

    /// <summary>Where the frames are written now: <see cref="Path"/>, or the partial file of a staged writer.</summary>
    public string WritingPath => _staged?.PartialPath ?? Path;

    public int Frames { get; private set; }

    /// <summary>A staged writer's frames replace <see cref="Path"/> (nothing to do for a direct one, beyond a flush).</summary>
    public void Commit()
    {
        if (_staged is not null) _staged.Commit();
        else _stream.Flush();
    }

    public void Write(MdState state)
    {
        using var sw = new StringWriter { NewLine = "\n" };
        _format.Write(sw, [state.Snapshot()]);
        var bytes = new UTF8Encoding(false).GetBytes(sw.ToString());
        _stream.Write(bytes);
        _stream.Flush();
        Frames++;
    }

    /// <summary>Closes the file; an uncommitted staged trajectory keeps its partial file only when it holds frames.</summary>
    public void Dispose()
    {
        if (_staged is not null) _staged.Abandon(keepPartial: Frames > 0);
        else _stream.Dispose();
    }
}
