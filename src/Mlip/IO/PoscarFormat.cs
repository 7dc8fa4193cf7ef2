using System.Globalization;
using System.Text;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.IO;

/// <summary>
/// VASP POSCAR/CONTCAR: one periodic structure, read and write.
/// <para>
/// Reading accepts VASP 5 files (element line before the counts) and VASP 4 files (no element
/// line; the element symbols are then taken from the comment line), a scale factor that is
/// positive (a factor), negative (the target cell volume in Å³) or three numbers (factors for x,
/// y, z), an optional "Selective dynamics" line, "Direct" or "Cartesian" coordinates (first letter
/// C, c, K or k means Cartesian, which are scaled like the lattice), trailing T/F flags and atom
/// labels after the coordinates. Velocity and predictor-corrector blocks after the positions are
/// ignored. The comment line goes to <c>Info["comment"]</c>; selective-dynamics flags go to the
/// per-atom array <see cref="SelectiveDynamicsArray"/> (3 components, 1 = T = free to move,
/// 0 = F = fixed).
/// </para>
/// <para>
/// Writing produces VASP 5 files: scale 1, the lattice, element runs in the atom order as given
/// (Si Si O Si gives "Si O Si" / "2 1 1", so the order of atoms is kept exactly, as ASE does),
/// and "Direct" fractional coordinates, all with round-trip precision.
/// </para>
/// </summary>
public sealed class PoscarFormat : TextStructureFormat
{
    /// <summary>Name of the per-atom array holding selective-dynamics flags (3 components, 1 = T, 0 = F).</summary>
    public const string SelectiveDynamicsArray = "selective_dynamics";

    /// <summary>Info key of the POSCAR comment (first) line.</summary>
    public const string CommentKey = "comment";

    public override string Name => "poscar";

    public override string Description => "VASP POSCAR/CONTCAR (one structure; VASP 4 and 5, selective dynamics)";

    /// <summary>POSCAR*, CONTCAR*, *.vasp and *.poscar, ignoring case.</summary>
    public override bool MatchesFileName(string fileName)
    {
        string name = Path.GetFileName(fileName);
        return name.StartsWith("POSCAR", StringComparison.OrdinalIgnoreCase)
            || name.StartsWith("CONTCAR", StringComparison.OrdinalIgnoreCase)
            || name.EndsWith(".vasp", StringComparison.OrdinalIgnoreCase)
            || name.EndsWith(".poscar", StringComparison.OrdinalIgnoreCase);
    }

    public override IReadOnlyList<Structure> Read(TextReader reader, string sourceName)
    {
        var r = new LineReader(reader, sourceName);
        var structure = PoscarReader.Read(r);
        return [structure];
    }

    public override void Write(TextWriter writer, IReadOnlyList<Structure> structures)
    {
        ArgumentNullException.ThrowIfNull(structures);
        if (structures.Count != 1)
            throw new MlipException(string.Create(CultureInfo.InvariantCulture,
                $"a POSCAR file holds exactly one structure, but {structures.Count} were given; write each structure to its own POSCAR or use a multi-structure format such as extxyz"));
        PoscarWriter.Write(writer, structures[0]);
    }
}

/// <summary>The scale line of a POSCAR: one factor, a target volume (negative number) or three factors.</summary>
internal readonly record struct PoscarScale(double X, double Y, double Z, double TargetVolume)
{
    public bool IsVolume => TargetVolume > 0;
}

/// <summary>Reads the single structure of a POSCAR, reporting file and line for every problem.</summary>
internal static class PoscarReader
{
    public static Structure Read(LineReader r)
    {
        string comment = r.Require("the comment line");

        var scale = ReadScale(r);
        var raw = ReadLattice(r);

        // VASP 5 puts an element line before the counts; VASP 4 has the counts directly.
        string line = r.Require("the element symbols or the atom counts");
        string[] tokens = Parse.Tokens(line);
        if (tokens.Length == 0) throw r.Error("expected the element symbols (VASP 5) or the atom counts (VASP 4), found an empty line");

        int[] speciesZ;
        int[] counts;
        if (int.TryParse(tokens[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
        {
            counts = ReadCounts(r, tokens);
            speciesZ = SpeciesFromComment(r, comment, counts.Length);
        }
        else
        {
            int named = 0;
            while (named < tokens.Length && tokens[named][0] is not ('!' or '#')) named++;
            speciesZ = new int[named];
            for (int i = 0; i < named; i++) speciesZ[i] = Elements.Number(BareSymbol(tokens[i]), r.Here);
            int speciesLine = r.LineNumber;
            tokens = Parse.Tokens(r.Require("the atom counts"));
            counts = ReadCounts(r, tokens);
            if (counts.Length != speciesZ.Length)
                throw r.Error(string.Create(CultureInfo.InvariantCulture,
                    $"count mismatch: line {speciesLine} names {speciesZ.Length} element(s) but this line gives {counts.Length} atom count(s)"));
        }

        int total = 0;
        foreach (int c in counts) total += c;
        var numbers = new int[total];
        for (int t = 0, k = 0; t < counts.Length; t++)
            for (int j = 0; j < counts[t]; j++) numbers[k++] = speciesZ[t];

        // Optional "Selective dynamics", then the coordinate mode.
        string mode = r.Require("'Direct' or 'Cartesian' (or 'Selective dynamics')").TrimStart();
        bool selective = mode.Length > 0 && (mode[0] == 's' || mode[0] == 'S');
        if (selective) mode = r.Require("'Direct' or 'Cartesian'").TrimStart();
        if (mode.Length == 0) throw r.Error("expected 'Direct' or 'Cartesian', found an empty line");
        bool cartesian = mode[0] is 'C' or 'c' or 'K' or 'k';

        var coords = new Vec3[total];
        double[]? flags = selective ? new double[3 * total] : null;
        for (int i = 0; i < total; i++)
        {
            string text = r.Require(string.Create(CultureInfo.InvariantCulture, $"the coordinates of atom {i + 1} of {total}"));
            string[] t = Parse.Tokens(text);
            int need = selective ? 6 : 3;
            if (t.Length < need)
                throw r.Error(selective
                    ? string.Create(CultureInfo.InvariantCulture, $"expected 3 coordinates and 3 T/F selective-dynamics flags for atom {i + 1}, found {t.Length} field(s)")
                    : string.Create(CultureInfo.InvariantCulture, $"expected 3 coordinates for atom {i + 1}, found {t.Length} field(s)"));
            var where = r.Here;
            coords[i] = new Vec3(
                Parse.Double(t[0], where, "a coordinate"),
                Parse.Double(t[1], where, "a coordinate"),
                Parse.Double(t[2], where, "a coordinate"));
            if (flags is not null)
                for (int k = 0; k < 3; k++)
                    flags[3 * i + k] = Parse.Bool(t[3 + k], where, "a selective-dynamics flag") ? 1.0 : 0.0;
        }

        var cell = ScaledLattice(raw, scale, r, out Vec3 factors);
        var positions = new Vec3[total];
        for (int i = 0; i < total; i++)
        {
            var c = coords[i];
            // Cartesian input is scaled like the lattice: by the factor, the volume factor or per component.
            positions[i] = cartesian ? new Vec3(c.X * factors.X, c.Y * factors.Y, c.Z * factors.Z) : c * cell;
        }

        var structure = new Structure(cell, positions, numbers, PeriodicFlags.All);
        structure.Info[PoscarFormat.CommentKey] = comment.Trim();
        if (flags is not null)
            structure.AtomArrays[PoscarFormat.SelectiveDynamicsArray] = new AtomArray(total, 3, flags, isInteger: true);
        structure.Source = new InputLocation(r.SourceName, 1, 0);
        return structure;
    }

    private static PoscarScale ReadScale(LineReader r)
    {
        string[] t = Parse.Tokens(r.Require("the scale factor"));
        if (t.Length == 0) throw r.Error("expected the scale factor, found an empty line");
        var where = r.Here;
        double s0 = Parse.Double(t[0], where, "the scale factor");
        if (t.Length >= 3
            && double.TryParse(t[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double s1)
            && double.TryParse(t[2], NumberStyles.Float, CultureInfo.InvariantCulture, out double s2))
        {
            if (!(s0 > 0 && s1 > 0 && s2 > 0) || !double.IsFinite(s0 + s1 + s2))
                throw r.Error("the three scale factors (x, y, z) must be positive finite numbers");
            return new PoscarScale(s0, s1, s2, 0);
        }
        if (s0 == 0 || !double.IsFinite(s0)) throw r.Error("the scale factor must be a non-zero finite number (negative: the cell volume in Å³)");
        return s0 > 0 ? new PoscarScale(s0, s0, s0, 0) : new PoscarScale(1, 1, 1, -s0);
    }

    private static Matrix3 ReadLattice(LineReader r)
    {
        Span<double> v = stackalloc double[9];
        for (int i = 0; i < 3; i++)
        {
            string[] t = Parse.Tokens(r.Require(string.Create(CultureInfo.InvariantCulture, $"lattice vector {i + 1} of 3")));
            if (t.Length < 3)
                throw r.Error(string.Create(CultureInfo.InvariantCulture, $"expected 3 numbers for lattice vector {i + 1}, found {t.Length}"));
            var where = r.Here;
            for (int k = 0; k < 3; k++) v[3 * i + k] = Parse.Double(t[k], where, "a lattice vector component");
        }
        return Matrix3.FromArray(v);
    }

    /// <summary>The scaled lattice; <paramref name="factors"/> are the x, y, z factors that were applied.</summary>
    private static Matrix3 ScaledLattice(Matrix3 raw, PoscarScale scale, LineReader r, out Vec3 factors)
    {
        if (scale.IsVolume)
        {
            double volume = Math.Abs(raw.Determinant);
            if (!(volume > 0) || !double.IsFinite(volume))
                throw new FileFormatException(r.At(2), "a negative scale (target volume) needs a lattice with non-zero volume");
            double f = Math.Cbrt(scale.TargetVolume / volume);
            factors = new Vec3(f, f, f);
            return f * raw;
        }
        factors = new Vec3(scale.X, scale.Y, scale.Z);
        if (scale.X == scale.Y && scale.Y == scale.Z) return scale.X * raw;
        return new Matrix3(
            raw.M00 * scale.X, raw.M01 * scale.Y, raw.M02 * scale.Z,
            raw.M10 * scale.X, raw.M11 * scale.Y, raw.M12 * scale.Z,
            raw.M20 * scale.X, raw.M21 * scale.Y, raw.M22 * scale.Z);
    }

    /// <summary>Atom counts: integers, up to an optional '!' or '#' comment.</summary>
    private static int[] ReadCounts(LineReader r, string[] tokens)
    {
        var counts = new List<int>(tokens.Length);
        var where = r.Here;
        foreach (string t in tokens)
        {
            if (t[0] is '!' or '#') break;
            int c = Parse.Int(t, where, "an atom count");
            if (c < 0) throw r.Error($"atom counts must not be negative, found {c.ToString(CultureInfo.InvariantCulture)}");
            counts.Add(c);
        }
        if (counts.Count == 0) throw r.Error("expected the atom counts");
        long total = 0;
        foreach (int c in counts) total += c;
        if (total == 0) throw r.Error("the atom counts add up to zero atoms");
        InputLimits.CheckCount(r.Reader, total, where, "atoms");
        return [.. counts];
    }

    /// <summary>VASP 4: the first words of the comment line must be the element symbols.</summary>
    private static int[] SpeciesFromComment(LineReader r, string comment, int species)
    {
        string[] words = Parse.Tokens(comment);
        var z = new int[species];
        bool ok = words.Length >= species;
        for (int i = 0; ok && i < species; i++) ok = Elements.TryNumber(BareSymbol(words[i]), out z[i]);
        if (!ok)
            throw r.Error(string.Create(CultureInfo.InvariantCulture,
                $"this line gives atom counts but no element line precedes it (VASP 4 format), and the comment line (line 1) does not start with the {species} element symbol(s); add a line with the element symbols before the counts"));
        return z;
    }

    /// <summary>"Si_pv" and VASP 6's "Si/abc123" name the element Si.</summary>
    internal static string BareSymbol(string token)
    {
        int cut = token.IndexOfAny(['_', '/']);
        return cut > 0 ? token[..cut] : token;
    }
}

/// <summary>Writes one structure as a VASP 5 POSCAR with fractional coordinates.</summary>
internal static class PoscarWriter
{
    private const int NumberWidth = 22;

    public static void Write(TextWriter w, Structure s)
    {
        var where = s.Source ?? new InputLocation(StructureIndex: 0);
        if (!s.HasCell || !s.Cell.IsFinite)
            throw new InvalidCellException(where, "cannot write a POSCAR: the structure has no cell of non-zero volume (POSCAR coordinates are fractional)");

        AtomArray? flags = null;
        if (s.AtomArrays.TryGetValue(PoscarFormat.SelectiveDynamicsArray, out var sd))
        {
            if (sd.Components != 3 || sd.Atoms != s.Count)
                throw new LabelShapeException(where, PoscarFormat.SelectiveDynamicsArray, 3 * s.Count, sd.Values.Length);
            flags = sd;
        }

        w.WriteLine(CommentOf(s));
        w.WriteLine("1.0");
        for (int i = 0; i < 3; i++) WriteTriple(w, s.Cell.Row(i));
        WriteSpecies(w, s.AtomicNumbers);
        if (flags is not null) w.WriteLine("Selective dynamics");
        w.WriteLine("Direct");
        var frac = s.FractionalPositions();
        var line = new StringBuilder(96);
        for (int i = 0; i < frac.Length; i++)
        {
            line.Clear();
            AppendTriple(line, frac[i]);
            if (flags is not null)
            {
                var f = flags.Of(i);
                for (int k = 0; k < 3; k++) line.Append(f[k] != 0 ? "  T" : "  F");
            }
            w.WriteLine(line.ToString());
        }
    }

    private static string CommentOf(Structure s)
    {
        string text = s.Info.TryGetValue(PoscarFormat.CommentKey, out object? c) && c is not null
            ? Convert.ToString(c, CultureInfo.InvariantCulture) ?? ""
            : s.Formula();
        return text.Replace('\r', ' ').Replace('\n', ' ');
    }

    /// <summary>Element runs in atom order: Si Si O Si gives "Si O Si" and "2 1 1".</summary>
    private static void WriteSpecies(TextWriter w, int[] z)
    {
        var symbols = new List<string>();
        var counts = new List<string>();
        int start = 0;
        for (int i = 1; i <= z.Length; i++)
        {
            if (i < z.Length && z[i] == z[start]) continue;
            symbols.Add(Elements.Symbol(z[start]));
            counts.Add((i - start).ToString(CultureInfo.InvariantCulture));
            start = i;
        }
        var a = new StringBuilder();
        var b = new StringBuilder();
        for (int k = 0; k < symbols.Count; k++)
        {
            int width = Math.Max(symbols[k].Length, counts[k].Length) + 2;
            a.Append(symbols[k].PadLeft(width));
            b.Append(counts[k].PadLeft(width));
        }
        w.WriteLine(a.ToString());
        w.WriteLine(b.ToString());
    }

    private static void WriteTriple(TextWriter w, Vec3 v)
    {
        var sb = new StringBuilder(80);
        AppendTriple(sb, v);
        w.WriteLine(sb.ToString());
    }

    private static void AppendTriple(StringBuilder sb, Vec3 v)
    {
        // Always at least one space between numbers, even for the longest round-trip strings.
        sb.Append(' ').Append(Parse.Format(v.X).PadLeft(NumberWidth));
        sb.Append(' ').Append(Parse.Format(v.Y).PadLeft(NumberWidth));
        sb.Append(' ').Append(Parse.Format(v.Z).PadLeft(NumberWidth));
    }
}
