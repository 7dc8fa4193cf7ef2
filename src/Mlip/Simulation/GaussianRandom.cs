namespace Mlip.Simulation;

/// <summary>Seeded standard normal deviates (polar Box–Muller over <see cref="System.Random"/>); same seed, same sequence.</summary>
public sealed class GaussianRandom(int seed)
{
    private readonly Random _uniform = new(seed);
    private double _spare;
    private bool _hasSpare;

    public double Next()
    {
        if (_hasSpare) { _hasSpare = false; return _spare; }
        double u, v, s;
        do
        {
            u = 2 * _uniform.NextDouble() - 1;
            v = 2 * _uniform.NextDouble() - 1;
            s = u * u + v * v;
        } while (s >= 1 || s == 0);
        double f = Math.Sqrt(-2 * Math.Log(s) / s);
        _spare = v * f; _hasSpare = true;
        return u * f;
    }
}
