namespace Mlip.Structures;

/// <summary>
/// A named per-atom array with a fixed number of components per atom (1 for scalars),
/// stored atom-major: Values[atom * Components + component]. Used for per-atom labels and
/// extra columns (charges, magnetic moments, potential coefficients ...).
/// </summary>
public sealed class AtomArray
{
    public AtomArray(int atoms, int components, double[]? values = null, bool isInteger = false)
    {
        if (components < 1) throw new ArgumentOutOfRangeException(nameof(components));
        Components = components;
        Values = values ?? new double[atoms * components];
        if (Values.Length != atoms * components)
            throw new ArgumentException($"expected {atoms * components} values, got {Values.Length}", nameof(values));
        IsInteger = isInteger;
    }

    public int Components { get; }
    public double[] Values { get; }

    /// <summary>True when the values came from an integer column (written back as integers).</summary>
    public bool IsInteger { get; }

    public int Atoms => Values.Length / Components;

    public ReadOnlySpan<double> Of(int atom) => Values.AsSpan(atom * Components, Components);

    public AtomArray Clone() => new(Atoms, Components, (double[])Values.Clone(), IsInteger);
}
