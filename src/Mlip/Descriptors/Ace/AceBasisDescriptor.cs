using System.Globalization;
using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Descriptors.Ace;

/// <summary>
/// The linear ACE basis as a descriptor: X_ik = B_k(i) = Re Σ_s c_ks Π_t A_{mu_t n_t l_t m_t}(i), the
/// invariants of <see cref="AceBasisBuilder"/>, with exact per-pair derivatives ∂B_k/∂r_ij (for each
/// function, ∂B/∂A is gathered once per atom on the few (n, l, m) it touches, then contracted with
/// ∂A/∂r_ij). The radial functions use the same spline tables as the PACE evaluator, so a linear model on
/// these features written as C-tilde (.yace/.ace) gives the same energies to round-off.
/// </summary>
public sealed class AceBasisDescriptor : IDescriptor
{
    private readonly AceEvaluator _ev;
    private readonly AceBasisSet _skeleton;
    private readonly AceFunction[] _functions;
    private readonly int[] _speciesOfZ;
    private readonly int _ne, _nb, _nr, _l1, _lmHalf, _halfPerSpecies;
    // flattened functions
    private readonly int[] _r1Index;          // per function: mu*nb + n-1 for rank 1, else -1
    private readonly int[] _msStart, _msEnd;  // per function: range of m-combinations
    private readonly int[] _msRank, _msOffset; // per m-combination: rank, offset into factor arrays
    private readonly double[] _msC;
    private readonly int[] _fullIdx, _uniqPos; // per factor: A index (full m), position in the function's unique list
    private readonly double[] _sign;          // per factor
    private readonly int[] _uStart;           // per function: start into _uHalf
    private readonly int[] _uHalf;            // unique half indices (global, with species)

    public AceBasisDescriptor(AceBasisSpec spec)
    {
        Spec = spec;
        var (skeleton, functions, degrees) = AceBasisBuilder.Build(spec);
        _skeleton = skeleton;
        _functions = functions;
        Degrees = degrees;
        _ev = new AceEvaluator(skeleton);
        _ne = skeleton.ElementCount; _nb = skeleton.NRadBase; _nr = skeleton.NRadMax; _l1 = skeleton.LMax + 1;
        _lmHalf = AceSphericalHarmonics.Count(skeleton.LMax);
        _halfPerSpecies = _nr * _lmHalf;
        _speciesOfZ = Enumerable.Repeat(-1, 119).ToArray();
        for (int mu = 0; mu < _ne; mu++) _speciesOfZ[Elements.Number(skeleton.Elements[mu])] = mu;

        int K = functions.Length, lmFull = _l1 * _l1;
        _r1Index = new int[K]; _msStart = new int[K]; _msEnd = new int[K]; _uStart = new int[K + 1];
        var msRank = new List<int>(); var msOffset = new List<int>(); var msC = new List<double>();
        var full = new List<int>(); var uniqPos = new List<int>(); var sign = new List<double>(); var uHalf = new List<int>();
        var names = new List<string>();
        for (int k = 0; k < K; k++)
        {
            var f = functions[k];
            names.Add(string.Create(CultureInfo.InvariantCulture,
                $"B{f.Rank}[{string.Join(",", f.Mus.Select(m => skeleton.Elements[m]))};n={string.Join(",", f.Ns)};l={string.Join(",", f.Ls)}]#{k}"));
            _uStart[k] = uHalf.Count;
            _msStart[k] = msRank.Count;
            if (f.Rank == 1)
            {
                _r1Index[k] = f.Mus[0] * _nb + f.Ns[0] - 1;
                _msEnd[k] = msRank.Count;
                continue;
            }
            _r1Index[k] = -1;
            var local = new Dictionary<int, int>();
            for (int s = 0; s < f.MsCount; s++)
            {
                msRank.Add(f.Rank); msOffset.Add(full.Count); msC.Add(f.Ctildes[s]);
                for (int t = 0; t < f.Rank; t++)
                {
                    int mu = f.Mus[t], n = f.Ns[t] - 1, l = f.Ls[t], m = f.Ms[s * f.Rank + t];
                    full.Add((mu * _nr + n) * lmFull + l * l + l + m);
                    int h = (mu * _nr + n) * _lmHalf + AceSphericalHarmonics.Index(l, Math.Abs(m));
                    if (!local.TryGetValue(h, out int pos)) { pos = local.Count; local[h] = pos; uHalf.Add(h); }
                    uniqPos.Add(pos);
                    sign.Add(m >= 0 ? 0 : (m % 2 == 0 ? 1 : -1));
                }
            }
            _msEnd[k] = msRank.Count;
        }
        _uStart[K] = uHalf.Count;
        _msRank = [.. msRank]; _msOffset = [.. msOffset]; _msC = [.. msC];
        _fullIdx = [.. full]; _uniqPos = [.. uniqPos]; _sign = [.. sign]; _uHalf = [.. uHalf];
        FeatureNames = names;
    }

    public AceBasisSpec Spec { get; }
    /// <summary>The basis functions (one-density C-tilde functions with their coupling coefficients).</summary>
    public IReadOnlyList<AceFunction> Functions => _functions;
    /// <summary>The radial functions, species and spline settings shared with the PACE evaluator.</summary>
    public AceBasisSet Skeleton => _skeleton;
    /// <summary>Σ_t (n_t + w_L l_t) of each function (for the smoothness prior).</summary>
    public IReadOnlyList<double> Degrees { get; }
    public string Name => "ace";
    public double Cutoff => Spec.Cutoff;
    public int FeatureCount => _functions.Length;
    public IReadOnlyList<string> FeatureNames { get; }

    public DescriptorSet Compute(Structure s, bool derivatives, NeighborList? neighbors = null)
    {
        int n = s.Count, K = FeatureCount;
        var species = new int[n];
        for (int i = 0; i < n; i++)
        {
            int z = s.AtomicNumbers[i];
            species[i] = z >= 0 && z < _speciesOfZ.Length ? _speciesOfZ[z] : -1;
            if (species[i] < 0) throw new MlipInputException(s.Source ?? InputLocation.Unknown, $"the ACE basis has no element {Elements.Symbol(z)}");
        }
        var nl = neighbors ?? NeighborList.Build(s, Cutoff);
        var nbr = nl.Neighbors;
        var ps = new int[nl.PairCount];
        for (int p = 0; p < ps.Length; p++) ps[p] = species[nbr[p]];
        var values = new double[n * K];
        var grads = derivatives ? new double[(long)nl.PairCount * K * 3] : null;
        AceDensities.Chunks(n, (a, b) =>
        {
            var w = _ev.CreateWorkspace();
            var scratch = new Scratch();
            for (int i = a; i < b; i++) Atom(i, species[i], nl, ps, w, scratch, values, grads);
        });
        return new DescriptorSet(n, K, values, nl, grads);
    }

    private sealed class Scratch
    {
        public double[] DRe = [], DIm = [], DG = [], Ux = [], Uy = [], Uz = [];
        public double[] JRe = new double[64], JIm = new double[64];
    }

    private void Atom(int i, int mui, NeighborList nl, int[] ps, AceEvaluator.Workspace w, Scratch sc, double[] values, double[]? grads)
    {
        var range = nl.PairRange(i);
        int np = range.Count, K = FeatureCount;
        var sp = ps.AsSpan(range.Start, np);
        var vec = nl.Vectors.Slice(range.Start, np);
        var dist = nl.Distances.Slice(range.Start, np);
        _ev.AtomicBase(mui, sp, vec, dist, w);
        int hp = _halfPerSpecies;
        if (grads is not null)
        {
            if (sc.DRe.Length < np * hp * 3) { sc.DRe = new double[np * hp * 3]; sc.DIm = new double[np * hp * 3]; }
            if (sc.DG.Length < np * _nb) sc.DG = new double[np * _nb];
            if (sc.Ux.Length < np) { sc.Ux = new double[np]; sc.Uy = new double[np]; sc.Uz = new double[np]; }
            var tables = _ev.Tables; var sh = _ev.Harmonics;
            for (int jj = 0; jj < np; jj++)
            {
                int pair = mui * _ne + sp[jj];
                double r = dist[jj];
                var dre = sc.DRe.AsSpan(jj * hp * 3, hp * 3); var dim = sc.DIm.AsSpan(jj * hp * 3, hp * 3);
                var dg = sc.DG.AsSpan(jj * _nb, _nb);
                if (r >= _skeleton.Bonds[pair].Cut) { dre.Clear(); dim.Clear(); dg.Clear(); sc.Ux[jj] = sc.Uy[jj] = sc.Uz[jj] = 0; continue; }
                double inv = 1 / r, ux = vec[jj].X * inv, uy = vec[jj].Y * inv, uz = vec[jj].Z * inv;
                sc.Ux[jj] = ux; sc.Uy[jj] = uy; sc.Uz[jj] = uz;
                tables.Base(pair).Evaluate(r, w.G, w.DG);
                w.DG.AsSpan(0, _nb).CopyTo(dg);
                tables.Radial(pair).Evaluate(r, w.R, w.DR);
                sh.Compute(ux, uy, uz, w.Yre, w.Yim, w.DYre, w.DYim, w.P, w.DP);
                for (int nn = 0; nn < _nr; nn++)
                    for (int l = 0; l < _l1; l++)
                    {
                        double rv = w.R[nn * _l1 + l] * inv, drv = w.DR[nn * _l1 + l];
                        int i0 = AceSphericalHarmonics.Index(l, 0);
                        for (int m = 0; m <= l; m++)
                        {
                            int y = i0 + m, o = (nn * _lmHalf + y) * 3;
                            dre[o] = w.Yre[y] * drv * ux + w.DYre[3 * y] * rv;
                            dre[o + 1] = w.Yre[y] * drv * uy + w.DYre[3 * y + 1] * rv;
                            dre[o + 2] = w.Yre[y] * drv * uz + w.DYre[3 * y + 2] * rv;
                            dim[o] = w.Yim[y] * drv * ux + w.DYim[3 * y] * rv;
                            dim[o + 1] = w.Yim[y] * drv * uy + w.DYim[3 * y + 1] * rv;
                            dim[o + 2] = w.Yim[y] * drv * uz + w.DYim[3 * y + 2] * rv;
                        }
                    }
            }
        }
        var are = w.AfRe; var aim = w.AfIm;
        Span<double> fr = stackalloc double[9], fi = stackalloc double[9], br = stackalloc double[9], bi = stackalloc double[9];
        for (int k = 0; k < K; k++)
        {
            if (_r1Index[k] >= 0)
            {
                int idx = _r1Index[k];
                values[i * K + k] = w.Ar1[idx];
                if (grads is null) continue;
                int mu = idx / _nb, nIdx = idx % _nb;
                for (int jj = 0; jj < np; jj++)
                {
                    long o = ((long)(range.Start + jj) * K + k) * 3;
                    if (sp[jj] != mu) { grads[o] = grads[o + 1] = grads[o + 2] = 0; continue; }
                    double d = sc.DG[jj * _nb + nIdx];
                    grads[o] = d * sc.Ux[jj]; grads[o + 1] = d * sc.Uy[jj]; grads[o + 2] = d * sc.Uz[jj];
                }
                continue;
            }
            int nu = _uStart[k + 1] - _uStart[k];
            if (grads is not null)
            {
                if (sc.JRe.Length < nu) { sc.JRe = new double[nu]; sc.JIm = new double[nu]; }
                Array.Clear(sc.JRe, 0, nu); Array.Clear(sc.JIm, 0, nu);
            }
            double value = 0;
            for (int s = _msStart[k]; s < _msEnd[k]; s++)
            {
                int o = _msOffset[s], rank = _msRank[s];
                double c = _msC[s];
                fr[0] = 1; fi[0] = 0;
                for (int t = 0; t < rank; t++)
                {
                    double xr = are[_fullIdx[o + t]], xi = aim[_fullIdx[o + t]];
                    fr[t + 1] = fr[t] * xr - fi[t] * xi;
                    fi[t + 1] = fr[t] * xi + fi[t] * xr;
                }
                value += c * fr[rank];
                if (grads is null) continue;
                br[rank - 1] = 1; bi[rank - 1] = 0;
                for (int t = rank - 1; t >= 1; t--)
                {
                    double xr = are[_fullIdx[o + t]], xi = aim[_fullIdx[o + t]];
                    br[t - 1] = br[t] * xr - bi[t] * xi;
                    bi[t - 1] = br[t] * xi + bi[t] * xr;
                }
                for (int t = 0; t < rank; t++)
                {
                    double dr = c * (fr[t] * br[t] - fi[t] * bi[t]);
                    double di = c * (fr[t] * bi[t] + fi[t] * br[t]);
                    int u = _uniqPos[o + t];
                    double sg = _sign[o + t];
                    if (sg == 0) { sc.JRe[u] += dr; sc.JIm[u] += di; }
                    else { sc.JRe[u] += sg * dr; sc.JIm[u] -= sg * di; }
                }
            }
            values[i * K + k] = value;
            if (grads is null) continue;
            for (int jj = 0; jj < np; jj++)
            {
                double gx = 0, gy = 0, gz = 0;
                int muj = sp[jj];
                var dre = sc.DRe.AsSpan(jj * hp * 3, hp * 3); var dim = sc.DIm.AsSpan(jj * hp * 3, hp * 3);
                for (int u = 0; u < nu; u++)
                {
                    int h = _uHalf[_uStart[k] + u];
                    if (h / hp != muj) continue;
                    int o = (h % hp) * 3;
                    double jr = sc.JRe[u], ji = sc.JIm[u];
                    gx += jr * dre[o] - ji * dim[o];
                    gy += jr * dre[o + 1] - ji * dim[o + 1];
                    gz += jr * dre[o + 2] - ji * dim[o + 2];
                }
                long q = ((long)(range.Start + jj) * K + k) * 3;
                grads[q] = gx; grads[q + 1] = gy; grads[q + 2] = gz;
            }
        }
    }
}
