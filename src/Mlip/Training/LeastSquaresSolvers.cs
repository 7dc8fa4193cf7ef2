using Mlip.Validation;

namespace Mlip.Training;

/// <summary>Solver choice by name: "default" (libtorch QR when libtorch loads, else managed), "torch", "torch-normal", "managed".</summary>
public static class LeastSquaresSolvers
{
    public static ILeastSquaresSolver ByName(string name, int threads) => name.ToLowerInvariant() switch
    {
        "default" => TorchRuntime.IsAvailable ? new TorchLeastSquares(threads) : new ManagedLeastSquares(threads),
        "torch" or "qr" => new TorchLeastSquares(threads),
        "torch-normal" or "normal" => new TorchLeastSquares(threads, LeastSquaresMethod.NormalEquations),
        "managed" => new ManagedLeastSquares(threads),
        _ => throw new MlipException($"unknown least-squares solver '{name}' (default, torch, torch-normal, managed)"),
    };
}
