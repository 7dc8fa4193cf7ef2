using System.Text.Json;
using Mlip.Descriptors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Tests.Descriptors;

public class So3Tests
{
    private static So3Parameters SiO(int nmax = 4, int lmax = 3, double alpha = 2.0, double rc = 4.9,
        double[]? radii = null, double[]? weights = null) => new()
    {
        Rcutfac = rc, Nmax = nmax, Lmax = lmax, Alpha = alpha, Elements = ["Si", "O"], Radii = radii, Weights = weights,
    };

    /// <remarks>
    /// lmax stays at 4 or below: for larger l, LAMMPS's upward Bessel recurrence (which Mlip
    /// reproduces) puts noise into R_nl that finite differences amplify (see <see cref="So3RadialBasis"/>).
    /// </remarks>
    public static TheoryData<int, int, double, double, double[]?, double[]?> FdCases() => new()
    {
        { 4, 3, 2.0, 4.9, null, null },                 // SO3-40 with PyXtal_FF's weights (Z)
        { 3, 4, 2.0, 4.2, [0.5, 0.5], [1.0, 2.5] },     // higher l, weight 2.5 -> 2
        { 6, 2, 0.6, 4.5, [0.7, 0.5], [3.0, -1.0] },    // radii above 0.5, a negative weight
        { 1, 0, 3.0, 3.8, null, [1.0, 1.0] },           // smallest basis
    };

    [Theory]
    [MemberData(nameof(FdCases))]
    public void ForcesAndStressEqualFiniteDifferences(int nmax, int lmax, double alpha, double rc, double[]? radii, double[]? weights)
    {
        var d = new So3(SiO(nmax, lmax, alpha, rc, radii, weights));
        var s = DescriptorTestKit.RandomCell(31 + nmax + 7 * lmax, ["Si", "O"], atoms: 7);
        DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(d, s, seed: 5);
    }

    [Fact]
    public void AtomsNearTheCutoff()
    {
        // a neighbour 1e-3 Å inside rcutfac and one 1e-3 Å outside: derivatives stay exact
        var cell = Matrix3.Diagonal(11, 11.5, 12);
        var pos = new[] { new Vec3(1, 1, 1), new Vec3(1 + 4.899, 1, 1), new Vec3(1, 1 + 4.901, 1), new Vec3(2.2, 2.1, 1.3), new Vec3(3.0, 0.2, 2.0) };
        var s = new Structure(cell, pos, [14, 8, 14, 8, 14], PeriodicFlags.All);
        DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(new So3(SiO()), s, seed: 3, h: 1e-6);
    }

    [Fact]
    public void Invariances()
    {
        var d = new So3(SiO(weights: [1.0, 3.0]));
        var s = DescriptorTestKit.RandomCell(99, ["Si", "O"], atoms: 9);
        DescriptorTestKit.AssertInvariances(d, s, seed: 4);
    }

    [Fact]
    public void FeatureCountAndNames()
    {
        var d = new So3(new So3Parameters());
        // SO3-40: nmax(nmax+1)/2 * (lmax+1) = 10 * 4
        Assert.Equal(40, d.FeatureCount);
        Assert.Equal(4, d.Parameters.Nmax);
        Assert.Equal(3, d.Parameters.Lmax);
        Assert.Equal(2.0, d.Parameters.Alpha);
        Assert.Equal(4.9, d.Cutoff);
        Assert.Equal(40, d.FeatureNames.Count);
        Assert.Equal(40, d.FeatureNames.Distinct().Count());
        Assert.Equal("SO3(n1=0,n2=0,l=0)", d.FeatureNames[0]);
        Assert.Equal("SO3(n1=1,n2=0,l=2)", d.FeatureNames[d.FeatureIndex(1, 0, 2)]);
        Assert.Equal("SO3(n1=3,n2=3,l=3)", d.FeatureNames[39]);
        Assert.Equal(6 * 7 / 2 * 6, new So3(SiO(nmax: 6, lmax: 5)).FeatureCount);
        Assert.Equal("so3", d.Name);
    }

    [Fact]
    public void CutoffFollowsTheElementRadii()
    {
        Assert.Equal(4.9, new So3(SiO(radii: [0.6, 0.7])).Cutoff);          // never beyond rcutfac
        Assert.Equal(0.9 * 4.9, new So3(SiO(radii: [0.45, 0.4])).Cutoff, 12); // (0.45 + 0.45) rcutfac
    }

    [Fact]
    public void DimerByHand()
    {
        // one neighbour: c_nlm = w fc R_nl Y_lm, so p(n1,n2,l) = 2√2π/√(2l+1) · w² fc² R_n1l R_n2l (2l+1)/(4π)
        double r = 2.3, rc = 4.9;
        var s = new Structure(Matrix3.Diagonal(30, 30, 30), [new Vec3(1, 2, 3), new Vec3(1 + 1.1, 2 - 1.5, 3 + Math.Sqrt(r * r - 1.1 * 1.1 - 1.5 * 1.5))],
            [14, 8], PeriodicFlags.All);
        var d = new So3(SiO());
        var x = d.Compute(s, false).Values;
        var radial = new double[16];
        var dradial = new double[16];
        d.RadialBasis.Evaluate(r, radial, dradial);
        double fc = 0.5 * (Math.Cos(Math.PI * r / rc) + 1);
        for (int atom = 0; atom < 2; atom++)
        {
            double w = atom == 0 ? 8 : 14; // the neighbour's atomic number
            for (int n1 = 0; n1 < 4; n1++)
                for (int n2 = 0; n2 <= n1; n2++)
                    for (int l = 0; l <= 3; l++)
                    {
                        double expected = 2 * Math.Sqrt(2) * Math.PI / Math.Sqrt(2 * l + 1) * w * w * fc * fc
                            * radial[n1 * 4 + l] * radial[n2 * 4 + l] * (2 * l + 1) / (4 * Math.PI);
                        double got = x[atom * 40 + d.FeatureIndex(n1, n2, l)];
                        Assert.True(Math.Abs(got - expected) <= 1e-12 * Math.Max(1, Math.Abs(expected)), $"{atom} {n1} {n2} {l}: {got} vs {expected}");
                    }
        }
    }

    [Fact]
    public void RadialDerivativeEqualsFiniteDifferences()
    {
        var basis = new So3RadialBasis(4.9, 5, 3, 1.7);
        int count = 5 * 4;
        var v = new double[count];
        var dv = new double[count];
        var vp = new double[count];
        var vm = new double[count];
        var scratch = new double[count];
        const double h = 1e-5;
        foreach (double r in new[] { 0.6, 1.1, 2.35, 3.8, 4.85 })
        {
            basis.Evaluate(r, v, dv);
            basis.Evaluate(r + h, vp, scratch);
            basis.Evaluate(r - h, vm, scratch);
            double scale = 0;
            for (int q = 0; q < count; q++) scale = Math.Max(scale, Math.Abs(dv[q]));
            for (int q = 0; q < count; q++)
            {
                double fd = (vp[q] - vm[q]) / (2 * h);
                Assert.True(Math.Abs(fd - dv[q]) <= 1e-7 * scale, $"r={r} (n,l)=({q / 4},{q % 4}): analytic {dv[q]} vs finite difference {fd}");
            }
        }
    }

    [Theory]
    [InlineData(1, 1e-13)]
    [InlineData(2, 1e-13)]
    [InlineData(4, 1e-10)]
    [InlineData(6, 1e-4)] // S is ill-conditioned (cond 6e8): LAMMPS's W is off by 6e-9 relative, <g1|g1> = 1 - 4e-5
    public void RadialBasisIsOrthonormalWithWeightRSquared(int nmax, double tol)
    {
        // ∫_0^rc g_n g_m r² dr = δ_nm checks W = S^(-1/2) and the normalisation of φ_a.
        // g_n g_m r² is a polynomial of degree ≤ 2 nmax + 6: 12-point Gauss–Legendre is exact.
        double rc = 4.9;
        var basis = new So3RadialBasis(rc, nmax, 0, 2.0);
        var (nodes, weights) = GaussLegendre(12);
        for (int n = 1; n <= nmax; n++)
            for (int m = 1; m <= n; m++)
            {
                double sum = 0;
                for (int t = 0; t < nodes.Length; t++)
                {
                    double r = rc / 2 * (nodes[t] + 1);
                    sum += weights[t] * basis.G(r, n) * basis.G(r, m) * r * r;
                }
                sum *= rc / 2;
                Assert.True(Math.Abs(sum - (n == m ? 1 : 0)) < tol, $"nmax {nmax}: <g{n}|g{m}> = {sum}");
            }
    }

    /// <summary>Gauss–Legendre nodes and weights on [−1, 1] (Newton on P_n).</summary>
    private static (double[] Nodes, double[] Weights) GaussLegendre(int n)
    {
        var x = new double[n];
        var w = new double[n];
        for (int i = 0; i < n; i++)
        {
            double z = Math.Cos(Math.PI * (i + 0.75) / (n + 0.5)), dp = 0;
            for (int it = 0; it < 100; it++)
            {
                double p0 = 1, p1 = z;
                for (int k = 2; k <= n; k++) (p0, p1) = (p1, ((2 * k - 1) * z * p1 - (k - 1) * p0) / k);
                dp = n * (z * p1 - p0) / (z * z - 1);
                double dz = p1 / dp;
                z -= dz;
                if (Math.Abs(dz) < 1e-16) break;
            }
            x[i] = z;
            w[i] = 2 / ((1 - z * z) * dp * dp);
        }
        return (x, w);
    }

    [Fact]
    public void RealSphericalHarmonicsAdditionTheoremAndGradient()
    {
        const int lmax = 6;
        var ylm = new RealSphericalHarmonics(lmax);
        var y = new double[ylm.Count];
        var g = new double[3 * ylm.Count];
        var yp = new double[ylm.Count];
        var ym = new double[ylm.Count];
        var rng = new Random(7);
        var directions = new List<Vec3> { new(0, 0, 2.5), new(0, 0, -1.2), new(1e-9, 0, 1) };
        for (int t = 0; t < 20; t++) directions.Add(new Vec3(rng.NextDouble() - 0.5, rng.NextDouble() - 0.5, rng.NextDouble() - 0.5) * 4);
        foreach (var r in directions)
        {
            ylm.Evaluate(r, y, g);
            for (int l = 0; l <= lmax; l++)
            {
                double sum = 0;
                for (int m = -l; m <= l; m++) sum += y[l * l + l + m] * y[l * l + l + m];
                Assert.Equal((2 * l + 1) / (4 * Math.PI), sum, 12);
            }
            const double h = 1e-6;
            for (int c = 0; c < 3; c++)
            {
                var d = new Vec3(c == 0 ? h : 0, c == 1 ? h : 0, c == 2 ? h : 0);
                ylm.Evaluate(r + d, yp);
                ylm.Evaluate(r - d, ym);
                for (int q = 0; q < ylm.Count; q++)
                    Assert.True(Math.Abs((yp[q] - ym[q]) / (2 * h) - g[3 * q + c]) < 1e-7, $"r={r} index {q} component {c}");
            }
        }
        // Y_10 = √(3/4π) z/r
        ylm.Evaluate(new Vec3(0.3, -0.4, 1.2), y);
        Assert.Equal(Math.Sqrt(3 / (4 * Math.PI)) * 1.2 / 1.3, y[2], 14);
    }

    /// <summary>
    /// LAMMPS's own mliap_so3.cpp (20220106, compiled unmodified through
    /// Data/so3_lammps_harness) on four structures and parameter sets (SO3-40; nmax 6 with element
    /// radii below 0.5 and a fractional weight; lmax 0 with radii above 0.5; lmax 6 with alpha 0.5,
    /// where LAMMPS's Bessel recurrence is noisy); see Data/make_so3_reference.py.
    /// </summary>
    [Fact]
    public void EqualsLammpsDescriptorSo3()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Data("so3_reference.json")));
        int cases = 0;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            string name = c.GetProperty("name").GetString()!;
            var p = new So3Parameters
            {
                Rcutfac = c.GetProperty("rcutfac").GetDouble(),
                Nmax = c.GetProperty("nmax").GetInt32(),
                Lmax = c.GetProperty("lmax").GetInt32(),
                Alpha = c.GetProperty("alpha").GetDouble(),
                Elements = c.GetProperty("elements").EnumerateArray().Select(e => e.GetString()!).ToArray(),
                Radii = Doubles(c.GetProperty("radelems")),
                Weights = Doubles(c.GetProperty("welems")),
            };
            var cell = c.GetProperty("cell").EnumerateArray().Select(Doubles).ToArray();
            var pos = c.GetProperty("positions").EnumerateArray().Select(Doubles).Select(v => new Vec3(v[0], v[1], v[2])).ToArray();
            var z = c.GetProperty("numbers").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var s = new Structure(Matrix3.FromRows(new Vec3(cell[0][0], cell[0][1], cell[0][2]), new Vec3(cell[1][0], cell[1][1], cell[1][2]),
                new Vec3(cell[2][0], cell[2][1], cell[2][2])), pos, z, PeriodicFlags.All);
            var d = new So3(p);
            var set = d.Compute(s, derivatives: true);
            int k = d.FeatureCount;

            // For l >= 5 LAMMPS's upward Bessel recurrence amplifies round-off enormously (at alpha 0.5
            // the l = 6 radial part is wrong by a factor of ~40, and LAMMPS's forces disagree with
            // finite differences of its own energies): its values there are noise that no other
            // rounding reproduces. In that noisy case l <= 4 is compared to 1e-8 and l >= 5 not at all;
            // the well-conditioned cases (lmax <= 4) agree to 1e-10.
            bool noisy = p.Lmax >= 5;
            double Tol(int feature) => !noisy ? 1e-10
                : d.FeatureNames[feature].Contains("l=5") || d.FeatureNames[feature].Contains("l=6") ? double.PositiveInfinity : 1e-8;
            var features = c.GetProperty("features").EnumerateArray().Select(Doubles).ToArray();
            Assert.Equal(s.Count, features.Length);
            for (int i = 0; i < s.Count; i++)
            {
                Assert.Equal(k, features[i].Length);
                var x = set.Of(i);
                for (int q = 0; q < k; q++)
                    Assert.True(Math.Abs(x[q] - features[i][q]) <= Tol(q) * Math.Max(1, Math.Abs(features[i][q])),
                        $"{name}: atom {i} {d.FeatureNames[q]}: Mlip {x[q]:R} vs LAMMPS {features[i][q]:R}");
            }

            // derivative blocks, matched by (i, j, image)
            var nl = set.Neighbors;
            var lookup = new Dictionary<(int, int, int, int, int), int>();
            var shifts = nl.Shifts;
            for (int pr = 0; pr < nl.PairCount; pr++)
                lookup[(nl.Centers[pr], nl.Neighbors[pr], shifts[3 * pr], shifts[3 * pr + 1], shifts[3 * pr + 2])] = pr;
            var centres = c.GetProperty("gradient_centres").EnumerateArray().Select(e => e.GetInt32()).ToHashSet();
            var seen = new HashSet<int>();
            double gscale = 0;
            foreach (var pair in c.GetProperty("pairs").EnumerateArray())
                foreach (var v in pair.GetProperty("grad").EnumerateArray()) gscale = Math.Max(gscale, Math.Abs(v.GetDouble()));
            foreach (var pair in c.GetProperty("pairs").EnumerateArray())
            {
                int i = pair.GetProperty("i").GetInt32(), j = pair.GetProperty("j").GetInt32();
                var sh = pair.GetProperty("shift").EnumerateArray().Select(e => e.GetInt32()).ToArray();
                var g = Doubles(pair.GetProperty("grad"));
                if (!lookup.TryGetValue((i, j, sh[0], sh[1], sh[2]), out int pr))
                {
                    // listed by LAMMPS ((rad_i + rad_j) rcutfac > rcutfac) but beyond rcutfac: Mlip's list stops at rcutfac
                    foreach (double v in g) Assert.Equal(0.0, v);
                    continue;
                }
                var block = set.PairBlock(pr);
                seen.Add(pr);
                for (int q = 0; q < 3 * k; q++)
                    Assert.True(Math.Abs(block[q] - g[q]) <= Tol(q / 3) * Math.Max(1e-3 * gscale, Math.Abs(g[q])),
                        $"{name}: pair {i}->{j} ({string.Join(',', sh)}) {d.FeatureNames[q / 3]} {"xyz"[q % 3]}: Mlip {block[q]:R} vs LAMMPS {g[q]:R}");
            }
            // pairs LAMMPS does not list (beyond the element-pair cutoff) must not contribute
            for (int q = 0; q < nl.PairCount; q++)
                if (centres.Contains(nl.Centers[q]) && !seen.Contains(q))
                    foreach (double v in set.PairBlock(q)) Assert.Equal(0.0, v);
            cases++;
        }
        Assert.Equal(4, cases);
    }

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();

    /// <summary>
    /// The inference paths without derivative blocks — the adjoint (<see cref="So3.ForcesFromAdjoint"/>) and the
    /// fused one-pass energy + forces (<see cref="So3.EnergyAndForces"/>, chunks of 32 centres, so 70 atoms
    /// cross chunk borders) — equal the block contraction to round-off, with per-atom weights β_i.
    /// </summary>
    [Fact]
    public void AdjointAndFusedForcesEqualFullDerivatives()
    {
        var d = new So3(SiO(3, 4, 1.5, 4.6, [0.5, 0.45], [14, 8]));
        var s = Crystals.Rattle(Crystals.Supercell(DescriptorTestKit.RandomCell(8, ["Si", "O"], atoms: 10), 7, 1, 1), 0.05, 3);
        Assert.Equal(70, s.Count);
        int k = d.FeatureCount;
        var beta = DescriptorTestKit.RandomWeights(s.Count * k, 12);
        var set = d.Compute(s, derivatives: true);
        var (full, fullStress) = Mlip.Models.ForceContraction.Contract(set, beta, s.Volume);
        var (adj, adjStress) = d.ForcesFromAdjoint(s, beta);

        var values = new double[s.Count * k];
        var energies = new double[s.Count];
        int calls = 0;
        var (fused, fusedStress) = d.EnergyAndForces(s, (first, x, e, g) =>
        {
            calls++;
            int count = e.Length;
            for (int a = 0; a < count; a++)
            {
                double sum = 0;
                for (int q = 0; q < k; q++) { g[a * k + q] = beta[(first + a) * k + q]; sum += beta[(first + a) * k + q] * x[a * k + q]; }
                e[a] = sum;
            }
        }, values, energies);
        Assert.Equal(3, calls);
        for (int q = 0; q < values.Length; q++) Assert.Equal(set.Values[q], values[q], 1e-12 * Math.Max(1, Math.Abs(set.Values[q])));

        double scale = full.Max(f => f.Norm);
        Assert.True(scale > 1e-3);
        for (int i = 0; i < s.Count; i++)
        {
            Assert.True((full[i] - adj[i]).Norm <= 1e-10 * scale, $"adjoint, atom {i}: {full[i]} vs {adj[i]}");
            Assert.True((full[i] - fused[i]).Norm <= 1e-10 * scale, $"fused, atom {i}: {full[i]} vs {fused[i]}");
        }
        var a0 = fullStress!.Value.ToVoigt();
        double sscale = a0.Max(Math.Abs);
        foreach (var other in new[] { adjStress!.Value.ToVoigt(), fusedStress!.Value.ToVoigt() })
            for (int q = 0; q < 6; q++) Assert.True(Math.Abs(a0[q] - other[q]) <= 1e-10 * sscale, $"stress {q}: {a0[q]} vs {other[q]}");
    }

    /// <summary>
    /// SO(3)'s adjoint and fused passes (parallel over blocks of 32 centres, per-pair gradients summed in pair order) and
    /// the block contraction (<see cref="Mlip.Models.ForceContraction"/>, parallel over pairs) give the same bits on 1, 2
    /// and 3 threads and on a repeat.
    /// </summary>
    [Fact]
    public void ForcePathsAreTheSameOnAnyThreadCount()
    {
        var d = new So3(SiO(3, 4, 1.5, 4.6, [0.5, 0.45], [14, 8]));
        var s = Crystals.Rattle(Crystals.Supercell(DescriptorTestKit.RandomCell(8, ["Si", "O"], atoms: 10), 7, 1, 1), 0.05, 3);
        int k = d.FeatureCount;
        var beta = DescriptorTestKit.RandomWeights(s.Count * k, 12);
        var reference = Run(1);
        foreach (int threads in new[] { 2, 3, 2 })
        {
            var r = Run(threads);
            Assert.Equal(reference.Adjoint, r.Adjoint);
            Assert.Equal(reference.Fused, r.Fused);
            Assert.Equal(reference.Contracted, r.Contracted);
            Assert.Equal(reference.Stresses, r.Stresses);
            Assert.Equal(reference.Energies, r.Energies);
        }

        (Vec3[] Adjoint, Vec3[] Fused, Vec3[] Contracted, Stress?[] Stresses, double[] Energies) Run(int threads)
        {
            using var limit = Mlip.Validation.MlipParallel.LimitThreads(threads);
            var (adj, adjStress) = d.ForcesFromAdjoint(s, beta);
            var values = new double[s.Count * k];
            var energies = new double[s.Count];
            var (fused, fusedStress) = DescriptorTestKit.LinearFused(d, s, beta, values, energies);
            var (full, fullStress) = Mlip.Models.ForceContraction.Contract(d.Compute(s, derivatives: true), beta, s.Volume);
            return (adj, fused, full, [adjStress, fusedStress, fullStress], energies);
        }
    }

    [Fact]
    public void WeightsAreTruncatedToIntegersAsInLammps()
    {
        var s = DescriptorTestKit.RandomCell(5, ["Si", "O"], atoms: 6);
        var a = new So3(SiO(weights: [1.0, 2.9])).Compute(s, false);
        var b = new So3(SiO(weights: [1.0, 2.0])).Compute(s, false);
        DescriptorTestKit.AssertSameFeatures(a, b, tol: 0);
        Assert.Equal(2.0, SiO(weights: [1.0, 2.9]).EffectiveWeight(1));
        Assert.Equal(14.0, SiO().EffectiveWeight(0)); // default: atomic numbers, as PyXtal_FF writes welems
    }

    [Fact]
    public void BadParametersAreRejected()
    {
        Assert.Throws<MlipException>(() => new So3(SiO(nmax: 8)));   // W not finite in float64 (NaN in LAMMPS)
        Assert.Throws<MlipException>(() => new So3(SiO(nmax: 12)));
        Assert.Throws<MlipException>(() => new So3(SiO(nmax: 0)));
        Assert.Throws<MlipException>(() => new So3(SiO(alpha: 0)));
        Assert.Throws<MlipException>(() => new So3(SiO(radii: [0.5])));
        Assert.Throws<MlipException>(() => new So3(SiO() with { Elements = ["Si", "Xx"] }));
    }

    [Fact]
    public void UnknownElementIsReported()
    {
        var d = new So3(new So3Parameters { Elements = ["Si"] });
        var s = DescriptorTestKit.RandomCell(1, ["Si", "O"], atoms: 4);
        s.Source = new InputLocation("x.xyz", null, 2);
        var e = Assert.Throws<MlipInputException>(() => d.Compute(s, false));
        Assert.Contains("structure 2", e.Message);
        Assert.Contains("O", e.Message);
    }
}
