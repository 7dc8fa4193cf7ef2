using System.Runtime.Intrinsics;
using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Descriptors;

/// <summary>
/// The SO(4) bispectrum B_{j1 j2 j} of Bartók et al. (PRB 87, 184115, 2013) and Thompson et al.
/// (J. Comput. Phys. 285, 316, 2015), computed as LAMMPS's ML-SNAP does (src/ML-SNAP/sna.cpp), so
/// that values, ordering and derivatives equal <c>compute sna/atom</c>, <c>snad/atom</c> and
/// <c>snav/atom</c>. The methods are the steps of the maths: <see cref="ComputeU"/> (hyperspherical
/// harmonics U_j of each neighbour, summed into U_tot), <see cref="ComputeZ"/> (Clebsch–Gordan
/// products of U_tot), <see cref="ComputeB"/> (B = Σ U_tot* · Z), <see cref="ComputeDU"/> (∂U/∂r_ij)
/// and <see cref="ComputeDB"/> (∂B/∂r_ij from ∂U and Z); for inference, <see cref="ComputeYFromZ"/>
/// (Y = Σ_k β_k ∂B_k/∂Z-weighted Z, the adjoint) and <see cref="ComputeDEDR"/> (dE/dr_ij = Y · ∂U/∂r_ij).
/// Index tables are built once in the constructor; loops run over flat arrays.
/// </summary>
public sealed class BispectrumSo4 : IAdjointDescriptor, IFusedDescriptor
{
    private readonly So4Parameters _p;
    private readonly int _twojmax;
    private readonly int[] _elementZ;
    private readonly double[] _radius, _weight;

    // U layout: for each j a (j+1) x (j+1) block, u[idxuBlock[j] + (j+1)*mb + ma]
    private readonly int[] _idxuBlock;
    private readonly int _idxuMax;

    // B components (j1 >= j2, j >= j1)
    private readonly int[] _bJ1, _bJ2, _bJ;
    private readonly int[,,] _idxbBlock;

    // Z entries: all (j1 >= j2, j) with mb <= j/2, ma in 0..j
    private readonly int[] _zJ1, _zJ2, _zJ, _zMa1Min, _zMa2Max, _zMb1Min, _zMb2Max, _zNa, _zNb, _zJju;
    private readonly int[,,] _idxzBlock;
    private readonly int[] _zTable; // per Z entry: j1 j2 j ma1min ma2max mb1min mb2max na nb jju
    private readonly int _idxzMax;

    private readonly int[,,] _idxcgBlock;
    private readonly double[] _cglist;
    private readonly double[] _rootpq; // sqrt(p/q) at p * _rootStride + q
    private readonly int _rootStride;
    private readonly double[] _bzero;
    private readonly int[] _yBeta, _zCg;
    private readonly double[] _yFactor;
    private readonly string[] _names;
    private readonly int _nb;          // linear components B_{j1 j2 j}
    private readonly bool _quadratic;  // quadraticflag: products appended after the linear block

    /// <summary>The vector kernels of the force call, in the reverse order of their first use (<see cref="JitWarmUp"/>).</summary>
    internal static readonly string[] WarmedKernels = [nameof(SumDuZ4), nameof(DeDr4), nameof(Du4), nameof(PairGradients4), nameof(ComputeZBlock), nameof(ComputeU4), nameof(Prepare4)];

    public BispectrumSo4(So4Parameters parameters)
    {
        _blocks = new(() => new BlockWorkspace(this, FeatureCount));
        _p = parameters;
        _twojmax = parameters.TwoJMax;
        if (_twojmax < 0 || _twojmax > 20) throw new MlipException($"twojmax must be between 0 and 20 (got {_twojmax})");
        if (!(parameters.RcutFac > 0) || !double.IsFinite(parameters.RcutFac)) throw new MlipException("rcutfac must be a positive number");
        if (!(parameters.Rfac0 > 0 && parameters.Rfac0 < 1)) throw new MlipException("rfac0 must be between 0 and 1");
        if (!(parameters.Rmin0 >= 0) || !double.IsFinite(parameters.Rmin0)) throw new MlipException("rmin0 must be a finite number >= 0");
        if (!double.IsFinite(parameters.WSelf)) throw new MlipException("wself must be finite");
        int ne = parameters.Elements.Count;
        if (ne == 0) throw new MlipException("the SO(4) bispectrum needs at least one element");
        foreach (var el in parameters.Elements)
        {
            if (!(el.Radius > 0) || !double.IsFinite(el.Radius)) throw new MlipException($"radelem of {el.Symbol} must be a positive number");
            if (!double.IsFinite(el.Weight)) throw new MlipException($"wj of {el.Symbol} must be finite");
        }
        if (!(parameters.MaxCutoff <= DescriptorLimits.MaxCutoff))
            throw new MlipException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"the largest pair cut-off 2·rcutfac·radelem = {parameters.MaxCutoff:G6} Å is above {DescriptorLimits.MaxCutoff} Å"));
        _elementZ = new int[ne];
        _radius = new double[ne];
        _weight = new double[ne];
        for (int e = 0; e < ne; e++)
        {
            _elementZ[e] = Elements.Number(parameters.Elements[e].Symbol);
            _radius[e] = parameters.Elements[e].Radius;
            _weight[e] = parameters.Elements[e].Weight;
        }
        int J = _twojmax;

        _idxuBlock = new int[J + 1];
        int count = 0;
        for (int j = 0; j <= J; j++) { _idxuBlock[j] = count; count += (j + 1) * (j + 1); }
        _idxuMax = count;

        // B list
        var b1 = new List<int>(); var b2 = new List<int>(); var bj = new List<int>();
        _idxbBlock = new int[J + 1, J + 1, J + 1];
        for (int j1 = 0; j1 <= J; j1++)
            for (int j2 = 0; j2 <= j1; j2++)
                for (int j = j1 - j2; j <= Math.Min(J, j1 + j2); j += 2)
                    if (j >= j1)
                    {
                        _idxbBlock[j1, j2, j] = b1.Count;
                        b1.Add(j1); b2.Add(j2); bj.Add(j);
                    }
        _bJ1 = [.. b1]; _bJ2 = [.. b2]; _bJ = [.. bj];
        _nb = _bJ1.Length;
        _quadratic = parameters.QuadraticFlag;
        FeatureCount = _quadratic ? _nb + _nb * (_nb + 1) / 2 : _nb;

        // Z list
        var z = new List<int[]>();
        _idxzBlock = new int[J + 1, J + 1, J + 1];
        for (int j1 = 0; j1 <= J; j1++)
            for (int j2 = 0; j2 <= j1; j2++)
                for (int j = j1 - j2; j <= Math.Min(J, j1 + j2); j += 2)
                {
                    _idxzBlock[j1, j2, j] = z.Count;
                    for (int mb = 0; 2 * mb <= j; mb++)
                        for (int ma = 0; ma <= j; ma++)
                        {
                            int ma1min = Math.Max(0, (2 * ma - j - j2 + j1) / 2);
                            int ma2max = (2 * ma - j - (2 * ma1min - j1) + j2) / 2;
                            int na = Math.Min(j1, (2 * ma - j + j2 + j1) / 2) - ma1min + 1;
                            int mb1min = Math.Max(0, (2 * mb - j - j2 + j1) / 2);
                            int mb2max = (2 * mb - j - (2 * mb1min - j1) + j2) / 2;
                            int nb = Math.Min(j1, (2 * mb - j + j2 + j1) / 2) - mb1min + 1;
                            int jju = _idxuBlock[j] + (j + 1) * mb + ma;
                            z.Add([j1, j2, j, ma1min, ma2max, mb1min, mb2max, na, nb, jju]);
                        }
                }
        _idxzMax = z.Count;
        _zTable = new int[10 * _idxzMax];
        for (int q = 0; q < _idxzMax; q++) Array.Copy(z[q], 0, _zTable, 10 * q, 10);
        _zJ1 = new int[_idxzMax]; _zJ2 = new int[_idxzMax]; _zJ = new int[_idxzMax];
        _zMa1Min = new int[_idxzMax]; _zMa2Max = new int[_idxzMax]; _zMb1Min = new int[_idxzMax]; _zMb2Max = new int[_idxzMax];
        _zNa = new int[_idxzMax]; _zNb = new int[_idxzMax]; _zJju = new int[_idxzMax];
        for (int q = 0; q < _idxzMax; q++)
        {
            var e = z[q];
            _zJ1[q] = e[0]; _zJ2[q] = e[1]; _zJ[q] = e[2]; _zMa1Min[q] = e[3]; _zMa2Max[q] = e[4];
            _zMb1Min[q] = e[5]; _zMb2Max[q] = e[6]; _zNa[q] = e[7]; _zNb[q] = e[8]; _zJju[q] = e[9];
        }

        // Clebsch–Gordan coefficients
        _idxcgBlock = new int[J + 1, J + 1, J + 1];
        var cg = new List<double>();
        for (int j1 = 0; j1 <= J; j1++)
            for (int j2 = 0; j2 <= j1; j2++)
                for (int j = j1 - j2; j <= Math.Min(J, j1 + j2); j += 2)
                {
                    _idxcgBlock[j1, j2, j] = cg.Count;
                    for (int m1 = 0; m1 <= j1; m1++)
                    {
                        int aa2 = 2 * m1 - j1;
                        for (int m2 = 0; m2 <= j2; m2++)
                        {
                            int bb2 = 2 * m2 - j2;
                            int m = (aa2 + bb2 + j) / 2;
                            if (m < 0 || m > j) { cg.Add(0.0); continue; }
                            double sum = 0.0;
                            for (int zz = Math.Max(0, Math.Max(-(j - j2 + aa2) / 2, -(j - j1 - bb2) / 2));
                                 zz <= Math.Min((j1 + j2 - j) / 2, Math.Min((j1 - aa2) / 2, (j2 + bb2) / 2)); zz++)
                            {
                                double ifac = zz % 2 != 0 ? -1 : 1;
                                sum += ifac / (Factorial(zz) * Factorial((j1 + j2 - j) / 2 - zz) * Factorial((j1 - aa2) / 2 - zz) *
                                               Factorial((j2 + bb2) / 2 - zz) * Factorial((j - j2 + aa2) / 2 + zz) * Factorial((j - j1 - bb2) / 2 + zz));
                            }
                            int cc2 = 2 * m - j;
                            double dcg = DeltaCg(j1, j2, j);
                            double sfaccg = Math.Sqrt(Factorial((j1 + aa2) / 2) * Factorial((j1 - aa2) / 2) * Factorial((j2 + bb2) / 2) *
                                                      Factorial((j2 - bb2) / 2) * Factorial((j + cc2) / 2) * Factorial((j - cc2) / 2) * (j + 1));
                            cg.Add(sum * dcg * sfaccg);
                        }
                    }
                }
        _cglist = [.. cg];

        _rootStride = J + 2;
        _rootpq = new double[(J + 2) * (J + 2)];
        for (int p = 1; p <= J; p++)
            for (int q = 1; q <= J; q++)
                _rootpq[p * _rootStride + q] = Math.Sqrt((double)p / q);

        // adjoint: Y_j += factor · β[b] · Z for Z entry jjz (LAMMPS compute_yi's case analysis, done once)
        _yBeta = new int[_idxzMax];
        _yFactor = new double[_idxzMax];
        _zCg = new int[_idxzMax];
        for (int jjz = 0; jjz < _idxzMax; jjz++)
        {
            int j1 = _zJ1[jjz], j2 = _zJ2[jjz], j = _zJ[jjz];
            _zCg[jjz] = _idxcgBlock[j1, j2, j];
            double factor;
            int b;
            if (j >= j1) { b = _idxbBlock[j1, j2, j]; factor = j1 == j ? (j2 == j ? 3 : 2) : 1; }
            else if (j >= j2) { b = _idxbBlock[j, j2, j1]; factor = j2 == j ? 2 : 1; }
            else { b = _idxbBlock[j2, j, j1]; factor = 1; }
            if (j1 > j) factor *= (j1 + 1) / (j + 1.0);
            _yBeta[jjz] = b;
            _yFactor[jjz] = factor;
        }

        double www = _p.WSelf * _p.WSelf * _p.WSelf;
        _bzero = new double[J + 1];
        for (int j = 0; j <= J; j++) _bzero[j] = www * (j + 1);

        _names = new string[FeatureCount];
        for (int k = 0; k < _nb; k++) _names[k] = $"B[{_bJ1[k]},{_bJ2[k]},{_bJ[k]}]";
        if (_quadratic)
        {
            int c = _nb;
            for (int a = 0; a < _nb; a++)
                for (int b = a; b < _nb; b++)
                    _names[c++] = a == b ? $"0.5*{_names[a]}^2" : $"{_names[a]}*{_names[b]}";
        }
    }

    private static double Factorial(int n)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n));
        double f = 1;
        for (int k = 2; k <= n; k++) f *= k;
        return f;
    }

    private static double DeltaCg(int j1, int j2, int j)
    {
        double sfaccg = Factorial((j1 + j2 + j) / 2 + 1);
        return Math.Sqrt(Factorial((j1 + j2 - j) / 2) * Factorial((j1 - j2 + j) / 2) * Factorial((-j1 + j2 + j) / 2) / sfaccg);
    }

    public string Name => "so4";
    public double Cutoff => _p.MaxCutoff;
    public int FeatureCount { get; }
    public IReadOnlyList<string> FeatureNames => _names;
    public So4Parameters Parameters => _p;

    /// <summary>(j1, j2, j) of component k, in LAMMPS's order.</summary>
    public (int J1, int J2, int J) Component(int k) => (_bJ1[k], _bJ2[k], _bJ[k]);

    /// <summary>Number of linear components B_{j1 j2 j} (30, 55, 91 for 2J = 6, 8, 10); the products follow them with quadraticflag.</summary>
    public int LinearCount => _nb;

    // ------------------------------------------------------------------ per-structure driver

    /// <summary>Scratch space for one centre atom (reused across atoms; one per thread).</summary>
    private sealed class Workspace
    {
        public double[] UtotR, UtotI, ZR, ZI, YR, YI, DuR, DuI, B, DB, Beta;
        public double[] UR = [], UI = [];
        public double[] U4R = [], U4I = []; // Prepare4: U of neighbour 4g + l at (4g·idxuMax + 4q + l)
        public int[] Pair = [];
        public double[] Rcut = [], Wj = [];

        public Workspace(BispectrumSo4 s)
        {
            UtotR = new double[s._idxuMax]; UtotI = new double[s._idxuMax];
            ZR = new double[s._idxzMax]; ZI = new double[s._idxzMax];
            YR = new double[s._idxuMax]; YI = new double[s._idxuMax];
            DuR = new double[3 * s._idxuMax]; DuI = new double[3 * s._idxuMax];
            B = new double[s._nb];
            DB = new double[3 * s._nb];
            Beta = new double[s._nb];
        }

        public void EnsureNeighbors(int n, int idxuMax)
        {
            if (Pair.Length >= n) return;
            int cap = Math.Max(n, 2 * Pair.Length);
            Pair = new int[cap]; Rcut = new double[cap]; Wj = new double[cap];
            UR = new double[cap * idxuMax]; UI = new double[cap * idxuMax];
            U4R = new double[(cap + 3) / 4 * 4 * idxuMax]; U4I = new double[(cap + 3) / 4 * 4 * idxuMax];
        }
    }

    private int ElementIndex(Structure s, int atom)
    {
        int z = s.AtomicNumbers[atom];
        for (int e = 0; e < _elementZ.Length; e++) if (_elementZ[e] == z) return e;
        throw new MlipInputException(s.Source ?? InputLocation.Unknown,
            $"element {Elements.Symbol(z)} has no SO(4) radius and weight (elements: {string.Join(' ', _p.Elements.Select(e => e.Symbol))})");
    }

    /// <summary>The pairs of i inside their pair cut-offs, with their cut-offs and weights, into the workspace; returns their number.</summary>
    private int SelectNeighbors(NeighborList nl, int[] element, int i, Workspace w)
    {
        int ei = element[i];
        w.EnsureNeighbors(nl.NeighborCount(i), _idxuMax);
        var distances = nl.Distances;
        var neighbors = nl.Neighbors;
        int m = 0;
        foreach (int p in nl.PairRange(i))
        {
            int ej = element[neighbors[p]];
            double rcut = _p.RcutFac * (_radius[ei] + _radius[ej]);
            double r = distances[p];
            if (!(r < rcut) || r * r <= 1e-20) continue;
            w.Pair[m] = p;
            w.Rcut[m] = rcut;
            w.Wj[m] = _weight[ej];
            m++;
        }
        return m;
    }

    /// <summary>Selects the neighbours of i inside their pair cutoffs and computes U for each and U_tot.</summary>
    private int Prepare(Structure s, NeighborList nl, int[] element, int i, Workspace w)
    {
        int m = SelectNeighbors(nl, element, i, w);
        var vectors = nl.Vectors;
        ZeroUtot(w);
        for (int a = 0; a < m; a++)
        {
            var v = vectors[w.Pair[a]];
            double r = Math.Sqrt(v.X * v.X + v.Y * v.Y + v.Z * v.Z);
            double theta0 = (r - _p.Rmin0) * _p.Rfac0 * Math.PI / (w.Rcut[a] - _p.Rmin0);
            double z0 = r / Math.Tan(theta0);
            ComputeU(v.X, v.Y, v.Z, z0, r, w.UR.AsSpan(a * _idxuMax, _idxuMax), w.UI.AsSpan(a * _idxuMax, _idxuMax));
            double sfac = SwitchingFunction(r, w.Rcut[a]) * w.Wj[a];
            var ur = w.UR.AsSpan(a * _idxuMax, _idxuMax);
            var ui = w.UI.AsSpan(a * _idxuMax, _idxuMax);
            for (int q = 0; q < _idxuMax; q++)
            {
                w.UtotR[q] += sfac * ur[q];
                w.UtotI[q] += sfac * ui[q];
            }
        }
        return m;
    }

    /// <summary>
    /// <see cref="Prepare"/> with U of four neighbours at a time, one per vector lane, written lane-interleaved to
    /// <see cref="Workspace.U4R"/> for <see cref="PairGradients4"/>; each lane does the scalar operations in the same order and
    /// U_tot is summed in neighbour order, so the same bits.
    /// </summary>
    private unsafe int Prepare4(Structure s, NeighborList nl, int[] element, int i, Workspace w)
    {
        int m = SelectNeighbors(nl, element, i, w);
        var vectors = nl.Vectors;
        ZeroUtot(w);
        int nu = _idxuMax;
        Span<double> sf = stackalloc double[Lanes];
        Span<double> lane = stackalloc double[5 * Lanes];
        for (int start = 0; start < m; start += Lanes)
        {
            int lanes = Math.Min(Lanes, m - start);
            for (int l = 0; l < Lanes; l++)
            {
                int a = start + Math.Min(l, lanes - 1); // a short group repeats its last neighbour in the spare lanes
                var v = vectors[w.Pair[a]];
                double r = Math.Sqrt(v.X * v.X + v.Y * v.Y + v.Z * v.Z);
                double theta0 = (r - _p.Rmin0) * _p.Rfac0 * Math.PI / (w.Rcut[a] - _p.Rmin0);
                double z0 = r / Math.Tan(theta0);
                double r0inv = 1.0 / Math.Sqrt(r * r + z0 * z0);
                lane[l] = r0inv * z0; lane[Lanes + l] = -r0inv * v.Z; lane[2 * Lanes + l] = r0inv * v.Y; lane[3 * Lanes + l] = -r0inv * v.X;
                sf[l] = SwitchingFunction(r, w.Rcut[a]) * w.Wj[a];
            }
            fixed (double* u4r = w.U4R, u4i = w.U4I, utR = w.UtotR, utI = w.UtotI, lp = lane)
            {
                double* ur = u4r + start * nu, ui = u4i + start * nu;
                ComputeU4(Vector256.Load(lp), Vector256.Load(lp + Lanes), Vector256.Load(lp + 2 * Lanes), Vector256.Load(lp + 3 * Lanes), ur, ui);
                for (int q = 0; q < nu; q++) // each U_tot entry summed over the neighbours in their order
                {
                    double tr = utR[q], ti = utI[q];
                    for (int l = 0; l < lanes; l++)
                    {
                        tr += sf[l] * ur[Lanes * q + l];
                        ti += sf[l] * ui[Lanes * q + l];
                    }
                    utR[q] = tr; utI[q] = ti;
                }
            }
        }
        return m;
    }

    /// <summary><see cref="ComputeU"/> of four neighbours (a = aR + i aI, b = bR + i bI per lane), lane-interleaved: ur[4·jju + lane].</summary>
    private unsafe void ComputeU4(Vector256<double> aR, Vector256<double> aI, Vector256<double> bR, Vector256<double> bI, double* ur, double* ui)
    {
        const int L = Lanes;
        Vector256.Create(1.0).Store(ur);
        Vector256<double>.Zero.Store(ui);
        fixed (double* rootpq = _rootpq)
        fixed (int* block = _idxuBlock)
        {
            int stride = _rootStride;
            for (int j = 1; j <= _twojmax; j++)
            {
                int jju = block[j];
                int jjup = block[j - 1];
                for (int mb = 0; 2 * mb <= j; mb++)
                {
                    Vector256<double>.Zero.Store(ur + L * jju);
                    Vector256<double>.Zero.Store(ui + L * jju);
                    for (int ma = 0; ma < j; ma++)
                    {
                        var upr = Vector256.Load(ur + L * jjup); var upi = Vector256.Load(ui + L * jjup);
                        var rp = Vector256.Create(rootpq[(j - ma) * stride + j - mb]);
                        (Vector256.Load(ur + L * jju) + rp * (aR * upr + aI * upi)).Store(ur + L * jju);
                        (Vector256.Load(ui + L * jju) + rp * (aR * upi - aI * upr)).Store(ui + L * jju);
                        var rn = Vector256.Create(-rootpq[(ma + 1) * stride + j - mb]);
                        (rn * (bR * upr + bI * upi)).Store(ur + L * (jju + 1));
                        (rn * (bR * upi - bI * upr)).Store(ui + L * (jju + 1));
                        jju++; jjup++;
                    }
                    jju++;
                }
                jju = block[j];
                jjup = jju + (j + 1) * (j + 1) - 1;
                int mbpar = 1;
                for (int mb = 0; 2 * mb <= j; mb++)
                {
                    int mapar = mbpar;
                    for (int ma = 0; ma <= j; ma++)
                    {
                        var vr = Vector256.Load(ur + L * jju); var vi = Vector256.Load(ui + L * jju);
                        if (mapar == 1) { vr.Store(ur + L * jjup); (-vi).Store(ui + L * jjup); }
                        else { (-vr).Store(ur + L * jjup); vi.Store(ui + L * jjup); }
                        mapar = -mapar;
                        jju++; jjup--;
                    }
                    mbpar = -mbpar;
                }
            }
        }
    }

    /// <summary>Centres per block of the parallel loops (<see cref="MlipParallel.ForChunks{TScratch}(int, int, Func{TScratch}, Action{int, int, TScratch})"/>).</summary>
    private const int Chunk = 8;

    private int[] ElementIndices(Structure s)
    {
        var element = new int[s.Count];
        for (int i = 0; i < element.Length; i++) element[i] = ElementIndex(s, i);
        return element;
    }

    public DescriptorSet Compute(Structure s, bool derivatives, NeighborList? neighbors = null)
    {
        var nl = neighbors is not null && neighbors.Cutoff >= Cutoff ? neighbors : NeighborList.Build(s, Cutoff);
        int n = s.Count, k = FeatureCount;
        var element = ElementIndices(s);
        var values = new double[n * k];
        double[]? grad = derivatives ? new double[nl.PairCount * k * 3] : null;
        // every centre writes only its own row of values and the blocks of its own pairs: parallel over centres, same bits on any thread count
        MlipParallel.ForChunks(n, Chunk, RentBlock, (first, end, bw) =>
        {
            var vectors = nl.Vectors;
            for (int a = 0; a < end - first; a++) bw.Neighbors[a] = Vectorised ? Prepare4(s, nl, element, first + a, bw.Atoms[a]) : Prepare(s, nl, element, first + a, bw.Atoms[a]);
            ComputeZBlock(bw, end - first);
            for (int i = first; i < end; i++)
            {
                var w = bw.Atoms[i - first];
                int m = bw.Neighbors[i - first];
                var x = values.AsSpan(i * k, k);
                ComputeB(w.UtotR, w.UtotI, w.ZR, w.ZI, x[.._nb]);
                if (_quadratic) QuadraticValues(x);
                if (grad is null) continue;
                if (Vectorised)
                {
                    DerivativeBlocks4(nl, w, bw, m, x, grad);
                    continue;
                }
                for (int a = 0; a < m; a++)
                {
                    int p = w.Pair[a];
                    ComputeDU(vectors[p], w.Rcut[a], w.Wj[a], w.UR.AsSpan(a * _idxuMax, _idxuMax), w.UI.AsSpan(a * _idxuMax, _idxuMax), w.DuR, w.DuI);
                    var block = grad.AsSpan(p * k * 3, k * 3);
                    ComputeDB(w.DuR, w.DuI, w.ZR, w.ZI, block[..(3 * _nb)]);
                    if (_quadratic) QuadraticDerivatives(x, block);
                }
            }
        }, ReturnBlock);
        return new DescriptorSet(n, k, values, nl, grad);
    }

    /// <summary>
    /// The adjoint path for inference: given β_i = dE/dB_i for every atom (atom-major, FeatureCount
    /// per atom), forces (eV/Å) and stress (GPa, tension positive) without materialising ∂B/∂r:
    /// Y_i = Σ_k β_ik ∂B_ik/∂U_tot once per atom, then dE/dr_ij = Y_i · ∂U_ij/∂r_ij per neighbour.
    /// Parallel over centres; dE/dr_ij is kept per pair and summed into forces and virial afterwards in
    /// pair order, so the result does not depend on the thread count (<see cref="SumPairGradients"/>).
    /// </summary>
    public (Vec3[] Forces, Stress? Stress) ForcesFromAdjoint(Structure s, ReadOnlySpan<double> dEdB, NeighborList? neighbors = null)
    {
        var nl = neighbors is not null && neighbors.Cutoff >= Cutoff ? neighbors : NeighborList.Build(s, Cutoff);
        int n = s.Count, k = FeatureCount;
        if (dEdB.Length != n * k) throw new ArgumentException("dE/dB needs FeatureCount values per atom", nameof(dEdB));
        var element = ElementIndices(s);
        var betaAll = dEdB.ToArray();
        var buffers = RentCall(n, 0, nl.PairCount);
        var dedr = buffers.Dedr; var used = buffers.Used;
        MlipParallel.ForChunks(n, Chunk, RentBlock, (first, end, bw) =>
        {
            Array.Clear(used, nl.Offsets[first], nl.Offsets[end] - nl.Offsets[first]);
            for (int a = 0; a < end - first; a++) bw.Neighbors[a] = Vectorised ? Prepare4(s, nl, element, first + a, bw.Atoms[a]) : Prepare(s, nl, element, first + a, bw.Atoms[a]);
            ComputeZBlock(bw, end - first);
            for (int i = first; i < end; i++)
            {
                var w = bw.Atoms[i - first];
                int m = bw.Neighbors[i - first];
                ReadOnlySpan<double> beta = betaAll.AsSpan(i * k, k);
                if (_quadratic)
                {
                    ComputeB(w.UtotR, w.UtotI, w.ZR, w.ZI, w.B);
                    beta = LinearBeta(beta, w.B, w.Beta);
                }
                ComputeYFromZ(w.ZR, w.ZI, beta, w.YR, w.YI);
                PairGradients4(nl, w, bw, m, dedr, used);
            }
        }, ReturnBlock);
        try { return SumPairGradients(s, nl, dedr, used, buffers); }
        finally { ReturnCall(buffers); }
    }

    /// <summary>
    /// Energies, forces and stress in one pass over the centres (<see cref="IFusedDescriptor"/>): per block of centres,
    /// U, Z and B are formed once; the model gives E_i and dE/dX_i for the block; Y comes from the stored Z and β, and
    /// dE/dr_ij from Y and ∂U. A linear model thus costs one expansion and one Z per atom (no separate B pass, no second
    /// expansion), a quadratic one reuses its B for the chain rule. Same numbers, bit for bit, as
    /// <see cref="Compute"/> followed by <see cref="ForcesFromAdjoint"/>, on any number of threads.
    /// </summary>
    public (Vec3[] Forces, Stress? Stress) EnergyAndForces(Structure s, AtomEnergyFunction model, Span<double> values, Span<double> atomEnergies, NeighborList? neighbors = null)
    {
        var nl = neighbors is not null && neighbors.Cutoff >= Cutoff ? neighbors : NeighborList.Build(s, Cutoff);
        int n = s.Count, k = FeatureCount;
        if ((!values.IsEmpty && values.Length != n * k) || atomEnergies.Length != n)
            throw new ArgumentException($"values ({values.Length}) or energies ({atomEnergies.Length}) have the wrong length for {n} atoms of {k} features");
        var element = ElementIndices(s);
        var buffers = RentCall(n, k, nl.PairCount);
        var x = buffers.X; var e = buffers.E; var dedr = buffers.Dedr; var used = buffers.Used;
        MlipParallel.ForChunks(n, Chunk, RentBlock, (first, end, bw) =>
        {
            int count = end - first;
            Array.Clear(used, nl.Offsets[first], nl.Offsets[end] - nl.Offsets[first]);
            for (int a = 0; a < count; a++) bw.Neighbors[a] = Vectorised ? Prepare4(s, nl, element, first + a, bw.Atoms[a]) : Prepare(s, nl, element, first + a, bw.Atoms[a]);
            ComputeZBlock(bw, count);
            for (int a = 0; a < count; a++)
            {
                var w = bw.Atoms[a];
                var xi = x.AsSpan((first + a) * k, k);
                ComputeB(w.UtotR, w.UtotI, w.ZR, w.ZI, xi[.._nb]);
                if (_quadratic) QuadraticValues(xi);
            }
            var g = bw.DEdX.AsSpan(0, count * k);
            model(first, x.AsSpan(first * k, count * k), e.AsSpan(first, count), g);
            for (int a = 0; a < count; a++)
            {
                var w = bw.Atoms[a];
                ReadOnlySpan<double> beta = g.Slice(a * k, k);
                if (_quadratic) beta = LinearBeta(beta, x.AsSpan((first + a) * k, _nb), w.Beta);
                ComputeYFromZ(w.ZR, w.ZI, beta, w.YR, w.YI);
                PairGradients4(nl, w, bw, bw.Neighbors[a], dedr, used);
            }
        }, ReturnBlock);
        try
        {
            // the values only where the caller wants them: an MD step does not (for quadratic SNAP 2J=8, 1595 per atom,
            // a serial copy of 25 MB a step on 2000 atoms)
            if (!values.IsEmpty) x.AsSpan(0, n * k).CopyTo(values);
            e.AsSpan(0, n).CopyTo(atomEnergies);
            return SumPairGradients(s, nl, dedr, used, buffers);
        }
        finally { ReturnCall(buffers); }
    }

    // The block workspaces and the per-call arrays are kept for the next call (an MD step allocates only its forces):
    // a call rents them and gives them back; concurrent calls get their own.
    private readonly System.Collections.Concurrent.ConcurrentStack<CallBuffers> _callPool = new();

    // each thread gets back the workspace it used last (in MD: its U, Z and Y arrays, ~1 MB a block of 2J=8, still in its own cache)
    private readonly ScratchPool<BlockWorkspace> _blocks;

    private BlockWorkspace RentBlock() => _blocks.Rent();

    private void ReturnBlock(BlockWorkspace b) => _blocks.Return(b);

    private CallBuffers RentCall(int atoms, int features, int pairs)
    {
        var b = _callPool.TryPop(out var kept) ? kept : new CallBuffers();
        b.Ensure(atoms, features, pairs);
        return b;
    }

    private void ReturnCall(CallBuffers b) => _callPool.Push(b);

    /// <summary>The arrays of one fused or adjoint call: descriptor values, energies, per-pair dE/dr and their flags, per-block virials (grown, never shrunk; only the first entries a call needs are meaningful).</summary>
    private sealed class CallBuffers
    {
        public double[] X = [], E = [], Dedr = [], Virials = [];
        public bool[] Used = [];

        public void Ensure(int atoms, int features, int pairs)
        {
            if (X.Length < atoms * features) X = new double[atoms * features];
            if (E.Length < atoms) E = new double[atoms];
            if (Used.Length < pairs) { Used = new bool[pairs + pairs / 8]; Dedr = new double[3 * Used.Length]; }
            int blocks = (atoms + GatherChunk - 1) / GatherChunk;
            if (Virials.Length < 10 * blocks) Virials = new double[10 * blocks];
        }
    }

    /// <summary>One <see cref="Workspace"/> per centre of a block, the model's dE/dX for the block, and the lane-interleaved U_tot and Z of <see cref="ComputeZBlock"/>.</summary>
    private sealed class BlockWorkspace
    {
        public readonly Workspace[] Atoms;
        public readonly int[] Neighbors = new int[Chunk];
        public readonly double[] DEdX;
        public readonly double[] Utot4R, Utot4I, Z4R, Z4I, Du4R, Du4I;
        public readonly DuScalars[] Geometry = new DuScalars[Lanes];
        public readonly double[] Spare; // ∂B of a short group's spare lanes

        public BlockWorkspace(BispectrumSo4 s, int k)
        {
            Atoms = new Workspace[Chunk];
            for (int a = 0; a < Chunk; a++) Atoms[a] = new Workspace(s);
            DEdX = new double[Chunk * k];
            Utot4R = new double[Lanes * s._idxuMax]; Utot4I = new double[Lanes * s._idxuMax];
            Z4R = new double[Lanes * s._idxzMax]; Z4I = new double[Lanes * s._idxzMax];
            Du4R = new double[3 * Lanes * s._idxuMax]; Du4I = new double[3 * Lanes * s._idxuMax];
            Spare = new double[3 * s._nb];
        }
    }

    /// <summary>Centres whose Z is formed together, one per lane of a <see cref="Vector256{T}"/>.</summary>
    private const int Lanes = 4;

    /// <summary>Whether Z and the pair gradients run four lanes at a time (<see cref="ComputeZBlock"/>, <see cref="PairGradients4"/>); off, the scalar kernels (the same bits: the tests compare both).</summary>
    internal bool Vectorised { get; init; } = VectorsAccelerated();

    // Read in a method of its own: ReadyToRun does not precompile a method whose code depends on the machine's vector width,
    // and the property's initialiser would otherwise put that question into the constructor (~3300 bytes of IL, JIT-compiled
    // with full optimisation at every start-up of an SO(4) model).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static bool VectorsAccelerated() => Vector256.IsHardwareAccelerated;

    /// <summary>
    /// The vector kernels of the force call are not in the ReadyToRun image: a potential on this descriptor has them compiled on a
    /// spare core from its creation on, in the reverse order of their first use, instead of one after the other inside the first
    /// force call (<see cref="JitWarmUp"/>; docs/performance.md).
    /// </summary>
    public void WarmUpForces()
    {
        if (Vectorised) JitWarmUp.Start(typeof(BispectrumSo4), WarmedKernels);
    }

    /// <summary>
    /// Z of the <paramref name="count"/> centres of a block whose U_tot <see cref="Prepare"/> formed: four centres at a time,
    /// one per vector lane (their U_tot interleaved), each lane doing exactly the operations of <see cref="ZEntry"/> in the same
    /// order (no fused multiply-add), so the same bits as <see cref="ComputeZ"/> per centre (scalar where 256-bit vectors
    /// are not accelerated). Z is about 40 % of a linear SNAP step; LAMMPS's Kokkos SNAP vectorises over atoms the same way.
    /// </summary>
    private unsafe void ComputeZBlock(BlockWorkspace bw, int count)
    {
        if (!Vectorised)
        {
            for (int a = 0; a < count; a++) ComputeZ(bw.Atoms[a].UtotR, bw.Atoms[a].UtotI, bw.Atoms[a].ZR, bw.Atoms[a].ZI);
            return;
        }
        for (int start = 0; start < count; start += Lanes)
        {
            int lanes = Math.Min(Lanes, count - start);
            for (int l = 0; l < Lanes; l++)
            {
                var w = bw.Atoms[start + Math.Min(l, lanes - 1)]; // a short group repeats its last centre in the spare lanes
                var ur = w.UtotR; var ui = w.UtotI;
                for (int q = 0; q < ur.Length; q++) { bw.Utot4R[Lanes * q + l] = ur[q]; bw.Utot4I[Lanes * q + l] = ui[q]; }
            }
            fixed (double* utR = bw.Utot4R, utI = bw.Utot4I, z4R = bw.Z4R, z4I = bw.Z4I, cg = _cglist)
            fixed (int* block = _idxuBlock, zt = _zTable, zcg = _zCg)
                for (int jjz = 0; jjz < _idxzMax; jjz++)
                {
                    ZEntry4(zt + 10 * jjz, utR, utI, cg + zcg[jjz], block, out var zr, out var zi);
                    zr.Store(z4R + Lanes * jjz);
                    zi.Store(z4I + Lanes * jjz);
                }
            for (int l = 0; l < lanes; l++)
            {
                var w = bw.Atoms[start + l];
                var zR = w.ZR; var zI = w.ZI;
                for (int q = 0; q < zR.Length; q++) { zR[q] = bw.Z4R[Lanes * q + l]; zI[q] = bw.Z4I[Lanes * q + l]; }
            }
        }
    }

    /// <summary><see cref="ZEntry"/> on four lane-interleaved centres (utR[4·jju + lane]): the same operations per lane.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static unsafe void ZEntry4(int* z, double* utR, double* utI, double* cgblock, int* block, out Vector256<double> zr, out Vector256<double> zi)
    {
        int j1 = z[0], j2 = z[1];
        int ma1min = z[3], ma2max = z[4], mb1min = z[5], mb2max = z[6], na = z[7], nb = z[8];
        var sumR = Vector256<double>.Zero;
        var sumI = Vector256<double>.Zero;
        int jju1 = block[j1] + (j1 + 1) * mb1min;
        int jju2 = block[j2] + (j2 + 1) * mb2max;
        int icgb = mb1min * (j2 + 1) + mb2max;
        int cgaStart = ma1min * (j2 + 1) + ma2max;
        for (int ib = 0; ib < nb; ib++)
        {
            var sa1R = Vector256<double>.Zero;
            var sa1I = Vector256<double>.Zero;
            double* u1r = utR + Lanes * (jju1 + ma1min), u1i = utI + Lanes * (jju1 + ma1min);
            double* u2r = utR + Lanes * (jju2 + ma2max), u2i = utI + Lanes * (jju2 + ma2max);
            double* cga = cgblock + cgaStart;
            for (int ia = 0; ia < na; ia++)
            {
                var c = Vector256.Create(*cga);
                var a1r = Vector256.Load(u1r + Lanes * ia);
                var a1i = Vector256.Load(u1i + Lanes * ia);
                var a2r = Vector256.Load(u2r - Lanes * ia);
                var a2i = Vector256.Load(u2i - Lanes * ia);
                sa1R += c * (a1r * a2r - a1i * a2i);
                sa1I += c * (a1r * a2i + a1i * a2r);
                cga += j2;
            }
            var cb = Vector256.Create(cgblock[icgb]);
            sumR += cb * sa1R;
            sumI += cb * sa1I;
            jju1 += j1 + 1;
            jju2 -= j2 + 1;
            icgb += j2;
        }
        zr = sumR;
        zi = sumI;
    }

    /// <summary>
    /// quadraticflag: dE/dB_a = β_a + Σ over the products containing B_a of β_q · (the other factor), from the β of
    /// all K features and the linear block <paramref name="b"/>; written to <paramref name="linear"/>.
    /// </summary>
    private ReadOnlySpan<double> LinearBeta(ReadOnlySpan<double> beta, ReadOnlySpan<double> b, double[] linear)
    {
        beta.Slice(0, _nb).CopyTo(linear);
        int q = _nb;
        for (int a = 0; a < _nb; a++)
        {
            linear[a] += beta[q++] * b[a];
            for (int c = a + 1; c < _nb; c++, q++)
            {
                linear[a] += beta[q] * b[c];
                linear[c] += beta[q] * b[a];
            }
        }
        return linear;
    }

    /// <summary>dE/dr_ij = Y_i · ∂U_ij/∂r_ij for the m selected neighbours of the centre prepared in <paramref name="w"/>, stored per pair.</summary>
    private void PairGradients(NeighborList nl, Workspace w, int m, double[] dedr, bool[] used)
    {
        var vectors = nl.Vectors;
        for (int a = 0; a < m; a++)
        {
            int p = w.Pair[a];
            ComputeDU(vectors[p], w.Rcut[a], w.Wj[a], w.UR.AsSpan(a * _idxuMax, _idxuMax), w.UI.AsSpan(a * _idxuMax, _idxuMax), w.DuR, w.DuI);
            ComputeDEDR(w.DuR, w.DuI, w.YR, w.YI, dedr.AsSpan(3 * p, 3));
            used[p] = true;
        }
    }

    /// <summary>
    /// <see cref="PairGradients"/> four neighbours at a time, one per vector lane (their U interleaved): each lane does exactly
    /// the operations of <see cref="ComputeDU"/> and <see cref="ComputeDEDR"/> in the same order (no fused multiply-add), so
    /// the same bits (scalar where 256-bit vectors are not accelerated).
    /// </summary>
    private unsafe void PairGradients4(NeighborList nl, Workspace w, BlockWorkspace bw, int m, double[] dedr, bool[] used)
    {
        if (!Vectorised) { PairGradients(nl, w, m, dedr, used); return; } // U of Prepare; with vectors, of Prepare4
        var vectors = nl.Vectors;
        var g = bw.Geometry;
        int nu = _idxuMax;
        for (int start = 0; start < m; start += Lanes)
        {
            int lanes = Math.Min(Lanes, m - start);
            for (int l = 0; l < Lanes; l++)
            {
                int a = start + Math.Min(l, lanes - 1); // a short group repeats its last neighbour in the spare lanes
                g[l] = DuGeometry(vectors[w.Pair[a]], w.Rcut[a], w.Wj[a]);
            }
            DeDr4(g, w.U4R, w.U4I, start * nu, bw, w.YR, w.YI, out var ex, out var ey, out var ez);
            for (int l = 0; l < lanes; l++)
            {
                int p = w.Pair[start + l];
                dedr[3 * p] = ex.GetElement(l); dedr[3 * p + 1] = ey.GetElement(l); dedr[3 * p + 2] = ez.GetElement(l);
                used[p] = true;
            }
        }
    }

    /// <summary>The derivative blocks ∂X/∂r_ij of a centre's m neighbours (U of <see cref="Prepare4"/>), four neighbours at a time: the bits of <see cref="ComputeDU"/> and <see cref="ComputeDB"/>.</summary>
    private void DerivativeBlocks4(NeighborList nl, Workspace w, BlockWorkspace bw, int m, ReadOnlySpan<double> x, double[] grad)
    {
        var vectors = nl.Vectors;
        var g = bw.Geometry;
        int k = FeatureCount, nu = _idxuMax;
        for (int start = 0; start < m; start += Lanes)
        {
            int lanes = Math.Min(Lanes, m - start);
            for (int l = 0; l < Lanes; l++)
            {
                int a = start + Math.Min(l, lanes - 1);
                g[l] = DuGeometry(vectors[w.Pair[a]], w.Rcut[a], w.Wj[a]);
            }
            Du4(g, w.U4R, w.U4I, start * nu, bw);
            Span<double> Block(int l) => l < lanes ? grad.AsSpan(w.Pair[start + l] * k * 3, 3 * _nb) : bw.Spare;
            DB4(bw, w.ZR, w.ZI, Block(0), Block(1), Block(2), Block(3));
            if (_quadratic)
                for (int l = 0; l < lanes; l++) QuadraticDerivatives(x, grad.AsSpan(w.Pair[start + l] * k * 3, k * 3));
        }
    }

    /// <summary>∂U/∂r_ij (<see cref="ComputeDU"/>) and dE/dr_ij = 2 Σ' Re(dU* Y) (<see cref="ComputeDEDR"/>) of four neighbours, lane by lane; layout [jju][xyz][lane].</summary>
    private unsafe void Du4(DuScalars[] g, double[] u4R, double[] u4I, int offset, BlockWorkspace bw)
    {
        var aR = Vector256.Create(g[0].AR, g[1].AR, g[2].AR, g[3].AR);
        var aI = Vector256.Create(g[0].AI, g[1].AI, g[2].AI, g[3].AI);
        var bR = Vector256.Create(g[0].BR, g[1].BR, g[2].BR, g[3].BR);
        var bI = Vector256.Create(g[0].BI, g[1].BI, g[2].BI, g[3].BI);
        var daRx = Vector256.Create(g[0].DaRx, g[1].DaRx, g[2].DaRx, g[3].DaRx);
        var daRy = Vector256.Create(g[0].DaRy, g[1].DaRy, g[2].DaRy, g[3].DaRy);
        var daRz = Vector256.Create(g[0].DaRz, g[1].DaRz, g[2].DaRz, g[3].DaRz);
        var daIx = Vector256.Create(g[0].DaIx, g[1].DaIx, g[2].DaIx, g[3].DaIx);
        var daIy = Vector256.Create(g[0].DaIy, g[1].DaIy, g[2].DaIy, g[3].DaIy);
        var daIz = Vector256.Create(g[0].DaIz, g[1].DaIz, g[2].DaIz, g[3].DaIz);
        var dbRx = Vector256.Create(g[0].DbRx, g[1].DbRx, g[2].DbRx, g[3].DbRx);
        var dbRy = Vector256.Create(g[0].DbRy, g[1].DbRy, g[2].DbRy, g[3].DbRy);
        var dbRz = Vector256.Create(g[0].DbRz, g[1].DbRz, g[2].DbRz, g[3].DbRz);
        var dbIx = Vector256.Create(g[0].DbIx, g[1].DbIx, g[2].DbIx, g[3].DbIx);
        var dbIy = Vector256.Create(g[0].DbIy, g[1].DbIy, g[2].DbIy, g[3].DbIy);
        var dbIz = Vector256.Create(g[0].DbIz, g[1].DbIz, g[2].DbIz, g[3].DbIz);
        var ux = Vector256.Create(g[0].Ux, g[1].Ux, g[2].Ux, g[3].Ux);
        var uy = Vector256.Create(g[0].Uy, g[1].Uy, g[2].Uy, g[3].Uy);
        var uz = Vector256.Create(g[0].Uz, g[1].Uz, g[2].Uz, g[3].Uz);
        var sfac = Vector256.Create(g[0].Sfac, g[1].Sfac, g[2].Sfac, g[3].Sfac);
        var dsfac = Vector256.Create(g[0].Dsfac, g[1].Dsfac, g[2].Dsfac, g[3].Dsfac);
        const int L = Lanes, S = 3 * Lanes; // doubles per U entry, per dU entry
        var zero = Vector256<double>.Zero;
        fixed (double* ur0 = u4R, ui0 = u4I, duR = bw.Du4R, duI = bw.Du4I, rootpq = _rootpq)
        fixed (int* block = _idxuBlock)
        {
            double* ur = ur0 + offset, ui = ui0 + offset;
            int stride = _rootStride;
            for (int d = 0; d < 3; d++) { zero.Store(duR + L * d); zero.Store(duI + L * d); }
            for (int j = 1; j <= _twojmax; j++)
            {
                int jju = block[j];
                int jjup = block[j - 1];
                for (int mb = 0; 2 * mb <= j; mb++)
                {
                    for (int d = 0; d < 3; d++) { zero.Store(duR + S * jju + L * d); zero.Store(duI + S * jju + L * d); }
                    for (int ma = 0; ma < j; ma++)
                    {
                        var upr = Vector256.Load(ur + L * jjup); var upi = Vector256.Load(ui + L * jjup);
                        double* dpr = duR + S * jjup; double* dpi = duI + S * jjup;
                        double* dr = duR + S * jju; double* di = duI + S * jju;
                        var dpr0 = Vector256.Load(dpr); var dpr1 = Vector256.Load(dpr + L); var dpr2 = Vector256.Load(dpr + 2 * L);
                        var dpi0 = Vector256.Load(dpi); var dpi1 = Vector256.Load(dpi + L); var dpi2 = Vector256.Load(dpi + 2 * L);
                        var rp = Vector256.Create(rootpq[(j - ma) * stride + j - mb]);
                        (Vector256.Load(dr) + rp * (daRx * upr + daIx * upi + aR * dpr0 + aI * dpi0)).Store(dr);
                        (Vector256.Load(dr + L) + rp * (daRy * upr + daIy * upi + aR * dpr1 + aI * dpi1)).Store(dr + L);
                        (Vector256.Load(dr + 2 * L) + rp * (daRz * upr + daIz * upi + aR * dpr2 + aI * dpi2)).Store(dr + 2 * L);
                        (Vector256.Load(di) + rp * (daRx * upi - daIx * upr + aR * dpi0 - aI * dpr0)).Store(di);
                        (Vector256.Load(di + L) + rp * (daRy * upi - daIy * upr + aR * dpi1 - aI * dpr1)).Store(di + L);
                        (Vector256.Load(di + 2 * L) + rp * (daRz * upi - daIz * upr + aR * dpi2 - aI * dpr2)).Store(di + 2 * L);
                        var rn = Vector256.Create(-rootpq[(ma + 1) * stride + j - mb]);
                        dr += S; di += S;
                        (rn * (dbRx * upr + dbIx * upi + bR * dpr0 + bI * dpi0)).Store(dr);
                        (rn * (dbRy * upr + dbIy * upi + bR * dpr1 + bI * dpi1)).Store(dr + L);
                        (rn * (dbRz * upr + dbIz * upi + bR * dpr2 + bI * dpi2)).Store(dr + 2 * L);
                        (rn * (dbRx * upi - dbIx * upr + bR * dpi0 - bI * dpr0)).Store(di);
                        (rn * (dbRy * upi - dbIy * upr + bR * dpi1 - bI * dpr1)).Store(di + L);
                        (rn * (dbRz * upi - dbIz * upr + bR * dpi2 - bI * dpr2)).Store(di + 2 * L);
                        jju++; jjup++;
                    }
                    jju++;
                }
                // right half by inversion symmetry, as ComputeDU does
                jju = block[j];
                jjup = jju + (j + 1) * (j + 1) - 1;
                int mbpar = 1;
                for (int mb = 0; 2 * mb <= j; mb++)
                {
                    int mapar = mbpar;
                    for (int ma = 0; ma <= j; ma++)
                    {
                        double* src = duR + S * jju; double* srci = duI + S * jju;
                        double* dst = duR + S * jjup; double* dsti = duI + S * jjup;
                        for (int d = 0; d < 3; d++)
                        {
                            var vr = Vector256.Load(src + L * d); var vi = Vector256.Load(srci + L * d);
                            if (mapar == 1) { vr.Store(dst + L * d); (-vi).Store(dsti + L * d); }
                            else { (-vr).Store(dst + L * d); vi.Store(dsti + L * d); }
                        }
                        mapar = -mapar;
                        jju++; jjup--;
                    }
                    mbpar = -mbpar;
                }
            }

            for (int j = 0; j <= _twojmax; j++)
            {
                int jju = block[j];
                int end = jju + (j / 2 + 1) * (j + 1);
                for (; jju < end; jju++)
                {
                    var u0r = Vector256.Load(ur + L * jju) * dsfac; var u0i = Vector256.Load(ui + L * jju) * dsfac;
                    double* dr = duR + S * jju; double* di = duI + S * jju;
                    (u0r * ux + sfac * Vector256.Load(dr)).Store(dr);
                    (u0i * ux + sfac * Vector256.Load(di)).Store(di);
                    (u0r * uy + sfac * Vector256.Load(dr + L)).Store(dr + L);
                    (u0i * uy + sfac * Vector256.Load(di + L)).Store(di + L);
                    (u0r * uz + sfac * Vector256.Load(dr + 2 * L)).Store(dr + 2 * L);
                    (u0i * uz + sfac * Vector256.Load(di + 2 * L)).Store(di + 2 * L);
                }
            }
        }
    }

    /// <summary>dE/dr_ij = 2 Σ_j Σ' Re(dU_j* Y_j) of four neighbours (<see cref="ComputeDU"/> then <see cref="ComputeDEDR"/>, lane by lane).</summary>
    private unsafe void DeDr4(DuScalars[] g, double[] u4R, double[] u4I, int offset, BlockWorkspace bw, double[] yRArr, double[] yIArr, out Vector256<double> ex, out Vector256<double> ey, out Vector256<double> ez)
    {
        Du4(g, u4R, u4I, offset, bw);
        var zero = Vector256<double>.Zero;
        Vector256<double> tx = zero, ty = zero, tz = zero;
        fixed (double* duR = bw.Du4R, duI = bw.Du4I, yR = yRArr, yI = yIArr)
        fixed (int* block = _idxuBlock)
            for (int j = 0; j <= _twojmax; j++)
            {
                SumDuZ4(j, block[j], block[j], duR, duI, yR, yI, out var sx, out var sy, out var sz);
                tx += sx; ty += sy; tz += sz;
            }
        var two = Vector256.Create(2.0);
        ex = two * tx; ey = two * ty; ez = two * tz;
    }

    /// <summary><see cref="SumDuZ"/> on four lane-interleaved neighbours' dU ([jju][xyz][lane]) with one centre's Z (or Y).</summary>
    private static unsafe void SumDuZ4(int j, int jju, int jjz, double* duR, double* duI, double* zR, double* zI, out Vector256<double> sx, out Vector256<double> sy, out Vector256<double> sz)
    {
        const int L = Lanes, S = 3 * Lanes;
        Vector256<double> ax = Vector256<double>.Zero, ay = ax, az = ax;
        int full = (j + 1) / 2 * (j + 1);
        if (j % 2 == 0) full = j / 2 * (j + 1);
        int count = full + (j % 2 == 0 ? j / 2 : 0);
        for (int q = 0; q < count; q++, jju++, jjz++)
        {
            var zr = Vector256.Create(zR[jjz]); var zi = Vector256.Create(zI[jjz]);
            double* dr = duR + S * jju; double* di = duI + S * jju;
            ax += Vector256.Load(dr) * zr + Vector256.Load(di) * zi;
            ay += Vector256.Load(dr + L) * zr + Vector256.Load(di + L) * zi;
            az += Vector256.Load(dr + 2 * L) * zr + Vector256.Load(di + 2 * L) * zi;
        }
        if (j % 2 == 0)
        {
            var zr = Vector256.Create(zR[jjz]); var zi = Vector256.Create(zI[jjz]);
            double* dr = duR + S * jju; double* di = duI + S * jju;
            var half = Vector256.Create(0.5);
            ax += half * (Vector256.Load(dr) * zr + Vector256.Load(di) * zi);
            ay += half * (Vector256.Load(dr + L) * zr + Vector256.Load(di + L) * zi);
            az += half * (Vector256.Load(dr + 2 * L) * zr + Vector256.Load(di + 2 * L) * zi);
        }
        sx = ax; sy = ay; sz = az;
    }

    /// <summary>∂B/∂r_ij of four neighbours of one centre (<see cref="ComputeDB"/> lane by lane), from <see cref="Du4"/>'s dU and the centre's Z: lane l's 3·nb values to db0 .. db3.</summary>
    private unsafe void DB4(BlockWorkspace bw, double[] zRArr, double[] zIArr, Span<double> db0, Span<double> db1, Span<double> db2, Span<double> db3)
    {
        fixed (double* duR = bw.Du4R, duI = bw.Du4I, zR = zRArr, zI = zIArr, d0 = db0, d1 = db1, d2 = db2, d3 = db3)
        {
            for (int jjb = 0; jjb < _nb; jjb++)
            {
                int j1 = _bJ1[jjb], j2 = _bJ2[jjb], j = _bJ[jjb];
                SumDuZ4(j, _idxuBlock[j], _idxzBlock[j1, j2, j], duR, duI, zR, zI, out var sx, out var sy, out var sz);
                var two = Vector256.Create(2.0);
                var dx = two * sx; var dy = two * sy; var dz = two * sz;
                var j1fac = Vector256.Create(2 * (j + 1) / (j1 + 1.0));
                SumDuZ4(j1, _idxuBlock[j1], _idxzBlock[j, j2, j1], duR, duI, zR, zI, out sx, out sy, out sz);
                dx += j1fac * sx; dy += j1fac * sy; dz += j1fac * sz;
                var j2fac = Vector256.Create(2 * (j + 1) / (j2 + 1.0));
                SumDuZ4(j2, _idxuBlock[j2], _idxzBlock[j, j1, j2], duR, duI, zR, zI, out sx, out sy, out sz);
                dx += j2fac * sx; dy += j2fac * sy; dz += j2fac * sz;
                d0[3 * jjb] = dx.GetElement(0); d0[3 * jjb + 1] = dy.GetElement(0); d0[3 * jjb + 2] = dz.GetElement(0);
                d1[3 * jjb] = dx.GetElement(1); d1[3 * jjb + 1] = dy.GetElement(1); d1[3 * jjb + 2] = dz.GetElement(1);
                d2[3 * jjb] = dx.GetElement(2); d2[3 * jjb + 1] = dy.GetElement(2); d2[3 * jjb + 2] = dz.GetElement(2);
                d3[3 * jjb] = dx.GetElement(3); d3[3 * jjb + 1] = dy.GetElement(3); d3[3 * jjb + 2] = dz.GetElement(3);
            }
        }
    }

    /// <summary>Atoms per block of the gather of forces and virial (fixed: the sums do not depend on the thread count).</summary>
    private const int GatherChunk = 256;

    /// <summary>
    /// Forces and stress from the per-pair dE/dr_ij (the pairs flagged in <paramref name="used"/>): each atom gathers its own
    /// pairs, F_i = Σ_p∈i (g_p − g_Reverse[p]) (<see cref="NeighborList.Reverse"/>), in parallel blocks of atoms, and the virial
    /// Σ g_p ⊗ r_p is summed per block, the block sums added in block order: the same bits on any number of threads.
    /// </summary>
    private static (Vec3[] Forces, Stress? Stress) SumPairGradients(Structure s, NeighborList nl, double[] dedr, bool[] used, CallBuffers buffers)
    {
        int n = s.Count;
        var forces = new Vec3[n];
        var virials = buffers.Virials;
        _ = nl.Reverse; // formed once, before the parallel pass reads it
        MlipParallel.ForChunks(n, GatherChunk, static () => 0, (first, end, _) =>
        {
            var rev = nl.Reverse; var offsets = nl.Offsets; var vectors = nl.Vectors;
            double wxx = 0, wyy = 0, wzz = 0, wyz = 0, wzy = 0, wxz = 0, wzx = 0, wxy = 0, wyx = 0;
            for (int i = first; i < end; i++)
            {
                double fx = 0, fy = 0, fz = 0;
                for (int p = offsets[i]; p < offsets[i + 1]; p++)
                {
                    if (used[p])
                    {
                        double dx = dedr[3 * p], dy = dedr[3 * p + 1], dz = dedr[3 * p + 2];
                        var v = vectors[p];
                        fx += dx; fy += dy; fz += dz;
                        wxx += dx * v.X; wyy += dy * v.Y; wzz += dz * v.Z;
                        wyz += dy * v.Z; wzy += dz * v.Y;
                        wxz += dx * v.Z; wzx += dz * v.X;
                        wxy += dx * v.Y; wyx += dy * v.X;
                    }
                    int q = rev[p];
                    if (used[q]) { fx -= dedr[3 * q]; fy -= dedr[3 * q + 1]; fz -= dedr[3 * q + 2]; }
                }
                forces[i] = new Vec3(fx, fy, fz);
            }
            var w = virials.AsSpan(10 * (first / GatherChunk), 9);
            w[0] = wxx; w[1] = wyy; w[2] = wzz; w[3] = wyz; w[4] = wzy; w[5] = wxz; w[6] = wzx; w[7] = wxy; w[8] = wyx;
        });
        Stress? stress = null;
        double volume = s.Volume;
        if (volume > 0)
        {
            Span<double> t = stackalloc double[9];
            int blocks = (n + GatherChunk - 1) / GatherChunk;
            for (int b = 0; b < blocks; b++)
                for (int c = 0; c < 9; c++) t[c] += virials[10 * b + c];
            double c0 = Stress.EvPerCubicAngstromInGpa / volume;
            stress = new Stress(c0 * t[0], c0 * t[1], c0 * t[2], c0 * 0.5 * (t[3] + t[4]), c0 * 0.5 * (t[5] + t[6]), c0 * 0.5 * (t[7] + t[8]));
        }
        return (forces, stress);
    }

    // ------------------------------------------------------------------ the steps of the maths

    private double SwitchingFunction(double r, double rcut)
    {
        if (!_p.SwitchFlag) return 1.0;
        if (r <= _p.Rmin0) return 1.0;
        if (r > rcut) return 0.0;
        double rcutfac = Math.PI / (rcut - _p.Rmin0);
        return 0.5 * (Math.Cos((r - _p.Rmin0) * rcutfac) + 1.0);
    }

    private double SwitchingDerivative(double r, double rcut)
    {
        if (!_p.SwitchFlag) return 0.0;
        if (r <= _p.Rmin0) return 0.0;
        if (r > rcut) return 0.0;
        double rcutfac = Math.PI / (rcut - _p.Rmin0);
        return -0.5 * Math.Sin((r - _p.Rmin0) * rcutfac) * rcutfac;
    }

    /// <summary>U_tot = wself on the diagonal (the central atom), zero elsewhere.</summary>
    private void ZeroUtot(Workspace w)
    {
        Array.Clear(w.UtotR);
        Array.Clear(w.UtotI);
        for (int j = 0; j <= _twojmax; j++)
        {
            int jju = _idxuBlock[j];
            for (int mb = 0; mb <= j; mb++)
                for (int ma = 0; ma <= j; ma++, jju++)
                    if (ma == mb) w.UtotR[jju] = _p.WSelf;
        }
    }

    /// <summary>Hyperspherical harmonics U_j(ma, mb) of one neighbour by the recursion of VMK 4.8.2 (sna.cpp compute_uarray).</summary>
    private unsafe void ComputeU(double x, double y, double z, double z0, double r, Span<double> urSpan, Span<double> uiSpan)
    {
        double r0inv = 1.0 / Math.Sqrt(r * r + z0 * z0);
        double aR = r0inv * z0, aI = -r0inv * z;
        double bR = r0inv * y, bI = -r0inv * x;
        fixed (double* ur = urSpan, ui = uiSpan, rootpq = _rootpq)
        fixed (int* block = _idxuBlock)
        {
            int stride = _rootStride;
            ur[0] = 1.0; ui[0] = 0.0;
            for (int j = 1; j <= _twojmax; j++)
            {
                int jju = block[j];
                int jjup = block[j - 1];
                for (int mb = 0; 2 * mb <= j; mb++)
                {
                    ur[jju] = 0.0; ui[jju] = 0.0;
                    for (int ma = 0; ma < j; ma++)
                    {
                        double upr = ur[jjup], upi = ui[jjup];
                        double rp = rootpq[(j - ma) * stride + j - mb];
                        ur[jju] += rp * (aR * upr + aI * upi);
                        ui[jju] += rp * (aR * upi - aI * upr);
                        rp = rootpq[(ma + 1) * stride + j - mb];
                        ur[jju + 1] = -rp * (bR * upr + bI * upi);
                        ui[jju + 1] = -rp * (bR * upi - bI * upr);
                        jju++; jjup++;
                    }
                    jju++;
                }
                // right half by the inversion symmetry u[j-ma][j-mb] = (-1)^(ma-mb) conj(u[ma][mb])
                jju = block[j];
                jjup = jju + (j + 1) * (j + 1) - 1;
                int mbpar = 1;
                for (int mb = 0; 2 * mb <= j; mb++)
                {
                    int mapar = mbpar;
                    for (int ma = 0; ma <= j; ma++)
                    {
                        if (mapar == 1) { ur[jjup] = ur[jju]; ui[jjup] = -ui[jju]; }
                        else { ur[jjup] = -ur[jju]; ui[jjup] = ui[jju]; }
                        mapar = -mapar;
                        jju++; jjup--;
                    }
                    mbpar = -mbpar;
                }
            }
        }
    }

    /// <summary>One Z_{j1 j2 j}(ma, mb) = Σ CG · CG · U_j1 · U_j2 (the body of sna.cpp compute_zi); z points at the entry's 10 index values.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static unsafe void ZEntry(int* z, double* utR, double* utI, double* cgblock, int* block, out double zr, out double zi)
    {
        int j1 = z[0], j2 = z[1];
        int ma1min = z[3], ma2max = z[4], mb1min = z[5], mb2max = z[6], na = z[7], nb = z[8];
        double sumR = 0, sumI = 0;
        int jju1 = block[j1] + (j1 + 1) * mb1min;
        int jju2 = block[j2] + (j2 + 1) * mb2max;
        int icgb = mb1min * (j2 + 1) + mb2max;
        int cgaStart = ma1min * (j2 + 1) + ma2max;
        for (int ib = 0; ib < nb; ib++)
        {
            double sa1R = 0, sa1I = 0;
            double* u1r = utR + jju1 + ma1min, u1i = utI + jju1 + ma1min;
            double* u2r = utR + jju2 + ma2max, u2i = utI + jju2 + ma2max;
            double* cga = cgblock + cgaStart;
            for (int ia = 0; ia < na; ia++)
            {
                double c = *cga;
                double a1r = u1r[ia], a1i = u1i[ia], a2r = u2r[-ia], a2i = u2i[-ia];
                sa1R += c * (a1r * a2r - a1i * a2i);
                sa1I += c * (a1r * a2i + a1i * a2r);
                cga += j2;
            }
            double cb = cgblock[icgb];
            sumR += cb * sa1R;
            sumI += cb * sa1I;
            jju1 += j1 + 1;
            jju2 -= j2 + 1;
            icgb += j2;
        }
        zr = sumR;
        zi = sumI;
    }

    /// <summary>Z_{j1 j2 j}(ma, mb) for every Z entry (sna.cpp compute_zi).</summary>
    private unsafe void ComputeZ(double[] utRArr, double[] utIArr, double[] zR, double[] zI)
    {
        fixed (double* utR = utRArr, utI = utIArr, cg = _cglist)
        fixed (int* block = _idxuBlock, zt = _zTable, zcg = _zCg)
            for (int jjz = 0; jjz < _idxzMax; jjz++)
            {
                ZEntry(zt + 10 * jjz, utR, utI, cg + zcg[jjz], block, out double zr, out double zi);
                zR[jjz] = zr;
                zI[jjz] = zi;
            }
    }

    /// <summary>quadraticflag: after the linear block, ½B_a² and B_a B_b (b &gt; a), row by row (compute sna/atom's order).</summary>
    private void QuadraticValues(Span<double> x)
    {
        int q = _nb;
        for (int a = 0; a < _nb; a++)
        {
            double ba = x[a];
            x[q++] = 0.5 * ba * ba;
            for (int b = a + 1; b < _nb; b++) x[q++] = ba * x[b];
        }
    }

    /// <summary>Derivative blocks of the products: d(½B_a²) = B_a dB_a, d(B_a B_b) = B_a dB_b + B_b dB_a.</summary>
    private void QuadraticDerivatives(ReadOnlySpan<double> x, Span<double> block)
    {
        int q = _nb;
        for (int a = 0; a < _nb; a++)
        {
            double ba = x[a];
            double ax = block[3 * a], ay = block[3 * a + 1], az = block[3 * a + 2];
            block[3 * q] = ba * ax; block[3 * q + 1] = ba * ay; block[3 * q + 2] = ba * az;
            q++;
            for (int b = a + 1; b < _nb; b++, q++)
            {
                double bb = x[b];
                block[3 * q] = ba * block[3 * b] + bb * ax;
                block[3 * q + 1] = ba * block[3 * b + 1] + bb * ay;
                block[3 * q + 2] = ba * block[3 * b + 2] + bb * az;
            }
        }
    }

    /// <summary>B_{j1 j2 j} = 2 Σ' Re(U_j* Z_{j1 j2 j}) over half the (ma, mb) plane, minus B of the lone atom (sna.cpp compute_bi).</summary>
    private void ComputeB(double[] utR, double[] utI, double[] zR, double[] zI, Span<double> b)
    {
        for (int jjb = 0; jjb < _nb; jjb++)
        {
            int j1 = _bJ1[jjb], j2 = _bJ2[jjb], j = _bJ[jjb];
            int jjz = _idxzBlock[j1, j2, j];
            int jju = _idxuBlock[j];
            double sumzu = 0;
            for (int mb = 0; 2 * mb < j; mb++)
                for (int ma = 0; ma <= j; ma++)
                {
                    sumzu += utR[jju] * zR[jjz] + utI[jju] * zI[jjz];
                    jjz++; jju++;
                }
            if (j % 2 == 0)
            {
                int mb = j / 2;
                for (int ma = 0; ma < mb; ma++)
                {
                    sumzu += utR[jju] * zR[jjz] + utI[jju] * zI[jjz];
                    jjz++; jju++;
                }
                sumzu += 0.5 * (utR[jju] * zR[jjz] + utI[jju] * zI[jjz]);
            }
            b[jjb] = 2.0 * sumzu;
            if (_p.BzeroFlag) b[jjb] -= _bzero[j];
        }
    }

    /// <summary>The per-neighbour scalars of ∂U/∂r_ij (a, b, their derivatives, the unit vector, the switching function and its derivative times w_j).</summary>
    private readonly record struct DuScalars(double AR, double AI, double BR, double BI, double Ux, double Uy, double Uz,
        double DaRx, double DaRy, double DaRz, double DaIx, double DaIy, double DaIz,
        double DbRx, double DbRy, double DbRz, double DbIx, double DbIy, double DbIz, double Sfac, double Dsfac);

    private DuScalars DuGeometry(Vec3 rij, double rcut, double wj)
    {
        double x = rij.X, y = rij.Y, z = rij.Z;
        double rsq = x * x + y * y + z * z;
        double r = Math.Sqrt(rsq);
        double rscale0 = _p.Rfac0 * Math.PI / (rcut - _p.Rmin0);
        double theta0 = (r - _p.Rmin0) * rscale0;
        double cs = Math.Cos(theta0), sn = Math.Sin(theta0);
        double z0 = r * cs / sn;
        double dz0dr = z0 / r - (r * rscale0) * (rsq + z0 * z0) / rsq;

        double r0inv = 1.0 / Math.Sqrt(r * r + z0 * z0);
        double aR = z0 * r0inv, aI = -z * r0inv;
        double bR = y * r0inv, bI = -x * r0inv;
        double dr0invdr = -r0inv * r0inv * r0inv * (r + z0 * dz0dr);
        double ux = x / r, uy = y / r, uz = z / r;
        double dr0x = dr0invdr * ux, dr0y = dr0invdr * uy, dr0z = dr0invdr * uz;
        double dz0x = dz0dr * ux, dz0y = dz0dr * uy, dz0z = dz0dr * uz;
        double daRx = dz0x * r0inv + z0 * dr0x, daRy = dz0y * r0inv + z0 * dr0y, daRz = dz0z * r0inv + z0 * dr0z;
        double daIx = -z * dr0x, daIy = -z * dr0y, daIz = -z * dr0z - r0inv;
        double dbRx = y * dr0x, dbRy = y * dr0y + r0inv, dbRz = y * dr0z;
        double dbIx = -x * dr0x - r0inv, dbIy = -x * dr0y, dbIz = -x * dr0z;
        return new DuScalars(aR, aI, bR, bI, ux, uy, uz, daRx, daRy, daRz, daIx, daIy, daIz, dbRx, dbRy, dbRz, dbIx, dbIy, dbIz,
            SwitchingFunction(r, rcut) * wj, SwitchingDerivative(r, rcut) * wj);
    }

    /// <summary>∂(sfac · wj · U_j)/∂r_ij for one neighbour, left half of each layer (sna.cpp compute_duarray); layout [jju][xyz].</summary>
    private unsafe void ComputeDU(Vec3 rij, double rcut, double wj, ReadOnlySpan<double> urSpan, ReadOnlySpan<double> uiSpan, double[] duRArr, double[] duIArr)
    {
        var g = DuGeometry(rij, rcut, wj);
        double aR = g.AR, aI = g.AI, bR = g.BR, bI = g.BI, ux = g.Ux, uy = g.Uy, uz = g.Uz;
        double daRx = g.DaRx, daRy = g.DaRy, daRz = g.DaRz, daIx = g.DaIx, daIy = g.DaIy, daIz = g.DaIz;
        double dbRx = g.DbRx, dbRy = g.DbRy, dbRz = g.DbRz, dbIx = g.DbIx, dbIy = g.DbIy, dbIz = g.DbIz;

        fixed (double* ur = urSpan, ui = uiSpan, duR = duRArr, duI = duIArr, rootpq = _rootpq)
        fixed (int* block = _idxuBlock)
        {
            int stride = _rootStride;
            duR[0] = duR[1] = duR[2] = 0;
            duI[0] = duI[1] = duI[2] = 0;
            for (int j = 1; j <= _twojmax; j++)
            {
                int jju = block[j];
                int jjup = block[j - 1];
                for (int mb = 0; 2 * mb <= j; mb++)
                {
                    double* dr0 = duR + 3 * jju; double* di0 = duI + 3 * jju;
                    dr0[0] = dr0[1] = dr0[2] = 0;
                    di0[0] = di0[1] = di0[2] = 0;
                    for (int ma = 0; ma < j; ma++)
                    {
                        double upr = ur[jjup], upi = ui[jjup];
                        double* dpr = duR + 3 * jjup; double* dpi = duI + 3 * jjup;
                        double* dr = duR + 3 * jju; double* di = duI + 3 * jju;
                        double rp = rootpq[(j - ma) * stride + j - mb];
                        dr[0] += rp * (daRx * upr + daIx * upi + aR * dpr[0] + aI * dpi[0]);
                        dr[1] += rp * (daRy * upr + daIy * upi + aR * dpr[1] + aI * dpi[1]);
                        dr[2] += rp * (daRz * upr + daIz * upi + aR * dpr[2] + aI * dpi[2]);
                        di[0] += rp * (daRx * upi - daIx * upr + aR * dpi[0] - aI * dpr[0]);
                        di[1] += rp * (daRy * upi - daIy * upr + aR * dpi[1] - aI * dpr[1]);
                        di[2] += rp * (daRz * upi - daIz * upr + aR * dpi[2] - aI * dpr[2]);
                        rp = rootpq[(ma + 1) * stride + j - mb];
                        dr += 3; di += 3;
                        dr[0] = -rp * (dbRx * upr + dbIx * upi + bR * dpr[0] + bI * dpi[0]);
                        dr[1] = -rp * (dbRy * upr + dbIy * upi + bR * dpr[1] + bI * dpi[1]);
                        dr[2] = -rp * (dbRz * upr + dbIz * upi + bR * dpr[2] + bI * dpi[2]);
                        di[0] = -rp * (dbRx * upi - dbIx * upr + bR * dpi[0] - bI * dpr[0]);
                        di[1] = -rp * (dbRy * upi - dbIy * upr + bR * dpi[1] - bI * dpr[1]);
                        di[2] = -rp * (dbRz * upi - dbIz * upr + bR * dpi[2] - bI * dpr[2]);
                        jju++; jjup++;
                    }
                    jju++;
                }
                // right half by inversion symmetry: the next layer's recursion reads it
                jju = block[j];
                jjup = jju + (j + 1) * (j + 1) - 1;
                int mbpar = 1;
                for (int mb = 0; 2 * mb <= j; mb++)
                {
                    int mapar = mbpar;
                    for (int ma = 0; ma <= j; ma++)
                    {
                        double* src = duR + 3 * jju; double* srci = duI + 3 * jju;
                        double* dst = duR + 3 * jjup; double* dsti = duI + 3 * jjup;
                        if (mapar == 1)
                        {
                            dst[0] = src[0]; dst[1] = src[1]; dst[2] = src[2];
                            dsti[0] = -srci[0]; dsti[1] = -srci[1]; dsti[2] = -srci[2];
                        }
                        else
                        {
                            dst[0] = -src[0]; dst[1] = -src[1]; dst[2] = -src[2];
                            dsti[0] = srci[0]; dsti[1] = srci[1]; dsti[2] = srci[2];
                        }
                        mapar = -mapar;
                        jju++; jjup--;
                    }
                    mbpar = -mbpar;
                }
            }

            double sfac = g.Sfac, dsfac = g.Dsfac;
            for (int j = 0; j <= _twojmax; j++)
            {
                int jju = block[j];
                int end = jju + (j / 2 + 1) * (j + 1);
                for (; jju < end; jju++)
                {
                    double u0r = ur[jju] * dsfac, u0i = ui[jju] * dsfac;
                    double* dr = duR + 3 * jju; double* di = duI + 3 * jju;
                    dr[0] = u0r * ux + sfac * dr[0];
                    di[0] = u0i * ux + sfac * di[0];
                    dr[1] = u0r * uy + sfac * dr[1];
                    di[1] = u0i * uy + sfac * di[1];
                    dr[2] = u0r * uz + sfac * dr[2];
                    di[2] = u0i * uz + sfac * di[2];
                }
            }
        }
    }

    /// <summary>Σ' Re(dU_j* Z) over half the (ma, mb) plane of layer j, starting at Z entry jjz.</summary>
    private static unsafe void SumDuZ(int j, int jju, int jjz, double* duR, double* duI, double* zR, double* zI, out double sx, out double sy, out double sz)
    {
        double ax = 0, ay = 0, az = 0;
        int full = (j + 1) / 2 * (j + 1); // rows mb < j/2
        if (j % 2 == 0) full = j / 2 * (j + 1);
        for (int q = 0; q < full; q++, jju++, jjz++)
        {
            double zr = zR[jjz], zi = zI[jjz];
            double* dr = duR + 3 * jju; double* di = duI + 3 * jju;
            ax += dr[0] * zr + di[0] * zi;
            ay += dr[1] * zr + di[1] * zi;
            az += dr[2] * zr + di[2] * zi;
        }
        if (j % 2 == 0)
        {
            int mb = j / 2;
            for (int ma = 0; ma < mb; ma++, jju++, jjz++)
            {
                double zr = zR[jjz], zi = zI[jjz];
                double* dr = duR + 3 * jju; double* di = duI + 3 * jju;
                ax += dr[0] * zr + di[0] * zi;
                ay += dr[1] * zr + di[1] * zi;
                az += dr[2] * zr + di[2] * zi;
            }
            double zr2 = zR[jjz], zi2 = zI[jjz];
            double* dr2 = duR + 3 * jju; double* di2 = duI + 3 * jju;
            ax += 0.5 * (dr2[0] * zr2 + di2[0] * zi2);
            ay += 0.5 * (dr2[1] * zr2 + di2[1] * zi2);
            az += 0.5 * (dr2[2] * zr2 + di2[2] * zi2);
        }
        sx = ax; sy = ay; sz = az;
    }

    /// <summary>∂B_{j1 j2 j}/∂r_ij from ∂U and Z, using the symmetry of Z (sna.cpp compute_dbidrj).</summary>
    private unsafe void ComputeDB(double[] duRArr, double[] duIArr, double[] zRArr, double[] zIArr, Span<double> dbSpan)
    {
        fixed (double* duR = duRArr, duI = duIArr, zR = zRArr, zI = zIArr, db = dbSpan)
            for (int jjb = 0; jjb < _nb; jjb++)
            {
                int j1 = _bJ1[jjb], j2 = _bJ2[jjb], j = _bJ[jjb];
                SumDuZ(j, _idxuBlock[j], _idxzBlock[j1, j2, j], duR, duI, zR, zI, out double sx, out double sy, out double sz);
                double dx = 2 * sx, dy = 2 * sy, dz = 2 * sz;
                double j1fac = 2 * (j + 1) / (j1 + 1.0);
                SumDuZ(j1, _idxuBlock[j1], _idxzBlock[j, j2, j1], duR, duI, zR, zI, out sx, out sy, out sz);
                dx += j1fac * sx; dy += j1fac * sy; dz += j1fac * sz;
                double j2fac = 2 * (j + 1) / (j2 + 1.0);
                SumDuZ(j2, _idxuBlock[j2], _idxzBlock[j, j1, j2], duR, duI, zR, zI, out sx, out sy, out sz);
                dx += j2fac * sx; dy += j2fac * sy; dz += j2fac * sz;
                db[3 * jjb] = dx; db[3 * jjb + 1] = dy; db[3 * jjb + 2] = dz;
            }
    }

    /// <summary>The adjoint Y_j(ma, mb) = Σ β_{j1 j2 j} (with symmetry factors) Z_{j1 j2 j} (sna.cpp compute_yi), from the Z of <see cref="ComputeZ"/>.</summary>
    private unsafe void ComputeYFromZ(double[] zRArr, double[] zIArr, ReadOnlySpan<double> betaSpan, double[] yR, double[] yI)
    {
        Array.Clear(yR);
        Array.Clear(yI);
        fixed (double* zR = zRArr, zI = zIArr, beta = betaSpan, yf = _yFactor)
        fixed (int* zt = _zTable, yb = _yBeta)
            for (int jjz = 0; jjz < _idxzMax; jjz++)
            {
                double betaj = yf[jjz] * beta[yb[jjz]];
                if (betaj == 0) continue;
                int jju = zt[10 * jjz + 9];
                yR[jju] += betaj * zR[jjz];
                yI[jju] += betaj * zI[jjz];
            }
    }

    /// <summary>dE/dr_ij = 2 Σ' Re(dU_j* Y_j) (sna.cpp compute_deidrj).</summary>
    private unsafe void ComputeDEDR(double[] duRArr, double[] duIArr, double[] yRArr, double[] yIArr, Span<double> dedr)
    {
        double ax = 0, ay = 0, az = 0;
        fixed (double* duR = duRArr, duI = duIArr, yR = yRArr, yI = yIArr)
            for (int j = 0; j <= _twojmax; j++)
            {
                SumDuZ(j, _idxuBlock[j], _idxuBlock[j], duR, duI, yR, yI, out double sx, out double sy, out double sz);
                ax += sx; ay += sy; az += sz;
            }
        dedr[0] = 2 * ax; dedr[1] = 2 * ay; dedr[2] = 2 * az;
    }
}
