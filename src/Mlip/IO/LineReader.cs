using System.Globalization;
using Mlip.Validation;

namespace Mlip.IO;

/// <summary>A text reader that knows its 1-based line number, for error messages that name the line.</summary>
public sealed class LineReader(TextReader reader, string sourceName)
{
    public string SourceName { get; } = sourceName;

    /// <summary>The underlying reader (for <see cref="InputLimits.CheckCount"/>).</summary>
    public TextReader Reader => reader;

    /// <summary>Line number of the line most recently returned (0 before the first).</summary>
    public int LineNumber { get; private set; }

    public InputLocation Here => new(SourceName, LineNumber);

    public InputLocation At(int line) => new(SourceName, line);

    /// <summary>Next line, or null at the end of the file.</summary>
    public string? Next()
    {
        string? line = reader.ReadLine();
        if (line is not null) LineNumber++;
        return line;
    }

    /// <summary>Next line; a <see cref="FileFormatException"/> saying what was expected at the end of the file.</summary>
    public string Require(string expected)
    {
        string? line = Next();
        if (line is null)
            throw new FileFormatException(new InputLocation(SourceName, LineNumber + 1), $"unexpected end of file, expected {expected}");
        return line;
    }

    public FileFormatException Error(string detail) => new(Here, detail);
}

/// <summary>Bounds on counts that a file declares (atoms, columns) before arrays are sized from them.</summary>
public static class InputLimits
{
    /// <summary>Atoms (or lines) a reader of unknown length may declare; a file is bounded by its size instead.</summary>
    public const long MaxCountUnknownLength = 1L << 26;

    /// <summary>
    /// Refuses a declared count of atoms (each needing a line of at least two bytes in the file) that the
    /// input cannot hold: larger than half the file's size, or than <see cref="MaxCountUnknownLength"/> when the
    /// size is not known, or than an int. Called before an array is sized from the count.
    /// </summary>
    public static void CheckCount(TextReader reader, long count, InputLocation where, string what)
    {
        long limit = reader is StreamReader { BaseStream: { CanSeek: true } bs } ? bs.Length / 2 : MaxCountUnknownLength;
        if (count > limit || count > int.MaxValue)
            throw new FileFormatException(where, string.Create(CultureInfo.InvariantCulture,
                $"declares {count} {what}, more than the input can hold (at most {Math.Min(limit, int.MaxValue)} for its size)"));
    }
}

/// <summary>Number parsing that reports the file and line on failure.</summary>
public static class Parse
{
    private const NumberStyles Float = NumberStyles.Float;

    public static double Double(ReadOnlySpan<char> token, InputLocation where, string what)
    {
        if (double.TryParse(token, Float, CultureInfo.InvariantCulture, out double v)) return v;
        if (TrySpecial(token, out v)) return v;
        // Fortran writes 1.0D+01
        if (token.IndexOfAny('d', 'D') >= 0)
        {
            string t = token.ToString().Replace('d', 'e').Replace('D', 'e');
            if (double.TryParse(t, Float, CultureInfo.InvariantCulture, out v)) return v;
        }
        throw new FileFormatException(where, $"cannot read {what} from '{Shorten(token)}'");
    }

    /// <summary>nan, inf, -inf as Python and Fortran print them (the validator then reports them).</summary>
    private static bool TrySpecial(ReadOnlySpan<char> t, out double v)
    {
        v = 0;
        bool neg = false;
        if (t.Length > 0 && (t[0] == '-' || t[0] == '+')) { neg = t[0] == '-'; t = t[1..]; }
        if (t.Equals("nan", StringComparison.OrdinalIgnoreCase)) { v = double.NaN; return true; }
        if (t.Equals("inf", StringComparison.OrdinalIgnoreCase) || t.Equals("infinity", StringComparison.OrdinalIgnoreCase))
        {
            v = neg ? double.NegativeInfinity : double.PositiveInfinity;
            return true;
        }
        return false;
    }

    public static int Int(ReadOnlySpan<char> token, InputLocation where, string what)
    {
        if (int.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)) return v;
        throw new FileFormatException(where, $"cannot read {what} (an integer) from '{Shorten(token)}'");
    }

    public static bool Bool(ReadOnlySpan<char> token, InputLocation where, string what)
    {
        var t = token.Trim();
        if (t.Equals("T", StringComparison.OrdinalIgnoreCase) || t.Equals("true", StringComparison.OrdinalIgnoreCase) || t.SequenceEqual("1"))
            return true;
        if (t.Equals("F", StringComparison.OrdinalIgnoreCase) || t.Equals("false", StringComparison.OrdinalIgnoreCase) || t.SequenceEqual("0"))
            return false;
        throw new FileFormatException(where, $"cannot read {what} (T or F) from '{Shorten(token)}'");
    }

    public static string[] Tokens(string line) =>
        line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);

    private static string Shorten(ReadOnlySpan<char> t) => t.Length > 40 ? t[..40].ToString() + "..." : t.ToString();

    /// <summary>Round-trip formatting of a double (shortest string that reads back exactly).</summary>
    public static string Format(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
