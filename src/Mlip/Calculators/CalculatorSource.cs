using Mlip.Models;
using Mlip.Validation;

namespace Mlip.Calculators;

/// <summary>
/// The calculator a simulation command uses: a trained model file, or a classical potential named as
/// <see cref="ClassicalPotentials.Parse"/> reads it (sw, tersoff, eam:FILE, lj:eps,sigma,rc ...).
/// </summary>
public static class CalculatorSource
{
    public static ICalculator Open(string? modelPath, string? potential)
    {
        if (modelPath is not null && potential is not null) throw new MlipException("give either a model file or --potential, not both");
        if (modelPath is not null) return ModelFile.Load(modelPath);
        if (potential is not null) return ClassicalPotentials.Parse(potential);
        throw new MlipException("no calculator: give a model file (--model model.json) or --potential (sw, tersoff, eam:FILE, lj:eps,sigma,rc, morse:D0,alpha,r0,rc, buck:A,rho,C,rc)");
    }
}
