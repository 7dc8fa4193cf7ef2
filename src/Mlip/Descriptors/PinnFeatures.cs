using Mlip.Calculators;
using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Descriptors;

/// <summary>Settings of the PINN local structural parameters (docs/pinn.md, Eqs. 6-8).</summary>
public sealed record PinnFeatureParameters
{
    /// <summary>R_c of the bond-order potential (Å); the features reach 1.5 R_c.</summary>
    public double Cutoff { get; init; } = 4.0;

    /// <summary>d_c of the cutoff function (Å).</summary>
    public double CutoffRange { get; init; } = 1.5;

    /// <summary>Width w of the Gaussians (Å).</summary>
    public double Width { get; init; } = 1.0;

    /// <summary>Gaussian centres r_0^(s) (Å, nonzero).</summary>
    public IReadOnlyList<double> Centres { get; init; } = [2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0];

    /// <summary>Legendre orders l.</summary>
    public IReadOnlyList<int> Orders { get; init; } = [0, 1, 2, 3, 4];

    /// <summary>The shift Δ added before the transform (the .pinn file's giref).</summary>
    public double Shift { get; init; }

    /// <summary>asinh transform (gimethod 2 of the .pinn file); false: the raw sums (gimethod 0).</summary>
    public bool Asinh { get; init; } = true;

    public IReadOnlyList<string> Elements { get; init; } = ["Si"];
}

/// <summary>
/// The PINN features: G = asinh(Δ + Σ_{j,k} P_l(cos θ_ijk) f_s(r_ij) f_s(r_ik)) per unordered element
/// pair (β, γ) of the neighbours, Legendre order l and Gaussian s, with
/// f_s(r) = exp(−(r − r_0^(s))²/w²) f_c(r; 1.5 R_c, d_c) / r_0^(s); the double sum includes j = k.
/// Index: block(β,γ)·(orders·centres) + l_index·centres + s (the layout of LAMMPS's pair_style pinn,
/// "kind II"). Exact per-pair derivatives (docs/pinn.md).
/// </summary>
public sealed class PinnFeatures : IDescriptor
{
    private readonly PinnFeatureParameters _p;
    private readonly double[] _centres;
    private readonly int[] _orders;
    private readonly int _lmax, _blocks, _unit;
    private readonly int[] _elementOfZ;
    private readonly int[] _blockOf; // [tb * n + tc]
    private readonly string[] _names;

    public PinnFeatures(PinnFeatureParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _p = parameters;
        if (!(parameters.Cutoff > 0) || !(parameters.CutoffRange > 0) || !(parameters.Width > 0)
            || !(parameters.Cutoff <= DescriptorLimits.MaxCutoff) || !double.IsFinite(parameters.CutoffRange) || !double.IsFinite(parameters.Width))
            throw new MlipException($"pinn features: rc, dc and width must be positive (rc at most {DescriptorLimits.MaxCutoff} Å)");
        if (!double.IsFinite(parameters.Shift)) throw new MlipException("pinn features: the shift must be finite");
        if (parameters.Centres.Count == 0 || parameters.Centres.Any(c => c == 0 || !double.IsFinite(c)))
            throw new MlipException("pinn features: need at least one nonzero Gaussian centre");
        if (parameters.Orders.Count == 0 || parameters.Orders.Any(l => l < 0 || l > DescriptorLimits.MaxLmax))
            throw new MlipException("pinn features: need at least one Legendre order ≥ 0");
        if (parameters.Elements.Count == 0) throw new MlipException("pinn features: need at least one element");
        _centres = [.. parameters.Centres];
        _orders = [.. parameters.Orders];
        _lmax = _orders.Max();
        int n = parameters.Elements.Count;
        _elementOfZ = new int[Elements.MaxAtomicNumber + 1];
        Array.Fill(_elementOfZ, -1);
        for (int e = 0; e < n; e++)
        {
            int z = Elements.Number(parameters.Elements[e]);
            if (_elementOfZ[z] >= 0) throw new MlipException($"pinn features: element {parameters.Elements[e]} is listed twice");
            _elementOfZ[z] = e;
        }
        _blocks = n * (n + 1) / 2;
        _blockOf = new int[n * n];
        int q = 0;
        for (int b = 0; b < n; b++)
            for (int c = b; c < n; c++) { _blockOf[b * n + c] = _blockOf[c * n + b] = q; q++; }
        _unit = _orders.Length * _centres.Length;
        FeatureCount = _blocks * _unit;
        _names = new string[FeatureCount];
        for (int b = 0; b < n; b++)
            for (int c = b; c < n; c++)
                for (int l = 0; l < _orders.Length; l++)
                    for (int s = 0; s < _centres.Length; s++)
                        _names[_blockOf[b * n + c] * _unit + l * _centres.Length + s] =
                            $"G[{parameters.Elements[b]},{parameters.Elements[c]}](l={_orders[l]},r0={AcsfParameters.Format(_centres[s])})";
    }

    public PinnFeatureParameters Parameters => _p;
    public string Name => "pinn";

    /// <summary>1.5 R_c: the features see as far as the screening of the bond-order potential.</summary>
    public double Cutoff => 1.5 * _p.Cutoff;
    public int FeatureCount { get; }
    public IReadOnlyList<string> FeatureNames => _names;

    /// <summary>f_s(r) and its derivative.</summary>
    private double Radial(int s, double r, out double d)
    {
        double fc = PinnBopKernel.Fc(r, Cutoff, _p.CutoffRange, out double dfc);
        double r0 = _centres[s], w2 = _p.Width * _p.Width;
        double x = r - r0;
        double g = Math.Exp(-x * x / w2) / r0;
        d = g * (dfc - 2 * x / w2 * fc);
        return g * fc;
    }

    public DescriptorSet Compute(Structure s, bool derivatives, NeighborList? neighbors = null)
    {
        ArgumentNullException.ThrowIfNull(s);
        var nl = neighbors is not null && neighbors.Cutoff >= Cutoff && neighbors.AtomCount == s.Count
            ? neighbors : NeighborList.Build(s, Cutoff);
        int n = s.Count, k = FeatureCount, ns = _centres.Length, no = _orders.Length;
        int nel = _p.Elements.Count;
        var types = new int[n];
        for (int i = 0; i < n; i++)
        {
            int z = s.AtomicNumbers[i];
            types[i] = z >= 0 && z < _elementOfZ.Length ? _elementOfZ[z] : -1;
            if (types[i] < 0)
                throw new MlipInputException((s.Source ?? InputLocation.Unknown).WithAtom(i),
                    $"element {Elements.Symbol(z)} is not among the PINN feature elements ({string.Join(' ', _p.Elements)})");
        }
        var values = new double[n * k];
        double[]? grad = derivatives ? new double[nl.PairCount * k * 3] : null;
        var distances = nl.Distances; var vectors = nl.Vectors; var neigh = nl.Neighbors;
        double rcut = Cutoff;
        var f = new double[64 * ns]; var df = new double[64 * ns];
        var P = new double[_lmax + 2]; var dP = new double[_lmax + 2];
        for (int i = 0; i < n; i++)
        {
            int start = nl.Offsets[i], end = nl.Offsets[i + 1], m = end - start;
            if (f.Length < m * ns) { f = new double[2 * m * ns]; df = new double[2 * m * ns]; }
            for (int a = 0; a < m; a++)
                for (int q = 0; q < ns; q++)
                    f[a * ns + q] = distances[start + a] < rcut ? Radial(q, distances[start + a], out df[a * ns + q]) : (df[a * ns + q] = 0);
            var gamma = values.AsSpan(i * k, k);
            // symmetric double sum: each unordered pair (a, b), a < b, counts twice; a = b once
            for (int a = 0; a < m; a++)
            {
                double ra = distances[start + a];
                if (ra >= rcut) continue;
                Vec3 ua = vectors[start + a] / ra;
                int ta = types[neigh[start + a]];
                Span<double> ga = grad is null ? [] : grad.AsSpan((start + a) * k * 3, k * 3);
                for (int b = a; b < m; b++)
                {
                    double rb = distances[start + b];
                    if (rb >= rcut) continue;
                    Vec3 ub = vectors[start + b] / rb;
                    bool same = b == a;
                    double cos = same ? 1.0 : Vec3.Dot(ua, ub);
                    double weight = same ? 1.0 : 2.0;
                    Legendre(cos, P, dP);
                    int baseIndex = _blockOf[ta * nel + types[neigh[start + b]]] * _unit;
                    Span<double> gb = grad is null || same ? [] : grad.AsSpan((start + b) * k * 3, k * 3);
                    Vec3 dcosA = (ub - cos * ua) / ra, dcosB = (ua - cos * ub) / rb;
                    for (int l = 0; l < no; l++)
                    {
                        double pl = P[_orders[l]], dpl = dP[_orders[l]];
                        int row = baseIndex + l * ns;
                        for (int q = 0; q < ns; q++)
                        {
                            double fa = f[a * ns + q], fb = f[b * ns + q];
                            gamma[row + q] += weight * pl * fa * fb;
                            if (grad is null) continue;
                            int o = (row + q) * 3;
                            if (same)
                            {
                                double c = 2 * pl * df[a * ns + q] * fa;
                                ga[o] += c * ua.X; ga[o + 1] += c * ua.Y; ga[o + 2] += c * ua.Z;
                                continue;
                            }
                            double ffb = dpl * fa * fb;
                            Vec3 g1 = 2 * (pl * df[a * ns + q] * fb * ua + ffb * dcosA);
                            Vec3 g2 = 2 * (pl * df[b * ns + q] * fa * ub + ffb * dcosB);
                            ga[o] += g1.X; ga[o + 1] += g1.Y; ga[o + 2] += g1.Z;
                            gb[o] += g2.X; gb[o + 1] += g2.Y; gb[o + 2] += g2.Z;
                        }
                    }
                }
            }
            for (int q = 0; q < k; q++)
            {
                double raw = gamma[q] + _p.Shift;
                gamma[q] = _p.Asinh ? Math.Asinh(raw) : raw;
                if (grad is null || !_p.Asinh) continue;
                double scale = 1 / Math.Sqrt(1 + raw * raw);
                for (int p = start; p < end; p++)
                {
                    int o = p * k * 3 + q * 3;
                    grad[o] *= scale; grad[o + 1] *= scale; grad[o + 2] *= scale;
                }
            }
        }
        return new DescriptorSet(n, k, values, nl, grad);
    }

    /// <summary>P_l(x) and P_l'(x) for l = 0.._lmax.</summary>
    private void Legendre(double x, double[] p, double[] dp)
    {
        p[0] = 1; dp[0] = 0;
        if (_lmax == 0) return;
        p[1] = x; dp[1] = 1;
        for (int l = 1; l < _lmax; l++)
        {
            p[l + 1] = ((2 * l + 1) * x * p[l] - l * p[l - 1]) / (l + 1);
            dp[l + 1] = (l + 1) * p[l] + x * dp[l];
        }
    }
}
