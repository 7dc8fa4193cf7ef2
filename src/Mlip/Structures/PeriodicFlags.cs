namespace Mlip.Structures;

/// <summary>Periodicity along the three cell vectors a, b, c.</summary>
public readonly record struct PeriodicFlags(bool A, bool B, bool C)
{
    public static readonly PeriodicFlags All = new(true, true, true);
    public static readonly PeriodicFlags None = new(false, false, false);

    public bool this[int k] => k switch
    {
        0 => A,
        1 => B,
        2 => C,
        _ => throw new ArgumentOutOfRangeException(nameof(k)),
    };

    public bool Any => A || B || C;
    public bool AllPeriodic => A && B && C;

    public override string ToString() => $"{(A ? 'T' : 'F')} {(B ? 'T' : 'F')} {(C ? 'T' : 'F')}";
}
