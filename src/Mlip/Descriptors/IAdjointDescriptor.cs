using Mlip.Neighbors;
using Mlip.Structures;

namespace Mlip.Descriptors;

/// <summary>
/// A descriptor with an inference path that turns dE/dX straight into forces and stress without
/// materialising dX/dr (the bispectrum's Y·dU contraction). Must agree with
/// <see cref="Models.ForceContraction"/> on the full derivative blocks to round-off.
/// </summary>
public interface IAdjointDescriptor : IDescriptor
{
    (Vec3[] Forces, Stress? Stress) ForcesFromAdjoint(Structure structure, ReadOnlySpan<double> dEdX, NeighborList? neighbors = null);
}

/// <summary>
/// The model's part of a fused pass: E_i and dE_i/dX_i for <paramref name="features"/> of the atoms
/// <paramref name="firstAtom"/>.. (features.Length / K of them, atom-major).
/// </summary>
public delegate void AtomEnergyFunction(int firstAtom, ReadOnlySpan<double> features, Span<double> atomEnergies, Span<double> dEdX);

/// <summary>
/// A descriptor that computes energies and forces in one pass over the centres, calling the model on chunks
/// of atoms in between (for descriptors whose per-pair work, such as SO(3)'s radial quadrature, would
/// otherwise be done twice by <see cref="IAdjointDescriptor.ForcesFromAdjoint"/>). Must agree with
/// <see cref="Models.ForceContraction"/> on the full derivative blocks to round-off. <c>values</c> (atoms × K) receives the
/// features; empty when the caller does not want them (an MD step: no copy of them).
/// </summary>
public interface IFusedDescriptor : IDescriptor
{
    (Vec3[] Forces, Stress? Stress) EnergyAndForces(Structure structure, AtomEnergyFunction model, Span<double> values, Span<double> atomEnergies, NeighborList? neighbors = null);

    /// <summary>Called when a potential on this descriptor is made: a descriptor whose force kernels are JIT-compiled at run time can start compiling them on a spare core (<see cref="Validation.JitWarmUp"/>). Nothing by default.</summary>
    void WarmUpForces() { }
}
