using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.IO;

/// <summary>Reading and writing structures by file name, with validation.</summary>
public static class StructureIO
{
    /// <summary>
    /// Reads every structure of a file (format by name or by <paramref name="format"/>) and checks
    /// them with <paramref name="validation"/> (default: <see cref="ValidationOptions.Default"/>).
    /// </summary>
    public static IReadOnlyList<Structure> Read(string path, string? format = null, ValidationOptions? validation = null)
    {
        var f = StructureFormats.ForReading(path, format);
        var structures = f.Read(path);
        if (structures.Count == 0)
            throw new MlipInputException(new InputLocation(path), $"contains no structures (read as {f.Name})");
        StructureValidator.ValidateAll(structures, validation ?? ValidationOptions.Default);
        return structures;
    }

    /// <summary>
    /// The structures of a file one at a time, each checked with <paramref name="validation"/> as it comes: memory bounded by
    /// one structure for extended XYZ and ASE .db files (<see cref="IStructureFormat.Enumerate"/>). The same structures
    /// as <see cref="Read"/>, and the same error for a file without any.
    /// </summary>
    public static IEnumerable<Structure> Enumerate(string path, string? format = null, ValidationOptions? validation = null)
    {
        var f = StructureFormats.ForReading(path, format);
        var options = validation ?? ValidationOptions.Default;
        int index = 0;
        foreach (var s in f.Enumerate(path))
        {
            StructureValidator.Validate(s, options, index++);
            yield return s;
        }
        if (index == 0)
            throw new MlipInputException(new InputLocation(path), $"contains no structures (read as {f.Name})");
    }

    /// <summary>Reads several files into one list (in order).</summary>
    public static List<Structure> ReadAll(IEnumerable<string> paths, string? format = null, ValidationOptions? validation = null)
    {
        var all = new List<Structure>();
        foreach (var p in paths) all.AddRange(Read(p, format, validation));
        return all;
    }

    public static void Write(string path, IReadOnlyList<Structure> structures, string? format = null)
    {
        var f = StructureFormats.ForWriting(path, format);
        f.Write(path, structures);
    }
}
