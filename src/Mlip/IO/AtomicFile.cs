using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text;

namespace Mlip.IO;

/// <summary>
/// Writes a file so that readers never see half of it: the content goes to a temporary file in the
/// same directory, which is flushed to disk and then renamed over the target.
/// </summary>
public static class AtomicFile
{
    public static void WriteText(string path, Action<TextWriter> write)
    {
        Write(path, stream =>
        {
            using var w = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
            write(w);
            w.Flush();
        });
    }

    /// <summary>Writes <paramref name="root"/> as UTF-8 JSON (indented unless told otherwise).</summary>
    public static void WriteJson(string path, JsonNode root, bool indented = true) =>
        Write(path, stream =>
        {
            using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented });
            root.WriteTo(w);
        });

    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
