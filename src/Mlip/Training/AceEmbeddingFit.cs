using Mlip.Descriptors;
using Mlip.Descriptors.Ace;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace Mlip.Training;

/// <summary>Settings of the nonlinear ACE embedding fit.</summary>
public sealed record AceEmbeddingFitOptions
{
    /// <summary>Pairs (w_p, m_p), one per density; default PACE's usual two densities: F = ρ_1 + √ρ_2 (shifted, scaled).</summary>
    public double[] FsParameters { get; init; } = [1, 1, 1, 0.5];
    /// <summary>L-BFGS iterations.</summary>
    public int Iterations { get; init; } = 100;
    public LossWeights Weights { get; init; } = new();
    /// <summary>Scale of the random start of the coefficients of the densities after the first (the first is the linear fit).</summary>
    public double InitialScale { get; init; } = 1e-2;
    public int Seed { get; init; } = 1;
    public int Threads { get; init; } = Environment.ProcessorCount;
}

/// <summary>
/// Fits PACE's nonlinear embedding on the linear ACE basis (<see cref="AceBasisDescriptor"/>): per element,
/// E_i = E0 + Σ_p w_p F(ρ_p; m_p) with ρ_p = Σ_k c_kp B_k(i) and F = FinnisSinclairShiftedScaled (identity for m = 1).
/// The parameters are E0 and the coefficients c_kp of each density (stored as a_kp = c_kp σ_k, σ_k the RMS of B_k, for
/// conditioning). Forces: F = −Σ_i (∂E_i/∂B) ∂B/∂r with ∂E_i/∂B_k = Σ_p w_p F'(ρ_p) c_kp written out in libtorch (float64)
/// and contracted with the per-pair derivative blocks of the descriptor, so the loss (the NN trainer's: mean (ΔE/N)² +
/// w_F mean ΔF²) and its gradient come from one backward pass. Start: density 1 is the linear fit (m_1 = 1), the others
/// small random; L-BFGS. <see cref="ToCTilde"/> gives the fitted potential as a PACE C-tilde basis (.yace/.ace).
/// </summary>
public sealed class AceEmbeddingFit
{
    private readonly AceBasisDescriptor _d;
    private readonly AceEmbeddingFitOptions _o;
    private readonly int _k, _p;
    private readonly int[] _elements;
    private readonly double[] _sigma;
    private readonly double _wE, _wF;
    private readonly Tensor _x, _atomStructure, _atomsPer, _energyTarget;
    private readonly Tensor[] _elementAtoms;
    private readonly Tensor? _dx, _pc, _pn, _forceTarget;
    private readonly int _structures, _atoms;

    public AceEmbeddingFit(AceBasisDescriptor descriptor, IReadOnlyList<Structure> structures, PolynomialModel linear, AceEmbeddingFitOptions options)
    {
        TorchRuntime.EnsureLoaded();
        if (linear.Order != 1) throw new MlipException("the embedding fit starts from a linear ACE model");
        if (options.FsParameters.Length < 2 || options.FsParameters.Length % 2 != 0) throw new MlipException("FS parameters are pairs (w_p, m_p)");
        if (Math.Abs(options.FsParameters[1] - 1) > 1e-12) throw new MlipException("the first density of the embedding must be linear (m_1 = 1): it starts from the linear fit");
        _d = descriptor;
        _o = options;
        _k = descriptor.FeatureCount;
        _p = options.FsParameters.Length / 2;
        _elements = [.. linear.Elements];
        bool forces = options.Weights.Force > 0 && structures.Any(s => s.Forces is not null);
        var sets = DatasetDescriptors.Compute(descriptor, structures, forces, options.Threads);
        int atoms = structures.Sum(s => s.Count);
        _structures = structures.Count;
        _atoms = atoms;
        // σ_k: RMS of B_k over all atoms
        _sigma = new double[_k];
        foreach (var set in sets)
            for (int i = 0; i < set.Atoms; i++)
            {
                var xi = set.Of(i);
                for (int a = 0; a < _k; a++) _sigma[a] += xi[a] * xi[a];
            }
        for (int a = 0; a < _k; a++) _sigma[a] = _sigma[a] > 0 ? Math.Sqrt(_sigma[a] / atoms) : 1;

        var x = new double[(long)atoms * _k];
        var atomStructure = new long[atoms];
        var elementOf = new int[atoms];
        var atomsPer = new double[_structures];
        var energy = new double[_structures];
        int pairs = forces ? sets.Sum(s => s.Neighbors.PairCount) : 0;
        var dx = forces ? new double[(long)pairs * _k * 3] : [];
        var pc = new long[pairs]; var pn = new long[pairs];
        var force = new double[3L * atoms];
        int ao = 0, po = 0, eRows = 0, fRows = 0;
        for (int s = 0; s < _structures; s++)
        {
            var st = structures[s];
            var set = sets[s];
            atomsPer[s] = st.Count;
            energy[s] = st.Energy ?? double.NaN;
            if (st.Energy is not null) eRows++;
            if (st.Forces is not null) fRows += 3 * st.Count;
            for (int i = 0; i < st.Count; i++)
            {
                int e = Array.IndexOf(_elements, st.AtomicNumbers[i]);
                if (e < 0) throw new MlipException($"{st.Source?.ToString() ?? $"structure {s}"}: element {Elements.Symbol(st.AtomicNumbers[i])} is not in the linear model");
                elementOf[ao + i] = e;
                atomStructure[ao + i] = s;
                var xi = set.Of(i);
                for (int a = 0; a < _k; a++) x[(long)(ao + i) * _k + a] = xi[a] / _sigma[a];
                if (st.Forces is { } f) { force[3L * (ao + i)] = f[i].X; force[3L * (ao + i) + 1] = f[i].Y; force[3L * (ao + i) + 2] = f[i].Z; }
            }
            if (forces)
            {
                var nl = set.Neighbors;
                var grad = set.PairGradients!;
                for (int q = 0; q < nl.PairCount; q++)
                {
                    pc[po + q] = ao + nl.Centers[q];
                    pn[po + q] = ao + nl.Neighbors[q];
                    long src = (long)q * _k * 3, dst = (long)(po + q) * _k * 3;
                    for (int a = 0; a < _k; a++)
                        for (int c = 0; c < 3; c++) dx[dst + 3 * a + c] = grad[src + 3 * a + c] / _sigma[a];
                }
                po += nl.PairCount;
            }
            ao += st.Count;
        }
        _wE = eRows > 0 ? options.Weights.Energy : 0;
        _wF = fRows > 0 && forces ? options.Weights.Force : 0;
        _x = tensor(x, [atoms, _k], dtype: ScalarType.Float64);
        _atomStructure = tensor(atomStructure, dtype: ScalarType.Int64);
        _atomsPer = tensor(atomsPer, dtype: ScalarType.Float64);
        _energyTarget = tensor(energy, dtype: ScalarType.Float64);
        _elementAtoms = new Tensor[_elements.Length];
        for (int e = 0; e < _elements.Length; e++)
            _elementAtoms[e] = tensor(Enumerable.Range(0, atoms).Where(i => elementOf[i] == e).Select(i => (long)i).ToArray(), dtype: ScalarType.Int64);
        if (forces)
        {
            _dx = tensor(dx, [pairs, _k, 3], dtype: ScalarType.Float64);
            _pc = tensor(pc, dtype: ScalarType.Int64);
            _pn = tensor(pn, dtype: ScalarType.Int64);
            _forceTarget = tensor(force, [atoms, 3], dtype: ScalarType.Float64);
        }

        // start: density 1 = the linear model (raw coefficients β_k/s_k, E0 with the mean folded in), others small random
        Parameters = new double[_elements.Length * PerElement];
        var rng = new Random(options.Seed);
        for (int e = 0; e < _elements.Length; e++)
        {
            var beta = linear.Coefficients[e];
            double e0 = beta[0];
            int o = e * PerElement;
            for (int a = 0; a < _k; a++)
            {
                double w = beta[1 + a] / linear.Scale[a];
                e0 -= w * linear.Mean[a];
                Parameters[o + 1 + a * _p] = w * _sigma[a];
                for (int q = 1; q < _p; q++) Parameters[o + 1 + a * _p + q] = options.InitialScale * (2 * rng.NextDouble() - 1);
            }
            Parameters[o] = e0;
        }
    }

    /// <summary>Per element: E0, then a[k, p] (k-major).</summary>
    public int PerElement => 1 + _k * _p;
    public double[] Parameters { get; }
    public int DensityCount => _p;

    /// <summary>F(ρ; m) and F'(ρ) of FinnisSinclairShiftedScaled (identity for m = 1), elementwise.</summary>
    private static (Tensor F, Tensor dF) Embed(Tensor rho, double m)
    {
        if (Math.Abs(m - 1) < 1e-10) return (rho, ones_like(rho));
        double nx = 1 / m, x0 = Math.Pow(nx, nx / (1 - nx)), y0 = Math.Pow(nx, 1 / (1 - nx));
        var a = rho.abs();
        var ex = exp(-a);
        var xoff = ex * x0;
        var yoff = ex * y0;
        var f = rho.sign() * ((xoff + a).pow(m) - yoff);
        var df = yoff + m * (1 - xoff) * (xoff + a).pow(m - 1);
        return (f, df);
    }

    /// <summary>Energies per structure and forces [atoms, 3] (null without force data) for parameters p.</summary>
    private (Tensor E, Tensor? F) Predict(Tensor p)
    {
        var eAtom = zeros(_atoms, dtype: ScalarType.Float64);
        var dEdX = zeros(_atoms, _k, dtype: ScalarType.Float64);
        var w = tensor(Enumerable.Range(0, _p).Select(q => _o.FsParameters[2 * q]).ToArray(), dtype: ScalarType.Float64);
        for (int e = 0; e < _elements.Length; e++)
        {
            if (_elementAtoms[e].shape[0] == 0) continue;
            long o = e * PerElement;
            var e0 = p[o];
            var a = p.narrow(0, o + 1, _k * _p).view(_k, _p);
            var rho = _x.index_select(0, _elementAtoms[e]).matmul(a); // [n_e, P]
            var fs = new List<Tensor>(); var dfs = new List<Tensor>();
            for (int q = 0; q < _p; q++)
            {
                var (f, df) = Embed(rho.select(1, q), _o.FsParameters[2 * q + 1]);
                fs.Add(f); dfs.Add(df);
            }
            var F = stack(fs, 1); var dF = stack(dfs, 1);
            eAtom = eAtom.index_add(0, _elementAtoms[e], (F * w).sum(1) + e0, 1.0);
            dEdX = dEdX.index_add(0, _elementAtoms[e], (dF * w).matmul(a.t()), 1.0);
        }
        var energies = zeros(_structures, dtype: ScalarType.Float64).index_add(0, _atomStructure, eAtom, 1.0);
        if (_dx is null) return (energies, null);
        var gp = bmm(dEdX.index_select(0, _pc!).unsqueeze(1), _dx).squeeze(1);
        var forces = zeros(_atoms, 3, dtype: ScalarType.Float64).index_add(0, _pc!, gp, 1.0).index_add(0, _pn!, gp, -1.0);
        return (energies, forces);
    }

    /// <summary>The loss at <paramref name="parameters"/>, its gradient into <paramref name="gradient"/> unless null.</summary>
    public double Loss(double[] parameters, double[]? gradient)
    {
        using var scope = NewDisposeScope();
        var p = tensor(parameters, dtype: ScalarType.Float64).requires_grad_(gradient is not null);
        var (e, f) = Predict(p);
        var loss = zeros(1, dtype: ScalarType.Float64).squeeze();
        if (_wE > 0)
        {
            var mask = _energyTarget.isnan().logical_not();
            var de = ((e - _energyTarget.nan_to_num()) / _atomsPer).masked_select(mask);
            loss = loss + _wE * de.pow(2).mean();
        }
        if (_wF > 0 && f is not null) loss = loss + _wF * (f - _forceTarget!).pow(2).mean();
        if (gradient is not null)
        {
            loss.backward();
            var g = p.grad!.cpu().data<double>().ToArray();
            Array.Copy(g, gradient, g.Length);
        }
        return loss.item<double>();
    }

    /// <summary>Energies and forces of the model at the current parameters (for checks against the exported potential).</summary>
    public (double[] Energies, double[]? Forces) Evaluate()
    {
        using var scope = NewDisposeScope();
        var (e, f) = Predict(tensor(Parameters, dtype: ScalarType.Float64));
        return (e.data<double>().ToArray(), f?.data<double>().ToArray());
    }

    /// <summary>L-BFGS from the current parameters; returns the loss at the start and at the end.</summary>
    public (double Start, double End) Run(IProgress<WorkProgress>? progress = null)
    {
        TorchRuntime.SetThreads(_o.Threads);
        var opt = new Lbfgs(Parameters.Length);
        double start = Loss(Parameters, null);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int it = 0; it < _o.Iterations; it++)
        {
            opt.Step(Parameters, (xv, g) => Loss(xv, g));
            progress?.Report(new WorkProgress(it + 1, _o.Iterations, clock.Elapsed));
        }
        return (start, Loss(Parameters, null));
    }

    /// <summary>The fitted potential in PACE's C-tilde form: c̃_{k s p} = c_ks a_kp / σ_k, E0 per element, the FS embedding.</summary>
    public AceBasisSet ToCTilde()
    {
        var sk = _d.Skeleton;
        int ne = sk.ElementCount;
        var e0 = new double[ne];
        var functions = new AceFunction[ne][];
        var embeddings = new AceEmbedding[ne];
        for (int mu = 0; mu < ne; mu++)
        {
            embeddings[mu] = new AceEmbedding
            {
                Npoti = "FinnisSinclairShiftedScaled", FsParameters = (double[])_o.FsParameters.Clone(), NDensity = _p,
                RhoCoreCut = sk.Embeddings[mu].RhoCoreCut, DRhoCoreCut = sk.Embeddings[mu].DRhoCoreCut,
            };
            int e = Array.IndexOf(_elements, Elements.Number(sk.Elements[mu]));
            if (e < 0) { functions[mu] = []; continue; }
            int o = e * PerElement;
            e0[mu] = Parameters[o];
            var list = new List<AceFunction>();
            for (int a = 0; a < _k; a++)
            {
                var c = new double[_p];
                bool any = false;
                for (int q = 0; q < _p; q++) { c[q] = Parameters[o + 1 + a * _p + q] / _sigma[a]; any |= c[q] != 0; }
                if (!any) continue;
                var f = _d.Functions[a];
                var ct = new double[f.Ctildes.Length * _p];
                for (int s = 0; s < f.Ctildes.Length; s++)
                    for (int q = 0; q < _p; q++) ct[s * _p + q] = f.Ctildes[s] * c[q];
                list.Add(new AceFunction { Mu0 = mu, Rank = f.Rank, NDensity = _p, Mus = f.Mus, Ns = f.Ns, Ls = f.Ls, Ms = f.Ms, Ctildes = ct });
            }
            functions[mu] = [.. list.Where(f => f.Rank == 1), .. list.Where(f => f.Rank > 1)];
        }
        var b = new AceBasisSet
        {
            Elements = sk.Elements, LMax = sk.LMax, NRadBase = sk.NRadBase, NRadMax = sk.NRadMax, RankMax = sk.RankMax, NDensityMax = _p,
            CutoffMax = sk.CutoffMax, DeltaSplineBins = sk.DeltaSplineBins, E0 = e0, Bonds = sk.Bonds, Embeddings = embeddings, Functions = functions,
        };
        b.Validate();
        return b;
    }
}
