using Mlip.Calculators;
using Mlip.Simulation;
using Mlip.Structures;
using Xunit.Abstractions;

namespace Mlip.Tests.Simulation;

public class NebTests(ITestOutputHelper output)
{
    private const double A0 = 5.431;

    /// <summary>Relaxed end points of a vacancy hop in SW Si: 2x2x2 diamond with the atom at the origin removed; the
    /// final state moves the nearest neighbour at (a/4, a/4, a/4) into the vacancy.</summary>
    private static (Structure Initial, Structure Final) VacancyHop()
    {
        lock (Gate)
        {
            if (_ends is not null) return _ends.Value;
            var calc = StillingerWeber.Silicon();
            var perfect = Crystals.Supercell(Crystals.Diamond("Si", A0), 2, 2, 2);
            int vac = Closest(perfect, Vec3.Zero);
            var keep = Enumerable.Range(0, perfect.Count).Where(i => i != vac).ToArray();
            var initial = new Structure(perfect.Cell, [.. keep.Select(i => perfect.Positions[i])], [.. keep.Select(i => perfect.AtomicNumbers[i])], PeriodicFlags.All);
            int hop = Closest(initial, new Vec3(A0 / 4, A0 / 4, A0 / 4));
            // The unrelaxed vacancy is a stationary point of SW (the pair term is flat at the bond length): rattle, then relax.
            var ro = new RelaxOptions { Fmax = 1e-4, MaxSteps = 10000 };
            var a = Relaxation.Relax(calc, Crystals.Rattle(initial, 0.03, 7), ro).Structure;
            // The final state is the exact symmetry image: inversion through the bond centre c maps the vacancy site onto
            // the hopping atom's site; atom j of the final state is the image of the atom whose site maps onto j's site.
            var c = new Vec3(A0 / 8, A0 / 8, A0 / 8);
            var inv = initial.Cell.Inverse();
            var b = a.Clone();
            for (int j = 0; j < initial.Count; j++)
            {
                int i = j == hop ? hop : ClosestPeriodic(initial, inv, 2 * c - initial.Positions[j]);
                b.Positions[j] = 2 * c - a.Positions[i];
            }
            b = b.Wrapped();
            _ends = (a, b);
            return _ends.Value;
        }
    }

    private static readonly object Gate = new();
    private static (Structure, Structure)? _ends;

    private static int ClosestPeriodic(Structure s, Matrix3 inv, Vec3 p)
    {
        int best = -1; double bd = double.MaxValue;
        for (int i = 0; i < s.Count; i++)
        {
            var f = (s.Positions[i] - p) * inv;
            var d = new Vec3(f.X - Math.Round(f.X), f.Y - Math.Round(f.Y), f.Z - Math.Round(f.Z)) * s.Cell;
            if (d.NormSquared < bd) { bd = d.NormSquared; best = i; }
        }
        Assert.True(bd < 0.01);
        return best;
    }

    private static int Closest(Structure s, Vec3 p)
    {
        int best = 0;
        for (int i = 1; i < s.Count; i++) if ((s.Positions[i] - p).NormSquared < (s.Positions[best] - p).NormSquared) best = i;
        return best;
    }

    /// <summary>One atom on E = (x² − 1)² + 2 (y − ½(1 − x²))² + z²: minima at x = ±1, y = 0, a curved path, the saddle at (0, ½, 0) with E = 1 eV exactly.</summary>
    private sealed class DoubleWell : ICalculator
    {
        public string Name => "double well";
        public IReadOnlyList<int> Elements => [14];
        public CalculatorResult Calculate(Structure s, bool forces = true, bool stress = true)
        {
            var r = s.Positions[0];
            double u = r.Y - 0.5 * (1 - r.X * r.X);
            double e = Math.Pow(r.X * r.X - 1, 2) + 2 * u * u + r.Z * r.Z;
            var f = new Vec3(-(4 * r.X * (r.X * r.X - 1) + 4 * u * r.X), -4 * u, -2 * r.Z);
            return new CalculatorResult(e, [f], null);
        }
    }

    private static Structure WellAt(double x)
    {
        var s = new Structure(Matrix3.Diagonal(20, 20, 20), [new Vec3(x, 0, 0)], [14], PeriodicFlags.None);
        return s;
    }

    private NebResult RunWell(int images, double fmax, bool climb = true, NebInterpolation interp = NebInterpolation.Linear)
    {
        var r = Neb.Run(new DoubleWell(), WellAt(-1), WellAt(1), new NebOptions { Images = images, Climb = climb, Fmax = fmax, Interpolation = interp, MaxSteps = 5000 });
        output.WriteLine($"{images} images, fmax {fmax}: Ef {r.ForwardBarrier:F6} Er {r.ReverseBarrier:F6} eV, {r.Steps} steps, converged {r.Converged}; " + string.Join(" ", r.Energies.Select(e => e.ToString("F5"))));
        return r;
    }

    [Fact]
    public void SymmetricPathAndClimbingImageFindTheSaddle()
    {
        foreach (int n in new[] { 5, 7 })
        {
            var r = RunWell(n, 0.02);
            Assert.True(r.Converged);
            int m = r.Energies.Length;
            for (int k = 0; k < m; k++) Assert.Equal(r.Energies[k], r.Energies[m - 1 - k], 1e-3);
            Assert.Equal(m / 2, r.ClimbingImage);
            Assert.True(r.PerpendicularForces[r.ClimbingImage] < 0.02);
            Assert.True(Math.Abs(r.TangentialForces[r.ClimbingImage]) < 0.02);
            Assert.Equal(1.0, r.ForwardBarrier, 1e-3);
            Assert.Equal(0.5, r.Images[r.ClimbingImage].Positions[0].Y, 0.01);
        }
        var tight = RunWell(5, 0.002);
        Assert.Equal(1.0, tight.ForwardBarrier, 1e-5);
        var plain = RunWell(6, 0.02, climb: false);
        Assert.True(plain.ForwardBarrier < 1.0);
        var (s, e) = plain.Spline();
        Assert.Equal(1.0, e.Max(), 0.02); // the spline through the tangential forces recovers the saddle between images
        string png = Path.Combine(Path.GetTempPath(), $"neb-{Guid.NewGuid():N}.png");
        Neb.Plot(png, plain);
        Assert.True(new FileInfo(png).Length > 1000);
        File.Delete(png);
    }

    [Fact]
    public void IdppPathRelaxesAndGivesTheSameBarrier()
    {
        var r = RunWell(5, 0.02, interp: NebInterpolation.Idpp);
        Assert.True(r.Converged);
        Assert.Equal(1.0, r.ForwardBarrier, 1e-3);
    }

    /// <summary>
    /// Vacancy hop in SW Si. In SW the unrelaxed (Td) vacancy is a local minimum (formation 4.34 eV) and the
    /// configuration with the hopping atom half way (the split vacancy) is about 1.5 eV lower, so the band runs
    /// downhill from both ends to the split vacancy: the barrier out of the Td vacancy is tiny.
    /// </summary>
    [Fact]
    public void SwVacancyHopRunsThroughTheSplitVacancy()
    {
        var (a, b) = VacancyHop();
        var calc = StillingerWeber.Silicon();
        double ea = calc.Calculate(a).Energy, eb = calc.Calculate(b).Energy;
        Assert.Equal(ea, eb, 1e-6);
        var sw = new StringWriter();
        var r = Neb.Run(calc, a, b, new NebOptions { Images = 5, Climb = true, Fmax = 0.02, Log = sw, MaxSteps = 3000 });
        output.WriteLine($"SW vacancy hop: Ef {r.ForwardBarrier:F5} Er {r.ReverseBarrier:F5} eV, {r.Steps} steps, converged {r.Converged}; " + string.Join(" ", r.Energies.Select(e => e.ToString("F5"))));
        Assert.True(r.Converged);
        Assert.True(r.Energies[r.Energies.Length / 2] < -1.0);
        Assert.True(r.ForwardBarrier < 0.05);
        Assert.Contains("NEB", sw.ToString());
    }

    [Fact]
    public void LinearInterpolationUsesTheMinimumImage()
    {
        var cell = Matrix3.Diagonal(10, 10, 10);
        var a = new Structure(cell, [new Vec3(0.2, 5, 5), new Vec3(5, 5, 5)], [14, 14], PeriodicFlags.All);
        var b = new Structure(cell, [new Vec3(9.8, 5, 5), new Vec3(5, 5, 5)], [14, 14], PeriodicFlags.All);
        var path = Neb.Interpolate(a, b, 3);
        Assert.Equal(5, path.Length);
        Assert.Equal(0.1, path[1][0].X, 1e-12);
        Assert.Equal(0.0, path[2][0].X, 1e-12);
        Assert.Equal(-0.2, path[4][0].X, 1e-12); // the final end unwrapped: the same site as 9.8
        for (int k = 0; k < 5; k++) Assert.Equal(new Vec3(5, 5, 5), path[k][1]);
    }
}
