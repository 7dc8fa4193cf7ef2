using Mlip.Calculators;
using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Models.Uncertainty;
using Mlip.Structures;
using Mlip.Training;
using Xunit;
using Xunit.Abstractions;
using Mlip.Tests.Support;

namespace Mlip.Tests.Models;

[Collection(LibtorchCollection.Name), LibtorchThreads]
public class UncertaintyTests(ITestOutputHelper output)
{
    private static readonly DescriptorSpec Spec = new("so4", new Dictionary<string, string> { ["twojmax"] = "2", ["rcutfac"] = "4.0" });

    /// <summary>Rattled 8-atom diamond Si cells labelled by Stillinger-Weber.</summary>
    private static List<Structure> SwData(int count, double rattle, int seed)
    {
        var sw = ClassicalPotentials.Parse("sw");
        var list = new List<Structure>();
        for (int i = 0; i < count; i++)
        {
            var s = Crystals.Rattle(Crystals.Diamond("Si", 5.43 * (1 + 0.01 * ((i % 5) - 2))), rattle, seed + i);
            var r = sw.Calculate(s);
            s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
            list.Add(s);
        }
        return list;
    }

    [Fact]
    public void Gpr_force_jacobian_reproduces_the_forces_and_the_variance_grows_away_from_the_data()
    {
        var d = Spec.Create(["Si"]);
        var data = SwData(10, 0.1, 1);
        var set = TrainingSet.Compute(d, data, true, 2);
        var (model, _) = GaussianProcessFit.Fit(set, new GaussianProcessFitOptions
        {
            Kernel = GaussianProcessKernelType.Dot, Zeta = [2], SparsePoints = 20, Optimize = false, Threads = 2,
            Weights = new LossWeights { Energy = 1, Force = 1 }, Variance = 1, SigmaEnergy = 0.002, SigmaForce = 0.05,
        });
        var potential = new Potential(d, model, Spec);
        var gpr = new GaussianProcessUncertainty(potential);
        // F = σ² J̃ α: the Jacobian the force variance uses is the model's own force map
        var probe = Crystals.Rattle(Crystals.Diamond("Si", 5.43), 0.12, 99);
        var jac = gpr.ForceJacobian(probe);
        var forces = potential.Calculate(probe).Forces!;
        var alpha = model.Alpha.SelectMany(a => a).ToArray();
        double maxErr = 0, maxF = 0;
        for (int i = 0; i < probe.Count; i++)
            for (int c = 0; c < 3; c++)
            {
                double f = 0;
                for (int m = 0; m < alpha.Length; m++) f += jac[(3 * i + c) * alpha.Length + m] * alpha[m];
                f *= model.Kernel.Variance;
                maxErr = Math.Max(maxErr, Math.Abs(f - forces[i][c]));
                maxF = Math.Max(maxF, Math.Abs(forces[i][c]));
            }
        Assert.True(maxErr < 1e-9 * Math.Max(1, maxF), $"σ² J̃ α differs from the forces by {maxErr}");
        var near = gpr.Estimate(probe);
        var far = gpr.Estimate(Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.43), Matrix3.Diagonal(-0.12, 0.1, 0.05)), 0.35, 7));
        output.WriteLine($"force std near the data {near.ForceStd!.Average():G3}, far {far.ForceStd!.Average():G3}; energy std {near.EnergyStd:G3} vs {far.EnergyStd:G3}");
        Assert.All(near.ForceStd!, v => Assert.True(v >= 0 && double.IsFinite(v)));
        Assert.True(far.ForceStd!.Average() > near.ForceStd!.Average());
        Assert.True(far.EnergyStd > near.EnergyStd);
    }

    [Fact]
    public void D_optimality_active_set_is_a_dominant_submatrix_and_grades_follow_the_definition()
    {
        var d = Spec.Create(["Si"]);
        var data = SwData(12, 0.15, 3);
        var set = TrainingSet.Compute(d, data, false, 2);
        var active = DOptimality.Build(set);
        int k = active.FeatureLength;
        Assert.Equal(d.FeatureCount + 1, k);
        var rows = active.ActiveRows[14];
        Assert.Equal(k, rows.Length);
        // every training atom interpolates (γ ≤ 1 + tolerance), the active atoms themselves have γ = 1
        var all = set.Descriptors.SelectMany(ds => Enumerable.Range(0, ds.Atoms).Select(i => ds.Of(i).ToArray())).ToArray();
        var v = new double[k];
        double maxTrain = 0;
        foreach (var x in all) { DOptimality.Vector(x, v); maxTrain = Math.Max(maxTrain, active.Grade(v, 14)); }
        Assert.InRange(maxTrain, 1 - 1e-9, 1 + 1.001e-3);
        foreach (int r in rows) { DOptimality.Vector(all[r], v); Assert.Equal(1.0, active.Grade(v, 14), 9); }
        // γ = max |c| with Aᵀ c = x, solved here independently by elimination on the active rows
        var probe = Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.43), Matrix3.Diagonal(-0.1, 0.08, 0)), 0.3, 5);
        var ps = d.Compute(probe, derivatives: false);
        var a = new double[k, k];
        for (int r = 0; r < k; r++) { DOptimality.Vector(all[rows[r]], v); for (int c = 0; c < k; c++) a[c, r] = v[c]; }
        DOptimality.Vector(ps.Of(0), v);
        var c0 = SolveDense(a, (double[])v.Clone());
        Assert.Equal(c0.Max(Math.Abs), active.Grade(v, 14), 6);
        var grades = active.Grades(ps, probe.AtomicNumbers);
        output.WriteLine($"max γ over the training atoms {maxTrain:F4}; strained, strongly rattled probe: max γ {grades.Max():F2}");
        Assert.True(grades.Max() > 1.0, "a strongly distorted cell extrapolates");
    }

    [Fact]
    public void Committee_mean_and_spread_are_those_of_its_members()
    {
        var members = new[] { ClassicalPotentials.Parse("sw"), ClassicalPotentials.Parse("tersoff") };
        var s = Crystals.Rattle(Crystals.Diamond("Si", 5.43), 0.1, 4);
        var r = new CommitteeUncertainty(members).Estimate(s);
        var a = members[0].Calculate(s); var b = members[1].Calculate(s);
        Assert.Equal((a.Energy + b.Energy) / 2, r.Energy, 9);
        Assert.Equal(Math.Abs(a.Energy - b.Energy) / Math.Sqrt(2), r.EnergyStd!.Value, 9);
        for (int i = 0; i < s.Count; i++)
        {
            Assert.True(((a.Forces![i] + b.Forces![i]) / 2 - r.Forces[i]).Norm < 1e-12);
            Assert.Equal((a.Forces[i] - b.Forces[i]).Norm / Math.Sqrt(6), r.ForceStd![i], 9);
        }
        Assert.Equal(r.ForceStd!.Max(), r.Score);
    }

    private static double[] SolveDense(double[,] a, double[] b)
    {
        int n = b.Length;
        for (int c = 0; c < n; c++)
        {
            int p = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(a[r, c]) > Math.Abs(a[p, c])) p = r;
            for (int j = 0; j < n; j++) (a[p, j], a[c, j]) = (a[c, j], a[p, j]);
            (b[p], b[c]) = (b[c], b[p]);
            for (int r = c + 1; r < n; r++)
            {
                double f = a[r, c] / a[c, c];
                for (int j = c; j < n; j++) a[r, j] -= f * a[c, j];
                b[r] -= f * b[c];
            }
        }
        var x = new double[n];
        for (int r = n - 1; r >= 0; r--)
        {
            double s = b[r];
            for (int j = r + 1; j < n; j++) s -= a[r, j] * x[j];
            x[r] = s / a[r, r];
        }
        return x;
    }
}
