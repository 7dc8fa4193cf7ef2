using System.Runtime.CompilerServices;
using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Descriptors;

/// <summary>
/// The SO(3) power spectrum of PyXtal_FF (thesis eq. 2.69–2.73; pyxtal_ff/descriptors/SO3.py) as
/// its authors implemented it in LAMMPS ML-IAP <c>descriptor so3</c> (src/ML-IAP/mliap_so3.cpp,
/// LAMMPS 20220106 and later), with exact derivatives with respect to every pair vector.
/// <para>
/// Per centre atom i, the Gaussian-smeared neighbour density is expanded in an orthonormal
/// polynomial radial basis g_n and spherical harmonics:
/// <code>
///   c_nlm = Σ_j w_j fc(r_ij) R_nl(r_ij) Y_lm(r̂_ij)
///   p_(n1 n2 l) = 2√2 π / √(2l+1) · Σ_m c_(n1 l m) c*_(n2 l m),   0 ≤ n2 ≤ n1 &lt; nmax, 0 ≤ l ≤ lmax
/// </code>
/// with R_nl from <see cref="So3RadialBasis"/>, fc(r) = ½(cos(π r / rcutfac) + 1) and w_j the
/// neighbour's element weight (<see cref="So3Parameters"/>). Feature k = (n1(n1+1)/2 + n2)·(lmax+1) + l,
/// LAMMPS's order (compute_pi) and normalisation (PyXtal_FF's erratum factor 2√2π/√(2l+1)).
/// </para>
/// <para>
/// Derivatives: with s_nl = Σ_m c_nlm Y_lm(r̂_ij), v_nl = Σ_m c_nlm ∇Y_lm(r̂_ij) and
/// f_nl = w_j fc R_nl, f'_nl its r-derivative, ∂p/∂r_ij = 2√2π/√(2l+1) ·
/// [r̂_ij (f'_(n1 l) s_(n2 l) + f'_(n2 l) s_(n1 l)) + f_(n1 l) v_(n2 l) + f_(n2 l) v_(n1 l)],
/// O(nmax (lmax+1)² + features) per pair once the coefficients of the centre are known. The radial
/// quadrature (LAMMPS's definition) costs O(N · nmax (lmax+1)) per pair with N = 10(nmax+lmax+1)
/// points and dominates.
/// </para>
/// Where Mlip and LAMMPS do the same thing differently (the result is the same to round-off):
/// <list type="bullet">
/// <item>Spherical harmonics: LAMMPS builds complex Y_lm from the Cayley–Klein U matrices of the
/// half angles (acos, atan2) and their gradients from Y_(l±1, m±1) (the "covariant" formula);
/// Mlip uses real harmonics and their Cartesian gradient (<see cref="RealSphericalHarmonics"/>).
/// The power spectrum is invariant under this per-l unitary change of basis.</item>
/// </list>
/// Numerical caveat inherited from LAMMPS: its upward recurrence for the modified spherical Bessel
/// functions makes R_nl noisy for l ≥ 5 (strongly so for α ≤ 1); Mlip reproduces the noise to stay
/// equal to LAMMPS, so keep lmax ≤ 4 where forces must be the exact derivatives of the energies
/// (details in <see cref="So3RadialBasis"/>).
/// <para/>
/// Where PyXtal_FF's SO3.py (MaterSim/PyXtal_FF master) differs from LAMMPS, LAMMPS is followed:
/// <list type="bullet">
/// <item>LAMMPS multiplies each neighbour's contribution by the cosine switching function fc(r);
/// SO3.py has none, so there a neighbour crossing rc makes the descriptor jump (R_nl(rc) ≠ 0:
/// the smeared Gaussian still overlaps the basis inside rc).</item>
/// <item>Quadrature points: LAMMPS uses N = (nmax+lmax+1)·10 for every (n, l), SO3.py (n+l+1)·10.</item>
/// <item>Weights: SO3.py weights neighbours by Z_j; LAMMPS by <c>welems</c>, truncated to int.</item>
/// <item>Neighbours: SO3.py keeps d &lt; rc (ASE NeighborList with rc/2 per atom); LAMMPS keeps
/// r² &lt; ((rad_i + rad_j)·rcutfac)².</item>
/// </list>
/// </summary>
public sealed class So3 : IAdjointDescriptor, IFusedDescriptor
{
    private const double Small = 1.0e-8; // LAMMPS skips pairs closer than this

    private readonly So3Parameters _p;
    private readonly So3RadialBasis _radial;
    private readonly RealSphericalHarmonics _ylm;
    private readonly int[] _elementZ;
    private readonly double[] _weight;   // effective (int-truncated) welems per element
    private readonly double[] _cutSq;    // [ei * ne + ej]: ((rad_i + rad_j) rcutfac)²
    private readonly double[] _norm;     // 2√2π/√(2l+1)
    private readonly int _nmax, _lmax, _nl, _ny;
    private readonly int[] _kn1, _kn2, _kl;
    private readonly string[] _names;

    public So3(So3Parameters parameters)
    {
        parameters.Validate();
        _p = parameters;
        _nmax = parameters.Nmax;
        _lmax = parameters.Lmax;
        _nl = _nmax * (_lmax + 1);
        _ny = (_lmax + 1) * (_lmax + 1);
        _radial = new So3RadialBasis(parameters.Rcutfac, _nmax, _lmax, parameters.Alpha);
        _ylm = new RealSphericalHarmonics(_lmax);

        int ne = parameters.Elements.Count;
        _elementZ = new int[ne];
        _weight = new double[ne];
        _cutSq = new double[ne * ne];
        double rc = parameters.Rcutfac, cutmax = 0;
        for (int a = 0; a < ne; a++)
        {
            _elementZ[a] = Elements.Number(parameters.Elements[a]);
            _weight[a] = parameters.EffectiveWeight(a);
            for (int b = 0; b < ne; b++)
            {
                // mliap_descriptor_so3.cpp: 2.0 * radelem * rcutfac on the diagonal, (rad_a + rad_b) * rcutfac off it
                double cut = a == b ? 2.0 * parameters.RadiusOf(a) * rc : (parameters.RadiusOf(a) + parameters.RadiusOf(b)) * rc;
                _cutSq[a * ne + b] = cut * cut;
                cutmax = Math.Max(cutmax, cut);
            }
        }
        // pairs beyond rcutfac are listed by LAMMPS when the radii exceed 0.5 but contribute nothing
        Cutoff = Math.Min(rc, cutmax);

        _norm = new double[_lmax + 1];
        for (int l = 0; l <= _lmax; l++) _norm[l] = 2.0 * Math.Sqrt(2.0) * Math.PI / Math.Sqrt(2.0 * l + 1.0);

        FeatureCount = parameters.FeatureCount;
        _kn1 = new int[FeatureCount];
        _kn2 = new int[FeatureCount];
        _kl = new int[FeatureCount];
        _names = new string[FeatureCount];
        int k = 0;
        for (int n1 = 0; n1 < _nmax; n1++)
            for (int n2 = 0; n2 <= n1; n2++)
                for (int l = 0; l <= _lmax; l++, k++)
                {
                    _kn1[k] = n1; _kn2[k] = n2; _kl[k] = l;
                    _names[k] = $"SO3(n1={n1},n2={n2},l={l})";
                }
    }

    public string Name => "so3";

    /// <summary>min(rcutfac, max (rad_a + rad_b)·rcutfac): the neighbour-list radius needed.</summary>
    public double Cutoff { get; }

    public int FeatureCount { get; }
    public IReadOnlyList<string> FeatureNames => _names;
    public So3Parameters Parameters => _p;
    public So3RadialBasis RadialBasis => _radial;

    /// <summary>Index of p(n1, n2, l), n2 ≤ n1, in LAMMPS's order.</summary>
    public int FeatureIndex(int n1, int n2, int l) => (n1 * (n1 + 1) / 2 + n2) * (_lmax + 1) + l;

    /// <summary>
    /// Scratch of one pass over the centres (allocated once per call): per contributing pair (row) its pair
    /// index, unit vector, f_nl = w fc R_nl, f'_nl, Y_lm and ∇Y_lm; per centre of a chunk its c_nlm.
    /// </summary>
    private sealed class Scratch
    {
        public readonly int[] PairOf;
        public readonly Vec3[] Unit;
        public readonly double[] F, Fp, Y, Dy, C, Radial, DRadial;

        public Scratch(int rows, bool derivatives, int centres, int nmax, int nl, int ny)
        {
            if (!derivatives) rows = 1;
            PairOf = new int[rows];
            Unit = new Vec3[rows];
            F = new double[rows * nl];
            Fp = new double[rows * nl];
            Y = new double[rows * ny];
            Dy = derivatives ? new double[rows * ny * 3] : [];
            C = new double[centres * nmax * ny];
            Radial = new double[nl];
            DRadial = new double[nl];
        }
    }

    private int[] ElementIndices(Structure s)
    {
        var element = new int[s.Count];
        for (int i = 0; i < s.Count; i++)
        {
            element[i] = Array.IndexOf(_elementZ, s.AtomicNumbers[i]);
            if (element[i] < 0)
                throw new MlipInputException(s.Source ?? InputLocation.Unknown,
                    $"element {Elements.Symbol(s.AtomicNumbers[i])} is not among the SO3 elements ({string.Join(' ', _p.Elements)})");
        }
        return element;
    }

    private static int MaxNeighbors(NeighborList nl, int n)
    {
        int maxNeigh = 0;
        for (int i = 0; i < n; i++) maxNeigh = Math.Max(maxNeigh, nl.NeighborCount(i));
        return maxNeigh;
    }

    /// <summary>
    /// The expansion coefficients c_nlm of centre i into <paramref name="c"/> ([n][lm]); with
    /// <paramref name="derivatives"/> also the per-pair data of its contributing pairs in rows
    /// <paramref name="row0"/>.. of the scratch. Returns the number of contributing pairs.
    /// </summary>
    private int Expand(int i, int[] element, NeighborList nl, Scratch w, bool derivatives, int row0, Span<double> c)
    {
        int ne = _elementZ.Length, nmax = _nmax, lmax = _lmax, nlc = _nl, ny = _ny, lp1 = lmax + 1;
        double rc = _p.Rcutfac;
        c.Clear();
        var vectors = nl.Vectors;
        var neighborIndex = nl.Neighbors;
        int ei = element[i];
        int m = 0;
        foreach (int p in nl.PairRange(i))
        {
            int ej = element[neighborIndex[p]];
            var v = vectors[p];
            double rsq = v.X * v.X + v.Y * v.Y + v.Z * v.Z;
            if (!(rsq < _cutSq[ei * ne + ej])) continue;
            double r = Math.Sqrt(rsq);
            double wj = _weight[ej];
            if (r < Small || r > rc || wj == 0) continue; // no contribution

            _radial.Evaluate(r, w.Radial, w.DRadial);
            // compute_sfac / compute_dsfac
            double sfac = 0.5 * (Math.Cos(Math.PI * r / rc) + 1.0);
            double dsfac = -0.5 * Math.PI / rc * Math.Sin(Math.PI * r / rc);
            int row = derivatives ? row0 + m : 0;
            var fa = w.F.AsSpan(row * nlc, nlc);
            var ya = w.Y.AsSpan(row * ny, ny);
            for (int q = 0; q < nlc; q++)
            {
                fa[q] = w.Radial[q] * sfac * wj;
                if (derivatives) w.Fp[row * nlc + q] = (w.DRadial[q] * sfac + w.Radial[q] * dsfac) * wj;
            }
            if (derivatives)
            {
                _ylm.Evaluate(v, ya, w.Dy.AsSpan(row * ny * 3, ny * 3));
                w.PairOf[row] = p;
                w.Unit[row] = v / r;
            }
            else _ylm.Evaluate(v, ya);

            for (int nn = 0; nn < nmax; nn++)
            {
                var cn = c.Slice(nn * ny, ny);
                for (int l = 0; l <= lmax; l++)
                {
                    double fnl = fa[nn * lp1 + l];
                    for (int idx = l * l; idx <= l * l + 2 * l; idx++) cn[idx] += fnl * ya[idx];
                }
            }
            m++;
        }
        return m;
    }

    /// <summary>p(n1, n2, l) of one centre from its coefficients.</summary>
    private void PowerSpectrum(ReadOnlySpan<double> c, Span<double> x)
    {
        int ny = _ny;
        for (int kk = 0; kk < x.Length; kk++)
        {
            int l = _kl[kk];
            var c1 = c.Slice(_kn1[kk] * ny + l * l, 2 * l + 1);
            var c2 = c.Slice(_kn2[kk] * ny + l * l, 2 * l + 1);
            double sum = 0;
            for (int q = 0; q <= 2 * l; q++) sum += c1[q] * c2[q];
            x[kk] = sum * _norm[l];
        }
    }

    public DescriptorSet Compute(Structure s, bool derivatives, NeighborList? neighbors = null)
    {
        var nl = neighbors is not null && neighbors.Cutoff >= Cutoff ? neighbors : NeighborList.Build(s, Cutoff);
        int n = s.Count, k = FeatureCount;
        var values = new double[n * k];
        double[]? grad = derivatives ? new double[nl.PairCount * k * 3] : null;
        var element = ElementIndices(s);
        int nmax = _nmax, lmax = _lmax, nlc = _nl, ny = _ny, lp1 = lmax + 1;
        var w = new Scratch(MaxNeighbors(nl, n), derivatives, 1, nmax, nlc, ny);
        var sv = new double[nlc];
        var vv = new double[nlc * 3];
        var norm = _norm;
        var c = w.C;

        for (int i = 0; i < n; i++)
        {
            int m = Expand(i, element, nl, w, derivatives, 0, c);
            PowerSpectrum(c, values.AsSpan(i * k, k));
            if (grad is null) continue;

            // ∂p/∂r_ij for every contributing pair of i
            for (int a = 0; a < m; a++)
            {
                var ya = w.Y.AsSpan(a * ny, ny);
                var dya = w.Dy.AsSpan(a * ny * 3, ny * 3);
                for (int nn = 0; nn < nmax; nn++)
                {
                    var cn = c.AsSpan(nn * ny, ny);
                    for (int l = 0; l <= lmax; l++)
                    {
                        var (s0, gx, gy, gz) = SumOverM(cn, ya, dya, l);
                        int o = nn * lp1 + l;
                        sv[o] = s0;
                        vv[3 * o] = gx; vv[3 * o + 1] = gy; vv[3 * o + 2] = gz;
                    }
                }
                var fa = w.F.AsSpan(a * nlc, nlc);
                var fpa = w.Fp.AsSpan(a * nlc, nlc);
                var u = w.Unit[a];
                var block = grad.AsSpan(w.PairOf[a] * k * 3, k * 3);
                for (int kk = 0; kk < k; kk++)
                {
                    int l = _kl[kk];
                    int i1 = _kn1[kk] * lp1 + l, i2 = _kn2[kk] * lp1 + l;
                    double nrm = norm[l];
                    double rad = (fpa[i1] * sv[i2] + fpa[i2] * sv[i1]) * nrm;
                    double f1 = fa[i1] * nrm, f2 = fa[i2] * nrm;
                    block[3 * kk] = rad * u.X + f1 * vv[3 * i2] + f2 * vv[3 * i1];
                    block[3 * kk + 1] = rad * u.Y + f1 * vv[3 * i2 + 1] + f2 * vv[3 * i1 + 1];
                    block[3 * kk + 2] = rad * u.Z + f1 * vv[3 * i2 + 2] + f2 * vv[3 * i1 + 2];
                }
            }
        }
        return new DescriptorSet(n, k, values, nl, grad);
    }

    /// <summary>Σ_m v_lm Y_lm and Σ_m v_lm ∇Y_lm over the 2l+1 entries of degree <paramref name="l"/> (v and Y indexed by lm, ∇Y by 3 lm + axis).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (double S, double X, double Y, double Z) SumOverM(ReadOnlySpan<double> v, ReadOnlySpan<double> y, ReadOnlySpan<double> dy, int l)
    {
        double s0 = 0, gx = 0, gy = 0, gz = 0;
        for (int idx = l * l; idx <= l * l + 2 * l; idx++)
        {
            double cv = v[idx];
            s0 += cv * y[idx];
            gx += cv * dy[3 * idx];
            gy += cv * dy[3 * idx + 1];
            gz += cv * dy[3 * idx + 2];
        }
        return (s0, gx, gy, gz);
    }

    /// <summary>
    /// dE_i/dr_ij of centre i's contributing pairs (rows row0..row0+m−1), written per pair to
    /// <paramref name="pairG"/> (summed into forces and the virial by <see cref="Finish"/>): the adjoint Λ_nlm = ∂E_i/∂c_nlm =
    /// Σ_k β_k norm_l (δ_(n,n1) c_(n2 lm) + δ_(n,n2) c_(n1 lm)) once, then per pair
    /// g = Σ_nl [f'_nl r̂ Σ_m Λ_nlm Y_lm + f_nl Σ_m Λ_nlm ∇Y_lm].
    /// </summary>
    private void ContractCentre(ReadOnlySpan<double> beta, ReadOnlySpan<double> c, Scratch w, int row0, int m,
                                double[] lambda, double[] pairG)
    {
        int nmax = _nmax, lmax = _lmax, nlc = _nl, ny = _ny, lp1 = lmax + 1, k = FeatureCount;
        Array.Clear(lambda);
        for (int kk = 0; kk < k; kk++)
        {
            double b = beta[kk];
            if (b == 0) continue;
            int l = _kl[kk];
            double bn = b * _norm[l];
            int o1 = _kn1[kk] * ny + l * l, o2 = _kn2[kk] * ny + l * l;
            for (int q = 0; q <= 2 * l; q++)
            {
                lambda[o1 + q] += bn * c[o2 + q];
                lambda[o2 + q] += bn * c[o1 + q];
            }
        }
        for (int a = row0; a < row0 + m; a++)
        {
            var ya = w.Y.AsSpan(a * ny, ny);
            var dya = w.Dy.AsSpan(a * ny * 3, ny * 3);
            var fa = w.F.AsSpan(a * nlc, nlc);
            var fpa = w.Fp.AsSpan(a * nlc, nlc);
            double rad = 0, gx = 0, gy = 0, gz = 0;
            for (int nn = 0; nn < nmax; nn++)
            {
                var ln = lambda.AsSpan(nn * ny, ny);
                for (int l = 0; l <= lmax; l++)
                {
                    var (s0, vx, vy, vz) = SumOverM(ln, ya, dya, l);
                    int o = nn * lp1 + l;
                    rad += fpa[o] * s0;
                    double fo = fa[o];
                    gx += fo * vx; gy += fo * vy; gz += fo * vz;
                }
            }
            var u = w.Unit[a];
            gx += rad * u.X; gy += rad * u.Y; gz += rad * u.Z;
            int p = w.PairOf[a];
            pairG[3 * p] = gx; pairG[3 * p + 1] = gy; pairG[3 * p + 2] = gz;
        }
    }

    /// <summary>
    /// Forces and stress from the per-pair gradients dE/dr_ij (only the pairs marked in <paramref name="used"/>, those a centre
    /// contracted), summed serially in pair order: the same bits on any thread count.
    /// </summary>
    private static (Vec3[] Forces, Stress? Stress) Finish(Structure s, NeighborList nl, double[] pairG, bool[] used)
    {
        var f = new double[3 * s.Count];
        var v = new double[9];
        var centers = nl.Centers; var neighborIndex = nl.Neighbors; var vectors = nl.Vectors;
        for (int p = 0; p < used.Length; p++)
        {
            if (!used[p]) continue;
            int i = centers[p], j = neighborIndex[p];
            double gx = pairG[3 * p], gy = pairG[3 * p + 1], gz = pairG[3 * p + 2];
            f[3 * j] -= gx; f[3 * j + 1] -= gy; f[3 * j + 2] -= gz;
            f[3 * i] += gx; f[3 * i + 1] += gy; f[3 * i + 2] += gz;
            var r = vectors[p];
            v[0] += gx * r.X; v[1] += gx * r.Y; v[2] += gx * r.Z;
            v[3] += gy * r.X; v[4] += gy * r.Y; v[5] += gy * r.Z;
            v[6] += gz * r.X; v[7] += gz * r.Y; v[8] += gz * r.Z;
        }
        var forces = new Vec3[s.Count];
        for (int i = 0; i < forces.Length; i++) forces[i] = new Vec3(f[3 * i], f[3 * i + 1], f[3 * i + 2]);
        Stress? stress = null;
        double volume = s.Volume;
        if (volume > 0)
        {
            double cs = Stress.EvPerCubicAngstromInGpa / volume;
            stress = new Stress(cs * v[0], cs * v[4], cs * v[8], cs * 0.5 * (v[5] + v[7]), cs * 0.5 * (v[2] + v[6]), cs * 0.5 * (v[1] + v[3]));
        }
        return (forces, stress);
    }

    /// <summary>
    /// Forces and stress from β_i = dE/dp_i without the derivative blocks (<see cref="ContractCentre"/>),
    /// O(nmax (lmax+1)²) per pair. It expands every centre again (the radial quadrature dominates), so for a
    /// whole energy + forces call <see cref="EnergyAndForces"/>, which expands once, is faster. Equal to
    /// <see cref="Models.ForceContraction"/> on the blocks to round-off.
    /// </summary>
    public (Vec3[] Forces, Stress? Stress) ForcesFromAdjoint(Structure s, ReadOnlySpan<double> dEdX, NeighborList? neighbors = null)
    {
        var nl = neighbors is not null && neighbors.Cutoff >= Cutoff ? neighbors : NeighborList.Build(s, Cutoff);
        int n = s.Count, k = FeatureCount;
        if (dEdX.Length != n * k) throw new ArgumentException("dE/dX has the wrong length", nameof(dEdX));
        var element = ElementIndices(s);
        int maxNeigh = MaxNeighbors(nl, n);
        var betaAll = dEdX.ToArray();
        var pairG = new double[3 * nl.PairCount];
        var used = new bool[nl.PairCount];
        MlipParallel.ForChunks(n, Chunk, () => (new Scratch(maxNeigh, true, 1, _nmax, _nl, _ny), new double[_nmax * _ny]), (first, end, t) =>
        {
            var (w, lambda) = t;
            for (int i = first; i < end; i++)
            {
                var beta = betaAll.AsSpan(i * k, k);
                if (!beta.ContainsAnyExcept(0.0)) continue;
                int m = Expand(i, element, nl, w, true, 0, w.C);
                ContractCentre(beta, w.C, w, 0, m, lambda, pairG);
                for (int a = 0; a < m; a++) used[w.PairOf[a]] = true;
            }
        });
        return Finish(s, nl, pairG, used);
    }

    /// <summary>Centres per chunk of <see cref="EnergyAndForces"/> (and per parallel block of <see cref="ForcesFromAdjoint"/>).</summary>
    private const int Chunk = 32;

    private sealed record FusedScratch(Scratch W, double[] Lambda, double[] Beta, int[] Rows);

    /// <summary>
    /// Energies, forces and stress in one pass over the centres (<see cref="IFusedDescriptor"/>): per chunk of
    /// centres the coefficients and per-pair data are computed once, the model gives E_i and dE/dX_i for the
    /// chunk, and the adjoint contraction turns them into forces, without derivative blocks and without a
    /// second radial quadrature. <paramref name="values"/> (n × K) receives the features.
    /// </summary>
    public (Vec3[] Forces, Stress? Stress) EnergyAndForces(Structure s, AtomEnergyFunction model, Span<double> values, Span<double> atomEnergies, NeighborList? neighbors = null)
    {
        var nl = neighbors is not null && neighbors.Cutoff >= Cutoff ? neighbors : NeighborList.Build(s, Cutoff);
        int n = s.Count, k = FeatureCount, cn = _nmax * _ny;
        if ((!values.IsEmpty && values.Length != n * k) || atomEnergies.Length != n) throw new ArgumentException("values or energies have the wrong length");
        var element = ElementIndices(s);
        int maxNeigh = MaxNeighbors(nl, n);
        var x = new double[n * k];
        var energies = new double[n];
        var pairG = new double[3 * nl.PairCount];
        var used = new bool[nl.PairCount];
        // blocks of Chunk centres in parallel, each with its own scratch; every centre writes only its own values,
        // energy and pair gradients, summed afterwards in pair order (Finish): the same bits on any thread count
        MlipParallel.ForChunks(n, Chunk, () => new FusedScratch(new Scratch(Chunk * maxNeigh, true, Chunk, _nmax, _nl, _ny), new double[cn], new double[Chunk * k], new int[Chunk + 1]), (first, end, t) =>
        {
            var (w, lambda, beta, rows) = t;
            int count = end - first;
            for (int a = 0; a < count; a++)
            {
                var c = w.C.AsSpan(a * cn, cn);
                int m = Expand(first + a, element, nl, w, true, rows[a], c);
                rows[a + 1] = rows[a] + m;
                PowerSpectrum(c, x.AsSpan((first + a) * k, k));
            }
            var b = beta.AsSpan(0, count * k);
            model(first, x.AsSpan(first * k, count * k), energies.AsSpan(first, count), b);
            for (int a = 0; a < count; a++)
            {
                ContractCentre(b.Slice(a * k, k), w.C.AsSpan(a * cn, cn), w, rows[a], rows[a + 1] - rows[a], lambda, pairG);
                for (int q = rows[a]; q < rows[a + 1]; q++) used[w.PairOf[q]] = true;
            }
        });
        if (!values.IsEmpty) x.CopyTo(values);
        energies.CopyTo(atomEnergies);
        return Finish(s, nl, pairG, used);
    }
}
