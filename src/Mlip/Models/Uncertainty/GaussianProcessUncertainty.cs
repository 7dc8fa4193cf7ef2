using System.Numerics.Tensors;
using Mlip.Calculators;
using Mlip.Numerics;
using Mlip.Structures;

namespace Mlip.Models.Uncertainty;

/// <summary>
/// Predictive variance of a sparse GPR potential. Energy: the projected-process variance of the total
/// energy (<see cref="GaussianProcessModel.EnergyVariance"/>). Forces (when <see cref="IncludeForces"/>): a force
/// component F = −∂/∂r Σ_i E_i is a linear functional of the latent function, F = J α, with J's column m the force
/// of the basis function k(·, x_m); its variance under the posterior of the sparse weights (the subset-of-regressors
/// part of the projected-process variance) is σ² |L_B⁻¹ L⁻¹ k̃_F|², k̃_F = J / σ². Cost: one force contraction per
/// sparse point. Score: max per-atom force std when forces are included, otherwise the energy std per atom.
/// </summary>
public sealed class GaussianProcessUncertainty : IUncertaintyEstimator
{
    public GaussianProcessUncertainty(Potential potential, bool includeForces = true)
    {
        if (potential.Model is not GaussianProcessModel gp) throw new ArgumentException("not a GPR potential", nameof(potential));
        if (gp.SparseCholesky is null || gp.PosteriorCholesky is null)
            throw new Validation.MlipException("the GPR model was saved without its Cholesky factors: no predictive variance");
        Potential = potential;
        Model = gp;
        IncludeForces = includeForces;
    }

    public Potential Potential { get; }
    public GaussianProcessModel Model { get; }
    public bool IncludeForces { get; }
    public bool IncludeStress { get; set; }
    public string Kind => "gpr variance";
    public string ScoreName => IncludeForces ? "max atomic force std (eV/Å)" : "energy std per atom (eV/atom)";

    public UncertaintyResult Estimate(Structure structure)
    {
        var r = Potential.Calculate(structure, forces: true, stress: IncludeStress && structure.Pbc.AllPeriodic);
        double eStd = Math.Sqrt(r.EnergyVariance ?? 0);
        int n = structure.Count;
        if (!IncludeForces) return new UncertaintyResult(r.Energy, r.Forces!, eStd, null, null, n == 0 ? 0 : eStd / n, r.Stress);
        var fVar = ForceVariance(structure);
        var fStd = new double[n];
        for (int i = 0; i < n; i++) fStd[i] = Math.Sqrt((fVar[3 * i] + fVar[3 * i + 1] + fVar[3 * i + 2]) / 3);
        return new UncertaintyResult(r.Energy, r.Forces!, eStd, fStd, null, n == 0 ? 0 : fStd.Max(), r.Stress);
    }

    /// <summary>Variance of every force component (3N, eV²/Å²), subset-of-regressors form.</summary>
    public double[] ForceVariance(Structure structure)
    {
        var gp = Model;
        int n = structure.Count, total = gp.TotalSparsePoints;
        var jac = ForceJacobian(structure);
        var variance = new double[3 * n];
        var z = new double[total];
        for (int row = 0; row < 3 * n; row++)
        {
            DenseCholesky.ForwardSolve(gp.SparseCholesky!, total, jac.AsSpan(row * total, total), z);
            double posterior = DenseCholesky.ForwardSolve(gp.PosteriorCholesky!, total, z, z);
            variance[row] = gp.Kernel.Variance * posterior;
        }
        return variance;
    }

    /// <summary>
    /// J̃ (3N × M, row-major): column m holds the forces of the unit-variance basis function k̃(·, x_m) summed over
    /// the atoms, so the model's forces are σ² J̃ α (the per-element offsets carry no force).
    /// </summary>
    public double[] ForceJacobian(Structure structure)
    {
        var gp = Model;
        var set = Potential.Descriptor.Compute(structure, derivatives: true);
        int n = structure.Count, k = gp.FeatureCount, ku = gp.UnitLength, total = gp.TotalSparsePoints;
        var element = new int[n];
        var units = new double[n * ku];
        var norms = new double[n];
        for (int i = 0; i < n; i++)
        {
            element[i] = gp.ElementIndex(structure.AtomicNumbers[i]);
            norms[i] = gp.Unit(set.Of(i), units.AsSpan(i * ku, ku));
        }
        // J: 3N × total, column c = forces of the unit-variance basis function of sparse point c
        var jac = new double[3 * n * total];
        var dEdX = new double[n * k];
        double unitVariance = 1 / gp.Kernel.Variance;
        int column = 0;
        for (int e = 0; e < gp.Elements.Count; e++)
        {
            var sparse = gp.UnitSparse(e);
            for (int m = 0; m < gp.SparseCount(e); m++, column++)
            {
                var xm = sparse.Slice(m * ku, ku);
                Array.Clear(dEdX);
                bool any = false;
                for (int i = 0; i < n; i++)
                {
                    if (element[i] != e) continue;
                    var u = units.AsSpan(i * ku, ku);
                    double d = TensorPrimitives.Dot<double>(u, xm);
                    gp.Kernel.Value(d, out double slope);
                    slope *= unitVariance;
                    for (int a = 0; a < k; a++) dEdX[i * k + a] = slope * (xm[a] - d * u[a]) / (norms[i] * gp.Scale[a]);
                    any = true;
                }
                if (!any) continue;
                var (f, _) = ForceContraction.Contract(set, dEdX, structure.Volume);
                for (int i = 0; i < n; i++)
                {
                    jac[(3 * i) * total + column] = f[i].X;
                    jac[(3 * i + 1) * total + column] = f[i].Y;
                    jac[(3 * i + 2) * total + column] = f[i].Z;
                }
            }
        }
        return jac;
    }
}
