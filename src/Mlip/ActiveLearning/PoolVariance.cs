using Mlip.Models.Uncertainty;
using Mlip.Numerics;

namespace Mlip.ActiveLearning;

/// <summary>
/// Greedy I-optimal batches (<c>select.i_optimal: true</c>): each pick is the candidate that most reduces the summed
/// predictive variance of the per-atom linear model over the atoms of the whole candidate pool (transductive experimental
/// design). Per key (element, or ACE species) with training rows X, candidate pool rows P and a candidate's rows Z:
/// A = XᵀX + εI, S = PᵀP, and adding Z lowers tr(P A⁻¹ Pᵀ) by tr((I + Z A⁻¹ Zᵀ)⁻¹ Z A⁻¹ S A⁻¹ Zᵀ); after a pick A grows by
/// ZᵀZ. D-optimality (max γ) prefers the most extreme candidate of each kind; this criterion weighs the same unknown
/// directions by how many pool atoms lie along them, so a pick must be both new to the model and typical of what the
/// exploration produces. ε = 10⁻⁶ × the mean diagonal of XᵀX (for a key without training atoms, of the pool's PᵀP per atom, so
/// that its candidates come first). Ties go to the lower index, so the result depends only on the inputs.
/// </summary>
public static class PoolVariance
{
    private const double RelativeJitter = 1e-6;

    /// <summary>Picks up to <paramref name="batch"/> candidates (indices), within the strata's slots when <paramref name="quota"/> is given.</summary>
    public static int[] Select(IReadOnlyList<AtomVectors> training, IReadOnlyList<AtomVectors> candidates, int batch, BatchSelector.Quota? quota = null)
    {
        var keys = new SortedDictionary<int, Block>();
        Block BlockOf(int key, int d)
        {
            if (!keys.TryGetValue(key, out var b)) keys[key] = b = new Block(d);
            else if (b.D != d) throw new ArgumentException($"key {key}: vectors of length {d} and {b.D}");
            return b;
        }
        foreach (var t in training)
            for (int i = 0; i < t.Atoms; i++) BlockOf(t.Keys[i], t.Of(i).Length).AddTraining(t.Of(i));
        foreach (var c in candidates)
            for (int i = 0; i < c.Atoms; i++) BlockOf(c.Keys[i], c.Of(i).Length).AddPool(c.Of(i));
        foreach (var b in keys.Values) b.Prepare();

        var picked = new List<int>();
        var taken = new bool[candidates.Count];
        var left = quota?.Slots.ToArray();
        for (int step = 0; step < batch && picked.Count < candidates.Count; step++)
        {
            int best = -1; double bestGain = double.NegativeInfinity;
            for (int c = 0; c < candidates.Count; c++)
            {
                if (taken[c] || left is not null && left[quota!.Stratum[c]] == 0) continue;
                double g = Gain(keys, candidates[c]);
                if (g > bestGain || best < 0) { bestGain = g; best = c; }
            }
            if (best < 0) break;
            picked.Add(best);
            taken[best] = true;
            if (left is not null) left[quota!.Stratum[best]]--;
            if (picked.Count < batch)
            {
                var touched = new HashSet<int>();
                var z = candidates[best];
                for (int i = 0; i < z.Atoms; i++) { keys[z.Keys[i]].AddTraining(z.Of(i)); touched.Add(z.Keys[i]); }
                foreach (int k in touched) keys[k].Update();
            }
        }
        return [.. picked];
    }

    /// <summary>The reduction of the pool's summed variance if <paramref name="z"/> were labelled (sum over its keys).</summary>
    private static double Gain(SortedDictionary<int, Block> keys, AtomVectors z)
    {
        double gain = 0;
        foreach (var group in Enumerable.Range(0, z.Atoms).GroupBy(i => z.Keys[i]))
        {
            var b = keys[group.Key];
            var rows = group.ToArray();
            int n = rows.Length, d = b.D;
            var w = new double[n * d];   // Z M
            var v = new double[n * d];   // Z Q
            for (int r = 0; r < n; r++)
            {
                var x = z.Of(rows[r]);
                for (int a = 0; a < d; a++)
                {
                    double xa = x[a];
                    if (xa == 0) continue;
                    var m = b.M.AsSpan(a * d, d);
                    var q = b.Q.AsSpan(a * d, d);
                    var wr = w.AsSpan(r * d, d);
                    var vr = v.AsSpan(r * d, d);
                    for (int e = 0; e < d; e++) { wr[e] += xa * m[e]; vr[e] += xa * q[e]; }
                }
            }
            var g = new double[n * n];
            var h = new double[n * n];
            for (int r = 0; r < n; r++)
                for (int s = 0; s <= r; s++)
                {
                    var xs = z.Of(rows[s]);
                    double gs = 0, hs = 0;
                    for (int e = 0; e < d; e++) { gs += w[r * d + e] * xs[e]; hs += v[r * d + e] * xs[e]; }
                    g[r * n + s] = g[s * n + r] = gs + (r == s ? 1 : 0);
                    h[r * n + s] = h[s * n + r] = hs;
                }
            var sol = DenseCholesky.Solve(g, n, h, n, new CholeskyJitter(1e-12, 10, 6, "learn: select.i_optimal: a candidate's Gram matrix is not positive definite"));
            for (int r = 0; r < n; r++) gain += sol[r * n + r];
        }
        return gain;
    }

    /// <summary>One key's matrices: A = XᵀX (+ εI), S = PᵀP, M = A⁻¹, Q = M S M (row-major, d × d).</summary>
    private sealed class Block(int d)
    {
        public int D { get; } = d;
        private readonly double[] _a = new double[d * d];
        private readonly double[] _s = new double[d * d];
        private double _epsilon = 1;
        private int _poolAtoms;
        public double[] M { get; private set; } = [];
        public double[] Q { get; private set; } = [];

        public void AddTraining(ReadOnlySpan<double> x) => AddOuter(_a, x);
        public void AddPool(ReadOnlySpan<double> x) { AddOuter(_s, x); _poolAtoms++; }

        private void AddOuter(double[] target, ReadOnlySpan<double> x)
        {
            for (int a = 0; a < D; a++)
            {
                double xa = x[a];
                if (xa == 0) continue;
                var row = target.AsSpan(a * D, D);
                for (int e = 0; e < D; e++) row[e] += xa * x[e];
            }
        }

        /// <summary>Fixes ε from the training rows (once), then computes M and Q.</summary>
        public void Prepare()
        {
            double trace = 0;
            for (int a = 0; a < D; a++) trace += _a[a * D + a];
            double pool = 0;
            for (int a = 0; a < D; a++) pool += _s[a * D + a];
            // no training atoms of this key: everything about it is unknown (as γ = ∞ without an active set)
            _epsilon = trace > 0 ? RelativeJitter * trace / D : pool > 0 ? RelativeJitter * pool / (D * _poolAtoms) : 1;
            Update();
        }

        public void Update()
        {
            var a = (double[])_a.Clone();
            for (int i = 0; i < D; i++) a[i * D + i] += _epsilon;
            var identity = new double[D * D];
            for (int i = 0; i < D; i++) identity[i * D + i] = 1;
            var m = DenseCholesky.Solve(a, D, identity, D, new CholeskyJitter(1e-10, 10, 8, "learn: select.i_optimal: the training vectors' Gram matrix is not positive definite"));
            var sm = Multiply(_s, m, D);
            M = m;
            Q = Multiply(m, sm, D);
        }

        private static double[] Multiply(double[] x, double[] y, int d)
        {
            var r = new double[d * d];
            for (int i = 0; i < d; i++)
                for (int k = 0; k < d; k++)
                {
                    double xik = x[i * d + k];
                    if (xik == 0) continue;
                    var yr = y.AsSpan(k * d, d);
                    var rr = r.AsSpan(i * d, d);
                    for (int j = 0; j < d; j++) rr[j] += xik * yr[j];
                }
            return r;
        }
    }
}
