using System.Globalization;
using System.Text;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.IO;

/// <summary>
/// VASP OUTCAR (read only): every finished ionic step becomes one <see cref="Structure"/>.
/// <list type="bullet">
/// <item>Elements: the "TITEL = PAW_PBE Ga_d 06Jul2010" lines (suffixes such as _pv, _sv, _d, _GW, .5
/// are stripped) with the counts of "ions per type ="; without TITEL lines, the first ntypes
/// "POTCAR:" lines are used.</item>
/// <item>Cell: the latest "direct lattice vectors" block (it is printed again in every step, so a
/// relaxing cell is followed).</item>
/// <item>Positions (Å) and forces (eV/Å): the "POSITION ... TOTAL-FORCE (eV/Angst)" block.</item>
/// <item>Energy: "energy(sigma->0)" of the "FREE ENERGIE OF THE ION-ELECTRON SYSTEM" block, as ASE
/// reads it; the free energy TOTEN goes to <c>Info["free_energy"]</c>.</item>
/// <item>Stress: the "in kB" line (xx yy zz xy yz zx, kbar, compression positive), converted with
/// <see cref="Stress.FromVaspKbar"/>.</item>
/// </list>
/// A step counts once its energy lines are complete; a step cut off at the end of a truncated file
/// (a killed run) is dropped and the finished steps are kept. Every structure's
/// <see cref="Structure.Source"/> names the line of its POSITION block.
/// </summary>
public sealed class OutcarFormat : TextStructureFormat
{
    /// <summary>Info key of the free energy TOTEN (eV) of each step.</summary>
    public const string FreeEnergyKey = "free_energy";

    public override string Name => "outcar";

    public override string Description => "VASP OUTCAR (read only; every ionic step with energy, forces and stress)";

    public override bool CanWrite => false;

    /// <summary>OUTCAR*, ignoring case.</summary>
    public override bool MatchesFileName(string fileName) =>
        Path.GetFileName(fileName).StartsWith("OUTCAR", StringComparison.OrdinalIgnoreCase);

    public override IReadOnlyList<Structure> Read(TextReader reader, string sourceName) =>
        new OutcarReader(new TrackedLineReader(reader), sourceName).ReadAll();
}

/// <summary>
/// Reads lines and remembers whether the last one ended with a line break, so that a line cut off
/// by a killed program (the last line of the file, without its line break) can be told apart.
/// </summary>
internal sealed class TrackedLineReader(TextReader reader)
{
    /// <summary>The underlying reader (for <see cref="InputLimits.CheckCount"/>).</summary>
    public TextReader Reader => reader;

    private readonly char[] _buffer = new char[1 << 16];
    private readonly StringBuilder _partial = new();
    private int _pos;
    private int _len;

    /// <summary>1-based number of the line most recently returned (0 before the first).</summary>
    public int LineNumber { get; private set; }

    /// <summary>True when the line most recently returned ended with a line break.</summary>
    public bool LastLineTerminated { get; private set; }

    /// <summary>The next line without its line break, or null at the end of the input.</summary>
    public string? Next()
    {
        _partial.Clear();
        while (true)
        {
            if (_pos >= _len && !Fill())
            {
                if (_partial.Length == 0) return null;
                LineNumber++;
                LastLineTerminated = false;
                return _partial.ToString();
            }
            int idx = _buffer.AsSpan(_pos, _len - _pos).IndexOfAny('\n', '\r');
            if (idx < 0)
            {
                _partial.Append(_buffer, _pos, _len - _pos);
                _pos = _len;
                continue;
            }
            string line;
            if (_partial.Length == 0) line = new string(_buffer, _pos, idx);
            else line = _partial.Append(_buffer, _pos, idx).ToString();
            char brk = _buffer[_pos + idx];
            _pos += idx + 1;
            if (brk == '\r' && (_pos < _len || Fill()) && _buffer[_pos] == '\n') _pos++;
            LineNumber++;
            LastLineTerminated = true;
            return line;
        }
    }

    private bool Fill()
    {
        _len = reader.Read(_buffer, 0, _buffer.Length);
        _pos = 0;
        return _len > 0;
    }
}

/// <summary>One pass over an OUTCAR; see <see cref="OutcarFormat"/>.</summary>
internal sealed class OutcarReader(TrackedLineReader lines, string source)
{
    private const string FreeEnergyMarker = "FREE ENERGIE OF THE ION-ELECTRON SYSTEM";
    private const string SigmaMarker = "energy(sigma->0)";

    private readonly List<Structure> _structures = [];

    // Header.
    private readonly List<(int Line, string Text)> _titel = [];
    private readonly List<(int Line, string Text)> _potcar = [];
    private int _nions = -1;
    private int _nionsLine;
    private int[]? _ionsPerType;
    private int _ionsPerTypeLine;
    private int[]? _numbers;

    // Current state; the cell persists between steps, the rest belongs to one step.
    private Matrix3? _cell;
    private Vec3[]? _positions;
    private Vec3[]? _forces;
    private int _positionLine;
    private Stress? _stress;
    private string _totenText = "";
    private int _totenLine;
    private string _sigmaText = "";
    private int _sigmaLine;

    /// <summary>True once the closing timing summary of a finished VASP run has been read.</summary>
    private bool _runFinished;

    /// <summary>
    /// The first problem met since the last finished step. It is raised when the step finishes; a
    /// step that never finishes (the end of a truncated file) takes it along when it is dropped.
    /// </summary>
    private MlipInputException? _pending;

    public List<Structure> ReadAll()
    {
        string? line;
        while ((line = lines.Next()) is not null)
        {
            bool finished;
            try
            {
                finished = Dispatch(line);
            }
            catch (MlipInputException e)
            {
                _pending ??= e;
                continue;
            }
            if (finished)
            {
                if (_pending is not null) throw _pending;
                FinishStep();
            }
        }
        // A problem after the last finished step is part of a cut-off step, unless the run itself
        // finished (its timing summary is there): then that step was malformed, not cut off.
        if (_pending is not null && _runFinished) throw _pending;
        if (_structures.Count == 0)
            throw new FileFormatException(new InputLocation(source, lines.LineNumber),
                $"no finished ionic step found (a step ends with a '{FreeEnergyMarker}' block); is this a VASP OUTCAR, or did the run stop before its first step?",
                _pending);
        return _structures;
    }

    private InputLocation Here => new(source, lines.LineNumber);

    private InputLocation At(int line) => new(source, line);

    /// <summary>Handles one line (pulling the lines of a block it starts); true when an ionic step has just finished.</summary>
    private bool Dispatch(string line)
    {
        if (_numbers is null)
        {
            if (line.Contains("TITEL", StringComparison.Ordinal))
            {
                int eq = line.IndexOf('=');
                if (eq >= 0) _titel.Add((lines.LineNumber, line[(eq + 1)..]));
                return false;
            }
            int p = line.IndexOf("POTCAR:", StringComparison.Ordinal);
            if (p >= 0)
            {
                _potcar.Add((lines.LineNumber, line[(p + 7)..]));
                return false;
            }
            if (line.Contains("NIONS", StringComparison.Ordinal))
            {
                ReadNions(line);
                return false;
            }
            if (line.Contains("ions per type", StringComparison.Ordinal))
            {
                ReadIonsPerType(line);
                return false;
            }
        }

        if (line.Contains("direct lattice vectors", StringComparison.Ordinal))
        {
            ReadLattice();
            return false;
        }
        var trimmed = line.AsSpan().TrimStart();
        if (trimmed.StartsWith("in kB", StringComparison.Ordinal))
        {
            ReadStress(trimmed[5..]);
            return false;
        }
        if (trimmed.StartsWith("POSITION", StringComparison.Ordinal) && line.Contains("TOTAL-FORCE", StringComparison.Ordinal))
        {
            ReadPositionsAndForces();
            return false;
        }
        if (line.Contains(FreeEnergyMarker, StringComparison.Ordinal))
            return ReadEnergies();
        if (line.Contains("General timing and accounting", StringComparison.Ordinal))
            _runFinished = true;
        return false;
    }

    private void ReadNions(string line)
    {
        // "   number of dos      NEDOS =    301   number of ions     NIONS =      4"
        var rest = line.AsSpan(line.IndexOf("NIONS", StringComparison.Ordinal) + 5).TrimStart();
        if (rest.Length == 0 || rest[0] != '=') throw new FileFormatException(Here, "expected 'NIONS = <number of ions>'");
        string[] t = Parse.Tokens(rest[1..].ToString());
        if (t.Length == 0) throw new FileFormatException(Here, "expected the number of ions after 'NIONS ='");
        int n = Parse.Int(t[0], Here, "the number of ions NIONS");
        if (n < 1) throw new FileFormatException(Here, "NIONS must be at least 1");
        _nions = n;
        _nionsLine = lines.LineNumber;
    }

    private void ReadIonsPerType(string line)
    {
        // "   ions per type =               2   2"
        int eq = line.IndexOf('=');
        if (eq < 0) throw new FileFormatException(Here, "expected 'ions per type = <counts>'");
        string[] t = Parse.Tokens(line[(eq + 1)..]);
        if (t.Length == 0) throw new FileFormatException(Here, "expected the atom counts after 'ions per type ='");
        var counts = new int[t.Length];
        for (int i = 0; i < t.Length; i++)
        {
            counts[i] = Parse.Int(t[i], Here, "an atom count");
            if (counts[i] < 0) throw new FileFormatException(Here, "atom counts must not be negative");
        }
        _ionsPerType = counts;
        _ionsPerTypeLine = lines.LineNumber;
    }

    /// <summary>The atomic number of each atom, from the header; checked once, at the first POSITION block.</summary>
    private int[] AtomicNumbers()
    {
        if (_numbers is not null) return _numbers;
        if (_ionsPerType is null)
            throw new FileFormatException(Here, "found a POSITION block before the 'ions per type =' line; cannot tell the elements");
        if (_nions < 0)
            throw new FileFormatException(Here, "found a POSITION block before the 'NIONS =' line; cannot tell the number of atoms");
        long total = 0;
        foreach (int c in _ionsPerType) total += c;
        if (total != _nions)
            throw new FileFormatException(At(_ionsPerTypeLine), string.Create(CultureInfo.InvariantCulture,
                $"'ions per type' adds up to {total} atoms but NIONS = {_nions} (line {_nionsLine})"));

        int types = _ionsPerType.Length;
        List<(int Line, string Text)> names;
        if (_titel.Count >= types) names = _titel;
        else if (_potcar.Count >= types) names = _potcar;
        else
            throw new FileFormatException(At(_ionsPerTypeLine), string.Create(CultureInfo.InvariantCulture,
                $"{types} atom types, but the header has only {_titel.Count} 'TITEL' and {_potcar.Count} 'POTCAR:' line(s) naming the elements"));

        InputLimits.CheckCount(lines.Reader, total, At(_nionsLine), "atoms (NIONS)");
        var numbers = new int[total];
        for (int t = 0, k = 0; t < types; t++)
        {
            int z = ElementOfPotential(names[t].Text, At(names[t].Line));
            for (int j = 0; j < _ionsPerType[t]; j++) numbers[k++] = z;
        }
        _numbers = numbers;
        return numbers;
    }

    /// <summary>
    /// The element of a potential title such as "PAW_PBE Ga_d 06Jul2010", "US Si", "PAW_PBE H1.25 07Sep2000"
    /// or "H 1/r potential": the first word when it is an element, otherwise the second; then the
    /// suffix after '_' or '.' and any digits are stripped.
    /// </summary>
    internal static int ElementOfPotential(string title, InputLocation where)
    {
        string[] t = Parse.Tokens(title);
        if (t.Length == 0) throw new FileFormatException(where, "expected a potential name such as 'PAW_PBE Si 05Jan2001'");
        string symbol = LeadingLetters(t[0]);
        if (!Elements.TryNumber(symbol, out int z))
        {
            if (t.Length < 2) throw new UnknownElementException(where, t[0]);
            symbol = LeadingLetters(t[1]);
            if (!Elements.TryNumber(symbol, out z)) throw new UnknownElementException(where, t[1]);
        }
        return z;
    }

    private static string LeadingLetters(string token)
    {
        int n = 0;
        while (n < token.Length && char.IsAsciiLetter(token[n])) n++;
        return token[..n];
    }

    private void ReadLattice()
    {
        Span<double> row = stackalloc double[3];
        Span<double> v = stackalloc double[9];
        for (int i = 0; i < 3; i++)
        {
            string? line = lines.Next();
            if (line is null) return; // truncated
            if (NumberScanner.Scan(line, row, source, lines.LineNumber, "a lattice vector component") < 3)
                throw new FileFormatException(Here, "expected 3 numbers of a direct lattice vector");
            row.CopyTo(v[(3 * i)..]);
        }
        _cell = Matrix3.FromArray(v);
    }

    private void ReadStress(ReadOnlySpan<char> rest)
    {
        Span<double> v = stackalloc double[6];
        if (NumberScanner.Scan(rest, v, source, lines.LineNumber, "a stress component") < 6)
            throw new FileFormatException(Here, "expected 6 stress components (XX YY ZZ XY YZ ZX, kB) after 'in kB'");
        _stress = Stress.FromVaspKbar(v);
    }

    private void ReadPositionsAndForces()
    {
        int header = lines.LineNumber;
        var numbers = AtomicNumbers();
        string? line = lines.Next();
        if (line is null) return;
        if (!line.AsSpan().TrimStart().StartsWith("-"))
            throw new FileFormatException(Here, "expected a line of dashes under the POSITION / TOTAL-FORCE header");
        var positions = new Vec3[numbers.Length];
        var forces = new Vec3[numbers.Length];
        Span<double> v = stackalloc double[6];
        for (int i = 0; i < numbers.Length; i++)
        {
            line = lines.Next();
            if (line is null) return; // truncated
            if (NumberScanner.Scan(line, v, source, lines.LineNumber, "a position or force component") < 6)
                throw new FileFormatException(Here, string.Create(CultureInfo.InvariantCulture,
                    $"expected 3 position and 3 force components for atom {i + 1} of {numbers.Length}"));
            positions[i] = new Vec3(v[0], v[1], v[2]);
            forces[i] = new Vec3(v[3], v[4], v[5]);
        }
        _positions = positions;
        _forces = forces;
        _positionLine = header;
    }

    /// <summary>
    /// At "FREE ENERGIE OF THE ION-ELECTRON SYSTEM": finds the TOTEN line and, on the next
    /// non-blank line, energy(sigma->0). True when both lines are there in full (the step has
    /// finished); their numbers are read in <see cref="FinishStep"/>.
    /// </summary>
    private bool ReadEnergies()
    {
        int marker = lines.LineNumber;
        string? line;
        int i = 0;
        while (true)
        {
            line = lines.Next();
            if (line is null) return false;
            if (line.Contains("TOTEN", StringComparison.Ordinal)) break;
            if (++i > 4) throw new FileFormatException(At(marker), "expected a 'free  energy   TOTEN  =' line in the next lines");
        }
        _totenText = line;
        _totenLine = lines.LineNumber;

        i = 0;
        while (true)
        {
            line = lines.Next();
            if (line is null) return false;
            if (line.Contains(SigmaMarker, StringComparison.Ordinal)) break;
            if (!string.IsNullOrWhiteSpace(line) || ++i > 2)
                throw new FileFormatException(Here, $"expected the '{SigmaMarker} =' energy after the TOTEN line (line {_totenLine})");
        }
        // A cut-off last line may hold half a number: only a line with its line break counts.
        if (!lines.LastLineTerminated) return false;
        _sigmaText = line;
        _sigmaLine = lines.LineNumber;
        return true;
    }

    /// <summary>The first number after the first <paramref name="mark"/> in <paramref name="text"/>.</summary>
    private double NumberAfter(string text, int line, string mark, string what)
    {
        int at = text.IndexOf(mark, StringComparison.Ordinal);
        if (at < 0) throw new FileFormatException(At(line), $"expected '{mark}' before {what}");
        Span<double> v = stackalloc double[1];
        if (NumberScanner.Scan(text.AsSpan(at + mark.Length), v, source, line, what) < 1)
            throw new FileFormatException(At(line), $"expected {what} after '{mark}'");
        return v[0];
    }

    private void FinishStep()
    {
        int index = _structures.Count;
        double freeEnergy = NumberAfter(_totenText, _totenLine, "=", "the free energy TOTEN");
        int sigma = _sigmaText.IndexOf(SigmaMarker, StringComparison.Ordinal);
        double energy = NumberAfter(_sigmaText[(sigma + SigmaMarker.Length)..], _sigmaLine, "=", $"the energy {SigmaMarker}");
        if (_positions is null || _forces is null)
            throw new FileFormatException(new InputLocation(source, _sigmaLine, index),
                "this ionic step has energies but no 'POSITION ... TOTAL-FORCE (eV/Angst)' block");
        if (_cell is not Matrix3 cell)
            throw new FileFormatException(new InputLocation(source, _positionLine, index),
                "no 'direct lattice vectors' block before this ionic step");

        var s = new Structure(cell, _positions, (int[])_numbers!.Clone(), PeriodicFlags.All)
        {
            Energy = energy,
            Forces = _forces,
            Stress = _stress,
            Source = new InputLocation(source, _positionLine, index),
        };
        s.Info[OutcarFormat.FreeEnergyKey] = freeEnergy;
        _structures.Add(s);

        _positions = null;
        _forces = null;
        _stress = null;
    }
}

/// <summary>
/// Reads the numbers of a line of Fortran output. Fixed-width fields may run together
/// ("-1234.56789-1234.56789"): a '-' right after a digit or '.' and before a digit or '.' starts a
/// new number, as ASE splits them.
/// </summary>
internal static class NumberScanner
{
    /// <summary>Fills <paramref name="dest"/> with the first numbers of <paramref name="text"/>; returns how many were read.</summary>
    public static int Scan(ReadOnlySpan<char> text, Span<double> dest, string source, int line, string what)
    {
        int n = 0;
        int i = 0;
        while (n < dest.Length)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
            if (i >= text.Length) break;
            int start = i++;
            while (i < text.Length && !char.IsWhiteSpace(text[i]) && !StartsGluedNumber(text, i)) i++;
            var token = text[start..i];
            if (!double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                v = Parse.Double(token, new InputLocation(source, line), what);
            dest[n++] = v;
        }
        return n;
    }

    private static bool StartsGluedNumber(ReadOnlySpan<char> s, int i) =>
        s[i] == '-' && i > 0 && i + 1 < s.Length
        && (char.IsAsciiDigit(s[i - 1]) || s[i - 1] == '.')
        && (char.IsAsciiDigit(s[i + 1]) || s[i + 1] == '.');
}
