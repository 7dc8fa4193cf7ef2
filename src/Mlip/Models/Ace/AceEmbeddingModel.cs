using Mlip.Descriptors.Ace;
using Mlip.Structures;

namespace Mlip.Models.Ace;

/// <summary>
/// PACE's embedding over the densities of <see cref="AceDensities"/>:
/// E_i = E0 + fcut(rho_core) · Σ_p w_p F(rho_p; m_p) + rho_core, with fcut the cosine switch from 1 below
/// rho_core_cut − drho_core_cut to 0 at rho_core_cut, and F the Finnis–Sinclair form
/// (FinnisSinclair: sign(x)((1 − e^{−(ωx)³})|x|^m + ω^{1−m} e^{−(ωx)³}|x|), ω = 10⁶;
/// FinnisSinclairShiftedScaled: sign(x)((|x| + x₀ e^{−|x|})^m − y₀ e^{−|x|}), x₀ = (1/m)^{(1/m)/(1−1/m)}, y₀ = (1/m)^{1/(1−1/m)};
/// both are the identity for m = 1).
/// </summary>
public sealed class AceEmbeddingModel : IAtomicModel
{
    private readonly AceBasisSet _basis;
    private readonly int[] _speciesOfZ;
    private readonly int _p;

    public AceEmbeddingModel(AceBasisSet basis)
    {
        _basis = basis;
        _p = basis.Embeddings.Max(e => e.NDensity);
        _speciesOfZ = Enumerable.Repeat(-1, 119).ToArray();
        for (int mu = 0; mu < basis.ElementCount; mu++) _speciesOfZ[Structures.Elements.Number(basis.Elements[mu])] = mu;
        Elements = [.. basis.Elements.Select(e => Structures.Elements.Number(e))];
    }

    public AceBasisSet Basis => _basis;
    public string Kind => "pace";
    public IReadOnlyList<int> Elements { get; }
    public int FeatureCount => _p + 1;

    public void Evaluate(ReadOnlySpan<double> features, ReadOnlySpan<int> atomicNumbers, Span<double> atomEnergies, Span<double> dEdX)
    {
        int k = FeatureCount;
        for (int i = 0; i < atomicNumbers.Length; i++)
            atomEnergies[i] = AtomEnergy(_speciesOfZ[atomicNumbers[i]], features.Slice(i * k, k), dEdX.IsEmpty ? dEdX : dEdX.Slice(i * k, k));
    }

    /// <summary>E_i of an atom of basis species <paramref name="mu"/> from its features; dE/dX into <paramref name="dEdX"/> unless empty.</summary>
    public double AtomEnergy(int mu, ReadOnlySpan<double> x, Span<double> dEdX)
    {
        var emb = _basis.Embeddings[mu];
        double core = x[_p];
        InnerCutoff(core, emb.RhoCoreCut, emb.DRhoCoreCut, out double fcut, out double dfcut);
        double e = 0;
        for (int q = 0; q < emb.NDensity; q++)
        {
            double wpre = emb.FsParameters[2 * q], mexp = emb.FsParameters[2 * q + 1];
            double f = emb.Npoti == "FinnisSinclair" ? Fexp(x[q], mexp, out double df) : FexpShiftedScaled(x[q], mexp, out df);
            e += f * wpre;
            if (!dEdX.IsEmpty) dEdX[q] = df * wpre * fcut;
        }
        if (!dEdX.IsEmpty)
        {
            for (int q = emb.NDensity; q < _p; q++) dEdX[q] = 0;
            dEdX[_p] = e * dfcut + 1;
        }
        return e * fcut + core + _basis.E0[mu];
    }

    public static void InnerCutoff(double rhoCore, double rhoCut, double drhoCut, out double fcut, out double dfcut)
    {
        double low = rhoCut - drhoCut;
        if (rhoCore >= rhoCut) { fcut = 0; dfcut = 0; }
        else if (rhoCore <= low) { fcut = 1; dfcut = 0; }
        else
        {
            fcut = 0.5 * (1 + Math.Cos(Math.PI * (rhoCore - low) / drhoCut));
            dfcut = -0.5 * Math.Sin(Math.PI * (rhoCore - low) / drhoCut) * Math.PI / drhoCut;
        }
    }

    public static double Fexp(double x, double m, out double df)
    {
        const double w = 1e6, eps = 1e-10;
        double lambda = Math.Pow(1.0 / w, m - 1.0);
        if (Math.Abs(x) <= eps) { df = lambda; return lambda * x; }
        double a = Math.Abs(x), am = Math.Pow(a, m), w3x3 = Math.Pow(w * a, 3);
        double sign = x < 0 ? -1 : 1;
        double g = w3x3 > 30.0 ? 0.0 : Math.Exp(-w3x3);
        double omg = 1.0 - g;
        double dg = -3.0 * w * w * w * a * a * g;
        df = m * Math.Pow(a, m - 1.0) * omg - am * dg + lambda * dg * a + lambda * g;
        return sign * (omg * am + lambda * g * a);
    }

    public static double FexpShiftedScaled(double rho, double mexp, out double df)
    {
        const double eps = 1e-10;
        if (Math.Abs(mexp - 1.0) < eps) { df = 1; return rho; }
        double a = Math.Abs(rho), exprho = Math.Exp(-a), nx = 1.0 / mexp;
        double xoff = Math.Pow(nx, nx / (1.0 - nx)) * exprho;
        double yoff = Math.Pow(nx, 1 / (1.0 - nx)) * exprho;
        double sign = rho < 0 ? -1 : 1;
        df = yoff + mexp * (-xoff + 1.0) * Math.Pow(xoff + a, mexp - 1.0);
        return sign * (Math.Pow(xoff + a, mexp) - yoff);
    }
}
