using Mlip.Validation;

namespace Mlip.Training;

/// <summary>Solver choice by name: "default" (the fastest available), "managed".</summary>
public static class LeastSquaresSolvers
{
    public static ILeastSquaresSolver ByName(string name, int threads) => name.ToLowerInvariant() switch
    {
        "default" or "managed" or "normal" => new NormalEquationsSolver(),
        _ => throw new MlipException($"unknown least-squares solver '{name}' (default, managed)"),
    };
}
