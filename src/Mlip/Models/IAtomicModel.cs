using Mlip.Descriptors;

namespace Mlip.Models;

/// <summary>
/// A model of per-atom energies from descriptors: E_i = f_{element(i)}(X_i). Forces and stress are not
/// the model's business: they follow from dE/dX through <see cref="ForceContraction"/> or a descriptor's
/// adjoint path, the same code for every model.
/// </summary>
public interface IAtomicModel
{
    /// <summary>"linear", "quadratic", "nn", "gpr" ...</summary>
    string Kind { get; }

    /// <summary>Atomic numbers the model was trained on.</summary>
    IReadOnlyList<int> Elements { get; }

    /// <summary>Descriptor length the model expects.</summary>
    int FeatureCount { get; }

    /// <summary>
    /// Per-atom energies E_i (eV) and, when <paramref name="dEdX"/> is not empty, dE_i/dX_i for every
    /// atom of <paramref name="features"/> (atom-major, FeatureCount per atom).
    /// </summary>
    void Evaluate(ReadOnlySpan<double> features, ReadOnlySpan<int> atomicNumbers, Span<double> atomEnergies, Span<double> dEdX);
}

/// <summary>A model that also gives the variance of its energy prediction (GPR, committees).</summary>
public interface IUncertainModel : IAtomicModel
{
    /// <summary>Predictive variance of the total energy of the atoms given (eV²).</summary>
    double EnergyVariance(ReadOnlySpan<double> features, ReadOnlySpan<int> atomicNumbers);
}
