using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Descriptors;

/// <summary>
/// Embedded atom density (EAD) descriptor of Zhang, Hu and Jiang (J. Phys. Chem. Lett. 10, 4962,
/// 2019) in the form PyXtal_FF uses (thesis eq. 2.63–2.64; code: pyxtal_ff/descriptors/EAD.py,
/// functions <c>calculate_eamd</c> and <c>get_xyz</c>), with exact derivatives with respect to every
/// pair vector.
/// <para>
/// For centre i, neighbour j with pair vector r_ij = (x, y, z), |r_ij| = r &lt; Rc, and one Gaussian
/// (η, Rs), the "orbital" density of the Cartesian monomial (lx, ly, lz) is
/// <c>S_{lx,ly,lz} = Σ_j c_j x^lx y^ly z^lz exp(−η (r − Rs)²) fc(r)</c>:
/// raw Cartesian components (not x/r), as PyXtal_FF's <c>get_xyz</c> builds them (RIJ = rij, rij²,
/// rij³), times the Gaussian and cutoff of <c>term2</c>, weighted by c_j (PyXtal_FF: the atomic
/// number Z_j; here per element, <see cref="EadParameters.Weights"/>).
/// </para>
/// <para>
/// The feature for (L, η, Rs) in the default <see cref="EadConvention.PyXtalFF"/> convention is
/// what PyXtal_FF's code returns (<c>x = L_fac · Σ term[:l_index[l]]² / Rc^(2l)</c>, with
/// l_index = 1, 4, 10, 20 and term carrying 1/√(lx! ly! lz!)):
/// <c>ρ_L = (L! / Rc^(2L)) Σ_{n=0..L} Σ_{lx+ly+lz=n} S²_{lx,ly,lz} / (lx! ly! lz!)</c>,
/// that is, cumulative over all degrees up to L and scaled by Rc^(−2L). Its documentation writes the
/// paper's <c>ρ_L = Σ_{lx+ly+lz=L} L!/(lx! ly! lz!) S²</c> (degree exactly L, no Rc factor); that form
/// is <see cref="EadConvention.Paper"/>. Both carry the same information.
/// </para>
/// <para>
/// Feature order: L = 0..Lmax, then η, then Rs (PyXtal_FF's order). Derivatives: with
/// g = c_j exp(−η (r − Rs)²) fc(r) and P = x^lx y^ly z^lz,
/// ∂S/∂r_ij = g ∇P + P g′ r̂_ij, so ∂ρ_L/∂r_ij = 2 A_L [g Σ w_m S_m ∇P_m + g′ r̂_ij Σ w_m S_m P_m] over the
/// monomials m of the feature (A_L the prefactor, w_m = 1/(lx! ly! lz!)): the densities S are
/// summed once per centre, then each pair costs O(monomials × Gaussians); no double loop over neighbours.
/// </para>
/// </summary>
public sealed class Ead : IDescriptor
{
    /// <summary>Highest L supported (f orbitals), as in PyXtal_FF.</summary>
    public const int MaxL = 3;

    private readonly EadParameters _p;
    private readonly CutoffFunction _fc;
    private readonly double[] _eta, _rs;
    private readonly int _lmax, _gaussians, _monomials;
    // monomial table: exponents, 1/(lx! ly! lz!), and the monomials of degree n are _degreeStart[n] .. _degreeStart[n+1]-1
    private readonly int[] _lx, _ly, _lz, _degreeStart;
    // _raise[3m + c]: the monomial m·x_c (one degree higher), for monomials of degree < Lmax
    private readonly int[] _raise;
    private readonly double[] _monomialWeight;
    // prefactor A_L of each feature block
    private readonly double[] _prefactor;
    // element of each atomic number (−1: not allowed) and the weight c_j of each element
    private readonly int[] _elementOfZ;
    private readonly double[] _elementWeight;
    private readonly string[] _names;

    public Ead(EadParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _p = parameters;
        if (!(parameters.Cutoff > 0) || !(parameters.Cutoff <= DescriptorLimits.MaxCutoff)) throw new MlipException($"EAD cutoff must be a positive number (got {parameters.Cutoff})");
        if (parameters.Lmax is < 0 or > MaxL) throw new MlipException($"EAD Lmax must be 0..{MaxL} (got {parameters.Lmax})");
        if (parameters.Eta.Count == 0) throw new MlipException("EAD needs at least one eta");
        if (parameters.Rs.Count == 0) throw new MlipException("EAD needs at least one shift Rs");
        foreach (double e in parameters.Eta)
            if (!(e >= 0) || !double.IsFinite(e)) throw new MlipException($"EAD eta must be a finite number >= 0 (got {e})");
        foreach (double r in parameters.Rs)
            if (!double.IsFinite(r)) throw new MlipException($"EAD shift Rs must be finite (got {r})");
        if (parameters.Elements.Count == 0) throw new MlipException("EAD needs at least one element");
        if (parameters.Weights is { } w && w.Count != parameters.Elements.Count)
            throw new MlipException($"EAD has {parameters.Elements.Count} elements but {w.Count} weights");

        _fc = new CutoffFunction(parameters.CutoffFunction, parameters.Cutoff);
        _eta = [.. parameters.Eta];
        _rs = [.. parameters.Rs];
        _lmax = parameters.Lmax;
        _gaussians = _eta.Length * _rs.Length;

        _elementOfZ = new int[Elements.MaxAtomicNumber + 1];
        Array.Fill(_elementOfZ, -1);
        _elementWeight = new double[parameters.Elements.Count];
        for (int e = 0; e < _elementWeight.Length; e++)
        {
            int z = Elements.Number(parameters.Elements[e]);
            if (_elementOfZ[z] >= 0) throw new MlipException($"EAD element {parameters.Elements[e]} is listed twice");
            _elementOfZ[z] = e;
            double weight = parameters.Weights is { } ws ? ws[e] : z;
            if (!double.IsFinite(weight)) throw new MlipException($"EAD weight of {parameters.Elements[e]} must be finite (got {weight})");
            _elementWeight[e] = weight;
        }

        // Cartesian monomials x^lx y^ly z^lz, grouped by degree n = lx + ly + lz
        _monomials = (_lmax + 1) * (_lmax + 2) * (_lmax + 3) / 6;
        _lx = new int[_monomials]; _ly = new int[_monomials]; _lz = new int[_monomials];
        _monomialWeight = new double[_monomials];
        _degreeStart = new int[_lmax + 2];
        int m = 0;
        for (int n = 0; n <= _lmax; n++)
        {
            _degreeStart[n] = m;
            for (int lx = n; lx >= 0; lx--)
                for (int ly = n - lx; ly >= 0; ly--, m++)
                {
                    _lx[m] = lx; _ly[m] = ly; _lz[m] = n - lx - ly;
                    _monomialWeight[m] = 1.0 / (Factorial(lx) * Factorial(ly) * Factorial(n - lx - ly));
                }
        }
        _degreeStart[_lmax + 1] = m;
        _raise = new int[3 * _monomials];
        Array.Fill(_raise, -1);
        for (int a = 0; a < _monomials; a++)
            for (int b = 0; b < _monomials; b++)
            {
                int dx = _lx[b] - _lx[a], dy = _ly[b] - _ly[a], dz = _lz[b] - _lz[a];
                if (dx + dy + dz != 1 || dx < 0 || dy < 0 || dz < 0) continue;
                _raise[3 * a + (dx == 1 ? 0 : dy == 1 ? 1 : 2)] = b;
            }

        _prefactor = new double[_lmax + 1];
        for (int l = 0; l <= _lmax; l++)
            _prefactor[l] = parameters.Convention == EadConvention.PyXtalFF
                ? Factorial(l) / Math.Pow(parameters.Cutoff, 2 * l)
                : Factorial(l);

        FeatureCount = (_lmax + 1) * _gaussians;
        _names = BuildNames();
    }

    private static double Factorial(int n) => n switch { 0 or 1 => 1, 2 => 2, 3 => 6, _ => n * Factorial(n - 1) };

    public string Name => "ead";
    public double Cutoff => _p.Cutoff;
    public int FeatureCount { get; }
    public IReadOnlyList<string> FeatureNames => _names;
    public EadParameters Parameters => _p;

    private string[] BuildNames()
    {
        var names = new string[FeatureCount];
        int f = 0;
        for (int l = 0; l <= _lmax; l++)
            foreach (double eta in _eta)
                foreach (double rs in _rs)
                    names[f++] = $"EAD(L={l},eta={AcsfParameters.Format(eta)},Rs={AcsfParameters.Format(rs)})";
        return names;
    }

    public DescriptorSet Compute(Structure s, bool derivatives, NeighborList? neighbors = null)
    {
        ArgumentNullException.ThrowIfNull(s);
        var nl = neighbors is not null && neighbors.Cutoff >= _p.Cutoff && neighbors.AtomCount == s.Count
            ? neighbors : NeighborList.Build(s, _p.Cutoff);
        int n = s.Count, k = FeatureCount;
        var weight = AtomWeights(s);
        var values = new double[n * k];
        double[]? grad = derivatives ? new double[nl.PairCount * k * 3] : null;

        int maxNeigh = 0;
        for (int i = 0; i < n; i++) maxNeigh = Math.Max(maxNeigh, nl.NeighborCount(i));
        // every centre writes only its own row and the blocks of its own pairs: parallel over blocks of centres, the same bits on any thread count
        MlipParallel.ForChunks(n, 16, () => new Scratch(maxNeigh, _gaussians, _monomials), (first, end, scratch) =>
        {
            for (int i = first; i < end; i++)
            {
                int m = GatherPairs(nl, i, weight, scratch);
                ComputeDensities(m, scratch);
                ComputeFeatures(scratch, values.AsSpan(i * k, k));
                if (grad is not null)
                    for (int a = 0; a < m; a++) ComputePairGradient(a, scratch, grad);
            }
        });
        return new DescriptorSet(n, k, values, nl, grad);
    }

    /// <summary>c_j of every atom; an element outside <see cref="EadParameters.Elements"/> is an input error.</summary>
    private double[] AtomWeights(Structure s)
    {
        var weight = new double[s.Count];
        for (int i = 0; i < weight.Length; i++)
        {
            int z = s.AtomicNumbers[i];
            int e = _elementOfZ[z];
            if (e < 0)
                throw new MlipInputException((s.Source ?? InputLocation.Unknown).WithAtom(i),
                    $"element {Elements.Symbol(z)} is not among the EAD elements ({string.Join(' ', _p.Elements)})");
            weight[i] = _elementWeight[e];
        }
        return weight;
    }

    /// <summary>
    /// The pairs of centre i inside the cutoff: pair index, r̂_ij, r_ij, and for every Gaussian
    /// (η, Rs) the radial factor g = c_j exp(−η (r − Rs)²) fc(r) and dg/dr. Returns their number.
    /// </summary>
    private int GatherPairs(NeighborList nl, int i, double[] weight, Scratch sc)
    {
        var distances = nl.Distances;
        var vectors = nl.Vectors;
        var neighbor = nl.Neighbors;
        int nRs = _rs.Length, ng = _gaussians;
        int m = 0;
        foreach (int p in nl.PairRange(i))
        {
            double r = distances[p];
            if (r >= _p.Cutoff) continue;
            double fc = _fc.Evaluate(r, out double dfc);
            double c = weight[neighbor[p]];
            sc.Pair[m] = p;
            sc.V[m] = vectors[p];
            sc.U[m] = vectors[p] / r;
            var g = sc.G.AsSpan(m * ng, ng);
            var dg = sc.DG.AsSpan(m * ng, ng);
            for (int e = 0; e < _eta.Length; e++)
            {
                double eta = _eta[e];
                for (int t = 0; t < nRs; t++)
                {
                    double d = r - _rs[t];
                    double gauss = c * Math.Exp(-eta * d * d);
                    g[e * nRs + t] = gauss * fc;
                    dg[e * nRs + t] = gauss * (dfc - 2 * eta * d * fc);
                }
            }
            m++;
        }
        return m;
    }

    /// <summary>Values P_m = x^lx y^ly z^lz of the Cartesian monomials at v.</summary>
    private void EvaluateMonomials(Vec3 v, double[] p)
    {
        Span<double> px = stackalloc double[MaxL + 1], py = stackalloc double[MaxL + 1], pz = stackalloc double[MaxL + 1];
        px[0] = py[0] = pz[0] = 1;
        for (int l = 1; l <= _lmax; l++) { px[l] = px[l - 1] * v.X; py[l] = py[l - 1] * v.Y; pz[l] = pz[l - 1] * v.Z; }
        for (int q = 0; q < _monomials; q++) p[q] = px[_lx[q]] * py[_ly[q]] * pz[_lz[q]];
    }

    /// <summary>S[m, g] = Σ_j P_m(r_ij) g_j for every monomial m and Gaussian g.</summary>
    private void ComputeDensities(int pairs, Scratch sc)
    {
        int ng = _gaussians;
        var s = sc.S.AsSpan(0, _monomials * ng);
        s.Clear();
        for (int a = 0; a < pairs; a++)
        {
            EvaluateMonomials(sc.V[a], sc.P);
            var g = sc.G.AsSpan(a * ng, ng);
            for (int q = 0; q < _monomials; q++)
            {
                double pm = sc.P[q];
                var row = s.Slice(q * ng, ng);
                for (int t = 0; t < ng; t++) row[t] += pm * g[t];
            }
        }
    }

    /// <summary>X[L, g] = A_L Σ_m w_m S[m, g]² over the monomials of feature block L.</summary>
    private void ComputeFeatures(Scratch sc, Span<double> x)
    {
        int ng = _gaussians;
        bool cumulative = _p.Convention == EadConvention.PyXtalFF;
        var block = sc.Q.AsSpan(0, ng); // running Σ_m w_m S² of the current block
        block.Clear();
        for (int l = 0; l <= _lmax; l++)
        {
            if (!cumulative) block.Clear();
            for (int q = _degreeStart[l]; q < _degreeStart[l + 1]; q++)
            {
                double w = _monomialWeight[q];
                var row = sc.S.AsSpan(q * ng, ng);
                for (int t = 0; t < ng; t++) block[t] += w * row[t] * row[t];
            }
            double a = _prefactor[l];
            var xl = x.Slice(l * ng, ng);
            for (int t = 0; t < ng; t++) xl[t] = a * block[t];
        }
    }

    /// <summary>
    /// ∂X[L, g]/∂r_ij for pair a: 2 A_L [g Σ_m w_m S_m ∇P_m + g′ r̂ Σ_m w_m S_m P_m], the sums over
    /// the monomials m of block L, accumulated degree by degree. The gradient sum uses
    /// w_m ∂P_m/∂x = w_m' P_m' for m = m'·x (and likewise y, z), so
    /// Σ_{deg m = n} w_m S_m ∂P_m/∂x = Σ_{deg m' = n−1} w_m' P_m' S_{m'·x}: no monomial gradients are needed.
    /// </summary>
    private void ComputePairGradient(int a, Scratch sc, double[] grad)
    {
        int ng = _gaussians, k = FeatureCount;
        bool cumulative = _p.Convention == EadConvention.PyXtalFF;
        EvaluateMonomials(sc.V[a], sc.P);
        var q0 = sc.Q.AsSpan(0, ng);
        var vx = sc.Vx.AsSpan(0, ng);
        var vy = sc.Vy.AsSpan(0, ng);
        var vz = sc.Vz.AsSpan(0, ng);
        q0.Clear(); vx.Clear(); vy.Clear(); vz.Clear();
        var s = sc.S;
        var g = sc.G.AsSpan(a * ng, ng);
        var dg = sc.DG.AsSpan(a * ng, ng);
        var u = sc.U[a];
        var block = grad.AsSpan(sc.Pair[a] * k * 3, k * 3);
        for (int l = 0; l <= _lmax; l++)
        {
            if (!cumulative) { q0.Clear(); vx.Clear(); vy.Clear(); vz.Clear(); }
            // Σ w_m S_m P_m over the monomials of degree l
            for (int q = _degreeStart[l]; q < _degreeStart[l + 1]; q++)
            {
                double c = _monomialWeight[q] * sc.P[q];
                var row = s.AsSpan(q * ng, ng);
                for (int t = 0; t < row.Length; t++) q0[t] += c * row[t];
            }
            // Σ w_m S_m ∇P_m over the monomials of degree l, through those of degree l − 1
            if (l > 0)
                for (int q = _degreeStart[l - 1]; q < _degreeStart[l]; q++)
                {
                    double c = _monomialWeight[q] * sc.P[q];
                    var rx = s.AsSpan(_raise[3 * q] * ng, ng);
                    var ry = s.AsSpan(_raise[3 * q + 1] * ng, ng);
                    var rz = s.AsSpan(_raise[3 * q + 2] * ng, ng);
                    for (int t = 0; t < rx.Length; t++)
                    {
                        vx[t] += c * rx[t];
                        vy[t] += c * ry[t];
                        vz[t] += c * rz[t];
                    }
                }
            double twoA = 2 * _prefactor[l];
            var bl = block.Slice(l * ng * 3, ng * 3);
            for (int t = 0; t < ng; t++)
            {
                double radial = twoA * dg[t] * q0[t], ang = twoA * g[t];
                bl[3 * t] = ang * vx[t] + radial * u.X;
                bl[3 * t + 1] = ang * vy[t] + radial * u.Y;
                bl[3 * t + 2] = ang * vz[t] + radial * u.Z;
            }
        }
    }

    /// <summary>Per-centre scratch arrays, allocated once per structure (no allocation per neighbour).</summary>
    private sealed class Scratch(int capacity, int gaussians, int monomials)
    {
        public readonly int[] Pair = new int[capacity];
        public readonly Vec3[] V = new Vec3[capacity];
        public readonly Vec3[] U = new Vec3[capacity];
        /// <summary>g and dg/dr per [pair][gaussian].</summary>
        public readonly double[] G = new double[capacity * gaussians];
        public readonly double[] DG = new double[capacity * gaussians];
        /// <summary>Densities S per [monomial][gaussian].</summary>
        public readonly double[] S = new double[monomials * gaussians];
        /// <summary>Monomial values at one pair vector.</summary>
        public readonly double[] P = new double[monomials];
        /// <summary>Per-gaussian accumulators of the current feature block.</summary>
        public readonly double[] Q = new double[gaussians];
        public readonly double[] Vx = new double[gaussians];
        public readonly double[] Vy = new double[gaussians];
        public readonly double[] Vz = new double[gaussians];
    }
}
