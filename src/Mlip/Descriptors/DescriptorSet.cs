using Mlip.Neighbors;

namespace Mlip.Descriptors;

/// <summary>
/// The descriptors of one structure. <see cref="Values"/> holds X[i, k] row-major (atom-major).
/// With derivatives, <see cref="PairGradients"/> holds ∂X_i/∂r_ij for every pair p of
/// <see cref="Neighbors"/> as a [FeatureCount, 3] block at offset p·FeatureCount·3, where
/// r_ij = r_j + S·cell − r_i. The self term follows from translation invariance:
/// ∂X_i/∂r_i = −Σ_p ∂X_i/∂r_ij, and atom j (in any image) moves X_i by +∂X_i/∂r_ij.
/// </summary>
public sealed class DescriptorSet
{
    public DescriptorSet(int atoms, int features, double[] values, NeighborList neighbors, double[]? pairGradients)
    {
        if (values.Length != atoms * features) throw new ArgumentException("values has the wrong length", nameof(values));
        if (pairGradients is not null && pairGradients.Length != neighbors.PairCount * features * 3)
            throw new ArgumentException("pair gradients have the wrong length", nameof(pairGradients));
        Atoms = atoms;
        Features = features;
        Values = values;
        Neighbors = neighbors;
        PairGradients = pairGradients;
    }

    public int Atoms { get; }
    public int Features { get; }

    /// <summary>X[i, k] at i·Features + k.</summary>
    public double[] Values { get; }

    /// <summary>The neighbour list the derivative blocks refer to.</summary>
    public NeighborList Neighbors { get; }

    /// <summary>∂X_i/∂r_ij per pair: [pair][feature][xyz]; null when derivatives were not asked for.</summary>
    public double[]? PairGradients { get; }

    public bool HasDerivatives => PairGradients is not null;

    public ReadOnlySpan<double> Of(int atom) => Values.AsSpan(atom * Features, Features);

    /// <summary>The [Features, 3] block of pair p.</summary>
    public ReadOnlySpan<double> PairBlock(int p) =>
        (PairGradients ?? throw new InvalidOperationException("derivatives were not computed")).AsSpan(p * Features * 3, Features * 3);

    /// <summary>Bytes held by the derivative blocks.</summary>
    public long DerivativeBytes => (PairGradients?.LongLength ?? 0) * sizeof(double);
}
