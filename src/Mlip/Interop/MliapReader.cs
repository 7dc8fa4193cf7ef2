using System.Globalization;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Interop;

/// <summary>
/// Reads LAMMPS ML-IAP files (package ML-IAP, LAMMPS 20220106) into a <see cref="Potential"/>; the inverse
/// of <see cref="Mliap"/>, extended to the so3 descriptor and the linear/quadratic models.
/// <para>
/// Descriptor (mliap_descriptor_snap.cpp / mliap_descriptor_so3.cpp): 'keyword value' lines; sna: rcutfac,
/// twojmax, nelems, elems, radelems, welems, rfac0 (0.99363), rmin0 (0), switchflag (1), bzeroflag (1),
/// chemflag/bnormflag/wselfallflag (must be 0); so3: rcutfac, nmax, lmax, alpha, nelems, elems, radelems, welems.
/// The element order of the model file is the order of elems.
/// </para>
/// <para>
/// Model (mliap_model.cpp, mliap_model_nn.cpp): 'nelements nparams'; linear/quadratic: per element nparams
/// values, one per line (first word), E_i = β0 + β·B + ½Σβ_kk B_k² + Σ_{k&lt;l} β_kl B_k B_l
/// (as pair_style snap). nn: 'NET ndescriptors nlayers act1 n1 ...', then per element ndescriptors means
/// ("Scale0"), ndescriptors scales ("Scale1"), nparams weights (per node: bias, input weights), any number
/// of values per line; the input is (B − mean)/scale. Per-element means/scales that differ (PyXtal_FF writes its
/// per-element min/max ranges) are folded into each element's first layer, since Mlip's network shares one
/// normalisation.
/// </para>
/// </summary>
public static class MliapReader
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Whether a model path names ML-IAP files: <c>mliap:MODEL,DESCRIPTOR</c> or a .mliap.model / .mliap.descriptor.</summary>
    public static bool IsMliapPath(string path) =>
        path.StartsWith("mliap:", StringComparison.OrdinalIgnoreCase)
        || path.EndsWith(".mliap.model", StringComparison.OrdinalIgnoreCase)
        || path.EndsWith(".mliap.descriptor", StringComparison.OrdinalIgnoreCase)
        || path.EndsWith(".mliap", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Loads <c>mliap:MODEL,DESCRIPTOR</c>, X.mliap.model with X.mliap.descriptor beside it (or the reverse),
    /// or a X.mliap input snippet whose <c>pair_style mliap model STYLE FILE descriptor STYLE FILE</c> line
    /// names the files (relative to the snippet's folder).
    /// </summary>
    public static Potential Load(string path)
    {
        if (path.EndsWith(".mliap", StringComparison.OrdinalIgnoreCase)) return LoadInput(path);
        var (model, descriptor) = InteropFiles.ResolvePair(path, "mliap", ".mliap.model", ".mliap.descriptor", "ML-IAP model file", "ML-IAP descriptor file");
        return Import(File.ReadAllText(model), File.ReadAllText(descriptor), model, descriptor);
    }

    private static Potential LoadInput(string path)
    {
        if (!File.Exists(path)) throw new MlipException($"ML-IAP input file '{path}' not found");
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        foreach (var (line, w) in Lines(File.ReadAllText(path)))
        {
            if (w[0] != "pair_style") continue;
            // pair_style mliap model STYLE FILE descriptor STYLE FILE (either order)
            int m = Array.IndexOf(w, "model"), d = Array.IndexOf(w, "descriptor");
            if (w.Length < 8 || w[1] != "mliap" || m < 0 || d < 0 || m + 2 >= w.Length || d + 2 >= w.Length)
                throw new FileFormatException(new InputLocation(path, line), "expected 'pair_style mliap model STYLE FILE descriptor STYLE FILE'");
            string model = Path.Combine(dir, w[m + 2]), descriptor = Path.Combine(dir, w[d + 2]);
            if (!File.Exists(model)) throw new MlipException($"{path}:{line}: ML-IAP model file '{model}' not found");
            if (!File.Exists(descriptor)) throw new MlipException($"{path}:{line}: ML-IAP descriptor file '{descriptor}' not found");
            var potential = Import(File.ReadAllText(model), File.ReadAllText(descriptor), model, descriptor, w[m + 1]);
            string expected = potential.Spec.Type == "so3" ? "so3" : "sna";
            if (w[d + 1] != expected)
                throw new FileFormatException(new InputLocation(path, line), $"descriptor style '{w[d + 1]}', but '{descriptor}' is an {expected} descriptor file");
            return potential;
        }
        throw new FileFormatException(new InputLocation(path), "no 'pair_style mliap ...' line");
    }

    private static List<(int Line, string[] Words)> Lines(string text)
    {
        var r = new List<(int, string[])>();
        int n = 0;
        foreach (var raw in text.Split('\n'))
        {
            n++;
            string l = raw;
            int hash = l.IndexOf('#');
            if (hash >= 0) l = l[..hash];
            var w = l.Split([' ', '\t', '\r', '\f', '\'', '"'], StringSplitOptions.RemoveEmptyEntries);
            if (w.Length > 0) r.Add((n, w));
        }
        return r;
    }

    private static double Num(string s, string where, int line)
    {
        var at = new InputLocation(where, line > 0 ? line : null);
        if (!double.TryParse(s, NumberStyles.Float, Inv, out double v))
            throw new FileFormatException(at, $"'{s}' is not a number");
        if (!double.IsFinite(v)) throw new NonFiniteValueException(at, $"'{s}'");
        return v;
    }

    /// <summary>An integer in [min, max].</summary>
    private static int Int(string s, string where, int line, string what, int min, int max)
    {
        double v = Num(s, where, line);
        if (v != Math.Floor(v) || v < min || v > max)
            throw new FileFormatException(new InputLocation(where, line > 0 ? line : null), $"{what} is {s}; expected an integer from {min} to {max}");
        return (int)v;
    }

    /// <summary>Reads a .mliap.descriptor text: the so4 or so3 descriptor spec and the element order.</summary>
    public static (DescriptorSpec Spec, string[] Elements) ReadDescriptor(string text, string name = "mliap.descriptor")
    {
        var where = new InputLocation(name);
        var kv = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var lineOf = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (line, w) in Lines(text))
        {
            if (w.Length < 2) throw new FileFormatException(where.WithLine(line), "expected 'keyword value'");
            kv[w[0]] = w[1..];
            lineOf[w[0]] = line;
        }
        string[] sna = ["rcutfac", "twojmax", "nelems", "elems", "radelems", "welems", "rfac0", "rmin0", "switchflag", "bzeroflag", "chemflag", "bnormflag", "wselfallflag"];
        string[] so3 = ["rcutfac", "nmax", "lmax", "alpha", "nelems", "elems", "radelems", "welems"];
        bool isSo3 = kv.ContainsKey("nmax") || kv.ContainsKey("lmax") || kv.ContainsKey("alpha");
        var known = isSo3 ? so3 : sna;
        foreach (var key in kv.Keys)
            if (!known.Contains(key))
                throw new FileFormatException(where, $"unknown {(isSo3 ? "so3" : "sna")} descriptor keyword '{key}' (LAMMPS reads {string.Join(", ", known)})");
        string[] required = isSo3 ? ["rcutfac", "nmax", "lmax", "alpha", "nelems", "elems", "radelems", "welems"] : ["rcutfac", "twojmax", "nelems", "elems", "radelems", "welems"];
        foreach (var key in required)
            if (!kv.ContainsKey(key)) throw new FileFormatException(where, $"missing required keyword '{key}'");
        int nelems = Int(kv["nelems"][0], name, lineOf["nelems"], "nelems", 1, 118);
        string[] El(string key)
        {
            var v = kv[key];
            if (v.Length < nelems) throw new FileFormatException(where, $"'{key}' needs {nelems} values (nelems), has {v.Length}");
            return v[..nelems];
        }
        var elems = El("elems");
        foreach (var e in elems) Elements.Number(e, where);
        var radii = El("radelems").Select(s => Num(s, name, lineOf["radelems"]).ToString("R", Inv)).ToArray();
        var weights = El("welems").Select(s => Num(s, name, lineOf["welems"]).ToString("R", Inv)).ToArray();
        string One(string key, string d) => kv.TryGetValue(key, out var v) ? Num(v[0], name, lineOf[key]).ToString("R", Inv) : d;
        string IntOf(string key, int min, int max) => Int(kv[key][0], name, lineOf[key], key, min, max).ToString(Inv);
        var p = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (isSo3)
        {
            p["rcutfac"] = One("rcutfac", "");
            p["nmax"] = IntOf("nmax", 1, So3RadialBasis.MaxNmax);
            p["lmax"] = IntOf("lmax", 0, DescriptorLimits.MaxLmax);
            p["alpha"] = One("alpha", "");
            p["elems"] = string.Join(",", elems);
            p["radelems"] = string.Join(",", radii);
            p["welems"] = string.Join(",", weights);
            return (new DescriptorSpec("so3", p), elems);
        }
        foreach (var flag in new[] { "chemflag", "bnormflag", "wselfallflag" })
            if (kv.TryGetValue(flag, out var v) && Num(v[0], name, lineOf[flag]) != 0)
                throw new FileFormatException(where.WithLine(lineOf[flag]), $"{flag} 1 is not supported by Mlip's SO(4) bispectrum");
        p["twojmax"] = IntOf("twojmax", 0, DescriptorLimits.MaxTwoJMax);
        p["rcutfac"] = One("rcutfac", "");
        p["rfac0"] = One("rfac0", "0.99363");
        p["rmin0"] = One("rmin0", "0");
        p["switchflag"] = One("switchflag", "1");
        p["bzeroflag"] = One("bzeroflag", "1");
        p["wself"] = "1";
        p["quadraticflag"] = "0";
        p["elements"] = string.Join(",", elems);
        p["radelem"] = string.Join(",", radii);
        p["wj"] = string.Join(",", weights);
        return (new DescriptorSpec("so4", p), elems);
    }

    /// <summary>Builds the potential from the texts of a .mliap.model and a .mliap.descriptor; the model style
    /// (linear, quadratic, nn) is taken from the file (a NET line means nn; otherwise nparams decides).</summary>
    public static Potential Import(string modelText, string descriptorText, string modelName = "mliap.model", string descriptorName = "mliap.descriptor", string? style = null)
    {
        var (spec, elems) = ReadDescriptor(descriptorText, descriptorName);
        if (elems.Distinct().Count() != elems.Length) throw new FileFormatException(new InputLocation(descriptorName), "an element is listed twice in 'elems'");
        IDescriptor descriptor;
        try
        {
            descriptor = spec.Create(elems);
        }
        catch (MlipException e) when (e is not MlipInputException { File: not null })
        {
            throw new FileFormatException(new InputLocation(descriptorName), e.Message, e);
        }
        int k = descriptor.FeatureCount;
        var z = elems.Select(e => Elements.Number(e, new InputLocation(descriptorName))).ToArray();
        var where = new InputLocation(modelName);
        var lines = Lines(modelText);
        if (lines.Count == 0 || lines[0].Words.Length != 2) throw new FileFormatException(where, "expected 'nelements nparams' on the first line");
        int nelem = Int(lines[0].Words[0], modelName, lines[0].Line, "nelements", 1, 118);
        int nparams = Int(lines[0].Words[1], modelName, lines[0].Line, "nparams", 1, int.MaxValue);
        if (nelem != elems.Length) throw new FileFormatException(where, $"{nelem} elements, the descriptor has {elems.Length} ({string.Join(" ", elems)})");
        bool nn = lines.Count > 1 && lines[1].Words[0].StartsWith("NET", StringComparison.Ordinal);
        style ??= nn ? "nn" : nparams == 1 + k ? "linear" : nparams == 1 + k + k * (k + 1) / 2 ? "quadratic" : null;
        if (style is null) throw new FileFormatException(where, $"nparams {nparams} fits neither a linear ({1 + k}) nor a quadratic ({1 + k + k * (k + 1) / 2}) model on {k} descriptors");
        IAtomicModel model = style switch
        {
            "nn" => ReadNetwork(lines, nelem, nparams, k, z, modelName),
            "linear" or "quadratic" => ReadPolynomial(lines, nelem, nparams, k, z, style == "quadratic", modelName),
            _ => throw new MlipException($"unknown ML-IAP model style '{style}' (linear, quadratic, nn)"),
        };
        return new Potential(descriptor, model, spec);
    }

    private static PolynomialModel ReadPolynomial(List<(int Line, string[] Words)> lines, int nelem, int nparams, int k, int[] z, bool quadratic, string name)
    {
        int expected = PolynomialModel.CoefficientsPerElement(quadratic ? 2 : 1, k);
        if (nparams != expected) throw new FileFormatException(new InputLocation(name), $"nparams is {nparams}; a {(quadratic ? "quadratic" : "linear")} model on {k} descriptors needs {expected}");
        if (lines.Count - 1 < (long)nelem * nparams) throw new FileFormatException(new InputLocation(name), $"expected {nelem * nparams} coefficients, found {lines.Count - 1}");
        var coefficients = new double[nelem][];
        int pos = 1;
        for (int e = 0; e < nelem; e++)
        {
            var beta = new double[nparams];
            for (int c = 0; c < nparams; c++, pos++) beta[c] = Num(lines[pos].Words[0], name, lines[pos].Line);
            if (quadratic)
            {
                int q = 1 + k;
                for (int a = 0; a < k; a++)
                    for (int b = a; b < k; b++, q++)
                        if (a == b) beta[q] *= 0.5; // LAMMPS ½β_kk B_k²
            }
            coefficients[e] = beta;
        }
        return new PolynomialModel(quadratic ? 2 : 1, z, k, coefficients);
    }

    private static NeuralNetworkModel ReadNetwork(List<(int Line, string[] Words)> lines, int nelem, int nparams, int k, int[] z, string name)
    {
        var where = new InputLocation(name);
        var net = lines[1].Words;
        var netAt = where.WithLine(lines[1].Line);
        if (net.Length < 3) throw new FileFormatException(netAt, "expected 'NET ndescriptors nlayers activation nodes ...'");
        int nd = Int(net[1], name, lines[1].Line, "the number of descriptors", 1, int.MaxValue);
        int nl = Int(net[2], name, lines[1].Line, "the number of layers", 1, (net.Length - 3) / 2);
        if (nd != k) throw new FileFormatException(netAt, $"the network has {nd} descriptors, the descriptor file gives {k}");
        if (net.Length < 3 + 2 * nl) throw new FileFormatException(netAt, $"NET line: expected {nl} (activation, nodes) pairs");
        var acts = new string[nl];
        var nodes = new int[nl];
        for (int l = 0; l < nl; l++) { acts[l] = net[3 + 2 * l]; nodes[l] = Int(net[4 + 2 * l], name, lines[1].Line, "the number of nodes", 1, 1 << 16); }
        if (nodes[^1] != 1 || acts[^1] != "linear") throw new MlipException($"{name}: Mlip's network needs a last layer 'linear 1' (the atom energy); this one is '{acts[^1]} {nodes[^1]}'");
        Activation hidden = Activation.Linear;
        for (int l = 0; l < nl - 1; l++)
        {
            var a = acts[l] switch
            {
                "linear" => Activation.Linear, "sigmoid" => Activation.Sigmoid, "tanh" => Activation.Tanh, "relu" => Activation.Relu,
                _ => throw new MlipException($"{name}: unknown activation '{acts[l]}' (LAMMPS: linear, sigmoid, tanh, relu)"),
            };
            if (l > 0 && a != hidden) throw new MlipException($"{name}: Mlip's network has one activation for all hidden layers; this one mixes {hidden} and {a}");
            hidden = a;
        }
        long count = 0;
        int prev = k;
        for (int l = 0; l < nl; l++) { count += (prev + 1L) * nodes[l]; prev = nodes[l]; }
        if (count != nparams) throw new FileFormatException(where, $"nparams is {nparams}; the NET layout needs {count}");
        var values = new List<double>();
        for (int i = 2; i < lines.Count; i++) foreach (var w in lines[i].Words) values.Add(Num(w, name, lines[i].Line));
        long perLong = 2L * k + nparams;
        if (values.Count != nelem * perLong) throw new FileFormatException(where, $"expected {nelem} × ({k} means + {k} scales + {nparams} weights) = {nelem * perLong} values, found {values.Count}");
        int per = (int)perLong;
        if (values.Count != (long)nelem * per) throw new FileFormatException(where, $"expected {nelem} × ({k} means + {k} scales + {nparams} weights) = {nelem * per} values, found {values.Count}");
        // Mlip's network has one normalisation for all elements; PyXtal_FF writes one per element (its min/max
        // ranges). When they differ, each element's (B − mean_e)/scale_e is folded into its first layer.
        bool shared = true;
        for (int e = 1; e < nelem && shared; e++)
            for (int a = 0; a < 2 * k && shared; a++) shared = values[e * per + a] == values[a];
        var mean = shared ? values.GetRange(0, k).ToArray() : new double[k];
        var scale = shared ? values.GetRange(k, k).ToArray() : Enumerable.Repeat(1.0, k).ToArray();
        var networks = new Mlp[nelem];
        for (int e = 0; e < nelem; e++)
        {
            int o = e * per;
            var m = values.GetRange(o, k).ToArray();
            var s = values.GetRange(o + k, k).ToArray();
            for (int a = 0; a < k; a++)
                if (s[a] == 0 || !double.IsFinite(s[a]))
                    throw new FileFormatException(where, $"element {e + 1}: scale of descriptor {a + 1} is {s[a]} (LAMMPS divides by it)");
            int p = o + 2 * k;
            var layers = new List<DenseLayer>();
            prev = k;
            for (int l = 0; l < nl; l++)
            {
                var w = new double[nodes[l] * prev];
                var b = new double[nodes[l]];
                for (int n = 0; n < nodes[l]; n++)
                {
                    b[n] = values[p++];
                    for (int a = 0; a < prev; a++) w[n * prev + a] = values[p++];
                }
                if (l == 0 && !shared)
                    for (int n = 0; n < nodes[l]; n++)
                        for (int a = 0; a < prev; a++)
                        {
                            w[n * prev + a] /= s[a];
                            b[n] -= w[n * prev + a] * m[a];
                        }
                layers.Add(new DenseLayer(prev, nodes[l], w, b));
                prev = nodes[l];
            }
            networks[e] = new Mlp(layers, hidden);
        }
        return new NeuralNetworkModel(z, k, networks, new double[nelem], mean, scale);
    }
}
