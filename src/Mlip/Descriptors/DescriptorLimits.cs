namespace Mlip.Descriptors;

/// <summary>
/// Generous bounds on descriptor parameters, checked before anything is allocated or tabulated from
/// them, so that a mistyped or corrupted value in a model or parameter file (rcutfac 1e308, twojmax 1e9)
/// is an error instead of a hang or unbounded memory.
/// </summary>
public static class DescriptorLimits
{
    /// <summary>Largest cut-off radius (Å) of any descriptor or explicit potential term.</summary>
    public const double MaxCutoff = 100.0;

    /// <summary>Largest SO(4) 2J_max (memory and time grow as (2J_max)^5 or so; LAMMPS fits use 6 to 10).</summary>
    public const int MaxTwoJMax = 20;

    /// <summary>Largest SO(3) and EAD-like angular momentum l_max.</summary>
    public const int MaxLmax = 40;

    /// <summary>Largest number of radial functions / Gaussian terms / grid points of one kind.</summary>
    public const int MaxTerms = 1000;

    /// <summary>Largest number of features of one descriptor.</summary>
    public const int MaxFeatures = 1_000_000;
}
