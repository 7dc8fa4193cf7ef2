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
