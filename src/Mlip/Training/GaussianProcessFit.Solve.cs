using System.Numerics.Tensors;
using Mlip.Structures;
using Mlip.Validation;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace Mlip.Training;

public static partial class GaussianProcessFit
{
    private sealed partial class Prepared
    {
        /// <summary>
        /// α by ridge least squares in the whitened basis, and the two Cholesky factors of the variance. With
        /// β = σ² α and γ = Lᵀβ, the problem min ||Λ^(−1/2)(K_NM α − y)||² + αᵀK_MM α becomes
        /// min ||Λ^(−1/2)(Φ γ − y)||² + |γ|²/σ² (the augmented matrix [Λ^(−1/2) K_NM; L_MMᵀ] multiplied by L⁻ᵀ on
        /// the right), solved by <paramref name="solver"/> with ridge 1/σ² on every column; then α = L⁻ᵀγ/σ².
        /// </summary>
        public (double[][] Alpha, double[] SparseCholesky, double[] PosteriorCholesky, string Method, double Condition) Solve(
            Statistics st, GaussianProcessTrial h, double[] a, ILeastSquaresSolver solver)
        {
            int cols = TotalSparse, rows = Rows;
            double s = h.Variance;
            double[] sigma = [h.SigmaEnergy, h.SigmaForce, h.SigmaStress];
            var weights = new double[rows];
            for (int t = 0; t < 3; t++)
                for (int r = Start[t]; r < Start[t + 1]; r++) weights[r] = RowWeight[r] / (sigma[t] * sigma[t]);
            var solution = solver.Solve(new LeastSquaresProblem(a, rows, Target, weights, LeastSquaresProblem.RidgeVector(cols, 1 / s)));
            double[] beta, lk, lb;
            using (NewDisposeScope())
            {
                var l = st.SparseCholesky;
                var gamma = tensor(solution.Coefficients, [cols, 1L], ScalarType.Float64);
                beta = linalg.solve_triangular(l.t(), gamma, upper: true).contiguous().data<double>().ToArray();
                var b = eye(cols, dtype: ScalarType.Float64);
                for (int t = 0; t < 3; t++)
                {
                    if (st.N[t] == 0) continue;
                    using var scale = (s / (sigma[t] * sigma[t])).ToScalar(); // held for the call (TorchScalars)
                    b.add_(st.C[t], alpha: scale);
                }
                var (lb0, info) = linalg.cholesky_ex(b);
                if (info.item<int>() != 0) throw new MlipException("the posterior matrix is not positive definite");
                lk = l.contiguous().data<double>().ToArray();
                lb = lb0.contiguous().data<double>().ToArray();
            }
            var alpha = new double[Elements.Length][];
            for (int e = 0; e < Elements.Length; e++)
            {
                alpha[e] = beta.AsSpan(BlockStart[e], BlockStart[e + 1] - BlockStart[e]).ToArray();
                TensorPrimitives.Multiply(alpha[e], 1 / s, alpha[e]);
            }
            return (alpha, lk, lb, solution.Method, solution.ConditionNumber);
        }
    }
}
