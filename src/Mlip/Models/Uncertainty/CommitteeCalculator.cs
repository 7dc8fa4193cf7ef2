using Mlip.Calculators;
using Mlip.Structures;

namespace Mlip.Models.Uncertainty;

/// <summary>
/// The mean of a committee's members as a calculator (energy, forces and stress averaged): the model an active-learning
/// loop with <c>model.committee</c> runs MD and validation with, while <see cref="CommitteeUncertainty"/> gives its spread.
/// </summary>
public sealed class CommitteeCalculator(CommitteeUncertainty committee) : ICalculator
{
    public CommitteeUncertainty Committee { get; } = committee;

    public string Name => $"mean of a committee of {Committee.Members.Count} ({Committee.Members[0].Name})";

    public IReadOnlyList<int> Elements => Committee.Members[0].Elements;

    public CalculatorResult Calculate(Structure structure, bool forces = true, bool stress = true)
    {
        var members = Committee.Members;
        int n = structure.Count, m = members.Count;
        double energy = 0;
        var f = forces ? new Vec3[n] : null;
        var sigma = Matrix3.Zero;
        bool withStress = stress;
        for (int k = 0; k < m; k++)
        {
            var r = members[k].Calculate(structure, forces, stress);
            energy += r.Energy;
            if (f is not null)
            {
                var rf = r.Forces ?? throw new InvalidOperationException($"{members[k].Name} gave no forces");
                for (int i = 0; i < n; i++) f[i] += rf[i];
            }
            if (r.Stress is { } s) sigma += s.ToMatrix();
            else withStress = false;
        }
        if (f is not null)
            for (int i = 0; i < n; i++) f[i] /= m;
        return new CalculatorResult(energy / m, f, withStress ? Stress.FromMatrix((1.0 / m) * sigma) : null);
    }
}
