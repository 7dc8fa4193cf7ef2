using Mlip.Calculators;
using Mlip.Simulation;
using Mlip.Structures;

namespace Mlip.Tests.Simulation;

public class RelaxElasticTests
{
    private const double Eps = 0.0104, Sig = 3.4, Rc = 8.75;
    private static LennardJones Lj() => new(Eps, Sig, Rc, shifted: true);

    /// <summary>fcc LJ lattice constant in closed form for the shells inside the cutoff: a0 = σ (2 S12/S6)^(1/6), S_p = Σ n_k (k/2)^(−p/2).</summary>
    private static double AnalyticFccLatticeConstant()
    {
        int[] counts = [12, 6, 24, 12, 24, 8, 48, 6];
        double a = 5.3;
        for (int it = 0; it < 5; it++)
        {
            double s12 = 0, s6 = 0;
            for (int k = 1; k <= counts.Length; k++)
            {
                if (a * Math.Sqrt(k / 2.0) >= Rc) continue;
                s12 += counts[k - 1] * Math.Pow(k / 2.0, -6);
                s6 += counts[k - 1] * Math.Pow(k / 2.0, -3);
            }
            a = Sig * Math.Pow(2 * s12 / s6, 1.0 / 6);
        }
        return a;
    }

    [Fact]
    public void ForcesMatchFiniteDifferencesAndStressSign()
    {
        var calc = Lj();
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Ar", 5.2), 2, 2, 2), 0.1, 3);
        var r = calc.Calculate(s);
        double h = 1e-5;
        for (int k = 0; k < 3; k++)
        {
            var p = s.Clone(); p.Positions[5] += new Vec3(k == 0 ? h : 0, k == 1 ? h : 0, k == 2 ? h : 0);
            var m = s.Clone(); m.Positions[5] -= new Vec3(k == 0 ? h : 0, k == 1 ? h : 0, k == 2 ? h : 0);
            double fd = -(calc.Calculate(p).Energy - calc.Calculate(m).Energy) / (2 * h);
            Assert.Equal(fd, r.Forces![5][k], 6);
        }
        var ep = Crystals.Deform(s, Matrix3.Diagonal(h, 0, 0));
        var em = Crystals.Deform(s, Matrix3.Diagonal(-h, 0, 0));
        double sxx = (calc.Calculate(ep).Energy - calc.Calculate(em).Energy) / (2 * h) / s.Volume * Stress.EvPerCubicAngstromInGpa;
        Assert.Equal(sxx, r.Stress!.Value.Xx, 5);
    }

    [Fact]
    public void FireAndLbfgsRelaxRattledFccToTheSameEnergy()
    {
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Fcc("Ar", 5.25), 2, 2, 2), 0.15, 7);
        var fire = Relaxation.Relax(Lj(), s, new RelaxOptions { Algorithm = RelaxAlgorithm.Fire, Fmax = 1e-4, MaxSteps = 5000 });
        var lbfgs = Relaxation.Relax(Lj(), s, new RelaxOptions { Algorithm = RelaxAlgorithm.Lbfgs, Fmax = 1e-4, MaxSteps = 5000 });
        Assert.True(fire.Converged, $"FIRE fmax {fire.Fmax}");
        Assert.True(lbfgs.Converged, $"LBFGS fmax {lbfgs.Fmax}");
        Assert.True(fire.Fmax < 1e-4 && lbfgs.Fmax < 1e-4);
        Assert.True(Math.Abs(fire.Energy - lbfgs.Energy) < 1e-6, $"{fire.Energy} vs {lbfgs.Energy}");
        var perfect = Lj().Calculate(Crystals.Supercell(Crystals.Fcc("Ar", 5.25), 2, 2, 2)).Energy;
        Assert.True(Math.Abs(perfect - lbfgs.Energy) < 1e-6);
    }

    [Theory]
    [InlineData(RelaxAlgorithm.Fire, CellRelaxation.Full)]
    [InlineData(RelaxAlgorithm.Lbfgs, CellRelaxation.Full)]
    [InlineData(RelaxAlgorithm.Lbfgs, CellRelaxation.Isotropic)]
    public void CellRelaxationRecoversAnalyticLatticeConstant(RelaxAlgorithm algorithm, CellRelaxation mode)
    {
        double a0 = AnalyticFccLatticeConstant();
        var s = Crystals.Fcc("Ar", a0);
        var strain = mode == CellRelaxation.Isotropic ? Matrix3.Diagonal(0.03, 0.03, 0.03) : new Matrix3(0.03, 0.01, 0, 0.01, -0.02, 0.005, 0, 0.005, 0.01);
        var start = Crystals.Rattle(Crystals.Deform(s, strain), 0.02, 1);
        var log = new StringWriter();
        var r = Relaxation.Relax(Lj(), start, new RelaxOptions { Algorithm = algorithm, Cell = mode, Fmax = 1e-6, Smax = 1e-5, MaxSteps = 5000, Log = log });
        Assert.True(r.Converged, log.ToString()[^Math.Min(2000, log.ToString().Length)..]);
        double a = Math.Cbrt(r.Volume / 1.0);
        Assert.True(Math.Abs(a0 - a) < 1e-4, $"a {a} vs {a0}");
        // cell vectors are a0 long and orthogonal (up to a rigid rotation)
        for (int i = 0; i < 3; i++) Assert.True(Math.Abs(a0 - r.Structure.Cell.Row(i).Norm) < 1e-4);
        var st = r.Stress!.Value;
        foreach (double v in st.ToVoigt()) Assert.True(Math.Abs(v) < 1e-4, $"stress {v}");
    }

    [Fact]
    public void CellRelaxationUnderPressureShrinksAndFixedVolumeKeepsVolume()
    {
        double a0 = AnalyticFccLatticeConstant();
        var s = Crystals.Fcc("Ar", a0);
        var p = Relaxation.Relax(Lj(), s, new RelaxOptions { Algorithm = RelaxAlgorithm.Lbfgs, Cell = CellRelaxation.Full, Pressure = 0.5, Smax = 1e-5, Fmax = 1e-6 });
        Assert.True(p.Converged);
        Assert.Equal(0.5, p.Stress!.Value.Pressure, 4);
        Assert.True(p.Volume < s.Volume);

        var sheared = Crystals.Deform(s, new Matrix3(0.02, 0, 0, 0, -0.02, 0, 0, 0, 0));
        var v = Relaxation.Relax(Lj(), sheared, new RelaxOptions { Algorithm = RelaxAlgorithm.Fire, Cell = CellRelaxation.Full, FixVolume = true, Smax = 1e-4, Fmax = 1e-5, MaxSteps = 3000 });
        Assert.True(v.Converged);
        Assert.Equal(sheared.Volume, v.Volume, 8);
        var st = v.Stress!.Value;
        Assert.True(Math.Abs(st.Xx - st.Yy) < 2e-4 && Math.Abs(st.Yy - st.Zz) < 2e-4);
    }
}

public class EquationOfStateElasticTests
{
    private const double Eps = 0.0104, Sig = 3.4, Rc = 8.75;
    private static LennardJones Lj() => new(Eps, Sig, Rc, shifted: true);

    [Fact]
    public void BirchMurnaghanFitRecoversExactParameters()
    {
        double e0 = -5.4321, v0 = 40.123, b0 = 98.7, bp = 4.3;
        var v = new double[11]; var e = new double[11];
        for (int k = 0; k < 11; k++) { v[k] = v0 * (0.93 + 0.015 * k); e[k] = EquationOfState.BirchMurnaghanEnergy(v[k], e0, v0, b0, bp); }
        var fit = EquationOfState.FitBirchMurnaghan(v, e);
        Assert.True(Math.Abs(fit.E0 - e0) < 1e-8, $"E0 {fit.E0}");
        Assert.True(Math.Abs(fit.V0 - v0) / v0 < 1e-8, $"V0 {fit.V0}");
        Assert.True(Math.Abs(fit.B0 - b0) / b0 < 1e-8, $"B0 {fit.B0}");
        Assert.True(Math.Abs(fit.B0Prime - bp) < 1e-8, $"B0' {fit.B0Prime}");
    }

    [Fact]
    public void LennardJonesFccElasticConstantsAreCubicSatisfyCauchyAndMatchEos()
    {
        var s = Crystals.Fcc("Ar", 5.3);
        var el = ElasticConstants.Compute(Lj(), s);
        var c = el.C;
        double scale = el.C11;
        Assert.True(Math.Abs(c[0][0] - c[1][1]) < 1e-4 * scale && Math.Abs(c[0][0] - c[2][2]) < 1e-4 * scale);
        Assert.True(Math.Abs(c[0][1] - c[0][2]) < 1e-4 * scale && Math.Abs(c[0][1] - c[1][2]) < 1e-4 * scale);
        Assert.True(Math.Abs(c[3][3] - c[4][4]) < 1e-4 * scale && Math.Abs(c[3][3] - c[5][5]) < 1e-4 * scale);
        for (int i = 0; i < 3; i++) for (int j = 3; j < 6; j++) Assert.True(Math.Abs(c[i][j]) < 1e-4 * scale, $"C{i}{j} {c[i][j]}");
        Assert.True(Math.Abs(c[3][4]) < 1e-4 * scale && Math.Abs(c[3][5]) < 1e-4 * scale && Math.Abs(c[4][5]) < 1e-4 * scale);
        Assert.True(Math.Abs(el.C12 - el.C44) / el.C44 < 0.01, $"Cauchy: C12 {el.C12} C44 {el.C44}");
        Assert.True(el.C11 > el.C12 && el.C44 > 0);
        Assert.Equal(el.BulkVoigt, el.BulkReuss, 6); // cubic: K_V = K_R
        double k = (el.C11 + 2 * el.C12) / 3;

        var relaxed = Relaxation.Relax(Lj(), s, new RelaxOptions { Algorithm = RelaxAlgorithm.Lbfgs, Cell = CellRelaxation.Isotropic, Smax = 1e-6, Fmax = 1e-6 }).Structure;
        string png = Path.Combine(Path.GetTempPath(), $"mlip-eos-{Guid.NewGuid():N}.png");
        var eos = EquationOfState.Compute(Lj(), relaxed, new EquationOfStateOptions { PlotPath = png });
        Assert.True(File.Exists(png)); File.Delete(png);
        Assert.True(Math.Abs(eos.V0 - relaxed.Volume) / relaxed.Volume < 1e-3, $"V0 {eos.V0} vs {relaxed.Volume}");
        Assert.True(Math.Abs(eos.B0 - k) / k < 0.01, $"EOS B0 {eos.B0} vs (C11+2C12)/3 {k}");
    }
}
