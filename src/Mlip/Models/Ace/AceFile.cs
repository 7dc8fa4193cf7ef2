using Mlip.Descriptors.Ace;
using System.Globalization;
using System.Text;
using Mlip.IO;
using Mlip.Validation;

namespace Mlip.Models.Ace;

/// <summary>
/// The plain PACE C-tilde file (<c>.ace</c>, the format of the PACE library LAMMPS 2021–2022 reads with
/// <c>pair_style pace</c>; docs/ace.md): a keyword header (elements, lmax, embedding, core cut-offs, E0,
/// radial basis with crad[k][n][l]), then the rank-1 and higher-rank C-tilde functions. Lines starting
/// with '#' are comments. Errors name file and line.
/// </summary>
public static class AceFile
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private sealed class Tokens(string text, string path)
    {
        private readonly List<(string Text, int Line)> _t = Lex(text);
        private int _i;
        public string Path { get; } = path;

        private static List<(string, int)> Lex(string text)
        {
            var list = new List<(string, int)>();
            int line = 1;
            int i = 0;
            while (i < text.Length)
            {
                char c = text[i];
                if (c == '\n') { line++; i++; continue; }
                if (char.IsWhiteSpace(c)) { i++; continue; }
                if (c == '#' && (i == 0 || text[i - 1] == '\n'))
                {
                    while (i < text.Length && text[i] != '\n') i++;
                    continue;
                }
                if (c is '(' or ')' or '<') { list.Add((c.ToString(), line)); i++; continue; }
                if (c == '>')
                {
                    i++;
                    if (i < text.Length && text[i] == ':') i++;
                    list.Add((">:", line));
                    continue;
                }
                int s = i;
                while (i < text.Length && !char.IsWhiteSpace(text[i]) && text[i] is not ('(' or ')' or '<' or '>')) i++;
                var w = text[s..i];
                int eq = w.IndexOf('=');
                if (eq >= 0 && eq < w.Length - 1) { list.Add((w[..(eq + 1)], line)); list.Add((w[(eq + 1)..], line)); }
                else list.Add((w, line));
            }
            return list;
        }

        public int Line => _i < _t.Count ? _t[_i].Line : (_t.Count > 0 ? _t[^1].Line : 1);
        public FileFormatException Error(string what) => new(new InputLocation(Path, Line), what);

        public string Next(string what)
        {
            if (_i >= _t.Count) throw Error($"file ends before {what}");
            return _t[_i++].Text;
        }

        public string? Peek => _i < _t.Count ? _t[_i].Text : null;

        public void Expect(params string[] words)
        {
            foreach (var w in words)
            {
                int line = Line;
                var t = Next($"'{w}'");
                if (t != w) throw new FileFormatException(new InputLocation(Path, line), $"expected '{w}', found '{t}'");
            }
        }

        public double Double(string what)
        {
            int line = Line;
            var t = Next(what);
            if (!double.TryParse(t, NumberStyles.Float, Inv, out double v))
                throw new FileFormatException(new InputLocation(Path, line), $"{what}: '{t}' is not a number");
            if (!double.IsFinite(v)) throw new NonFiniteValueException(new InputLocation(Path, line), $"{what} '{t}'");
            return v;
        }

        /// <summary>Tokens not read yet: a bound on how many values can follow.</summary>
        public long Remaining => _t.Count - _i;

        /// <summary>An integer in [min, max].</summary>
        public int Int(string what, int min, int max)
        {
            int line = Line;
            int v = Int(what);
            if (v < min || v > max) throw new FileFormatException(new InputLocation(Path, line), $"{what} is {v}, expected {min} to {max}");
            return v;
        }

        /// <summary>A count of items of <paramref name="tokensPerItem"/> tokens each that must still fit in the file (checked before anything is allocated from it).</summary>
        public int Count(string what, long tokensPerItem, int min = 0)
        {
            int line = Line;
            int v = Int(what);
            if (v < min || v * tokensPerItem > Remaining)
                throw new FileFormatException(new InputLocation(Path, line), $"{what} is {v}, but the rest of the file cannot hold that many");
            return v;
        }

        public int Int(string what)
        {
            int line = Line;
            var t = Next(what);
            if (!int.TryParse(t, NumberStyles.Integer, Inv, out int v))
                throw new FileFormatException(new InputLocation(Path, line), $"{what}: '{t}' is not an integer");
            return v;
        }
    }

    public static AceBasisSet Read(string path) => Parse(File.ReadAllText(path), path);

    public static AceBasisSet Parse(string text, string path = "<ace>")
    {
        var t = new Tokens(text, path);
        t.Expect("nelements=");
        int ne = t.Int("nelements", 1, 118);
        t.Expect("elements:");
        var elements = new string[ne];
        for (int i = 0; i < ne; i++) elements[i] = t.Next("element name");
        t.Expect("lmax=");
        int lmax = t.Int("lmax", 0, 30);
        string npoti = "FinnisSinclair";
        if (t.Peek == "embedding-function:") { t.Next(""); npoti = t.Next("embedding function"); }
        int nfs = t.Count("number of FS parameters", 1);
        t.Expect("FS", "parameters:");
        var fs = new double[nfs];
        for (int i = 0; i < nfs; i++) fs[i] = t.Double("FS parameter");
        t.Expect("core", "energy-cutoff", "parameters:");
        var rhoCut = new double[ne]; var drhoCut = new double[ne];
        for (int i = 0; i < ne; i++) { rhoCut[i] = t.Double("rho_core_cut"); drhoCut[i] = t.Double("drho_core_cut"); }
        var e0 = new double[ne];
        if (t.Peek == "E0:") { t.Next(""); for (int i = 0; i < ne; i++) e0[i] = t.Double("E0"); }
        t.Expect("radbasename=");
        string radbase = t.Next("radbasename");
        t.Expect("nradbase="); int nb = t.Int("nradbase", 0, 1000);
        t.Expect("nradmax="); int nr = t.Int("nradmax", 0, 1000);
        if ((long)nb * nr * (lmax + 1) * ne * ne > t.Remaining) throw t.Error($"nradbase {nb}, nradmax {nr}, lmax {lmax}: the file is too short for the radial coefficients");
        t.Expect("cutoffmax="); double cutoffMax = t.Double("cutoffmax");
        t.Expect("deltaSplineBins="); double delta = t.Double("deltaSplineBins");
        t.Expect("core", "repulsion", "parameters:");
        var prehc = new double[ne * ne]; var lambdahc = new double[ne * ne];
        for (int i = 0; i < ne * ne; i++) { prehc[i] = t.Double("prehc"); lambdahc[i] = t.Double("lambdahc"); }
        t.Expect("radparameter=");
        var lam = new double[ne * ne];
        for (int i = 0; i < ne * ne; i++) lam[i] = t.Double("radparameter");
        t.Expect("cutoff=");
        var cut = new double[ne * ne];
        for (int i = 0; i < ne * ne; i++) cut[i] = t.Double("cutoff");
        t.Expect("dcut=");
        var dcut = new double[ne * ne];
        for (int i = 0; i < ne * ne; i++) dcut[i] = t.Double("dcut");
        t.Expect("crad=");
        int l1 = lmax + 1;
        var bonds = new AceBond[ne * ne];
        for (int pr = 0; pr < ne * ne; pr++)
        {
            var crad = new double[nr * l1 * nb];
            for (int k = 0; k < nb; k++)
                for (int n = 0; n < nr; n++)
                    for (int l = 0; l < l1; l++)
                        crad[(n * l1 + l) * nb + k] = t.Double("crad");
            bonds[pr] = new AceBond { RadBaseName = radbase, Lambda = lam[pr], Cut = cut[pr], DCut = dcut[pr], Prehc = prehc[pr], Lambdahc = lambdahc[pr], Crad = crad };
        }
        t.Expect("rankmax="); int rankmax = t.Int("rankmax", 1, 16);
        t.Expect("ndensitymax="); int ndens = t.Int("ndensitymax", 1, 64);
        t.Expect("num_c_tilde_max="); t.Int("num_c_tilde_max");
        t.Expect("num_ms_combinations_max="); t.Int("num_ms_combinations_max");
        var functions = new List<AceFunction>[ne];
        for (int i = 0; i < ne; i++) functions[i] = [];
        t.Expect("total_basis_size_rank1:");
        var n1 = new int[ne];
        for (int i = 0; i < ne; i++) n1[i] = t.Count("total_basis_size_rank1", 8);
        for (int mu = 0; mu < ne; mu++) for (int q = 0; q < n1[mu]; q++) functions[mu].Add(ReadFunction(t));
        t.Expect("total_basis_size:");
        var nh = new int[ne];
        for (int i = 0; i < ne; i++) nh[i] = t.Count("total_basis_size", 8);
        for (int mu = 0; mu < ne; mu++) for (int q = 0; q < nh[mu]; q++) functions[mu].Add(ReadFunction(t));

        var basis = new AceBasisSet
        {
            Elements = elements, LMax = lmax, NRadBase = nb, NRadMax = nr, RankMax = rankmax, NDensityMax = ndens,
            CutoffMax = cutoffMax, DeltaSplineBins = delta, E0 = e0, Bonds = bonds,
            Embeddings = [.. Enumerable.Range(0, ne).Select(i => new AceEmbedding { Npoti = npoti, FsParameters = fs, NDensity = ndens, RhoCoreCut = rhoCut[i], DRhoCoreCut = drhoCut[i] })],
            Functions = [.. functions.Select(f => f.ToArray())],
        };
        try { basis.Validate(); }
        catch (ArgumentException e) { throw new FileFormatException(new InputLocation(path), e.Message); }
        return basis;
    }

    private static AceFunction ReadFunction(Tokens t)
    {
        t.Expect("ctilde_basis_func:", "rank=");
        int rank = t.Int("rank", 1, 16);
        t.Expect("ndens="); int nd = t.Int("ndens", 1, 64);
        t.Expect("mu0="); int mu0 = t.Int("mu0");
        int[] List(string key)
        {
            t.Expect(key, "(");
            var v = new int[rank];
            for (int r = 0; r < rank; r++) v[r] = t.Int(key);
            t.Expect(")");
            return v;
        }
        var mus = List("mu="); var ns = List("n="); var ls = List("l=");
        t.Expect("num_ms="); int nms = t.Count("num_ms", rank + nd);
        var ms = new int[nms * rank]; var c = new double[nms * nd];
        for (int s = 0; s < nms; s++)
        {
            t.Expect("<");
            for (int r = 0; r < rank; r++) ms[s * rank + r] = t.Int("m");
            t.Expect(">:");
            for (int p = 0; p < nd; p++) c[s * nd + p] = t.Double("c-tilde coefficient");
        }
        return new AceFunction { Mu0 = mu0, Rank = rank, NDensity = nd, Mus = mus, Ns = ns, Ls = ls, Ms = ms, Ctildes = c };
    }

    /// <summary>
    /// Writes the plain .ace form (atomically). The format has one radial basis name, one embedding and one
    /// density count for all species; a basis that differs per species is refused.
    /// </summary>
    public static void Write(string path, AceBasisSet b) { var text = Format(b); AtomicFile.WriteText(path, w => w.Write(text)); }

    public static string Format(AceBasisSet b)
    {
        int ne = b.ElementCount;
        var e0 = b.Embeddings[0];
        for (int i = 1; i < ne; i++)
            if (b.Embeddings[i].Npoti != e0.Npoti || b.Embeddings[i].NDensity != e0.NDensity || !b.Embeddings[i].FsParameters.SequenceEqual(e0.FsParameters))
                throw new MlipException("the .ace format has one embedding for all elements; write .yace instead");
        if (b.Bonds.Any(x => x.RadBaseName != b.Bonds[0].RadBaseName)) throw new MlipException("the .ace format has one radial basis for all pairs; write .yace instead");
        string R(double v) => v.ToString("R", Inv);
        var sb = new StringBuilder();
        sb.Append($"nelements={ne}\nelements: {string.Join(" ", b.Elements)}\n\nlmax={b.LMax}\n\n");
        sb.Append($"embedding-function: {e0.Npoti}\n{e0.FsParameters.Length} FS parameters: {string.Join(" ", e0.FsParameters.Select(R))}\n");
        sb.Append("core energy-cutoff parameters: ");
        for (int i = 0; i < ne; i++) sb.Append($"{R(b.Embeddings[i].RhoCoreCut)} {R(b.Embeddings[i].DRhoCoreCut)}\n");
        sb.Append($"E0: {string.Join(" ", b.E0.Select(R))}\n\n");
        sb.Append($"radbasename={b.Bonds[0].RadBaseName}\nnradbase={b.NRadBase}\nnradmax={b.NRadMax}\ncutoffmax={R(b.CutoffMax)}\ndeltaSplineBins={R(b.DeltaSplineBins)}\n");
        sb.Append("core repulsion parameters: ");
        foreach (var x in b.Bonds) sb.Append($"{R(x.Prehc)} {R(x.Lambdahc)}\n");
        sb.Append($"radparameter= {string.Join(" ", b.Bonds.Select(x => R(x.Lambda)))}\n");
        sb.Append($"cutoff= {string.Join(" ", b.Bonds.Select(x => R(x.Cut)))}\n");
        sb.Append($"dcut= {string.Join(" ", b.Bonds.Select(x => R(x.DCut)))}\n");
        sb.Append("crad=");
        int l1 = b.LMax + 1, nb = b.NRadBase;
        foreach (var x in b.Bonds)
            for (int k = 0; k < nb; k++)
                for (int n = 0; n < b.NRadMax; n++)
                {
                    for (int l = 0; l < l1; l++) sb.Append(' ').Append(R(x.Crad[(n * l1 + l) * nb + k]));
                    sb.Append('\n');
                }
        sb.Append($"\nrankmax={b.RankMax}\nndensitymax={e0.NDensity}\n\n");
        int nct = b.Functions.SelectMany(f => f).Sum(f => f.Ctildes.Length);
        int nmsMax = b.Functions.SelectMany(f => f).Select(f => f.MsCount).DefaultIfEmpty(0).Max();
        sb.Append($"num_c_tilde_max={nct}\nnum_ms_combinations_max={nmsMax}\n");
        sb.Append($"total_basis_size_rank1: {string.Join(" ", b.Functions.Select(f => f.Count(x => x.Rank == 1)))}\n");
        foreach (var fs in b.Functions) foreach (var f in fs) if (f.Rank == 1) WriteFunction(sb, f);
        sb.Append($"total_basis_size: {string.Join(" ", b.Functions.Select(f => f.Count(x => x.Rank > 1)))}\n");
        foreach (var fs in b.Functions) foreach (var f in fs) if (f.Rank > 1) WriteFunction(sb, f);
        return sb.ToString();
    }

    private static void WriteFunction(StringBuilder sb, AceFunction f)
    {
        string L(int[] v) => string.Concat(v.Select(x => $" {x} "));
        sb.Append($"ctilde_basis_func: rank={f.Rank} ndens={f.NDensity} mu0={f.Mu0} mu=({L(f.Mus)})\n");
        sb.Append($"n=({L(f.Ns)})\nl=({L(f.Ls)})\nnum_ms={f.MsCount}\n");
        for (int s = 0; s < f.MsCount; s++)
        {
            sb.Append('<');
            for (int r = 0; r < f.Rank; r++) sb.Append($" {f.Ms[s * f.Rank + r]} ");
            sb.Append(">: ");
            for (int p = 0; p < f.NDensity; p++) sb.Append(' ').Append(f.Ctildes[s * f.NDensity + p].ToString("R", Inv)).Append(' ');
            sb.Append('\n');
        }
    }
}
