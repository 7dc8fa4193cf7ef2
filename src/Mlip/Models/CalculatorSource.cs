using Mlip.Calculators;
using Mlip.Validation;

namespace Mlip.Models;

/// <summary>
/// The calculator a simulation command uses: a trained model file, or a classical potential named as
/// <see cref="ClassicalPotentials.Parse"/> reads it (sw, tersoff, eam:FILE, lj:eps,sigma,rc ...).
/// </summary>
public static class CalculatorSource
{
    /// <summary>
    /// For many calls on slowly changing structures (MD): like <see cref="Open"/>, with a neighbour-list
    /// skin of <paramref name="skin"/> Å on classical potentials, on models with a fused descriptor pass (SO(4), SO(3)) and on PACE potentials (ACE densities), so the list is rebuilt only when an
    /// atom has moved more than half the skin (same results to round-off).
    /// </summary>
    public static ICalculator OpenForDynamics(string? modelPath, string? potential, double skin = 1.0)
    {
        var calc = Open(modelPath, potential);
        if (calc is ClassicalPotential classical) classical.NeighborSkin = skin;
        else if (calc is Potential { Descriptor: Descriptors.IFusedDescriptor or Descriptors.Ace.AceDensities } fused) fused.NeighborSkin = skin;
        return calc;
    }

    public static ICalculator Open(string? modelPath, string? potential)
    {
        if (modelPath is not null && potential is not null) throw new MlipException("give either a model file or --potential, not both");
        if (modelPath is not null) return ModelFile.Load(modelPath);
        if (potential is not null) return ClassicalPotentials.Parse(potential);
        throw new MlipException("no calculator: give a model file (--model model.json) or --potential (sw, tersoff, eam:FILE, lj:eps,sigma,rc, morse:D0,alpha,r0,rc, buck:A,rho,C,rc)");
    }
}
