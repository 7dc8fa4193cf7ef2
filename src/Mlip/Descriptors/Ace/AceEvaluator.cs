using Mlip.Structures;

namespace Mlip.Descriptors.Ace;

/// <summary>
/// Per-atom evaluation of a PACE C-tilde basis (Drautz 2019; Lysogorskiy et al. 2021), in three steps:
/// <list type="number">
/// <item><c>AtomicBase</c>: one pass over neighbours builds A_{mu n l m} = Σ_j R_nl(r_ij) Y_lm(r̂_ij) (m ≥ 0,
/// the negative m from A_{l,−m} = (−1)^m conj A_lm), the rank-1 base Σ_j g_k(r_ij) and the core density Σ_j hc(r_ij).</item>
/// <item><c>Densities</c>: rho_p = Σ_f Re(Σ_s c̃_{s p} Π_t A_t).</item>
/// <item><c>Adjoint</c>: given dE/drho_p and dE/drho_core, the weights G_{mu n l m} = ∂E/∂A (m ≥ 0) in one pass over
/// the products, then one more pass over neighbours gives dE/dr_ij = Σ Re(G ∇(R Y)) + … (no dB/dr is formed).</item>
/// </list>
/// One instance is shared by all threads; each thread brings its own <see cref="Workspace"/>.
/// </summary>
public sealed class AceEvaluator
{
    private readonly AceBasisSet _basis;
    private readonly AceRadialTables _tables;
    private readonly AceSphericalHarmonics _sh;
    private readonly int _ne, _nb, _nr, _l1, _lmHalf, _lmFull, _halfSize, _fullSize;
    private readonly Flat[] _flat;
    private readonly AceRecursiveEvaluator? _recursive;

    /// <summary>The functions of one central species, flattened into arrays.</summary>
    private sealed class Flat
    {
        public int P;
        public int[] R1Index = [];     // mu*nb + n-1
        public double[] R1C = [];      // P per rank-1 function
        public int[] Rank = [];        // per m-combination
        public int[] Start = [];       // per m-combination: offset into Full/Half/Sign
        public int[] Full = [];        // A index (full m layout) per factor
        public int[] Half = [];        // G index (m >= 0 layout) per factor
        public double[] Sign = [];     // 0: m >= 0; ±1: negative m, G += sign * conj(theta dB)
        public double[] C = [];        // P per m-combination
        public int[] R1Func = [];      // function index of each rank-1 entry
        public int[] Func = [];        // function index of each m-combination
        public int FunctionCount;
    }

    /// <summary>The evaluator PACE potentials use unless told otherwise: the faster on Cu-PBE-core-rep.ace (docs/ace.md).</summary>
    public const AceEvaluatorKind DefaultKind = AceEvaluatorKind.Recursive;

    /// <summary>A product evaluator (the basis descriptor's functions need no graph).</summary>
    public AceEvaluator(AceBasisSet basis) : this(basis, AceEvaluatorKind.Product) { }

    /// <summary>An evaluator whose rank ≥ 2 products are formed as <paramref name="kind"/> says (same results to round-off).</summary>
    public AceEvaluator(AceBasisSet basis, AceEvaluatorKind kind)
    {
        basis.Validate();
        _basis = basis;
        _tables = new AceRadialTables(basis);
        _sh = new AceSphericalHarmonics(basis.LMax);
        _ne = basis.ElementCount;
        _nb = basis.NRadBase;
        _nr = basis.NRadMax;
        _l1 = basis.LMax + 1;
        _lmHalf = AceSphericalHarmonics.Count(basis.LMax);
        _lmFull = _l1 * _l1;
        _halfSize = _ne * _nr * _lmHalf;
        _fullSize = _ne * _nr * _lmFull;
        _flat = new Flat[_ne];
        for (int mu = 0; mu < _ne; mu++) _flat[mu] = Flatten(basis.Functions[mu], basis.Embeddings[mu].NDensity);
        Kind = kind;
        if (kind == AceEvaluatorKind.Recursive) _recursive = new AceRecursiveEvaluator(basis);
    }

    public AceEvaluatorKind Kind { get; }
    /// <summary>The graph of partial products when <see cref="Kind"/> is Recursive.</summary>
    public AceRecursiveEvaluator? Recursive => _recursive;

    public AceBasisSet Basis => _basis;
    internal AceRadialTables Tables => _tables;
    internal AceSphericalHarmonics Harmonics => _sh;
    public double MaxCutoff => _basis.Bonds.Max(b => b.Cut);
    public int DensityCount(int mu) => _flat[mu].P;

    private Flat Flatten(AceFunction[] functions, int p)
    {
        var f = new Flat { P = p };
        var r1i = new List<int>(); var r1c = new List<double>();
        var rank = new List<int>(); var start = new List<int>(); var full = new List<int>(); var half = new List<int>();
        var sign = new List<double>(); var c = new List<double>();
        var r1f = new List<int>(); var func = new List<int>();
        for (int fi = 0; fi < functions.Length; fi++)
        {
            var fn = functions[fi];
            if (fn.Rank == 1)
            {
                r1f.Add(fi);
                r1i.Add(fn.Mus[0] * _nb + fn.Ns[0] - 1);
                for (int q = 0; q < p; q++) r1c.Add(fn.Ctildes[q]);
                continue;
            }
            for (int s = 0; s < fn.MsCount; s++)
            {
                func.Add(fi);
                rank.Add(fn.Rank);
                start.Add(full.Count);
                for (int t = 0; t < fn.Rank; t++)
                {
                    int mu = fn.Mus[t], n = fn.Ns[t] - 1, l = fn.Ls[t], m = fn.Ms[s * fn.Rank + t];
                    full.Add((mu * _nr + n) * _lmFull + l * l + l + m);
                    half.Add((mu * _nr + n) * _lmHalf + AceSphericalHarmonics.Index(l, Math.Abs(m)));
                    sign.Add(m >= 0 ? 0 : (m % 2 == 0 ? 1 : -1));
                }
                for (int q = 0; q < p; q++) c.Add(fn.Ctildes[s * p + q]);
            }
        }
        f.R1Index = [.. r1i]; f.R1C = [.. r1c]; f.Rank = [.. rank]; f.Start = [.. start];
        f.Full = [.. full]; f.Half = [.. half]; f.Sign = [.. sign]; f.C = [.. c];
        f.R1Func = [.. r1f]; f.Func = [.. func]; f.FunctionCount = functions.Length;
        return f;
    }

    /// <summary>Scratch for one thread; holds the atomic base of the last atom evaluated.</summary>
    public sealed class Workspace
    {
        internal readonly double[] Ar1, Are, Aim, AfRe, AfIm, Gr1, Gre, Gim;
        internal readonly double[] G, DG, R, DR, Yre, Yim, DYre, DYim, P, DP;
        internal double RhoCore;
        // node values and adjoint weights of the recursive evaluator (empty for the product evaluator)
        internal readonly double[] Vre, Vim, Wre, Wim;
        // the force pass's R_nl / r and R'_nl of one l, per n
        internal readonly double[] RByL, DRByL;
        /// <summary>Whether Vre/Vim hold the node values of the atomic base now in the workspace.</summary>
        internal bool NodesCurrent;
        // per-neighbour radial values, harmonics and their derivatives of the last AtomicBase(keepPairs: true)
        internal int PairCapacity;
        internal double[] PG = [], PDG = [], PR = [], PDR = [], PYre = [], PYim = [], PDYre = [], PDYim = [], PDHc = [];
        internal bool[] PIn = [];

        internal void EnsurePairs(AceEvaluator e, int n)
        {
            if (n <= PairCapacity) return;
            int c = Math.Max(n, 2 * PairCapacity);
            PG = new double[c * e._nb]; PDG = new double[c * e._nb];
            PR = new double[c * e._nr * e._l1]; PDR = new double[c * e._nr * e._l1];
            PYre = new double[c * e._lmHalf]; PYim = new double[c * e._lmHalf];
            PDYre = new double[3 * c * e._lmHalf]; PDYim = new double[3 * c * e._lmHalf];
            PDHc = new double[c]; PIn = new bool[c];
            PairCapacity = c;
        }

        internal Workspace(AceEvaluator e)
        {
            Ar1 = new double[e._ne * e._nb]; Gr1 = new double[e._ne * e._nb];
            Are = new double[e._halfSize]; Aim = new double[e._halfSize];
            Gre = new double[e._halfSize]; Gim = new double[e._halfSize];
            AfRe = new double[e._fullSize]; AfIm = new double[e._fullSize];
            G = new double[e._nb]; DG = new double[e._nb];
            R = new double[e._nr * e._l1]; DR = new double[e._nr * e._l1];
            Yre = new double[e._lmHalf]; Yim = new double[e._lmHalf];
            DYre = new double[3 * e._lmHalf]; DYim = new double[3 * e._lmHalf];
            P = new double[e._lmHalf]; DP = new double[e._lmHalf];
            int nodes = e._recursive?.MaxStored ?? 0;
            RByL = new double[e._nr]; DRByL = new double[e._nr];
            Vre = new double[nodes]; Vim = new double[nodes]; Wre = new double[nodes]; Wim = new double[nodes];
        }

        /// <summary>Size of the atomic base (for caching it per atom).</summary>
        internal int StateSize => Ar1.Length + 2 * AfRe.Length + 1;

        internal void Save(Span<double> to)
        {
            Ar1.CopyTo(to); int o = Ar1.Length;
            AfRe.CopyTo(to[o..]); o += AfRe.Length;
            AfIm.CopyTo(to[o..]); o += AfIm.Length;
            to[o] = RhoCore;
        }

        internal void Load(ReadOnlySpan<double> from)
        {
            from[..Ar1.Length].CopyTo(Ar1); int o = Ar1.Length;
            from.Slice(o, AfRe.Length).CopyTo(AfRe); o += AfRe.Length;
            from.Slice(o, AfIm.Length).CopyTo(AfIm); o += AfIm.Length;
            RhoCore = from[o];
            NodesCurrent = false;
        }
    }

    public Workspace CreateWorkspace() => new(this);
    internal int StateSize => _ne * _nb + 2 * _fullSize + 1;

    /// <summary>Step 1: the atomic base of a central atom of species <paramref name="mui"/> from its neighbours.</summary>
    public void AtomicBase(int mui, ReadOnlySpan<int> species, ReadOnlySpan<Vec3> vectors, ReadOnlySpan<double> distances, Workspace w)
        => AtomicBase(mui, species, vectors, distances, w, false);

    /// <summary>
    /// As above; with <paramref name="keepPairs"/> the radial values, harmonics and their derivatives of every
    /// neighbour are kept in the workspace for <c>Adjoint</c> with <c>usePairs</c> (one neighbour pass less).
    /// </summary>
    public void AtomicBase(int mui, ReadOnlySpan<int> species, ReadOnlySpan<Vec3> vectors, ReadOnlySpan<double> distances, Workspace w, bool keepPairs)
    {
        Array.Clear(w.Ar1); Array.Clear(w.Are); Array.Clear(w.Aim);
        w.NodesCurrent = false;
        double rhoCore = 0;
        int nrl = _nr * _l1;
        if (keepPairs) w.EnsurePairs(this, vectors.Length);
        for (int jj = 0; jj < vectors.Length; jj++)
        {
            int muj = species[jj];
            int pair = mui * _ne + muj;
            double r = distances[jj];
            if (keepPairs) w.PIn[jj] = false;
            if (r >= _basis.Bonds[pair].Cut) continue;
            var v = vectors[jj];
            double inv = 1 / r;
            if (keepPairs)
            {
                var g = w.PG.AsSpan(jj * _nb, _nb); var rr = w.PR.AsSpan(jj * nrl, nrl);
                _tables.Base(pair).Evaluate(r, g, w.PDG.AsSpan(jj * _nb, _nb));
                _tables.Radial(pair).Evaluate(r, rr, w.PDR.AsSpan(jj * nrl, nrl));
                _tables.Core(pair).Evaluate(r, w.P, w.DP);
                w.PDHc[jj] = w.DP[0];
                rhoCore += w.P[0];
                var yre = w.PYre.AsSpan(jj * _lmHalf, _lmHalf); var yim = w.PYim.AsSpan(jj * _lmHalf, _lmHalf);
                _sh.Compute(v.X * inv, v.Y * inv, v.Z * inv, yre, yim, w.PDYre.AsSpan(3 * jj * _lmHalf, 3 * _lmHalf), w.PDYim.AsSpan(3 * jj * _lmHalf, 3 * _lmHalf), w.P, w.DP, true);
                w.PIn[jj] = true;
                Accumulate(muj, g, rr, yre, yim, w);
            }
            else
            {
                _tables.Base(pair).Values(r, w.G);
                _tables.Radial(pair).Values(r, w.R);
                _tables.Core(pair).Values(r, w.P);
                rhoCore += w.P[0];
                _sh.Compute(v.X * inv, v.Y * inv, v.Z * inv, w.Yre, w.Yim, w.DYre, w.DYim, w.P, w.DP, false);
                Accumulate(muj, w.G, w.R, w.Yre, w.Yim, w);
            }
        }
        w.RhoCore = rhoCore;
        // expand to the full m range
        for (int mu = 0; mu < _ne; mu++)
            for (int n = 0; n < _nr; n++)
            {
                int oh = (mu * _nr + n) * _lmHalf, of = (mu * _nr + n) * _lmFull;
                for (int l = 0; l < _l1; l++)
                {
                    int i0 = AceSphericalHarmonics.Index(l, 0), c = l * l + l;
                    w.AfRe[of + c] = w.Are[oh + i0];
                    w.AfIm[of + c] = w.Aim[oh + i0];
                    for (int m = 1; m <= l; m++)
                    {
                        double s = m % 2 == 0 ? 1 : -1;
                        w.AfRe[of + c + m] = w.Are[oh + i0 + m];
                        w.AfIm[of + c + m] = w.Aim[oh + i0 + m];
                        w.AfRe[of + c - m] = s * w.Are[oh + i0 + m];
                        w.AfIm[of + c - m] = -s * w.Aim[oh + i0 + m];
                    }
                }
            }
    }

    /// <summary>One neighbour's g_k and R_nl Y_lm added to the atomic base.</summary>
    private unsafe void Accumulate(int muj, ReadOnlySpan<double> g, ReadOnlySpan<double> rr, ReadOnlySpan<double> yre, ReadOnlySpan<double> yim, Workspace w)
    {
        var ar1 = w.Ar1.AsSpan(muj * _nb, _nb);
        for (int k = 0; k < ar1.Length; k++) ar1[k] += g[k];
        fixed (double* are0 = w.Are, aim0 = w.Aim, pr = rr, py = yre, pyi = yim)
        {
            for (int n = 0; n < _nr; n++)
            {
                double* are = are0 + (muj * _nr + n) * _lmHalf, aim = aim0 + (muj * _nr + n) * _lmHalf, rn = pr + n * _l1;
                for (int l = 0, i0 = 0; l < _l1; i0 += ++l)
                {
                    double rv = rn[l];
                    for (int i = i0; i <= i0 + l; i++)
                    {
                        are[i] += rv * py[i];
                        aim[i] += rv * pyi[i];
                    }
                }
            }
        }
    }

    /// <summary>Step 2: the densities rho_p of the atom whose base is in <paramref name="w"/>; returns rho_core.</summary>
    public double Densities(int mui, Workspace w, Span<double> rho)
    {
        var f = _flat[mui];
        int p = f.P;
        rho[..p].Clear();
        for (int q = 0; q < f.R1Index.Length; q++)
        {
            double a = w.Ar1[f.R1Index[q]];
            for (int d = 0; d < p; d++) rho[d] += f.R1C[q * p + d] * a;
        }
        if (_recursive is not null)
        {
            _recursive.Densities(mui, w, rho);
            return w.RhoCore;
        }
        var full = f.Full; var are = w.AfRe; var aim = w.AfIm;
        for (int s = 0; s < f.Rank.Length; s++)
        {
            int o = f.Start[s], rank = f.Rank[s];
            double br = are[full[o]], bi = aim[full[o]];
            if (rank == 2)
            {
                int i1 = full[o + 1];
                br = br * are[i1] - bi * aim[i1];
                for (int d = 0; d < p; d++) rho[d] += f.C[s * p + d] * br;
                continue;
            }
            for (int t = 1; t < rank; t++)
            {
                double xr = are[full[o + t]], xi = aim[full[o + t]];
                double nr = br * xr - bi * xi;
                bi = br * xi + bi * xr;
                br = nr;
            }
            for (int d = 0; d < p; d++) rho[d] += f.C[s * p + d] * br;
        }
        return w.RhoCore;
    }

    /// <summary>Number of C-tilde functions of central species <paramref name="mu"/> (rank 1 first, in file order).</summary>
    public int FunctionCount(int mu) => _flat[mu].FunctionCount;

    /// <summary>
    /// Each function's share of each density for the atom whose base is in <paramref name="w"/>:
    /// <paramref name="shares"/>[f · P + p] = Re Σ_s c̃_{f s p} Π_t A (so Σ_f shares[f·P + p] = ρ_p). Per function this is
    /// c_{fp} B_f of the B-basis the file came from (the extrapolation grade's projections up to a scale per column).
    /// </summary>
    public void FunctionDensities(int mui, Workspace w, Span<double> shares)
    {
        var f = _flat[mui];
        int p = f.P;
        shares[..(f.FunctionCount * p)].Clear();
        for (int q = 0; q < f.R1Index.Length; q++)
        {
            double a = w.Ar1[f.R1Index[q]];
            int o = f.R1Func[q] * p;
            for (int d = 0; d < p; d++) shares[o + d] += f.R1C[q * p + d] * a;
        }
        var full = f.Full; var are = w.AfRe; var aim = w.AfIm;
        for (int s = 0; s < f.Rank.Length; s++)
        {
            int o = f.Start[s], rank = f.Rank[s];
            double br = are[full[o]], bi = aim[full[o]];
            for (int t = 1; t < rank; t++)
            {
                double xr = are[full[o + t]], xi = aim[full[o + t]];
                double nr = br * xr - bi * xi;
                bi = br * xi + bi * xr;
                br = nr;
            }
            int of = f.Func[s] * p;
            for (int d = 0; d < p; d++) shares[of + d] += f.C[s * p + d] * br;
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void Accumulate(Workspace w, int h, double sg, double dr, double di)
    {
        if (sg == 0) { w.Gre[h] += dr; w.Gim[h] += di; }
        else { w.Gre[h] += sg * dr; w.Gim[h] -= sg * di; }
    }

    /// <summary>
    /// Step 3: dE/dr_ij for every neighbour (zero beyond the pair cutoff), for the atom whose base is in
    /// <paramref name="w"/>, given dE/drho_p and dE/drho_core.
    /// </summary>
    public void Adjoint(int mui, ReadOnlySpan<double> dEdRho, double dEdCore, ReadOnlySpan<int> species, ReadOnlySpan<Vec3> vectors,
        ReadOnlySpan<double> distances, Workspace w, Span<Vec3> dEdr) => Adjoint(mui, dEdRho, dEdCore, species, vectors, distances, w, dEdr, false);

    /// <summary>As above; <paramref name="usePairs"/> reads the neighbour values kept by AtomicBase(keepPairs: true) for this atom.</summary>
    public void Adjoint(int mui, ReadOnlySpan<double> dEdRho, double dEdCore, ReadOnlySpan<int> species, ReadOnlySpan<Vec3> vectors,
        ReadOnlySpan<double> distances, Workspace w, Span<Vec3> dEdr, bool usePairs)
    {
        Weights(mui, dEdRho, w);
        NeighbourPass(mui, dEdCore, species, vectors, distances, w, dEdr, usePairs);
    }

    /// <summary>
    /// The first half of step 3: the weights G^(1) = ∂E/∂A^(1) and G = ∂E/∂A (m ≥ 0) of the atom whose base is in
    /// <paramref name="w"/>, given dE/drho_p (no neighbour pass; <c>Adjoint</c> runs it, then the neighbours).
    /// </summary>
    public void Weights(int mui, ReadOnlySpan<double> dEdRho, Workspace w)
    {
        var f = _flat[mui];
        int p = f.P;
        Array.Clear(w.Gr1); Array.Clear(w.Gre); Array.Clear(w.Gim);
        for (int q = 0; q < f.R1Index.Length; q++)
        {
            double th = 0;
            for (int d = 0; d < p; d++) th += dEdRho[d] * f.R1C[q * p + d];
            w.Gr1[f.R1Index[q]] += th;
        }
        if (_recursive is not null) _recursive.Weights(mui, dEdRho, w);
        else ProductWeights(f, dEdRho, w);
    }

    /// <summary>G = ∂E/∂A of the rank ≥ 2 functions, product by product (prefix and suffix products for rank > 3).</summary>
    private void ProductWeights(Flat f, ReadOnlySpan<double> dEdRho, Workspace w)
    {
        int p = f.P;
        Span<double> fr = stackalloc double[8], fi = stackalloc double[8], br = stackalloc double[8], bi = stackalloc double[8];
        var full = f.Full; var are = w.AfRe; var aim = w.AfIm;
        for (int s = 0; s < f.Rank.Length; s++)
        {
            double theta = 0;
            for (int d = 0; d < p; d++) theta += dEdRho[d] * f.C[s * p + d];
            if (theta == 0) continue;
            int o = f.Start[s], rank = f.Rank[s];
            if (rank == 2 || rank == 3)
            {
                int i0 = full[o], i1 = full[o + 1];
                double a0r = are[i0], a0i = aim[i0], a1r = are[i1], a1i = aim[i1];
                double d0r, d0i, d1r, d1i, d2r = 0, d2i = 0;
                if (rank == 2) { d0r = a1r; d0i = a1i; d1r = a0r; d1i = a0i; }
                else
                {
                    int i2 = full[o + 2];
                    double a2r = are[i2], a2i = aim[i2];
                    d0r = a1r * a2r - a1i * a2i; d0i = a1r * a2i + a1i * a2r;
                    d1r = a0r * a2r - a0i * a2i; d1i = a0r * a2i + a0i * a2r;
                    d2r = a0r * a1r - a0i * a1i; d2i = a0r * a1i + a0i * a1r;
                }
                Accumulate(w, f.Half[o], f.Sign[o], theta * d0r, theta * d0i);
                Accumulate(w, f.Half[o + 1], f.Sign[o + 1], theta * d1r, theta * d1i);
                if (rank == 3) Accumulate(w, f.Half[o + 2], f.Sign[o + 2], theta * d2r, theta * d2i);
                continue;
            }
            if (rank > 7) { fr = new double[rank + 1]; fi = new double[rank + 1]; br = new double[rank + 1]; bi = new double[rank + 1]; }
            fr[0] = 1; fi[0] = 0;
            for (int t = 0; t < rank; t++)
            {
                double xr = are[full[o + t]], xi = aim[full[o + t]];
                fr[t + 1] = fr[t] * xr - fi[t] * xi;
                fi[t + 1] = fr[t] * xi + fi[t] * xr;
            }
            br[rank - 1] = 1; bi[rank - 1] = 0;
            for (int t = rank - 1; t >= 1; t--)
            {
                double xr = are[full[o + t]], xi = aim[full[o + t]];
                br[t - 1] = br[t] * xr - bi[t] * xi;
                bi[t - 1] = br[t] * xi + bi[t] * xr;
            }
            for (int t = 0; t < rank; t++)
            {
                double dr = fr[t] * br[t] - fi[t] * bi[t];
                double di = fr[t] * bi[t] + fi[t] * br[t];
                int h = f.Half[o + t];
                double sg = f.Sign[o + t];
                if (sg == 0)
                {
                    w.Gre[h] += theta * dr;
                    w.Gim[h] += theta * di;
                }
                else
                {
                    w.Gre[h] += sg * theta * dr;
                    w.Gim[h] -= sg * theta * di;
                }
            }
        }
    }

    /// <summary>dE/dr_ij from the weights G, G^(1) and dE/drho_core: one pass over the neighbours.</summary>
    private void NeighbourPass(int mui, double dEdCore, ReadOnlySpan<int> species, ReadOnlySpan<Vec3> vectors,
        ReadOnlySpan<double> distances, Workspace w, Span<Vec3> dEdr, bool usePairs)
    {
        for (int jj = 0; jj < vectors.Length; jj++)
        {
            int muj = species[jj];
            int pair = mui * _ne + muj;
            double r = distances[jj];
            if (usePairs ? !w.PIn[jj] : r >= _basis.Bonds[pair].Cut) { dEdr[jj] = default; continue; }
            var v = vectors[jj];
            double inv = 1 / r;
            double ux = v.X * inv, uy = v.Y * inv, uz = v.Z * inv;
            double[] yre, yim, dyre, dyim, rv0, drv0, dg;
            int oy, ody, orr, og;
            double radial;
            if (usePairs)
            {
                yre = w.PYre; yim = w.PYim; dyre = w.PDYre; dyim = w.PDYim; rv0 = w.PR; drv0 = w.PDR; dg = w.PDG;
                oy = jj * _lmHalf; ody = 3 * jj * _lmHalf; orr = jj * _nr * _l1; og = jj * _nb;
                radial = dEdCore * w.PDHc[jj];
            }
            else
            {
                _tables.Base(pair).Evaluate(r, w.G, w.DG);
                _tables.Radial(pair).Evaluate(r, w.R, w.DR);
                _tables.Core(pair).Evaluate(r, w.P, w.DP);
                radial = dEdCore * w.DP[0];
                _sh.Compute(ux, uy, uz, w.Yre, w.Yim, w.DYre, w.DYim, w.P, w.DP);
                yre = w.Yre; yim = w.Yim; dyre = w.DYre; dyim = w.DYim; rv0 = w.R; drv0 = w.DR; dg = w.DG;
                oy = 0; ody = 0; orr = 0; og = 0;
            }
            var g1 = w.Gr1.AsSpan(muj * _nb, _nb);
            for (int k = 0; k < _nb; k++) radial += g1[k] * dg[og + k];
            // contract G over n first, in registers: S_lm = Σ_n G_nlm R_nl / r, T_lm = Σ_n G_nlm R'_nl, then
            // dE/dr = Σ_lm Re(T Y) r̂ + Re(S ∇Y) (half the multiplications of the (n, l, m) loop, no stores)
            double gx = 0, gy = 0, gz = 0;
            unsafe
            {
                fixed (double* gre0 = w.Gre, gim0 = w.Gim, pr = rv0, pdr = drv0, pyre = yre, pyim = yim, pdyre = dyre, pdyim = dyim, rl = w.RByL, drl = w.DRByL)
                {
                    double* gre = gre0 + muj * _nr * _lmHalf, gim = gim0 + muj * _nr * _lmHalf;
                    double* py = pyre + oy, pyi = pyim + oy, pd = pdyre + ody, pdi = pdyim + ody;
                    for (int l = 0, i0 = 0; l < _l1; i0 += ++l)
                    {
                        for (int n = 0; n < _nr; n++) { rl[n] = pr[orr + n * _l1 + l] * inv; drl[n] = pdr[orr + n * _l1 + l]; }
                        for (int i = i0; i <= i0 + l; i++)
                        {
                            double sr = 0, si = 0, tr = 0, ti = 0;
                            for (int n = 0, o = i; n < _nr; n++, o += _lmHalf)
                            {
                                double wr = gre[o], wi = gim[o];
                                sr += wr * rl[n]; si += wi * rl[n];
                                tr += wr * drl[n]; ti += wi * drl[n];
                            }
                            radial += tr * py[i] - ti * pyi[i];
                            gx += sr * pd[3 * i] - si * pdi[3 * i];
                            gy += sr * pd[3 * i + 1] - si * pdi[3 * i + 1];
                            gz += sr * pd[3 * i + 2] - si * pdi[3 * i + 2];
                        }
                    }
                }
            }
            dEdr[jj] = new Vec3(gx + radial * ux, gy + radial * uy, gz + radial * uz);
        }
    }
}
