using Mlip.Structures;

namespace Mlip.Simulation;

/// <summary>
/// Berendsen barostat (Berendsen et al., J. Chem. Phys. 81, 3684 (1984)), combined with any
/// integrator (usually a thermostat, for NPT). Each step the cell and the positions are scaled by
/// μ = (1 − β h/τ_P (P₀ − P))^{1/3}: isotropically from the scalar pressure, or anisotropically with
/// one μ per Cartesian axis from the diagonal of the pressure tensor (off-diagonal cell shape is
/// kept). P includes the kinetic part: P = Σ m v⊗v / V − σ. Berendsen relaxes the pressure to P₀
/// exponentially with time τ_P but does not sample the exact NPT ensemble (volume fluctuations are
/// too small); use it to equilibrate density.
/// </summary>
public sealed class BerendsenBarostat : IBarostat
{
    /// <param name="pressure">Target pressure P₀, GPa.</param>
    /// <param name="period">Relaxation time τ_P, fs.</param>
    /// <param name="compressibility">Isothermal compressibility β, 1/GPa (≈ 1/bulk modulus; too large a value oscillates).</param>
    /// <param name="anisotropic">One scaling factor per Cartesian axis instead of one for all.</param>
    public BerendsenBarostat(double pressure, double period, double compressibility, bool anisotropic = false)
    {
        if (!(period > 0)) throw new ArgumentOutOfRangeException(nameof(period));
        if (!(compressibility > 0)) throw new ArgumentOutOfRangeException(nameof(compressibility));
        Pressure = pressure;
        Period = period;
        Compressibility = compressibility;
        Anisotropic = anisotropic;
    }

    public double Pressure { get; set; }
    public double Period { get; }
    public double Compressibility { get; }
    public bool Anisotropic { get; }

    /// <summary>Largest relative change of a cell length in one step (guards against a bad first stress).</summary>
    public double MaxStrainPerStep { get; init; } = 0.01;

    public void Apply(MdState state, double timeStep)
    {
        if (!state.HasPressure)
            throw new Mlip.Validation.MlipException("the Berendsen barostat (npt-berendsen) needs a structure periodic on all three axes with a volume; a molecule or cluster has no pressure to control");
        if (state.Stress is null) throw new InvalidOperationException("the Berendsen barostat needs the calculator's stress");
        var p = state.PressureTensor();
        double k = Compressibility * timeStep / Period;
        double mx, my, mz;
        if (Anisotropic)
        {
            mx = Factor(k, p.M00); my = Factor(k, p.M11); mz = Factor(k, p.M22);
        }
        else mx = my = mz = Factor(k, p.Trace / 3);
        var f = Matrix3.Diagonal(mx, my, mz);
        var s = state.Structure;
        s.Cell = s.Cell * f;
        var r = s.Positions;
        for (int i = 0; i < r.Length; i++) r[i] = new Vec3(mx * r[i].X, my * r[i].Y, mz * r[i].Z);
    }

    private double Factor(double k, double current)
    {
        double mu = Math.Cbrt(1 - k * (Pressure - current));
        return Math.Clamp(mu, 1 - MaxStrainPerStep, 1 + MaxStrainPerStep);
    }
}
