namespace Mlip.Descriptors.Ace;

/// <summary>
/// How a linear ACE basis is chosen (docs/ace.md): species, radial basis and cut-off, the largest
/// correlation order (rank), and either per-rank limits on n and l (pacemaker's nradmax/lmax) or a total
/// degree Σ_t (n_t + w_L l_t) ≤ D per function (ACEpotentials.jl), optionally both.
/// </summary>
public sealed record AceBasisSpec
{
    public required IReadOnlyList<string> Elements { get; init; }
    public double Cutoff { get; init; } = 5.0;
    public string RadialBasis { get; init; } = "SBessel";
    /// <summary>λ of ChebExpCos/ChebPow (ignored by SBessel and ChebLinear).</summary>
    public double Lambda { get; init; } = 5.25;
    public double DCut { get; init; } = 0.01;
    public double DeltaSplineBins { get; init; } = 0.001;
    /// <summary>Largest rank (correlation order = body order − 1).</summary>
    public int MaxRank { get; init; } = 3;
    /// <summary>n ≤ NMax[rank−1] (rank 1 runs over the radial base directly).</summary>
    public IReadOnlyList<int> NMax { get; init; } = [8, 6, 4];
    /// <summary>l ≤ LMax[rank−1] (rank 1 has l = 0).</summary>
    public IReadOnlyList<int> LMax { get; init; } = [0, 4, 3];
    /// <summary>Total degree D of the rule Σ (n + w_L l) ≤ D; 0 for none.</summary>
    public double TotalDegree { get; init; }
    public double LWeight { get; init; } = 1.5;

    public int NMaxOf(int rank) => NMax.Count == 0 ? 1 : NMax[Math.Min(rank, NMax.Count) - 1];
    public int LMaxOf(int rank) => rank == 1 ? 0 : (LMax.Count == 0 ? 0 : LMax[Math.Min(rank, LMax.Count) - 1]);
}

/// <summary>
/// Builds the product basis of a linear ACE: for every rank, the sorted tuples (mu_t, n_t, l_t) the
/// selection allows, with Σ l even, coupled to invariants with <see cref="AceCouplings.Independent"/>
/// (only the independent couplings). Every B function is returned as a one-density C-tilde function
/// (its generalised Clebsch–Gordan coefficients), and the radial functions are R_nl = g_n (crad = δ).
/// </summary>
public static class AceBasisBuilder
{
    public static (AceBasisSet Skeleton, AceFunction[] Functions, double[] Degrees) Build(AceBasisSpec spec)
    {
        int ne = spec.Elements.Count;
        if (ne == 0) throw new ArgumentException("ace: no elements");
        if (spec.MaxRank < 1) throw new ArgumentException("ace: order (largest rank) must be at least 1");
        if (spec.MaxRank > 8) throw new ArgumentException("ace: order (largest rank) must be at most 8");
        // The enumeration below visits every sorted tuple of single functions: bound their number first.
        double tuples = 0;
        for (int rank = 1; rank <= spec.MaxRank; rank++)
        {
            double m = (double)ne * Math.Max(spec.NMaxOf(rank), 0) * (Math.Max(spec.LMaxOf(rank), 0) + 1), c = 1;
            for (int t = 0; t < rank; t++) c = c * (m + t) / (t + 1);
            tuples += c;
        }
        if (!(tuples <= 2e6))
            throw new ArgumentException($"ace: the selection (order, nmax, lmax) enumerates about {tuples:G3} product tuples (at most 2e6); lower order, nmax or lmax");
        var functions = new List<AceFunction>();
        var degrees = new List<double>();
        for (int rank = 1; rank <= spec.MaxRank; rank++)
        {
            int nmax = spec.NMaxOf(rank), lmax = spec.LMaxOf(rank);
            if (spec.TotalDegree > 0)
            {
                nmax = Math.Min(nmax, (int)Math.Floor(spec.TotalDegree - (rank - 1)));
                lmax = Math.Min(lmax, (int)Math.Floor(spec.TotalDegree / spec.LWeight));
            }
            if (nmax < 1) continue;
            var single = new List<(int Mu, int N, int L)>();
            for (int mu = 0; mu < ne; mu++)
                for (int n = 1; n <= nmax; n++)
                    for (int l = 0; l <= lmax; l++)
                        single.Add((mu, n, l));
            var tuple = new int[rank];
            void Rec(int t, int from, double degree, int lsum)
            {
                if (t == rank)
                {
                    if (lsum % 2 != 0) return;
                    Emit(tuple, degree);
                    return;
                }
                for (int q = from; q < single.Count; q++)
                {
                    var (mu, n, l) = single[q];
                    double d = degree + n + spec.LWeight * l;
                    if (spec.TotalDegree > 0 && d > spec.TotalDegree + 1e-9) continue;
                    tuple[t] = q;
                    Rec(t + 1, q, d, lsum + l);
                }
            }
            void Emit(int[] tup, double degree)
            {
                var mus = tup.Select(q => single[q].Mu).ToArray();
                var ns = tup.Select(q => single[q].N).ToArray();
                var ls = tup.Select(q => single[q].L).ToArray();
                var (ms, coeffs) = AceCouplings.Independent(ls, tup);
                foreach (var c in coeffs)
                {
                    var keepMs = new List<int>();
                    var keepC = new List<double>();
                    for (int i = 0; i < ms.Count; i++)
                    {
                        if (Math.Abs(c[i]) < 1e-14) continue;
                        keepMs.AddRange(ms[i]);
                        keepC.Add(c[i]);
                    }
                    functions.Add(new AceFunction { Mu0 = 0, Rank = rank, NDensity = 1, Mus = mus, Ns = ns, Ls = ls, Ms = [.. keepMs], Ctildes = [.. keepC] });
                    degrees.Add(degree);
                }
            }
            Rec(0, 0, 0, 0);
        }
        if (functions.Count == 0) throw new ArgumentException("ace: the selection gives no basis functions");
        int nb = functions.Max(f => f.Ns.Max());
        int nr = Math.Max(1, functions.Where(f => f.Rank > 1).Select(f => f.Ns.Max()).DefaultIfEmpty(1).Max());
        int lmaxAll = functions.Max(f => f.Ls.Max());
        int l1 = lmaxAll + 1;
        var crad = new double[nr * l1 * nb];
        for (int n = 0; n < nr; n++)
            for (int l = 0; l < l1; l++)
                crad[(n * l1 + l) * nb + n] = 1;
        _ = AceRadialBasis.Kind(spec.RadialBasis);
        var bonds = new AceBond[ne * ne];
        for (int p = 0; p < bonds.Length; p++)
            bonds[p] = new AceBond { RadBaseName = spec.RadialBasis, Lambda = spec.Lambda, Cut = spec.Cutoff, DCut = spec.DCut, Prehc = 0, Lambdahc = 1, Crad = crad };
        var skeleton = new AceBasisSet
        {
            Elements = [.. spec.Elements], LMax = lmaxAll, NRadBase = nb, NRadMax = nr, RankMax = spec.MaxRank, NDensityMax = 1,
            CutoffMax = spec.Cutoff, DeltaSplineBins = spec.DeltaSplineBins, E0 = new double[ne], Bonds = bonds,
            Embeddings = [.. Enumerable.Range(0, ne).Select(_ => new AceEmbedding { Npoti = "FinnisSinclair", FsParameters = [1, 1], NDensity = 1 })],
            Functions = [.. Enumerable.Range(0, ne).Select(_ => Array.Empty<AceFunction>())],
        };
        return (skeleton, [.. functions], [.. degrees]);
    }
}
