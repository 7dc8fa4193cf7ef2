namespace Mlip.Descriptors.Ace;

/// <summary>
/// Rotation-invariant couplings of products of spherical harmonics (generalised Clebsch–Gordan
/// coefficients): for l = (l_1 … l_r), every coupling tree l_1 ⊗ l_2 → L_2, L_2 ⊗ l_3 → L_3 … → 0 gives a
/// coefficient vector over the m-combinations with Σ m = 0; the vectors are symmetrised over the
/// permutations of equal factors (given as groups) and the independent ones kept (Gram–Schmidt), so the
/// products Σ_m c(m) Π A_{l_t m_t} are a basis of the invariants without linear dependence.
/// </summary>
public static class AceCouplings
{
    private static readonly double[] LogFactorial = BuildLogFactorial(200);

    private static double[] BuildLogFactorial(int n)
    {
        var f = new double[n + 1];
        for (int i = 1; i <= n; i++) f[i] = f[i - 1] + Math.Log(i);
        return f;
    }

    /// <summary>⟨j1 m1 j2 m2 | J M⟩ for integer angular momenta (Racah's formula).</summary>
    public static double ClebschGordan(int j1, int m1, int j2, int m2, int j, int m)
    {
        if (m1 + m2 != m || j < Math.Abs(j1 - j2) || j > j1 + j2 || Math.Abs(m1) > j1 || Math.Abs(m2) > j2 || Math.Abs(m) > j) return 0;
        double pre = 0.5 * (Math.Log(2 * j + 1) + LogFactorial[j1 + j2 - j] + LogFactorial[j1 - j2 + j] + LogFactorial[-j1 + j2 + j] - LogFactorial[j1 + j2 + j + 1]
                            + LogFactorial[j1 + m1] + LogFactorial[j1 - m1] + LogFactorial[j2 + m2] + LogFactorial[j2 - m2] + LogFactorial[j + m] + LogFactorial[j - m]);
        double sum = 0;
        int kmin = Math.Max(0, Math.Max(j2 - j - m1, j1 - j + m2));
        int kmax = Math.Min(j1 + j2 - j, Math.Min(j1 - m1, j2 + m2));
        for (int k = kmin; k <= kmax; k++)
        {
            double t = LogFactorial[k] + LogFactorial[j1 + j2 - j - k] + LogFactorial[j1 - m1 - k] + LogFactorial[j2 + m2 - k] + LogFactorial[j - j2 + m1 + k] + LogFactorial[j - j1 - m2 + k];
            sum += (k % 2 == 0 ? 1 : -1) * Math.Exp(pre - t);
        }
        return sum;
    }

    /// <summary>All m-combinations with |m_t| ≤ l_t and Σ m = 0, lexicographic.</summary>
    public static List<int[]> MCombinations(int[] ls)
    {
        var list = new List<int[]>();
        var m = new int[ls.Length];
        void Rec(int t, int sum)
        {
            if (t == ls.Length - 1)
            {
                if (Math.Abs(sum) <= ls[t]) { m[t] = -sum; list.Add((int[])m.Clone()); }
                return;
            }
            for (int v = -ls[t]; v <= ls[t]; v++) { m[t] = v; Rec(t + 1, sum + v); }
        }
        Rec(0, 0);
        return list;
    }

    /// <summary>
    /// The independent invariant couplings of (l_1 … l_r): the m-combinations and an orthonormal set of
    /// coefficient vectors over them, symmetric under the permutations of factors with equal
    /// <paramref name="group"/> labels. Σ l must be even (otherwise the invariants are imaginary).
    /// </summary>
    public static (List<int[]> Ms, List<double[]> Coefficients) Independent(int[] ls, int[] group)
    {
        int r = ls.Length;
        var ms = MCombinations(ls);
        var result = new List<double[]>();
        if (ms.Count == 0 || ls.Sum() % 2 != 0) return (ms, result);
        var index = new Dictionary<string, int>();
        for (int i = 0; i < ms.Count; i++) index[string.Join(",", ms[i])] = i;

        // coupling trees: L_2 .. L_{r-1} (L_1 = l_1), last must equal l_r
        var trees = new List<int[]>();
        var L = new int[r];
        L[0] = ls[0];
        void Tree(int t)
        {
            if (t == r - 1) { if (L[t - 1] == ls[r - 1]) trees.Add((int[])L.Clone()); return; }
            for (int v = Math.Abs(L[t - 1] - ls[t]); v <= L[t - 1] + ls[t]; v++) { L[t] = v; Tree(t + 1); }
        }
        if (r == 1) { if (ls[0] == 0) trees.Add([0]); }
        else Tree(1);

        var perms = Permutations(group);
        foreach (var tree in trees)
        {
            var c = new double[ms.Count];
            for (int i = 0; i < ms.Count; i++)
            {
                var m = ms[i];
                double v = 1;
                int mcur = m[0];
                for (int t = 1; t < r - 1 && v != 0; t++)
                {
                    v *= ClebschGordan(tree[t - 1], mcur, ls[t], m[t], tree[t], mcur + m[t]);
                    mcur += m[t];
                }
                if (r > 1) v *= ClebschGordan(tree[r - 2], mcur, ls[r - 1], m[r - 1], 0, 0);
                c[i] = v;
            }
            // symmetrise over permutations of equal factors
            var sym = new double[ms.Count];
            var pm = new int[r];
            foreach (var p in perms)
                for (int i = 0; i < ms.Count; i++)
                {
                    if (c[i] == 0) continue;
                    for (int t = 0; t < r; t++) pm[p[t]] = ms[i][t];
                    sym[index[string.Join(",", pm)]] += c[i];
                }
            // Gram–Schmidt against the kept vectors
            double norm0 = Math.Sqrt(sym.Sum(x => x * x));
            if (norm0 < 1e-12) continue;
            for (int pass = 0; pass < 2; pass++)
                foreach (var u in result)
                {
                    double d = 0;
                    for (int i = 0; i < sym.Length; i++) d += u[i] * sym[i];
                    for (int i = 0; i < sym.Length; i++) sym[i] -= d * u[i];
                }
            double norm = Math.Sqrt(sym.Sum(x => x * x));
            if (norm < 1e-8 * norm0) continue;
            for (int i = 0; i < sym.Length; i++) sym[i] /= norm;
            result.Add(sym);
        }
        // fix a sign convention: first non-negligible coefficient positive
        foreach (var u in result)
        {
            int first = Array.FindIndex(u, x => Math.Abs(x) > 1e-12);
            if (first >= 0 && u[first] < 0) for (int i = 0; i < u.Length; i++) u[i] = -u[i];
        }
        return (ms, result);
    }

    /// <summary>Permutations of positions that map every factor to one with the same group label (factors of equal label are interchangeable).</summary>
    private static List<int[]> Permutations(int[] group)
    {
        int r = group.Length;
        var all = new List<int[]>();
        var p = new int[r];
        var used = new bool[r];
        void Rec(int t)
        {
            if (t == r) { all.Add((int[])p.Clone()); return; }
            for (int v = 0; v < r; v++)
            {
                if (used[v] || group[v] != group[t]) continue;
                used[v] = true; p[t] = v; Rec(t + 1); used[v] = false;
            }
        }
        Rec(0);
        return all;
    }
}
