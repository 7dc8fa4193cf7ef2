using System.Globalization;
using System.Text;
using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Interop;

/// <summary>
/// LAMMPS <c>pair_style mliap model nn FILE.mliap.model descriptor sna FILE.mliap.descriptor</c> export of
/// a <see cref="NeuralNetworkModel"/> on the so4 descriptor (package ML-IAP, LAMMPS 20220106).
/// <para>
/// The descriptor file (mliap_descriptor_snap.cpp) takes one 'keyword value' per line: rcutfac, twojmax,
/// nelems, elems/radelems/welems (one value per element), rfac0, rmin0, bzeroflag, switchflag (chemflag,
/// bnormflag, wselfallflag stay 0). The model file (mliap_model_nn.cpp) is 'nelements nparams', then
/// 'NET ndescriptors nlayers act1 n1 act2 n2 ...' (act: linear, sigmoid, tanh, relu; n: nodes of the layer,
/// the last layer one node), then per element: ndescriptors means, ndescriptors scales
/// (LAMMPS uses (B − mean)/scale, as Mlip), and nparams weights: layer by layer, node by node, the bias
/// followed by the node's input weights (Mlip's row-major [Out, In] rows with the bias prepended).
/// The atom's energy is the output node; there is no constant, so Mlip's per-element energy offset is
/// added to the last layer's bias (exact: the last layer is linear).
/// </para>
/// </summary>
public static class Mliap
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The exported files: X.mliap.descriptor, X.mliap.model and the in.lammps snippet.</summary>
    public sealed record Files(string DescriptorName, string Descriptor, string ModelName, string Model, string InputSnippet);

    /// <summary>Whether <see cref="Export"/> applies (a neural network on so4); other potentials go to pair_style snap.</summary>
    public static bool Handles(Potential potential) => potential.Model is NeuralNetworkModel;

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

    /// <summary>Writes the descriptor part (sna) for the given element order.</summary>
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
    /// Writes a neural network on so4 as LAMMPS ML-IAP files. Refuses other descriptors, activations LAMMPS
    /// lacks (softplus, silu), per-element architectures, wself ≠ 1 and quadratic so4 features.
    /// </summary>
    public static Files Export(Potential potential, string name = "mlip")
    {
        if (potential.Model is not NeuralNetworkModel nn)
            throw new MlipException($"pair_style mliap export handles neural-network models; this is a '{potential.Model.Kind}' model (polynomial models go to pair_style snap)");
        if (potential.Descriptor is not BispectrumSo4 so4)
            throw new MlipException($"only models on the so4 (SNAP bispectrum) descriptor can be exported to pair_style mliap (descriptor sna); this model uses '{potential.Spec.Type}' ({potential.Descriptor.Name})");
        var symbols = nn.Elements.Select(Elements.Symbol).ToArray();
        int k = So4Parameters.ComponentCount(so4.Parameters.TwoJMax);
        if (nn.FeatureCount != k) throw new MlipException($"internal: the network has {nn.FeatureCount} inputs, LAMMPS's sna {k} descriptors");
        string descriptor = DescriptorText(so4, symbols);
        string model = ModelText(nn, potential.Name);
        string list = string.Join(" ", symbols);
        string snippet = $"""
            # pair_style mliap with the neural network exported by Mlip; atom types 1.. are {list}
            pair_style      mliap model nn {name}.mliap.model descriptor sna {name}.mliap.descriptor
            pair_coeff      * * {list}

            """;
        return new Files(name + ".mliap.descriptor", descriptor, name + ".mliap.model", model, snippet);
    }

    /// <summary>Writes X.mliap.model, X.mliap.descriptor and in.lammps into a folder (atomically); returns the paths (model, descriptor, input).</summary>
    public static string[] Write(Potential potential, string directory, string name = "mlip")
    {
        var f = Export(potential, name);
        return InteropFiles.WriteAll(directory, (f.ModelName, f.Model), (f.DescriptorName, f.Descriptor), ("in.lammps", f.InputSnippet));
    }
}
