using System.Numerics.Tensors;
using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Tests.Descriptors;
using Mlip.Training;
using Mlip.Validation;
using Mlip.Tests.Support;

namespace Mlip.Tests.Models;

[Collection(LibtorchCollection.Name), LibtorchThreads]
public class GaussianProcessTests
{
    private static readonly DescriptorSpec Small = new("so4", new Dictionary<string, string> { ["twojmax"] = "2", ["rcutfac"] = "3.0" });

    /// <summary>A GPR model with random sparse points (descriptors of random cells), random α and offsets.</summary>
    internal static GaussianProcessModel RandomModel(IDescriptor d, int[] elements, GaussianProcessKernel kernel, FeatureNormalization normalization, int seed, double bias = 0)
    {
        var rng = new Random(seed);
        int k = d.FeatureCount;
        var symbols = elements.Select(Elements.Symbol).ToArray();
        var points = elements.Select(_ => new List<double>()).ToArray();
        for (int c = 0; c < 4; c++)
        {
            var s = DescriptorTestKit.RandomCell(seed * 10 + c, symbols, atoms: 5, length: 5.0);
            var set = d.Compute(s, derivatives: false);
            for (int i = 0; i < s.Count; i++) points[Array.IndexOf(elements, s.AtomicNumbers[i])].AddRange(set.Of(i).ToArray());
        }
        var mean = Enumerable.Range(0, k).Select(_ => normalization == FeatureNormalization.Standard ? rng.NextDouble() * 0.1 : 0).ToArray();
        var scale = Enumerable.Range(0, k).Select(_ => normalization == FeatureNormalization.None ? 1 : 0.5 + rng.NextDouble()).ToArray();
        var alpha = points.Select(p => Enumerable.Range(0, p.Count / k).Select(_ => rng.NextDouble() - 0.5).ToArray()).ToArray();
        var offsets = elements.Select(_ => rng.NextDouble() - 3).ToArray();
        return new GaussianProcessModel(elements, k, kernel, mean, scale, [.. points.Select(p => p.ToArray())], alpha, offsets, bias: bias);
    }

    /// <summary>Small labelled data: energies, forces and stresses of a known quadratic model on random Si/O cells.</summary>
    private static List<Structure> Labelled(Potential truth, int from, int count, double length = 5.0) =>
        [.. Enumerable.Range(from, count).Select(i =>
        {
            var s = DescriptorTestKit.RandomCell(i, ["Si", "O"], atoms: 5, length: length);
            var r = truth.Calculate(s);
            s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
            return s;
        })];

    [Theory]
    [InlineData(GaussianProcessKernelType.Dot, 1)]
    [InlineData(GaussianProcessKernelType.Dot, 2)]
    [InlineData(GaussianProcessKernelType.Dot, 4)]
    [InlineData(GaussianProcessKernelType.Rbf, 1)]
    [InlineData(GaussianProcessKernelType.Rbf, 2)]
    [InlineData(GaussianProcessKernelType.Rbf, 3)]
    public void KernelDerivativeMatchesFiniteDifferences(GaussianProcessKernelType type, int zeta)
    {
        var kernel = new GaussianProcessKernel(type, 1.7, zeta, 0.6);
        const double h = 1e-6;
        foreach (double d in new[] { -0.7, -0.1, 0.2, 0.55, 0.93, 1.0 })
        {
            kernel.Value(d, out double slope);
            double fd = (kernel.Value(d + h) - kernel.Value(d - h)) / (2 * h);
            Assert.True(Math.Abs(fd - slope) <= 1e-7 * Math.Max(1, Math.Abs(slope)), $"{type} zeta {zeta} at d = {d}: {slope} vs {fd}");
        }
        // the definitions: dot σ² d^ζ; rbf σ² exp(−(1 − d^ζ)/(2l²)), equal to σ² at d = 1
        Assert.Equal(1.7, kernel.Value(1.0), 14);
        double expected = type == GaussianProcessKernelType.Dot ? 1.7 * Math.Pow(0.3, zeta) : 1.7 * Math.Exp(-(1 - Math.Pow(0.3, zeta)) / (2 * 0.36));
        Assert.Equal(expected, kernel.Value(0.3), 14);
    }

    [Theory]
    [InlineData(GaussianProcessKernelType.Dot, 2, FeatureNormalization.Scale, 0.0)]
    [InlineData(GaussianProcessKernelType.Dot, 4, FeatureNormalization.None, 0.0)]
    [InlineData(GaussianProcessKernelType.Dot, 2, FeatureNormalization.Scale, 2.5)]
    [InlineData(GaussianProcessKernelType.Rbf, 2, FeatureNormalization.Standard, 0.0)]
    [InlineData(GaussianProcessKernelType.Rbf, 3, FeatureNormalization.Scale, 1.0)]
    public void FeatureGradientMatchesFiniteDifferences(GaussianProcessKernelType type, int zeta, FeatureNormalization normalization, double bias)
    {
        var d = Small.Create(["O", "Si"]);
        var model = RandomModel(d, [8, 14], new GaussianProcessKernel(type, 0.8, zeta, 0.7), normalization, 5, bias);
        Assert.Equal(bias > 0 ? d.FeatureCount + 1 : d.FeatureCount, model.UnitLength);
        var s = DescriptorTestKit.RandomCell(77, ["Si", "O"], atoms: 5, length: 5.0);
        var x = d.Compute(s, derivatives: false).Values;
        int n = s.Count, k = d.FeatureCount;
        var e = new double[n];
        var g = new double[n * k];
        model.Evaluate(x, s.AtomicNumbers, e, g);
        double gmax = g.Max(Math.Abs);
        const double h = 1e-6;
        for (int q = 0; q < x.Length; q++)
        {
            var plus = (double[])x.Clone(); var minus = (double[])x.Clone();
            double step = h * Math.Max(1, Math.Abs(x[q]));
            plus[q] += step; minus[q] -= step;
            var ep = new double[n]; var em = new double[n];
            model.Evaluate(plus, s.AtomicNumbers, ep, []);
            model.Evaluate(minus, s.AtomicNumbers, em, []);
            double fd = (ep[q / k] - em[q / k]) / (2 * step);
            Assert.True(Math.Abs(fd - g[q]) <= 1e-6 * gmax, $"dE/dX[{q}]: {g[q]} vs {fd}");
        }
    }

    [Theory]
    [InlineData("so4", GaussianProcessKernelType.Dot, 2, FeatureNormalization.Scale, 0.0)]
    [InlineData("so4", GaussianProcessKernelType.Rbf, 2, FeatureNormalization.None, 0.0)]
    [InlineData("so4", GaussianProcessKernelType.Dot, 2, FeatureNormalization.Scale, 3.0)]
    [InlineData("so3", GaussianProcessKernelType.Dot, 4, FeatureNormalization.Standard, 0.0)]
    [InlineData("so3", GaussianProcessKernelType.Rbf, 1, FeatureNormalization.Scale, 1.0)]
    public void ForcesAndStressAreDerivativesOfTheEnergy(string descriptor, GaussianProcessKernelType type, int zeta, FeatureNormalization normalization, double bias)
    {
        var spec = new DescriptorSpec(descriptor, descriptor == "so4"
            ? new Dictionary<string, string> { ["twojmax"] = "4", ["rcutfac"] = "3.5" }
            : new Dictionary<string, string> { ["rcutfac"] = "4.0", ["nmax"] = "3", ["lmax"] = "2" });
        var d = spec.Create(["O", "Si"]);
        var model = RandomModel(d, [8, 14], new GaussianProcessKernel(type, 1.3, zeta, 0.5), normalization, 3, bias);
        var p = new Potential(d, model, spec);
        var s = DescriptorTestKit.RandomCell(21, ["Si", "O"], atoms: 6);
        PolynomialModelTests.AssertForcesAndStressMatchEnergy(p, s);
    }

    [Fact]
    public void FitInterpolatesAKnownQuadraticModel()
    {
        // labels made by a known smooth (quadratic) model; the GPR must reproduce it on new structures. The
        // bias keeps |x̃| in the kernel (a quadratic in x̃ is not a function of x̃/|x̃| alone); the marginal
        // likelihood picks ζ and b from the grid and the (tiny) noise levels.
        var d = Small.Create(["O", "Si"]);
        var truth = new Potential(d, PolynomialModelTests.RandomModel(2, [8, 14], d.FeatureCount, 9), Small);
        var data = Labelled(truth, 100, 60);
        var set = TrainingSet.Compute(d, data, true, 2);
        var options = new GaussianProcessFitOptions
        {
            Kernel = GaussianProcessKernelType.Dot, Zeta = [2, 4], Bias = [0, 1, 3], SparsePoints = 120, Seed = 3, Threads = 2,
            Weights = new LossWeights { Energy = 1, Force = 1, Stress = 1 },
        };
        var (model, report) = GaussianProcessFit.Fit(set, options);
        Assert.Equal(6, report.Trials.Count);
        Assert.Equal(report.Trials.Max(t => t.LogMarginalLikelihood), report.Chosen.LogMarginalLikelihood);
        Assert.Equal(60 * 5 * 3, report.ForceRows);
        Assert.Equal(60, report.EnergyRows);
        Assert.Equal(60 * 6, report.StressRows);
        var fitted = new Potential(d, model, Small);

        var probes = Labelled(truth, 900, 10);
        double eErr = 0, eSpread = 0, fErr = 0, fNorm = 0;
        double meanE = probes.Average(s => s.Energy!.Value / s.Count);
        foreach (var s in probes)
        {
            var r = fitted.Calculate(s);
            eErr += Math.Abs(r.Energy - s.Energy!.Value) / s.Count;
            eSpread += Math.Abs(s.Energy!.Value / s.Count - meanE);
            for (int i = 0; i < s.Count; i++) { fErr += (r.Forces![i] - s.Forces![i]).Norm; fNorm += s.Forces![i].Norm; }
        }
        Assert.True(eErr < 0.01 * eSpread, $"energy error {eErr / probes.Count:G3} eV/atom vs spread {eSpread / probes.Count:G3}");
        Assert.True(fErr < 0.03 * fNorm, $"force error {fErr / fNorm:G3} of the force magnitude");
    }

    [Theory]
    [InlineData(GaussianProcessKernelType.Rbf, 2, 0.0)]
    [InlineData(GaussianProcessKernelType.Dot, 2, 1.0)]
    [InlineData(GaussianProcessKernelType.Dot, 1, 0.0)]
    public void SolutionAndLikelihoodAndVarianceEqualTheDenseFormulas(GaussianProcessKernelType type, int zeta, double bias)
    {
        // energy-only data, fixed hyperparameters: α, log p(y) and var(E*) against the textbook N×N formulas
        var d = Small.Create(["O", "Si"]);
        var truth = new Potential(d, PolynomialModelTests.RandomModel(2, [8, 14], d.FeatureCount, 4), Small);
        var data = Labelled(truth, 300, 12);
        var set = TrainingSet.Compute(d, data, false, 2);
        double s2 = 0.3, sigmaE = 0.02;
        var options = new GaussianProcessFitOptions
        {
            Kernel = type, Zeta = [zeta], LengthScale = [0.4], SparsePoints = 8, Selection = SparseSelection.Random,
            Weights = new LossWeights { Energy = 1, Force = 0 }, Variance = s2, SigmaEnergy = sigmaE, Jitter = 1e-6, Threads = 2, Bias = [bias],
        };
        var (model, report) = GaussianProcessFit.Fit(set, options);
        int mt = model.TotalSparsePoints, n = data.Count, k = model.UnitLength;
        Assert.Equal(16, mt);

        // K_MM (block-diagonal) and the energy rows Σ_i k(x_i, x_m)/N
        var starts = new[] { 0, model.SparseCount(0) };
        var kmm = new double[mt, mt];
        for (int e = 0; e < 2; e++)
            for (int p = 0; p < model.SparseCount(e); p++)
                for (int q = 0; q < model.SparseCount(e); q++)
                    kmm[starts[e] + p, starts[e] + q] = model.Kernel.Value(TensorPrimitives.Dot(model.UnitSparse(e).Slice(p * k, k), model.UnitSparse(e).Slice(q * k, k)))
                                                        + (p == q ? 1e-6 * s2 : 0);
        double[] Row(Structure st)
        {
            var x = d.Compute(st, false);
            var row = new double[mt];
            var u = new double[model.UnitLength];
            for (int i = 0; i < st.Count; i++)
            {
                int e = model.ElementIndex(st.AtomicNumbers[i]);
                model.Unit(x.Of(i), u);
                for (int m = 0; m < model.SparseCount(e); m++)
                    row[starts[e] + m] += model.Kernel.Value(TensorPrimitives.Dot(u, model.UnitSparse(e).Slice(m * k, k)));
            }
            return row;
        }
        var knm = new double[n, mt];
        var y = new double[n];
        for (int s = 0; s < n; s++)
        {
            var row = Row(data[s]);
            for (int m = 0; m < mt; m++) knm[s, m] = row[m] / data[s].Count;
            double e0 = data[s].AtomicNumbers.Sum(z => model.Offsets[model.ElementIndex(z)]);
            y[s] = (data[s].Energy!.Value - e0) / data[s].Count;
        }
        // α = (K_MM + K_MN Λ⁻¹ K_NM)⁻¹ K_MN Λ⁻¹ y
        var a = new double[mt, mt];
        var rhs = new double[mt];
        for (int p = 0; p < mt; p++)
        {
            for (int q = 0; q < mt; q++)
            {
                double v = kmm[p, q];
                for (int s = 0; s < n; s++) v += knm[s, p] * knm[s, q] / (sigmaE * sigmaE);
                a[p, q] = v;
            }
            for (int s = 0; s < n; s++) rhs[p] += knm[s, p] * y[s] / (sigmaE * sigmaE);
        }
        var alpha = Dense.Solve(a, rhs);
        var fitted = model.Alpha[0].Concat(model.Alpha[1]).ToArray();
        double scale = alpha.Max(Math.Abs);
        for (int m = 0; m < mt; m++) Assert.True(Math.Abs(alpha[m] - fitted[m]) < 1e-6 * scale, $"alpha[{m}]: {fitted[m]} vs {alpha[m]}");

        // log p(y) = log N(y | 0, K_NM K_MM⁻¹ K_MN + σ_E² I)
        var cov = new double[n, n];
        for (int s = 0; s < n; s++)
        {
            var ks = Enumerable.Range(0, mt).Select(m => knm[s, m]).ToArray();
            var w = Dense.Solve(kmm, ks);
            for (int t = 0; t < n; t++)
            {
                double v = 0;
                for (int m = 0; m < mt; m++) v += knm[t, m] * w[m];
                cov[s, t] = v + (s == t ? sigmaE * sigmaE : 0);
            }
        }
        double logDet = Dense.LogDet(cov);
        var cy = Dense.Solve(cov, y);
        double logLikelihood = -0.5 * (y.Zip(cy).Sum(t => t.First * t.Second) + logDet + n * Math.Log(2 * Math.PI));
        Assert.Equal(logLikelihood, report.Chosen.LogMarginalLikelihood, 6);

        // var(E*) = k** − k*ᵀ K_MM⁻¹ k* + k*ᵀ A⁻¹ k* for a new structure (more atoms than descriptor
        // components, so that the dot kernel takes its O(N K²) path for k**)
        var probe = DescriptorTestKit.RandomCell(4242, ["Si", "O"], atoms: 16, length: 7.0);
        Assert.True(probe.Count / 2 > k);
        var xs = d.Compute(probe, false);
        var kstar = Row(probe);
        double prior = 0;
        var ui = new double[k]; var uj = new double[k];
        for (int i = 0; i < probe.Count; i++)
            for (int j = 0; j < probe.Count; j++)
                if (probe.AtomicNumbers[i] == probe.AtomicNumbers[j])
                {
                    model.Unit(xs.Of(i), ui); model.Unit(xs.Of(j), uj);
                    prior += model.Kernel.Value(TensorPrimitives.Dot(ui, uj));
                }
        double variance = prior - kstar.Zip(Dense.Solve(kmm, kstar)).Sum(t => t.First * t.Second) + kstar.Zip(Dense.Solve(a, kstar)).Sum(t => t.First * t.Second);
        double predicted = model.EnergyVariance(xs.Values, probe.AtomicNumbers);
        Assert.True(Math.Abs(predicted - variance) < 1e-6 * variance, $"variance {predicted} vs {variance}");
    }

    [Fact]
    public void ForceAndStressRowsAreTheModelsOwnDerivatives()
    {
        // the fit's K_NM rows for forces and stresses, rebuilt independently: row m is the prediction of the
        // model with α = e_m (and no offsets), through Potential (the shared force/virial contraction)
        var d = Small.Create(["O", "Si"]);
        var truth = new Potential(d, PolynomialModelTests.RandomModel(2, [8, 14], d.FeatureCount, 6), Small);
        var data = Labelled(truth, 700, 6);
        var set = TrainingSet.Compute(d, data, true, 2);
        double[] sigma = [0.02, 0.1, 0.5];
        var (model, _) = GaussianProcessFit.Fit(set, new GaussianProcessFitOptions
        {
            Kernel = GaussianProcessKernelType.Dot, Zeta = [2], Bias = [1], SparsePoints = 6, Selection = SparseSelection.Random, Threads = 2,
            Weights = new LossWeights { Energy = 1, Force = 1, Stress = 1 }, Variance = 0.5, SigmaEnergy = sigma[0], SigmaForce = sigma[1], SigmaStress = sigma[2],
            Jitter = 1e-6,
        });
        int mt = model.TotalSparsePoints;
        var rows = new List<(double[] Row, double Y, double Sigma)>();
        var unitModels = Enumerable.Range(0, mt).Select(m =>
        {
            int e = m < model.SparseCount(0) ? 0 : 1, local = e == 0 ? m : m - model.SparseCount(0);
            var alpha = new[] { new double[model.SparseCount(0)], new double[model.SparseCount(1)] };
            alpha[e][local] = 1;
            return new Potential(d, new GaussianProcessModel([.. model.Elements], d.FeatureCount, model.Kernel, model.Mean, model.Scale,
                model.SparsePoints, alpha, [0, 0], bias: model.Bias), Small);
        }).ToArray();
        foreach (var s in data)
        {
            var r = unitModels.Select(u => u.Calculate(s)).ToArray();
            double e0 = s.AtomicNumbers.Sum(z => model.Offsets[model.ElementIndex(z)]);
            rows.Add((r.Select(x => x.Energy / s.Count).ToArray(), (s.Energy!.Value - e0) / s.Count, sigma[0]));
            for (int i = 0; i < s.Count; i++)
                for (int c = 0; c < 3; c++) rows.Add((r.Select(x => x.Forces![i][c]).ToArray(), s.Forces![i][c], sigma[1]));
            var voigt = s.Stress!.Value.ToVoigt();
            for (int q = 0; q < 6; q++) rows.Add((r.Select(x => x.Stress!.Value.ToVoigt()[q]).ToArray(), voigt[q], sigma[2]));
        }
        var a = new double[mt, mt];
        var rhs = new double[mt];
        int start1 = model.SparseCount(0);
        for (int p = 0; p < mt; p++)
            for (int q = 0; q < mt; q++)
            {
                int ep = p < start1 ? 0 : 1, eq = q < start1 ? 0 : 1;
                if (ep != eq) continue;
                var up = model.UnitSparse(ep).Slice((p - ep * start1) * model.UnitLength, model.UnitLength);
                var uq = model.UnitSparse(eq).Slice((q - eq * start1) * model.UnitLength, model.UnitLength);
                a[p, q] = model.Kernel.Value(TensorPrimitives.Dot(up, uq)) + (p == q ? 1e-6 * model.Kernel.Variance : 0);
            }
        foreach (var (row, y, sg) in rows)
            for (int p = 0; p < mt; p++)
            {
                rhs[p] += row[p] * y / (sg * sg);
                for (int q = 0; q < mt; q++) a[p, q] += row[p] * row[q] / (sg * sg);
            }
        var alphaDense = Dense.Solve(a, rhs);
        var fitted = model.Alpha[0].Concat(model.Alpha[1]).ToArray();
        double scale = alphaDense.Max(Math.Abs);
        for (int m = 0; m < mt; m++) Assert.True(Math.Abs(alphaDense[m] - fitted[m]) < 1e-6 * scale, $"alpha[{m}]: {fitted[m]} vs {alphaDense[m]}");
    }

    [Fact]
    public void VarianceIsLargerFarFromTheTrainingData()
    {
        var d = Small.Create(["O", "Si"]);
        var truth = new Potential(d, PolynomialModelTests.RandomModel(2, [8, 14], d.FeatureCount, 9), Small);
        var data = Labelled(truth, 100, 30);
        var set = TrainingSet.Compute(d, data, true, 2);
        var (model, _) = GaussianProcessFit.Fit(set, new GaussianProcessFitOptions { SparsePoints = 40, Threads = 2 });
        var p = new Potential(d, model, Small);
        double trained = data.Max(s => p.Calculate(s, false, false).EnergyVariance!.Value);
        // dilute cells (few neighbours within the 3 Å cutoff): environments the training set has not seen
        var far = Enumerable.Range(500, 5).Select(i => DescriptorTestKit.RandomCell(i, ["Si", "O"], atoms: 5, minDistance: 2.6, length: 7.5)).ToList();
        double farMean = far.Average(s => p.Calculate(s, false, false).EnergyVariance!.Value);
        Assert.True(farMean > 10 * trained, $"variance far from the data {farMean:G3} vs at most {trained:G3} on the training structures");
    }

    [Fact]
    public void SaveAndLoadGiveIdenticalPredictions()
    {
        var d = Small.Create(["O", "Si"]);
        var truth = new Potential(d, PolynomialModelTests.RandomModel(2, [8, 14], d.FeatureCount, 2), Small);
        var set = TrainingSet.Compute(d, Labelled(truth, 50, 15), true, 2);
        var (model, _) = GaussianProcessFit.Fit(set, new GaussianProcessFitOptions
        {
            Kernel = GaussianProcessKernelType.Rbf, Zeta = [2], LengthScale = [0.3, 0.6], SparsePoints = 20, Normalization = FeatureNormalization.Standard, Threads = 2,
        });
        var p = new Potential(d, model, Small);
        string path = Path.Combine(TestPaths.TempDir(), "gpr.json");
        ModelFile.Save(path, p);
        var q = ModelFile.Load(path);
        Assert.Equal("gpr", q.Model.Kind);
        var loaded = Assert.IsType<GaussianProcessModel>(q.Model);
        Assert.Equal(model.Kernel, loaded.Kernel);
        var s = DescriptorTestKit.RandomCell(8, ["Si", "O"], atoms: 6);
        var a = p.Calculate(s); var b = q.Calculate(s);
        Assert.Equal(a.Energy, b.Energy);
        Assert.Equal(a.EnergyVariance, b.EnergyVariance);
        Assert.True(a.EnergyVariance > 0);
        for (int i = 0; i < s.Count; i++) Assert.Equal(a.Forces![i], b.Forces![i]);
        Assert.Equal(a.Stress, b.Stress);
    }

    [Fact]
    public void SparseSelectionIsSeededAndSkipsDuplicates()
    {
        int rows = 50, k = 4;
        var x = new double[rows * k];
        for (int i = 0; i < rows; i++)
        {
            int src = i < 20 ? 0 : i; // rows 0..19 are the same environment
            var r = new Random(src);
            for (int f = 0; f < k; f++) x[i * k + f] = r.NextDouble() + 0.1;
            double norm = Math.Sqrt(TensorPrimitives.Dot(x.AsSpan(i * k, k), x.AsSpan(i * k, k)));
            TensorPrimitives.Multiply(x.AsSpan(i * k, k), 1 / norm, x.AsSpan(i * k, k));
        }
        foreach (var selection in new[] { SparseSelection.Cur, SparseSelection.Random })
        {
            var a = GaussianProcessFit.SelectSparse(x, rows, k, 40, selection, new Random(7));
            var b = GaussianProcessFit.SelectSparse(x, rows, k, 40, selection, new Random(7));
            Assert.Equal(a, b);
            Assert.Equal(31, a.Length); // 30 distinct rows plus one copy of the repeated environment
            Assert.Equal(a.Length, a.Distinct().Count());
            Assert.Single(a, i => i < 20);
        }
    }

    [Fact]
    public void TrainingRunFitsAGprAndReportsTheVarianceByGroup()
    {
        string dir = TestPaths.TempDir();
        var d = Small.Create(["O", "Si"]);
        var truth = new Potential(d, PolynomialModelTests.RandomModel(2, [8, 14], d.FeatureCount, 9), Small);
        List<Structure> Make(int from, int count) => [.. Labelled(truth, from, count).Select((s, q) => { s.Group = q % 2 == 0 ? "even" : "odd"; return s; })];
        Mlip.IO.StructureIO.Write(Path.Combine(dir, "train.xyz"), Make(0, 20));
        Mlip.IO.StructureIO.Write(Path.Combine(dir, "test.xyz"), Make(100, 6));
        string config = Path.Combine(dir, "gpr.yaml");
        File.WriteAllText(config, """
            train: train.xyz
            test: test.xyz
            descriptor: {type: so4, parameters: {twojmax: 2, rcutfac: 3.0}}
            model: {kind: gpr, kernel: dot, zeta: [2, 3], sparse: 30, selection: random, sigma_force: 0.01}
            loss: {energy: 1, force: 1}
            threads: 2
            output: run
            """);
        var log = new StringWriter();
        var outcome = TrainingRun.Execute(TrainConfig.Load(config), log);
        string text = log.ToString();
        Assert.Contains("test set: predictive variance of the energy by group", text);
        Assert.Contains("log marginal likelihood", text);
        var rows = UncertaintySummary.ByGroup(outcome.TestErrors!);
        Assert.Equal(new[] { "even", "odd", "all" }, rows.Select(r => r.Group));
        Assert.All(rows, r => Assert.True(r.MeanVariance > 0));
        Assert.Equal("gpr", ModelFile.Load(outcome.ModelPath).Model.Kind);
        Assert.Contains("\"uncertainty\"", File.ReadAllText(Path.Combine(dir, "run", "metrics.json")));

        File.WriteAllText(config, File.ReadAllText(config).Replace("sigma_force: 0.01", "sigma_forse: 0.01"));
        // refused when the config is read, at the key's line
        var e = Assert.Throws<Mlip.Validation.FileFormatException>(() => TrainingRun.Execute(TrainConfig.Load(config), TextWriter.Null));
        Assert.Contains("model.sigma_forse", e.Message);
        Assert.NotNull(e.Line);
    }
}

/// <summary>Small dense linear algebra for the reference formulas (Cholesky; n ≤ a few dozen).</summary>
internal static class Dense
{
    private static double[,] Cholesky(double[,] a)
    {
        int n = a.GetLength(0);
        var l = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double s = a[i, j];
                for (int q = 0; q < j; q++) s -= l[i, q] * l[j, q];
                l[i, j] = i == j ? Math.Sqrt(s) : s / l[j, j];
            }
        return l;
    }

    public static double[] Solve(double[,] a, double[] b)
    {
        var l = Cholesky(a);
        int n = b.Length;
        var z = new double[n];
        for (int i = 0; i < n; i++)
        {
            double s = b[i];
            for (int q = 0; q < i; q++) s -= l[i, q] * z[q];
            z[i] = s / l[i, i];
        }
        var x = new double[n];
        for (int i = n - 1; i >= 0; i--)
        {
            double s = z[i];
            for (int q = i + 1; q < n; q++) s -= l[q, i] * x[q];
            x[i] = s / l[i, i];
        }
        return x;
    }

    public static double LogDet(double[,] a)
    {
        var l = Cholesky(a);
        double s = 0;
        for (int i = 0; i < a.GetLength(0); i++) s += 2 * Math.Log(l[i, i]);
        return s;
    }
}
