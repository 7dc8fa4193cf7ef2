namespace Mlip.Simulation;

/// <summary>
/// Units of the molecular-dynamics code: lengths in Å, energies in eV, masses in amu, times in fs,
/// velocities in Å/fs, temperatures in K, stresses and pressures in GPa (tension-positive stress,
/// P = −trace(σ)/3). Every conversion between them lives here.
/// </summary>
public static class MdUnits
{
    /// <summary>Elementary charge: 1 eV in J (CODATA 2018, exact).</summary>
    public const double JoulePerEv = 1.602176634e-19;

    /// <summary>Atomic mass constant: 1 amu in kg (CODATA 2018).</summary>
    public const double KgPerAmu = 1.66053906660e-27;

    /// <summary>Boltzmann constant in eV/K (CODATA 2018, exact to the digits given).</summary>
    public const double Boltzmann = 8.617333262e-5;

    /// <summary>
    /// 1 amu·Å²/fs² in eV: 1.66053906660e-27 kg · (1e-10 m)² / (1e-15 s)² / 1.602176634e-19 J
    /// = 1.66053906660e-17 / 1.602176634e-19 ≈ 103.642697 eV.
    /// </summary>
    public const double EvPerAmuAngstrom2PerFs2 = KgPerAmu * 1e-20 / 1e-30 / JoulePerEv;

    /// <summary>Acceleration of force F (eV/Å) on mass m (amu) in Å/fs²: a = F / m · this.</summary>
    public const double ForceToAcceleration = 1.0 / EvPerAmuAngstrom2PerFs2;

    /// <summary>1 eV/Å³ in GPa (same value as <see cref="Mlip.Structures.Stress.EvPerCubicAngstromInGpa"/>): 1.602176634e-19 J / 1e-30 m³ / 1e9.</summary>
    public const double GpaPerEvPerCubicAngstrom = JoulePerEv * 1e30 / 1e9;
}
