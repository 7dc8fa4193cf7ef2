using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Descriptors.Ace;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Structures;
using Mlip.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.Models.Ace;

/// <summary>
/// The recursive evaluator (graph of partial products) against the product evaluator on the same potential:
/// energies, forces and stress to 1e-12 relative (the fused force call, the general adjoint from cached bases
/// and the training path's density blocks), and finite differences (PaceReferenceTests runs both evaluators
/// against LAMMPS's frozen pace_product and pace_recursive references).
/// </summary>
public class PaceRecursiveTests(ITestOutputHelper output)
{
    private static double Rel(double a, double b) => Math.Abs(a - b) / Math.Max(1e-300, Math.Max(Math.Abs(a), Math.Abs(b)));

    /// <summary>Energy, every force and the stress of two potentials agree to <paramref name="tol"/> relative to the largest.</summary>
    private void AssertSame(string what, CalculatorResult a, CalculatorResult b, double tol)
    {
        double rel = Rel(a.Energy, b.Energy);
        double fmax = a.Forces!.Max(f => f.Norm), worst = 0;
        for (int i = 0; i < a.Forces!.Length; i++) worst = Math.Max(worst, (a.Forces[i] - b.Forces![i]).Norm);
        output.WriteLine($"{what}: E {a.Energy:R} vs {b.Energy:R} (rel {rel:E2}), max |ΔF| {worst:E2} of largest {fmax:F3}");
        Assert.True(rel < tol, $"{what}: energy {a.Energy:R} vs {b.Energy:R}");
        Assert.True(worst < tol * fmax, $"{what}: force deviation {worst:E2}");
        if (a.Stress is { } sa)
        {
            var sb = b.Stress!.Value;
            double[] x = [sa.Xx, sa.Yy, sa.Zz, sa.Yz, sa.Xz, sa.Xy], y = [sb.Xx, sb.Yy, sb.Zz, sb.Yz, sb.Xz, sb.Xy];
            double smax = x.Max(Math.Abs);
            for (int c = 0; c < 6; c++) Assert.True(Math.Abs(x[c] - y[c]) < tol * smax, $"{what}: stress {c} {x[c]:R} vs {y[c]:R}");
        }
    }

    /// <summary>Product vs recursive through the fused force call, the general adjoint and the density blocks.</summary>
    private void CompareEvaluators(string what, AceBasisSet basis, Structure s)
    {
        var product = AcePotential.Create(basis, null, AceEvaluatorKind.Product);
        var recursive = AcePotential.Create(basis, null, AceEvaluatorKind.Recursive);
        var ev = ((AceDensities)recursive.Descriptor).Evaluator;
        Assert.Equal(AceEvaluatorKind.Recursive, ev.Kind);
        for (int mu = 0; mu < basis.ElementCount; mu++)
        {
            var (leaves, interior, terminal, productMults) = ev.Recursive!.Size(mu);
            output.WriteLine($"{what} {basis.Elements[mu]}: {leaves} leaves, {interior} interior + {terminal} terminal product nodes; product evaluator {productMults} multiplications");
            Assert.True(interior + terminal < productMults, "the graph shares no partial products");
        }
        AssertSame($"{what} fused", product.Calculate(s), recursive.Calculate(s), 1e-12);

        // the general adjoint (cached atomic bases, node values recomputed) with weights other than the fused ones
        var pd = (AceDensities)product.Descriptor; var rd = (AceDensities)recursive.Descriptor;
        var nl = Mlip.Neighbors.NeighborList.Build(s, pd.Cutoff);
        var xp = pd.Compute(s, false, nl); var xr = rd.Compute(s, false, nl);
        for (int i = 0; i < xp.Values.Length; i++) Assert.True(Rel(xp.Values[i], xr.Values[i]) < 1e-12 || Math.Abs(xp.Values[i] - xr.Values[i]) < 1e-13, $"feature {i}");
        var rng = new Random(11);
        var dEdX = Enumerable.Range(0, xp.Values.Length).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var (fp, sp) = pd.ForcesFromAdjoint(s, dEdX, nl);
        var (fr, sr) = rd.ForcesFromAdjoint(s, dEdX, nl);
        double fmax = fp.Max(f => f.Norm);
        for (int i = 0; i < fp.Length; i++) Assert.True((fp[i] - fr[i]).Norm < 1e-12 * fmax, $"{what} adjoint force {i}");
        if (sp is { } a) Assert.True(Math.Abs(a.Xx - sr!.Value.Xx) + Math.Abs(a.Yz - sr.Value.Yz) < 1e-12 * (Math.Abs(a.Xx) + Math.Abs(a.Yz)), $"{what} adjoint stress");

        // the training path: dX/dr blocks
        var bp = pd.Compute(s, true, nl); var br = rd.Compute(s, true, nl);
        double gmax = bp.PairGradients!.Max(Math.Abs);
        for (int i = 0; i < bp.PairGradients!.Length; i++) Assert.True(Math.Abs(bp.PairGradients[i] - br.PairGradients![i]) < 1e-12 * gmax, $"{what} density block {i}");
    }

    [Fact]
    public void CuRecursiveEqualsProduct()
    {
        var basis = AcePotential.ReadBasis(ManybodyReference.Potential("Cu-PBE-core-rep.ace"));
        CompareEvaluators("Cu-PBE-core-rep", basis, ManybodyReference.Structure(29));
    }

    [Fact]
    public void TwoElementRecursiveEqualsProductAndMatchesFiniteDifferences()
    {
        var basis = PaceFiniteDifferenceTests.SyntheticTwoElement();
        var s = PaceFiniteDifferenceTests.RattledFcc(4, [29, 28, 28], a: 3.55, rattle: 0.25);
        CompareEvaluators("two-element", basis, s);
        foreach (var kind in new[] { AceEvaluatorKind.Recursive, AceEvaluatorKind.Product })
        {
            var p = AcePotential.Create(basis, null, kind);
            var r = p.Calculate(s);
            FiniteDifferences.AssertMatch($"two-element PACE, {kind}", x => p.Calculate(x, false, false).Energy, s, r.Forces!, r.Stress, 1e-6, 1e-6);
        }
    }

    /// <summary>The synthetic potential with <paramref name="p"/> densities: coefficients of density q &gt; 0 from the first two, seeded.</summary>
    private static AceBasisSet WithDensities(AceBasisSet b, int p)
    {
        var rng = new Random(5 + p);
        double[] fs = [1, 1, -0.7, 0.5, 0.4, 1.5, -0.2, 2];
        return new AceBasisSet
        {
            Elements = b.Elements, LMax = b.LMax, NRadBase = b.NRadBase, NRadMax = b.NRadMax, RankMax = b.RankMax, NDensityMax = p,
            CutoffMax = b.CutoffMax, DeltaSplineBins = b.DeltaSplineBins, E0 = b.E0, Bonds = b.Bonds,
            Embeddings = [.. b.Embeddings.Select(e => new AceEmbedding { Npoti = e.Npoti, FsParameters = fs[..(2 * p)], NDensity = p, RhoCoreCut = e.RhoCoreCut, DRhoCoreCut = e.DRhoCoreCut })],
            Functions = [.. b.Functions.Select(fl => fl.Select(f => new AceFunction
            {
                Mu0 = f.Mu0, Rank = f.Rank, NDensity = p, Mus = f.Mus, Ns = f.Ns, Ls = f.Ls, Ms = f.Ms,
                Ctildes = [.. Enumerable.Range(0, f.MsCount).SelectMany(s => Enumerable.Range(0, p).Select(q =>
                    q < 2 ? f.Ctildes[s * 2 + q] : f.Ctildes[s * 2] * (rng.NextDouble() - 0.5)))],
            }).ToArray())],
        };
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void OneAndThreeDensitiesRecursiveEqualsProductAndMatchesFiniteDifferences(int densities)
    {
        var basis = WithDensities(PaceFiniteDifferenceTests.SyntheticTwoElement(), densities);
        var s = PaceFiniteDifferenceTests.RattledFcc(6, [28, 29], a: 3.55, rattle: 0.2);
        CompareEvaluators($"{densities} densities", basis, s);
        var p = AcePotential.Create(basis, null, AceEvaluatorKind.Recursive);
        var r = p.Calculate(s);
        FiniteDifferences.AssertMatch($"{densities}-density PACE, recursive", x => p.Calculate(x, false, false).Energy, s, r.Forces!, r.Stress, 1e-6, 1e-6);
    }

    /// <summary>Species with different graphs: Cu keeps two densities and every function, Ni one density and ranks ≤ 2 only.</summary>
    [Fact]
    public void SpeciesWithDifferentDensitiesAndRanksRecursiveEqualsProduct()
    {
        var b = PaceFiniteDifferenceTests.SyntheticTwoElement();
        var ni = b.Functions[1].Where(f => f.Rank <= 2).Select(f => new AceFunction
        {
            Mu0 = 1, Rank = f.Rank, NDensity = 1, Mus = f.Mus, Ns = f.Ns, Ls = f.Ls, Ms = f.Ms,
            Ctildes = [.. Enumerable.Range(0, f.MsCount).Select(q => f.Ctildes[2 * q])],
        }).ToArray();
        var basis = new AceBasisSet
        {
            Elements = b.Elements, LMax = b.LMax, NRadBase = b.NRadBase, NRadMax = b.NRadMax, RankMax = b.RankMax, NDensityMax = 2,
            CutoffMax = b.CutoffMax, DeltaSplineBins = b.DeltaSplineBins, E0 = b.E0, Bonds = b.Bonds,
            Embeddings = [b.Embeddings[0], new AceEmbedding { Npoti = "FinnisSinclair", FsParameters = [1, 0.8], NDensity = 1, RhoCoreCut = 3.0, DRhoCoreCut = 2.5 }],
            Functions = [b.Functions[0], ni],
        };
        var s = PaceFiniteDifferenceTests.RattledFcc(8, [29, 28, 28, 29, 28], a: 3.55, rattle: 0.2);
        CompareEvaluators("mixed species", basis, s);
        var p = AcePotential.Create(basis, null, AceEvaluatorKind.Recursive);
        var r = p.Calculate(s);
        FiniteDifferences.AssertMatch("mixed-species PACE, recursive", x => p.Calculate(x, false, false).Energy, s, r.Forces!, r.Stress, 1e-6, 1e-6);
    }

    [Fact]
    public void EvaluatorOptionIsParsed()
    {
        Assert.Equal(AceEvaluatorKind.Recursive, AcePotential.ParseEvaluator("Recursive"));
        Assert.Equal(AceEvaluatorKind.Product, AcePotential.ParseEvaluator("product"));
        Assert.Throws<Mlip.Validation.MlipException>(() => AcePotential.ParseEvaluator("fast"));
        var basis = PaceFiniteDifferenceTests.SyntheticTwoElement();
        Assert.Equal("recursive", AcePotential.Create(basis, null, AceEvaluatorKind.Recursive).Spec.Parameters["evaluator"]);
        Assert.Equal("product", AcePotential.Create(basis, null, AceEvaluatorKind.Product).Spec.Parameters["evaluator"]);
        Assert.Equal(AceEvaluator.DefaultKind, ((AceDensities)AcePotential.Create(basis).Descriptor).Evaluator.Kind);
    }
}
