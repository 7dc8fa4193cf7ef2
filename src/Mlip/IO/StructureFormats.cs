using Mlip.Validation;

namespace Mlip.IO;

/// <summary>
/// The one table of file formats. A format is chosen by name (<c>--format</c>) or by the file name;
/// ".json" files are told apart (ASE database or pymatgen/mlearn) by looking at their start.
/// </summary>
public static class StructureFormats
{
    public static readonly ExtXyzFormat ExtXyz = new();
    public static readonly PoscarFormat Poscar = new();
    public static readonly OutcarFormat Outcar = new();
    public static readonly AseJsonFormat AseJson = new();
    public static readonly AseDbFormat AseDb = new();
    public static readonly PymatgenJsonFormat PymatgenJson = new();
    public static readonly LammpsDataFormat LammpsData = new();

    public static IReadOnlyList<IStructureFormat> All { get; } =
        [ExtXyz, PymatgenJson, AseJson, AseDb, Poscar, Outcar, LammpsData];

    public static IStructureFormat ByName(string name)
    {
        foreach (var f in All)
            if (string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase)) return f;
        throw new MlipException($"unknown format '{name}'; known formats: {string.Join(", ", Names)}");
    }

    public static IEnumerable<string> Names
    {
        get { foreach (var f in All) yield return f.Name; }
    }

    /// <summary>The format to read <paramref name="path"/> with (looks into .json files).</summary>
    public static IStructureFormat ForReading(string path, string? formatName = null)
    {
        if (formatName is not null) return Require(ByName(formatName), read: true, path);
        string file = Path.GetFileName(path);
        if (file.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            InputFile.EnsureExists(path);
            return JsonFlavour.LooksLikeAseDatabase(path) ? AseJson : PymatgenJson;
        }
        return Require(ByFileName(path), read: true, path);
    }

    /// <summary>The format to write <paramref name="path"/> with (".json" writes pymatgen/mlearn).</summary>
    public static IStructureFormat ForWriting(string path, string? formatName = null)
    {
        if (formatName is not null) return Require(ByName(formatName), read: false, path);
        string file = Path.GetFileName(path);
        if (file.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return PymatgenJson;
        return Require(ByFileName(path), read: false, path);
    }

    private static IStructureFormat ByFileName(string path)
    {
        string file = Path.GetFileName(path);
        foreach (var f in All)
            if (f.MatchesFileName(file)) return f;
        throw new MlipInputException(new InputLocation(path),
            $"cannot tell the file format from the name; give --input-format or --output-format ({string.Join(", ", Names)})");
    }

    private static IStructureFormat Require(IStructureFormat f, bool read, string path)
    {
        if (read && !f.CanRead) throw new MlipInputException(new InputLocation(path), $"format '{f.Name}' can be written but not read");
        if (!read && !f.CanWrite) throw new MlipInputException(new InputLocation(path), $"format '{f.Name}' can be read but not written");
        return f;
    }
}

/// <summary>Tells an ASE JSON database from pymatgen/mlearn JSON by its first characters.</summary>
internal static class JsonFlavour
{
    public static bool LooksLikeAseDatabase(string path)
    {
        using var r = InputFile.OpenText(path);
        var buf = new char[512];
        int n = r.ReadBlock(buf, 0, buf.Length);
        var s = new ReadOnlySpan<char>(buf, 0, n).TrimStart();
        if (s.Length == 0 || s[0] != '{') return false;
        s = s[1..].TrimStart();
        // ASE: {"1": {...}, ..., "ids": [...], "nextid": N}; an empty database is {"ids": [], "nextid": 1},
        // or {"metadata": {...}, "ids": [], ...} when metadata was set and every row deleted
        if (s.StartsWith("\"ids\"") || s.StartsWith("\"nextid\"") || s.StartsWith("\"metadata\"")) return true;
        if (s.Length < 3 || s[0] != '"' || !char.IsDigit(s[1])) return false;
        int i = 1;
        while (i < s.Length && char.IsDigit(s[i])) i++;
        return i < s.Length && s[i] == '"';
    }
}
