using Mlip.Structures;

namespace Mlip.IO;

/// <summary>Base for text formats: reading and writing go through TextReader/TextWriter so tests can use strings.</summary>
public abstract class TextStructureFormat : IStructureFormat
{
    public abstract string Name { get; }
    public abstract string Description { get; }
    public virtual bool CanRead => true;
    public virtual bool CanWrite => true;
    public abstract bool MatchesFileName(string fileName);

    public IReadOnlyList<Structure> Read(string path)
    {
        using var reader = InputFile.OpenText(path);
        return Read(reader, path);
    }

    /// <inheritdoc cref="IStructureFormat.Enumerate"/>
    public IEnumerable<Structure> Enumerate(string path)
    {
        using var reader = InputFile.OpenText(path);
        foreach (var s in Enumerate(reader, path)) yield return s;
    }

    /// <summary>The structures of <paramref name="reader"/> one at a time (a format that reads frame by frame overrides it; the default reads all first).</summary>
    public virtual IEnumerable<Structure> Enumerate(TextReader reader, string sourceName) => Read(reader, sourceName);

    public void Write(string path, IReadOnlyList<Structure> structures)
    {
        if (!CanWrite) throw new NotSupportedException($"format '{Name}' is read-only");
        AtomicFile.WriteText(path, w => Write(w, structures));
    }

    /// <summary>Reads all structures; <paramref name="sourceName"/> is the name used in error messages.</summary>
    public abstract IReadOnlyList<Structure> Read(TextReader reader, string sourceName);

    public virtual void Write(TextWriter writer, IReadOnlyList<Structure> structures) =>
        throw new NotSupportedException($"format '{Name}' is read-only");

    public IReadOnlyList<Structure> ReadString(string text, string sourceName = "<string>") =>
        Read(new StringReader(text), sourceName);

    public string WriteString(IReadOnlyList<Structure> structures)
    {
        var sw = new StringWriter(System.Globalization.CultureInfo.InvariantCulture) { NewLine = "\n" };
        Write(sw, structures);
        return sw.ToString();
    }
}
