using Mlip.Calculators;
using Mlip.Structures;

namespace Mlip.Tests.Pinn;

/// <summary>
/// The PINN bond-order potential at fixed parameters: forces and stress against finite differences of
/// its energy (one and two elements), ∂E/∂p against finite differences in the parameters, screening
/// beyond R_c, and invariance under rotation, permutation and supercells.
/// </summary>
public class PinnBopTests
{
    /// <summary>Two elements with distinct, asymmetric parameters (derived from the Si example).</summary>
    public static PinnBop SiGe()
    {
        var layout = new PinnBopLayout(2);
        var rng = new Random(4);
        var sets = new double[2][];
        for (int t = 0; t < 2; t++)
        {
            var p = new double[layout.SetSize];
            for (int b = 0; b < 2; b++)
            {
                p[layout.A(b)] = 6.8 + 0.3 * rng.NextDouble(); p[layout.Alpha(b)] = 2.6 + 0.2 * rng.NextDouble();
                p[layout.B(b)] = 4.2 + 0.3 * rng.NextDouble(); p[layout.Beta(b)] = 1.6 + 0.2 * rng.NextDouble();
                for (int c = 0; c < 2; c++)
                {
                    p[layout.H(b, c)] = -0.5 + 0.4 * rng.NextDouble();
                    p[layout.Zeta(b, c)] = 0.4 + 0.5 * rng.NextDouble();
                    p[layout.Lambda(b, c)] = 1.2 + 1.0 * rng.NextDouble();
                }
            }
            p[layout.Sigma] = 1.0 + 0.4 * rng.NextDouble();
            sets[t] = p;
        }
        return new PinnBop([14, 32], 4.0, 1.5, sets);
    }

    private static Structure SiCell(int seed) => Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.3),
        new Matrix3(0.02, 0.03, -0.01, 0.0, -0.02, 0.04, 0.01, 0.0, 0.03)), 0.15, seed);

    private static Structure SiGeCell(int seed)
    {
        var s = SiCell(seed);
        for (int i = 0; i < s.Count; i += 3) s.AtomicNumbers[i] = 32;
        return s;
    }

    private static void AssertFd(string what, ICalculator calc, Structure s)
    {
        var r = calc.Calculate(s);
        FiniteDifferences.AssertMatch(what, x => calc.Calculate(x, false, false).Energy, s, r.Forces!, r.Stress, 1e-6, 1e-5);
        Assert.Equal(r.Energy, r.AtomEnergies!.Sum(), 9);
    }

    [Fact]
    public void OneElementForcesAndStressEqualFiniteDifferences() => AssertFd("BOP Si", PinnBop.SiliconExample(), SiCell(1));

    [Fact]
    public void TwoElementForcesAndStressEqualFiniteDifferences() => AssertFd("BOP SiGe", SiGe(), SiGeCell(2));

    [Fact]
    public void CompressedCellAndAFreeCluster()
    {
        // strongly compressed: many screening atoms, bonds near each other
        AssertFd("BOP Si compressed", PinnBop.SiliconExample(), Crystals.Rattle(Crystals.Diamond("Si", 4.6), 0.1, 3));
        // a free cluster (no cell): forces only
        var c = SiCell(4);
        var cluster = new Structure(Matrix3.Diagonal(0, 0, 0), c.Positions[..6], c.AtomicNumbers[..6], PeriodicFlags.None);
        var bop = PinnBop.SiliconExample();
        var r = bop.Calculate(cluster);
        FiniteDifferences.AssertMatch("cluster", x => bop.Calculate(x, false, false).Energy, cluster, r.Forces!, null, 1e-6, 1e-5);
    }

    [Fact]
    public void ParameterGradientEqualsFiniteDifferences()
    {
        var bop = SiGe();
        var s = SiGeCell(5);
        var nl = Mlip.Neighbors.NeighborList.Build(s, bop.Cutoff);
        var kernel = new PinnBopKernel(2, bop.PairCutoff, bop.CutoffRange);
        for (int i = 0; i < 3; i++)
        {
            int start = nl.Offsets[i], m = nl.NeighborCount(i);
            var types = new int[m];
            for (int a = 0; a < m; a++) types[a] = s.AtomicNumbers[nl.Neighbors[start + a]] == 14 ? 0 : 1;
            var p = bop.Parameters[s.AtomicNumbers[i] == 14 ? 0 : 1].ToArray();
            var g = new double[p.Length];
            kernel.Energy(p, nl.VectorsOf(i), nl.DistancesOf(i), types, [], g);
            for (int q = 0; q < p.Length; q++)
            {
                double h = 1e-6, keep = p[q];
                p[q] = keep + h; double ep = kernel.Energy(p, nl.VectorsOf(i), nl.DistancesOf(i), types, [], []);
                p[q] = keep - h; double em = kernel.Energy(p, nl.VectorsOf(i), nl.DistancesOf(i), types, [], []);
                p[q] = keep;
                double fd = (ep - em) / (2 * h);
                Assert.True(Math.Abs(fd - g[q]) <= 1e-6 * Math.Max(1, Math.Abs(fd)), $"atom {i} parameter {q}: analytic {g[q]} vs {fd}");
            }
            Assert.Contains(g, x => Math.Abs(x) > 1e-3);
        }
    }

    [Fact]
    public void ScreeningReachesBeyondTheCutoff()
    {
        // a trimer i-j with k placed just beyond R_c from i but near the i-j bond's far end:
        // k screens i-j although r_ik > R_c, so moving k changes E and the force on k is not zero
        var bop = new PinnBop([14], 4.0, 1.5, [[6.8, 2.6, 4.2, 1.6, -0.33, 1.2, 0.6, 0.1]]); // weak decay λ = 0.1/Å
        var pos = new[] { new Vec3(0, 0, 0), new Vec3(2.4, 0, 0), new Vec3(4.05, 0.3, 0) };
        var s = new Structure(Matrix3.Diagonal(0, 0, 0), pos, [14, 14, 14], PeriodicFlags.None);
        Assert.True(pos[2].Norm > bop.PairCutoff);
        var r = bop.Calculate(s);
        var without = bop.Calculate(new Structure(Matrix3.Diagonal(0, 0, 0), pos[..2], [14, 14], PeriodicFlags.None));
        Assert.True(Math.Abs(without.AtomEnergies![0] - r.AtomEnergies![0]) > 1e-3, $"{without.AtomEnergies![0]} vs {r.AtomEnergies![0]}");
        FiniteDifferences.AssertMatch("trimer", x => bop.Calculate(x, false, false).Energy, s, r.Forces!, null, 1e-6, 1e-5);
    }

    [Fact]
    public void InvariantUnderRotationPermutationAndSupercell()
    {
        var bop = SiGe();
        var s = SiGeCell(6);
        var e = bop.Calculate(s);
        var rng = new Random(3);
        double t = 1.1;
        var rot = new Matrix3(Math.Cos(t), Math.Sin(t), 0, -Math.Sin(t), Math.Cos(t), 0, 0, 0, 1);
        var rotated = s.Clone();
        rotated.Cell = s.Cell * rot;
        for (int i = 0; i < s.Count; i++) rotated.Positions[i] = s.Positions[i] * rot;
        Assert.Equal(e.Energy, bop.Calculate(rotated).Energy, 9);
        var perm = Enumerable.Range(0, s.Count).OrderBy(_ => rng.Next()).ToArray();
        var permuted = new Structure(s.Cell, perm.Select(p => s.Positions[p]).ToArray(), perm.Select(p => s.AtomicNumbers[p]).ToArray(), s.Pbc);
        var pe = bop.Calculate(permuted);
        for (int q = 0; q < s.Count; q++) Assert.Equal(e.AtomEnergies![perm[q]], pe.AtomEnergies![q], 9);
        Assert.Equal(2 * e.Energy, bop.Calculate(Crystals.Supercell(s, 2, 1, 1)).Energy, 8);
    }
}
