namespace Mlip.Descriptors.Ace;

/// <summary>
/// One C-tilde basis function of the PACE format: a product of <see cref="Rank"/> atomic bases
/// A_{mu_t n_t l_t m_t} summed over the listed m-combinations with real coefficients, one per density:
/// rho_p += Re( sum_s ctilde[s, p] prod_t A_{mu_t n_t l_t m_t(s)} ).
/// Rank 1 functions use the radial base g_n (n = 1..nradbase) with l = m = 0.
/// </summary>
public sealed class AceFunction
{
    public int Mu0 { get; init; }
    public int Rank { get; init; }
    public int NDensity { get; init; }
    /// <summary>Neighbour species of each factor (0-based).</summary>
    public required int[] Mus { get; init; }
    /// <summary>Radial index of each factor, 1-based as in the files.</summary>
    public required int[] Ns { get; init; }
    public required int[] Ls { get; init; }
    /// <summary>m-combinations, Rank values per combination.</summary>
    public required int[] Ms { get; init; }
    /// <summary>Coefficients, NDensity values per m-combination.</summary>
    public required double[] Ctildes { get; init; }
    public int MsCount => Ms.Length / Math.Max(1, Rank);
}

/// <summary>Radial functions of one (mu_i, mu_j) species pair.</summary>
public sealed class AceBond
{
    /// <summary>ChebExpCos, ChebPow, ChebLinear or SBessel.</summary>
    public string RadBaseName { get; init; } = "ChebExpCos";
    /// <summary>lambda of the radial base (radparameter).</summary>
    public double Lambda { get; init; } = 1;
    public double Cut { get; init; }
    public double DCut { get; init; }
    /// <summary>Core repulsion prefactor and exponent: pre exp(-lambdahc r²)/r times a cosine envelope.</summary>
    public double Prehc { get; init; }
    public double Lambdahc { get; init; } = 1;
    /// <summary>crad[n, l, k] at (n·(lmax+1) + l)·nradbase + k.</summary>
    public required double[] Crad { get; init; }
}

/// <summary>Embedding of one species: E_i = E0 + fcut(rho_core) · sum_p w_p F(rho_p; m_p) + rho_core.</summary>
public sealed class AceEmbedding
{
    /// <summary>FinnisSinclair or FinnisSinclairShiftedScaled.</summary>
    public string Npoti { get; init; } = "FinnisSinclairShiftedScaled";
    /// <summary>Pairs (w_p, m_p), one per density.</summary>
    public required double[] FsParameters { get; init; }
    public int NDensity { get; init; } = 1;
    public double RhoCoreCut { get; init; } = 100000;
    public double DRhoCoreCut { get; init; } = 250;
}

/// <summary>
/// A PACE C-tilde basis set (the data of a <c>.ace</c> or <c>.yace</c> file): species, radial functions per
/// species pair, embeddings, and the C-tilde functions of each central species. The evaluator is
/// <see cref="AceEvaluator"/>; the files are read and written by Models.Ace.AceFile and Models.Ace.YaceFile.
/// </summary>
public sealed class AceBasisSet
{
    public required string[] Elements { get; init; }
    public int LMax { get; init; }
    public int NRadBase { get; init; }
    public int NRadMax { get; init; }
    public int RankMax { get; init; }
    public int NDensityMax { get; init; }
    /// <summary>Largest pair cutoff (the spline tables run to it).</summary>
    public double CutoffMax { get; init; }
    public double DeltaSplineBins { get; init; } = 0.001;
    public required double[] E0 { get; init; }
    /// <summary>[mu_i * nelements + mu_j].</summary>
    public required AceBond[] Bonds { get; init; }
    public required AceEmbedding[] Embeddings { get; init; }
    /// <summary>Functions of each central species: rank 1 first, then higher ranks.</summary>
    public required AceFunction[][] Functions { get; init; }

    public int ElementCount => Elements.Length;
    public AceBond Bond(int mui, int muj) => Bonds[mui * Elements.Length + muj];
    public int FunctionCount => Functions.Sum(f => f.Length);

    /// <summary>Checks array sizes and index ranges; throws <see cref="ArgumentException"/> naming the first problem.</summary>
    public void Validate()
    {
        int ne = Elements.Length;
        if (ne == 0) throw new ArgumentException("no elements");
        if (Bonds.Length != ne * ne) throw new ArgumentException($"expected {ne * ne} species pairs of radial functions, found {Bonds.Length}");
        if (Embeddings.Length != ne || E0.Length != ne || Functions.Length != ne) throw new ArgumentException("one embedding, E0 and function list per element expected");
        foreach (var b in Bonds)
        {
            if (b.Crad.Length != NRadMax * (LMax + 1) * NRadBase) throw new ArgumentException($"crad has {b.Crad.Length} values, expected nradmax·(lmax+1)·nradbase = {NRadMax * (LMax + 1) * NRadBase}");
            if (!(b.Cut > 0)) throw new ArgumentException("a pair cutoff is not positive");
            _ = AceRadialBasis.Kind(b.RadBaseName);
        }
        foreach (var e in Embeddings)
        {
            if (e.FsParameters.Length < 2 * e.NDensity) throw new ArgumentException($"{e.NDensity} densities need {2 * e.NDensity} FS parameters, found {e.FsParameters.Length}");
            if (e.Npoti is not ("FinnisSinclair" or "FinnisSinclairShiftedScaled")) throw new ArgumentException($"unknown embedding function '{e.Npoti}'");
        }
        for (int mu = 0; mu < ne; mu++)
            foreach (var f in Functions[mu])
            {
                if (f.Rank < 1 || f.Mus.Length != f.Rank || f.Ns.Length != f.Rank || f.Ls.Length != f.Rank || f.Ms.Length % f.Rank != 0)
                    throw new ArgumentException("a basis function has inconsistent rank and index lists");
                if (f.Ctildes.Length != f.MsCount * f.NDensity) throw new ArgumentException("a basis function has the wrong number of coefficients");
                if (f.NDensity != Embeddings[mu].NDensity) throw new ArgumentException($"a basis function has {f.NDensity} densities, its element {Embeddings[mu].NDensity}");
                for (int t = 0; t < f.Rank; t++)
                {
                    if (f.Mus[t] < 0 || f.Mus[t] >= ne) throw new ArgumentException($"species index {f.Mus[t]} out of range");
                    int nmax = f.Rank == 1 ? NRadBase : NRadMax;
                    if (f.Ns[t] < 1 || f.Ns[t] > nmax) throw new ArgumentException($"radial index n={f.Ns[t]} out of range 1..{nmax}");
                    if (f.Ls[t] < 0 || f.Ls[t] > LMax) throw new ArgumentException($"l={f.Ls[t]} out of range 0..{LMax}");
                }
                foreach (int m in f.Ms) if (m < -LMax || m > LMax) throw new ArgumentException($"m={m} out of range");
                for (int s = 0; s < f.MsCount; s++)
                    for (int t = 0; t < f.Rank; t++)
                        if (f.Ms[s * f.Rank + t] < -f.Ls[t] || f.Ms[s * f.Rank + t] > f.Ls[t]) throw new ArgumentException($"m={f.Ms[s * f.Rank + t]} exceeds l={f.Ls[t]}");
            }
    }
}
