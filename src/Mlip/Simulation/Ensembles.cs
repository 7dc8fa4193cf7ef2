using Mlip.Calculators;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Simulation;

/// <summary>The settings of an MD ensemble (<see cref="MdSetup.Create"/>); the defaults are the CLI's.</summary>
public sealed record MdSettings
{
    /// <summary>nve, nvt-langevin (langevin), nvt-nh (nose-hoover) or npt-berendsen (case-insensitive).</summary>
    public string Ensemble { get; init; } = "nve";
    /// <summary>Time step, fs.</summary>
    public double TimeStep { get; init; } = 1.0;
    /// <summary>Temperature, K: the initial velocities (when the structure has none) and the thermostat's target.</summary>
    public double Temperature { get; init; } = 300;
    /// <summary>Target pressure of npt-berendsen, GPa.</summary>
    public double Pressure { get; init; }
    /// <summary>Seed of the initial velocities and (xor-ed) of the Langevin noise.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Langevin friction, 1/fs.</summary>
    public double Friction { get; init; } = 0.01;
    /// <summary>Nosé–Hoover period, fs; 0 or less: 100 time steps.</summary>
    public double ThermostatPeriod { get; init; }
    /// <summary>Berendsen barostat period, fs.</summary>
    public double BarostatPeriod { get; init; } = 500;
    /// <summary>Berendsen compressibility, 1/GPa.</summary>
    public double Compressibility { get; init; } = 0.01;
}

/// <summary>An integrator for an ensemble and the starting state (velocities drawn where the structure has none).</summary>
public sealed record MdSetup(string Ensemble, IIntegrator Integrator, MdState State)
{
    /// <summary>The ensemble names <see cref="Create"/> knows (aliases aside).</summary>
    public static readonly IReadOnlyList<string> Ensembles = ["nve", "nvt-langevin", "nvt-nh", "npt-berendsen"];

    /// <summary>
    /// nve: velocity Verlet; nvt-langevin: Langevin; nvt-nh: Nosé–Hoover chain; npt-berendsen: Langevin
    /// thermostat with a Berendsen barostat (needs a structure periodic on all three axes). Velocities:
    /// the structure's own, or Maxwell–Boltzmann at the temperature (none at 0 K).
    /// <paramref name="source"/> names the structure in error messages (a file name).
    /// </summary>
    public static MdSetup Create(ICalculator calculator, Structure structure, MdSettings settings, string? source = null)
    {
        string ens = settings.Ensemble.ToLowerInvariant();
        double dt = settings.TimeStep, T = settings.Temperature;
        int seed = settings.Seed;
        IIntegrator integrator = ens switch
        {
            "nve" => new VelocityVerlet(calculator, dt),
            "nvt-langevin" or "langevin" or "npt-berendsen" => new Langevin(calculator, dt, T, settings.Friction, seed ^ 0x2545F491),
            "nvt-nh" or "nose-hoover" => new NoseHooverChain(calculator, dt, T > 0 ? T : throw new MlipException("nvt-nh needs a positive --temperature"),
                settings.ThermostatPeriod is > 0 and var td ? td : 100 * dt),
            _ => throw new MlipException($"unknown --ensemble '{ens}' ({string.Join(", ", Ensembles)})"),
        };
        if (ens == "npt-berendsen")
        {
            if (!structure.Pbc.AllPeriodic)
                throw new MlipException($"{source ?? structure.Formula()}: npt-berendsen needs a structure periodic on all three axes (this one has pbc {structure.Pbc}); a molecule or cluster has no pressure to control: use nve, nvt-langevin or nvt-nh");
            integrator.Barostat = new BerendsenBarostat(settings.Pressure, settings.BarostatPeriod, settings.Compressibility);
        }
        var state = new MdState(structure);
        if (!structure.AtomArrays.ContainsKey("velocities") && T > 0) MaxwellBoltzmann.Initialize(state, T, seed);
        return new MdSetup(ens, integrator, state);
    }
}
