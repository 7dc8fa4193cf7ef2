using TorchSharp;

namespace Mlip.Training;

/// <summary>
/// The ±1 scale factors of <c>index_add</c> as Scalars held for the life of the process. A Scalar made implicitly from a
/// double (<c>x.index_add(0, i, s, 1.0)</c>) is a temporary whose native value TorchSharp passes by handle; once the handle is
/// read the temporary is unreachable, and a garbage collection on another thread may free it while libtorch still reads it
/// (seen under load as "Expected false to be true ... toDouble at c10/core/Scalar.h"). Static Scalars are never collected.
/// </summary>
internal static class TorchScalars
{
    public static readonly Scalar One = 1.0.ToScalar();
    public static readonly Scalar MinusOne = (-1.0).ToScalar();
}
