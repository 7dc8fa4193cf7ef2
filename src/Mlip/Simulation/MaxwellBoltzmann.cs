using Mlip.Structures;

namespace Mlip.Simulation;

/// <summary>Initial velocities drawn from the Maxwell–Boltzmann distribution.</summary>
public static class MaxwellBoltzmann
{
    /// <summary>
    /// Sets velocities to Gaussian deviates of variance k_B T / m per component (seeded), removes the
    /// centre-of-mass momentum, then rescales so the instantaneous temperature (with the state's
    /// degrees of freedom) is exactly <paramref name="temperature"/>.
    /// </summary>
    public static void Initialize(MdState state, double temperature, int seed)
    {
        if (temperature < 0 || !double.IsFinite(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature));
        var g = new GaussianRandom(seed);
        var v = state.Velocities;
        for (int i = 0; i < state.Count; i++)
        {
            double s = Math.Sqrt(MdUnits.Boltzmann * temperature / state.Masses[i] * MdUnits.ForceToAcceleration);
            v[i] = new Vec3(s * g.Next(), s * g.Next(), s * g.Next());
        }
        if (state.Count > 1) state.RemoveCenterOfMassMotion();
        double t = state.Temperature;
        double scale = t > 0 ? Math.Sqrt(temperature / t) : 0;
        for (int i = 0; i < state.Count; i++) v[i] = scale * v[i];
    }
}
