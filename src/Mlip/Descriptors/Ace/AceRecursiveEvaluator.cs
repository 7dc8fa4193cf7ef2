namespace Mlip.Descriptors.Ace;

/// <summary>How <see cref="AceEvaluator"/> forms the products of atomic bases (rank ≥ 2).</summary>
public enum AceEvaluatorKind
{
    /// <summary>Each m-combination multiplies its factors afresh (PACE's product evaluator).</summary>
    Product,
    /// <summary>Products built from partial products shared through a graph (<see cref="AceRecursiveEvaluator"/>).</summary>
    Recursive,
}

/// <summary>
/// The rank ≥ 2 part of a PACE C-tilde basis evaluated through a graph of partial products (the idea of PACE's
/// ACERecursiveEvaluator, Lysogorskiy et al. 2021 / ACE.jl): every product Π_t A_t of an m-combination is one
/// node = (left node) × (right node), where a node is a leaf (one A_{μnlm}) or a product of a sub-multiset of
/// factors that other combinations share, so each node costs one complex multiplication.
/// <list type="bullet">
/// <item>Set-up: per central species the m-combinations become sorted multisets of leaf indices; equal multisets
/// (functions of equal (μ,n,l) with different couplings) are merged by adding coefficients, and a combination
/// whose opposite −m is also present is merged into it with the factor (−1)^{Σm} (Π A_{l,−m} = (−1)^{Σm}
/// conj Π A_{lm} and the densities are real parts with real coefficients). The combinations are inserted by
/// rank: a combination whose factors split into two parts both already nodes becomes one node; otherwise the
/// split with the longest existing part is taken and the missing part inserted first (recursively, as an
/// auxiliary node without coefficients). Nodes that are parts of others ("interior") keep their complex value;
/// the rest ("terminal") need only the real part of their product.</item>
/// <item>Forward pass: leaf values gathered from the atomic base, interior nodes in order, terminal real parts;
/// ρ_p += c̃_p Re(node).</item>
/// <item>Backward pass: with θ = Σ_p dE/dρ_p c̃_p, the adjoint w = ∂E/∂node (dE = Re(w d node)) runs from the
/// last node down: w_left += w A_right, w_right += w A_left; the leaf weights are the G = ∂E/∂A that
/// <see cref="AceEvaluator"/>'s neighbour pass contracts (a negative-m leaf adds (−1)^m conj w to G_{l|m|}).</item>
/// </list>
/// One instance is shared by all threads; the node values and weights live in the caller's
/// <see cref="AceEvaluator.Workspace"/>.
/// </summary>
public sealed class AceRecursiveEvaluator
{
    private readonly Graph[] _graphs;

    /// <summary>The graph of one central species in flat arrays.</summary>
    internal sealed class Graph
    {
        public int P;
        public int Leaves, Interior, Terminal;
        /// <summary>Per leaf: index into the full-m atomic base, into the m ≥ 0 weights, and the fold sign (0 for m ≥ 0).</summary>
        public int[] LeafFull = [], LeafHalf = [];
        public double[] LeafSign = [];
        /// <summary>Children of product node k (node index Leaves + k): Left[k], Right[k]; interior nodes first.</summary>
        public int[] Left = [], Right = [];
        /// <summary>Interior nodes that carry coefficients: node index and P coefficients each.</summary>
        public int[] InteriorCoefNode = [];
        public double[] InteriorCoef = [];
        /// <summary>
        /// Terminal nodes grouped by one shared child (CSR): group q multiplies node GroupNode[q] with the nodes
        /// Other[GroupStart[q] .. GroupStart[q+1]), P coefficients each in TerminalCoef, so both passes keep the
        /// shared factor and its weight in registers.
        /// </summary>
        public int[] GroupNode = [], GroupStart = [], Other = [];
        public double[] TerminalCoef = [];
        public int Stored => Leaves + Interior;
        /// <summary>Multiplications of the product evaluator for the same combinations (Σ rank − 1), for reporting.</summary>
        public int ProductMultiplications;
    }

    public AceRecursiveEvaluator(AceBasisSet basis)
    {
        int ne = basis.ElementCount, nr = basis.NRadMax, l1 = basis.LMax + 1;
        _graphs = new Graph[ne];
        for (int mu = 0; mu < ne; mu++) _graphs[mu] = Build(basis.Functions[mu], basis.Embeddings[mu].NDensity, nr, l1);
        MaxStored = _graphs.Max(g => g.Stored);
    }

    /// <summary>Largest number of stored node values (leaves + interior) over the species: the workspace size.</summary>
    public int MaxStored { get; }

    /// <summary>Leaves, interior and terminal product nodes of a species' graph, and the product evaluator's multiplication count.</summary>
    public (int Leaves, int Interior, int Terminal, int ProductMultiplications) Size(int mu)
    {
        var g = _graphs[mu];
        return (g.Leaves, g.Interior, g.Terminal, g.ProductMultiplications);
    }

    // ---------------------------------------------------------------- set-up

    private sealed class Combination(int[] factors, double[] c)
    {
        public int[] Factors = factors;   // sorted full-layout A indices
        public double[] C = c;
    }

    private static string Key(ReadOnlySpan<int> sorted)
    {
        var sb = new System.Text.StringBuilder(sorted.Length * 4);
        foreach (int x in sorted) sb.Append(x).Append(',');
        return sb.ToString();
    }

    private static Graph Build(AceFunction[] functions, int p, int nr, int l1)
    {
        int lmFull = l1 * l1;
        var g = new Graph { P = p };
        // 1. m-combinations as sorted multisets of full-layout A indices, equal ones merged
        var byKey = new Dictionary<string, Combination>();
        var order = new List<Combination>();
        foreach (var fn in functions)
        {
            if (fn.Rank < 2) continue;
            for (int s = 0; s < fn.MsCount; s++)
            {
                var f = new int[fn.Rank];
                for (int t = 0; t < fn.Rank; t++)
                    f[t] = (fn.Mus[t] * nr + fn.Ns[t] - 1) * lmFull + fn.Ls[t] * fn.Ls[t] + fn.Ls[t] + fn.Ms[s * fn.Rank + t];
                Array.Sort(f);
                g.ProductMultiplications += fn.Rank - 1;
                var key = Key(f);
                if (!byKey.TryGetValue(key, out var comb))
                {
                    comb = new Combination(f, new double[p]);
                    byKey[key] = comb;
                    order.Add(comb);
                }
                for (int q = 0; q < p; q++) comb.C[q] += fn.Ctildes[s * p + q];
            }
        }
        // 2. half basis: fold a combination into its opposite (all m negated) when both are present
        var opposite = new int[8];
        foreach (var comb in order)
        {
            int rank = comb.Factors.Length;
            if (opposite.Length < rank) opposite = new int[rank];
            int msum = 0;
            for (int t = 0; t < rank; t++)
            {
                int f = comb.Factors[t], a = f % lmFull, l = (int)Math.Sqrt(a), m = a - l * l - l;
                msum += m;
                opposite[t] = f - 2 * m;
            }
            Array.Sort(opposite, 0, rank);
            var ok = Key(opposite.AsSpan(0, rank));
            if (ok == Key(comb.Factors) || !byKey.TryGetValue(ok, out var other)) continue;
            // keep the one whose key sorts first; the other's coefficients move over
            if (string.CompareOrdinal(ok, Key(comb.Factors)) > 0) continue;
            double sign = (msum & 1) == 0 ? 1 : -1;
            for (int q = 0; q < p; q++) { other.C[q] += sign * comb.C[q]; comb.C[q] = 0; }
        }
        var live = order.Where(c => c.C.Any(x => x != 0)).OrderBy(c => c.Factors.Length).ToList();

        // 3. leaves
        var leafOf = new Dictionary<int, int>();
        var leafFull = new List<int>();
        foreach (var c in live)
            foreach (int f in c.Factors)
                if (!leafOf.ContainsKey(f)) { leafOf[f] = leafFull.Count; leafFull.Add(f); }
        int nl = leafFull.Count;

        // 4. the graph: node keys are sorted leaf-index multisets
        var node = new Dictionary<string, int>();
        for (int i = 0; i < nl; i++) node[Key([i])] = i;
        var left = new List<int>(); var right = new List<int>(); var coef = new List<double[]?>();
        foreach (var c in live)
        {
            var leaves = c.Factors.Select(f => leafOf[f]).ToArray();
            Array.Sort(leaves);
            int id = Insert(leaves, node, left, right, coef, nl);
            // a combination equal to an auxiliary node already made: it gets the coefficients
            coef[id - nl] = c.C;
        }

        // 5. interior (a part of some node) first, then terminal; children keep their relative order
        int np = left.Count;
        var isInterior = new bool[np];
        for (int k = 0; k < np; k++)
        {
            if (left[k] >= nl) isInterior[left[k] - nl] = true;
            if (right[k] >= nl) isInterior[right[k] - nl] = true;
        }
        var newIndex = new int[np];
        int next = nl;
        for (int k = 0; k < np; k++) if (isInterior[k]) newIndex[k] = next++;
        g.Interior = next - nl;
        for (int k = 0; k < np; k++) if (!isInterior[k]) newIndex[k] = next++;
        g.Terminal = np - g.Interior;
        int Map(int x) => x < nl ? x : newIndex[x - nl];
        g.Left = new int[np]; g.Right = new int[np];
        var interiorCoefNode = new List<int>(); var interiorCoef = new List<double>();
        var terminals = new List<(int A, int B, double[] C)>();
        for (int k = 0; k < np; k++)
        {
            int at = newIndex[k] - nl;
            g.Left[at] = Map(left[k]); g.Right[at] = Map(right[k]);
            var ck = coef[k];
            if (isInterior[k])
            {
                if (ck is null || ck.All(x => x == 0)) continue;
                interiorCoefNode.Add(newIndex[k]);
                interiorCoef.AddRange(ck);
            }
            else
            {
                if (ck is null) throw new InvalidOperationException("an auxiliary product node is not used");
                terminals.Add((g.Left[at], g.Right[at], ck));
            }
        }
        // group the terminal nodes by the child that more of them share
        var uses = new Dictionary<int, int>();
        foreach (var (a, b, _) in terminals) { uses[a] = uses.GetValueOrDefault(a) + 1; uses[b] = uses.GetValueOrDefault(b) + 1; }
        var keyed = terminals.Select(t =>
        {
            int ua = uses[t.A], ub = uses[t.B];
            bool aFirst = ua > ub || (ua == ub && t.A >= t.B);
            return (Key: aFirst ? t.A : t.B, Other: aFirst ? t.B : t.A, t.C);
        }).OrderBy(t => t.Key).ThenBy(t => t.Other).ToList();
        var groupNode = new List<int>(); var groupStart = new List<int>();
        g.Other = new int[keyed.Count];
        g.TerminalCoef = new double[keyed.Count * p];
        for (int k = 0; k < keyed.Count; k++)
        {
            if (k == 0 || keyed[k].Key != keyed[k - 1].Key) { groupNode.Add(keyed[k].Key); groupStart.Add(k); }
            g.Other[k] = keyed[k].Other;
            keyed[k].C.CopyTo(g.TerminalCoef, k * p);
        }
        groupStart.Add(keyed.Count);
        g.GroupNode = [.. groupNode]; g.GroupStart = [.. groupStart];
        // a child always precedes its parent: interior nodes were created before their parents, and the
        // renumbering keeps creation order within the interior block
        for (int k = 0; k < np; k++)
            if (g.Left[k] >= nl + k || g.Right[k] >= nl + k) throw new InvalidOperationException("product graph out of order");
        g.InteriorCoefNode = [.. interiorCoefNode];
        g.InteriorCoef = [.. interiorCoef];
        g.Leaves = nl;
        g.LeafFull = [.. leafFull];
        g.LeafHalf = new int[nl]; g.LeafSign = new double[nl];
        int lmHalf = AceSphericalHarmonics.Count(l1 - 1);
        for (int i = 0; i < nl; i++)
        {
            int f = leafFull[i], block = f / lmFull, a = f % lmFull, l = (int)Math.Sqrt(a), m = a - l * l - l;
            g.LeafHalf[i] = block * lmHalf + AceSphericalHarmonics.Index(l, Math.Abs(m));
            g.LeafSign[i] = m >= 0 ? 0 : (m % 2 == 0 ? 1 : -1);
        }
        return g;
    }

    /// <summary>
    /// The node of the sorted leaf multiset <paramref name="a"/>, made if missing: a split into two existing nodes
    /// if there is one, else the split with the longest existing part, the other part inserted first.
    /// </summary>
    private static int Insert(int[] a, Dictionary<string, int> node, List<int> left, List<int> right, List<double[]?> coef, int nl)
    {
        string key = Key(a);
        if (node.TryGetValue(key, out int id)) return id;
        int n = a.Length;
        int bestLen = 0; int[]? bestHave = null, bestMissing = null;
        // subsets by bit mask; the mask and its complement give the same split, so the top bit stays clear
        for (int mask = 1; mask < (1 << (n - 1)); mask++)
        {
            int n1 = System.Numerics.BitOperations.PopCount((uint)mask);
            var p1 = new int[n1]; var p2 = new int[n - n1];
            int i1 = 0, i2 = 0;
            for (int t = 0; t < n; t++)
                if ((mask >> t & 1) != 0) p1[i1++] = a[t]; else p2[i2++] = a[t];
            bool h1 = node.TryGetValue(Key(p1), out int id1), h2 = node.TryGetValue(Key(p2), out int id2);
            if (h1 && h2) return Add(key, id1, id2, node, left, right, coef, nl);
            if (h1 && n1 > bestLen) { bestLen = n1; bestHave = p1; bestMissing = p2; }
            if (h2 && n - n1 > bestLen) { bestLen = n - n1; bestHave = p2; bestMissing = p1; }
        }
        // every single factor is a leaf, so some split has an existing part
        int have = node[Key(bestHave!)];
        int made = Insert(bestMissing!, node, left, right, coef, nl);
        return Add(key, have, made, node, left, right, coef, nl);
    }

    private static int Add(string key, int i1, int i2, Dictionary<string, int> node, List<int> left, List<int> right, List<double[]?> coef, int nl)
    {
        int id = nl + left.Count;
        left.Add(i1); right.Add(i2); coef.Add(null);
        node[key] = id;
        return id;
    }

    // ---------------------------------------------------------------- passes

    /// <summary>Forward pass: adds the rank ≥ 2 contributions to rho_p for the atom whose base is in the workspace.</summary>
    internal void Densities(int mui, AceEvaluator.Workspace w, Span<double> rho)
    {
        var g = _graphs[mui];
        int p = g.P;
        Stored(g, w);
        var vre = w.Vre; var vim = w.Vim;
        var icn = g.InteriorCoefNode; var ic = g.InteriorCoef;
        for (int q = 0; q < icn.Length; q++) { double v = vre[icn[q]]; for (int d = 0; d < p; d++) rho[d] += ic[q * p + d] * v; }
        // Σ_k c_k Re(L R_k) = Re(L Σ_k c_k R_k) per group
        var tc = g.TerminalCoef; var other = g.Other; var gn = g.GroupNode; var gs = g.GroupStart;
        if (p == 2)
        {
            double r0 = 0, r1 = 0;
            for (int q = 0; q < gn.Length; q++)
            {
                double s0r = 0, s0i = 0, s1r = 0, s1i = 0;
                for (int k = gs[q]; k < gs[q + 1]; k++)
                {
                    int o = other[k];
                    double xr = vre[o], xi = vim[o], c0 = tc[2 * k], c1 = tc[2 * k + 1];
                    s0r += c0 * xr; s0i += c0 * xi; s1r += c1 * xr; s1i += c1 * xi;
                }
                double lr = vre[gn[q]], li = vim[gn[q]];
                r0 += lr * s0r - li * s0i; r1 += lr * s1r - li * s1i;
            }
            rho[0] += r0; rho[1] += r1;
        }
        else
        {
            Span<double> sr = stackalloc double[p], si = stackalloc double[p];
            for (int q = 0; q < gn.Length; q++)
            {
                sr.Clear(); si.Clear();
                for (int k = gs[q]; k < gs[q + 1]; k++)
                {
                    int o = other[k];
                    double xr = vre[o], xi = vim[o];
                    for (int d = 0; d < p; d++) { sr[d] += tc[k * p + d] * xr; si[d] += tc[k * p + d] * xi; }
                }
                double lr = vre[gn[q]], li = vim[gn[q]];
                for (int d = 0; d < p; d++) rho[d] += lr * sr[d] - li * si[d];
            }
        }
    }

    /// <summary>Leaf values gathered from the atomic base and the interior products, in order.</summary>
    private static void Stored(Graph g, AceEvaluator.Workspace w)
    {
        int nl = g.Leaves, ni = g.Interior;
        var vre = w.Vre; var vim = w.Vim; var are = w.AfRe; var aim = w.AfIm;
        var leafFull = g.LeafFull;
        for (int i = 0; i < nl; i++) { int f = leafFull[i]; vre[i] = are[f]; vim[i] = aim[f]; }
        var left = g.Left; var right = g.Right;
        for (int k = 0; k < ni; k++)
        {
            int i1 = left[k], i2 = right[k];
            double ar = vre[i1], ai = vim[i1], br = vre[i2], bi = vim[i2];
            vre[nl + k] = ar * br - ai * bi;
            vim[nl + k] = ar * bi + ai * br;
        }
        w.NodesCurrent = true;
    }

    /// <summary>
    /// Backward pass: adds ∂E/∂A (m ≥ 0 layout) of the rank ≥ 2 functions to w.Gre/w.Gim, given dE/drho_p, for the
    /// atom whose forward pass (<see cref="Densities"/>) is in the workspace.
    /// </summary>
    internal void Weights(int mui, ReadOnlySpan<double> dEdRho, AceEvaluator.Workspace w)
    {
        var g = _graphs[mui];
        int p = g.P, nl = g.Leaves, ni = g.Interior, stored = nl + ni;
        if (!w.NodesCurrent) Stored(g, w);
        var vre = w.Vre; var vim = w.Vim; var wre = w.Wre; var wim = w.Wim;
        Array.Clear(wre, 0, stored); Array.Clear(wim, 0, stored);
        var left = g.Left; var right = g.Right;
        // terminal nodes, group by group: w_L += Σ_k θ_k R_k, w_{R_k} += θ_k L
        var tc = g.TerminalCoef; var other = g.Other; var gn = g.GroupNode; var gs = g.GroupStart;
        double e0 = dEdRho[0], e1 = p > 1 ? dEdRho[1] : 0;
        for (int q = 0; q < gn.Length; q++)
        {
            int node = gn[q];
            double lr = vre[node], li = vim[node], ar = 0, ai = 0;
            for (int k = gs[q]; k < gs[q + 1]; k++)
            {
                double theta;
                if (p == 1) theta = e0 * tc[k];
                else if (p == 2) theta = e0 * tc[2 * k] + e1 * tc[2 * k + 1];
                else { theta = 0; for (int d = 0; d < p; d++) theta += dEdRho[d] * tc[k * p + d]; }
                int o = other[k];
                ar += theta * vre[o]; ai += theta * vim[o];
                wre[o] += theta * lr; wim[o] += theta * li;
            }
            wre[node] += ar; wim[node] += ai;
        }
        var icn = g.InteriorCoefNode; var ic = g.InteriorCoef;
        for (int q = 0; q < icn.Length; q++)
        {
            double theta = 0;
            for (int d = 0; d < p; d++) theta += dEdRho[d] * ic[q * p + d];
            wre[icn[q]] += theta;
        }
        // interior nodes, parents before children
        for (int k = ni - 1; k >= 0; k--)
        {
            double cr = wre[nl + k], ci = wim[nl + k];
            if (cr == 0 && ci == 0) continue;
            int i1 = left[k], i2 = right[k];
            double ar = vre[i1], ai = vim[i1], br = vre[i2], bi = vim[i2];
            wre[i1] += cr * br - ci * bi; wim[i1] += cr * bi + ci * br;
            wre[i2] += cr * ar - ci * ai; wim[i2] += cr * ai + ci * ar;
        }
        // leaves to G (m >= 0 layout)
        var gre = w.Gre; var gim = w.Gim;
        var half = g.LeafHalf; var sign = g.LeafSign;
        for (int i = 0; i < nl; i++)
        {
            int h = half[i]; double sg = sign[i];
            if (sg == 0) { gre[h] += wre[i]; gim[h] += wim[i]; }
            else { gre[h] += sg * wre[i]; gim[h] -= sg * wim[i]; }
        }
    }
}
