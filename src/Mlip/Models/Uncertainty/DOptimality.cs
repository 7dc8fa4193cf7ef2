using System.Numerics.Tensors;
using Mlip.Descriptors;
using Mlip.Structures;
using Mlip.Calculators;

namespace Mlip.Models.Uncertainty;

/// <summary>
/// The D-optimality extrapolation grade of linear models (Podryabinkin &amp; Shapeev, MTP; pacemaker's
/// "active set" for ACE): per element, the active set A is the K rows of the training atoms' feature matrix
/// (per-atom vectors x_i, here the descriptor with a constant 1 appended) of maximal |det|, found by
/// the MaxVol algorithm. The grade of a new atom is γ = max_j |c_j| with c = x A⁻¹; γ ≤ 1 means the atom
/// lies inside the polytope the active set spans (interpolation), γ &gt; 1 extrapolation. Works on any
/// per-atom feature vectors, so an ACE model can reuse it with its basis functions.
/// </summary>
public sealed class DOptimality : IActiveSets
{
    private readonly Dictionary<int, (int Rows, double[] Inverse)> _inverse = new();
    private readonly Dictionary<int, double[]> _activeVectors = new();

    private readonly int _maxIterations = 200;
    private readonly bool _scaleColumns;

    private DOptimality(int featureLength, int maxIterations = 200, bool scaleColumns = false)
    {
        FeatureLength = featureLength;
        _maxIterations = maxIterations;
        _scaleColumns = scaleColumns;
    }

    /// <summary>Length of the per-atom vectors (descriptor length + 1 for the constant).</summary>
    public int FeatureLength { get; }

    /// <summary>Per element: indices (into the rows given) of the active set.</summary>
    public Dictionary<int, int[]> ActiveRows { get; } = new();

    /// <summary>
    /// Builds the active sets from per-atom vectors (atom-major, <paramref name="featureLength"/> each) and their elements.
    /// Elements with fewer atoms than features get a regularised set (pseudo-inverse through a small ridge).
    /// </summary>
    public static DOptimality Build(ReadOnlySpan<double> vectors, ReadOnlySpan<int> atomicNumbers, int featureLength, int maxIterations = 200)
        => Build(vectors, atomicNumbers, featureLength, maxIterations, scaleColumns: false);

    /// <summary>
    /// As above; with <paramref name="scaleColumns"/> each element's columns are divided by their root mean square over its
    /// atoms before MaxVol (γ = |x A⁻¹| does not change under x → xD, A → AD, but the pivoting and the inverse are better
    /// conditioned when the features differ by orders of magnitude, as ACE basis functions do); the stored inverse is
    /// D (AD)⁻¹, so <see cref="Grade"/> takes unscaled vectors. Columns that depend linearly on others over these atoms are
    /// dropped then (see <see cref="MaxVol(double[], int, int, int, double, bool)"/>).
    /// </summary>
    public static DOptimality Build(ReadOnlySpan<double> vectors, ReadOnlySpan<int> atomicNumbers, int featureLength, int maxIterations, bool scaleColumns)
    {
        var result = new DOptimality(featureLength, maxIterations, scaleColumns);
        var byElement = new Dictionary<int, List<int>>();
        for (int i = 0; i < atomicNumbers.Length; i++)
        {
            if (!byElement.TryGetValue(atomicNumbers[i], out var list)) byElement[atomicNumbers[i]] = list = [];
            list.Add(i);
        }
        foreach (var (z, rows) in byElement)
        {
            int k = featureLength;
            var x = new double[rows.Count * k];
            for (int r = 0; r < rows.Count; r++) vectors.Slice(rows[r] * k, k).CopyTo(x.AsSpan(r * k, k));
            double[]? scale = null;
            if (scaleColumns)
            {
                scale = new double[k];
                for (int r = 0; r < rows.Count; r++)
                    for (int a = 0; a < k; a++) scale[a] += x[r * k + a] * x[r * k + a];
                // columns at the round-off floor (functions that vanish by symmetry on these data, computed as a difference
                // of large terms) would become unit-size noise when scaled: they are zeroed, i.e. left out of γ
                double largest = 0;
                for (int a = 0; a < k; a++) largest = Math.Max(largest, scale[a]);
                for (int a = 0; a < k; a++) scale[a] = scale[a] > 1e-20 * largest && scale[a] > 0 ? 1 / Math.Sqrt(scale[a] / rows.Count) : 0;
                for (int r = 0; r < rows.Count; r++) TensorPrimitives.Multiply(x.AsSpan(r * k, k), scale, x.AsSpan(r * k, k));
            }
            var (active, inverse) = MaxVol(x, rows.Count, k, maxIterations, 1e-3, dropDependentColumns: scaleColumns);
            if (scale is not null)
            {
                int m = active.Length;
                for (int a = 0; a < k; a++) TensorPrimitives.Multiply(inverse.AsSpan(a * m, m), scale[a], inverse.AsSpan(a * m, m));
                for (int r = 0; r < rows.Count; r++)
                    for (int a = 0; a < k; a++) x[r * k + a] = scale[a] == 0 ? 0 : x[r * k + a] / scale[a];
            }
            result.ActiveRows[z] = active.Select(a => rows[a]).ToArray();
            result._inverse[z] = (active.Length, inverse);
            var av = new double[active.Length * k];
            for (int r = 0; r < active.Length; r++) Array.Copy(x, active[r] * k, av, r * k, k);
            result._activeVectors[z] = av;
        }
        return result;
    }

    /// <summary>
    /// The active sets after adding atoms (as if their structure were labelled): per element, MaxVol over the current
    /// active vectors and the new ones. Greedy D-optimal batch selection calls this after each pick, so a near copy
    /// of a picked structure no longer extrapolates. <see cref="ActiveRows"/> of the result index the combined rows.
    /// The sets are rebuilt with the options they were built with (MaxVol iterations, column scaling).
    /// </summary>
    public DOptimality With(ReadOnlySpan<double> vectors, ReadOnlySpan<int> atomicNumbers)
    {
        int k = FeatureLength;
        var allZ = new List<int>();
        var all = new List<double>();
        foreach (var (z, av) in _activeVectors)
        {
            all.AddRange(av);
            for (int r = 0; r < av.Length / k; r++) allZ.Add(z);
        }
        all.AddRange(vectors.ToArray());
        allZ.AddRange(atomicNumbers.ToArray());
        return Build(all.ToArray(), allZ.ToArray(), k, _maxIterations, _scaleColumns);
    }

    double IActiveSets.MaxGrade(AtomVectors atoms)
    {
        double g = 0;
        for (int i = 0; i < atoms.Atoms; i++) g = Math.Max(g, Grade(Checked(atoms, i), atoms.Keys[i]));
        return double.IsNaN(g) ? double.PositiveInfinity : g;
    }

    IActiveSets IActiveSets.With(AtomVectors atoms)
    {
        for (int i = 0; i < atoms.Atoms; i++) Checked(atoms, i);
        return With(atoms.Values.AsSpan(atoms.Offsets[0], atoms.Offsets[^1] - atoms.Offsets[0]), atoms.Keys);
    }

    private ReadOnlySpan<double> Checked(AtomVectors atoms, int i)
    {
        var v = atoms.Of(i);
        if (v.Length != FeatureLength) throw new ArgumentException($"atom {i}: vector of length {v.Length}, the active sets take {FeatureLength}");
        return v;
    }

    /// <summary>
    /// Active sets given by their inverses (per element, <paramref name="featureLength"/> × rows, row-major: γ = max_j |(x A⁻¹)_j|),
    /// as stored in an active-set file; the active vectors themselves are not known, so <see cref="With"/> is not available.
    /// </summary>
    public static DOptimality FromInverses(IReadOnlyDictionary<int, double[]> inverses, int featureLength)
    {
        var result = new DOptimality(featureLength);
        foreach (var (z, inv) in inverses)
        {
            if (inv.Length % featureLength != 0) throw new ArgumentException($"the inverse of element {z} has {inv.Length} values, not a multiple of {featureLength}");
            result._inverse[z] = (inv.Length / featureLength, inv);
        }
        return result;
    }

    /// <summary>The elements with an active set.</summary>
    public IEnumerable<int> ActiveElements => _inverse.Keys;

    /// <summary>A⁻¹ of element z: <see cref="FeatureLength"/> × Rows, row-major (null when the element has no active set).</summary>
    public (int Rows, double[] Inverse)? InverseOf(int z) => _inverse.TryGetValue(z, out var v) ? v : null;

    /// <summary>The active vectors of element z (Rows × FeatureLength, row-major), when the sets were built here.</summary>
    public double[]? ActiveVectorsOf(int z) => _activeVectors.TryGetValue(z, out var v) ? v : null;

    /// <summary>Active sets from the descriptors of a training set.</summary>
    public static DOptimality Build(TrainingSet data)
    {
        int k = data.FeatureCount + 1;
        int n = data.Descriptors.Sum(d => d.Atoms);
        var v = new double[n * k];
        var z = new int[n];
        int row = 0;
        for (int s = 0; s < data.Count; s++)
        {
            var d = data.Descriptors[s];
            for (int i = 0; i < d.Atoms; i++, row++)
            {
                Vector(d.Of(i), v.AsSpan(row * k, k));
                z[row] = data.Structures[s].AtomicNumbers[i];
            }
        }
        return Build(v, z, k);
    }

    /// <summary>The per-atom vector of a descriptor row: the features and a constant 1.</summary>
    public static void Vector(ReadOnlySpan<double> features, Span<double> vector)
    {
        features.CopyTo(vector);
        vector[features.Length] = 1.0;
    }

    /// <summary>γ of one per-atom vector of element z (∞ for an element the active sets do not know).</summary>
    public double Grade(ReadOnlySpan<double> vector, int z)
    {
        if (!_inverse.TryGetValue(z, out var inv)) return double.PositiveInfinity;
        int k = FeatureLength, m = inv.Rows;
        var c = new double[m];
        for (int a = 0; a < k; a++)
            if (vector[a] != 0) TensorPrimitives.MultiplyAdd(inv.Inverse.AsSpan(a * m, m), vector[a], c, c);
        return m == 0 ? 0 : Math.Abs(TensorPrimitives.MaxMagnitude<double>(c));
    }

    /// <summary>γ of every atom of a descriptor set.</summary>
    public double[] Grades(DescriptorSet set, ReadOnlySpan<int> atomicNumbers)
    {
        var g = new double[set.Atoms];
        var v = new double[FeatureLength];
        for (int i = 0; i < set.Atoms; i++)
        {
            Vector(set.Of(i), v);
            g[i] = Grade(v, atomicNumbers[i]);
        }
        return g;
    }

    /// <summary>
    /// MaxVol (Goreinov et al. 2010): rows of X (n × k) whose k × k submatrix A has (locally) maximal volume.
    /// Start from greedy pivoted Gram-Schmidt, then swap in any row with |(X A⁻¹)_ij| &gt; 1 + tolerance.
    /// Returns the active rows and A⁻¹ (k × rows, row-major). With fewer rows than k, all rows and the
    /// pseudo-inverse.
    /// </summary>
    public static (int[] Active, double[] Inverse) MaxVol(double[] x, int n, int k, int maxIterations = 200, double tolerance = 1e-3)
        => MaxVol(x, n, k, maxIterations, tolerance, dropDependentColumns: false);

    /// <summary>
    /// As above; with <paramref name="dropDependentColumns"/>, when the rows span only r &lt; k dimensions (features that are
    /// linear combinations of others on these data), r columns of maximal volume are kept (greedy pivoting on the active
    /// rows), MaxVol runs on them, and the returned k × r inverse has zero rows for the dropped columns: the active rows
    /// then have γ = 1 exactly and γ measures extrapolation in the independent features.
    /// </summary>
    public static (int[] Active, double[] Inverse) MaxVol(double[] x, int n, int k, int maxIterations, double tolerance, bool dropDependentColumns)
    {
        if (n <= k)
        {
            var all = Enumerable.Range(0, n).ToArray();
            return (all, PseudoInverse(x, all, k));
        }
        // greedy start: pivoted Gram-Schmidt on rows
        var residual = (double[])x.Clone();
        var active = new List<int>(k);
        var chosen = new bool[n];
        var q = new double[k];
        // rank threshold: a residual below 1e-20 (absolute), or, when dependent columns are dropped, below 1e-7 of the
        // largest row norm (numerical rank; directions thinner than that only amplify round-off in γ)
        double threshold = 1e-20;
        if (dropDependentColumns)
            for (int r = 0; r < n; r++)
            {
                var row = x.AsSpan(r * k, k);
                threshold = Math.Max(threshold, 1e-14 * TensorPrimitives.Dot<double>(row, row));
            }
        for (int step = 0; step < k; step++)
        {
            int best = -1; double bestNorm = -1;
            for (int r = 0; r < n; r++)
            {
                if (chosen[r]) continue;
                var row = residual.AsSpan(r * k, k);
                double s = TensorPrimitives.Dot<double>(row, row);
                if (s > bestNorm) { bestNorm = s; best = r; }
            }
            if (bestNorm <= threshold) break;
            chosen[best] = true;
            active.Add(best);
            TensorPrimitives.Multiply(residual.AsSpan(best * k, k), 1 / Math.Sqrt(bestNorm), q);
            for (int r = 0; r < n; r++)
            {
                if (chosen[r]) continue;
                var row = residual.AsSpan(r * k, k);
                double p = TensorPrimitives.Dot<double>(row, q);
                TensorPrimitives.MultiplyAdd(q, -p, row, row);
            }
        }
        residual = null;
        if (active.Count < k && dropDependentColumns && active.Count > 0)
        {
            int r = active.Count;
            var cols = IndependentColumns(x, active, k);
            var xs = new double[(long)n * r];
            for (int row = 0; row < n; row++)
                for (int c = 0; c < r; c++) xs[row * r + c] = x[row * k + cols[c]];
            var (sub, subInv) = Refine(xs, n, r, [.. active], maxIterations, tolerance);
            var inv = new double[k * sub.Length];
            for (int c = 0; c < r; c++) Array.Copy(subInv, c * sub.Length, inv, cols[c] * sub.Length, sub.Length);
            return (sub, inv);
        }
        if (active.Count < k)
        {
            var rows = active.ToArray();
            return (rows, PseudoInverse(x, rows, k));
        }
        return Refine(x, n, k, [.. active], maxIterations, tolerance);
    }

    /// <summary>r columns of the r active rows with (greedily) maximal volume: pivoted Gram–Schmidt on the columns.</summary>
    private static int[] IndependentColumns(double[] x, List<int> rows, int k)
    {
        int r = rows.Count;
        var cols = new double[(long)k * r]; // column c of the active block, as a row
        for (int i = 0; i < r; i++)
            for (int c = 0; c < k; c++) cols[c * r + i] = x[rows[i] * k + c];
        var chosen = new bool[k];
        var picked = new List<int>(r);
        var q = new double[r];
        for (int step = 0; step < r; step++)
        {
            int best = -1; double bestNorm = -1;
            for (int c = 0; c < k; c++)
            {
                if (chosen[c]) continue;
                var v = cols.AsSpan(c * r, r);
                double s = TensorPrimitives.Dot<double>(v, v);
                if (s > bestNorm) { bestNorm = s; best = c; }
            }
            chosen[best] = true;
            picked.Add(best);
            TensorPrimitives.Multiply(cols.AsSpan(best * r, r), 1 / Math.Sqrt(Math.Max(bestNorm, 1e-300)), q);
            for (int c = 0; c < k; c++)
            {
                if (chosen[c]) continue;
                var v = cols.AsSpan(c * r, r);
                TensorPrimitives.MultiplyAdd(q, -TensorPrimitives.Dot<double>(v, q), v, v);
            }
        }
        picked.Sort();
        return [.. picked];
    }

    /// <summary>MaxVol swaps from a starting set of k rows whose k × k block is invertible.</summary>
    private static (int[] Active, double[] Inverse) Refine(double[] x, int n, int k, int[] set, int maxIterations, double tolerance)
    {
        var ainv = Invert(x, set, k);
        if (ainv is null) return (set, PseudoInverse(x, set, k));
        // B = X A⁻¹ (n × k), then swaps with rank-one updates of B and A⁻¹ (Goreinov et al.):
        // replacing active row j by row i multiplies |det A| by |B_ij|.
        var b = new double[(long)n * k];
        for (int r = 0; r < n; r++)
        {
            var br = b.AsSpan(r * k, k);
            for (int a = 0; a < k; a++)
            {
                double xa = x[r * k + a];
                if (xa != 0) TensorPrimitives.MultiplyAdd(ainv.AsSpan(a * k, k), xa, br, br);
            }
        }
        var u = new double[k];
        var colB = new double[n];
        var colInv = new double[k];
        for (int it = 0; it < maxIterations; it++)
        {
            int bi = TensorPrimitives.IndexOfMaxMagnitude<double>(b);
            double bij = b[bi];
            if (Math.Abs(bij) <= 1 + tolerance) break;
            int i = bi / k, j = bi % k;
            // u = (B_i − e_j) / B_ij; B −= B[:, j] ⊗ u; A⁻¹ −= A⁻¹[:, j] ⊗ u
            b.AsSpan(i * k, k).CopyTo(u);
            u[j] -= 1;
            TensorPrimitives.Divide(u, bij, u);
            for (int r = 0; r < n; r++) colB[r] = b[r * k + j];
            for (int a = 0; a < k; a++) colInv[a] = ainv[a * k + j];
            for (int r = 0; r < n; r++)
                if (colB[r] != 0) TensorPrimitives.MultiplyAdd(u, -colB[r], b.AsSpan(r * k, k), b.AsSpan(r * k, k));
            for (int a = 0; a < k; a++)
                if (colInv[a] != 0) TensorPrimitives.MultiplyAdd(u, -colInv[a], ainv.AsSpan(a * k, k), ainv.AsSpan(a * k, k));
            set[j] = i;
        }
        // the final inverse afresh (the updates accumulate round-off)
        return (set, Invert(x, set, k) ?? ainv);
    }

    private static double[]? Invert(double[] x, int[] rows, int k)
    {
        var a = new double[k * k];
        for (int r = 0; r < k; r++) Array.Copy(x, rows[r] * k, a, r * k, k);
        var inv = new double[k * k];
        for (int i = 0; i < k; i++) inv[i * k + i] = 1;
        // Gauss-Jordan with partial pivoting
        for (int c = 0; c < k; c++)
        {
            int p = c;
            for (int r = c + 1; r < k; r++) if (Math.Abs(a[r * k + c]) > Math.Abs(a[p * k + c])) p = r;
            if (Math.Abs(a[p * k + c]) < 1e-14) return null;
            if (p != c)
                for (int j = 0; j < k; j++)
                {
                    (a[p * k + j], a[c * k + j]) = (a[c * k + j], a[p * k + j]);
                    (inv[p * k + j], inv[c * k + j]) = (inv[c * k + j], inv[p * k + j]);
                }
            double d = 1 / a[c * k + c];
            TensorPrimitives.Multiply(a.AsSpan(c * k, k), d, a.AsSpan(c * k, k));
            TensorPrimitives.Multiply(inv.AsSpan(c * k, k), d, inv.AsSpan(c * k, k));
            for (int r = 0; r < k; r++)
            {
                if (r == c) continue;
                double f = a[r * k + c];
                if (f == 0) continue;
                TensorPrimitives.MultiplyAdd(a.AsSpan(c * k, k), -f, a.AsSpan(r * k, k), a.AsSpan(r * k, k));
                TensorPrimitives.MultiplyAdd(inv.AsSpan(c * k, k), -f, inv.AsSpan(r * k, k), inv.AsSpan(r * k, k));
            }
        }
        return inv; // A⁻¹, k × k: c = x A⁻¹ uses inv[a * k + j]
    }

    /// <summary>A⁺ (k × m) of the m × k row block, through (A Aᵀ + εI)⁻¹: c = x A⁺ has |c| ≤ 1 on the rows themselves.</summary>
    private static double[] PseudoInverse(double[] x, int[] rows, int k)
    {
        int m = rows.Length;
        var g = new double[m * m];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
            {
                double s = 0;
                for (int a = 0; a < k; a++) s += x[rows[i] * k + a] * x[rows[j] * k + a];
                g[i * m + j] = s + (i == j ? 1e-10 : 0);
            }
        var idx = Enumerable.Range(0, m).ToArray();
        var ginv = Invert(g, idx, m) ?? new double[m * m];
        var pinv = new double[k * m];
        for (int a = 0; a < k; a++)
            for (int j = 0; j < m; j++)
            {
                double s = 0;
                for (int i = 0; i < m; i++) s += x[rows[i] * k + a] * ginv[i * m + j];
                pinv[a * m + j] = s;
            }
        return pinv;
    }
}

/// <summary>D-optimality for a fitted potential: the prediction of the model, the grade of its atoms against the training set's active sets. Score: max γ.</summary>
public sealed class DOptimalityUncertainty(Potential potential, DOptimality activeSets) : IActiveSetEstimator
{
    public Potential Potential { get; } = potential;
    public DOptimality ActiveSets { get; } = activeSets;
    IActiveSets IActiveSetEstimator.Sets => ActiveSets;
    public string Kind => "d-optimality";
    public string ScoreName => "max extrapolation grade γ";
    public bool IncludeStress { get; set; }

    public UncertaintyResult Estimate(Structure structure)
    {
        var r = Potential.Calculate(structure, forces: true, stress: IncludeStress && structure.Pbc.AllPeriodic);
        var set = Potential.Descriptor.Compute(structure, derivatives: false);
        var g = ActiveSets.Grades(set, structure.AtomicNumbers);
        return new UncertaintyResult(r.Energy, r.Forces!, null, null, g, g.Length == 0 ? 0 : g.Max(), r.Stress);
    }

    /// <summary>The descriptor of every atom with the constant 1 appended, keyed by atomic number.</summary>
    public AtomVectors Vectors(Structure structure)
    {
        var ds = Potential.Descriptor.Compute(structure, derivatives: false);
        int k = ds.Features + 1;
        var v = new double[ds.Atoms * k];
        for (int a = 0; a < ds.Atoms; a++) DOptimality.Vector(ds.Of(a), v.AsSpan(a * k, k));
        return AtomVectors.Uniform(structure.AtomicNumbers, v, k);
    }
}
