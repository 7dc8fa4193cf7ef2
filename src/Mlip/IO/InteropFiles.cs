using Mlip.Validation;

namespace Mlip.IO;

/// <summary>Shared by the LAMMPS readers and writers: file pairs named together, and atomic writing of exported files.</summary>
internal static class InteropFiles
{
    /// <summary>
    /// The two files of a potential named by <c>PREFIX:FIRST,SECOND</c>, or by one of them with the other
    /// beside it (same stem, the other suffix). Both must exist.
    /// </summary>
    public static (string First, string Second) ResolvePair(string path, string prefix, string firstSuffix, string secondSuffix, string firstWhat, string secondWhat)
    {
        string first, second;
        if (path.StartsWith(prefix + ":", StringComparison.OrdinalIgnoreCase))
        {
            var parts = path[(prefix.Length + 1)..].Split(',', StringSplitOptions.TrimEntries);
            if (parts.Length != 2) throw new MlipException($"'{path}': expected {prefix}:FILE{firstSuffix},FILE{secondSuffix}");
            (first, second) = (parts[0], parts[1]);
        }
        else if (path.EndsWith(secondSuffix, StringComparison.OrdinalIgnoreCase))
            (first, second) = (path[..^secondSuffix.Length] + firstSuffix, path);
        else if (path.EndsWith(firstSuffix, StringComparison.OrdinalIgnoreCase))
            (first, second) = (path, path[..^firstSuffix.Length] + secondSuffix);
        else
            throw new MlipException($"'{path}': expected a {firstSuffix} or {secondSuffix} file, or {prefix}:FIRST,SECOND");
        if (!File.Exists(first)) throw new MlipException($"{firstWhat} '{first}' not found");
        if (!File.Exists(second)) throw new MlipException($"{secondWhat} '{second}' not found (expected beside '{first}'; or give {prefix}:FIRST,SECOND)");
        return (first, second);
    }

    private static readonly System.Text.RegularExpressions.Regex NonFinite =
        new(@"(?<![A-Za-z_])(NaN|[-+]?Infinity|[-+]?∞)(?![A-Za-z_])", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>
    /// Refuses to write a potential file with a NaN or infinite number in it (LAMMPS would read it as NaN,
    /// and Mlip refuses it on reading): the error names the file and the line.
    /// </summary>
    public static void EnsureFinite(string path, string text)
    {
        var m = NonFinite.Match(text);
        if (!m.Success) return;
        int line = 1;
        for (int i = 0; i < m.Index; i++) if (text[i] == '\n') line++;
        throw new MlipException($"cannot write {path}: line {line} would hold '{m.Value}' (the model has a NaN or infinite coefficient; refit it)");
    }

    /// <summary>Writes each (name, text) into <paramref name="directory"/> atomically; returns the paths in order.</summary>
    public static string[] WriteAll(string directory, params (string Name, string Text)[] files)
    {
        Directory.CreateDirectory(directory);
        var paths = new string[files.Length];
        for (int i = 0; i < files.Length; i++)
        {
            paths[i] = Path.Combine(directory, files[i].Name);
            string text = files[i].Text;
            EnsureFinite(paths[i], text);
            AtomicFile.WriteText(paths[i], w => w.Write(text));
        }
        return paths;
    }
}
