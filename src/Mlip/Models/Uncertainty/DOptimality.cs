using Mlip.Descriptors;
using Mlip.Structures;
using Mlip.Training;

namespace Mlip.Models.Uncertainty;

/// <summary>
/// The D-optimality extrapolation grade of linear models (Podryabinkin &amp; Shapeev, MTP; pacemaker's
/// "active set" for ACE): per element, the active set A is the K rows of the training atoms' feature matrix
/// (per-atom vectors x_i, here the descriptor with a constant 1 appended) of maximal |det|, found by
/// the MaxVol algorithm. The grade of a new atom is γ = max_j |c_j| with c = x A⁻¹; γ ≤ 1 means the atom
/// lies inside the polytope the active set spans (interpolation), γ &gt; 1 extrapolation. Works on any
/// per-atom feature vectors, so an ACE model can reuse it with its basis functions.
/// </summary>
public sealed class DOptimality
{
    private readonly Dictionary<int, (int Rows, double[] Inverse)> _inverse = new();
    private readonly Dictionary<int, double[]> _activeVectors = new();

    private DOptimality(int featureLength) { FeatureLength = featureLength; }

    /// <summary>Length of the per-atom vectors (descriptor length + 1 for the constant).</summary>
    public int FeatureLength { get; }

    /// <summary>Per element: indices (into the rows given) of the active set.</summary>
    public Dictionary<int, int[]> ActiveRows { get; } = new();

    /// <summary>
    /// Builds the active sets from per-atom vectors (atom-major, <paramref name="featureLength"/> each) and their elements.
    /// Elements with fewer atoms than features get a regularised set (pseudo-inverse through a small ridge).
    /// </summary>
    public static DOptimality Build(ReadOnlySpan<double> vectors, ReadOnlySpan<int> atomicNumbers, int featureLength, int maxIterations = 200)
    {
        var result = new DOptimality(featureLength);
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
            var (active, inverse) = MaxVol(x, rows.Count, k, maxIterations);
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
        return Build(all.ToArray(), allZ.ToArray(), k);
    }

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
        int k = FeatureLength;
        double gamma = 0;
        for (int j = 0; j < inv.Rows; j++)
        {
            double c = 0;
            for (int a = 0; a < k; a++) c += vector[a] * inv.Inverse[a * inv.Rows + j];
            gamma = Math.Max(gamma, Math.Abs(c));
        }
        return gamma;
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
    {
        if (n <= k)
        {
            var all = Enumerable.Range(0, n).ToArray();
            return (all, PseudoInverse(x, all, k));
        }
        // greedy start: pivoted Gram-Schmidt on rows
        var residual = (double[])x.Clone();
        var norms = new double[n];
        var active = new List<int>(k);
        var chosen = new bool[n];
        for (int step = 0; step < k; step++)
        {
            int best = -1; double bestNorm = -1;
            for (int r = 0; r < n; r++)
            {
                if (chosen[r]) continue;
                double s = 0;
                for (int a = 0; a < k; a++) s += residual[r * k + a] * residual[r * k + a];
                norms[r] = s;
                if (s > bestNorm) { bestNorm = s; best = r; }
            }
            if (bestNorm <= 1e-20) break;
            chosen[best] = true;
            active.Add(best);
            double inv = 1 / Math.Sqrt(bestNorm);
            var q = new double[k];
            for (int a = 0; a < k; a++) q[a] = residual[best * k + a] * inv;
            for (int r = 0; r < n; r++)
            {
                if (chosen[r]) continue;
                double p = 0;
                for (int a = 0; a < k; a++) p += residual[r * k + a] * q[a];
                for (int a = 0; a < k; a++) residual[r * k + a] -= p * q[a];
            }
        }
        if (active.Count < k)
        {
            var rows = active.ToArray();
            return (rows, PseudoInverse(x, rows, k));
        }
        var set = active.ToArray();
        var ainv = Invert(x, set, k);
        for (int it = 0; it < maxIterations && ainv is not null; it++)
        {
            // B = X A⁻¹, largest |B_ij|
            double best = 0; int bi = -1, bj = -1;
            for (int r = 0; r < n; r++)
                for (int j = 0; j < k; j++)
                {
                    double c = 0;
                    for (int a = 0; a < k; a++) c += x[r * k + a] * ainv[a * k + j];
                    if (Math.Abs(c) > best) { best = Math.Abs(c); bi = r; bj = j; }
                }
            if (best <= 1 + tolerance) break;
            set[bj] = bi; // |det| grows by the factor |B_ij|
            ainv = Invert(x, set, k);
        }
        return (set, ainv ?? PseudoInverse(x, set, k));
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
            for (int j = 0; j < k; j++) { a[c * k + j] *= d; inv[c * k + j] *= d; }
            for (int r = 0; r < k; r++)
            {
                if (r == c) continue;
                double f = a[r * k + c];
                if (f == 0) continue;
                for (int j = 0; j < k; j++) { a[r * k + j] -= f * a[c * k + j]; inv[r * k + j] -= f * inv[c * k + j]; }
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
public sealed class DOptimalityUncertainty(Potential potential, DOptimality activeSets) : IUncertaintyEstimator
{
    public Potential Potential { get; } = potential;
    public DOptimality ActiveSets { get; } = activeSets;
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
}
