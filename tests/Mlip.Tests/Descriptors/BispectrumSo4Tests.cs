using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Structures;

namespace Mlip.Tests.Descriptors;

public class BispectrumSo4Tests
{
    internal static So4Parameters TwoElements(int twojmax) => new()
    {
        TwoJMax = twojmax,
        RcutFac = 3.6,
        Elements = [new So4Element("Si", 0.5, 1.0), new So4Element("O", 0.42, 0.7)],
    };

    [Theory]
    [InlineData(6, 30)]
    [InlineData(8, 55)]
    [InlineData(10, 91)]
    public void ComponentCountsMatchLammps(int twojmax, int count)
    {
        Assert.Equal(count, So4Parameters.ComponentCount(twojmax));
        var d = new BispectrumSo4(new So4Parameters { TwoJMax = twojmax });
        Assert.Equal(count, d.FeatureCount);
        Assert.Equal((0, 0, 0), d.Component(0));
        Assert.Equal("B[0,0,0]", d.FeatureNames[0]);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    [InlineData(8)]
    public void ForcesAndStressEqualFiniteDifferences(int twojmax)
    {
        var d = new BispectrumSo4(TwoElements(twojmax));
        var s = DescriptorTestKit.RandomCell(31 + twojmax, ["Si", "O"], atoms: 6);
        DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(d, s, seed: 7);
    }

    [Fact]
    public void WithoutSwitchingOrBzero()
    {
        var p = TwoElements(4) with { SwitchFlag = false, BzeroFlag = false, Rmin0 = 0.2 };
        var s = DescriptorTestKit.RandomCell(5, ["Si", "O"], atoms: 6);
        DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(new BispectrumSo4(p) , s, seed: 2);
    }

    [Fact]
    public void QuadraticFeaturesAndTheirDerivatives()
    {
        var p = TwoElements(4) with { QuadraticFlag = true };
        var d = new BispectrumSo4(p);
        int nb = d.LinearCount;
        Assert.Equal(nb + nb * (nb + 1) / 2, d.FeatureCount);
        var s = DescriptorTestKit.RandomCell(8, ["Si", "O"], atoms: 6);
        DescriptorTestKit.AssertForcesAndStressMatchFiniteDifferences(d, s, seed: 4);
        var x = d.Compute(s, false).Of(2).ToArray();
        Assert.Equal(0.5 * x[0] * x[0], x[nb], 14);
        Assert.Equal(x[0] * x[1], x[nb + 1], 14);
        Assert.Equal(0.5 * x[1] * x[1], x[nb + nb], 14);
    }

    [Fact]
    public void Invariances()
    {
        var d = new BispectrumSo4(TwoElements(6));
        var s = DescriptorTestKit.RandomCell(77, ["Si", "O"], atoms: 8);
        DescriptorTestKit.AssertInvariances(d, s, seed: 9);
    }

    [Theory]
    [InlineData(6, false)]
    [InlineData(8, false)]
    [InlineData(6, true)]
    public void AdjointForcesEqualFullDerivatives(int twojmax, bool quadratic)
    {
        var d = new BispectrumSo4(TwoElements(twojmax) with { QuadraticFlag = quadratic });
        var s = DescriptorTestKit.RandomCell(3, ["Si", "O"], atoms: 10);
        var beta = DescriptorTestKit.RandomWeights(s.Count * d.FeatureCount, 11);
        var set = d.Compute(s, derivatives: true);
        var (full, fullStress) = ForceContraction.Contract(set, beta, s.Volume);
        var (adj, adjStress) = d.ForcesFromAdjoint(s, beta);
        double scale = full.Max(f => f.Norm);
        for (int i = 0; i < s.Count; i++) Assert.True((full[i] - adj[i]).Norm <= 1e-10 * scale, $"atom {i}: {full[i]} vs {adj[i]}");
        var a = fullStress!.Value.ToVoigt(); var b = adjStress!.Value.ToVoigt();
        double sscale = a.Max(Math.Abs);
        for (int q = 0; q < 6; q++) Assert.True(Math.Abs(a[q] - b[q]) <= 1e-10 * sscale);
    }

    /// <summary>
    /// The fused energy + forces pass (<see cref="BispectrumSo4.EnergyAndForces"/>: one expansion, Z and B per atom, Y from
    /// the stored Z) gives the same bits as <see cref="BispectrumSo4.Compute"/> followed by
    /// <see cref="BispectrumSo4.ForcesFromAdjoint"/>, and every path gives the same bits on 1, 2 and 3 threads and on a
    /// repeat (blocks of 8 centres: 30 atoms cross block borders); the fused pass asked for no values (empty span) too.
    /// </summary>
    [Theory]
    [InlineData(6, false)]
    [InlineData(4, true)]
    public void FusedPathEqualsComputeThenAdjointOnAnyThreadCount(int twojmax, bool quadratic)
    {
        var d = new BispectrumSo4(TwoElements(twojmax) with { QuadraticFlag = quadratic });
        var s = Crystals.Rattle(Crystals.Supercell(DescriptorTestKit.RandomCell(5, ["Si", "O"], atoms: 10), 3, 1, 1), 0.05, 4);
        Assert.Equal(30, s.Count);
        int k = d.FeatureCount;
        var beta = DescriptorTestKit.RandomWeights(s.Count * k, 13);
        var reference = Run(1);
        Assert.True(reference.Forces.Max(f => f.Norm) > 1e-3);
        foreach (int threads in new[] { 1, 2, 3, 2 })
        {
            var r = Run(threads);
            Assert.Equal(reference.Values, r.Values);
            Assert.Equal(reference.Blocks, r.Blocks);
            Assert.Equal(reference.Forces, r.Forces);
            Assert.Equal(reference.Stress, r.Stress);
            Assert.Equal(reference.Values, r.FusedValues);
            Assert.Equal(reference.Forces, r.FusedForces);
            Assert.Equal(reference.Stress, r.FusedStress);
            Assert.Equal(reference.Energies, r.Energies);
            // without the values (an MD step: empty span, no copy of them) the same energies, forces and stress
            using var limit = Mlip.Validation.MlipParallel.LimitThreads(threads);
            var e = new double[s.Count];
            var (ff, fs) = DescriptorTestKit.LinearFused(d, s, beta, [], e);
            Assert.Equal(reference.Forces, ff);
            Assert.Equal(reference.Stress, fs);
            Assert.Equal(reference.Energies, e);
        }

        (double[] Values, double[] Blocks, Vec3[] Forces, Stress? Stress, double[] FusedValues, Vec3[] FusedForces, Stress? FusedStress, double[] Energies) Run(int threads)
        {
            using var limit = Mlip.Validation.MlipParallel.LimitThreads(threads);
            var values = d.Compute(s, derivatives: false).Values;
            var blocks = d.Compute(s, derivatives: true).PairGradients!;
            var (f, st) = d.ForcesFromAdjoint(s, beta);
            var x = new double[s.Count * k];
            var e = new double[s.Count];
            var (ff, fs) = DescriptorTestKit.LinearFused(d, s, beta, x, e);
            return (values, blocks, f, st, x, ff, fs, e);
        }
    }

    /// <summary>
    /// The fused and adjoint passes keep their block workspaces and per-call arrays for the next call, and gather forces and
    /// virial per atom in parallel blocks (F_i = Σ_p∈i g_p − g_Reverse[p]): on a cell of several gather blocks, a call after a
    /// call on a smaller cell (stale, longer buffers) gives the same bits as a fresh descriptor, on 1, 2 and 3 threads, and the
    /// forces and stress agree to round-off with the derivative blocks contracted with β.
    /// </summary>
    [Fact]
    public void KeptBuffersAndTheParallelGatherGiveTheSameBitsOnAnyThreadCount()
    {
        var parameters = TwoElements(4);
        var big = Crystals.Rattle(Crystals.Supercell(DescriptorTestKit.RandomCell(5, ["Si", "O"], atoms: 10), 4, 4, 4), 0.05, 8);
        var small = Crystals.Rattle(Crystals.Supercell(DescriptorTestKit.RandomCell(7, ["Si", "O"], atoms: 10), 2, 1, 1), 0.05, 9);
        Assert.True(big.Count > 512); // more than two gather blocks of 256 atoms
        var reference = Run(new BispectrumSo4(parameters), big);
        Assert.True(reference.Forces.Max(f => f.Norm) > 1e-3);

        // the same forces from the derivative blocks, contracted and summed serially in pair order
        var fresh = new BispectrumSo4(parameters);
        int k = fresh.FeatureCount;
        var beta = DescriptorTestKit.RandomWeights(big.Count * k, 21);
        var set = fresh.Compute(big, derivatives: true);
        var nl = set.Neighbors;
        var expected = new Vec3[big.Count];
        double wxx = 0;
        for (int p = 0; p < nl.PairCount; p++)
        {
            var block = set.PairBlock(p);
            int i = nl.Centers[p], j = nl.Neighbors[p];
            double gx = 0, gy = 0, gz = 0;
            for (int c = 0; c < k; c++) { double b = beta[i * k + c]; gx += b * block[3 * c]; gy += b * block[3 * c + 1]; gz += b * block[3 * c + 2]; }
            var g = new Vec3(gx, gy, gz);
            expected[i] += g; expected[j] -= g;
            wxx += gx * nl.Vectors[p].X;
        }
        for (int i = 0; i < big.Count; i++) Assert.True((expected[i] - reference.Forces[i]).Norm < 1e-9 * (1 + expected[i].Norm), $"atom {i}");
        Assert.Equal(Stress.EvPerCubicAngstromInGpa / big.Volume * wxx, reference.Stress!.Value.Xx, 1e-9);

        var kept = new BispectrumSo4(parameters);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var limit = Mlip.Validation.MlipParallel.LimitThreads(threads);
            SameBitsAfterAnotherCell();
        }
        // on MD's worker pool, whose threads get back their own block workspaces call after call (ScratchPool): the same bits
        Mlip.Tests.Validation.WorkerPoolTests.OnOwnThread(() =>
        {
            using var scope = Mlip.Validation.MlipParallel.UseWorkerPool();
            foreach (int threads in new[] { 2, 3, 2, 1 })
            {
                using var limit = Mlip.Validation.MlipParallel.LimitThreads(threads);
                SameBitsAfterAnotherCell();
            }
            Assert.True(Mlip.Validation.MlipParallel.CurrentPool!.Regions > 0);
        });

        // the kept instance, used on another cell first, gives the reference's bits on the big one
        void SameBitsAfterAnotherCell()
        {
            Run(kept, small);
            var r = Run(kept, big);
            Assert.Equal(reference.Forces, r.Forces);
            Assert.Equal(reference.Stress, r.Stress);
            Assert.Equal(reference.FusedForces, r.FusedForces);
            Assert.Equal(reference.FusedStress, r.FusedStress);
            Assert.Equal(reference.Energies, r.Energies);
        }

        static (Vec3[] Forces, Stress? Stress, Vec3[] FusedForces, Stress? FusedStress, double[] Energies) Run(BispectrumSo4 d, Structure s)
        {
            int k = d.FeatureCount;
            var beta = DescriptorTestKit.RandomWeights(s.Count * k, 21);
            var (f, st) = d.ForcesFromAdjoint(s, beta);
            var x = new double[s.Count * k];
            var e = new double[s.Count];
            var (ff, fs) = DescriptorTestKit.LinearFused(d, s, beta, x, e);
            return (f, st, ff, fs, e);
        }
    }

    /// <summary>
    /// Z of four centres and the pair gradients of four neighbours at a time (one per Vector256 lane) give the same bits as the
    /// scalar kernels: values, derivative blocks, adjoint forces and the fused pass, on a cell whose blocks end in short groups.
    /// </summary>
    [Theory]
    [InlineData(8, false)]
    [InlineData(5, true)]
    public void VectorLanesGiveTheScalarBits(int twojmax, bool quadratic)
    {
        var parameters = TwoElements(twojmax) with { QuadraticFlag = quadratic };
        var vector = new BispectrumSo4(parameters);
        var scalar = new BispectrumSo4(parameters) { Vectorised = false };
        Assert.True(vector.Vectorised || !System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated);
        var s = Crystals.Rattle(Crystals.Supercell(DescriptorTestKit.RandomCell(5, ["Si", "O"], atoms: 9), 3, 1, 1), 0.05, 6);
        int k = vector.FeatureCount;
        var beta = DescriptorTestKit.RandomWeights(s.Count * k, 17);
        var a = Run(vector);
        var b = Run(scalar);
        Assert.True(b.Forces.Max(f => f.Norm) > 1e-3);
        Assert.Equal(b.Values, a.Values);
        Assert.Equal(b.Blocks, a.Blocks);
        Assert.Equal(b.Forces, a.Forces);
        Assert.Equal(b.Stress, a.Stress);
        Assert.Equal(b.FusedForces, a.FusedForces);
        Assert.Equal(b.Energies, a.Energies);

        (double[] Values, double[] Blocks, Vec3[] Forces, Stress? Stress, Vec3[] FusedForces, double[] Energies) Run(BispectrumSo4 d)
        {
            var values = d.Compute(s, derivatives: false).Values;
            var blocks = d.Compute(s, derivatives: true).PairGradients!;
            var (f, st) = d.ForcesFromAdjoint(s, beta);
            var x = new double[s.Count * k];
            var e = new double[s.Count];
            var (ff, _) = DescriptorTestKit.LinearFused(d, s, beta, x, e);
            return (values, blocks, f, st, ff, e);
        }
    }

    /// <summary>
    /// A SNAP-like <see cref="Potential"/> (linear and quadratic polynomial, and linear on quadraticflag features, i.e. qSNAP)
    /// now takes the fused pass; its energy, per-atom energies, forces and stress are the same bits as the two-pass path it
    /// replaced (B for all atoms, the model, then the adjoint force pass).
    /// </summary>
    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(1, true)]
    public void PotentialCallEqualsTheTwoPassPath(int order, bool quadraticFeatures)
    {
        var d = new BispectrumSo4(TwoElements(4) with { QuadraticFlag = quadraticFeatures });
        int k = d.FeatureCount;
        var rng = new Random(5);
        int per = PolynomialModel.CoefficientsPerElement(order, k);
        double[][] coefficients = [.. Enumerable.Range(0, 2).Select(_ => Enumerable.Range(0, per).Select(_ => 0.02 * (rng.NextDouble() - 0.5)).ToArray())];
        var model = new PolynomialModel(order, [14, 8], k, coefficients);
        var potential = new Potential(d, model, new DescriptorSpec("so4", new Dictionary<string, string>()));
        var s = Crystals.Rattle(Crystals.Supercell(DescriptorTestKit.RandomCell(6, ["Si", "O"], atoms: 10), 3, 1, 1), 0.05, 2);
        var r = potential.Calculate(s);

        var set = d.Compute(s, derivatives: false);
        var e = new double[s.Count];
        var g = new double[s.Count * k];
        model.Evaluate(set.Values, s.AtomicNumbers, e, g);
        var (f, st) = d.ForcesFromAdjoint(s, g);
        double total = 0;
        foreach (double v in e) total += v;
        Assert.Equal(total, r.Energy);
        Assert.Equal(e, r.AtomEnergies);
        Assert.Equal(f, r.Forces);
        Assert.Equal(st, r.Stress);
    }

    [Fact]
    public void IsolatedAtomHasZeroBispectrumWithBzero()
    {
        var s = new Structure(Matrix3.Diagonal(30, 30, 30), [new Vec3(1, 1, 1)], [14], PeriodicFlags.All);
        var x = new BispectrumSo4(new So4Parameters { TwoJMax = 6 }).Compute(s, false).Values;
        Assert.All(x, v => Assert.Equal(0.0, v, 14));
        var raw = new BispectrumSo4(new So4Parameters { TwoJMax = 6, BzeroFlag = false }).Compute(s, false).Values;
        var d = new BispectrumSo4(new So4Parameters { TwoJMax = 6 });
        for (int k = 0; k < raw.Length; k++) Assert.Equal(d.Component(k).J + 1, raw[k], 12);
    }

    [Fact]
    public void UnknownElementIsReported() =>
        DescriptorTestKit.AssertUnknownElementIsReported(new BispectrumSo4(new So4Parameters()), "Si", "O");
}
