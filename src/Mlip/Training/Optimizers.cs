using System.Text.Json.Nodes;
using Mlip.Validation;

namespace Mlip.Training;

/// <summary>Loss and gradient at <paramref name="x"/>: fills <paramref name="gradient"/>, returns the loss.</summary>
public delegate double Objective(double[] x, double[] gradient);

/// <summary>
/// An optimiser over a flat parameter vector, in managed code so that its whole state can be saved in a
/// checkpoint and a resumed run continues exactly where it stopped.
/// </summary>
public interface IOptimizer
{
    string Name { get; }

    /// <summary>One step (one iteration for L-BFGS, one update for Adam/SGD); returns the loss at the start.</summary>
    double Step(double[] x, Objective objective);

    JsonObject SaveState();
    void LoadState(JsonObject state);
}

/// <summary>Creates optimisers by name with their settings.</summary>
public static class Optimizers
{
    public static IOptimizer Create(string name, int parameters, double learningRate, double momentum) => name.ToLowerInvariant() switch
    {
        "lbfgs" or "l-bfgs" => new Lbfgs(parameters, learningRate > 0 ? learningRate : 1.0),
        "adam" => new Adam(parameters, learningRate > 0 ? learningRate : 1e-3),
        "sgd" => new Sgd(parameters, learningRate > 0 ? learningRate : 1e-3, momentum),
        _ => throw new MlipException($"unknown optimizer '{name}' (lbfgs, adam, sgd)"),
    };

    internal static JsonArray Array(double[] v) => new([.. v.Select(x => (JsonNode)x)]);
    internal static double[] Read(JsonNode? n) => n?.AsArray().Select(v => (double)v!).ToArray() ?? [];
}

/// <summary>Adam (Kingma and Ba 2015) with bias correction.</summary>
public sealed class Adam(int n, double learningRate, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8) : IOptimizer
{
    private double[] _m = new double[n], _v = new double[n];
    private long _t;
    private readonly double[] _g = new double[n];

    public string Name => "adam";

    public double Step(double[] x, Objective objective)
    {
        double loss = objective(x, _g);
        _t++;
        double c1 = 1 - Math.Pow(beta1, _t), c2 = 1 - Math.Pow(beta2, _t);
        for (int i = 0; i < x.Length; i++)
        {
            _m[i] = beta1 * _m[i] + (1 - beta1) * _g[i];
            _v[i] = beta2 * _v[i] + (1 - beta2) * _g[i] * _g[i];
            x[i] -= learningRate * (_m[i] / c1) / (Math.Sqrt(_v[i] / c2) + epsilon);
        }
        return loss;
    }

    public JsonObject SaveState() => new() { ["t"] = _t, ["m"] = Optimizers.Array(_m), ["v"] = Optimizers.Array(_v) };

    public void LoadState(JsonObject s)
    {
        _t = (long)s["t"]!;
        _m = Optimizers.Read(s["m"]);
        _v = Optimizers.Read(s["v"]);
    }
}

/// <summary>Stochastic gradient descent with (heavy-ball) momentum.</summary>
public sealed class Sgd(int n, double learningRate, double momentum) : IOptimizer
{
    private double[] _velocity = new double[n];
    private readonly double[] _g = new double[n];

    public string Name => "sgd";

    public double Step(double[] x, Objective objective)
    {
        double loss = objective(x, _g);
        for (int i = 0; i < x.Length; i++)
        {
            _velocity[i] = momentum * _velocity[i] + _g[i];
            x[i] -= learningRate * _velocity[i];
        }
        return loss;
    }

    public JsonObject SaveState() => new() { ["velocity"] = Optimizers.Array(_velocity) };
    public void LoadState(JsonObject s) => _velocity = Optimizers.Read(s["velocity"]);
}

/// <summary>
/// Limited-memory BFGS (Nocedal and Wright, algorithm 7.4/7.5) with a backtracking line search that
/// satisfies the Armijo condition; a pair (s, y) enters the history only when yᵀs &gt; 0. The loss and gradient at
/// the accepted point of a step are kept and reused by the next step when it starts from that point (the objective
/// of all callers is a fixed full-batch loss), so an iteration whose first trial is accepted costs one evaluation.
/// </summary>
public sealed class Lbfgs(int n, double initialStep = 1.0, int history = 20) : IOptimizer
{
    private readonly List<double[]> _s = [], _y = [];
    private readonly double[] _g = new double[n], _gNew = new double[n], _d = new double[n], _xNew = new double[n];
    private readonly double[] _xLast = new double[n], _gLast = new double[n];
    private double _fLast;
    private bool _haveLast;
    private int _iteration;

    public string Name => "lbfgs";

    /// <summary>Objective evaluations so far (the start point of a step is not evaluated again when the previous step ended there).</summary>
    public long Evaluations { get; private set; }

    public double Step(double[] x, Objective objective)
    {
        double f;
        if (_haveLast && x.AsSpan().SequenceEqual(_xLast)) { f = _fLast; Array.Copy(_gLast, _g, n); }
        else { f = objective(x, _g); Evaluations++; }
        Remember(x, f, _g);
        // two-loop recursion: d = −H g
        Array.Copy(_g, _d, n);
        int m = _s.Count;
        var alpha = new double[m];
        for (int k = m - 1; k >= 0; k--)
        {
            double rho = 1 / Dot(_y[k], _s[k]);
            alpha[k] = rho * Dot(_s[k], _d);
            Axpy(-alpha[k], _y[k], _d);
        }
        double gamma = m > 0 ? Dot(_s[m - 1], _y[m - 1]) / Dot(_y[m - 1], _y[m - 1]) : 1.0;
        for (int i = 0; i < n; i++) _d[i] *= gamma;
        for (int k = 0; k < m; k++)
        {
            double rho = 1 / Dot(_y[k], _s[k]);
            double beta = rho * Dot(_y[k], _d);
            Axpy(alpha[k] - beta, _s[k], _d);
        }
        for (int i = 0; i < n; i++) _d[i] = -_d[i];
        double slope = Dot(_g, _d);
        if (!(slope < 0))
        {
            // not a descent direction: restart from steepest descent
            _s.Clear(); _y.Clear();
            for (int i = 0; i < n; i++) _d[i] = -_g[i];
            slope = Dot(_g, _d);
        }
        double step = _s.Count == 0 ? Math.Min(1.0, 1.0 / Math.Sqrt(Math.Max(Dot(_g, _g), 1e-300))) * initialStep : initialStep;
        double fNew = f;
        bool accepted = false;
        for (int trial = 0; trial < 30; trial++)
        {
            for (int i = 0; i < n; i++) _xNew[i] = x[i] + step * _d[i];
            fNew = objective(_xNew, _gNew);
            Evaluations++;
            if (double.IsFinite(fNew) && fNew <= f + 1e-4 * step * slope) { accepted = true; break; }
            step *= 0.5;
        }
        _iteration++;
        if (!accepted) return f; // no decrease found: keep x (converged to round-off)
        var s = new double[n];
        var y = new double[n];
        for (int i = 0; i < n; i++) { s[i] = _xNew[i] - x[i]; y[i] = _gNew[i] - _g[i]; }
        if (Dot(y, s) > 1e-12 * Math.Sqrt(Dot(y, y) * Dot(s, s)))
        {
            _s.Add(s); _y.Add(y);
            if (_s.Count > history) { _s.RemoveAt(0); _y.RemoveAt(0); }
        }
        Array.Copy(_xNew, x, n);
        Remember(x, fNew, _gNew);
        return f;
    }

    private void Remember(double[] x, double f, double[] g)
    {
        Array.Copy(x, _xLast, n);
        Array.Copy(g, _gLast, n);
        _fLast = f;
        _haveLast = true;
    }

    private static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    private static void Axpy(double a, double[] x, double[] y)
    {
        for (int i = 0; i < x.Length; i++) y[i] += a * x[i];
    }

    public JsonObject SaveState() => new()
    {
        ["iteration"] = _iteration,
        ["s"] = new JsonArray([.. _s.Select(v => (JsonNode)Optimizers.Array(v))]),
        ["y"] = new JsonArray([.. _y.Select(v => (JsonNode)Optimizers.Array(v))]),
    };

    public void LoadState(JsonObject state)
    {
        _iteration = (int)state["iteration"]!;
        _haveLast = false;
        _s.Clear(); _y.Clear();
        foreach (var v in state["s"]!.AsArray()) _s.Add(Optimizers.Read(v));
        foreach (var v in state["y"]!.AsArray()) _y.Add(Optimizers.Read(v));
    }
}
