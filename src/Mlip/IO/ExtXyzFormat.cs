using System.Globalization;
using System.Text;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.IO;

/// <summary>
/// Extended XYZ with ASE's conventions, many frames per file, read and write.
/// Comment line: <c>Lattice="ax ay az bx by bz cx cy cz" Properties=species:S:1:pos:R:3:forces:R:3
/// energy=... stress="9 values" pbc="T T T"</c>. As in ASE, <c>stress</c> is in eV/Å³ (3x3 or Voigt 6)
/// and <c>virial</c> in eV; both become GPa in Mlip. <c>config_type</c> (or <c>group</c>) is the
/// group, <c>weight</c> the structure weight; other keys go to <see cref="Structure.Info"/>; extra
/// real, integer and logical per-atom columns go to <see cref="Structure.AtomArrays"/>.
/// </summary>
public sealed class ExtXyzFormat : TextStructureFormat
{
    public override string Name => "extxyz";
    public override string Description => "extended XYZ (ASE conventions), many frames, read and write";

    public override bool MatchesFileName(string fileName) =>
        fileName.EndsWith(".xyz", StringComparison.OrdinalIgnoreCase) ||
        fileName.EndsWith(".extxyz", StringComparison.OrdinalIgnoreCase);

    public string EnergyKey { get; init; } = "energy";
    public string ForcesKey { get; init; } = "forces";
    public string StressKey { get; init; } = "stress";
    public string VirialKey { get; init; } = "virial";

    private static readonly HashSet<string> ReservedKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "Lattice", "Properties", "pbc",
    };

    public override IReadOnlyList<Structure> Read(TextReader reader, string sourceName) => [.. Enumerate(reader, sourceName)];

    /// <summary>Frame by frame: only the frame being read is held (a file of any size streams through).</summary>
    public override IEnumerable<Structure> Enumerate(TextReader reader, string sourceName)
    {
        var lr = new LineReader(reader, sourceName);
        string? line;
        int index = 0;
        while ((line = lr.Next()) is not null)
        {
            if (string.IsNullOrWhiteSpace(line)) continue; // blank lines between or after frames
            yield return ReadFrame(lr, line, index++);
        }
    }

    private Structure ReadFrame(LineReader lr, string countLine, int index)
    {
        int headerLine = lr.LineNumber;
        var where = new InputLocation(lr.SourceName, headerLine, index);
        var countToken = countLine.AsSpan().Trim();
        if (!int.TryParse(countToken, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) || n < 0)
            throw new FileFormatException(where, $"expected the number of atoms of frame {index}, found '{Truncate(countLine)}'");
        InputLimits.CheckCount(lr.Reader, n, where, "atoms");

        string comment = lr.Require($"the comment line of frame {index}");
        var commentWhere = lr.Here with { StructureIndex = index };
        var kv = ExtXyzComment.Parse(comment, commentWhere);

        // Properties
        string props = Lookup(kv, "Properties") ?? "species:S:1:pos:R:3";
        var columns = ExtXyzColumn.ParseProperties(props, commentWhere);
        int totalCols = 0;
        foreach (var c in columns) totalCols += c.Count;

        var species = FindColumn(columns, "species");
        var pos = FindColumn(columns, "pos") ?? throw new FileFormatException(commentWhere, "Properties has no 'pos:R:3' column");
        if (pos.Type != 'R' || pos.Count != 3) throw new FileFormatException(commentWhere, "'pos' must be R:3");
        var zcol = FindColumn(columns, "Z");
        if (species is null && zcol is null) throw new FileFormatException(commentWhere, "Properties has neither 'species' nor 'Z'");
        var forceCol = FindColumn(columns, ForcesKey);
        if (forceCol is not null && (forceCol.Type != 'R' || forceCol.Count != 3))
            throw new FileFormatException(commentWhere, $"'{ForcesKey}' must be R:3");

        InputLimits.CheckCount(lr.Reader, (long)n * totalCols, where, "numbers in the atom lines");
        var positions = new Vec3[n];
        var numbers = new int[n];
        Vec3[]? forces = forceCol is null ? null : new Vec3[n];
        var extras = new List<(ExtXyzColumn col, double[] values)>();
        foreach (var c in columns)
        {
            if (c == species || c == pos || c == forceCol || c == zcol) continue;
            if (c.Type == 'S') continue; // string columns other than species are not kept
            extras.Add((c, new double[n * c.Count]));
        }

        Span<Range> ranges = totalCols < 256 ? stackalloc Range[totalCols + 1] : new Range[totalCols + 1];
        for (int i = 0; i < n; i++)
        {
            string atomLine = lr.Require($"atom {i + 1} of {n} of frame {index}");
            var atomWhere = new InputLocation(lr.SourceName, lr.LineNumber, index);
            var span = atomLine.AsSpan();
            int got = span.SplitAny(ranges, " \t", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (got < totalCols)
                throw new FileFormatException(atomWhere, $"expected {totalCols} columns (Properties={props}), found {got}");
            if (got > totalCols)
                throw new FileFormatException(atomWhere, $"expected {totalCols} columns (Properties={props}), found more");

            if (species is not null) numbers[i] = Elements.Number(span[ranges[species.Start]], atomWhere);
            else
            {
                int z = Parse.Int(span[ranges[zcol!.Start]], atomWhere, "Z");
                if (!Elements.IsValidNumber(z)) throw new UnknownElementException(atomWhere, z.ToString(CultureInfo.InvariantCulture));
                numbers[i] = z;
            }
            positions[i] = new Vec3(
                Parse.Double(span[ranges[pos.Start]], atomWhere, "x"),
                Parse.Double(span[ranges[pos.Start + 1]], atomWhere, "y"),
                Parse.Double(span[ranges[pos.Start + 2]], atomWhere, "z"));
            if (forces is not null)
                forces[i] = new Vec3(
                    Parse.Double(span[ranges[forceCol!.Start]], atomWhere, "fx"),
                    Parse.Double(span[ranges[forceCol.Start + 1]], atomWhere, "fy"),
                    Parse.Double(span[ranges[forceCol.Start + 2]], atomWhere, "fz"));
            foreach (var (col, values) in extras)
                for (int k = 0; k < col.Count; k++)
                {
                    var tok = span[ranges[col.Start + k]];
                    values[i * col.Count + k] = col.Type switch
                    {
                        'R' => Parse.Double(tok, atomWhere, col.Name),
                        'I' => Parse.Int(tok, atomWhere, col.Name),
                        _ => Parse.Bool(tok, atomWhere, col.Name) ? 1 : 0,
                    };
                }
        }

        // Cell and periodicity
        Matrix3 cell = Matrix3.Zero;
        string? lattice = Lookup(kv, "Lattice");
        if (lattice is not null)
        {
            var v = ParseNumbers(lattice, commentWhere, "Lattice");
            if (v.Length != 9) throw new FileFormatException(commentWhere, $"Lattice needs 9 numbers, found {v.Length}");
            cell = Matrix3.FromArray(v);
        }
        PeriodicFlags pbc = lattice is null ? PeriodicFlags.None : PeriodicFlags.All;
        string? pbcText = Lookup(kv, "pbc");
        if (pbcText is not null)
        {
            var toks = Parse.Tokens(pbcText.Replace(',', ' ').Trim('[', ']'));
            if (toks.Length != 3) throw new FileFormatException(commentWhere, $"pbc needs 3 values, found '{pbcText}'");
            pbc = new PeriodicFlags(Parse.Bool(toks[0], commentWhere, "pbc"), Parse.Bool(toks[1], commentWhere, "pbc"), Parse.Bool(toks[2], commentWhere, "pbc"));
        }

        var s = new Structure(cell, positions, numbers, pbc) { Forces = forces, Source = where };
        foreach (var (col, values) in extras)
            s.AtomArrays[col.Name] = new AtomArray(n, col.Count, values, col.Type != 'R');

        foreach (var (key, raw) in kv)
        {
            if (ReservedKeys.Contains(key)) continue;
            if (key == EnergyKey) s.Energy = ParseScalar(raw, commentWhere, key);
            else if (key == StressKey) s.Stress = ParseStress(raw, commentWhere, key, virial: false, s);
            else if (key == VirialKey && !kv.ContainsKey(StressKey)) s.Stress = ParseStress(raw, commentWhere, key, virial: true, s);
            else if (key == VirialKey) s.Info[key] = ParseNumbers(raw, commentWhere, key);
            else if (key is "config_type" or "group") s.Group = raw;
            else if (key == "weight") s.Weight = ParseScalar(raw, commentWhere, key);
            else s.Info[key] = ExtXyzComment.InterpretValue(raw);
        }
        return s;
    }

    private static Stress ParseStress(string raw, InputLocation where, string key, bool virial, Structure s)
    {
        var v = ParseNumbers(raw, where, key);
        Matrix3 m = v.Length switch
        {
            9 => Matrix3.FromArray(v),
            6 => Stress.FromVoigt(v).ToMatrix(),
            _ => throw new FileFormatException(where, $"'{key}' needs 9 (3x3) or 6 (Voigt) numbers, found {v.Length}"),
        };
        if (!virial) return Stress.FromEvPerCubicAngstrom(m);
        if (!(s.Volume > 0)) throw new FileFormatException(where, $"'{key}' given for a structure without a cell volume");
        return Stress.FromVirial(m, s.Volume);
    }

    private static double ParseScalar(string raw, InputLocation where, string key) =>
        Parse.Double(raw.AsSpan().Trim(), where, key);

    private static double[] ParseNumbers(string raw, InputLocation where, string key)
    {
        var toks = Parse.Tokens(raw.Replace(',', ' ').Replace('[', ' ').Replace(']', ' '));
        var v = new double[toks.Length];
        for (int i = 0; i < toks.Length; i++) v[i] = Parse.Double(toks[i], where, key);
        return v;
    }

    private static string? Lookup(Dictionary<string, string> kv, string key)
    {
        if (kv.TryGetValue(key, out var v)) return v;
        foreach (var (k, val) in kv)
            if (string.Equals(k, key, StringComparison.OrdinalIgnoreCase)) return val;
        return null;
    }

    private static ExtXyzColumn? FindColumn(List<ExtXyzColumn> cols, string name)
    {
        foreach (var c in cols) if (c.Name == name) return c;
        return null;
    }

    private static string Truncate(string s) => s.Length > 40 ? s[..40] + "..." : s;

    // ------------------------------------------------------------------ writing

    public override void Write(TextWriter w, IReadOnlyList<Structure> structures)
    {
        var sb = new StringBuilder(256);
        foreach (var s in structures) WriteFrame(w, s, sb);
    }

    private void WriteFrame(TextWriter w, Structure s, StringBuilder sb)
    {
        w.Write(s.Count.ToString(CultureInfo.InvariantCulture));
        w.Write('\n');

        sb.Clear();
        var arrays = new List<KeyValuePair<string, AtomArray>>(s.AtomArrays);
        bool hasCell = s.HasCell || s.Pbc.Any;
        if (hasCell)
        {
            sb.Append("Lattice=\"");
            AppendNumbers(sb, s.Cell.ToArray());
            sb.Append("\" ");
        }
        sb.Append("Properties=species:S:1:pos:R:3");
        if (s.Forces is not null) sb.Append(':').Append(ForcesKey).Append(":R:3");
        foreach (var (name, arr) in arrays)
            sb.Append(':').Append(name).Append(arr.IsInteger ? ":I:" : ":R:").Append(arr.Components.ToString(CultureInfo.InvariantCulture));
        if (s.Energy is double e) sb.Append(' ').Append(EnergyKey).Append('=').Append(Parse.Format(e));
        if (s.Stress is Stress st)
        {
            sb.Append(' ').Append(StressKey).Append("=\"");
            AppendNumbers(sb, st.ToEvPerCubicAngstrom().ToArray());
            sb.Append('"');
        }
        if (s.Group is not null) sb.Append(" config_type=").Append(ExtXyzComment.Quote(s.Group));
        if (s.Weight != 1.0) sb.Append(" weight=").Append(Parse.Format(s.Weight));
        foreach (var (key, value) in s.Info)
        {
            if (!ExtXyzComment.IsValidKey(key) || ReservedKeys.Contains(key) || key == EnergyKey || key == StressKey ||
                key is "config_type" or "group" or "weight") continue;
            sb.Append(' ').Append(key).Append('=').Append(ExtXyzComment.FormatValue(value));
        }
        sb.Append(" pbc=\"").Append(s.Pbc.ToString()).Append('"');
        w.Write(sb.ToString());
        w.Write('\n');

        for (int i = 0; i < s.Count; i++)
        {
            sb.Clear();
            sb.Append(s.Symbol(i).PadRight(3));
            var p = s.Positions[i];
            sb.Append(' ').Append(Parse.Format(p.X)).Append(' ').Append(Parse.Format(p.Y)).Append(' ').Append(Parse.Format(p.Z));
            if (s.Forces is { } f)
                sb.Append(' ').Append(Parse.Format(f[i].X)).Append(' ').Append(Parse.Format(f[i].Y)).Append(' ').Append(Parse.Format(f[i].Z));
            foreach (var (_, arr) in arrays)
                foreach (double v in arr.Of(i))
                    sb.Append(' ').Append(arr.IsInteger ? ((long)v).ToString(CultureInfo.InvariantCulture) : Parse.Format(v));
            sb.Append('\n');
            w.Write(sb.ToString());
        }
    }

    private static void AppendNumbers(StringBuilder sb, double[] values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (i > 0) sb.Append(' ');
            sb.Append(Parse.Format(values[i]));
        }
    }
}

/// <summary>One column group of the extxyz Properties key (name:type:count).</summary>
internal sealed record ExtXyzColumn(string Name, char Type, int Count, int Start)
{
    public static List<ExtXyzColumn> ParseProperties(string props, InputLocation where)
    {
        const int MaxColumns = 1 << 16;
        var parts = props.Split(':');
        if (parts.Length % 3 != 0)
            throw new FileFormatException(where, $"Properties='{props}' is not a list of name:type:count triples");
        var cols = new List<ExtXyzColumn>();
        int start = 0;
        for (int k = 0; k < parts.Length; k += 3)
        {
            string name = parts[k];
            string type = parts[k + 1].ToUpperInvariant();
            if (type.Length != 1 || "SRIL".IndexOf(type[0]) < 0)
                throw new FileFormatException(where, $"Properties column '{name}' has unknown type '{parts[k + 1]}' (S, R, I or L)");
            int count = Parse.Int(parts[k + 2], where, $"the column count of '{name}'");
            if (count < 1) throw new FileFormatException(where, $"Properties column '{name}' has count {count}");
            if (count > MaxColumns - start)
                throw new FileFormatException(where, $"Properties declares more than {MaxColumns} numbers per atom (column '{name}' has count {count})");
            cols.Add(new ExtXyzColumn(name, type[0], count, start));
            start += count;
        }
        return cols;
    }
}

/// <summary>The key=value grammar of the extxyz comment line (quotes, braces, brackets, bare flags).</summary>
internal static class ExtXyzComment
{
    /// <summary>Parses the comment line into raw string values (quotes removed, a bare key gives "T").</summary>
    public static Dictionary<string, string> Parse(string line, InputLocation where)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        int i = 0, n = line.Length;
        while (i < n)
        {
            while (i < n && char.IsWhiteSpace(line[i])) i++;
            if (i >= n) break;
            int ks = i;
            while (i < n && line[i] != '=' && !char.IsWhiteSpace(line[i])) i++;
            string key = line[ks..i];
            while (i < n && char.IsWhiteSpace(line[i]) && NextNonSpaceIs(line, i, '=')) i++;
            if (i >= n || line[i] != '=')
            {
                d[key] = "T";
                continue;
            }
            i++; // '='
            while (i < n && char.IsWhiteSpace(line[i])) i++;
            string value;
            if (i < n && (line[i] == '"' || line[i] == '\''))
            {
                char q = line[i++];
                var sb = new StringBuilder();
                while (i < n && line[i] != q)
                {
                    if (line[i] == '\\' && i + 1 < n) { sb.Append(line[i + 1]); i += 2; continue; }
                    sb.Append(line[i++]);
                }
                if (i >= n) throw new FileFormatException(where, $"unterminated quote in the value of '{key}'");
                i++;
                value = sb.ToString();
            }
            else if (i < n && (line[i] == '{' || line[i] == '['))
            {
                char open = line[i], close = open == '{' ? '}' : ']';
                int vs = ++i;
                while (i < n && line[i] != close) i++;
                if (i >= n) throw new FileFormatException(where, $"unterminated '{open}' in the value of '{key}'");
                value = line[vs..i];
                i++;
            }
            else
            {
                int vs = i;
                while (i < n && !char.IsWhiteSpace(line[i])) i++;
                value = line[vs..i];
            }
            if (key.Length == 0) throw new FileFormatException(where, "a value without a key in the comment line");
            d[key] = value;
        }
        return d;
    }

    private static bool NextNonSpaceIs(string s, int i, char c)
    {
        while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
        return i < s.Length && s[i] == c;
    }

    /// <summary>Turns a raw value into bool, long, double, double[] or string, as ASE does.</summary>
    public static object InterpretValue(string raw)
    {
        string t = raw.Trim();
        if (t is "T" or "True" or "true") return true;
        if (t is "F" or "False" or "false") return false;
        if (long.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out long l)) return l;
        if (double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)) return d;
        var toks = t.Split([' ', ',', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (toks.Length > 1)
        {
            var arr = new double[toks.Length];
            bool ok = true;
            for (int k = 0; k < toks.Length && ok; k++)
                ok = double.TryParse(toks[k], NumberStyles.Float, CultureInfo.InvariantCulture, out arr[k]);
            if (ok) return arr;
        }
        return raw;
    }

    public static bool IsValidKey(string key)
    {
        if (key.Length == 0) return false;
        foreach (char c in key) if (char.IsWhiteSpace(c) || c is '=' or '"') return false;
        return true;
    }

    public static string FormatValue(object value) => value switch
    {
        bool b => b ? "T" : "F",
        double d => FloatText(d),
        float f => FloatText(f),
        long or int or short => Convert.ToString(value, CultureInfo.InvariantCulture)!,
        double[] a => Quote(string.Join(' ', Array.ConvertAll(a, IO.Parse.Format))),
        _ => Quote(Convert.ToString(value, CultureInfo.InvariantCulture) ?? ""),
    };

    /// <summary>A double that reads back as a double, not an integer ("300.0", not "300").</summary>
    private static string FloatText(double d)
    {
        string t = IO.Parse.Format(d);
        foreach (char c in t) if (c is '.' or 'E' or 'e' or 'N' or 'I') return t;
        return t + ".0";
    }

    public static string Quote(string s)
    {
        bool needs = s.Length == 0;
        foreach (char c in s) if (char.IsWhiteSpace(c) || c is '"' or '=' or '\\' or '{' or '[') { needs = true; break; }
        if (!needs) return s;
        return "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
    }
}
