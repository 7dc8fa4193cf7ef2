using System.Diagnostics;
using Mlip.Calculators;
using Mlip.Data;
using Mlip.Structures;
using Xunit.Abstractions;

namespace Mlip.Tests.DataSets;

/// <summary>
/// The OLCAO-form per-atom target: the closed form against an independent numerical route (spherical
/// average by quadrature over directions, radial least squares on a grid), invariance under rotation,
/// translation and permutation, and the generated data set (deterministic, fast, every group present).
/// </summary>
public sealed class GaussianPotentialTargetTests(ITestOutputHelper output)
{
    /// <summary>
    /// Numerical spherical average (Gauss–Legendre in cos θ × uniform φ) of the neighbours' potentials,
    /// least-squares fitted on a radial grid with weight r²: the same coefficients as the closed form.
    /// </summary>
    [Fact]
    public void ClosedFormMatchesNumericalSphericalAverageAndFit()
    {
        // 6 exponents 0.15 .. 20 bohr^-2: well resolved by a radial grid of 0.002 bohr
        var alphas = GaussianPotentialTarget.GeometricExponents(6, 0.15, 20);
        var target = new GaussianPotentialTarget(alphas, 5.5);
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.43), 2, 2, 2), 0.15, 3);
        var closed = target.Compute(s);

        int atom = 7;
        var nl = Mlip.Neighbors.NeighborList.Build(s, 5.5);
        var vectors = nl.VectorsOf(atom).ToArray();
        var dist = nl.DistancesOf(atom).ToArray();
        var pot = ModelAtomicPotential.For(14);
        const double bohr = GaussianPotentialTarget.BohrInAngstrom;

        // Gauss-Legendre nodes for u = cos(theta)
        int nu = 32, nphi = 64;
        var (u, wu) = GaussLegendre(nu);
        double SphericalAverage(double r)
        {
            double sum = 0;
            for (int a = 0; a < nu; a++)
            {
                double st = Math.Sqrt(1 - u[a] * u[a]);
                for (int b = 0; b < nphi; b++)
                {
                    double phi = 2 * Math.PI * b / nphi;
                    var x = new Vec3(r * st * Math.Cos(phi), r * st * Math.Sin(phi), r * u[a]);
                    double v = 0;
                    for (int p = 0; p < vectors.Length; p++)
                    {
                        var d = vectors[p] * (1 / bohr);
                        var diff = x - d;
                        double q2 = diff.X * diff.X + diff.Y * diff.Y + diff.Z * diff.Z;
                        double fc = 0.5 * (1 + Math.Cos(Math.PI * dist[p] / 5.5));
                        for (int m = 0; m < pot.Coefficients.Length; m++) v += fc * pot.Coefficients[m] * Math.Exp(-pot.Exponents[m] * q2);
                    }
                    sum += wu[a] * v / nphi;
                }
            }
            return sum / 2;
        }

        // radial least squares: minimise sum_g r_g^2 h (f(r_g) - sum_k A_k e^{-a_k r_g^2})^2 on [0, 16] bohr (f ~ 1e-12 beyond)
        int k = alphas.Length, points = 800;
        double h = 16.0 / points;
        var f = new double[points];
        Parallel.For(0, points, g => f[g] = SphericalAverage((g + 0.5) * h));
        var ata = new double[k, k];
        var atb = new double[k];
        for (int g = 0; g < points; g++)
        {
            double r = (g + 0.5) * h, w = r * r * h;
            var basis = alphas.Select(a => Math.Exp(-a * r * r)).ToArray();
            for (int i = 0; i < k; i++)
            {
                atb[i] += w * basis[i] * f[g];
                for (int j = 0; j < k; j++) ata[i, j] += w * basis[i] * basis[j];
            }
        }
        var numeric = SolveDense(ata, atb);
        for (int i = 0; i < k; i++)
        {
            double scale = Math.Abs(closed[atom * k + i]) + 1e-3;
            output.WriteLine($"A_{i}: closed {closed[atom * k + i]:E10}  numeric {numeric[i]:E10}");
            Assert.True(Math.Abs(closed[atom * k + i] - numeric[i]) < 1e-7 * scale, $"A_{i}: closed {closed[atom * k + i]} vs numeric {numeric[i]}");
        }
    }

    /// <summary>The coefficient metric the network's function loss uses is the radial-grid norm of the reconstructed V(r).</summary>
    [Fact]
    public void GramMetricIsTheRadialGridNorm()
    {
        var alphas = GaussianPotentialTarget.GeometricExponents(16);
        var g = GaussianExpansion.Gram(alphas);
        var rng = new Random(1);
        var a = alphas.Select(_ => rng.NextDouble() - 0.5).ToArray();
        var p = a.Select(x => x + 0.01 * (rng.NextDouble() - 0.5)).ToArray();
        double num = 0, den = 0;
        for (int k = 0; k < 16; k++)
            for (int l = 0; l < 16; l++) { num += (p[k] - a[k]) * g[k * 16 + l] * (p[l] - a[l]); den += a[k] * g[k * 16 + l] * a[l]; }
        Assert.Equal(GaussianExpansion.RelativeL2Error(p, a, alphas), Math.Sqrt(num / den), 12);
    }

    [Fact]
    public void InvariantUnderRotationTranslationAndPermutation()
    {
        var target = new GaussianPotentialTarget(GaussianPotentialTarget.GeometricExponents(16), 5.5);
        var s = Crystals.Rattle(Crystals.Supercell(Crystals.Diamond("Si", 5.43), 2, 2, 2), 0.1, 9);
        var a = target.Compute(s);
        double c = Math.Cos(0.7), sn = Math.Sin(0.7);
        var rot = new Matrix3(c, -sn, 0, sn, c, 0, 0, 0, 1) * new Matrix3(1, 0, 0, 0, Math.Cos(0.3), -Math.Sin(0.3), 0, Math.Sin(0.3), Math.Cos(0.3));
        int n = s.Count;
        var perm = Enumerable.Range(0, n).Reverse().ToArray();
        var moved = new Structure(s.Cell * rot, [.. perm.Select(i => s.Positions[i] * rot + new Vec3(0.3, -1.1, 2.0))], [.. perm.Select(i => s.AtomicNumbers[i])], s.Pbc);
        var b = target.Compute(moved);
        int t = target.Terms;
        for (int i = 0; i < n; i++)
            for (int q = 0; q < t; q++)
            {
                double x = a[perm[i] * t + q], y = b[i * t + q];
                Assert.True(Math.Abs(x - y) <= 1e-9 * (Math.Abs(x) + 1), $"atom {i} term {q}: {x} vs {y}");
            }
        output.WriteLine($"Gram condition number (16 terms): {target.ConditionNumber:E3}");
    }

    [Fact]
    public void GeneratedDataSetIsDeterministicAndHasEveryGroup()
    {
        var sw = ClassicalPotentials.Parse("sw");
        var options = new PerAtomDatasetOptions { Seed = 4, ScaledCells = 3, CrystalCells = 1, InterstitialCells = 1, VacancyCells = 1, AmorphousCells = 1, LiquidSnapshots = 1, MeltSteps = 1000, QuenchSteps = 1000, QuenchSnapshots = 1 };
        var clock = Stopwatch.StartNew();
        var (train, heldOut) = PerAtomDatasetGenerator.Generate(sw, options);
        output.WriteLine($"generated {train.Count} + {heldOut.Count} structures in {clock.Elapsed.TotalSeconds:F2} s");
        var (train2, heldOut2) = PerAtomDatasetGenerator.Generate(sw, options);
        Assert.Equal(new[] { "amorphous", "crystal", "interstitial", "liquid", "quench", "scaled", "vacancy" }, train.Select(s => s.Group!).Distinct().Order(StringComparer.Ordinal).ToArray());
        Assert.Equal("amorphous_test", Assert.Single(heldOut).Group);
        Assert.Equal(65, train.First(s => s.Group == "interstitial").Count);
        Assert.Equal(63, train.First(s => s.Group == "vacancy").Count);
        foreach (var (x, y) in train.Concat(heldOut).Zip(train2.Concat(heldOut2)))
        {
            Assert.Equal(x.Positions, y.Positions);
            Assert.Equal(x.AtomArrays[GaussianPotentialTarget.ArrayName].Values, y.AtomArrays[GaussianPotentialTarget.ArrayName].Values);
            Assert.Equal(16, x.AtomArrays[GaussianPotentialTarget.ArrayName].Components);
        }
        // the glass is not the crystal: its coordination numbers spread
        var glass = heldOut[0];
        var nl = Mlip.Neighbors.NeighborList.Build(glass, 2.9);
        var coordination = Enumerable.Range(0, glass.Count).Select(nl.NeighborCount).ToArray();
        var liq = train.First(s => s.Group == "liquid");
        var lnl = Mlip.Neighbors.NeighborList.Build(liq, 2.9);
        output.WriteLine($"liquid E/N {liq.Energy / liq.Count:F4} eV, coordination {string.Join(" ", Enumerable.Range(0, liq.Count).Select(lnl.NeighborCount).GroupBy(x => x).OrderBy(x => x.Key).Select(x => $"{x.Key}:{x.Count()}"))}");
        output.WriteLine($"held-out glass: coordination {string.Join(" ", coordination.GroupBy(x => x).OrderBy(x => x.Key).Select(x => $"{x.Key}:{x.Count()}"))}, E/N {glass.Energy / glass.Count:F4} eV");
        Assert.True(coordination.Distinct().Count() > 1);
    }

    private static (double[] Nodes, double[] Weights) GaussLegendre(int n)
    {
        var x = new double[n];
        var w = new double[n];
        for (int i = 0; i < n; i++)
        {
            double z = Math.Cos(Math.PI * (i + 0.75) / (n + 0.5)), pp = 0;
            for (int it = 0; it < 100; it++)
            {
                double p1 = 1, p2 = 0;
                for (int j = 0; j < n; j++) { double p3 = p2; p2 = p1; p1 = ((2 * j + 1) * z * p2 - j * p3) / (j + 1); }
                pp = n * (z * p1 - p2) / (z * z - 1);
                double dz = p1 / pp;
                z -= dz;
                if (Math.Abs(dz) < 1e-15) break;
            }
            x[i] = z;
            w[i] = 2 / ((1 - z * z) * pp * pp);
        }
        return (x, w);
    }

    private static double[] SolveDense(double[,] a, double[] b)
    {
        int n = b.Length;
        var m = (double[,])a.Clone();
        var x = (double[])b.Clone();
        for (int c = 0; c < n; c++)
        {
            int p = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(m[r, c]) > Math.Abs(m[p, c])) p = r;
            for (int j = 0; j < n; j++) (m[c, j], m[p, j]) = (m[p, j], m[c, j]);
            (x[c], x[p]) = (x[p], x[c]);
            for (int r = c + 1; r < n; r++)
            {
                double f = m[r, c] / m[c, c];
                for (int j = c; j < n; j++) m[r, j] -= f * m[c, j];
                x[r] -= f * x[c];
            }
        }
        for (int r = n - 1; r >= 0; r--)
        {
            double s = x[r];
            for (int j = r + 1; j < n; j++) s -= m[r, j] * x[j];
            x[r] = s / m[r, r];
        }
        return x;
    }
}
