using Mlip.Descriptors;
using Mlip.Descriptors.Ace;
using Mlip.Models;
using Mlip.Models.Ace;
using Mlip.Structures;
using Mlip.Training;
using Xunit;
using Xunit.Abstractions;
using Mlip.Tests.Support;

namespace Mlip.Tests.Training;

/// <summary>
/// The nonlinear ACE embedding fit (two densities, FinnisSinclairShiftedScaled) on energies and forces of Cu cells over a
/// wide volume range labelled by a known FS-ACE on the same basis (ρ_2 a positive pair density under the square root):
/// the truth has zero loss; Levenberg–Marquardt from the linear fit (second density 0) reaches it to round-off and the
/// recovered model predicts the truth on held-out cells; L-BFGS from the same start only creeps below the linear loss; the
/// loss gradient equals central finite differences; the exported .yace evaluates to exactly the fitted model; and
/// `mlip train` (embedding fs, optimizer lm) logs one line per step and writes model.yace.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class AceEmbeddingFitTests(ITestOutputHelper output)
{
    [Fact]
    public void FsEmbeddingFitReachesTheTruthWithLevenbergMarquardtAndExportsToYace()
    {
        var spec = new DescriptorSpec("ace", new Dictionary<string, string> { ["rc"] = "5.0", ["order"] = "3", ["nmax"] = "6,3,2", ["lmax"] = "0,2,1", ["radial"] = "ChebExpCos", ["lambda"] = "3" });
        var d = (AceBasisDescriptor)spec.Create(["Cu"]);
        int k = d.FeatureCount;
        var data = new List<Structure>();
        for (int q = 0; q < 24; q++)
            data.Add(Mlip.Tests.Descriptors.DescriptorTestKit.RandomCell(q, ["Cu"], atoms: 6, minDistance: 2.0, length: 4.6 + 0.08 * q));
        // the truth: an FS-ACE on the same basis, ρ_1 random, ρ_2 a positive pair density (rank-1 functions), E = ρ_1 + √ρ_2 (shifted, scaled)
        var rng = new Random(8);
        var (truth, truthParameters) = FsTruth(d, data, rng);
        foreach (var s in data)
        {
            var r = truth.Calculate(s);
            s.Energy = r.Energy; s.Forces = r.Forces;
        }
        var weights = new LossWeights { Energy = 1, Force = 0.1, Stress = 0 };
        var (linear, _) = AceLinearFit.Fit(d, data, new AceLinearFitOptions { Weights = weights, Ridge = 1e-8, Threads = 1 }, LeastSquaresSolvers.ByName("default", 1));

        // the linear start: second density exactly zero gives the linear model's loss
        var flat = new AceEmbeddingFit(d, data, linear, new AceEmbeddingFitOptions { Weights = weights, InitialScale = 0, Threads = 1 });
        double linearLoss = flat.Loss(flat.Parameters, null);
        var linearPotential = new Potential(d, linear, spec);
        double direct = 0, fsum = 0; int fn = 0;
        foreach (var s in data)
        {
            var r = linearPotential.Calculate(s);
            direct += Math.Pow((r.Energy - s.Energy!.Value) / s.Count, 2);
            for (int i = 0; i < s.Count; i++) { fsum += (r.Forces![i] - s.Forces![i]).NormSquared; fn += 3; }
        }
        direct = direct / data.Count + 0.1 * fsum / fn;
        Assert.Equal(direct, linearLoss, 10);

        // the regulariser is centred on the linear fit: a huge ridge keeps the linear model (density 1 = linear, density 2 = 0),
        // a moderate one moves part of the way to the truth
        var stiff = new AceEmbeddingFit(d, data, linear, new AceEmbeddingFitOptions { Weights = weights, Iterations = 20, Threads = 1, Ridge = 1e6 });
        Assert.Equal(0, stiff.Penalty(stiff.Parameters));
        stiff.Run();
        double stiffData = stiff.Loss(stiff.Parameters, null) - stiff.Penalty(stiff.Parameters);
        output.WriteLine($"ridge 1e6: data loss {stiffData:E4} ({stiffData / linearLoss:F6} of the linear loss)");
        Assert.InRange(stiffData / linearLoss, 0.999, 1.0 + 1e-12);
        var moderate = new AceEmbeddingFit(d, data, linear, new AceEmbeddingFitOptions { Weights = weights, Iterations = 100, Threads = 1, Ridge = 1e-8 });
        moderate.Run();
        double moderateData = moderate.Loss(moderate.Parameters, null) - moderate.Penalty(moderate.Parameters);
        output.WriteLine($"ridge 1e-8: data loss {moderateData:E4} ({moderateData / linearLoss:E2} of the linear loss)");
        Assert.True(moderateData < 0.5 * linearLoss);

        // the truth is in the model family (same basis and σ): its loss is zero
        var fit = new AceEmbeddingFit(d, data, linear, new AceEmbeddingFitOptions { Weights = weights, Iterations = 400, Threads = 1 });
        Assert.True(fit.Loss(truthParameters, null) < 1e-20);
        var lines = new List<string>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (start, end) = fit.Run(log: lines.Add);
        double seconds = clock.Elapsed.TotalSeconds;
        foreach (var line in lines.Where((_, i) => i % 20 == 0 || i >= lines.Count - 3)) output.WriteLine(line);
        int accepted = lines.Count(l => l.Contains("accepted"));
        output.WriteLine($"{d.FeatureCount} functions, {fit.Parameters.Length} parameters; loss: linear {linearLoss:E4}, LM start {start:E4}, after {lines.Count} Levenberg-Marquardt steps ({accepted} accepted) {end:E4} ({seconds:F2} s)");
        Assert.Equal(linearLoss, start, 15); // initial scale 0: the start is the linear fit
        // measured: 1.4e-32 (2e-26 of the linear loss) after 214 steps
        Assert.True(end < 1e-16 * linearLoss, $"Levenberg-Marquardt did not reach the truth ({end} vs linear {linearLoss})");

        // the recovered model predicts the truth on cells it was not fitted to
        var fitted = AcePotential.Create(fit.ToCTilde());
        double heldE = 0, heldF = 0;
        for (int q = 0; q < 6; q++)
        {
            var s = Mlip.Tests.Descriptors.DescriptorTestKit.RandomCell(100 + q, ["Cu"], atoms: 6, minDistance: 2.0, length: 4.7 + 0.3 * q);
            var rt = truth.Calculate(s); var rf = fitted.Calculate(s);
            heldE = Math.Max(heldE, Math.Abs(rt.Energy - rf.Energy) / s.Count);
            for (int i = 0; i < s.Count; i++) heldF = Math.Max(heldF, (rt.Forces![i] - rf.Forces![i]).Norm);
        }
        output.WriteLine($"held-out cells, fitted vs truth: max |ΔE|/N {heldE:E2} eV/atom, max |ΔF| {heldF:E2} eV/Å");
        Assert.True(heldE < 1e-8 && heldF < 1e-7, $"held-out: {heldE:E2} eV/atom, {heldF:E2} eV/Å");

        // L-BFGS (optimizer: lbfgs) from the same start: slow on this ill-conditioned problem
        var slow = new AceEmbeddingFit(d, data, linear, new AceEmbeddingFitOptions { Weights = weights, Iterations = 300, Threads = 1, Optimizer = AceEmbeddingOptimizer.Lbfgs });
        var (_, lbfgsEnd) = slow.Run();
        output.WriteLine($"L-BFGS, 300 steps from the linear fit: loss {lbfgsEnd:E4} ({lbfgsEnd / linearLoss:F3} of the linear loss)");
        Assert.True(lbfgsEnd < linearLoss);

        // gradient vs central differences at the L-BFGS point (not a minimum; densities away from F's kink at 0), on a spread of parameters (E0, density 1, density 2)
        var x = (double[])slow.Parameters.Clone();
        var g = new double[x.Length];
        slow.Loss(x, g);
        double worst = 0;
        foreach (int j in new[] { 0, 1, 2, 5, 12, 21, 30, x.Length - 1, x.Length - 2 })
        {
            double h = 1e-6 * Math.Max(1, Math.Abs(x[j]));
            var xp = (double[])x.Clone(); xp[j] += h;
            var xm = (double[])x.Clone(); xm[j] -= h;
            double fd = (slow.Loss(xp, null) - slow.Loss(xm, null)) / (2 * h);
            double err = Math.Abs(fd - g[j]) / Math.Max(1e-8, Math.Abs(g[j]) + Math.Abs(fd));
            worst = Math.Max(worst, err);
            Assert.True(err < 1e-5, $"parameter {j}: gradient {g[j]:E6}, finite differences {fd:E6}");
        }
        output.WriteLine($"gradient vs central differences: worst relative difference {worst:E2}");

        // export: the C-tilde potential (and its .yace) is the fitted model
        var basis = fit.ToCTilde();
        string path = Path.Combine(TestPaths.TempDir(), "fs.yace");
        AcePotential.Save(path, basis);
        var pace = ModelFile.Load(path);
        var (ev, fv) = fit.Evaluate();
        int o = 0; double de = 0, df = 0;
        for (int s = 0; s < data.Count; s++)
        {
            var r = pace.Calculate(data[s]);
            de = Math.Max(de, Math.Abs(r.Energy - ev[s]));
            for (int i = 0; i < data[s].Count; i++, o++)
                df = Math.Max(df, Math.Abs(r.Forces![i].X - fv![3 * o]) + Math.Abs(r.Forces![i].Y - fv[3 * o + 1]) + Math.Abs(r.Forces![i].Z - fv[3 * o + 2]));
        }
        output.WriteLine($".yace vs fitted model: max |ΔE| {de:E2} eV, max |ΔF| {df:E2} eV/Å");
        Assert.True(de < 1e-8 && df < 1e-8);

        // the same through `mlip train` (model kind ace, embedding fs): model.yace is the run's model
        string dir = TestPaths.TempDir();
        Mlip.IO.StructureIO.Write(Path.Combine(dir, "train.xyz"), data);
        File.WriteAllText(Path.Combine(dir, "fs.yaml"), """
            train: train.xyz
            descriptor:
              type: ace
              parameters: {rc: 5.0, order: 3, nmax: [6, 3, 2], lmax: [0, 2, 1], radial: ChebExpCos, lambda: 3}
            model: {kind: ace, ridge: 1.0e-8, embedding: fs, optimizer: lm, iterations: 40}
            loss: {energy: 1, force: 0.1, stress: 0}
            threads: 1
            output: run
            """);
        var runLog = new StringWriter();
        var outcome = TrainingRun.Execute(TrainConfig.Load(Path.Combine(dir, "fs.yaml")), runLog);
        var lmLines = runLog.ToString().Split('\n').Where(l => l.StartsWith("fs embedding: LM")).ToList();
        Assert.NotEmpty(lmLines);
        output.WriteLine(lmLines[^1]);
        Assert.EndsWith("model.yace", outcome.ModelPath);
        var written = ModelFile.Load(outcome.ModelPath);
        Assert.Equal(outcome.Potential.Calculate(data[0]).Energy, written.Calculate(data[0]).Energy, 9);
        // an unknown optimiser is an error naming the config file, raised before any fitting
        File.WriteAllText(Path.Combine(dir, "bad.yaml"), File.ReadAllText(Path.Combine(dir, "fs.yaml")).Replace("optimizer: lm", "optimizer: newton"));
        var bad = Assert.Throws<Mlip.Validation.FileFormatException>(() => TrainingRun.Execute(TrainConfig.Load(Path.Combine(dir, "bad.yaml")), TextWriter.Null));
        Assert.Contains("bad.yaml", bad.Message);
        Assert.Contains("optimizer", bad.Message);
        output.WriteLine($"mlip train (embedding fs, 40 LM steps): training MAE {outcome.TrainErrors.Overall.EnergyMaeMevPerAtom:F3} meV/atom, {outcome.TrainErrors.Overall.ForceMaeEvPerA:F4} eV/Å");
    }

    /// <summary>
    /// The labels of the FS tests: a Cu FS-ACE on <paramref name="d"/>'s basis with ρ_1 random and ρ_2 a positive pair density
    /// (rank-1 functions), E = -3 + ρ_1 + F(ρ_2); its parameters in the fit's scaled form (σ of <paramref name="data"/>).
    /// </summary>
    internal static (Potential Truth, double[] Parameters) FsTruth(AceBasisDescriptor d, IReadOnlyList<Structure> data, Random rng)
    {
        int k = d.FeatureCount;
        var zero = new PolynomialModel(1, [29], k, [[-3.0, .. new double[k]]]);
        var maker = new AceEmbeddingFit(d, data, zero, new AceEmbeddingFitOptions { InitialScale = 0, Threads = 1 });
        for (int a = 0; a < k; a++)
        {
            maker.Parameters[1 + 2 * a] = 0.05 * (2 * rng.NextDouble() - 1);
            maker.Parameters[1 + 2 * a + 1] = d.Functions[a].Rank == 1 ? 0.3 * rng.NextDouble() : 0;
        }
        return (AcePotential.Create(maker.ToCTilde()), maker.Parameters.ToArray());
    }
}

/// <summary>
/// The residuals and the exact Jacobian of the embedding fit (what Levenberg–Marquardt works on): Σ r² is the loss, J equals
/// central finite differences of r, JᵀJ and Jᵀr accumulated over blocks of structures equal those of the whole J, on a
/// two-element data set cut into several blocks with one structure without forces and one without energy; all with the
/// Tikhonov regulariser on (its rows √(λ s_k) a_kp are part of r and J, their sum of squares is the penalty, and the data
/// part of the loss is that of the fit without it); Levenberg–Marquardt then reaches a stationary point of the regularised loss.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class AceEmbeddingJacobianTests(ITestOutputHelper output)
{
    [Fact]
    public void JacobianEqualsFiniteDifferencesOfTheResiduals()
    {
        var spec = new DescriptorSpec("ace", new Dictionary<string, string> { ["rc"] = "4.5", ["order"] = "3", ["nmax"] = "4,2,1", ["lmax"] = "0,1,1", ["radial"] = "ChebExpCos", ["lambda"] = "3" });
        var d = (AceBasisDescriptor)spec.Create(["Cu", "Ni"]);
        int k = d.FeatureCount;
        var rng = new Random(5);
        var data = new List<Structure>();
        for (int q = 0; q < 6; q++)
        {
            var s = Mlip.Tests.Descriptors.DescriptorTestKit.RandomCell(40 + q, ["Cu", "Ni"], atoms: 5, minDistance: 2.0, length: 4.4 + 0.1 * q);
            s.Energy = q == 2 ? null : -3.5 * s.Count + 0.3 * rng.NextDouble();
            s.Forces = q == 4 ? null : [.. Enumerable.Range(0, s.Count).Select(_ => new Vec3(rng.NextDouble() - 0.5, rng.NextDouble() - 0.5, rng.NextDouble() - 0.5))];
            data.Add(s);
        }
        double[] Coefficients(double e0) => [e0, .. Enumerable.Range(0, k).Select(_ => 0.5 * (2 * rng.NextDouble() - 1))];
        var linear = new PolynomialModel(1, [29, 28], k, [Coefficients(-3.2), Coefficients(-3.9)]);
        var plain = new AceEmbeddingFitOptions { Weights = new LossWeights { Energy = 1, Force = 0.3 }, InitialScale = 1.0, Threads = 1, Seed = 2, ChunkDoubles = 300 * k };
        var options = plain with { Ridge = 2e-3, Iterations = 300, Tolerance = 1e-15 };
        var fit = new AceEmbeddingFit(d, data, linear, options);
        var unregularised = new AceEmbeddingFit(d, data, linear, plain);
        Assert.True(fit.ChunkCount >= 3, $"{fit.ChunkCount} blocks");
        var x = fit.Parameters;
        Assert.Equal(unregularised.Parameters, x); // same seed, same start
        int n = x.Length;
        var r = fit.Residuals(x);
        int rows = r.Length;
        Assert.Equal(fit.ResidualCount, rows);
        // one regulariser row per density coefficient (2 elements x k functions x 2 densities), after the data rows
        int dataRows = unregularised.ResidualCount;
        Assert.Equal(dataRows + 2 * k * fit.DensityCount, rows);
        Assert.Equal(0, unregularised.Penalty(x));
        double loss = fit.Loss(x, null), penalty = fit.Penalty(x);
        // relative bounds, not equality: each pair sums the same terms in different orders (libtorch's reductions, split
        // over its threads, against a managed loop or another libtorch expression), which may differ in the last bits
        static void Close(double expected, double actual, double rel, string what) =>
            Assert.True(Math.Abs(expected - actual) <= rel * (1 + Math.Abs(expected)), $"{what}: {expected:R} vs {actual:R}");
        Close(loss, r.Sum(v => v * v), 1e-12, "loss = Σ r²");
        Close(penalty, r.Skip(dataRows).Sum(v => v * v), 1e-12, "penalty = Σ r² of the regulariser rows");
        Close(unregularised.Loss(x, null), loss - penalty, 1e-12, "data part");
        output.WriteLine($"loss {loss:E6}, of which the regulariser {penalty:E6}");
        Assert.True(penalty > 0.05 * loss, "the regulariser is too weak here to be tested");
        var jac = fit.Jacobian(x);
        Assert.Equal((long)rows * n, jac.Length);
        // J vs central differences, column by column
        double worst = 0, scale = jac.Max(Math.Abs);
        for (int j = 0; j < n; j++)
        {
            double h = 1e-5 * Math.Max(1, Math.Abs(x[j]));
            var xp = (double[])x.Clone(); xp[j] += h;
            var xm = (double[])x.Clone(); xm[j] -= h;
            var rp = fit.Residuals(xp); var rm = fit.Residuals(xm);
            for (int i = 0; i < rows; i++)
            {
                double fd = (rp[i] - rm[i]) / (2 * h);
                double err = Math.Abs(fd - jac[(long)i * n + j]);
                worst = Math.Max(worst, err / scale);
                Assert.True(err < 1e-6 * scale + 1e-7 * Math.Abs(fd), $"row {i}, parameter {j}: J {jac[(long)i * n + j]:E8}, finite differences {fd:E8}");
            }
        }
        output.WriteLine($"{rows} residuals x {n} parameters in {fit.ChunkCount} blocks; J vs central differences: worst |ΔJ|/max|J| {worst:E2}");
        // blocked normal equations = those of the whole J; Jᵀr = gradient/2
        var jtj = new double[n * n]; var jtr = new double[n];
        Close(loss, fit.NormalEquations(x, jtj, jtr), 1e-12, "loss of the normal equations");
        var grad = new double[n];
        fit.Loss(x, grad);
        for (int a = 0; a < n; a++)
        {
            double g = 0;
            for (int i = 0; i < rows; i++) g += jac[(long)i * n + a] * r[i];
            Close(g, jtr[a], 1e-10, $"Jᵀr[{a}]");
            Assert.True(Math.Abs(2 * jtr[a] - grad[a]) < 1e-10 * (1 + Math.Abs(grad[a])), $"parameter {a}: 2 Jᵀr {2 * jtr[a]:E8}, autograd {grad[a]:E8}");
            for (int b = 0; b < n; b += 7)
            {
                double s = 0;
                for (int i = 0; i < rows; i++) s += jac[(long)i * n + a] * jac[(long)i * n + b];
                Assert.True(Math.Abs(s - jtj[a * n + b]) < 1e-10 * (1 + Math.Abs(s)));
            }
        }

        // Levenberg–Marquardt minimises the regularised loss: with one (linear) density it is a ridge regression, convex, and
        // LM from the random start stops where its gradient vanishes (with √ρ the kink of F at ρ = 0 can stall it short of that)
        var single = new AceEmbeddingFit(d, data, linear, options with { FsParameters = [1, 1] });
        var g0 = new double[single.Parameters.Length];
        single.Loss(single.Parameters, g0);
        var (start, end) = single.Run();
        var gEnd = new double[g0.Length];
        Close(end, single.Loss(single.Parameters, gEnd), 1e-12, "loss at the end");
        double n0 = Math.Sqrt(g0.Sum(v => v * v)), n1 = Math.Sqrt(gEnd.Sum(v => v * v));
        output.WriteLine($"Levenberg-Marquardt, one density, with the regulariser: loss {start:E4} -> {end:E4} (regulariser {single.Penalty(single.Parameters):E3}), |gradient| {n0:E2} -> {n1:E2}");
        Assert.True(end < start && n1 < 1e-8 * n0, $"|gradient| {n0:E2} -> {n1:E2}");
    }
}
