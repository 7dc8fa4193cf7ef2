using Mlip.Calculators;
using Mlip.Structures;

namespace Mlip.Simulation;

/// <summary>
/// Langevin dynamics (NVT) with the BAOAB splitting of Leimkuhler and Matthews
/// (Appl. Math. Res. Express 2013, 34; J. Chem. Phys. 138, 174102 (2013)):
/// B = kick ½h, A = drift ½h, O = exact Ornstein–Uhlenbeck step
/// v ← c v + √((1 − c²) k_B T / m) ξ with c = exp(−γ h), A, forces, B.
/// Noise comes from a seeded generator, so a run is reproducible. The friction acts on every atom
/// independently, so the total momentum is not conserved (and the temperature counts 3N degrees of freedom).
/// </summary>
public sealed class Langevin : Integrator
{
    private readonly GaussianRandom _noise;

    /// <param name="calculator">Forces.</param>
    /// <param name="timeStep">Time step h, fs.</param>
    /// <param name="temperature">Target temperature, K.</param>
    /// <param name="seed">Seed of the noise.</param>
    /// <param name="friction">Friction γ, 1/fs (0.01 = a 100 fs relaxation time).</param>
    public Langevin(ICalculator calculator, double timeStep, double temperature, double friction, int seed)
        : base(calculator, timeStep)
    {
        if (temperature < 0) throw new ArgumentOutOfRangeException(nameof(temperature));
        if (!(friction >= 0)) throw new ArgumentOutOfRangeException(nameof(friction));
        Temperature = temperature;
        Friction = friction;
        _noise = new GaussianRandom(seed);
    }

    public double Temperature { get; set; }
    public double Friction { get; }

    /// <summary>
    /// Evaluates the starting forces and sets the state's degrees of freedom to 3N: the noise and
    /// friction act on the centre of mass too, so it is thermalised like every other coordinate.
    /// </summary>
    public override void Initialize(MdState state)
    {
        state.DegreesOfFreedom = 3 * state.Count;
        base.Initialize(state);
    }

    public override void Step(MdState s)
    {
        double h = TimeStep;
        KickDrift(s, 0.5 * h, 0.5 * h);
        OrnsteinUhlenbeck(s, h);
        Drift(s, 0.5 * h);
        UpdateForces(s);
        LastKick(s, 0.5 * h);
        Advance(s);
    }

    private void OrnsteinUhlenbeck(MdState s, double h)
    {
        double c = Math.Exp(-Friction * h);
        double noise = Math.Sqrt((1 - c * c) * MdUnits.Boltzmann * Temperature * MdUnits.ForceToAcceleration);
        var v = s.Velocities; var m = s.Masses;
        for (int i = 0; i < v.Length; i++)
        {
            double si = noise / Math.Sqrt(m[i]);
            v[i] = c * v[i] + new Vec3(si * _noise.Next(), si * _noise.Next(), si * _noise.Next());
        }
    }
}
