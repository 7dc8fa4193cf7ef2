using System.Globalization;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Interop;

/// <summary>
/// One potential type of an OLCAO potential file: for every term k the coefficient A_k of
/// exp(−α_k r²) (Hartree), the exponent α_k (bohr⁻²), and the three charge-density columns OLCAO writes
/// beside them (total, valence, spin difference; zero when not known).
/// </summary>
public sealed record OlcaoPotentialType(double[] Coefficients, double[] Alphas, double[] TotalRho, double[] ValenceRho, double[] SpinDifference)
{
    public int Terms => Coefficients.Length;

    public static OlcaoPotentialType Of(double[] coefficients, double[] alphas)
    {
        if (coefficients.Length != alphas.Length) throw new MlipException($"{coefficients.Length} coefficients but {alphas.Length} exponents");
        int n = alphas.Length;
        return new OlcaoPotentialType(coefficients, alphas, new double[n], new double[n], new double[n]);
    }
}

/// <summary>
/// The OLCAO SCF potential file (<c>scfV.dat</c>, <c>gs_scfV-fb.dat</c>; docs/olcao.md), as OLCAO's
/// makeSCFPot writes it and initPotCoeffs reads it: a line <c>NUM_TYPES n</c>; for each spin (one block
/// tagged <c>TOTAL OR SPIN_UP</c>, then <c>SPIN_DN</c>; without spin polarisation the second block repeats
/// the first) and for each potential type the number of terms and one row per term with the
/// coefficient, the exponent and three charge-density columns; then the +U/J section
/// (<c>NUM_PLUSUJ_TERMS</c>, its count and the two spin tags; Mlip writes no +U/J terms and keeps
/// none on reading). Numbers are written with 17 significant digits, so values read back are the ones
/// written. Written atomically.
/// </summary>
public static class OlcaoPotentialFile
{
    private const string UpTag = "TOTAL OR SPIN_UP";
    private const string DownTag = "SPIN_DN";

    /// <summary>One potential type per atom, in atom order, from the per-atom array <paramref name="arrayName"/> (coefficients) and the exponents.</summary>
    public static List<OlcaoPotentialType> TypesPerAtom(Structure s, string arrayName, double[] alphas)
    {
        if (!s.AtomArrays.TryGetValue(arrayName, out var a))
            throw new MissingLabelException(s.Source ?? InputLocation.Unknown, arrayName);
        if (a.Components != alphas.Length)
            throw new MlipException($"'{arrayName}' has {a.Components} components per atom but there are {alphas.Length} exponents");
        var list = new List<OlcaoPotentialType>(s.Count);
        for (int i = 0; i < s.Count; i++) list.Add(OlcaoPotentialType.Of(a.Of(i).ToArray(), (double[])alphas.Clone()));
        return list;
    }

    public static void Write(string path, IReadOnlyList<OlcaoPotentialType> types, IReadOnlyList<OlcaoPotentialType>? spinDown = null) =>
        AtomicFile.WriteText(path, w => Write(w, types, spinDown));

    public static void Write(TextWriter w, IReadOnlyList<OlcaoPotentialType> types, IReadOnlyList<OlcaoPotentialType>? spinDown = null)
    {
        if (spinDown is not null && spinDown.Count != types.Count) throw new MlipException("spin-down potential needs as many types as spin-up");
        w.Write("NUM_TYPES");
        w.Write(types.Count.ToString(CultureInfo.InvariantCulture).PadLeft(5));
        w.Write('\n');
        WriteBlock(w, UpTag, types);
        WriteBlock(w, DownTag, spinDown ?? types);
        w.Write("NUM_PLUSUJ_TERMS\n");
        w.Write("    0\n");
        w.Write(UpTag.PadLeft(20)); w.Write('\n');
        w.Write(DownTag.PadLeft(20)); w.Write('\n');
    }

    private static void WriteBlock(TextWriter w, string tag, IReadOnlyList<OlcaoPotentialType> types)
    {
        w.Write(tag.PadLeft(20));
        w.Write('\n');
        foreach (var t in types)
        {
            w.Write(t.Terms.ToString(CultureInfo.InvariantCulture).PadLeft(5));
            w.Write('\n');
            for (int k = 0; k < t.Terms; k++)
            {
                w.Write(' '); w.Write(Number(t.Coefficients[k]));
                w.Write(' '); w.Write(Number(t.Alphas[k]));
                w.Write(' '); w.Write(Number(t.TotalRho[k]));
                w.Write(' '); w.Write(Number(t.ValenceRho[k]));
                w.Write(' '); w.Write(Number(t.SpinDifference[k]));
                w.Write('\n');
            }
        }
    }

    /// <summary>17 significant digits in E format ("-1.2345678901234567E+002", .NET formats doubles exactly), right-aligned in 24 columns.</summary>
    private static string Number(double v) => v.ToString("E16", CultureInfo.InvariantCulture).PadLeft(24);

    /// <summary>Reads the spin-up (or total) types and the spin-down types (equal to them in a non-polarised file).</summary>
    public static (List<OlcaoPotentialType> Up, List<OlcaoPotentialType> Down) Read(string path)
    {
        using var reader = InputFile.OpenText(path);
        var lr = new LineReader(reader, path);
        string header = NextNonEmpty(lr, "the NUM_TYPES line");
        var ht = Parse.Tokens(header);
        if (ht.Length != 2 || !ht[0].Equals("NUM_TYPES", StringComparison.OrdinalIgnoreCase))
            throw new FileFormatException(lr.Here, $"expected 'NUM_TYPES n', found '{header}'");
        int n = Parse.Int(ht[1], lr.Here, "NUM_TYPES");
        if (n < 0) throw new FileFormatException(lr.Here, $"NUM_TYPES is {n}");
        var up = ReadBlock(lr, n, UpTag);
        var down = ReadBlock(lr, n, DownTag);
        return (up, down);
    }

    private static List<OlcaoPotentialType> ReadBlock(LineReader lr, int types, string tag)
    {
        string t = NextNonEmpty(lr, $"the '{tag}' line");
        if (!t.Trim().Equals(tag, StringComparison.OrdinalIgnoreCase))
            throw new FileFormatException(lr.Here, $"expected '{tag}', found '{t.Trim()}'");
        var list = new List<OlcaoPotentialType>(types);
        for (int j = 0; j < types; j++)
        {
            string countLine = NextNonEmpty(lr, $"the number of terms of type {j + 1}");
            int terms = Parse.Int(countLine.AsSpan().Trim(), lr.Here, $"the number of terms of type {j + 1}");
            if (terms < 0) throw new FileFormatException(lr.Here, $"type {j + 1} has {terms} terms");
            var c = new double[terms]; var a = new double[terms]; var r1 = new double[terms]; var r2 = new double[terms]; var r3 = new double[terms];
            for (int k = 0; k < terms; k++)
            {
                string row = NextNonEmpty(lr, $"term {k + 1} of type {j + 1}");
                var tok = Parse.Tokens(row.Replace('D', 'E').Replace('d', 'e'));
                if (tok.Length < 2) throw new FileFormatException(lr.Here, $"term {k + 1} of type {j + 1} needs a coefficient and an exponent");
                c[k] = Parse.Double(tok[0], lr.Here, "coefficient");
                a[k] = Parse.Double(tok[1], lr.Here, "exponent");
                if (tok.Length > 2) r1[k] = Parse.Double(tok[2], lr.Here, "total charge");
                if (tok.Length > 3) r2[k] = Parse.Double(tok[3], lr.Here, "valence charge");
                if (tok.Length > 4) r3[k] = Parse.Double(tok[4], lr.Here, "spin difference");
            }
            list.Add(new OlcaoPotentialType(c, a, r1, r2, r3));
        }
        return list;
    }

    private static string NextNonEmpty(LineReader lr, string what)
    {
        string? line;
        while ((line = lr.Next()) is not null)
            if (!string.IsNullOrWhiteSpace(line)) return line;
        throw new FileFormatException(lr.Here, $"ended before {what}");
    }
}
