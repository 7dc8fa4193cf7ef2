using Mlip.Calculators;
using Mlip.Structures;

namespace Mlip.Models.Uncertainty;

/// <summary>
/// The per-atom vectors an active set grades, for one structure: atom i has key <c>Keys[i]</c> (the active set it is graded
/// against: the atomic number for <see cref="DOptimality"/>, the species index for the ACE grade) and its vector at
/// <c>Values[Offsets[i] .. Offsets[i + 1]]</c> (lengths may differ between keys).
/// </summary>
public sealed record AtomVectors(int[] Keys, double[] Values, int[] Offsets)
{
    public int Atoms => Keys.Length;

    public ReadOnlySpan<double> Of(int i) => Values.AsSpan(Offsets[i], Offsets[i + 1] - Offsets[i]);

    /// <summary>Vectors of one fixed length for every atom (atom-major).</summary>
    public static AtomVectors Uniform(int[] keys, double[] values, int length)
    {
        var offsets = new int[keys.Length + 1];
        for (int i = 0; i < keys.Length; i++) offsets[i + 1] = offsets[i] + length;
        return new AtomVectors(keys, values, offsets);
    }
}

/// <summary>
/// Active sets of maximal volume (D-optimality) as greedy D-optimal batch selection needs them: the largest grade of a
/// structure's atoms, and the sets after the structure's atoms were added (as if it were labelled). Served by
/// <see cref="DOptimality"/> (descriptor vectors of linear/quadratic models) and by the ACE extrapolation grade
/// (per-species projections).
/// </summary>
public interface IActiveSets
{
    /// <summary>max γ over the atoms (∞ for a key without an active set).</summary>
    double MaxGrade(AtomVectors atoms);

    /// <summary>The active sets after adding these atoms (MaxVol over the current active vectors and the new ones).</summary>
    IActiveSets With(AtomVectors atoms);
}

/// <summary>An uncertainty estimator whose score is the max γ of a structure's atoms against active sets it exposes.</summary>
public interface IActiveSetEstimator : IUncertaintyEstimator
{
    IActiveSets Sets { get; }

    /// <summary>The per-atom vectors of a structure that <see cref="Sets"/> grade.</summary>
    AtomVectors Vectors(Structure structure);
}
