using Mlip.Descriptors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Models;

/// <summary>
/// Shared by every model: given dE/dX_i for each atom, forces and stress follow from the descriptor
/// derivative blocks. With g_p = Σ_k (dE/dX_ik) ∂X_ik/∂r_ij for pair p = (i → j):
/// F_j −= g_p, F_i += g_p, and the strain derivative is dE/dε_ab = Σ_p g_p,a r_ij,b, so the stress
/// (tension positive, GPa) is σ = (1/V) dE/dε.
/// </summary>
public static class ForceContraction
{
    /// <summary>Forces (eV/Å) and, for a cell with volume, stress (GPa).</summary>
    public static (Vec3[] Forces, Stress? Stress) Contract(DescriptorSet set, ReadOnlySpan<double> dEdX, double volume)
    {
        if (set.PairGradients is not double[] grad) throw new InvalidOperationException("derivatives were not computed");
        int k = set.Features;
        if (dEdX.Length != set.Atoms * k) throw new ArgumentException("dE/dX has the wrong length", nameof(dEdX));
        var nl = set.Neighbors;
        var centers = nl.Centers;
        var neighbors = nl.Neighbors;
        var vectors = nl.Vectors;
        // g_p per pair in parallel (the k-long dot products are the work), then the sums over pairs serially in pair
        // order: the same bits on any thread count, and as the former single loop
        var g = new double[3 * nl.PairCount];
        var weights = dEdX.ToArray();
        MlipParallel.ForChunks(nl.PairCount, 1024, () => 0, (first, end, _) =>
        {
            var pairCenters = set.Neighbors.Centers;
            for (int p = first; p < end; p++)
            {
                var w = weights.AsSpan(pairCenters[p] * k, k);
                var block = grad.AsSpan(p * k * 3, k * 3);
                double gx = 0, gy = 0, gz = 0;
                for (int f = 0; f < k; f++)
                {
                    double c = w[f];
                    if (c == 0) continue;
                    gx += c * block[3 * f];
                    gy += c * block[3 * f + 1];
                    gz += c * block[3 * f + 2];
                }
                g[3 * p] = gx; g[3 * p + 1] = gy; g[3 * p + 2] = gz;
            }
        });
        var fx = new double[set.Atoms];
        var fy = new double[set.Atoms];
        var fz = new double[set.Atoms];
        double wxx = 0, wyy = 0, wzz = 0, wyz = 0, wxz = 0, wxy = 0, wzy = 0, wzx = 0, wyx = 0;
        for (int p = 0; p < nl.PairCount; p++)
        {
            int i = centers[p], j = neighbors[p];
            double gx = g[3 * p], gy = g[3 * p + 1], gz = g[3 * p + 2];
            fx[j] -= gx; fy[j] -= gy; fz[j] -= gz;
            fx[i] += gx; fy[i] += gy; fz[i] += gz;
            var r = vectors[p];
            wxx += gx * r.X; wyy += gy * r.Y; wzz += gz * r.Z;
            wyz += gy * r.Z; wzy += gz * r.Y;
            wxz += gx * r.Z; wzx += gz * r.X;
            wxy += gx * r.Y; wyx += gy * r.X;
        }
        var forces = new Vec3[set.Atoms];
        for (int i = 0; i < forces.Length; i++) forces[i] = new Vec3(fx[i], fy[i], fz[i]);
        Stress? stress = null;
        if (volume > 0)
        {
            double s = Stress.EvPerCubicAngstromInGpa / volume;
            stress = new Stress(s * wxx, s * wyy, s * wzz, s * 0.5 * (wyz + wzy), s * 0.5 * (wxz + wzx), s * 0.5 * (wxy + wyx));
        }
        return (forces, stress);
    }
}
