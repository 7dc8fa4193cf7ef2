using System.Runtime.CompilerServices;

namespace Mlip.Descriptors;

/// <summary>The smooth cutoff functions of the PyXtal_FF thesis (Appendix A, after Singraber 2019).</summary>
public enum CutoffKind
{
    /// <summary>f = ½ (cos(π x) + 1)</summary>
    Cosine,
    /// <summary>f = tanh³(1 − x)</summary>
    Tanh,
    /// <summary>f = exp(1 − 1/(1 − x²))</summary>
    Exponential,
    /// <summary>f = x²(2x − 3) + 1</summary>
    Polynomial1,
    /// <summary>f = x³(x(15 − 6x) − 10) + 1</summary>
    Polynomial2,
    /// <summary>f = x⁴(x(x(20x − 70) + 84) − 35) + 1</summary>
    Polynomial3,
    /// <summary>f = x⁵(x(x(x(315 − 70x) − 540) + 420) − 126) + 1</summary>
    Polynomial4,
}

/// <summary>A cutoff function f(r) with x = r/Rc, f = 0 for r ≥ Rc, and its derivative df/dr.</summary>
public readonly record struct CutoffFunction(CutoffKind Kind, double Radius)
{
    public static CutoffFunction Cosine(double radius) => new(CutoffKind.Cosine, radius);

    /// <summary>Parses "cosine", "tanh", "exponential", "poly1" ... "poly4".</summary>
    public static CutoffKind ParseKind(string name) => name.Trim().ToLowerInvariant() switch
    {
        "cosine" or "cos" => CutoffKind.Cosine,
        "tanh" => CutoffKind.Tanh,
        "exponential" or "exp" or "exponent" => CutoffKind.Exponential,
        "poly1" or "polynomial1" => CutoffKind.Polynomial1,
        "poly2" or "polynomial2" => CutoffKind.Polynomial2,
        "poly3" or "polynomial3" => CutoffKind.Polynomial3,
        "poly4" or "polynomial4" => CutoffKind.Polynomial4,
        _ => throw new Validation.MlipException($"unknown cutoff function '{name}' (cosine, tanh, exponential, poly1..poly4)"),
    };

    public double Value(double r) => Evaluate(r, out _);

    /// <summary>f(r); <paramref name="dfdr"/> receives df/dr.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double Evaluate(double r, out double dfdr)
    {
        double rc = Radius;
        if (r >= rc) { dfdr = 0; return 0; }
        double x = r / rc;
        double f, dfdx;
        switch (Kind)
        {
            case CutoffKind.Cosine:
                f = 0.5 * (Math.Cos(Math.PI * x) + 1);
                dfdx = -0.5 * Math.PI * Math.Sin(Math.PI * x);
                break;
            case CutoffKind.Tanh:
            {
                double t = Math.Tanh(1 - x);
                f = t * t * t;
                dfdx = -3 * t * t * (1 - t * t);
                break;
            }
            case CutoffKind.Exponential:
            {
                double u = 1 - x * x;
                f = Math.Exp(1 - 1 / u);
                dfdx = f * (-2 * x / (u * u));
                break;
            }
            case CutoffKind.Polynomial1:
                f = x * x * (2 * x - 3) + 1;
                dfdx = 6 * x * x - 6 * x;
                break;
            case CutoffKind.Polynomial2:
                f = x * x * x * (x * (15 - 6 * x) - 10) + 1;
                dfdx = x * x * (-30 * x * x + 60 * x - 30);
                break;
            case CutoffKind.Polynomial3:
                f = x * x * x * x * (x * (x * (20 * x - 70) + 84) - 35) + 1;
                dfdx = x * x * x * (140 * x * x * x - 420 * x * x + 420 * x - 140);
                break;
            case CutoffKind.Polynomial4:
                f = x * x * x * x * x * (x * (x * (x * (315 - 70 * x) - 540) + 420) - 126) + 1;
                dfdx = x * x * x * x * (-630 * x * x * x * x + 2520 * x * x * x - 3780 * x * x + 2520 * x - 630);
                break;
            default:
                throw new InvalidOperationException();
        }
        dfdr = dfdx / rc;
        return f;
    }
}
