using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Descriptors;

/// <summary>
/// Atom-centred symmetry functions G2, G4, G5, element-resolved (ACSF) or weighted by atomic number
/// (wACSF), with exact derivatives with respect to every pair vector. See <see cref="AcsfParameters"/>.
/// Feature order: G2 (per neighbour element, then per term), G4 (per element pair, then per term),
/// G5 likewise; with wACSF weighting there is one channel.
/// </summary>
public sealed class Acsf : IDescriptor
{
    private readonly AcsfParameters _p;
    private readonly int[] _elementZ;
    private readonly int _channels2, _channels3;
    private readonly string[] _names;
    private readonly CutoffFunction _fc;

    public Acsf(AcsfParameters parameters)
    {
        _p = parameters;
        if (!(parameters.Cutoff > 0)) throw new MlipException("ACSF cutoff must be positive");
        foreach (var a in parameters.G4) CheckZeta(a);
        foreach (var a in parameters.G5) CheckZeta(a);
        _fc = new CutoffFunction(parameters.CutoffFunction, parameters.Cutoff);
        _elementZ = new int[parameters.Elements.Count];
        for (int e = 0; e < _elementZ.Length; e++) _elementZ[e] = Elements.Number(parameters.Elements[e]);
        bool resolved = parameters.Weighting == AcsfWeighting.ElementResolved;
        _channels2 = resolved ? _elementZ.Length : 1;
        _channels3 = resolved ? _elementZ.Length * (_elementZ.Length + 1) / 2 : 1;
        FeatureCount = _channels2 * parameters.G2.Count + _channels3 * (parameters.G4.Count + parameters.G5.Count);
        _names = BuildNames();
    }

    private static void CheckZeta(AngularTerm a)
    {
        if (!(a.Zeta >= 1)) throw new MlipException($"ACSF angular term needs zeta >= 1 (got {a.Zeta})");
        if (Math.Abs(a.Lambda) != 1) throw new MlipException($"ACSF angular term needs lambda = +1 or -1 (got {a.Lambda})");
    }

    public string Name => _p.Weighting == AcsfWeighting.ElementResolved ? "acsf" : "wacsf";
    public double Cutoff => _p.Cutoff;
    public int FeatureCount { get; }
    public IReadOnlyList<string> FeatureNames => _names;
    public AcsfParameters Parameters => _p;

    private string[] BuildNames()
    {
        var names = new List<string>();
        string F(double v) => AcsfParameters.Format(v);
        var sym = _p.Elements;
        bool resolved = _p.Weighting == AcsfWeighting.ElementResolved;
        for (int c = 0; c < _channels2; c++)
            foreach (var t in _p.G2)
                names.Add($"G2[{(resolved ? sym[c] : "Z")}](eta={F(t.Eta)},Rs={F(t.Rs)})");
        foreach (var (kind, terms) in new[] { ("G4", _p.G4), ("G5", _p.G5) })
            for (int c = 0; c < _channels3; c++)
                foreach (var t in terms)
                    names.Add($"{kind}[{(resolved ? PairName(c) : "ZZ")}](eta={F(t.Eta)},zeta={F(t.Zeta)},lambda={F(t.Lambda)})");
        return [.. names];
    }

    private string PairName(int channel)
    {
        int n = _elementZ.Length, c = 0;
        for (int a = 0; a < n; a++)
            for (int b = a; b < n; b++, c++)
                if (c == channel) return _p.Elements[a] + _p.Elements[b];
        return "?";
    }

    /// <summary>Channel of an unordered element pair (a ≤ b) among n elements.</summary>
    private static int PairChannel(int a, int b, int n)
    {
        if (a > b) (a, b) = (b, a);
        return a * n - a * (a - 1) / 2 + (b - a);
    }

    public DescriptorSet Compute(Structure s, bool derivatives, NeighborList? neighbors = null)
    {
        var nl = neighbors is not null && neighbors.Cutoff >= _p.Cutoff ? neighbors : NeighborList.Build(s, _p.Cutoff);
        int n = s.Count, k = FeatureCount;
        var values = new double[n * k];
        double[]? grad = derivatives ? new double[nl.PairCount * k * 3] : null;

        // element index (or weight) of every atom
        bool resolved = _p.Weighting == AcsfWeighting.ElementResolved;
        var channel = new int[n];
        var weight = new double[n];
        for (int i = 0; i < n; i++)
        {
            int z = s.AtomicNumbers[i];
            weight[i] = z;
            channel[i] = Array.IndexOf(_elementZ, z);
            if (resolved && channel[i] < 0)
                throw new MlipInputException(s.Source ?? InputLocation.Unknown,
                    $"element {Elements.Symbol(z)} is not among the ACSF elements ({string.Join(' ', _p.Elements)})");
        }

        int maxNeigh = 0;
        for (int i = 0; i < n; i++) maxNeigh = Math.Max(maxNeigh, nl.NeighborCount(i));
        var scratch = new PairScratch(maxNeigh);
        var vectors = nl.Vectors;
        var distances = nl.Distances;
        var neighborIndex = nl.Neighbors;
        int g2Count = _p.G2.Count, g4Count = _p.G4.Count, g5Count = _p.G5.Count;
        int g4Offset = _channels2 * g2Count;
        int g5Offset = g4Offset + _channels3 * g4Count;
        int ne = _elementZ.Length;

        for (int i = 0; i < n; i++)
        {
            var x = values.AsSpan(i * k, k);
            // pairs of i inside the cutoff
            int m = 0;
            foreach (int p in nl.PairRange(i))
            {
                double r = distances[p];
                if (r >= _p.Cutoff) continue;
                int j = neighborIndex[p];
                scratch.Pair[m] = p;
                scratch.R[m] = r;
                scratch.V[m] = vectors[p];
                scratch.Fc[m] = _fc.Evaluate(r, out scratch.Dfc[m]);
                scratch.Channel[m] = resolved ? channel[j] : 0;
                scratch.Weight[m] = resolved ? 1.0 : weight[j];
                m++;
            }

            // G2
            for (int a = 0; a < m; a++)
            {
                double r = scratch.R[a], fc = scratch.Fc[a], dfc = scratch.Dfc[a], w = scratch.Weight[a];
                int baseF = scratch.Channel[a] * g2Count;
                var u = scratch.V[a] / r;
                int p = scratch.Pair[a];
                for (int t = 0; t < g2Count; t++)
                {
                    var term = _p.G2[t];
                    double d = r - term.Rs;
                    double e = Math.Exp(-term.Eta * d * d);
                    x[baseF + t] += w * e * fc;
                    if (grad is null) continue;
                    double dr = w * e * (dfc - 2 * term.Eta * d * fc);
                    int o = (p * k + baseF + t) * 3;
                    grad[o] += dr * u.X; grad[o + 1] += dr * u.Y; grad[o + 2] += dr * u.Z;
                }
            }

            if (g4Count + g5Count == 0) continue;
            // G4 and G5 over unordered neighbour pairs
            for (int a = 0; a < m; a++)
                for (int b = a + 1; b < m; b++)
                {
                    var r1 = scratch.V[a]; var r2 = scratch.V[b];
                    double d1 = scratch.R[a], d2 = scratch.R[b];
                    double cos = Vec3.Dot(r1, r2) / (d1 * d2);
                    var dcos1 = r2 / (d1 * d2) - (cos / (d1 * d1)) * r1;
                    var dcos2 = r1 / (d1 * d2) - (cos / (d2 * d2)) * r2;
                    var u1 = r1 / d1; var u2 = r2 / d2;
                    double w = scratch.Weight[a] * scratch.Weight[b];
                    int ch = resolved ? PairChannel(scratch.Channel[a], scratch.Channel[b], ne) : 0;
                    int pa = scratch.Pair[a], pb = scratch.Pair[b];
                    double fc1 = scratch.Fc[a], fc2 = scratch.Fc[b], dfc1 = scratch.Dfc[a], dfc2 = scratch.Dfc[b];

                    if (g4Count > 0)
                    {
                        var r3 = r2 - r1;
                        double d3 = r3.Norm;
                        if (d3 < _p.Cutoff)
                        {
                            double fc3 = _fc.Evaluate(d3, out double dfc3);
                            var u3 = r3 / d3;
                            for (int t = 0; t < g4Count; t++)
                                AngularTerm(_p.G4[t], cos, dcos1, dcos2, d1, d2, d3, fc1, fc2, fc3, dfc1, dfc2, dfc3, u1, u2, u3, w,
                                    x, grad, g4Offset + ch * g4Count + t, pa, pb, k, withThird: true);
                        }
                    }
                    for (int t = 0; t < g5Count; t++)
                        AngularTerm(_p.G5[t], cos, dcos1, dcos2, d1, d2, 0, fc1, fc2, 1, dfc1, dfc2, 0, u1, u2, Vec3.Zero, w,
                            x, grad, g5Offset + ch * g5Count + t, pa, pb, k, withThird: false);
                }
        }
        return new DescriptorSet(n, k, values, nl, grad);
    }

    /// <summary>One angular term T = c (1 + λ cos)^ζ Π_k exp(−η d_k²) fc(d_k), added to x[f] and its gradients.</summary>
    private static void AngularTerm(AngularTerm term, double cos, Vec3 dcos1, Vec3 dcos2,
        double d1, double d2, double d3, double fc1, double fc2, double fc3, double dfc1, double dfc2, double dfc3,
        Vec3 u1, Vec3 u2, Vec3 u3, double w, Span<double> x, double[]? grad, int f, int pa, int pb, int k, bool withThird)
    {
        double basis = 1 + term.Lambda * cos;
        if (basis <= 0) return; // (1 + λcos)^ζ = 0 and so is its derivative for ζ >= 1 ... except ζ = 1 at the edge
        double c = w * Math.Pow(2, 1 - term.Zeta);
        double ang = Math.Pow(basis, term.Zeta);
        double dang = term.Zeta * term.Lambda * Math.Pow(basis, term.Zeta - 1);
        double e1 = Math.Exp(-term.Eta * d1 * d1), e2 = Math.Exp(-term.Eta * d2 * d2);
        double g1 = e1 * fc1, g2 = e2 * fc2;
        double dg1 = e1 * (dfc1 - 2 * term.Eta * d1 * fc1);
        double dg2 = e2 * (dfc2 - 2 * term.Eta * d2 * fc2);
        double g3 = 1, dg3 = 0;
        if (withThird)
        {
            double e3 = Math.Exp(-term.Eta * d3 * d3);
            g3 = e3 * fc3;
            dg3 = e3 * (dfc3 - 2 * term.Eta * d3 * fc3);
        }
        double radial = g1 * g2 * g3;
        x[f] += c * ang * radial;
        if (grad is null) return;
        // ∂T/∂r1 = c [ang' R ∂cos/∂r1 + ang (∂R/∂d1 u1 − ∂R/∂d3 u3)],  ∂T/∂r2 = c [ang' R ∂cos/∂r2 + ang (∂R/∂d2 u2 + ∂R/∂d3 u3)]
        double dR1 = dg1 * g2 * g3, dR2 = g1 * dg2 * g3, dR3 = g1 * g2 * dg3;
        var t1 = c * (dang * radial * dcos1 + ang * (dR1 * u1 - dR3 * u3));
        var t2 = c * (dang * radial * dcos2 + ang * (dR2 * u2 + dR3 * u3));
        int oa = (pa * k + f) * 3, ob = (pb * k + f) * 3;
        grad[oa] += t1.X; grad[oa + 1] += t1.Y; grad[oa + 2] += t1.Z;
        grad[ob] += t2.X; grad[ob + 1] += t2.Y; grad[ob + 2] += t2.Z;
    }

    /// <summary>Per-centre scratch arrays, allocated once per structure (no allocation per neighbour).</summary>
    private sealed class PairScratch(int capacity)
    {
        public readonly int[] Pair = new int[capacity];
        public readonly double[] R = new double[capacity];
        public readonly Vec3[] V = new Vec3[capacity];
        public readonly double[] Fc = new double[capacity];
        public readonly double[] Dfc = new double[capacity];
        public readonly int[] Channel = new int[capacity];
        public readonly double[] Weight = new double[capacity];
    }
}
