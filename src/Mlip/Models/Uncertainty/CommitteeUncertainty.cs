using Mlip.Calculators;
using Mlip.Structures;

namespace Mlip.Models.Uncertainty;

/// <summary>
/// A committee of models (neural networks trained with different seeds or data splits, or any calculators):
/// the prediction is the members' mean, the uncertainty their spread (sample standard deviation).
/// Score: the largest per-atom force standard deviation.
/// </summary>
public sealed class CommitteeUncertainty : IUncertaintyEstimator
{
    public CommitteeUncertainty(IReadOnlyList<ICalculator> members)
    {
        if (members.Count < 2) throw new ArgumentException("a committee needs at least two members", nameof(members));
        Members = members;
    }

    public IReadOnlyList<ICalculator> Members { get; }
    public string Kind => $"committee of {Members.Count}";
    public string ScoreName => "max atomic force std (eV/Å)";
    public bool IncludeStress { get; set; }

    public UncertaintyResult Estimate(Structure structure)
    {
        int n = structure.Count, m = Members.Count;
        var energies = new double[m];
        var forces = new Vec3[m][];
        bool stress = IncludeStress && structure.Pbc.AllPeriodic;
        var stressSum = Matrix3.Zero;
        for (int k = 0; k < m; k++)
        {
            var r = Members[k].Calculate(structure, forces: true, stress: stress);
            energies[k] = r.Energy;
            forces[k] = r.Forces ?? throw new InvalidOperationException($"{Members[k].Name} gave no forces");
            if (stress) stressSum += (r.Stress ?? throw new InvalidOperationException($"{Members[k].Name} gave no stress")).ToMatrix();
        }
        double eMean = energies.Average();
        double eVar = 0;
        foreach (double e in energies) eVar += (e - eMean) * (e - eMean);
        eVar /= m - 1;
        var fMean = new Vec3[n];
        var fStd = new double[n];
        for (int i = 0; i < n; i++)
        {
            var sum = Vec3.Zero;
            for (int k = 0; k < m; k++) sum += forces[k][i];
            var mean = sum / m;
            double v = 0;
            for (int k = 0; k < m; k++) v += (forces[k][i] - mean).NormSquared;
            fMean[i] = mean;
            fStd[i] = Math.Sqrt(v / (3.0 * (m - 1)));
        }
        double score = n == 0 ? 0 : fStd.Max();
        return new UncertaintyResult(eMean, fMean, Math.Sqrt(eVar), fStd, null, score, stress ? Stress.FromMatrix((1.0 / m) * stressSum) : null);
    }
}
