using Mlip.Descriptors.Ace;
using System.Globalization;
using System.Text;
using Mlip.IO;
using Mlip.Validation;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Mlip.Models.Ace;

/// <summary>
/// The YAML C-tilde format (<c>.yace</c>) that current <c>pair_style pace</c> reads and pacemaker writes
/// (docs/ace.md): elements, E0, deltaSplineBins, embeddings per species, bonds per species pair
/// (radial basis, radcoefficients[n][l][k], core repulsion, cut-offs) and functions per species with
/// their m-combinations and C-tilde coefficients. Only the density inner cut-off is evaluated; a bond
/// with <c>inner_cutoff_type: distance</c> and a non-zero <c>rcut_in</c>, or <c>zbl</c>, is refused.
/// </summary>
public static class YaceFile
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static AceBasisSet Read(string path) => Parse(File.ReadAllText(path), path);

    public static AceBasisSet Parse(string text, string path = "<yace>")
    {
        var where = new InputLocation(path);
        if (PlainYaml.TryRead(text) is not YaceMapping root)
        {
            var yaml = new YamlStream();
            try { yaml.Load(new StringReader(text)); }
            catch (YamlException e) { throw new FileFormatException(where.WithLine((int)e.Start.Line), e.Message); }
            catch (InvalidOperationException e) { throw new FileFormatException(where, $"not valid YAML ({e.Message})", e); } // YamlDotNet's scanner on some malformed scalars
            if (yaml.Documents.Count == 0 || YaceNode.FromYamlDotNet(yaml.Documents[0].RootNode) is not YaceMapping read) throw new FileFormatException(where, "not a YAML mapping");
            root = read;
        }

        YaceNode Get(YaceMapping m, string key) =>
            m.TryGet(key, out var v) ? v : throw new FileFormatException(where.WithLine(m.Line), $"missing '{key}'");
        YaceNode? Opt(YaceMapping m, string key) => m.TryGet(key, out var v) ? v : null;
        double D(YaceNode n)
        {
            if (n is YaceScalar s && double.TryParse(s.Value, NumberStyles.Float, Inv, out double v))
            {
                if (!double.IsFinite(v)) throw new NonFiniteValueException(where.WithLine(n.Line), $"'{s.Value}'");
                return v;
            }
            throw new FileFormatException(where.WithLine(n.Line), $"'{n}' is not a number");
        }
        int I(YaceNode n)
        {
            double v = D(n);
            if (v != Math.Floor(v) || Math.Abs(v) > 1e6) throw new FileFormatException(where.WithLine(n.Line), $"'{n}' is not an integer in range");
            return (int)v;
        }
        string S(YaceNode n) => n is YaceScalar s ? s.Value : throw new FileFormatException(where.WithLine(n.Line), "expected a scalar");
        YaceSequence Seq(YaceNode n) => n as YaceSequence ?? throw new FileFormatException(where.WithLine(n.Line), "expected a list");
        YaceMapping Map(YaceNode n) => n as YaceMapping ?? throw new FileFormatException(where.WithLine(n.Line), "expected a mapping");
        double[] Ds(YaceNode n) => [.. Seq(n).Items.Select(D)];
        int[] Is(YaceNode n) => [.. Seq(n).Items.Select(I)];

        var elements = Seq(Get(root, "elements")).Items.Select(S).ToArray();
        int ne = elements.Length;
        if (ne == 0 || ne > 118) throw new FileFormatException(where, $"{ne} elements (expected 1 to 118)");
        var e0 = Opt(root, "E0") is { } e0n ? Ds(e0n) : new double[ne];
        double delta = Opt(root, "deltaSplineBins") is { } dn ? D(dn) : 0.001;

        var embeddings = new AceEmbedding[ne];
        foreach (var (k, v) in Map(Get(root, "embeddings")).Entries)
        {
            int mu = I(k);
            if (mu < 0 || mu >= ne) throw new FileFormatException(where.WithLine(k.Line), $"embedding for species {mu} out of range");
            var m = Map(v);
            embeddings[mu] = new AceEmbedding
            {
                NDensity = I(Get(m, "ndensity")),
                FsParameters = Ds(Get(m, "FS_parameters")),
                Npoti = S(Get(m, "npoti")),
                RhoCoreCut = Opt(m, "rho_core_cutoff") is { } a ? D(a) : 100000,
                DRhoCoreCut = Opt(m, "drho_core_cutoff") is { } b ? D(b) : 250,
            };
        }
        if (embeddings.Any(e => e is null)) throw new FileFormatException(where, "an element has no embedding");

        var bondNodes = new YaceMapping[ne * ne];
        int nr = 0, lmax = 0, nb = 0;
        foreach (var (k, v) in Map(Get(root, "bonds")).Entries)
        {
            var ij = Is(k);
            if (ij.Length != 2 || ij.Any(x => x < 0 || x >= ne)) throw new FileFormatException(where.WithLine(k.Line), "a bond key must be [mu_i, mu_j]");
            var m = Map(v);
            bondNodes[ij[0] * ne + ij[1]] = m;
            nr = Math.Max(nr, I(Get(m, "nradmax")));
            lmax = Math.Max(lmax, I(Get(m, "lmax")));
            nb = Math.Max(nb, I(Get(m, "nradbasemax")));
        }
        var bonds = new AceBond[ne * ne];
        int l1 = lmax + 1;
        for (int p = 0; p < ne * ne; p++)
        {
            var m = bondNodes[p] ?? throw new FileFormatException(where, $"no bond for species pair [{p / ne}, {p % ne}]");
            string inner = Opt(m, "inner_cutoff_type") is { } it ? S(it) : "density";
            double rin = Opt(m, "rcut_in") is { } ri ? D(ri) : 0;
            if (inner == "zbl" || (inner == "distance" && rin > 0))
                throw new FileFormatException(where.WithLine(m.Line), $"inner_cutoff_type '{inner}' with rcut_in {rin} is not supported (only the density inner cut-off)");
            if (nr < 0 || lmax < 0 || lmax > 30 || nb < 0 || (long)nr * l1 * nb > text.Length)
                throw new FileFormatException(where.WithLine(m.Line), $"nradmax {nr}, lmax {lmax}, nradbasemax {nb} are out of range for this file");
            var crad = new double[nr * l1 * nb];
            var rc = Seq(Get(m, "radcoefficients"));
            for (int n = 0; n < rc.Items.Count; n++)
            {
                var ln = Seq(rc.Items[n]);
                for (int l = 0; l < ln.Items.Count; l++)
                {
                    var ks = Ds(ln.Items[l]);
                    if (n >= nr || l >= l1 || ks.Length > nb)
                        throw new FileFormatException(where.WithLine(ln.Line), $"radcoefficients exceed nradmax {nr} x (lmax+1) {l1} x nradbasemax {nb}");
                    for (int k = 0; k < ks.Length; k++) crad[(n * l1 + l) * nb + k] = ks[k];
                }
            }
            var rp = Ds(Get(m, "radparameters"));
            bonds[p] = new AceBond
            {
                RadBaseName = S(Get(m, "radbasename")),
                Lambda = rp.Length > 0 ? rp[0] : 0,
                Cut = D(Get(m, "rcut")),
                DCut = D(Get(m, "dcut")),
                Prehc = Opt(m, "prehc") is { } ph ? D(ph) : 0,
                Lambdahc = Opt(m, "lambdahc") is { } lh ? D(lh) : 1,
                Crad = crad,
            };
        }

        var functions = new AceFunction[ne][];
        for (int mu = 0; mu < ne; mu++) functions[mu] = [];
        int rankmax = 0;
        foreach (var (k, v) in Map(Get(root, "functions")).Entries)
        {
            int mu = I(k);
            if (mu < 0 || mu >= ne) throw new FileFormatException(where.WithLine(k.Line), $"functions for species {mu} out of range");
            var list = new List<AceFunction>();
            foreach (var fnode in Seq(v).Items)
            {
                var m = Map(fnode);
                var f = new AceFunction
                {
                    Mu0 = I(Get(m, "mu0")), Rank = I(Get(m, "rank")), NDensity = I(Get(m, "ndensity")),
                    Mus = Is(Get(m, "mus")), Ns = Is(Get(m, "ns")), Ls = Is(Get(m, "ls")),
                    Ms = Is(Get(m, "ms_combs")), Ctildes = Ds(Get(m, "ctildes")),
                };
                rankmax = Math.Max(rankmax, f.Rank);
                list.Add(f);
            }
            // rank-1 functions first, as the evaluator and the .ace format expect
            functions[mu] = [.. list.Where(f => f.Rank == 1), .. list.Where(f => f.Rank > 1)];
        }
        var basis = new AceBasisSet
        {
            Elements = elements, LMax = lmax, NRadBase = nb, NRadMax = nr, RankMax = rankmax,
            NDensityMax = embeddings.Max(e => e.NDensity), CutoffMax = bonds.Max(b => b.Cut), DeltaSplineBins = delta,
            E0 = e0, Bonds = bonds, Embeddings = embeddings, Functions = functions,
        };
        try { basis.Validate(); }
        catch (ArgumentException e) { throw new FileFormatException(where, e.Message); }
        return basis;
    }

    public static void Write(string path, AceBasisSet b)
    {
        var text = Format(b);
        AtomicFile.WriteText(path, w => w.Write(text));
    }

    public static string Format(AceBasisSet b)
    {
        string R(double v) => v.ToString("R", Inv);
        string L(IEnumerable<double> v) => "[" + string.Join(", ", v.Select(R)) + "]";
        string Li(IEnumerable<int> v) => "[" + string.Join(", ", v) + "]";
        int ne = b.ElementCount, l1 = b.LMax + 1, nb = b.NRadBase;
        var sb = new StringBuilder();
        sb.Append($"elements: [{string.Join(", ", b.Elements)}]\n");
        sb.Append($"E0: {L(b.E0)}\n");
        sb.Append($"deltaSplineBins: {R(b.DeltaSplineBins)}\n");
        sb.Append("embeddings:\n");
        for (int mu = 0; mu < ne; mu++)
        {
            var e = b.Embeddings[mu];
            sb.Append($"  {mu}: {{ndensity: {e.NDensity}, FS_parameters: {L(e.FsParameters)}, npoti: {e.Npoti}, rho_core_cutoff: {R(e.RhoCoreCut)}, drho_core_cutoff: {R(e.DRhoCoreCut)}}}\n");
        }
        sb.Append("bonds:\n");
        for (int i = 0; i < ne; i++)
            for (int j = 0; j < ne; j++)
            {
                var x = b.Bond(i, j);
                var rc = new StringBuilder("[");
                for (int n = 0; n < b.NRadMax; n++)
                {
                    if (n > 0) rc.Append(", ");
                    rc.Append('[');
                    for (int l = 0; l < l1; l++)
                    {
                        if (l > 0) rc.Append(", ");
                        rc.Append(L(Enumerable.Range(0, nb).Select(k => x.Crad[(n * l1 + l) * nb + k])));
                    }
                    rc.Append(']');
                }
                rc.Append(']');
                sb.Append($"  [{i}, {j}]: {{nradmax: {b.NRadMax}, lmax: {b.LMax}, nradbasemax: {nb}, radbasename: {x.RadBaseName}, radparameters: [{R(x.Lambda)}], radcoefficients: {rc}, prehc: {R(x.Prehc)}, lambdahc: {R(x.Lambdahc)}, rcut: {R(x.Cut)}, dcut: {R(x.DCut)}, rcut_in: 0, dcut_in: 0, inner_cutoff_type: density}}\n");
            }
        sb.Append("functions:\n");
        for (int mu = 0; mu < ne; mu++)
        {
            sb.Append($"  {mu}:\n");
            foreach (var f in b.Functions[mu])
                sb.Append($"    - {{mu0: {f.Mu0}, rank: {f.Rank}, ndensity: {f.NDensity}, num_ms_combs: {f.MsCount}, mus: {Li(f.Mus)}, ns: {Li(f.Ns)}, ls: {Li(f.Ls)}, ms_combs: {Li(f.Ms)}, ctildes: {L(f.Ctildes)}}}\n");
        }
        return sb.ToString();
    }
}
