using System.Globalization;
using System.Text;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Interop;

/// <summary>
/// LAMMPS <c>pair_style snap</c> interop: reads a <c>.snapcoeff</c>/<c>.snapparam</c> pair into a
/// <see cref="Potential"/> (SO(4) bispectrum + <see cref="PolynomialModel"/>) and writes a polynomial
/// model on the so4 descriptor back as such a pair.
/// <para>
/// Conventions (LAMMPS pair_snap.cpp): per atom E_i = β0 + Σ_k β_k B_k + ½ Σ_k β_kk B_k² + Σ_{k&lt;l} β_kl B_k B_l,
/// with the quadratic coefficients listed after the linear ones row by row (k ≤ l); B already has
/// bzero subtracted when bzeroflag is 1 (the same in Mlip's descriptor). Mlip's quadratic
/// coefficient q_kk is therefore ½β_kk and q_kl = β_kl.
/// </para>
/// </summary>
public static class Snap
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Whether a model path names a SNAP pair: <c>snap:COEFF,PARAM</c>, a .snapcoeff or a .snapparam.</summary>
    public static bool IsSnapPath(string path) =>
        path.StartsWith("snap:", StringComparison.OrdinalIgnoreCase)
        || path.EndsWith(".snapcoeff", StringComparison.OrdinalIgnoreCase)
        || path.EndsWith(".snapparam", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Loads <c>snap:COEFF,PARAM</c>, or a .snapcoeff (the .snapparam of the same name beside it), or a .snapparam
    /// (the .snapcoeff beside it).
    /// </summary>
    public static Potential Load(string path)
    {
        var (coeff, param) = InteropFiles.ResolvePair(path, "snap", ".snapcoeff", ".snapparam", "SNAP coefficient file", "SNAP parameter file");
        return Import(File.ReadAllText(coeff), File.ReadAllText(param), coeff, param);
    }

    private static IEnumerable<(int Line, string[] Words)> Lines(string text)
    {
        int n = 0;
        foreach (var raw in text.Split('\n'))
        {
            n++;
            string l = raw;
            int hash = l.IndexOf('#');
            if (hash >= 0) l = l[..hash];
            var w = l.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
            if (w.Length > 0) yield return (n, w);
        }
    }

    /// <summary>A finite number (LAMMPS reads the files with atof: NaN or inf would give NaN energies).</summary>
    private static double Num(string s, string where, int line)
    {
        var at = new InputLocation(where, line > 0 ? line : null);
        if (!double.TryParse(s, NumberStyles.Float, Inv, out double v))
            throw new FileFormatException(at, $"'{s}' is not a number");
        if (!double.IsFinite(v)) throw new NonFiniteValueException(at, $"'{s}'");
        return v;
    }

    /// <summary>An integer in [min, max] (LAMMPS reads them with atoi).</summary>
    private static int Int(string s, string where, int line, string what, int min, int max)
    {
        double v = Num(s, where, line);
        if (v != Math.Floor(v) || v < min || v > max)
            throw new FileFormatException(new InputLocation(where, line > 0 ? line : null), $"{what} is {s}; expected an integer from {min} to {max}");
        return (int)v;
    }

    /// <summary>Builds the potential from the texts of a .snapcoeff and a .snapparam file.</summary>
    public static Potential Import(string coeffText, string paramText, string coeffName = "snapcoeff", string paramName = "snapparam")
    {
        // .snapparam
        var kv = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var lineOf = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        foreach (var (line, w) in Lines(paramText))
        {
            if (w.Length < 2) throw new FileFormatException(new InputLocation(paramName, line), "expected 'keyword value'");
            kv[w[0]] = w[1];
            lineOf[w[0]] = line;
        }
        double D(string k, double d) => kv.TryGetValue(k, out var v) ? Num(v, paramName, lineOf[k]) : d;
        int I(string k, int d) => kv.TryGetValue(k, out var v) ? Int(v, paramName, lineOf[k], k, k == "twojmax" ? 0 : -1000, k == "twojmax" ? DescriptorLimits.MaxTwoJMax : 1000) : d;
        string[] known = ["rcutfac", "twojmax", "rfac0", "rmin0", "switchflag", "bzeroflag", "quadraticflag", "wselfallflag", "chemflag", "bnormflag", "diagonalstyle", "switchinnerflag"];
        foreach (var key in kv.Keys)
            if (!known.Contains(key, StringComparer.OrdinalIgnoreCase))
                throw new FileFormatException(new InputLocation(paramName), $"unknown SNAP keyword '{key}' (Mlip reads {string.Join(", ", known)})");
        if (!kv.ContainsKey("rcutfac") || !kv.ContainsKey("twojmax"))
            throw new FileFormatException(new InputLocation(paramName), "rcutfac and twojmax are required");
        if (I("chemflag", 0) != 0) throw new FileFormatException(new InputLocation(paramName), "chemflag 1 (explicit multi-element SNAP) is not supported by Mlip's SO(4) bispectrum");
        if (I("bnormflag", 0) != 0) throw new FileFormatException(new InputLocation(paramName), "bnormflag 1 (normalised bispectrum) is not supported by Mlip's SO(4) bispectrum");
        if (I("switchinnerflag", 0) != 0) throw new FileFormatException(new InputLocation(paramName), "switchinnerflag 1 (inner switching) is not supported by Mlip's SO(4) bispectrum");
        if (kv.ContainsKey("diagonalstyle") && I("diagonalstyle", 3) != 3)
            throw new FileFormatException(new InputLocation(paramName), "only diagonalstyle 3 (the only one in current LAMMPS) is supported");
        // wselfallflag only matters with chemflag 1 (one element per SNA here), so it is accepted and ignored.
        int twoj = I("twojmax", 0);
        bool quadratic = I("quadraticflag", 0) != 0;

        // .snapcoeff
        var lines = Lines(coeffText).ToList();
        var where = new InputLocation(coeffName);
        if (lines.Count == 0) throw new FileFormatException(where, "empty file");
        if (lines[0].Words.Length < 2) throw new FileFormatException(where.WithLine(lines[0].Line), "expected 'nelements ncoeff'");
        // Each element takes at least one line: a count beyond the lines in the file is an error before anything is allocated.
        int nelem = Int(lines[0].Words[0], coeffName, lines[0].Line, "nelements", 1, Math.Min(118, Math.Max(1, lines.Count - 1)));
        int ncoeff = Int(lines[0].Words[1], coeffName, lines[0].Line, "ncoeff", 1, int.MaxValue);
        int k = So4Parameters.ComponentCount(twoj);
        int expected = 1 + k + (quadratic ? k * (k + 1) / 2 : 0);
        if (ncoeff != expected)
            throw new FileFormatException(where, $"ncoeff is {ncoeff} but twojmax {twoj}{(quadratic ? " with quadraticflag 1" : "")} needs {expected}");
        int pos = 1;
        var elements = new List<So4Element>();
        var z = new int[nelem];
        var coefficients = new double[nelem][];
        for (int e = 0; e < nelem; e++)
        {
            if (pos >= lines.Count || lines[pos].Words.Length < 3)
                throw new FileFormatException(pos < lines.Count ? where.WithLine(lines[pos].Line) : where, $"element {e + 1}: expected 'Symbol radelem wj'");
            var (ln, w) = lines[pos++];
            elements.Add(new So4Element(w[0], Num(w[1], coeffName, ln), Num(w[2], coeffName, ln)));
            z[e] = Elements.Number(w[0], where.WithLine(ln));
            if (z.AsSpan(0, e).Contains(z[e])) throw new FileFormatException(where.WithLine(ln), $"element {w[0]} is listed twice");
            var beta = new double[ncoeff];
            for (int c = 0; c < ncoeff; c++)
            {
                if (pos >= lines.Count) throw new FileFormatException(where, $"{w[0]}: expected {ncoeff} coefficients, the file ends after {c}");
                beta[c] = Num(lines[pos].Words[0], coeffName, lines[pos].Line);
                pos++;
            }
            // Mlip: q_kk = ½β_kk, q_kl = β_kl (row-by-row upper triangle in both).
            if (quadratic)
            {
                int q = 1 + k;
                for (int a = 0; a < k; a++)
                    for (int b = a; b < k; b++, q++)
                        if (a == b) beta[q] *= 0.5;
            }
            coefficients[e] = beta;
        }
        var parameters = new Dictionary<string, string>
        {
            ["twojmax"] = twoj.ToString(Inv),
            ["rcutfac"] = D("rcutfac", 0).ToString("R", Inv),
            ["rfac0"] = D("rfac0", 0.99363).ToString("R", Inv),
            ["rmin0"] = D("rmin0", 0).ToString("R", Inv),
            ["switchflag"] = I("switchflag", 1).ToString(Inv),
            ["bzeroflag"] = I("bzeroflag", 1).ToString(Inv),
            ["wself"] = "1",
            ["quadraticflag"] = "0",
            ["elements"] = string.Join(",", elements.Select(x => x.Symbol)),
            ["radelem"] = string.Join(",", elements.Select(x => x.Radius.ToString("R", Inv))),
            ["wj"] = string.Join(",", elements.Select(x => x.Weight.ToString("R", Inv))),
        };
        var spec = new DescriptorSpec("so4", parameters);
        IDescriptor descriptor;
        try
        {
            descriptor = spec.Create([.. elements.Select(x => x.Symbol)]);
        }
        catch (MlipException e) when (e is not MlipInputException { File: not null })
        {
            // rcutfac, rfac0, rmin0 come from the .snapparam; radelem and wj from the .snapcoeff.
            throw new FileFormatException(new InputLocation(paramName), $"{e.Message} (with radelem/wj from {coeffName})", e);
        }
        if (descriptor.FeatureCount != k) throw new MlipException($"internal: so4 gives {descriptor.FeatureCount} features, SNAP {k}");
        var model = new PolynomialModel(quadratic ? 2 : 1, z, k, coefficients);
        return new Potential(descriptor, model, spec);
    }

    /// <summary>The exported files: name → content (X.snapcoeff, X.snapparam, in.lammps).</summary>
    public sealed record Files(string CoeffName, string Coeff, string ParamName, string Param, string InputSnippet);

    /// <summary>
    /// Writes the potential as LAMMPS SNAP coefficients (normalisation folded in exactly). Refuses models
    /// that pair_style snap cannot express: other descriptors, other model kinds, quadratic models on
    /// already quadratic features, so4 settings LAMMPS does not have (wself ≠ 1).
    /// </summary>
    public static Files Export(Potential potential, string name = "mlip")
    {
        if (potential.Descriptor is not BispectrumSo4 so4)
            throw new MlipException($"only models on the so4 (SNAP bispectrum) descriptor can be exported to pair_style snap; this model uses '{potential.Spec.Type}' ({potential.Descriptor.Name})");
        if (potential.Model is not PolynomialModel poly)
            throw new MlipException($"pair_style snap is linear or quadratic in the bispectrum; a '{potential.Model.Kind}' model cannot be exported (use pair_style mliap for neural networks)");
        var p = so4.Parameters;
        if (p.WSelf != 1.0) throw new MlipException($"pair_style snap fixes wself = 1; this descriptor uses wself = {p.WSelf}");
        if (p.QuadraticFlag && poly.Order == 2)
            throw new MlipException("a quadratic model on quadratic bispectrum features is quartic in B; pair_style snap is at most quadratic");
        int kFeat = poly.FeatureCount;
        int k = So4Parameters.ComponentCount(p.TwoJMax);
        bool quadratic = poly.Order == 2 || p.QuadraticFlag;
        int ncoeff = 1 + k + (quadratic ? k * (k + 1) / 2 : 0);

        var coeff = new StringBuilder();
        coeff.AppendLine($"# LAMMPS SNAP coefficients written by Mlip ({potential.Name})");
        coeff.AppendLine();
        coeff.AppendLine($"{poly.Elements.Count} {ncoeff}");
        for (int e = 0; e < poly.Elements.Count; e++)
        {
            string sym = Elements.Symbol(poly.Elements[e]);
            var el = p.Elements.FirstOrDefault(x => x.Symbol == sym);
            if (el.Symbol is null) throw new MlipException($"the so4 descriptor has no radelem/wj for {sym}");
            var beta = Fold(poly, e);
            if (poly.Order == 2)
            {
                int q = 1 + k;
                for (int a = 0; a < k; a++)
                    for (int b = a; b < k; b++, q++)
                        if (a == b) beta[q] *= 2; // LAMMPS's ½β_kk B_k²
            }
            // Linear model on quadratic features (½B_a², B_a B_b): the weights are LAMMPS's β directly.
            if (beta.Length != ncoeff) throw new MlipException($"internal: {beta.Length} coefficients for ncoeff {ncoeff} ({kFeat} features)");
            coeff.AppendLine($"{sym} {el.Radius.ToString("R", Inv)} {el.Weight.ToString("R", Inv)}");
            foreach (double b in beta) coeff.AppendLine(b.ToString("R", Inv));
        }
        var param = new StringBuilder();
        param.AppendLine($"# LAMMPS SNAP parameters written by Mlip");
        param.AppendLine();
        param.AppendLine($"rcutfac {p.RcutFac.ToString("R", Inv)}");
        param.AppendLine($"twojmax {p.TwoJMax}");
        param.AppendLine($"rfac0 {p.Rfac0.ToString("R", Inv)}");
        param.AppendLine($"rmin0 {p.Rmin0.ToString("R", Inv)}");
        param.AppendLine($"switchflag {(p.SwitchFlag ? 1 : 0)}");
        param.AppendLine($"bzeroflag {(p.BzeroFlag ? 1 : 0)}");
        param.AppendLine($"quadraticflag {(quadratic ? 1 : 0)}");
        string symbols = string.Join(" ", poly.Elements.Select(Elements.Symbol));
        string snippet = $"""
            # pair_style snap with the potential exported by Mlip; atom types 1.. are {symbols}
            pair_style      snap
            pair_coeff      * * {name}.snapcoeff {name}.snapparam {symbols}

            """;
        return new Files(name + ".snapcoeff", coeff.ToString(), name + ".snapparam", param.ToString(), snippet);
    }

    /// <summary>Writes X.snapcoeff, X.snapparam and in.lammps into a folder (atomically); returns the paths.</summary>
    public static string[] Write(Potential potential, string directory, string name = "mlip")
    {
        var f = Export(potential, name);
        return InteropFiles.WriteAll(directory, (f.CoeffName, f.Coeff), (f.ParamName, f.Param), ("in.lammps", f.InputSnippet));
    }

    /// <summary>
    /// The element's coefficients in raw features (Mean 0, Scale 1): with x̃ = α x − m (α = 1/σ, m = μ/σ),
    /// c' = c − Σ w_a m_a + Σ_{a≤b} q_ab m_a m_b, w'_a = α_a (w_a − Σ_{b≥a} q_ab m_b − Σ_{b≤a} q_ba m_b),
    /// q'_ab = q_ab α_a α_b.
    /// </summary>
    public static double[] Fold(PolynomialModel poly, int e)
    {
        int k = poly.FeatureCount;
        var c = poly.Coefficients[e];
        var alpha = new double[k];
        var m = new double[k];
        for (int a = 0; a < k; a++) { alpha[a] = 1 / poly.Scale[a]; m[a] = poly.Mean[a] / poly.Scale[a]; }
        var r = new double[c.Length];
        double c0 = c[0];
        var lin = new double[k];
        for (int a = 0; a < k; a++) { c0 -= c[1 + a] * m[a]; lin[a] = c[1 + a]; }
        if (poly.Order == 2)
        {
            int q = 1 + k;
            for (int a = 0; a < k; a++)
                for (int b = a; b < k; b++, q++)
                {
                    double cq = c[q];
                    c0 += cq * m[a] * m[b];
                    lin[a] -= cq * m[b];
                    lin[b] -= cq * m[a];
                    r[q] = cq * alpha[a] * alpha[b];
                }
        }
        r[0] = c0;
        for (int a = 0; a < k; a++) r[1 + a] = lin[a] * alpha[a];
        return r;
    }
}
