using Mlip.Calculators;
using Mlip.Structures;

namespace Mlip.Simulation;

/// <summary>Shared pieces of the velocity-Verlet family: kicks, drifts and the force evaluation.</summary>
public abstract class Integrator : IIntegrator
{
    protected Integrator(ICalculator calculator, double timeStep)
    {
        if (!(timeStep > 0) || !double.IsFinite(timeStep)) throw new ArgumentOutOfRangeException(nameof(timeStep), "time step must be positive (fs)");
        Calculator = calculator ?? throw new ArgumentNullException(nameof(calculator));
        TimeStep = timeStep;
    }

    public double TimeStep { get; }
    public ICalculator Calculator { get; }
    public IBarostat? Barostat { get; set; }

    public virtual void Initialize(MdState state) => state.ComputeForces(Calculator, stress: true);

    public abstract void Step(MdState state);

    public virtual double ConservedEnergy(MdState state) => state.TotalEnergy;

    /// <summary>v += (h/m) F.</summary>
    protected static void Kick(MdState s, double h)
    {
        var v = s.Velocities; var f = s.Forces; var m = s.Masses;
        for (int i = 0; i < v.Length; i++) v[i] += (h * MdUnits.ForceToAcceleration / m[i]) * f[i];
    }

    /// <summary>r += h v.</summary>
    protected static void Drift(MdState s, double h)
    {
        var r = s.Positions; var v = s.Velocities;
        for (int i = 0; i < r.Length; i++) r[i] += h * v[i];
    }

    /// <summary>The barostat (if any), then energy, forces and stress at the new positions.</summary>
    protected void UpdateForces(MdState s)
    {
        Barostat?.Apply(s, TimeStep);
        s.ComputeForces(Calculator, stress: true);
    }

    protected void Advance(MdState s)
    {
        s.Step++;
        s.Time += TimeStep;
    }
}

/// <summary>Velocity Verlet (NVE): kick ½h, drift h, forces, kick ½h. Symplectic and time-reversible (Swope et al., J. Chem. Phys. 76, 637 (1982)).</summary>
public sealed class VelocityVerlet(ICalculator calculator, double timeStep) : Integrator(calculator, timeStep)
{
    public override void Step(MdState s)
    {
        double h = TimeStep;
        Kick(s, 0.5 * h);
        Drift(s, h);
        UpdateForces(s);
        Kick(s, 0.5 * h);
        Advance(s);
    }
}
