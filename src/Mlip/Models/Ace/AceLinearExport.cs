using Mlip.Descriptors.Ace;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Models.Ace;

/// <summary>
/// A linear model on the ACE basis (<see cref="AceBasisDescriptor"/> + <see cref="PolynomialModel"/> of
/// order 1) in PACE's C-tilde form: E_i = E0_mu + Σ_k (β_mu,k / σ_k) B_k with E0_mu = β_mu,0 − Σ_k β_mu,k μ_k / σ_k
/// (the model's normalisation folded in), each B_k = Σ_s c_ks Π A written with coefficients
/// (β_mu,k/σ_k) c_ks, one density, linear embedding. Zero coefficients are dropped. The result can be
/// written as .yace/.ace and run by LAMMPS pair_style pace.
/// </summary>
public static class AceLinearExport
{
    public static bool IsLinearAce(Potential p) => p.Descriptor is AceBasisDescriptor && p.Model is PolynomialModel { Order: 1 };

    public static AceBasisSet ToCTilde(Potential p)
    {
        if (p.Descriptor is not AceBasisDescriptor d || p.Model is not PolynomialModel { Order: 1 } m)
            throw new MlipException("only a linear model on the ace descriptor has a C-tilde form");
        var sk = d.Skeleton;
        int ne = sk.ElementCount, K = d.FeatureCount;
        var e0 = new double[ne];
        var functions = new AceFunction[ne][];
        for (int mu = 0; mu < ne; mu++)
        {
            int z = Elements.Number(sk.Elements[mu]);
            int e = -1;
            for (int q = 0; q < m.Elements.Count; q++) if (m.Elements[q] == z) e = q;
            if (e < 0) { functions[mu] = []; continue; } // an element of the basis the model was not fitted on
            var beta = m.Coefficients[e];
            double c0 = beta[0];
            var list = new List<AceFunction>();
            for (int k = 0; k < K; k++)
            {
                double w = beta[1 + k] / m.Scale[k];
                c0 -= w * m.Mean[k];
                if (w == 0) continue;
                var f = d.Functions[k];
                list.Add(new AceFunction
                {
                    Mu0 = mu, Rank = f.Rank, NDensity = 1, Mus = f.Mus, Ns = f.Ns, Ls = f.Ls, Ms = f.Ms,
                    Ctildes = [.. f.Ctildes.Select(c => c * w)],
                });
            }
            e0[mu] = c0;
            functions[mu] = [.. list.Where(f => f.Rank == 1), .. list.Where(f => f.Rank > 1)];
        }
        var b = new AceBasisSet
        {
            Elements = sk.Elements, LMax = sk.LMax, NRadBase = sk.NRadBase, NRadMax = sk.NRadMax, RankMax = sk.RankMax, NDensityMax = 1,
            CutoffMax = sk.CutoffMax, DeltaSplineBins = sk.DeltaSplineBins, E0 = e0, Bonds = sk.Bonds,
            Embeddings = sk.Embeddings, Functions = functions,
        };
        b.Validate();
        return b;
    }
}
