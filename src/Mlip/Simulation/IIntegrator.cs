using Mlip.Calculators;

namespace Mlip.Simulation;

/// <summary>Advances an <see cref="MdState"/> by one time step with forces from an <see cref="ICalculator"/>.</summary>
public interface IIntegrator
{
    /// <summary>Time step, fs.</summary>
    double TimeStep { get; }

    ICalculator Calculator { get; }

    /// <summary>Optional barostat, applied after the position update and before the force evaluation.</summary>
    IBarostat? Barostat { get; set; }

    /// <summary>Evaluates the forces of the starting positions (call once before the first step).</summary>
    void Initialize(MdState state);

    void Step(MdState state);

    /// <summary>The quantity the scheme conserves (E_tot for NVE, E_tot plus thermostat energy for Nosé–Hoover), eV; E_tot where none is conserved.</summary>
    double ConservedEnergy(MdState state);
}

/// <summary>Changes the cell (and scales positions) to control the pressure.</summary>
public interface IBarostat
{
    void Apply(MdState state, double timeStep);
}
