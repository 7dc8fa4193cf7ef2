using Mlip.Descriptors.Ace;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.Models.Ace;

/// <summary>
/// Debian lammps-data's Cu-PBE-core-rep.ace (742 functions, rc 7.4 Å, two densities, core repulsion) on LAMMPS's
/// own unit-test structure (data.manybody, 64 atoms, all Cu) against LAMMPS's frozen references
/// manybody-pair-pace_product.yaml and _recursive.yaml (unittest/force-styles/tests in the LAMMPS source):
/// energy, all forces and the virial to 1e-10 relative, with Mlip's product and recursive evaluators.
/// </summary>
public class PaceReferenceTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("manybody-pair-pace_product.yaml", AceEvaluatorKind.Product)]
    [InlineData("manybody-pair-pace_recursive.yaml", AceEvaluatorKind.Product)]
    [InlineData("manybody-pair-pace_product.yaml", AceEvaluatorKind.Recursive)]
    [InlineData("manybody-pair-pace_recursive.yaml", AceEvaluatorKind.Recursive)]
    public void CuPbeCoreRepReproducesLammps(string yaml, AceEvaluatorKind evaluator)
    {
        var potential = AcePotential.Load(ManybodyReference.Potential("Cu-PBE-core-rep.ace"), evaluator);
        Assert.Equal(evaluator, ((AceDensities)potential.Descriptor).Evaluator.Kind);
        var basis = AcePotential.BasisOf(potential)!;
        Assert.Equal(742, basis.FunctionCount);
        var s = ManybodyReference.Structure(29);
        var (energy, virial, forces) = ManybodyReference.Read(yaml);
        var r = potential.Calculate(s);
        double rel = Math.Abs(r.Energy - energy) / Math.Abs(energy);
        output.WriteLine($"E Mlip {r.Energy:R} LAMMPS {energy:R} rel {rel:E2}");
        Assert.True(rel < 1e-10, $"energy relative deviation {rel:E2}");
        double fmax = forces.Max(f => f.Norm), worst = 0;
        for (int i = 0; i < forces.Length; i++) worst = Math.Max(worst, (r.Forces![i] - forces[i]).Norm);
        output.WriteLine($"max |ΔF| {worst:E2} eV/Å (largest force {fmax:F3})");
        Assert.True(worst < 1e-10 * fmax, $"max force deviation {worst:E2}");
        var st = r.Stress!.Value;
        double v = s.Volume / 160.21766208;
        double[] mine = [-st.Xx * v, -st.Yy * v, -st.Zz * v, -st.Xy * v, -st.Xz * v, -st.Yz * v];
        double wmax = virial.Max(Math.Abs);
        for (int c = 0; c < 6; c++)
        {
            output.WriteLine($"W[{c}] Mlip {mine[c]:R} LAMMPS {virial[c]:R}");
            Assert.True(Math.Abs(mine[c] - virial[c]) < 1e-10 * wmax, $"virial {c}: {mine[c]:R} vs {virial[c]:R}");
        }
    }
}

/// <summary>
/// The PACE evaluator's forces and stress against central finite differences of its own energy: the
/// Cu potential (two densities, FinnisSinclairShiftedScaled, core repulsion) and a synthetic two-element
/// potential with a nonlinear embedding and core repulsion; and .yace/.ace write-read round trips.
/// </summary>
public class PaceFiniteDifferenceTests(ITestOutputHelper output)
{
    internal static Mlip.Structures.Structure RattledFcc(int seed, int[] z, double a = 3.62, double rattle = 0.12)
    {
        var s = Mlip.Structures.Crystals.Supercell(Mlip.Structures.Crystals.Fcc("Cu", a), 2, 1, 1);
        s = Mlip.Structures.Crystals.Deform(s, new Mlip.Structures.Matrix3(0.02, 0.01, 0, 0.01, -0.015, 0.012, 0, 0.012, 0.01));
        s = Mlip.Structures.Crystals.Rattle(s, rattle, seed);
        return new Mlip.Structures.Structure(s.Cell, s.Positions, [.. Enumerable.Range(0, s.Count).Select(i => z[i % z.Length])], Mlip.Structures.PeriodicFlags.All);
    }

    [Fact]
    public void CuPotentialForcesAndStressMatchFiniteDifferences()
    {
        var p = ModelFile.Load(ManybodyReference.Potential("Cu-PBE-core-rep.ace"));
        var s = RattledFcc(1, [29]);
        var r = p.Calculate(s);
        FiniteDifferences.AssertMatch("Cu-PBE-core-rep", x => p.Calculate(x, false, false).Energy, s, r.Forces!, r.Stress, 1e-6, 1e-4);
    }

    /// <summary>Two elements, two densities, FinnisSinclairShiftedScaled (m = 0.5), core repulsion.</summary>
    public static AceBasisSet SyntheticTwoElement() => SyntheticTwoElement(4.5, [5, 3, 2], [0, 3, 2]);

    /// <summary>
    /// The same family with a chosen cutoff and per-rank nmax/lmax (rank = their length): random C-tilde
    /// coefficients (seeded) for two densities per element, FinnisSinclairShiftedScaled, core repulsion.
    /// </summary>
    public static AceBasisSet SyntheticTwoElement(double cutoff, int[] nmax, int[] lmax)
    {
        var d = new AceBasisDescriptor(new AceBasisSpec
        {
            Elements = ["Cu", "Ni"], Cutoff = cutoff, RadialBasis = "ChebExpCos", Lambda = 3.0, MaxRank = nmax.Length, NMax = nmax, LMax = lmax,
        });
        var rng = new Random(3);
        var functions = new AceFunction[2][];
        for (int mu = 0; mu < 2; mu++)
            functions[mu] = [.. d.Functions.Select(f => new AceFunction
            {
                Mu0 = mu, Rank = f.Rank, NDensity = 2, Mus = f.Mus, Ns = f.Ns, Ls = f.Ls, Ms = f.Ms,
                Ctildes = [.. Enumerable.Range(0, f.MsCount).SelectMany(q => new[] { f.Ctildes[q] * (rng.NextDouble() - 0.3), f.Ctildes[q] * (rng.NextDouble() - 0.5) * 0.2 })],
            })];
        var sk = d.Skeleton;
        var bonds = sk.Bonds.Select((b, i) => new AceBond { RadBaseName = b.RadBaseName, Lambda = b.Lambda, Cut = b.Cut, DCut = 0.2, Prehc = 5 + i, Lambdahc = 0.5, Crad = b.Crad }).ToArray();
        return new AceBasisSet
        {
            Elements = sk.Elements, LMax = sk.LMax, NRadBase = sk.NRadBase, NRadMax = sk.NRadMax, RankMax = nmax.Length, NDensityMax = 2,
            CutoffMax = sk.CutoffMax, E0 = [-1.5, -2.5], Bonds = bonds,
            Embeddings = [.. Enumerable.Range(0, 2).Select(mu => new AceEmbedding { Npoti = "FinnisSinclairShiftedScaled", FsParameters = [1, 1, -0.7, 0.5], NDensity = 2, RhoCoreCut = 3.0, DRhoCoreCut = 2.5 })],
            Functions = functions,
        };
    }

    [Fact]
    public void TwoElementNonlinearPotentialMatchesFiniteDifferencesAndRoundTrips()
    {
        var basis = SyntheticTwoElement();
        var p = AcePotential.Create(basis);
        var s = RattledFcc(2, [29, 28], a: 3.55, rattle: 0.25);
        var r = p.Calculate(s);
        var feat = p.Descriptor.Compute(s, false);
        double coreMax = Enumerable.Range(0, s.Count).Max(i => feat.Values[i * 3 + 2]);
        output.WriteLine($"E {r.Energy:R}, largest rho_core {coreMax:G4} (the inner cut-off acts above {basis.Embeddings[0].RhoCoreCut - basis.Embeddings[0].DRhoCoreCut})");
        Assert.True(coreMax > 0.5, "the core-density switch is not exercised");
        FiniteDifferences.AssertMatch("two-element PACE", x => p.Calculate(x, false, false).Energy, s, r.Forces!, r.Stress, 1e-6, 1e-6);

        // the density blocks (training path) contracted with dE/dX equal the adjoint forces
        var set = p.Descriptor.Compute(s, derivatives: true);
        var e = new double[s.Count]; var dEdX = new double[s.Count * p.Descriptor.FeatureCount];
        p.Model.Evaluate(set.Values, s.AtomicNumbers, e, dEdX);
        var (f2, st2) = ForceContraction.Contract(set, dEdX, s.Volume);
        for (int i = 0; i < s.Count; i++) Assert.True((f2[i] - r.Forces![i]).Norm < 1e-11 * (1 + r.Forces[i].Norm));

        string dir = TestPaths.TempDir();
        foreach (var name in new[] { "two.yace", "two.ace" })
        {
            var path = Path.Combine(dir, name);
            AcePotential.Save(path, basis);
            var q = ModelFile.Load(path).Calculate(s);
            Assert.Equal(r.Energy, q.Energy, 12);
            for (int i = 0; i < s.Count; i++) Assert.True((q.Forces![i] - r.Forces![i]).Norm < 1e-12, name);
        }
    }

    [Fact]
    public void CuPotentialRoundTripsThroughYaceAndAce()
    {
        var path0 = ManybodyReference.Potential("Cu-PBE-core-rep.ace");
        var p = ModelFile.Load(path0);
        var s = RattledFcc(5, [29]);
        var r = p.Calculate(s);
        string dir = TestPaths.TempDir();
        foreach (var name in new[] { "cu.yace", "cu.ace" })
        {
            var path = Path.Combine(dir, name);
            AcePotential.Save(path, AcePotential.BasisOf(p)!);
            var q = ModelFile.Load(path).Calculate(s);
            output.WriteLine($"{name}: {q.Energy:R} vs {r.Energy:R}");
            Assert.Equal(r.Energy, q.Energy, 12);
            for (int i = 0; i < s.Count; i++) Assert.True((q.Forces![i] - r.Forces![i]).Norm < 1e-12, name);
        }
    }
}
