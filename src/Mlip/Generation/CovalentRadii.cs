namespace Mlip.Generation;

/// <summary>
/// Single-bond covalent radii (Å) of elements 1-96 (B. Cordero et al., Dalton Trans. 2008, 2832;
/// low-spin values for Mn, Fe, Co), used for minimum distances and target volumes of random crystals.
/// </summary>
internal static class CovalentRadii
{
    private static readonly double[] Radii =
    [
        0,
        0.31, 0.28,
        1.28, 0.96, 0.84, 0.76, 0.71, 0.66, 0.57, 0.58,
        1.66, 1.41, 1.21, 1.11, 1.07, 1.05, 1.02, 1.06,
        2.03, 1.76, 1.70, 1.60, 1.53, 1.39, 1.39, 1.32, 1.26, 1.24, 1.32, 1.22, 1.22, 1.20, 1.19, 1.20, 1.20, 1.16,
        2.20, 1.95, 1.90, 1.75, 1.64, 1.54, 1.47, 1.46, 1.42, 1.39, 1.45, 1.44, 1.42, 1.39, 1.39, 1.38, 1.39, 1.40,
        2.44, 2.15, 2.07, 2.04, 2.03, 2.01, 1.99, 1.98, 1.98, 1.96, 1.94, 1.92, 1.92, 1.89, 1.90, 1.87, 1.87,
        1.75, 1.70, 1.62, 1.51, 1.44, 1.41, 1.36, 1.36, 1.32, 1.45, 1.46, 1.48, 1.40, 1.50, 1.50,
        2.60, 2.21, 2.15, 2.06, 2.00, 1.96, 1.90, 1.87, 1.80, 1.69,
    ];

    /// <summary>Covalent radius of element <paramref name="z"/> in Å.</summary>
    public static double Of(int z)
    {
        if (z < 1 || z >= Radii.Length) throw new ArgumentOutOfRangeException(nameof(z), $"no covalent radius for Z = {z} (1-{Radii.Length - 1})");
        return Radii[z];
    }

    /// <summary>Volume of the covalent sphere, 4/3 π r³ (Å³).</summary>
    public static double AtomicVolume(int z) => 4.0 / 3.0 * Math.PI * Math.Pow(Of(z), 3);
}
