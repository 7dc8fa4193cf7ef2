using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Structures;

namespace Mlip.Tests.Descriptors;

/// <summary>
/// Checks any <see cref="IDescriptor"/>: forces and stress from its sparse derivatives against
/// central finite differences of E = Σ_i w_i · X_i, and invariance under rotation, translation,
/// permutation and supercells.
/// </summary>
public static class DescriptorTestKit
{
    /// <summary>
    /// The fused pass of the linear model E_i = Σ_q β_iq X_iq (per-atom weights <paramref name="beta"/>, atoms × features): forces and
    /// stress, the features into <paramref name="values"/> and the atom energies into <paramref name="energies"/>.
    /// </summary>
    public static (Vec3[] Forces, Stress? Stress) LinearFused(IFusedDescriptor d, Structure s, double[] beta, Span<double> values, Span<double> energies)
    {
        int k = d.FeatureCount;
        return d.EnergyAndForces(s, (first, x, e, g) =>
        {
            for (int a = 0; a < e.Length; a++)
            {
                double sum = 0;
                for (int q = 0; q < k; q++) { g[a * k + q] = beta[(first + a) * k + q]; sum += beta[(first + a) * k + q] * x[a * k + q]; }
                e[a] = sum;
            }
        }, values, energies);
    }

    /// <summary>A random triclinic periodic cell with two elements and no atoms closer than <paramref name="minDistance"/>.</summary>
    public static Structure RandomCell(int seed, string[] elements, int atoms = 8, double minDistance = 1.6, double length = 5.5)
    {
        var rng = new Random(seed);
        var cell = new Matrix3(
            length * (0.9 + 0.2 * rng.NextDouble()), 0.5 * (rng.NextDouble() - 0.5), 0.5 * (rng.NextDouble() - 0.5),
            1.0 * (rng.NextDouble() - 0.5), length * (0.9 + 0.2 * rng.NextDouble()), 0.5 * (rng.NextDouble() - 0.5),
            1.0 * (rng.NextDouble() - 0.5), 1.0 * (rng.NextDouble() - 0.5), length * (0.9 + 0.2 * rng.NextDouble()));
        var pos = new List<Vec3>();
        var z = new List<int>();
        int guard = 0;
        while (pos.Count < atoms && guard++ < 100_000)
        {
            var p = new Vec3(rng.NextDouble(), rng.NextDouble(), rng.NextDouble()) * cell;
            var trial = new Structure(cell, [.. pos, p], [.. z, 14], PeriodicFlags.All);
            var nl = Mlip.Neighbors.NeighborList.Build(trial, minDistance);
            if (nl.NeighborCount(pos.Count) > 0) continue;
            pos.Add(p);
            z.Add(Elements.Number(elements[pos.Count % elements.Length]));
        }
        return new Structure(cell, [.. pos], [.. z], PeriodicFlags.All);
    }

    public static double[] RandomWeights(int count, int seed)
    {
        var rng = new Random(seed);
        var w = new double[count];
        for (int i = 0; i < w.Length; i++) w[i] = rng.NextDouble() * 2 - 1;
        return w;
    }

    public static double Energy(IDescriptor d, Structure s, double[] w)
    {
        var set = d.Compute(s, derivatives: false);
        double e = 0;
        for (int q = 0; q < set.Values.Length; q++) e += w[q] * set.Values[q];
        return e;
    }

    /// <summary>Asserts analytic forces and stress equal central differences to <paramref name="relTol"/> relative.</summary>
    public static void AssertForcesAndStressMatchFiniteDifferences(IDescriptor d, Structure s, int seed, double relTol = 1e-6, double h = 1e-5)
    {
        var w = RandomWeights(s.Count * d.FeatureCount, seed);
        var set = d.Compute(s, derivatives: true);
        var (forces, stress) = ForceContraction.Contract(set, w, s.Volume);

        FiniteDifferences.AssertMatch(d.Name, x => Energy(d, x, w), s, forces, stress, relTol, h);
    }

    /// <summary>
    /// Values and derivative blocks of <paramref name="d"/> on a rattled 40-atom Si-O cell are the same bits on 1, 2, 3 and
    /// again 2 threads (parallel work with sums in a fixed order).
    /// </summary>
    public static void AssertSameOnAnyThreadCount(IDescriptor d)
    {
        var s = Crystals.Rattle(Crystals.Supercell(RandomCell(4, ["Si", "O"], atoms: 10), 4, 1, 1), 0.05, 6);
        var reference = Run(1);
        Assert.Contains(reference.PairGradients!, g => g != 0);
        foreach (int threads in new[] { 2, 3, 2 })
        {
            var r = Run(threads);
            Assert.Equal(reference.Values, r.Values);
            Assert.Equal(reference.PairGradients, r.PairGradients);
        }

        DescriptorSet Run(int threads)
        {
            using var limit = Mlip.Validation.MlipParallel.LimitThreads(threads);
            return d.Compute(s, derivatives: true);
        }
    }

    public static void AssertSameFeatures(DescriptorSet a, DescriptorSet b, int[]? map = null, double tol = 1e-10)
    {
        Assert.Equal(a.Features, b.Features);
        for (int i = 0; i < a.Atoms; i++)
        {
            int j = map is null ? i : map[i];
            var x = a.Of(i); var y = b.Of(j);
            for (int k = 0; k < a.Features; k++)
                Assert.True(Math.Abs(x[k] - y[k]) <= tol * Math.Max(1, Math.Abs(x[k])), $"atom {i} feature {k}: {x[k]} vs {y[k]}");
        }
    }

    /// <summary>Rotation, translation, permutation and 2x1x1 supercell leave every atom's features unchanged.</summary>
    public static void AssertInvariances(IDescriptor d, Structure s, int seed)
    {
        var reference = d.Compute(s, derivatives: false);

        // rotation of cell and positions together
        var rng = new Random(seed);
        var axis = new Vec3(rng.NextDouble() - 0.5, rng.NextDouble() - 0.5, rng.NextDouble() - 0.5);
        axis /= axis.Norm;
        double angle = 2 * Math.PI * rng.NextDouble();
        var rot = Rotation(axis, angle);
        var rotated = s.Clone();
        rotated.Cell = s.Cell * rot;
        for (int i = 0; i < s.Count; i++) rotated.Positions[i] = s.Positions[i] * rot;
        AssertSameFeatures(reference, d.Compute(rotated, false));

        // translation (including across the cell boundary)
        var moved = s.Clone();
        var shift = new Vec3(3.7, -11.2, 0.4);
        for (int i = 0; i < s.Count; i++) moved.Positions[i] += shift;
        AssertSameFeatures(reference, d.Compute(moved, false));

        // another periodic image of one atom
        var imaged = s.Clone();
        imaged.Positions[0] += s.Cell.Row(0) - 2.0 * s.Cell.Row(2);
        AssertSameFeatures(reference, d.Compute(imaged, false));

        // permutation
        var perm = Enumerable.Range(0, s.Count).OrderBy(_ => rng.Next()).ToArray();
        var permuted = new Structure(s.Cell, perm.Select(p => s.Positions[p]).ToArray(), perm.Select(p => s.AtomicNumbers[p]).ToArray(), s.Pbc);
        var inverse = new int[s.Count];
        for (int q = 0; q < s.Count; q++) inverse[perm[q]] = q;
        AssertSameFeatures(reference, d.Compute(permuted, false), inverse);

        // supercell: atom i of the original is atom i (and i + N) of the 2x1x1 cell
        var super = Crystals.Supercell(s, 2, 1, 1);
        var sup = d.Compute(super, false);
        for (int copy = 0; copy < 2; copy++)
        {
            var map = Enumerable.Range(0, s.Count).Select(i => copy * s.Count + i).ToArray();
            AssertSameFeatures(reference, sup, map);
        }
    }

    /// <summary>A structure with an element the descriptor does not know gives an error naming file, structure and element.</summary>
    public static void AssertUnknownElementIsReported(IDescriptor d, string known, string unknown)
    {
        var s = RandomCell(1, [known, unknown], atoms: 4);
        s.Source = new Mlip.Validation.InputLocation("x.xyz", null, 2);
        var e = Assert.Throws<Mlip.Validation.MlipInputException>(() => d.Compute(s, false));
        Assert.Contains("x.xyz", e.Message);
        Assert.Contains("structure 2", e.Message);
        Assert.Contains(unknown, e.Message);
    }

    private static Matrix3 Rotation(Vec3 u, double t)
    {
        double c = Math.Cos(t), s = Math.Sin(t), C = 1 - c;
        return new Matrix3(
            c + u.X * u.X * C, u.X * u.Y * C - u.Z * s, u.X * u.Z * C + u.Y * s,
            u.Y * u.X * C + u.Z * s, c + u.Y * u.Y * C, u.Y * u.Z * C - u.X * s,
            u.Z * u.X * C - u.Y * s, u.Z * u.Y * C + u.X * s, c + u.Z * u.Z * C);
    }
}
