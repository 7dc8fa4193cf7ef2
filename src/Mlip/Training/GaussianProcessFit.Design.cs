using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Mlip.Models;
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
        private sealed class Scratch(int k, int maxSparse)
        {
            public readonly double[] Slope = new double[maxSparse];      // k'(d_m)/|x̃_i|
            public readonly double[] SlopeD = new double[maxSparse];     // k'(d_m) d_m/|x̃_i|
            public readonly double[] B = new double[3 * k];              // ∂x̃/∂r_ij, one row per Cartesian component (0 for the bias)
            public readonly double[] Projection = new double[3 * maxSparse];
            public readonly double[] G = new double[3 * maxSparse];
            public int Stride => Slope.Length;
        }

        /// <summary>Fills rows 0..Rows of <paramref name="a"/> (row-major, TotalSparse columns) with K̃_NM.</summary>
        public void BuildDesign(GaussianProcessKernel kernel, double[] a)
        {
            Array.Clear(a, 0, Rows * TotalSparse);
            int maxSparse = 0;
            foreach (var u in SparseUnit) maxSparse = Math.Max(maxSparse, u.Length / KU);
            var po = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Options.Threads) };
            // larger structures first, so that the last ones to finish are small
            var order = Enumerable.Range(0, Data.Count).OrderByDescending(s => Data.Descriptors[s].Neighbors.PairCount).ToArray();
            MlipParallel.Run(() => Parallel.For(0, order.Length, po, () => new Scratch(KU, maxSparse), (q, _, scratch) =>
            {
                FillStructure(order[q], kernel, a, scratch);
                return scratch;
            }, _ => { }));
        }

        private void FillStructure(int s, GaussianProcessKernel kernel, double[] a, Scratch t)
        {
            var st = Data.Structures[s];
            var desc = Data.Descriptors[s];
            int n = st.Count, k = K, ku = KU, cols = TotalSparse;
            var units = Units[s];
            var norms = Norms[s];
            var elementOf = ElementOf[s];
            int eRow = EnergyRow[s], fRow = ForceRow[s], sRow = StressRow[s];
            if (eRow >= 0)
            {
                var row = a.AsSpan(eRow * cols, cols);
                for (int i = 0; i < n; i++)
                {
                    int e = elementOf[i];
                    var sparse = SparseUnit[e];
                    int me = sparse.Length / ku, c0 = BlockStart[e];
                    var u = units.AsSpan(i * ku, ku);
                    for (int m = 0; m < me; m++)
                        row[c0 + m] += kernel.Value(TensorPrimitives.Dot<double>(u, sparse.AsSpan(m * ku, ku))) / n;
                }
            }
            if (fRow < 0 && sRow < 0) return;

            var nl = desc.Neighbors;
            var neighbors = nl.Neighbors;
            var vectors = nl.Vectors;
            double virial = sRow >= 0 ? Stress.EvPerCubicAngstromInGpa / st.Volume : 0;
            for (int i = 0; i < n; i++)
            {
                var range = nl.PairRange(i);
                if (range.Start == range.End) continue;
                int e = elementOf[i];
                var sparse = SparseUnit[e];
                int me = sparse.Length / ku, c0 = BlockStart[e];
                var u = units.AsSpan(i * ku, ku);
                double inverseNorm = 1 / norms[i];
                for (int m = 0; m < me; m++)
                {
                    double d = TensorPrimitives.Dot<double>(u, sparse.AsSpan(m * ku, ku));
                    kernel.Value(d, out double slope);
                    t.Slope[m] = slope * inverseNorm;
                    t.SlopeD[m] = slope * d * inverseNorm;
                }
                var slopeM = t.Slope.AsSpan(0, me);
                var slopeD = t.SlopeD.AsSpan(0, me);
                for (int p = range.Start; p < range.End; p++)
                {
                    int j = neighbors[p];
                    var block = desc.PairBlock(p);
                    var inverseScale = InverseScale;
                    for (int f = 0; f < k; f++)
                    {
                        double inv = inverseScale[f];
                        t.B[f] = block[3 * f] * inv;
                        t.B[ku + f] = block[3 * f + 1] * inv;
                        t.B[2 * ku + f] = block[3 * f + 2] * inv;
                    }
                    Project(sparse, me, ku, t.B, t.Projection);
                    for (int c = 0; c < 3; c++)
                    {
                        // g_m = k'(d_m)/|x̃| (x̂_m·b_c − d_m x̂·b_c)
                        double uc = TensorPrimitives.Dot<double>(u, t.B.AsSpan(c * ku, ku));
                        var g = t.G.AsSpan(c * t.Stride, me);
                        TensorPrimitives.Multiply(slopeM, t.Projection.AsSpan(c * t.Stride, me), g);
                        TensorPrimitives.MultiplyAdd(slopeD, -uc, g, g);
                        if (fRow >= 0)
                        {
                            var ri = a.AsSpan((fRow + 3 * i + c) * cols + c0, me);
                            var rj = a.AsSpan((fRow + 3 * j + c) * cols + c0, me);
                            TensorPrimitives.Add(ri, g, ri);
                            TensorPrimitives.Subtract(rj, g, rj);
                        }
                    }
                    if (sRow >= 0)
                    {
                        var r = vectors[p];
                        int span = t.Stride;
                        var gx = t.G.AsSpan(0, me);
                        var gy = t.G.AsSpan(span, me);
                        var gz = t.G.AsSpan(2 * span, me);
                        // Voigt xx yy zz yz xz xy: σ_ab = (160.2/V) Σ_p g_a r_b, symmetrised
                        AddStress(a, cols, c0, sRow + 0, gx, virial * r.X, gx, 0);
                        AddStress(a, cols, c0, sRow + 1, gy, virial * r.Y, gy, 0);
                        AddStress(a, cols, c0, sRow + 2, gz, virial * r.Z, gz, 0);
                        AddStress(a, cols, c0, sRow + 3, gy, 0.5 * virial * r.Z, gz, 0.5 * virial * r.Y);
                        AddStress(a, cols, c0, sRow + 4, gx, 0.5 * virial * r.Z, gz, 0.5 * virial * r.X);
                        AddStress(a, cols, c0, sRow + 5, gx, 0.5 * virial * r.Y, gy, 0.5 * virial * r.X);
                    }
                }
            }
        }

        /// <summary>row += f1·g1 + f2·g2 over the element's block.</summary>
        private static void AddStress(double[] a, int cols, int c0, int row, ReadOnlySpan<double> g1, double f1, ReadOnlySpan<double> g2, double f2)
        {
            var dst = a.AsSpan(row * cols + c0, g1.Length);
            TensorPrimitives.MultiplyAdd(g1, f1, dst, dst);
            if (f2 != 0) TensorPrimitives.MultiplyAdd(g2, f2, dst, dst);
        }

        /// <summary>projection[c·stride + m] = x̂_m · b_c for the three rows b_c of <paramref name="b"/> (stride = projection.Length / 3).</summary>
        private static void Project(double[] sparse, int count, int k, double[] b, double[] projection)
        {
            int stride = projection.Length / 3;
            ref double s0 = ref MemoryMarshal.GetArrayDataReference(sparse);
            ref double b0 = ref MemoryMarshal.GetArrayDataReference(b);
            int vectorEnd = Vector256.IsHardwareAccelerated ? k - k % Vector256<double>.Count : 0;
            for (int m = 0; m < count; m++)
            {
                ref double x = ref Unsafe.Add(ref s0, m * k);
                var ax = Vector256<double>.Zero;
                var ay = Vector256<double>.Zero;
                var az = Vector256<double>.Zero;
                int f = 0;
                for (; f < vectorEnd; f += Vector256<double>.Count)
                {
                    var v = Vector256.LoadUnsafe(ref x, (nuint)f);
                    ax = Vector256.FusedMultiplyAdd(v, Vector256.LoadUnsafe(ref b0, (nuint)f), ax);
                    ay = Vector256.FusedMultiplyAdd(v, Vector256.LoadUnsafe(ref b0, (nuint)(k + f)), ay);
                    az = Vector256.FusedMultiplyAdd(v, Vector256.LoadUnsafe(ref b0, (nuint)(2 * k + f)), az);
                }
                double sx = Vector256.Sum(ax), sy = Vector256.Sum(ay), sz = Vector256.Sum(az);
                for (; f < k; f++)
                {
                    double v = Unsafe.Add(ref x, f);
                    sx += v * Unsafe.Add(ref b0, f);
                    sy += v * Unsafe.Add(ref b0, k + f);
                    sz += v * Unsafe.Add(ref b0, 2 * k + f);
                }
                projection[m] = sx;
                projection[stride + m] = sy;
                projection[2 * stride + m] = sz;
            }
        }

        /// <summary>The unit-variance K̃_MM + jitter·I over all sparse points (block-diagonal by element).</summary>
        public double[] SparseKernel(GaussianProcessKernel kernel)
        {
            int total = TotalSparse, k = KU;
            var kmm = new double[total * total];
            for (int e = 0; e < Elements.Length; e++)
            {
                var x = SparseUnit[e];
                int me = x.Length / k, c0 = BlockStart[e];
                for (int m = 0; m < me; m++)
                    for (int q = 0; q <= m; q++)
                    {
                        double v = kernel.Value(TensorPrimitives.Dot<double>(x.AsSpan(m * k, k), x.AsSpan(q * k, k)));
                        kmm[(c0 + m) * total + c0 + q] = kmm[(c0 + q) * total + c0 + m] = v;
                    }
            }
            for (int m = 0; m < total; m++) kmm[m * total + m] += Options.Jitter;
            return kmm;
        }

        // ---- marginal likelihood ----

        /// <summary>
        /// The sufficient statistics of the DTC likelihood for one kernel shape (libtorch tensors), in the
        /// whitened basis Φ = K̃_NM L⁻ᵀ (K̃_MM + jitter = L Lᵀ), so that Q = Φ Φᵀ and every matrix to factorise is
        /// I + (positive semi-definite): no loss of precision when K̃_MM is nearly singular.
        /// </summary>
        public sealed class Statistics : IDisposable
        {
            public required Tensor SparseCholesky;  // L
            public required Tensor[] C;             // per type: Φ_Tᵀ W Φ_T
            public required Tensor[] V;             // per type: Φ_Tᵀ W y_T
            public required double[] Q;             // per type: y_Tᵀ W y_T
            public required int[] N;                // rows per type
            public required double SumLogWeight;
            public required DisposeScope Scope;
            public void Dispose() => Scope.Dispose();
        }

        /// <summary>
        /// Builds K̃_NM for <paramref name="kernel"/> (unit variance) into <paramref name="a"/>, whitens it in place
        /// (a ← K̃_NM L⁻ᵀ) and gathers the statistics of the likelihood.
        /// </summary>
        public unsafe Statistics Design(GaussianProcessKernel kernel, double[] a)
        {
            BuildDesign(kernel, a);
            int cols = TotalSparse;
            var scope = NewDisposeScope();
            try
            {
                var kmm = tensor(SparseKernel(kernel), [cols, cols], ScalarType.Float64);
                var (l, info) = linalg.cholesky_ex(kmm);
                if (info.item<int>() != 0) throw new MlipException("K_MM is not positive definite; raise the jitter");
                // a ← a L⁻ᵀ, in blocks of rows (Φᵀ = L⁻¹ K̃_MN)
                const int block = 4096;
                for (int first = 0; first < Rows; first += block)
                {
                    int rows = Math.Min(block, Rows - first);
                    using var _ = NewDisposeScope();
                    var chunk = empty([rows, cols], ScalarType.Float64);
                    a.AsSpan(first * cols, rows * cols).CopyTo(new Span<double>(TorchLeastSquares.DataPointer(chunk), rows * cols));
                    var white = linalg.solve_triangular(l, chunk.t(), upper: false).t().contiguous();
                    white.data<double>().CopyTo(a.AsSpan(first * cols, rows * cols));
                }
                var c = new Tensor[3];
                var v = new Tensor[3];
                var q = new double[3];
                var count = Count;
                double sumLog = 0;
                for (int type = 0; type < 3; type++)
                {
                    int rows = count[type], first = Start[type];
                    if (rows == 0)
                    {
                        c[type] = zeros(cols, cols, ScalarType.Float64);
                        v[type] = zeros(cols, ScalarType.Float64);
                        continue;
                    }
                    using var inner = NewDisposeScope();
                    var kt = empty([rows, cols], ScalarType.Float64);
                    var yt = empty([rows], ScalarType.Float64);
                    nint addressK = (nint)TorchLeastSquares.DataPointer(kt), addressY = (nint)TorchLeastSquares.DataPointer(yt);
                    double qt = 0;
                    for (int r = 0; r < rows; r++)
                    {
                        double w = RowWeight[first + r];
                        qt += w * Target[first + r] * Target[first + r];
                        sumLog += Math.Log(w);
                    }
                    Parallel.For(0, rows, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Options.Threads) }, r =>
                    {
                        double sw = Math.Sqrt(RowWeight[first + r]);
                        var dst = new Span<double>((double*)addressK + (long)r * cols, cols);
                        TensorPrimitives.Multiply(a.AsSpan((first + r) * cols, cols), sw, dst);
                        ((double*)addressY)[r] = sw * Target[first + r];
                    });
                    c[type] = kt.t().matmul(kt).MoveToOuterDisposeScope();
                    v[type] = kt.t().matmul(yt).MoveToOuterDisposeScope();
                    q[type] = qt;
                }
                return new Statistics { SparseCholesky = l, C = c, V = v, Q = q, N = count, SumLogWeight = sumLog, Scope = scope };
            }
            catch
            {
                scope.Dispose();
                throw;
            }
        }

        /// <summary>
        /// The two data terms of −log p(y) of the DTC model at σ² = s and noise σ_T: yᵀ(Q + Λ)⁻¹y and
        /// log|Q + Λ|, and the number of observations; null where B is not positive definite.
        /// </summary>
        private static (double Quad, double LogDet, int N)? LikelihoodTerms(Statistics st, double s, double[] sigma)
        {
            using var _ = NewDisposeScope();
            int cols = (int)st.C[0].shape[0];
            var b = eye(cols, dtype: ScalarType.Float64);
            var v = zeros_like(st.V[0]);
            double quad = 0, logDet = -st.SumLogWeight;
            int n = 0;
            for (int t = 0; t < 3; t++)
            {
                if (st.N[t] == 0) continue;
                double inv = 1 / (sigma[t] * sigma[t]);
                using Scalar alphaC = (s * inv).ToScalar(), alphaV = inv.ToScalar(); // held for the calls (TorchScalars)
                b.add_(st.C[t], alpha: alphaC);
                v.add_(st.V[t], alpha: alphaV);
                quad += st.Q[t] * inv;
                logDet += st.N[t] * Math.Log(sigma[t] * sigma[t]);
                n += st.N[t];
            }
            var (l, info) = linalg.cholesky_ex(b);
            if (info.item<int>() != 0) return null;
            // Woodbury with B = I + σ² Φᵀ Λ⁻¹ Φ: yᵀ(Q+Λ)⁻¹y = yᵀΛ⁻¹y − σ² |L_B⁻¹ Φᵀ Λ⁻¹ y|²; log|Q+Λ| = log|Λ| + log|B|
            var z = linalg.solve_triangular(l, v.unsqueeze(1), upper: false);
            quad -= s * z.Squared().sum().item<double>();
            logDet += 2 * l.diagonal().log().sum().item<double>();
            return double.IsFinite(quad) && double.IsFinite(logDet) && quad > 0 ? (quad, logDet, n) : null;
        }

        private static double NegativeLogLikelihood((double Quad, double LogDet, int N)? terms) =>
            terms is var (quad, logDet, n) ? 0.5 * (quad + logDet + n * Math.Log(2 * Math.PI)) : double.PositiveInfinity;

        /// <summary>
        /// −log p(y) with the overall scale c of σ² and every σ_T² profiled out: at s = 1 and σ_T² = ρ_T,
        /// Q + Λ = (Q̃ + Λ̃)·c is optimal at c = yᵀ(Q̃ + Λ̃)⁻¹y / n.
        /// </summary>
        private static double ProfiledNegativeLogLikelihood((double Quad, double LogDet, int N)? terms) =>
            terms is var (quad, logDet, n) ? 0.5 * (n + n * Math.Log(quad / n) + logDet + n * Math.Log(2 * Math.PI)) : double.PositiveInfinity;
    }
}
