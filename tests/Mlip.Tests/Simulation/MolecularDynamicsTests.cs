using Mlip.IO;
using Mlip.Simulation;
using Mlip.Structures;
using Xunit.Abstractions;

namespace Mlip.Tests.Simulation;

public sealed class MolecularDynamicsTests(ITestOutputHelper output)
{
    private static readonly LennardJonesCalculator Lj = LennardJonesCalculator.Argon();

    /// <summary>256-atom fcc argon (4×4×4 conventional cells).</summary>
    private static MdState ArgonSolid(double a = 5.30) => new(Crystals.Supercell(Crystals.Fcc("Ar", a), 4, 4, 4));

    [Fact]
    public void UnitConversionFollowsCodata()
    {
        Assert.Equal(103.642697, MdUnits.EvPerAmuAngstrom2PerFs2, 5);
        Assert.Equal(160.2176634, MdUnits.GpaPerEvPerCubicAngstrom, 6);
        Assert.Equal(Stress.EvPerCubicAngstromInGpa, MdUnits.GpaPerEvPerCubicAngstrom, 5); // Stress uses CODATA 2014 digits
    }

    [Fact]
    public void MaxwellBoltzmannGivesExactTemperatureAndZeroMomentum()
    {
        var s = ArgonSolid();
        MaxwellBoltzmann.Initialize(s, 123.4, seed: 7);
        Assert.Equal(123.4, s.Temperature, 10);
        var p = s.Momentum();
        Assert.True(p.Norm < 1e-10, $"momentum {p}");
        var s2 = ArgonSolid();
        MaxwellBoltzmann.Initialize(s2, 123.4, seed: 7);
        Assert.Equal(s.Velocities, s2.Velocities);
    }

    [Fact]
    public void LennardJonesStressMatchesEnergyStrainDerivative()
    {
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Ar", 5.4), 3, 3, 3), 0.1, 3);
        var sigma = Lj.Calculate(s).Stress!.Value.ToEvPerCubicAngstrom();
        double h = 1e-5;
        for (int a = 0; a < 3; a++)
        {
            double[] e = new double[9]; e[4 * a] = h;
            double ep = Lj.Calculate(Crystals.Deform(s, Matrix3.FromArray(e)), false, false).Energy;
            e[4 * a] = -h;
            double em = Lj.Calculate(Crystals.Deform(s, Matrix3.FromArray(e)), false, false).Energy;
            Assert.Equal((ep - em) / (2 * h) / s.Volume, sigma[a, a], 8);
        }
    }

    private sealed record Series(List<double> Time, List<double> Temperature, List<double> Conserved, List<double> Pressure, List<double> Volume);

    private static Series Run(IIntegrator integrator, MdState state, int steps)
    {
        var series = new Series([], [], [], [], []);
        var md = new MolecularDynamics(integrator, state)
        {
            Observer = s =>
            {
                series.Time.Add(s.Time);
                series.Temperature.Add(s.Temperature);
                series.Conserved.Add(integrator.ConservedEnergy(s));
                series.Pressure.Add(s.Pressure);
                series.Volume.Add(s.Volume);
            },
        };
        md.Run(steps);
        return series;
    }

    private static double MeanOfLastHalf(List<double> x) => x.Skip(x.Count / 2).Average();

    /// <summary>Least-squares slope of y(t).</summary>
    private static double Slope(List<double> t, List<double> y)
    {
        double tm = t.Average(), ym = y.Average(), num = 0, den = 0;
        for (int i = 0; i < t.Count; i++) { num += (t[i] - tm) * (y[i] - ym); den += (t[i] - tm) * (t[i] - tm); }
        return num / den;
    }

    private static double Rms(List<double> y)
    {
        double m = y.Average();
        return Math.Sqrt(y.Sum(v => (v - m) * (v - m)) / y.Count);
    }

    [Fact]
    public void VelocityVerletConservesEnergyWithErrorsScalingAsDtSquared()
    {
        double[] dts = [4.0, 2.0];
        var rms = new double[2];
        for (int k = 0; k < 2; k++)
        {
            var s = ArgonSolid();
            MaxwellBoltzmann.Initialize(s, 60, seed: 1);
            var series = Run(new VelocityVerlet(Lj, dts[k]), s, (int)(1500 / dts[k]));
            double drift = Slope(series.Time, series.Conserved) * 1000 / s.Count; // eV/atom/ps
            rms[k] = Rms(series.Conserved) / s.Count;
            output.WriteLine($"dt={dts[k]} fs: drift {drift:E3} eV/atom/ps, rms {rms[k]:E3} eV/atom, T {series.Temperature[^1]:F1} K");
            Assert.True(Math.Abs(drift) < 1e-5, $"drift {drift} eV/atom/ps at dt {dts[k]}");
        }
        double ratio = rms[0] / rms[1];
        output.WriteLine($"fluctuation ratio dt 4/2: {ratio:F2}");
        Assert.InRange(ratio, 3.0, 5.0);
    }

    [Fact]
    public void LangevinReachesAndHoldsTargetTemperature()
    {
        var s = ArgonSolid();
        MaxwellBoltzmann.Initialize(s, 20, seed: 2);
        var series = Run(new Langevin(Lj, 4.0, temperature: 40, friction: 0.01, seed: 11), s, 1000);
        double mean = MeanOfLastHalf(series.Temperature);
        output.WriteLine($"Langevin mean T over last 2 ps: {mean:F2} K");
        Assert.InRange(mean, 40 * 0.98, 40 * 1.02);
    }

    [Fact]
    public void NoseHooverChainReachesAndHoldsTargetTemperatureAndConservesItsEnergy()
    {
        var s = ArgonSolid();
        MaxwellBoltzmann.Initialize(s, 20, seed: 3);
        var nhc = new NoseHooverChain(Lj, 4.0, temperature: 40, period: 100);
        var series = Run(nhc, s, 1000);
        double mean = MeanOfLastHalf(series.Temperature);
        double drift = Slope(series.Time, series.Conserved) * 1000 / s.Count;
        output.WriteLine($"NHC mean T over last 2 ps: {mean:F2} K, conserved drift {drift:E3} eV/atom/ps, rms {Rms(series.Conserved) / s.Count:E3}");
        Assert.InRange(mean, 40 * 0.98, 40 * 1.02);
        Assert.True(Math.Abs(drift) < 1e-5, $"NHC conserved-energy drift {drift}");
    }

    [Theory]
    [InlineData(false, 0.0)]
    [InlineData(true, 0.2)]
    public void BerendsenNptBringsPressureToTarget(bool anisotropic, double target)
    {
        var s = ArgonSolid(a: 5.45); // expanded: starts under tension
        MaxwellBoltzmann.Initialize(s, 40, seed: 4);
        var integrator = new Langevin(Lj, 4.0, 40, 0.01, seed: 5)
        {
            Barostat = new BerendsenBarostat(target, period: 400, compressibility: 0.3, anisotropic),
        };
        var series = Run(integrator, s, 1000);
        double p0 = series.Pressure[0], mean = MeanOfLastHalf(series.Pressure);
        output.WriteLine($"P start {p0:F4} GPa, mean over last half {mean:F4} GPa (target {target}); V {series.Volume[0]:F1} -> {series.Volume[^1]:F1} Å³");
        Assert.True(Math.Abs(p0 - target) > 0.1);
        Assert.True(Math.Abs(mean - target) < 0.03, $"mean pressure {mean} GPa, target {target}");
    }

    [Fact]
    public void SameSeedReproducesTheRun()
    {
        Vec3[] Once(int seed)
        {
            var s = ArgonSolid();
            MaxwellBoltzmann.Initialize(s, 40, seed: 9);
            new MolecularDynamics(new Langevin(Lj, 4.0, 40, 0.01, seed), s).Run(50);
            return s.Positions;
        }
        Assert.Equal(Once(1), Once(1));
        Assert.NotEqual(Once(1), Once(2));
    }

    [Fact]
    public void ThermoLogAndTrajectoryAreWrittenAndReadable()
    {
        string dir = TestPaths.TempDir();
        string log = Path.Combine(dir, "thermo.csv"), traj = Path.Combine(dir, "md.extxyz");
        var s = ArgonSolid();
        MaxwellBoltzmann.Initialize(s, 40, seed: 1);
        var reports = new List<MdProgress>();
        using (var thermo = new ThermoLog(log))
        using (var writer = new TrajectoryWriter(traj))
        {
            var md = new MolecularDynamics(new VelocityVerlet(Lj, 2.0), s)
            {
                Log = thermo, LogInterval = 5, Trajectory = writer, TrajectoryInterval = 10,
                Progress = new SyncProgress(reports.Add), ProgressInterval = 10,
            };
            md.Run(30);
        }
        var lines = File.ReadAllLines(log);
        Assert.Equal(ThermoLog.Header, lines[0]);
        Assert.Equal(1 + 7, lines.Length); // steps 0, 5, ..., 30
        Assert.Equal(3, reports.Count);
        var frames = StructureIO.Read(traj, "extxyz");
        Assert.Equal(4, frames.Count);    // steps 0, 10, 20, 30
        var last = frames[^1];
        Assert.Equal(s.Count, last.Count);
        Assert.Equal(s.PotentialEnergy, last.Energy!.Value, 9);
        Assert.NotNull(last.Forces);
        Assert.Equal(s.Stress!.Value.Xx, last.Stress!.Value.Xx, 6);
        Assert.True(last.AtomArrays.ContainsKey("velocities"));
        Assert.Equal(s.Velocities[5].Y, last.AtomArrays["velocities"].Of(5)[1], 12);
        Assert.Equal(s.Positions[7].X, last.Positions[7].X, 9);
        var restart = new MdState(last); // velocities come back from the frame
        Assert.Equal(s.Velocities[5].Y, restart.Velocities[5].Y, 12);
        Assert.Equal(s.Temperature, restart.Temperature, 8);
        Directory.Delete(dir, recursive: true);
    }

    private sealed class SyncProgress(Action<MdProgress> report) : IProgress<MdProgress>
    {
        public void Report(MdProgress value) => report(value);
    }
}
