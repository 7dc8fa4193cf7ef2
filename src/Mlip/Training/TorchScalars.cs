using System.Collections.Concurrent;
using TorchSharp;

namespace Mlip.Training;

/// <summary>
/// Scalars for libtorch that live as long as the process. A Scalar made implicitly from a number (<c>x.clamp_min(1e-300)</c>,
/// <c>x.pow(2)</c>, <c>1 - x</c>, <c>0.5 * x</c>, <c>x * w</c>, <c>x.add(y, alpha)</c>, <c>x.index_add(0, i, s, 1.0)</c>) is a
/// temporary whose native value TorchSharp passes by handle; once the handle is read the temporary is unreachable, and a
/// garbage collection started by any thread may run its finalizer, which frees the native value while libtorch still reads
/// it (seen under load as "Expected false to be true ... toDouble at c10/core/Scalar.h", or silently as another value).
/// </summary>
/// <remarks>
/// Literal constants go through <see cref="Of(double)"/> (one Scalar per value and type, cached, never collected); a
/// runtime value (a weight, a learning rate) through an explicit Scalar held for the call: <c>using var s = v.ToScalar();</c>
/// (the dispose at the end of the scope keeps it reachable until then). The guard test
/// tests/Mlip.Tests/Architecture/TorchScalarLifetimeTests reads the IL of the assembly and refuses any other Scalar.
/// </remarks>
internal static class TorchScalars
{
    private static readonly ConcurrentDictionary<long, Scalar> Doubles = new();
    private static readonly ConcurrentDictionary<long, Scalar> Longs = new();
    private static readonly ConcurrentDictionary<int, Scalar> Ints = new();

    /// <summary>1.0 (float64), the scale of an <c>index_add</c>.</summary>
    public static readonly Scalar One = Of(1.0);

    /// <summary>-1.0 (float64).</summary>
    public static readonly Scalar MinusOne = Of(-1.0);

    /// <summary>A float64 Scalar for a literal constant (the value the implicit conversion from double makes), held for the
    /// life of the process. Keyed by its bits: -0.0 and 0.0 stay apart. Literals only: the guard test refuses a runtime value.</summary>
    public static Scalar Of(double literal) =>
        Doubles.GetOrAdd(BitConverter.DoubleToInt64Bits(literal), static bits => BitConverter.Int64BitsToDouble(bits).ToScalar());

    /// <summary>An int32 Scalar for a literal constant (what the implicit conversion from int makes, as in <c>x.pow(2)</c>).</summary>
    public static Scalar Of(int literal) => Ints.GetOrAdd(literal, static v => v.ToScalar());

    /// <summary>An int64 Scalar for a literal constant.</summary>
    public static Scalar Of(long literal) => Longs.GetOrAdd(literal, static v => v.ToScalar());
}
