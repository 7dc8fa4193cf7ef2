using System.Diagnostics;
using System.Globalization;
using Mlip.Descriptors.Ace;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Structures;
using Mlip.Training;
using Mlip.Validation;

namespace Mlip.AutoFit;

/// <summary>What one FS fit over a linear model gave: the single PACE model on the union basis, the FS part alone (on the sub-basis), the loss, the time.</summary>
public sealed record FsOverLinearResult(AceBasisSet Combined, AceBasisSet Fs, double StartLoss, double EndLoss, int Iterations, double Seconds);

/// <summary>
/// The Finnis-Sinclair stage of <c>mlip fit</c> (docs/fit.md): a fixed linear ACE model E_lin plus an FS embedding on a small
/// sub-basis of the same ladder, E_i = E_lin,i + E0 + Σ_k c_k1 B_k(i) + F(Σ_k c_k2 B_k(i)), F the shifted-scaled FS form with
/// exponent 0.5. The sub-basis part is fitted by <see cref="AceEmbeddingFit"/> (Levenberg-Marquardt) to the residuals of the
/// linear model (energies and forces minus its predictions), from the exact linear start: both densities at zero, so the start
/// is the linear model itself, and the Tikhonov prior is centred there (a large ridge gives back the linear model). The big
/// basis's design is not needed again. The result is one PACE model on the big basis (<see cref="Combine"/>): the linear
/// model's functions on density 1, the sub-basis functions' density 1 added to theirs and their density 2; it is written as
/// .yace and runs in every verb and in LAMMPS pair_style pace.
/// </summary>
public static class FsOverLinear
{
    /// <summary>The FS parameters (w, m) of the two densities: the linear one and the square-root one (PACE's usual pair).</summary>
    public static readonly double[] FsParameters = [1, 1, 1, 0.5];

    /// <summary>Copies of <paramref name="structures"/> whose energies and forces are the reference minus the linear model's (stresses dropped: the FS part does not fit them).</summary>
    public static List<Structure> Residuals(Potential linear, IReadOnlyList<Structure> structures, int threads)
    {
        var predicted = Evaluation.Run(linear, structures, threads);
        var list = new List<Structure>(structures.Count);
        for (int s = 0; s < structures.Count; s++)
        {
            var st = structures[s];
            var p = predicted.Comparisons[s].Predicted;
            var r = st.Clone();
            r.Stress = null;
            r.Energy = st.Energy is double e ? e - p.Energy : null;
            if (st.Forces is { } f && p.Forces is { } pf)
            {
                var d = new Vec3[f.Length];
                for (int i = 0; i < f.Length; i++) d[i] = f[i] - pf[i];
                r.Forces = d;
            }
            else r.Forces = null;
            list.Add(r);
        }
        return list;
    }

    /// <summary>
    /// Fits the FS part on <paramref name="sub"/> to the residuals of <paramref name="linear"/> (a linear ACE model) on <paramref name="train"/>
    /// with the loss weights, ridge and smoothness prior of <paramref name="hyper"/>; at most <paramref name="iterations"/> LM steps.
    /// </summary>
    public static FsOverLinearResult Fit(Potential linear, AceBasisDescriptor sub, IReadOnlyList<Structure> train, FitHyper hyper, int iterations, int threads,
        Action<string>? log = null, double initialScale = 0, int seed = 1)
    {
        if (!AceLinearExport.IsLinearAce(linear)) throw new MlipException("the FS stage starts from a linear ACE model");
        var clock = Stopwatch.StartNew();
        var residuals = Residuals(linear, train, threads);
        var elements = linear.Model.Elements.ToArray();
        int k = sub.FeatureCount;
        var zero = new PolynomialModel(1, elements, k, [.. elements.Select(_ => new double[1 + k])], new double[k], Enumerable.Repeat(1.0, k).ToArray());
        var options = new AceEmbeddingFitOptions
        {
            FsParameters = FsParameters,
            Optimizer = AceEmbeddingOptimizer.LevenbergMarquardt,
            Iterations = iterations,
            Tolerance = 1e-6,
            InitialScale = initialScale,
            Seed = seed,
            Ridge = hyper.Ridge,
            Smoothness = hyper.Smoothness,
            Weights = new LossWeights { Energy = 1, Force = hyper.Force, Stress = 0 },
            Threads = threads,
        };
        var fs = new AceEmbeddingFit(sub, residuals, zero, options);
        int steps = 0;
        var (start, end) = fs.Run(null, line => { steps++; log?.Invoke(line); });
        var part = fs.ToCTilde();
        return new FsOverLinearResult(Combine(AceLinearExport.ToCTilde(linear), part), part, start, end, steps, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// One PACE model equal to the sum of a linear C-tilde model (one density) and an FS model on a sub-basis of the same
    /// radial functions: on the linear model's radial basis and species, density 1 the sum of both models' density 1, density 2
    /// the FS model's, E0 the sum. A sub-basis function with the same species, radial and angular indices and m-combinations as a
    /// linear one is merged into it (the densities are linear in the coefficients); any other is added as a further function.
    /// </summary>
    public static AceBasisSet Combine(AceBasisSet linear, AceBasisSet fs)
    {
        if (linear.NDensityMax != 1) throw new MlipException("the FS stage combines a one-density (linear) model with an FS model");
        if (!linear.Elements.SequenceEqual(fs.Elements)) throw new MlipException("the linear and FS models have different species");
        if (fs.NRadBase > linear.NRadBase || fs.NRadMax > linear.NRadMax || fs.LMax > linear.LMax || fs.RankMax > linear.RankMax)
            throw new MlipException("the FS sub-basis is not contained in the linear model's basis");
        int p = fs.NDensityMax;
        int ne = linear.ElementCount;
        var e0 = new double[ne];
        var functions = new AceFunction[ne][];
        for (int mu = 0; mu < ne; mu++)
        {
            e0[mu] = linear.E0[mu] + fs.E0[mu];
            var list = new List<(AceFunction F, double[] C)>();
            var byKey = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var f in linear.Functions[mu])
            {
                var c = new double[f.MsCount * p];
                for (int s = 0; s < f.MsCount; s++) c[s * p] = f.Ctildes[s];
                byKey.TryAdd(Key(f), list.Count);
                list.Add((f, c));
            }
            foreach (var f in fs.Functions[mu])
            {
                if (byKey.TryGetValue(Key(f), out int at))
                {
                    var c = list[at].C;
                    for (int i = 0; i < c.Length; i++) c[i] += f.Ctildes[i];
                }
                else list.Add((f, (double[])f.Ctildes.Clone()));
            }
            var merged = list.Select(t => new AceFunction { Mu0 = mu, Rank = t.F.Rank, NDensity = p, Mus = t.F.Mus, Ns = t.F.Ns, Ls = t.F.Ls, Ms = t.F.Ms, Ctildes = t.C }).ToList();
            functions[mu] = [.. merged.Where(f => f.Rank == 1), .. merged.Where(f => f.Rank > 1)];
        }
        var embeddings = new AceEmbedding[ne];
        for (int mu = 0; mu < ne; mu++)
            embeddings[mu] = new AceEmbedding
            {
                Npoti = fs.Embeddings[mu].Npoti, FsParameters = (double[])fs.Embeddings[mu].FsParameters.Clone(), NDensity = p,
                RhoCoreCut = linear.Embeddings[mu].RhoCoreCut, DRhoCoreCut = linear.Embeddings[mu].DRhoCoreCut,
            };
        var b = new AceBasisSet
        {
            Elements = linear.Elements, LMax = linear.LMax, NRadBase = linear.NRadBase, NRadMax = linear.NRadMax, RankMax = linear.RankMax, NDensityMax = p,
            CutoffMax = linear.CutoffMax, DeltaSplineBins = linear.DeltaSplineBins, E0 = e0, Bonds = linear.Bonds, Embeddings = embeddings, Functions = functions,
        };
        b.Validate();
        return b;
    }

    private static string Key(AceFunction f) => string.Create(CultureInfo.InvariantCulture,
        $"{f.Rank}|{string.Join(",", f.Mus)}|{string.Join(",", f.Ns)}|{string.Join(",", f.Ls)}|{string.Join(",", f.Ms)}");
}
