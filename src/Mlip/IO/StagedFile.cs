namespace Mlip.IO;

/// <summary>
/// An output written as it goes (an MD trajectory, a thermo log) that replaces its target only when the
/// run ends well: until <see cref="Commit"/> the data go to <c>STEM.partial.EXT</c> beside the target, so a
/// run that fails or is killed leaves an existing file of the target's name untouched. On
/// <see cref="IDisposable.Dispose"/> without a commit, a partial file that holds something of value (see
/// <c>keepPartial</c>) stays for the user to look at; an empty one is removed.
/// </summary>
public sealed class StagedFile : IDisposable
{
    private FileStream? _stream;
    private bool _committed;

    public StagedFile(string path)
    {
        Target = path;
        string full = Path.GetFullPath(path);
        string? dir = Path.GetDirectoryName(full);
        if (dir is not null) Directory.CreateDirectory(dir);
        PartialPath = PartialPathOf(full);
        _stream = new FileStream(PartialPath, FileMode.Create, FileAccess.Write, FileShare.Read);
    }

    /// <summary>traj.xyz → traj.partial.xyz (same folder; the extension kept so that readers know the format).</summary>
    public static string PartialPathOf(string path)
    {
        string full = Path.GetFullPath(path);
        string ext = Path.GetExtension(full);
        return Path.Combine(Path.GetDirectoryName(full) ?? ".", Path.GetFileNameWithoutExtension(full) + ".partial" + ext);
    }

    /// <summary>The file the output becomes on <see cref="Commit"/>, as given.</summary>
    public string Target { get; }

    /// <summary>Where the output is written until then.</summary>
    public string PartialPath { get; }

    public FileStream Stream => _stream ?? throw new ObjectDisposedException(nameof(StagedFile));

    /// <summary>Flushes the data to disk and renames the partial file over the target.</summary>
    public void Commit()
    {
        if (_committed) return;
        var s = Stream;
        s.Flush(flushToDisk: true);
        s.Dispose();
        _stream = null;
        File.Move(PartialPath, Path.GetFullPath(Target), overwrite: true);
        _committed = true;
    }

    /// <summary>Closes without committing; the partial file is removed unless <paramref name="keepPartial"/>.</summary>
    public void Abandon(bool keepPartial)
    {
        if (_committed) return;
        _stream?.Dispose();
        _stream = null;
        if (!keepPartial)
        {
            try { File.Delete(PartialPath); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    public void Dispose() => Abandon(keepPartial: _stream is { Length: > 0 });
}
