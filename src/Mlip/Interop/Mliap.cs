using System.Globalization;
using System.Text;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Interop;

/// <summary>
/// LAMMPS <c>pair_style mliap model STYLE FILE.mliap.model descriptor DESC FILE.mliap.descriptor</c> export
/// (package ML-IAP, LAMMPS 20220106) of linear, quadratic and neural-network models on the so4 (<c>sna</c>)
/// or so3 (<c>so3</c>) descriptor. <see cref="MliapReader"/> reads the same files back.
/// <para>
/// Descriptor files take one 'keyword value(s)' per line. sna (mliap_descriptor_snap.cpp): rcutfac, twojmax,
/// nelems, elems/radelems/welems (one value per element), rfac0, rmin0, bzeroflag, switchflag (chemflag,
/// bnormflag, wselfallflag stay 0). so3 (mliap_descriptor_so3.cpp): rcutfac, nmax, lmax, alpha, nelems,
/// elems, radelems, welems.
/// </para>
/// <para>
/// nn model (mliap_model_nn.cpp): 'nelements nparams', then 'NET ndescriptors nlayers act1 n1 act2 n2 ...'
/// (act: linear, sigmoid, tanh, relu; the last layer one node), then per element: ndescriptors means,
/// ndescriptors scales (LAMMPS uses (B − mean)/scale, as Mlip), and nparams weights: layer by layer, node by
/// node, the bias followed by the node's input weights (Mlip's row-major [Out, In] rows with the bias
/// prepended). There is no constant, so Mlip's per-element energy offset is added to the last layer's bias
/// (exact: the last layer is linear).
/// </para>
/// <para>
/// linear/quadratic model (mliap_model.cpp, mliap_model_linear.cpp, mliap_model_quadratic.cpp):
/// 'nelements nparams' then exactly one number per line (no blank or comment lines after the header),
/// per element β0, β_1..β_K and, for quadratic, the upper triangle β_kl (k ≤ l, row by row) with
/// E_i = β0 + β·B + ½ Σ β_kk B_k² + Σ_{k&lt;l} β_kl B_k B_l. ML-IAP has no feature normalisation for
/// these models, so Mlip's (x − μ)/σ is folded into the coefficients exactly (<see cref="Snap.Fold"/>)
/// and the diagonal doubled for LAMMPS's ½.
/// </para>
/// </summary>
public static class Mliap
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The exported files: X.mliap.descriptor, X.mliap.model and the in.lammps snippet.</summary>
    public sealed record Files(string DescriptorName, string Descriptor, string ModelName, string Model, string InputSnippet);

    /// <summary>
    /// Whether <c>mlip export lammps</c> without <c>--format</c> writes ML-IAP files: neural networks and every
    /// model on so3. Linear and quadratic models on so4 go to pair_style snap by default (both work).
    /// </summary>
    public static bool Handles(Potential potential) => potential.Model is NeuralNetworkModel || potential.Descriptor is So3;

    /// <summary>The ML-IAP descriptor style: sna (so4) or so3.</summary>
    public static string DescriptorStyle(IDescriptor d) => d switch
    {
        BispectrumSo4 => "sna",
        So3 => "so3",
        _ => throw new MlipException($"only models on the so4 (SNAP bispectrum) or so3 (SO(3) power spectrum) descriptors can be exported to pair_style mliap; this model uses '{d.Name}'"),
    };

    /// <summary>The ML-IAP model style: nn, linear or quadratic.</summary>
    public static string ModelStyle(IAtomicModel m) => m switch
    {
        NeuralNetworkModel => "nn",
        PolynomialModel { Order: 1 } => "linear",
        PolynomialModel { Order: 2 } => "quadratic",
        _ => throw new MlipException($"pair_style mliap has the models nn, linear and quadratic; a '{m.Kind}' model cannot be exported"),
    };

    /// <summary>LAMMPS's activation name (mliap_model_nn supports linear, sigmoid, tanh and relu).</summary>
    public static string ActivationName(Activation a) => a switch
    {
        Activation.Tanh => "tanh",
        Activation.Sigmoid => "sigmoid",
        Activation.Relu => "relu",
        Activation.Linear => "linear",
        _ => throw new MlipException($"LAMMPS pair_style mliap (model nn) supports the activations tanh, sigmoid, relu and linear; this network uses '{a.ToString().ToLowerInvariant()}', which it cannot evaluate"),
    };

    private static string R(double v) => v.ToString("R", Inv);

    /// <summary>Writes the descriptor file (sna or so3) for the given element order.</summary>
    public static string DescriptorText(IDescriptor descriptor, IReadOnlyList<string> symbols) => descriptor switch
    {
        BispectrumSo4 so4 => DescriptorText(so4, symbols),
        So3 so3 => DescriptorText(so3, symbols),
        _ => throw new MlipException($"pair_style mliap has the descriptors sna (so4) and so3; '{descriptor.Name}' cannot be exported"),
    };

    /// <summary>Writes the so3 descriptor file (PyXtal_FF's layout) for the given element order.</summary>
    public static string DescriptorText(So3 so3, IReadOnlyList<string> symbols)
    {
        var p = so3.Parameters;
        var idx = symbols.Select(s =>
        {
            int e = p.Elements.ToList().IndexOf(s);
            if (e < 0) throw new MlipException($"the so3 descriptor has no element {s} (it has {string.Join(" ", p.Elements)})");
            return e;
        }).ToArray();
        if (p.Elements.Count != symbols.Count)
            throw new MlipException($"the so3 descriptor's elements ({string.Join(" ", p.Elements)}) differ from the model's ({string.Join(" ", symbols)}); LAMMPS needs one list");
        var d = new StringBuilder();
        d.AppendLine("# LAMMPS ML-IAP so3 descriptor written by Mlip");
        d.AppendLine();
        d.AppendLine($"rcutfac {R(p.Rcutfac)}");
        d.AppendLine($"nmax {p.Nmax}");
        d.AppendLine($"lmax {p.Lmax}");
        d.AppendLine($"alpha {R(p.Alpha)}");
        d.AppendLine();
        d.AppendLine($"nelems {idx.Length}");
        d.AppendLine($"elems {string.Join(" ", idx.Select(e => p.Elements[e]))}");
        d.AppendLine($"radelems {string.Join(" ", idx.Select(e => R(p.RadiusOf(e))))}");
        d.AppendLine($"welems {string.Join(" ", idx.Select(e => R(p.WeightOf(e))))}");
        return d.ToString();
    }

    /// <summary>Writes the sna descriptor file for the given element order.</summary>
    public static string DescriptorText(BispectrumSo4 so4, IReadOnlyList<string> symbols)
    {
        var p = so4.Parameters;
        if (p.WSelf != 1.0) throw new MlipException($"LAMMPS's SNA fixes wself = 1; this descriptor uses wself = {p.WSelf}");
        if (p.QuadraticFlag) throw new MlipException("the mliap sna descriptor has no quadratic bispectrum features (quadraticflag); export a model on linear so4 features");
        var els = symbols.Select(s =>
        {
            var el = p.Elements.FirstOrDefault(x => x.Symbol == s);
            if (el.Symbol is null) throw new MlipException($"the so4 descriptor has no radelem/wj for {s}");
            return el;
        }).ToList();
        var d = new StringBuilder();
        d.AppendLine("# LAMMPS ML-IAP sna descriptor written by Mlip");
        d.AppendLine();
        d.AppendLine($"rcutfac {R(p.RcutFac)}");
        d.AppendLine($"twojmax {p.TwoJMax}");
        d.AppendLine($"nelems {els.Count}");
        d.AppendLine($"elems {string.Join(" ", els.Select(e => e.Symbol))}");
        d.AppendLine($"radelems {string.Join(" ", els.Select(e => R(e.Radius)))}");
        d.AppendLine($"welems {string.Join(" ", els.Select(e => R(e.Weight)))}");
        d.AppendLine($"rfac0 {R(p.Rfac0)}");
        d.AppendLine($"rmin0 {R(p.Rmin0)}");
        d.AppendLine($"bzeroflag {(p.BzeroFlag ? 1 : 0)}");
        d.AppendLine($"switchflag {(p.SwitchFlag ? 1 : 0)}");
        return d.ToString();
    }

    /// <summary>Writes the model file (nn, linear or quadratic).</summary>
    public static string ModelText(IAtomicModel model, string name = "mlip") => model switch
    {
        NeuralNetworkModel nn => ModelText(nn, name),
        PolynomialModel poly => ModelText(poly, name),
        _ => throw new MlipException($"pair_style mliap has the models nn, linear and quadratic; a '{model.Kind}' model cannot be exported"),
    };

    /// <summary>
    /// Writes a linear or quadratic model file: the normalisation folded into the coefficients
    /// (<see cref="Snap.Fold"/>), the quadratic diagonal doubled (LAMMPS's ½β_kk B_k²), one number per line.
    /// </summary>
    public static string ModelText(PolynomialModel poly, string name = "mlip")
    {
        int k = poly.FeatureCount;
        int nparams = PolynomialModel.CoefficientsPerElement(poly.Order, k);
        var m = new StringBuilder();
        m.AppendLine($"# LAMMPS ML-IAP {ModelStyle(poly)} model written by Mlip ({name}); elements {string.Join(" ", poly.Elements.Select(Elements.Symbol))}");
        m.AppendLine($"# per element: beta0, {k} linear{(poly.Order == 2 ? $", {k * (k + 1) / 2} quadratic (upper triangle, row by row)" : "")}");
        m.AppendLine($"{poly.Elements.Count} {nparams}");
        for (int e = 0; e < poly.Elements.Count; e++)
        {
            var beta = Snap.Fold(poly, e);
            if (poly.Order == 2)
            {
                int q = 1 + k;
                for (int a = 0; a < k; a++)
                    for (int b = a; b < k; b++, q++)
                        if (a == b) beta[q] *= 2; // LAMMPS's ½β_kk B_k²
            }
            foreach (double b in beta) m.AppendLine(R(b));
        }
        return m.ToString();
    }

    /// <summary>Writes the nn model part; all elements must share one architecture and activation (one NET line in LAMMPS).</summary>
    public static string ModelText(NeuralNetworkModel nn, string name = "mlip")
    {
        var first = nn.Networks[0];
        var sizes = first.Layers.Select(l => l.Out).ToArray();
        for (int e = 1; e < nn.Networks.Length; e++)
        {
            var n = nn.Networks[e];
            if (n.Activation != first.Activation || !n.Layers.Select(l => l.Out).SequenceEqual(sizes))
                throw new MlipException("LAMMPS pair_style mliap (model nn) has one layer layout and activation for all elements; the networks of this model differ between elements");
        }
        string act = ActivationName(first.Activation);
        int k = nn.FeatureCount;
        int nparams = first.Layers.Sum(l => (l.In + 1) * l.Out);
        var m = new StringBuilder();
        m.AppendLine($"# LAMMPS ML-IAP nn model written by Mlip ({name}); elements {string.Join(" ", nn.Elements.Select(Elements.Symbol))}");
        m.AppendLine();
        m.AppendLine($"{nn.Elements.Count} {nparams}");
        m.AppendLine();
        var net = new StringBuilder($"NET {k} {sizes.Length}");
        for (int l = 0; l < sizes.Length; l++) net.Append($" {(l == sizes.Length - 1 ? "linear" : act)} {sizes[l]}");
        m.AppendLine(net.ToString());
        for (int e = 0; e < nn.Elements.Count; e++)
        {
            m.AppendLine();
            m.AppendLine($"# {Elements.Symbol(nn.Elements[e])}: {k} means, {k} scales, {nparams} weights (per node: bias, weights)");
            foreach (double v in nn.Mean) m.AppendLine(R(v));
            foreach (double v in nn.Scale) m.AppendLine(R(v));
            var layers = nn.Networks[e].Layers;
            for (int l = 0; l < layers.Count; l++)
            {
                var layer = layers[l];
                for (int o = 0; o < layer.Out; o++)
                {
                    double bias = layer.Bias[o];
                    if (l == layers.Count - 1) bias += nn.EnergyOffsets[e];
                    m.AppendLine(R(bias));
                    for (int a = 0; a < layer.In; a++) m.AppendLine(R(layer.Weights[o * layer.In + a]));
                }
            }
        }
        return m.ToString();
    }

    /// <summary>
    /// Writes a linear, quadratic or neural-network model on so4 or so3 as LAMMPS ML-IAP files. Refuses other
    /// descriptors and models, activations LAMMPS lacks (softplus, silu), per-element network architectures,
    /// wself ≠ 1 and quadratic so4 features (sna has no quadraticflag).
    /// </summary>
    public static Files Export(Potential potential, string name = "mlip")
    {
        string style = ModelStyle(potential.Model);
        string desc = DescriptorStyle(potential.Descriptor);
        var symbols = potential.Model.Elements.Select(Elements.Symbol).ToArray();
        int k = potential.Descriptor switch
        {
            BispectrumSo4 so4 => So4Parameters.ComponentCount(so4.Parameters.TwoJMax),
            _ => potential.Descriptor.FeatureCount,
        };
        string descriptor = DescriptorText(potential.Descriptor, symbols); // refuses settings LAMMPS lacks (wself, quadraticflag)
        if (potential.Model.FeatureCount != k) throw new MlipException($"the model has {potential.Model.FeatureCount} inputs, LAMMPS's {desc} gives {k} descriptors");
        string model = ModelText(potential.Model, potential.Name);
        string list = string.Join(" ", symbols);
        string snippet = $"""
            # pair_style mliap with the {style} model on {desc} exported by Mlip; atom types 1.. are {list}
            pair_style      mliap model {style} {name}.mliap.model descriptor {desc} {name}.mliap.descriptor
            pair_coeff      * * {list}

            """;
        return new Files(name + ".mliap.descriptor", descriptor, name + ".mliap.model", model, snippet);
    }

    /// <summary>
    /// Writes X.mliap.model, X.mliap.descriptor, X.mliap (the pair_style/pair_coeff lines, for LAMMPS's
    /// <c>include</c> or Mlip's loaders) and in.lammps into a folder, each atomically; returns the paths
    /// (model, descriptor, X.mliap, in.lammps).
    /// </summary>
    public static string[] Write(Potential potential, string directory, string name = "mlip")
    {
        var f = Export(potential, name);
        return InteropFiles.WriteAll(directory, (f.ModelName, f.Model), (f.DescriptorName, f.Descriptor), (name + ".mliap", f.InputSnippet), ("in.lammps", f.InputSnippet));
    }
}
