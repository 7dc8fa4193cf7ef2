using System.Globalization;

namespace Mlip.Validation;

/// <summary>Where a problem was found: a file, a line in it, a structure index (0-based), an atom.</summary>
public sealed record InputLocation(string? File = null, int? Line = null, int? StructureIndex = null, int? Atom = null)
{
    public static readonly InputLocation Unknown = new();

    public InputLocation WithLine(int line) => this with { Line = line };
    public InputLocation WithStructure(int index) => this with { StructureIndex = index };
    public InputLocation WithAtom(int atom) => this with { Atom = atom };

    public override string ToString()
    {
        var parts = new List<string>(4);
        if (File is not null) parts.Add(Line is int l ? $"{File}:{l}" : File);
        else if (Line is int l2) parts.Add($"line {l2}");
        if (StructureIndex is int s) parts.Add(string.Create(CultureInfo.InvariantCulture, $"structure {s}"));
        if (Atom is int a) parts.Add(string.Create(CultureInfo.InvariantCulture, $"atom {a}"));
        return string.Join(", ", parts);
    }
}

/// <summary>
/// A problem the user can fix (a bad file, a missing label, an unknown element ...). The CLI prints
/// the message as one line and exits non-zero; it never shows a stack trace for these.
/// </summary>
public class MlipException : Exception
{
    public MlipException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>An input problem tied to a place in the input.</summary>
public class MlipInputException : MlipException
{
    public MlipInputException(InputLocation location, string detail, Exception? inner = null)
        : base(Compose(location, detail), inner)
    {
        Location = location;
        Detail = detail;
    }

    public InputLocation Location { get; }
    public string Detail { get; }
    public string? File => Location.File;
    public int? Line => Location.Line;
    public int? StructureIndex => Location.StructureIndex;

    private static string Compose(InputLocation location, string detail)
    {
        string where = location.ToString();
        return where.Length == 0 ? detail : $"{where}: {detail}";
    }
}

/// <summary>The file does not follow its format (bad number, missing field, truncated frame ...).</summary>
public sealed class FileFormatException(InputLocation location, string detail, Exception? inner = null)
    : MlipInputException(location, detail, inner);

/// <summary>An element symbol or atomic number that is not in the periodic table.</summary>
public sealed class UnknownElementException(InputLocation location, string symbol)
    : MlipInputException(location, $"unknown element '{symbol}'")
{
    public string Symbol { get; } = symbol;
}

/// <summary>A NaN or infinite value in a cell, position or label.</summary>
public sealed class NonFiniteValueException(InputLocation location, string what)
    : MlipInputException(location, $"{what} is not a finite number (NaN or infinity)")
{
    public string What { get; } = what;
}

/// <summary>Two atoms closer than the allowed minimum distance.</summary>
public sealed class OverlappingAtomsException(InputLocation location, int atomI, int atomJ, double distance, double threshold)
    : MlipInputException(location, string.Create(CultureInfo.InvariantCulture,
        $"atoms {atomI} and {atomJ} are {distance:G4} Å apart (closer than {threshold:G4} Å): overlapping atoms"))
{
    public int AtomI { get; } = atomI;
    public int AtomJ { get; } = atomJ;
    public double Distance { get; } = distance;
}

/// <summary>A label (energy, forces, stress, a per-atom array) that is required but absent.</summary>
public sealed class MissingLabelException(InputLocation location, string label)
    : MlipInputException(location, $"missing label '{label}'")
{
    public string Label { get; } = label;
}

/// <summary>A label array whose shape does not match the structure (e.g. forces for 10 atoms in a 12-atom cell).</summary>
public sealed class LabelShapeException(InputLocation location, string label, int expected, int actual)
    : MlipInputException(location, $"'{label}' has {actual} entries, expected {expected}")
{
    public string Label { get; } = label;
    public int Expected { get; } = expected;
    public int Actual { get; } = actual;
}

/// <summary>A cell that cannot be used: zero volume on a periodic direction, left-handed where a right-handed cell is needed ...</summary>
public sealed class InvalidCellException(InputLocation location, string detail)
    : MlipInputException(location, detail);
