using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace Mlip.Training;

/// <summary>
/// The TorchSharp operations whose own overloads make a temporary Scalar inside TorchSharp (see <see cref="TorchScalars"/>),
/// done with Scalars that stay alive for the call: the same libtorch operation with the same Scalar (value and type) as the
/// overload it replaces, so the results are the same bit for bit. <c>a + b</c> on tensors is <c>a.add(b, 1)</c> with a
/// temporary int 1, <c>x.square()</c> is <c>x.pow(2)</c>, <c>x * w</c> is <c>x.mul(w)</c>, <c>x / d</c> is <c>x.div(d)</c>,
/// <c>x - v</c> is <c>x.sub(v)</c> (and <c>1 - x</c> is <c>x.negative().add(1, 1)</c>, <c>1 + x</c> <c>x.add(1, 1)</c>: written at the call with <see cref="Plus(Tensor, Scalar)"/>); the guard test
/// tests/Mlip.Tests/Architecture/TorchScalarLifetimeTests lists every call that still makes one.
/// </summary>
internal static class TorchOps
{
    /// <summary>a + b (<c>a.add(b, alpha: int 1)</c>).</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, TorchScalars.Of(1));

    /// <summary>a += b in place (<c>a.add_(b, alpha: int 1)</c>).</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, TorchScalars.Of(1));

    /// <summary>x + v for a Scalar v (<c>x.add(v, alpha: int 1)</c>).</summary>
    public static Tensor Plus(this Tensor x, Scalar v) => x.add(v, TorchScalars.Of(1));

    /// <summary>x² (<c>x.pow(int 2)</c>, as TorchSharp's <c>square()</c>).</summary>
    public static Tensor Squared(this Tensor x) => x.pow(TorchScalars.Of(2));

    /// <summary>x · w for a runtime double w (<c>x * w</c> and <c>w * x</c>).</summary>
    public static Tensor Times(this Tensor x, double w)
    {
        using var s = w.ToScalar();
        return x.mul(s);
    }

    /// <summary>x / d for a runtime double d (<c>x / d</c>).</summary>
    public static Tensor Over(this Tensor x, double d)
    {
        using var s = d.ToScalar();
        return x.div(s, RoundingMode.None);
    }

    /// <summary>x / d for a runtime long d (<c>x / d</c>: an int64 Scalar).</summary>
    public static Tensor Over(this Tensor x, long d)
    {
        using var s = d.ToScalar();
        return x.div(s, RoundingMode.None);
    }

    /// <summary>x - v for a runtime double v (<c>x - v</c>).</summary>
    public static Tensor Minus(this Tensor x, double v)
    {
        using var s = v.ToScalar();
        return x.sub(s);
    }

    /// <summary>softplus(x) with β = 1 and threshold 20, as <c>nn.functional.softplus(x)</c>. TorchSharp 0.107 offers only
    /// the overload taking doubles, which converts them to temporaries; its Scalar form (<c>softplus1</c>) is internal, so it
    /// is called through a delegate made once (a TorchSharp without it fails here at start, not with other numbers).</summary>
    public static Tensor Softplus(this Tensor x) => SoftplusWithScalars(x, TorchScalars.Of(1.0), TorchScalars.Of(20.0));

    private static readonly Func<Tensor, Scalar, Scalar, Tensor> SoftplusWithScalars =
        typeof(Tensor).GetMethod("softplus1", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public, [typeof(Scalar), typeof(Scalar)])
            ?.CreateDelegate<Func<Tensor, Scalar, Scalar, Tensor>>()
        ?? throw new MissingMethodException("TorchSharp.torch+Tensor", "softplus1(Scalar, Scalar)");
}
