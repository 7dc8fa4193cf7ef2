using Mlip.Calculators;

namespace Mlip.Simulation;

/// <summary>
/// Nosé–Hoover chain thermostat (NVT) of Martyna, Klein and Tuckerman (J. Chem. Phys. 97, 2635 (1992)),
/// integrated with the time-reversible Trotter splitting of Martyna, Tuckerman, Tobias and Klein
/// (Mol. Phys. 87, 1117 (1996)): exp(iL_NHC h/2) · velocity Verlet · exp(iL_NHC h/2), each chain half
/// step done with <see cref="ChainSubsteps"/> × 3 Suzuki–Yoshida sub-steps.
/// Masses: Q₁ = N_f k_B T τ², Q_j = k_B T τ² (j &gt; 1), τ the thermostat period (fs).
/// The conserved energy is E_tot + Σ ½ Q_j v_ξj² + N_f k_B T ξ₁ + k_B T Σ_{j&gt;1} ξ_j.
/// </summary>
public sealed class NoseHooverChain : Integrator
{
    private static readonly double[] Yoshida = BuildYoshida();
    private readonly double[] _xi, _vxi, _q;
    private double _kT;

    /// <param name="calculator">Forces.</param>
    /// <param name="timeStep">Time step h, fs.</param>
    /// <param name="temperature">Target temperature, K.</param>
    /// <param name="period">Thermostat period τ, fs (typically 100 time steps).</param>
    /// <param name="chainLength">Number of thermostats in the chain (3 by default).</param>
    public NoseHooverChain(ICalculator calculator, double timeStep, double temperature, double period, int chainLength = 3)
        : base(calculator, timeStep)
    {
        if (!(temperature > 0)) throw new ArgumentOutOfRangeException(nameof(temperature), "Nosé–Hoover needs a positive temperature");
        if (!(period > 0)) throw new ArgumentOutOfRangeException(nameof(period));
        if (chainLength < 1) throw new ArgumentOutOfRangeException(nameof(chainLength));
        Temperature = temperature;
        Period = period;
        _xi = new double[chainLength];
        _vxi = new double[chainLength];
        _q = new double[chainLength];
    }

    public double Temperature { get; }
    public double Period { get; }
    public int ChainLength => _xi.Length;
    public int ChainSubsteps { get; init; } = 1;

    public ReadOnlySpan<double> ChainPositions => _xi;
    public ReadOnlySpan<double> ChainVelocities => _vxi;

    private static double[] BuildYoshida()
    {
        double w1 = 1.0 / (2.0 - Math.Cbrt(2.0));
        return [w1, 1 - 2 * w1, w1];
    }

    public override void Initialize(MdState state)
    {
        base.Initialize(state);
        _kT = MdUnits.Boltzmann * Temperature;
        double tau2 = Period * Period;
        _q[0] = state.DegreesOfFreedom * _kT * tau2;
        for (int j = 1; j < _q.Length; j++) _q[j] = _kT * tau2;
    }

    public override void Step(MdState s)
    {
        if (_kT == 0) throw new InvalidOperationException("call Initialize before Step");
        double h = TimeStep;
        HalfChain(s);
        KickDrift(s, 0.5 * h, h);
        UpdateForces(s);
        Kick(s, 0.5 * h);
        HalfChain(s);
        Advance(s);
    }

    /// <summary>exp(iL_NHC h/2) (Martyna et al. 1996, appendix): chain velocities inward, particle scaling, chain outward.</summary>
    private void HalfChain(MdState s)
    {
        int m = _xi.Length;
        double nfkT = s.DegreesOfFreedom * _kT;
        double kin2 = 2 * s.KineticEnergy;
        double scale = 1.0;
        for (int n = 0; n < ChainSubsteps; n++)
            foreach (double w in Yoshida)
            {
                double d = w * TimeStep / ChainSubsteps;
                // outermost thermostat
                _vxi[m - 1] += 0.25 * d * Force(m - 1, kin2, nfkT);
                for (int j = m - 2; j >= 0; j--)
                {
                    double e = Math.Exp(-0.125 * d * _vxi[j + 1]);
                    _vxi[j] = (_vxi[j] * e + 0.25 * d * Force(j, kin2, nfkT)) * e;
                }
                double a = Math.Exp(-0.5 * d * _vxi[0]);
                scale *= a;
                kin2 *= a * a;
                for (int j = 0; j < m; j++) _xi[j] += 0.5 * d * _vxi[j];
                for (int j = 0; j < m - 1; j++)
                {
                    double e = Math.Exp(-0.125 * d * _vxi[j + 1]);
                    _vxi[j] = (_vxi[j] * e + 0.25 * d * Force(j, kin2, nfkT)) * e;
                }
                _vxi[m - 1] += 0.25 * d * Force(m - 1, kin2, nfkT);
            }
        var v = s.Velocities;
        for (int i = 0; i < v.Length; i++) v[i] = scale * v[i];
    }

    /// <summary>G_j: the force on chain element j (1/fs²).</summary>
    private double Force(int j, double kin2, double nfkT) =>
        j == 0 ? (kin2 - nfkT) / _q[0] : (_q[j - 1] * _vxi[j - 1] * _vxi[j - 1] - _kT) / _q[j];

    public override double ConservedEnergy(MdState s)
    {
        double e = s.TotalEnergy;
        for (int j = 0; j < _xi.Length; j++)
            e += 0.5 * _q[j] * _vxi[j] * _vxi[j] + (j == 0 ? s.DegreesOfFreedom * _kT : _kT) * _xi[j];
        return e;
    }
}
