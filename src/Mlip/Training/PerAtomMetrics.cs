using Mlip.Data;

namespace Mlip.Training;

/// <summary>Errors of one component of a per-atom target.</summary>
public sealed record ComponentErrors(int Component, double Mae, double Rmse, double R2, double ReferenceStd);

/// <summary>
/// Errors of per-atom vector predictions (docs/per-atom-targets.md): per component MAE, RMSE and
/// R² = 1 − Σ(y − ŷ)²/Σ(y − ȳ)² (ȳ the mean of the set evaluated), and, for Gaussian-expansion targets
/// (exponents given), the relative L2 error of the reconstructed V_B(r) on a radial grid per atom,
/// its mean and maximum.
/// </summary>
public sealed record PerAtomEvaluation(int Atoms, IReadOnlyList<ComponentErrors> Components, double? MeanRelativeL2, double? MaxRelativeL2, double[]? AtomRelativeL2)
{
    public double MinR2 => Components.Count == 0 ? double.NaN : Components.Min(c => c.R2);
    public double MeanR2 => Components.Count == 0 ? double.NaN : Components.Average(c => c.R2);

    public static PerAtomEvaluation Of(ReadOnlySpan<double> reference, ReadOnlySpan<double> predicted, int outputs, double[]? alphas = null)
    {
        int n = outputs == 0 ? 0 : reference.Length / outputs;
        var comps = new List<ComponentErrors>(outputs);
        for (int c = 0; c < outputs; c++)
        {
            double mean = 0;
            for (int i = 0; i < n; i++) mean += reference[i * outputs + c];
            mean /= Math.Max(1, n);
            double abs = 0, sq = 0, tot = 0;
            for (int i = 0; i < n; i++)
            {
                double e = predicted[i * outputs + c] - reference[i * outputs + c];
                abs += Math.Abs(e); sq += e * e;
                double t = reference[i * outputs + c] - mean;
                tot += t * t;
            }
            comps.Add(new ComponentErrors(c, abs / Math.Max(1, n), Math.Sqrt(sq / Math.Max(1, n)), tot > 0 ? 1 - sq / tot : double.NaN, Math.Sqrt(tot / Math.Max(1, n))));
        }
        double? meanL2 = null, maxL2 = null;
        double[]? perAtom = null;
        if (alphas is not null && alphas.Length == outputs && n > 0)
        {
            perAtom = new double[n];
            for (int i = 0; i < n; i++)
                perAtom[i] = GaussianExpansion.RelativeL2Error(predicted.Slice(i * outputs, outputs), reference.Slice(i * outputs, outputs), alphas);
            meanL2 = perAtom.Average();
            maxL2 = perAtom.Max();
        }
        return new PerAtomEvaluation(n, comps, meanL2, maxL2, perAtom);
    }
}
