using Mlip.Neighbors;
using Mlip.Structures;

namespace Mlip.Descriptors;

/// <summary>
/// An atom-centred descriptor: for every atom i a feature vector X_i (FeatureCount values) that
/// depends only on the pair vectors r_ij to neighbours within <see cref="Cutoff"/>, and optionally
/// the sparse derivatives ∂X_i/∂r_ij, one [FeatureCount, 3] block per neighbour pair.
/// </summary>
public interface IDescriptor
{
    /// <summary>Short name ("acsf", "wacsf", "so4" ...).</summary>
    string Name { get; }

    /// <summary>Radius of the neighbour list the descriptor needs (Å).</summary>
    double Cutoff { get; }

    int FeatureCount { get; }

    /// <summary>One readable name per feature, e.g. "G2[Si](eta=0.5,Rs=0)".</summary>
    IReadOnlyList<string> FeatureNames { get; }

    /// <summary>
    /// Features (and derivative blocks when <paramref name="derivatives"/>) of every atom of
    /// <paramref name="structure"/>. A neighbour list built with at least <see cref="Cutoff"/> may be
    /// passed in to be reused; pairs beyond the cutoff contribute nothing.
    /// </summary>
    DescriptorSet Compute(Structure structure, bool derivatives, NeighborList? neighbors = null);
}
