using System.Globalization;
using System.Text;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Interop;

/// <summary>
/// The <c>.pinn</c> parameter file of LAMMPS's <c>pair_style pinn</c> (docs/pinn.md): header, elements,
/// R_c/d_c/Gaussian width, Legendre orders, Gaussian centres, layer sizes, base parameters, then weights
/// and biases layer by layer. The file holds one network whose output lists the parameter sets of all
/// host elements; reading gives one network per element (its own rows of the output layer), exactly.
/// Writing stacks Mlip's per-element networks side by side (block-diagonal after the first layer), which
/// is exact too because the features (kind II) do not depend on the host element; the feature
/// standardisation is folded into the first layer.
/// </summary>
public static class PinnFile
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static bool IsPinnPath(string path) => path.EndsWith(".pinn", StringComparison.OrdinalIgnoreCase);

    public static Potential Load(string path)
    {
        InputFile.EnsureExists(path);
        return Parse(File.ReadAllLines(path), path);
    }

    private sealed class Reader(string[] lines, string path)
    {
        public int Line;
        public InputLocation Where => new(path, Line);

        public string[] Next(string what)
        {
            while (Line < lines.Length)
            {
                string raw = lines[Line++];
                int hash = raw.IndexOf('#');
                var words = (hash >= 0 ? raw[..hash] : raw).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (words.Length > 0) return words;
            }
            throw new FileFormatException(new InputLocation(path, Line), $"the file ends before {what}");
        }

        public double Number(string word, string what)
        {
            if (!double.TryParse(word, NumberStyles.Float, Inv, out double v)) throw new FileFormatException(Where, $"{what}: '{word}' is not a number");
            if (!double.IsFinite(v)) throw new NonFiniteValueException(Where, $"{what} '{word}'");
            return v;
        }

        /// <summary>Characters left after the current line: a bound on how many numbers can follow.</summary>
        public long Remaining()
        {
            long n = 0;
            for (int i = Line; i < lines.Length; i++) n += lines[i].Length + 1;
            return n;
        }

        public int Integer(string word, string what) =>
            int.TryParse(word, NumberStyles.Integer, Inv, out int v) ? v : throw new FileFormatException(Where, $"{what}: '{word}' is not an integer");

        /// <summary>Reads <paramref name="count"/> numbers over as many lines as they take, starting with <paramref name="first"/>.</summary>
        public double[] Numbers(long count, IEnumerable<string> first, string what)
        {
            var head = first.ToList();
            if (count < 0 || count > head.Count + (Remaining() + 1) / 2)
                throw new FileFormatException(Where, $"{what}: expected {count} numbers, but the file is too short to hold them");
            var v = new List<double>((int)count);
            foreach (var w in head) v.Add(Number(w, what));
            while (v.Count < count) foreach (var w in Next(what)) v.Add(Number(w, what));
            if (v.Count != count) throw new FileFormatException(Where, $"{what}: expected {count} numbers, found {v.Count}");
            return [.. v];
        }
    }

    public static Potential Parse(string[] lines, string path)
    {
        var r = new Reader(lines, path);
        r.Line = Math.Min(3, lines.Length); // three free header lines
        var head = r.Next("gimethod giref actfunc");
        if (head.Length < 3) throw new FileFormatException(r.Where, "expected 'gimethod giref actfunc'");
        int gimethod = r.Integer(head[0], "gimethod");
        double giref = r.Number(head[1], "giref");
        var activation = r.Integer(head[2], "actfunc") switch
        {
            0 => Activation.Sigmoid,
            1 => Activation.HalfTanh,
            2 => Activation.Tanh,
            var a => throw new FileFormatException(r.Where, $"unknown activation type {a} (0 sigmoid, 1 sigmoid − 1/2, 2 tanh)"),
        };
        if (gimethod is not (0 or 2)) throw new FileFormatException(r.Where, $"unknown feature transform gimethod {gimethod} (0 none, 2 asinh)");
        int nel = r.Integer(r.Next("the number of elements")[0], "number of elements");
        if (nel < 1 || nel > 118 || nel > lines.Length - r.Line) throw new FileFormatException(r.Where, $"the number of elements is {nel}; expected 1 to 118, one line each");
        var symbols = new string[nel];
        for (int e = 0; e < nel; e++)
        {
            var w = r.Next("element and mass");
            if (w.Length < 2) throw new FileFormatException(r.Where, "expected 'element mass'");
            symbols[e] = w[0];
            Elements.Number(w[0], r.Where);
        }
        var cut = r.Next("the cutoff line");
        if (cut.Length != 5) throw new FileFormatException(r.Where, $"the cutoff line has {cut.Length} words, expected 5 (_ _ Rc dc width)");
        double rc = r.Number(cut[2], "Rc"), dc = r.Number(cut[3], "d_c"), width = r.Number(cut[4], "Gaussian width");
        var lp = r.Next("Legendre orders");
        int nl = r.Integer(lp[0], "number of Legendre orders");
        if (nl < 1 || nl >= lp.Length || lp.Length != nl + 1) throw new FileFormatException(r.Where, $"expected {nl} Legendre orders after the count");
        var orders = lp.Skip(1).Select(x => r.Integer(x, "Legendre order")).ToArray();
        var gs = r.Next("Gaussian centres");
        int ns = r.Integer(gs[0], "number of Gaussian centres");
        if (ns < 1 || ns >= gs.Length) throw new FileFormatException(r.Where, $"expected {ns} Gaussian centres after the count");
        var centres = gs.Skip(1).Take(ns).Select(x => r.Number(x, "Gaussian centre")).ToArray();
        var ls = r.Next("layer sizes");
        int nlayers = r.Integer(ls[0], "number of layers");
        if (nlayers < 2 || nlayers >= ls.Length || ls.Length != nlayers + 1) throw new FileFormatException(r.Where, $"expected {nlayers} (≥ 2) layer sizes after the count");
        var sizes = ls.Skip(1).Select(x => r.Integer(x, "layer size")).ToArray();
        if (sizes.Any(x => x < 1 || x > 1 << 16)) throw new FileFormatException(r.Where, "a layer size is out of range (1 to 65536)");
        long featuresLong = (long)nel * (nel + 1) / 2 * nl * ns;
        if (featuresLong > Descriptors.DescriptorLimits.MaxFeatures) throw new FileFormatException(r.Where, $"{featuresLong} features (at most {Descriptors.DescriptorLimits.MaxFeatures})");
        int features = (int)featuresLong;
        if (sizes[0] == (long)nel * features && nel > 1)
            throw new FileFormatException(r.Where, "kind I features (host element in the feature vector) are not supported; Mlip reads kind II files");
        if (sizes[0] != features) throw new FileFormatException(r.Where, $"the input layer has {sizes[0]} nodes but the features are {features}");
        var layout = new Calculators.PinnBopLayout(nel);
        int nbop = nel * layout.SetSize;
        if (sizes[^1] != nbop) throw new FileFormatException(r.Where, $"the output layer has {sizes[^1]} nodes, expected {nbop} BOP parameters");
        var bl = r.Next("base parameters");
        int nbase = r.Integer(bl[0], "base flag");
        var baseAll = r.Numbers(nbop, bl.Skip(1), "base parameters");
        if (nbase == 0) Array.Clear(baseAll);
        // weights and biases: layer l: n_{l-1} x n_l by input rows, then n_l biases
        long total = 0;
        for (int l = 1; l < nlayers; l++) total += (long)sizes[l - 1] * sizes[l] + sizes[l];
        var all = r.Numbers(total, [], "weights and biases");
        var wIn = new List<double[]>(); var bIn = new List<double[]>();
        int o = 0;
        for (int l = 1; l < nlayers; l++)
        {
            int fin = sizes[l - 1], fout = sizes[l];
            var w = new double[fin * fout];
            for (int m = 0; m < fin; m++)
                for (int q = 0; q < fout; q++) w[q * fin + m] = all[o++];
            var b = new double[fout];
            for (int q = 0; q < fout; q++) b[q] = all[o++];
            wIn.Add(w); bIn.Add(b);
        }
        var nets = new Mlp[nel];
        var bases = new double[nel][];
        for (int e = 0; e < nel; e++)
        {
            var layers = new List<DenseLayer>();
            for (int l = 1; l < nlayers - 1; l++) layers.Add(new DenseLayer(sizes[l - 1], sizes[l], (double[])wIn[l - 1].Clone(), (double[])bIn[l - 1].Clone()));
            int fin = sizes[^2], set = layout.SetSize;
            var wl = new double[set * fin];
            Array.Copy(wIn[^1], e * set * fin, wl, 0, set * fin);
            layers.Add(new DenseLayer(fin, set, wl, bIn[^1].AsSpan(e * set, set).ToArray()));
            nets[e] = new Mlp(layers, activation);
            bases[e] = baseAll.AsSpan(e * set, set).ToArray();
        }
        var spec = new DescriptorSpec("pinn", new Dictionary<string, string>
        {
            ["rc"] = F(rc), ["dc"] = F(dc), ["width"] = F(width),
            ["centres"] = string.Join(",", centres.Select(F)),
            ["orders"] = string.Join(",", orders.Select(x => x.ToString(Inv))),
            ["shift"] = F(giref), ["asinh"] = gimethod == 2 ? "1" : "0",
            ["elements"] = string.Join(",", symbols),
        });
        if (symbols.Distinct().Count() != symbols.Length) throw new FileFormatException(new InputLocation(path), "an element is listed twice");
        if (!(rc > 0 && rc <= Descriptors.DescriptorLimits.MaxCutoff) || !(dc > 0 && dc <= rc))
            throw new FileFormatException(new InputLocation(path), $"the cut-off Rc = {F(rc)}, d_c = {F(dc)} is out of range (0 < d_c <= Rc <= {Descriptors.DescriptorLimits.MaxCutoff} Å)");
        IDescriptor descriptor;
        try
        {
            descriptor = spec.Create(symbols);
        }
        catch (MlipException e) when (e is not MlipInputException { File: not null })
        {
            throw new FileFormatException(new InputLocation(path), e.Message, e);
        }
        var z = symbols.Select(s => Elements.Number(s)).ToArray();
        var model = new PinnModel(z, features, rc, dc, bases, nets, new double[features], Enumerable.Repeat(1.0, features).ToArray());
        return new Potential(descriptor, model, spec);
    }

    private static string F(double v) => v.ToString("R", Inv);

    /// <summary>Whether the potential is a PINN (the .pinn writer is its format; <see cref="Text"/> refuses one on other features with the reason).</summary>
    public static bool Handles(Potential potential) => potential.Model is PinnModel;

    /// <summary>Writes a PINN potential as a <c>.pinn</c> file (atomically).</summary>
    public static void Save(string path, Potential potential, string? comment = null)
    {
        string text = Text(potential, comment);
        InteropFiles.EnsureFinite(path, text);
        AtomicFile.WriteText(path, w => w.Write(text));
    }

    /// <summary>NAME.pinn and an in.lammps snippet (pair_style pinn) in <paramref name="directory"/>; returns the paths.</summary>
    public static string[] Write(Potential potential, string directory, string name = "mlip")
    {
        string symbols = string.Join(" ", potential.Model.Elements.Select(Elements.Symbol));
        string input = $"""
            # PINN potential written by Mlip (docs/pinn.md); needs LAMMPS built with the USER-PINN package
            pair_style pinn
            pair_coeff * * {name}.pinn {symbols}

            """;
        return InteropFiles.WriteAll(directory, ($"{name}.pinn", Text(potential)), ("in.lammps", input));
    }

    /// <summary>The text of the <c>.pinn</c> file.</summary>
    public static string Text(Potential potential, string? comment = null)
    {
        if (potential.Model is not PinnModel m || potential.Descriptor is not PinnFeatures d)
            throw new MlipException(potential.Model is PinnModel
                ? $"a .pinn file needs a PINN on the 'pinn' descriptor (pair_style pinn computes only its own features); this PINN reads '{potential.Descriptor.Name}' features"
                : "only a PINN (model kind 'pinn' on 'pinn' features) can be written as a .pinn file");
        var p = d.Parameters;
        int nel = m.Elements.Count;
        if (p.Elements.Count != nel || p.Elements.Select(e => Elements.Number(e)).Where((z, i) => z != m.Elements[i]).Any())
            throw new MlipException("the PINN's feature elements and model elements differ in order");
        if (p.Cutoff != m.Cutoff || p.CutoffRange != m.CutoffRange)
            throw new MlipException("the .pinn file has one R_c and d_c for features and BOP; this PINN uses different ones");
        var act = m.Networks[0].Activation;
        if (m.Networks.Any(n => n.Activation != act || n.Layers.Count != m.Networks[0].Layers.Count))
            throw new MlipException("the .pinn file needs the same activation and depth for every element's network");
        int actfunc = act switch
        {
            Activation.Sigmoid => 0,
            Activation.HalfTanh => 1,
            Activation.Tanh => 2,
            _ => throw new MlipException($"pair_style pinn supports the activations sigmoid, halftanh and tanh, not {act.ToString().ToLowerInvariant()}"),
        };
        int set = m.Layout.SetSize, depth = m.Networks[0].Layers.Count, k = m.FeatureCount;
        // stacked layer sizes
        var sizes = new List<int> { k };
        for (int l = 0; l < depth - 1; l++) sizes.Add(m.Networks.Sum(n => n.Layers[l].Out));
        sizes.Add(nel * set);
        var sb = new StringBuilder();
        sb.Append("# PINN potential written by Mlip (docs/pinn.md)").Append(comment is null ? "" : " " + comment.ReplaceLineEndings(" ")).Append('\n');
        sb.Append("# elements: ").Append(string.Join(" ", p.Elements)).Append('\n');
        sb.Append("# pair_style pinn; pair_coeff * * FILE ").Append(string.Join(" ", p.Elements)).Append('\n');
        sb.Append(p.Asinh ? 2 : 0).Append(' ').Append(F(p.Shift)).Append(' ').Append(actfunc).Append("  # gimethod giref actfunc\n");
        sb.Append(nel).Append('\n');
        foreach (var e in p.Elements) sb.Append(e).Append(' ').Append(F(Elements.Mass(Elements.Number(e)))).Append('\n');
        sb.Append("0 0.0 ").Append(F(p.Cutoff)).Append(' ').Append(F(p.CutoffRange)).Append(' ').Append(F(p.Width)).Append("  # _ _ Rc dc width\n");
        sb.Append(p.Orders.Count).Append(' ').Append(string.Join(" ", p.Orders)).Append("  # Legendre orders\n");
        sb.Append(p.Centres.Count).Append(' ').Append(string.Join(" ", p.Centres.Select(F))).Append("  # Gaussian centres\n");
        sb.Append(sizes.Count).Append(' ').Append(string.Join(" ", sizes)).Append("  # layers\n");
        sb.Append("1 ").Append(string.Join(" ", m.BaseParameters.SelectMany(x => x).Select(F))).Append('\n');
        for (int l = 0; l < depth; l++)
        {
            int fin = sizes[l], fout = sizes[l + 1];
            var w = new double[fin * fout]; // [input m][output q]
            var b = new double[fout];
            int inOff = 0, outOff = 0;
            for (int e = 0; e < nel; e++)
            {
                var layer = m.Networks[e].Layers[l];
                bool first = l == 0;
                for (int q = 0; q < layer.Out; q++)
                {
                    double bias = layer.Bias[q];
                    for (int a = 0; a < layer.In; a++)
                    {
                        double wv = layer.Weights[q * layer.In + a];
                        if (first)
                        {
                            w[a * fout + outOff + q] = wv / m.Scale[a];
                            bias -= wv * m.Mean[a] / m.Scale[a];
                        }
                        else w[(inOff + a) * fout + outOff + q] = wv;
                    }
                    b[outOff + q] = bias;
                }
                if (!first) inOff += layer.In;
                outOff += layer.Out;
            }
            for (int a = 0; a < fin; a++)
            {
                for (int q = 0; q < fout; q++) { if (q > 0) sb.Append(' '); sb.Append(F(w[a * fout + q])); }
                sb.Append('\n');
            }
            sb.Append(string.Join(" ", b.Select(F))).Append('\n');
        }
        return sb.ToString();
    }
}
