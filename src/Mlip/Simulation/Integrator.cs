using Mlip.Calculators;
using Mlip.Structures;
using Mlip.Validation;

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

    /// <summary>Atoms per block of the parallel updates (each atom's update is its own, so any block size gives the same bits).</summary>
    private const int BlockAtoms = 1024;

    /// <summary>v += (h/m) F, in parallel blocks of atoms.</summary>
    protected static void Kick(MdState s, double h) =>
        MlipParallel.ForChunks(s.Count, BlockAtoms, static () => 0, (first, end, _) =>
        {
            var v = s.Velocities; var f = s.Forces; var m = s.Masses;
            for (int i = first; i < end; i++) v[i] += (h * MdUnits.ForceToAcceleration / m[i]) * f[i];
        });

    /// <summary><see cref="Kick"/> as the last velocity update of a step, forming the kinetic sums for the log and observers in the same pass (<see cref="MdState.KickFormingKinetics"/>).</summary>
    protected static void LastKick(MdState s, double h) => s.KickFormingKinetics(h);

    /// <summary>r += h v, in parallel blocks of atoms.</summary>
    protected static void Drift(MdState s, double h) =>
        MlipParallel.ForChunks(s.Count, BlockAtoms, static () => 0, (first, end, _) =>
        {
            var r = s.Positions; var v = s.Velocities;
            for (int i = first; i < end; i++) r[i] += h * v[i];
        });

    /// <summary><see cref="Kick"/> by <paramref name="kick"/> then <see cref="Drift"/> by <paramref name="drift"/>, in one pass over the atoms (the same bits: each atom's drift follows its own kick).</summary>
    protected static void KickDrift(MdState s, double kick, double drift) =>
        MlipParallel.ForChunks(s.Count, BlockAtoms, static () => 0, (first, end, _) =>
        {
            var v = s.Velocities; var f = s.Forces; var m = s.Masses; var r = s.Positions;
            for (int i = first; i < end; i++)
            {
                v[i] += (kick * MdUnits.ForceToAcceleration / m[i]) * f[i];
                r[i] += drift * v[i];
            }
        });

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
        KickDrift(s, 0.5 * h, h);
        UpdateForces(s);
        LastKick(s, 0.5 * h);
        Advance(s);
    }
}
