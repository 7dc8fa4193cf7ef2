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
    private readonly AngularSet _g4, _g5;

    /// <summary>
    /// Angular terms grouped so that each triplet evaluates every distinct η once (one exp) and every
    /// distinct (ζ, λ) once (one power), then combines them per term.
    /// </summary>
    private sealed class AngularSet
    {
        public readonly double[] Etas, Zetas, Lambdas, Prefactor;
        public readonly int[] EtaOf, ZlOf;
        public readonly int Count;

        public AngularSet(IReadOnlyList<AngularTerm> terms)
        {
            Count = terms.Count;
            var etas = new List<double>();
            var zl = new List<(double, double)>();
            EtaOf = new int[Count]; ZlOf = new int[Count]; Prefactor = new double[Count];
            for (int t = 0; t < Count; t++)
            {
                var a = terms[t];
                int e = etas.IndexOf(a.Eta);
                if (e < 0) { e = etas.Count; etas.Add(a.Eta); }
                int z = zl.IndexOf((a.Zeta, a.Lambda));
                if (z < 0) { z = zl.Count; zl.Add((a.Zeta, a.Lambda)); }
                EtaOf[t] = e; ZlOf[t] = z;
                Prefactor[t] = Math.Pow(2, 1 - a.Zeta);
            }
            Etas = [.. etas];
            Zetas = [.. zl.Select(x => x.Item1)];
            Lambdas = [.. zl.Select(x => x.Item2)];
        }
    }
    public Acsf(AcsfParameters parameters)
    {
        _p = parameters;
        if (!(parameters.Cutoff > 0 && parameters.Cutoff <= DescriptorLimits.MaxCutoff)) throw new MlipException($"ACSF cutoff must be in (0, {DescriptorLimits.MaxCutoff}] Å");
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
        _g4 = new AngularSet(parameters.G4);
        _g5 = new AngularSet(parameters.G5);
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
        int g2Count = _p.G2.Count, g4Count = _p.G4.Count, g5Count = _p.G5.Count;
        int g4Offset = _channels2 * g2Count;
        int g5Offset = g4Offset + _channels3 * g4Count;
        int ne = _elementZ.Length;

        // every centre writes only its own row and the blocks of its own pairs: parallel over blocks of centres, the same bits on any thread count
        MlipParallel.ForChunks(n, 16, () =>
        {
            var sc = new PairScratch(maxNeigh);
            sc.SizeAngular(Math.Max(_g4.Etas.Length, _g5.Etas.Length), Math.Max(_g4.Zetas.Length, _g5.Zetas.Length));
            return sc;
        }, (first, end, scratch) =>
        {
            var vectors = nl.Vectors;
            var distances = nl.Distances;
            var neighborIndex = nl.Neighbors;
            for (int i = first; i < end; i++)
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
                                Triplet(_g4, scratch, cos, d1, d2, d3, fc1, fc2, fc3, dfc1, dfc2, dfc3, w, x, grad,
                                    g4Offset + ch * g4Count, pa, pb, u1, u2, k, withThird: true);
                            }
                        }
                        if (g5Count > 0)
                            Triplet(_g5, scratch, cos, d1, d2, 0, fc1, fc2, 1, dfc1, dfc2, 0, w, x, grad,
                                g5Offset + ch * g5Count, pa, pb, u1, u2, k, withThird: false);
                    }
            }
        });
        return new DescriptorSet(n, k, values, nl, grad);
    }

    /// <summary>
    /// All terms of one angular set for the triplet (i, j, k): T = c (1 + λ cos)^ζ R with
    /// R = Π exp(−η d²) fc(d). With A = (1 + λ cos)^ζ and ∂cos/∂r1 = (u2 − cos u1)/d1,
    /// ∂T/∂r1 = c [A' R (u2 − cos u1)/d1 + A (∂R/∂d1 u1 − ∂R/∂d3 u3)], u3 = (d2 u2 − d1 u1)/d3,
    /// and likewise for r2, so each gradient is a combination of u1 and u2.
    /// </summary>
    private static void Triplet(AngularSet set, PairScratch scratch, double cos, double d1, double d2, double d3,
        double fc1, double fc2, double fc3, double dfc1, double dfc2, double dfc3, double w, Span<double> x, double[]? grad,
        int firstFeature, int pa, int pb, Vec3 u1, Vec3 u2, int k, bool withThird)
    {
        var R = scratch.R3; var dR1 = scratch.DR1; var dR2 = scratch.DR2; var dR3 = scratch.DR3;
        var A = scratch.A; var dA = scratch.DA;
        double s2 = d1 * d1 + d2 * d2 + (withThird ? d3 * d3 : 0);
        double f12 = fc1 * fc2, f123 = f12 * fc3;
        for (int e = 0; e < set.Etas.Length; e++)
        {
            double eta = set.Etas[e];
            double ex = Math.Exp(-eta * s2);
            R[e] = ex * f123;
            dR1[e] = ex * (dfc1 - 2 * eta * d1 * fc1) * fc2 * fc3;
            dR2[e] = ex * fc1 * (dfc2 - 2 * eta * d2 * fc2) * fc3;
            dR3[e] = withThird ? ex * f12 * (dfc3 - 2 * eta * d3 * fc3) : 0;
        }
        for (int z = 0; z < set.Zetas.Length; z++)
        {
            double zeta = set.Zetas[z], lambda = set.Lambdas[z];
            double basis = 1 + lambda * cos;
            if (basis <= 0) { A[z] = 0; dA[z] = 0; continue; }
            double pm1 = Power(basis, zeta - 1);
            A[z] = pm1 * basis;
            dA[z] = zeta * lambda * pm1;
        }
        double inv1 = 1 / d1, inv2 = 1 / d2, d1over3 = withThird ? d1 / d3 : 0, d2over3 = withThird ? d2 / d3 : 0;
        for (int t = 0; t < set.Count; t++)
        {
            int e = set.EtaOf[t], z = set.ZlOf[t];
            double c = w * set.Prefactor[t];
            double a = A[z], ar = dA[z] * R[e];
            x[firstFeature + t] += c * a * R[e];
            if (grad is null) continue;
            double cA = c * a;
            // ∂T/∂r1 = α1 u1 + β1 u2, ∂T/∂r2 = α2 u1 + β2 u2
            double alpha1 = c * (-ar * cos * inv1) + cA * (dR1[e] + dR3[e] * d1over3);
            double beta1 = c * ar * inv1 - cA * dR3[e] * d2over3;
            double alpha2 = c * ar * inv2 - cA * dR3[e] * d1over3;
            double beta2 = c * (-ar * cos * inv2) + cA * (dR2[e] + dR3[e] * d2over3);
            int oa = (pa * k + firstFeature + t) * 3, ob = (pb * k + firstFeature + t) * 3;
            grad[oa] += alpha1 * u1.X + beta1 * u2.X;
            grad[oa + 1] += alpha1 * u1.Y + beta1 * u2.Y;
            grad[oa + 2] += alpha1 * u1.Z + beta1 * u2.Z;
            grad[ob] += alpha2 * u1.X + beta2 * u2.X;
            grad[ob + 1] += alpha2 * u1.Y + beta2 * u2.Y;
            grad[ob + 2] += alpha2 * u1.Z + beta2 * u2.Z;
        }
    }

    /// <summary>x^p, by repeated multiplication for small whole p (the usual ζ = 1, 2, 4, 8, 16).</summary>
    private static double Power(double x, double p)
    {
        if (p == 0) return 1;
        if (p == Math.Floor(p) && p > 0 && p <= 64)
        {
            int n = (int)p;
            double result = 1, b = x;
            while (n > 0)
            {
                if ((n & 1) != 0) result *= b;
                b *= b;
                n >>= 1;
            }
            return result;
        }
        return Math.Pow(x, p);
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
        // per-triplet values by distinct η and by distinct (ζ, λ)
        public double[] R3 = [], DR1 = [], DR2 = [], DR3 = [], A = [], DA = [];

        public void SizeAngular(int etas, int zetaLambdas)
        {
            if (R3.Length < etas) { R3 = new double[etas]; DR1 = new double[etas]; DR2 = new double[etas]; DR3 = new double[etas]; }
            if (A.Length < zetaLambdas) { A = new double[zetaLambdas]; DA = new double[zetaLambdas]; }
        }
    }
}
