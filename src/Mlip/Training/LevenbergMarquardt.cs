using Mlip.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace Mlip.Training;

/// <summary>The loss Σ r² at <paramref name="x"/> (a sum of squared residuals).</summary>
public delegate double SquaresLoss(double[] x);

/// <summary>
/// The normal equations of a sum of squares at <paramref name="x"/>: fills <paramref name="jtj"/> (JᵀJ, n×n row-major) and
/// <paramref name="jtr"/> (Jᵀr), returns the loss Σ r². J is the Jacobian of the residuals r with respect to x.
/// </summary>
public delegate double NormalEquations(double[] x, double[] jtj, double[] jtr);

/// <summary>Settings of <see cref="LevenbergMarquardt"/>.</summary>
public sealed record LevenbergMarquardtOptions
{
    /// <summary>Trial steps (accepted or rejected); each costs one loss, each accepted one also the normal equations.</summary>
    public int Iterations { get; init; } = 100;
    /// <summary>λ at the start (Marquardt scaling: the damping is λ diag(JᵀJ)).</summary>
    public double InitialDamping { get; init; } = 1e-3;
    /// <summary>Stop after an accepted step that lowers the loss by less than this fraction.</summary>
    public double Tolerance { get; init; } = 1e-9;
}

/// <summary>One trial step of <see cref="LevenbergMarquardt"/>: the loss after it (the kept one when rejected) and λ used.</summary>
public readonly record struct LevenbergMarquardtStep(int Iteration, double Loss, double Damping, bool Accepted, TimeSpan Elapsed);

/// <summary>
/// Levenberg–Marquardt for a sum of squares (Marquardt 1963; damping update of Nielsen 1999, as in Madsen, Nielsen and
/// Tingleff, "Methods for non-linear least squares problems", algorithm 3.16): the step solves
/// (JᵀJ + λ diag(JᵀJ)) δ = −Jᵀr by a dense Cholesky factorisation (libtorch, float64); a step is kept when the loss falls,
/// λ shrinks by max(1/3, 1 − (2ϱ − 1)³) with ϱ the ratio of the actual to the predicted decrease, and grows by ν = 2, 4, 8, …
/// after each rejection. The caller provides JᵀJ and Jᵀr (accumulated in blocks of rows, so J itself need not be held).
/// </summary>
public sealed class LevenbergMarquardt(LevenbergMarquardtOptions options)
{
    /// <summary>Minimises from <paramref name="x"/> (updated in place); returns the loss at the start and at the end.</summary>
    public (double Start, double End, int Iterations) Minimize(double[] x, NormalEquations normal, SquaresLoss loss,
        Action<LevenbergMarquardtStep>? onStep = null)
    {
        int n = x.Length;
        var jtj = new double[(long)n * n];
        var jtr = new double[n];
        double f = normal(x, jtj, jtr);
        if (!double.IsFinite(f)) throw new MlipException("Levenberg-Marquardt: the loss at the start is not finite");
        double start = f, lambda = options.InitialDamping, nu = 2;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var xNew = new double[n];
        int it = 0;
        while (it < options.Iterations && f > 0)
        {
            it++;
            double[]? delta;
            double predicted;
            using (NewDisposeScope())
            {
                var a = tensor(jtj, [n, n], ScalarType.Float64);
                var g = tensor(jtr, ScalarType.Float64);
                var diag = a.diagonal().clone();
                double maxDiag = diag.max().item<double>();
                if (!(maxDiag > 0)) break; // the loss does not depend on the parameters
                using (var floor = (1e-12 * maxDiag).ToScalar()) diag = diag.clamp_min(floor); // held for the call (TorchScalars)
                var m = a.clone();
                m.diagonal().PlusInPlace(diag.Times(lambda));
                var (l, info) = linalg.cholesky_ex(m);
                if (info.item<int>() != 0) { delta = null; predicted = 0; }
                else
                {
                    var d = cholesky_solve(-g.unsqueeze(1), l).squeeze(1);
                    // predicted decrease of Σ r²: −(2 δᵀJᵀr + δᵀJᵀJ δ)
                    predicted = -d.dot(g).mul(TorchScalars.Of(2)).Plus(d.dot(a.matmul(d))).item<double>();
                    delta = d.data<double>().ToArray();
                }
            }
            double fNew = double.NaN;
            if (delta is not null)
            {
                for (int i = 0; i < n; i++) xNew[i] = x[i] + delta[i];
                fNew = loss(xNew);
            }
            if (delta is not null && double.IsFinite(fNew) && fNew < f)
            {
                double rho = predicted > 0 ? (f - fNew) / predicted : 0;
                double relative = (f - fNew) / f;
                Array.Copy(xNew, x, n);
                f = normal(x, jtj, jtr);
                onStep?.Invoke(new LevenbergMarquardtStep(it, f, lambda, true, clock.Elapsed));
                lambda *= Math.Max(1.0 / 3, 1 - Math.Pow(2 * rho - 1, 3));
                lambda = Math.Max(lambda, 1e-15);
                nu = 2;
                if (relative < options.Tolerance) break;
            }
            else
            {
                onStep?.Invoke(new LevenbergMarquardtStep(it, f, lambda, false, clock.Elapsed));
                lambda *= nu;
                nu *= 2;
                if (lambda > 1e20) break; // no step lowers the loss: converged to round-off
            }
        }
        return (start, f, it);
    }
}
