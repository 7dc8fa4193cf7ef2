using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Models;

/// <summary>
/// A model whose atom energies depend on the neighbourhood geometry as well as on the features (PINN:
/// the features give parameters, the parameters and the geometry give E_i). <see cref="Potential"/>
/// calls <see cref="Evaluate(DescriptorSet, ReadOnlySpan{int}, Span{double}, Span{double}, ForceSum?)"/>
/// with a neighbour list that reaches <see cref="GeometryCutoff"/>.
/// </summary>
public interface IGeometricModel : IAtomicModel
{
    /// <summary>Radius the explicit geometry term needs (Å).</summary>
    double GeometryCutoff { get; }

    /// <summary>
    /// E_i, dE_i/dX_i (the feature path, when <paramref name="dEdX"/> is not empty) and the explicit
    /// pair-vector gradients ∂E/∂r_ij at fixed features added to <paramref name="explicitGradients"/>.
    /// </summary>
    void Evaluate(DescriptorSet set, ReadOnlySpan<int> atomicNumbers, Span<double> atomEnergies, Span<double> dEdX, ForceSum? explicitGradients);
}

/// <summary>
/// Physically informed neural network (docs/pinn.md): per element a network maps the standardised
/// PINN features (G_i − mean)/scale to corrections Δp_i of the bond-order parameters, p_i = p0 + Δp_i,
/// and E_i is the bond-order energy with p_i. Forces: the BOP's own gradient at fixed p_i plus
/// (∂E_i/∂p_i)·(∂p_i/∂G_i)·(∂G_i/∂r) through the feature derivative blocks.
/// </summary>
public sealed class PinnModel : IGeometricModel
{
    public PinnModel(int[] elements, int featureCount, double cutoff, double cutoffRange, double[][] baseParameters, Mlp[] networks, double[] mean, double[] scale)
    {
        var layout = new PinnBopLayout(elements.Length);
        if (baseParameters.Length != elements.Length || baseParameters.Any(p => p.Length != layout.SetSize))
            throw new ArgumentException($"one base set of {layout.SetSize} parameters per element");
        if (networks.Length != elements.Length) throw new ArgumentException("one network per element");
        foreach (var n in networks)
        {
            if (n.Layers.Count == 0 || n.Layers[0].In != featureCount || n.Layers[^1].Out != layout.SetSize)
                throw new ArgumentException($"each network must map {featureCount} features to {layout.SetSize} parameters");
            for (int l = 1; l < n.Layers.Count; l++)
                if (n.Layers[l].In != n.Layers[l - 1].Out) throw new ArgumentException("layer sizes do not chain");
        }
        if (mean.Length != featureCount || scale.Length != featureCount) throw new ArgumentException("mean and scale need one value per feature");
        Elements = elements;
        FeatureCount = featureCount;
        Cutoff = cutoff;
        CutoffRange = cutoffRange;
        BaseParameters = baseParameters;
        Networks = networks;
        Mean = mean;
        Scale = scale;
        Layout = layout;
    }

    /// <summary>A PINN whose networks output zero: the plain BOP with <paramref name="baseParameters"/>.</summary>
    public static PinnModel PlainBop(int[] elements, int featureCount, double cutoff, double cutoffRange, double[][] baseParameters, IReadOnlyList<int> hidden, Activation activation, Random rng)
    {
        var layout = new PinnBopLayout(elements.Length);
        var nets = new Mlp[elements.Length];
        for (int e = 0; e < nets.Length; e++)
        {
            var sizes = new List<int> { featureCount };
            sizes.AddRange(hidden);
            sizes.Add(layout.SetSize);
            var layers = new List<DenseLayer>();
            for (int l = 0; l + 1 < sizes.Count; l++)
            {
                int fin = sizes[l], fout = sizes[l + 1];
                bool last = l + 2 == sizes.Count;
                double limit = Math.Sqrt(6.0 / (fin + fout));
                var w = new double[fin * fout];
                if (!last) for (int q = 0; q < w.Length; q++) w[q] = (2 * rng.NextDouble() - 1) * limit;
                layers.Add(new DenseLayer(fin, fout, w, new double[fout]));
            }
            nets[e] = new Mlp(layers, activation);
        }
        var mean = new double[featureCount];
        var scale = Enumerable.Repeat(1.0, featureCount).ToArray();
        return new PinnModel(elements, featureCount, cutoff, cutoffRange, baseParameters, nets, mean, scale);
    }

    public string Kind => "pinn";
    public IReadOnlyList<int> Elements { get; }
    public int FeatureCount { get; }
    public double Cutoff { get; }
    public double CutoffRange { get; }
    public double GeometryCutoff => 1.5 * Cutoff;
    public double[][] BaseParameters { get; }
    public Mlp[] Networks { get; }
    public double[] Mean { get; }
    public double[] Scale { get; }
    public PinnBopLayout Layout { get; }

    void IAtomicModel.Evaluate(ReadOnlySpan<double> features, ReadOnlySpan<int> atomicNumbers, Span<double> atomEnergies, Span<double> dEdX) =>
        throw new InvalidOperationException("a PINN needs the neighbourhood geometry: evaluate it through Potential");

    public int ElementIndex(int z)
    {
        for (int q = 0; q < Elements.Count; q++) if (Elements[q] == z) return q;
        throw new MlipException($"the PINN has no element {Structures.Elements.Symbol(z)}");
    }

    /// <summary>Network workspace for one thread.</summary>
    public sealed class Workspace
    {
        internal readonly double[][] Act, Der;
        internal readonly double[] Delta, Next;
        public Workspace(PinnModel m)
        {
            int width = Math.Max(m.FeatureCount, m.Networks.Max(n => n.Layers.Max(l => l.Out)));
            int depth = m.Networks.Max(n => n.Layers.Count);
            Act = new double[depth + 1][]; Der = new double[depth + 1][];
            for (int l = 0; l <= depth; l++) { Act[l] = new double[width]; Der[l] = new double[width]; }
            Delta = new double[width]; Next = new double[width];
        }
    }

    /// <summary>Δp = network_e((G − mean)/scale), written to <paramref name="dp"/>; keeps the activations in <paramref name="w"/> for <see cref="Backward"/>.</summary>
    public void Forward(int e, ReadOnlySpan<double> g, Span<double> dp, Workspace w)
    {
        var net = Networks[e];
        int k = FeatureCount;
        for (int a = 0; a < k; a++) w.Act[0][a] = (g[a] - Mean[a]) / Scale[a];
        int L = net.Layers.Count;
        for (int l = 0; l < L; l++)
        {
            var layer = net.Layers[l];
            var input = w.Act[l]; var output = w.Act[l + 1];
            bool last = l == L - 1;
            for (int o = 0; o < layer.Out; o++)
            {
                double s = layer.Bias[o];
                var row = layer.Weights.AsSpan(o * layer.In, layer.In);
                for (int a = 0; a < layer.In; a++) s += row[a] * input[a];
                if (last) { output[o] = s; w.Der[l + 1][o] = 1; }
                else output[o] = Mlp.Apply(net.Activation, s, out w.Der[l + 1][o]);
            }
        }
        for (int q = 0; q < Layout.SetSize; q++) dp[q] = w.Act[L][q];
    }

    /// <summary>dE/dG from dE/dΔp (after <see cref="Forward"/> of the same atom).</summary>
    public void Backward(int e, ReadOnlySpan<double> dEdp, Span<double> dEdG, Workspace w)
    {
        var net = Networks[e];
        int L = net.Layers.Count;
        for (int q = 0; q < Layout.SetSize; q++) w.Delta[q] = dEdp[q];
        for (int l = L - 1; l >= 0; l--)
        {
            var layer = net.Layers[l];
            for (int o = 0; o < layer.Out; o++) w.Delta[o] *= w.Der[l + 1][o];
            Array.Clear(w.Next, 0, layer.In);
            for (int o = 0; o < layer.Out; o++)
            {
                double d = w.Delta[o];
                if (d == 0) continue;
                var row = layer.Weights.AsSpan(o * layer.In, layer.In);
                for (int a = 0; a < layer.In; a++) w.Next[a] += d * row[a];
            }
            Array.Copy(w.Next, w.Delta, layer.In);
        }
        for (int a = 0; a < FeatureCount; a++) dEdG[a] = w.Delta[a] / Scale[a];
    }

    public void Evaluate(DescriptorSet set, ReadOnlySpan<int> atomicNumbers, Span<double> atomEnergies, Span<double> dEdX, ForceSum? explicitGradients)
    {
        var nl = set.Neighbors;
        if (nl.Cutoff < GeometryCutoff) throw new ArgumentException($"the PINN needs a neighbour list to {GeometryCutoff} Å");
        int n = set.Atoms, k = FeatureCount, size = Layout.SetSize;
        var types = new int[n];
        for (int i = 0; i < n; i++) types[i] = ElementIndex(atomicNumbers[i]);
        var kernel = new PinnBopKernel(Elements.Count, Cutoff, CutoffRange);
        var w = new Workspace(this);
        var p = new double[size];
        var gp = new double[size];
        var grad = new Vec3[16];
        var nt = new int[16];
        var neighbors = nl.Neighbors;
        bool wantG = !dEdX.IsEmpty;
        for (int i = 0; i < n; i++)
        {
            int t = types[i];
            Forward(t, set.Of(i), p, w);
            var p0 = BaseParameters[t];
            for (int q = 0; q < size; q++) p[q] += p0[q];
            int start = nl.Offsets[i], m = nl.Offsets[i + 1] - start;
            if (grad.Length < m) { grad = new Vec3[2 * m]; nt = new int[2 * m]; }
            for (int a = 0; a < m; a++) nt[a] = types[neighbors[start + a]];
            var vi = nl.VectorsOf(i);
            atomEnergies[i] = kernel.Energy(p, vi, nl.DistancesOf(i), nt.AsSpan(0, m),
                explicitGradients is null ? [] : grad.AsSpan(0, m), wantG ? gp : []);
            if (explicitGradients is not null)
                for (int a = 0; a < m; a++) explicitGradients.Add(i, neighbors[start + a], vi[a], grad[a]);
            if (wantG) Backward(t, gp, dEdX.Slice(i * k, k), w);
        }
    }
}
