using Mlip.Calculators;
using Mlip.Descriptors.Ace;
using Mlip.Models.Uncertainty;
using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Models.Ace;

/// <summary>Which per-atom vectors the ACE extrapolation grade uses (pacemaker's <c>pace_activeset</c> and its <c>-f</c>).</summary>
public enum AceGradeKind
{
    /// <summary>The basis function values B_f, one per function (pacemaker's default "linear B-projections").</summary>
    Linear,
    /// <summary>The linearised atomic energy ∂E_i/∂c_{fp} = F'(ρ_p) B_f, one per function and density (density-major, as pacemaker's dE_dc).</summary>
    Full,
}

/// <summary>
/// The extrapolation grade of ACE potentials as pacemaker defines it (Lysogorskiy et al., PRM 7, 043801, 2023): per element,
/// the active set A is the set of training atoms (rows of per-atom projection vectors x_i) of maximal volume found by MaxVol
/// (<see cref="DOptimality"/>); the grade of an atom is γ = max_j |(x A⁻¹)_j| (≤ 1 inside the training data, &gt; 1 extrapolation).
/// Projections (<see cref="AceGradeKind"/>): B_f, or F'(ρ_p) B_f for every density p (F' without the core cut-off factor,
/// as pacemaker). Potentials in C-tilde form (.ace/.yace, and a fitted linear ACE through <see cref="AceLinearExport"/>)
/// give each function's share of each density, c_{fp} B_f; B_f is taken as the share of the density with the largest
/// coefficients, i.e. c_{fp*} B_f. γ does not change when a column of x and of A is scaled, so this γ equals pacemaker's
/// whenever the C-tilde coefficients of a function factorise as c̃_{fsp} = g_s c_{fp} (every linear ACE, and a .yace whose
/// functions came one to one from its B-basis). Active-set files: <see cref="Save"/>/<see cref="Load"/> (.asi).
/// </summary>
public sealed class AceExtrapolation : IActiveSetEstimator
{
    private readonly AceEvaluator _ev;
    private readonly int[] _speciesOfZ;
    private readonly int[][] _referenceDensity; // per species and function: the density whose share stands for B_f
    private readonly Dictionary<int, DOptimality> _sets; // by species index
    private readonly AceGradeKind _kind;

    private AceExtrapolation(Potential potential, AceBasisSet basis, AceGradeKind kind, Dictionary<int, DOptimality>? sets)
    {
        Potential = potential;
        Basis = basis;
        _kind = kind;
        _ev = new AceEvaluator(basis);
        _speciesOfZ = Enumerable.Repeat(-1, 119).ToArray();
        for (int mu = 0; mu < basis.ElementCount; mu++) _speciesOfZ[Elements.Number(basis.Elements[mu])] = mu;
        _referenceDensity = new int[basis.ElementCount][];
        for (int mu = 0; mu < basis.ElementCount; mu++)
        {
            var fs = basis.Functions[mu];
            int p = basis.Embeddings[mu].NDensity;
            var r = new int[fs.Length];
            for (int f = 0; f < fs.Length; f++)
            {
                double best = -1;
                for (int d = 0; d < p; d++)
                {
                    double s = 0;
                    for (int m = 0; m < fs[f].MsCount; m++) s += Math.Abs(fs[f].Ctildes[m * p + d]);
                    if (s > best) { best = s; r[f] = d; }
                }
            }
            _referenceDensity[mu] = r;
        }
        _sets = sets ?? [];
    }

    public Potential Potential { get; }
    public AceBasisSet Basis { get; }
    public AceGradeKind GradeKind => _kind;
    public string Kind => _kind == AceGradeKind.Linear ? "ace extrapolation grade (linear)" : "ace extrapolation grade (full)";
    public string ScoreName => "max extrapolation grade γ";

    /// <summary>The PACE basis of a potential: a loaded .ace/.yace, or a fitted linear ACE in C-tilde form; null for other models.</summary>
    public static AceBasisSet? BasisOf(Potential p) =>
        AcePotential.BasisOf(p) ?? (AceLinearExport.IsLinearAce(p) ? AceLinearExport.ToCTilde(p) : null);

    /// <summary>Per element: the training atoms of the active set, as (structure index, atom index), when built here.</summary>
    public Dictionary<string, (int Structure, int Atom)[]> ActiveAtoms { get; } = new();

    /// <summary>Length of the projection vector of an atom of species <paramref name="mu"/>.</summary>
    public int ProjectionLength(int mu) => _ev.FunctionCount(mu) * (_kind == AceGradeKind.Full ? Basis.Embeddings[mu].NDensity : 1);

    /// <summary>The active set (MaxVol) of each element over the atoms of <paramref name="training"/>.</summary>
    public static AceExtrapolation Build(Potential potential, IReadOnlyList<Structure> training, AceGradeKind kind = AceGradeKind.Linear,
        IProgress<Descriptors.WorkProgress>? progress = null)
    {
        var basis = BasisOf(potential) ?? throw new MlipException($"{potential.Name}: the ACE extrapolation grade needs a PACE potential (.ace/.yace) or a linear ACE model");
        var g = new AceExtrapolation(potential, basis, kind, null);
        var rows = new List<double>[basis.ElementCount];
        var counts = new int[basis.ElementCount];
        var atoms = new List<(int, int)>[basis.ElementCount];
        for (int mu = 0; mu < rows.Length; mu++) { rows[mu] = []; atoms[mu] = []; }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int s = 0; s < training.Count; s++)
        {
            var (species, x, offsets) = g.Projections(training[s]);
            for (int i = 0; i < species.Length; i++)
            {
                int mu = species[i];
                rows[mu].AddRange(x.AsSpan(offsets[i], g.ProjectionLength(mu)));
                counts[mu]++;
                atoms[mu].Add((s, i));
            }
            progress?.Report(new Descriptors.WorkProgress(s + 1, training.Count, clock.Elapsed));
        }
        for (int mu = 0; mu < rows.Length; mu++)
        {
            if (counts[mu] == 0) continue;
            int k = g.ProjectionLength(mu);
            if (counts[mu] < k)
                throw new MlipException($"the training data hold {counts[mu]} {basis.Elements[mu]} atoms, fewer than the {k} projections of that element: the active set is under-determined (give more structures)");
            var z = new int[counts[mu]];
            var set = DOptimality.Build(rows[mu].ToArray(), z, k, maxIterations: 100_000, scaleColumns: true);
            g._sets[mu] = set;
            g.ActiveAtoms[basis.Elements[mu]] = [.. set.ActiveRows[0].Select(r => atoms[mu][r])];
        }
        return g;
    }

    /// <summary>Per-atom projection vectors of a structure: species of each atom, the vectors, and each atom's offset into them.</summary>
    public (int[] Species, double[] Vectors, int[] Offsets) Projections(Structure s)
    {
        int n = s.Count;
        var species = new int[n];
        for (int i = 0; i < n; i++)
        {
            int z = s.AtomicNumbers[i];
            int mu = z >= 0 && z < _speciesOfZ.Length ? _speciesOfZ[z] : -1;
            if (mu < 0) throw new MlipInputException(s.Source ?? InputLocation.Unknown, $"the ACE potential has no element {Elements.Symbol(z)}");
            species[i] = mu;
        }
        var offsets = new int[n + 1];
        for (int i = 0; i < n; i++) offsets[i + 1] = offsets[i] + ProjectionLength(species[i]);
        var x = new double[offsets[n]];
        var nl = NeighborList.Build(s, _ev.MaxCutoff);
        var nb = nl.Neighbors;
        var ps = new int[nl.PairCount];
        for (int q = 0; q < ps.Length; q++) ps[q] = species[nb[q]];
        int pmax = Basis.Embeddings.Max(e => e.NDensity);
        int fmax = Enumerable.Range(0, Basis.ElementCount).Max(_ev.FunctionCount);
        AceDensities.Chunks(n, (a, b) =>
        {
            var w = _ev.CreateWorkspace();
            var rho = new double[pmax];
            var shares = new double[fmax * pmax];
            for (int i = a; i < b; i++)
            {
                var range = nl.PairRange(i);
                int mu = species[i];
                _ev.AtomicBase(mu, ps.AsSpan(range.Start, range.Count), nl.Vectors.Slice(range.Start, range.Count), nl.Distances.Slice(range.Start, range.Count), w);
                _ev.FunctionDensities(mu, w, shares);
                int nf = _ev.FunctionCount(mu), p = _ev.DensityCount(mu);
                var refd = _referenceDensity[mu];
                var xi = x.AsSpan(offsets[i], offsets[i + 1] - offsets[i]);
                if (_kind == AceGradeKind.Linear)
                {
                    for (int f = 0; f < nf; f++) xi[f] = shares[f * p + refd[f]];
                    continue;
                }
                _ev.Densities(mu, w, rho);
                var emb = Basis.Embeddings[mu];
                for (int d = 0; d < p; d++)
                {
                    double wpre = emb.FsParameters[2 * d], mexp = emb.FsParameters[2 * d + 1], df;
                    if (emb.Npoti == "FinnisSinclair") AceEmbeddingModel.Fexp(rho[d], mexp, out df);
                    else AceEmbeddingModel.FexpShiftedScaled(rho[d], mexp, out df);
                    df *= wpre;
                    for (int f = 0; f < nf; f++) xi[d * nf + f] = df * shares[f * p + refd[f]];
                }
            }
        });
        return (species, x, offsets);
    }

    /// <summary>γ of every atom (∞ for an element without an active set).</summary>
    public double[] Grades(Structure s)
    {
        var (species, x, offsets) = Projections(s);
        var g = new double[s.Count];
        AceDensities.Chunks(g.Length, (a, b) =>
        {
            for (int i = a; i < b; i++)
                g[i] = _sets.TryGetValue(species[i], out var set) ? set.Grade(x.AsSpan(offsets[i], offsets[i + 1] - offsets[i]), 0) : double.PositiveInfinity;
        });
        return g;
    }

    /// <summary>The active sets by species, for greedy D-optimal batches (<see cref="IActiveSets"/>); keys of <see cref="Vectors"/> are species indices.</summary>
    public IActiveSets Sets => new AceActiveSets(_sets);

    /// <summary>The per-atom projections of a structure, keyed by species index.</summary>
    public AtomVectors Vectors(Structure structure)
    {
        var (species, x, offsets) = Projections(structure);
        return new AtomVectors(species, x, offsets);
    }

    /// <summary>The element's active-set inverse (projection length × rows, row-major), null without one.</summary>
    public (int Rows, double[] Inverse)? InverseOf(string element)
    {
        int mu = Array.IndexOf(Basis.Elements, element);
        return mu >= 0 && _sets.TryGetValue(mu, out var set) ? set.InverseOf(0) : null;
    }

    /// <inheritdoc/>
    public bool IncludeStress { get; set; }

    public UncertaintyResult Estimate(Structure structure)
    {
        var r = Potential.Calculate(structure, forces: true, stress: IncludeStress && structure.Pbc.AllPeriodic);
        var g = Grades(structure);
        return new UncertaintyResult(r.Energy, r.Forces!, null, null, g, g.Length == 0 ? 0 : g.Max(), r.Stress);
    }

    /// <summary>
    /// Writes the active sets as pacemaker's .asi container: an .npz with one square float64 array per element, named by
    /// the element, holding A⁻¹ (γ = max_j |(x A⁻¹)_j|); the size tells linear (functions) from full (functions × densities).
    /// Where projections were dropped as dependent, their rows and the missing columns are zero.
    /// </summary>
    public void Save(string path)
    {
        var arrays = new List<Mlip.IO.NumpyFile.Array>();
        foreach (var (mu, set) in _sets.OrderBy(kv => kv.Key))
        {
            var (rows, inv) = set.InverseOf(0)!.Value;
            int k = ProjectionLength(mu);
            // fewer rows than projections (dependent projections dropped): zero columns make it square, γ unchanged
            var square = new double[k * k];
            for (int a = 0; a < k; a++) Array.Copy(inv, a * rows, square, a * k, rows);
            arrays.Add(Mlip.IO.NumpyFile.Array.Of(Basis.Elements[mu], square, k, k));
        }
        Mlip.IO.NumpyFile.WriteNpz(path, arrays);
    }

    /// <summary>Reads an .asi (see <see cref="Save"/>) for a potential; linear or full from the matrix size, as pacemaker does.</summary>
    public static AceExtrapolation Load(Potential potential, string path)
    {
        var basis = BasisOf(potential) ?? throw new MlipException($"{potential.Name}: the ACE extrapolation grade needs a PACE potential (.ace/.yace) or a linear ACE model");
        var arrays = Mlip.IO.NumpyFile.ReadNpz(path);
        AceGradeKind? kind = null;
        var sets = new Dictionary<int, DOptimality>();
        var ev = new AceEvaluator(basis);
        foreach (var a in arrays)
        {
            int mu = Array.IndexOf(basis.Elements, a.Name);
            if (mu < 0) throw new MlipInputException(new InputLocation(path), $"active set for '{a.Name}', an element the potential does not have ({string.Join(", ", basis.Elements)})");
            if (a.Shape.Length != 2 || a.Shape[0] != a.Shape[1] || a.Doubles is null)
                throw new MlipInputException(new InputLocation(path), $"the active set of {a.Name} is not a square float64 matrix");
            int nf = ev.FunctionCount(mu), p = basis.Embeddings[mu].NDensity, k = a.Shape[0];
            AceGradeKind here = k == nf ? AceGradeKind.Linear : k == nf * p ? AceGradeKind.Full
                : throw new MlipInputException(new InputLocation(path), $"the active set of {a.Name} is {k}×{k}; the potential has {nf} functions and {p} densities for it ({nf} linear, {nf * p} full)");
            if (kind is { } kk && kk != here) throw new MlipInputException(new InputLocation(path), "the active sets mix linear and full projections");
            kind = here;
            sets[mu] = DOptimality.FromInverses(new Dictionary<int, double[]> { [0] = a.Doubles }, k);
        }
        if (kind is null) throw new MlipInputException(new InputLocation(path), "no active set in the file");
        return new AceExtrapolation(potential, basis, kind.Value, sets);
    }
}

/// <summary>
/// The ACE grade's active sets (one <see cref="DOptimality"/> per species, over that species' projections) behind
/// <see cref="IActiveSets"/>: a set grows by MaxVol over its active projections and the new atoms' (columns scaled as
/// when it was built).
/// </summary>
internal sealed class AceActiveSets(IReadOnlyDictionary<int, DOptimality> sets) : IActiveSets
{
    public double MaxGrade(AtomVectors atoms)
    {
        double g = 0;
        for (int i = 0; i < atoms.Atoms; i++)
            g = Math.Max(g, sets.TryGetValue(atoms.Keys[i], out var set) ? set.Grade(atoms.Of(i), 0) : double.PositiveInfinity);
        return double.IsNaN(g) ? double.PositiveInfinity : g;
    }

    public IActiveSets With(AtomVectors atoms)
    {
        var next = new Dictionary<int, DOptimality>(sets);
        foreach (int mu in atoms.Keys.Distinct())
        {
            var rows = new List<double>();
            int count = 0, k = 0;
            for (int i = 0; i < atoms.Atoms; i++)
                if (atoms.Keys[i] == mu) { rows.AddRange(atoms.Of(i)); k = atoms.Of(i).Length; count++; }
            var zeros = new int[count];
            next[mu] = sets.TryGetValue(mu, out var set)
                ? set.With(rows.ToArray(), zeros)
                : DOptimality.Build(rows.ToArray(), zeros, k, maxIterations: 100_000, scaleColumns: true);
        }
        return new AceActiveSets(next);
    }
}
