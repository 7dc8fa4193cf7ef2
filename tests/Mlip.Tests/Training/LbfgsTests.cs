using Mlip.Training;

namespace Mlip.Tests.Training;

/// <summary>
/// The training L-BFGS keeps the loss and gradient of the point a step accepted and starts the next step from them:
/// the iterates equal those of an optimiser that evaluates the start point again (its state reloaded before every
/// step, which drops the kept point), with fewer evaluations.
/// </summary>
public class LbfgsTests
{
    /// <summary>The Rosenbrock function in <paramref name="x"/>.Length dimensions, with its gradient.</summary>
    private static double Rosenbrock(double[] x, double[] g)
    {
        Array.Clear(g);
        double f = 0;
        for (int i = 0; i + 1 < x.Length; i++)
        {
            double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
            f += 100 * a * a + b * b;
            g[i] += -400 * a * x[i] - 2 * b;
            g[i + 1] += 200 * a;
        }
        return f;
    }

    [Fact]
    public void TheAcceptedPointIsNotEvaluatedAgainAndTheIteratesAreUnchanged()
    {
        double[] start = [-1.2, 1.0, -0.5, 0.8, 1.3];
        var kept = new Lbfgs(start.Length);
        var fresh = new Lbfgs(start.Length);
        var x = (double[])start.Clone();
        var y = (double[])start.Clone();
        int keptCalls = 0, freshCalls = 0;
        double lastKept = 0, lastFresh = 0;
        for (int it = 0; it < 60; it++)
        {
            lastKept = kept.Step(x, (p, g) => { keptCalls++; return Rosenbrock(p, g); });
            fresh.LoadState(fresh.SaveState());
            lastFresh = fresh.Step(y, (p, g) => { freshCalls++; return Rosenbrock(p, g); });
            Assert.Equal(y, x);
            Assert.Equal(lastFresh, lastKept);
        }
        Assert.True(lastKept < 1e-2, $"L-BFGS did not approach the minimum: {lastKept}");
        // the fresh optimiser evaluates every start point again: one call more in every iteration after the first
        Assert.Equal(freshCalls - 59, keptCalls);
        Assert.Equal(keptCalls, kept.Evaluations);
    }
}
