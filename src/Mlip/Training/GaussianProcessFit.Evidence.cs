using Mlip.Numerics;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Training;

public static partial class GaussianProcessFit
{
    private sealed partial class Prepared
    {
        /// <summary>
        /// Maximises the marginal likelihood over the free hyperparameters for the kernel shape of <paramref name="st"/>. Free: σ² (unless given) and one scale per group of noise levels that share
        /// it (<see cref="NoiseLevels.Loss"/>: every σ_T not given, in the ratios of the loss weights;
        /// <see cref="NoiseLevels.Likelihood"/>: each σ_T not given on its own).
        /// </summary>
        public GaussianProcessTrial Optimise(int zeta, double lengthScale, double bias, Statistics st)
        {
            var o = Options;
            var count = Count;
            double?[] given = [o.SigmaEnergy, o.SigmaForce, o.SigmaStress];
            double[] sigma = [GaussianProcessFitOptions.DefaultSigmaEnergy, GaussianProcessFitOptions.DefaultSigmaForce, GaussianProcessFitOptions.DefaultSigmaStress];
            var ratio = NoiseRatios();
            var groups = new List<int[]>();
            var open = Enumerable.Range(0, 3).Where(t => count[t] > 0 && given[t] is null).ToArray();
            if (o.Noise == NoiseLevels.Loss && open.Length > 0)
            {
                groups.Add(open);
                for (int t = 0; t < 3; t++) sigma[t] = GaussianProcessFitOptions.DefaultSigmaEnergy * ratio[t];
            }
            else groups.AddRange(open.Select(t => new[] { t }));
            for (int t = 0; t < 3; t++) if (given[t] is double g) sigma[t] = g;
            double s = o.Variance ?? StartVariance();

            // x = [ln σ² (when free), ln τ_g per group]; σ_T = τ_g·ratio_T within group g (ratio 1 for a lone type)
            bool varianceFree = o.Optimize && o.Variance is null;
            int groupCount = o.Optimize ? groups.Count : 0;
            var unit = new double[3];
            for (int g = 0; g < groups.Count; g++)
                foreach (int t in groups[g]) unit[t] = groups[g].Length > 1 ? ratio[t] / ratio[groups[g][0]] : 1;
            double[] Sigmas(ReadOnlySpan<double> lnTau)
            {
                var result = (double[])sigma.Clone();
                for (int g = 0; g < lnTau.Length; g++)
                    foreach (int t in groups[g]) result[t] = Math.Exp(lnTau[g]) * unit[t];
                return result;
            }
            var tau0 = groups.Take(groupCount).Select(g => Math.Log(sigma[g[0]] / unit[g[0]])).ToArray();
            int evaluations = 0;
            // the M × M work of one evaluation is far too small for several libtorch threads
            TorchRuntime.SetThreads(1);
            try
            {
                bool profiled = varianceFree && groupCount > 0 && open.Length == Enumerable.Range(0, 3).Count(t => count[t] > 0);
                if (profiled)
                {
                    // σ² and every noise level free: the overall scale c of (σ², σ_T²) in closed form
                    double Profiled(double[] x)
                    {
                        evaluations++;
                        return ProfiledNegativeLogLikelihood(LikelihoodTerms(st, 1.0, Sigmas(x)));
                    }
                    var x0 = tau0.Select(v => v - 0.5 * Math.Log(s)).ToArray();
                    var (x, _) = NelderMead.Minimise(Profiled, x0, step: 1.0, tolerance: 1e-3, maxEvaluations: 300);
                    if (LikelihoodTerms(st, 1.0, Sigmas(x)) is var (quad, _, n))
                    {
                        double c = quad / n;
                        s = c;
                        sigma = Sigmas([.. x.Select(v => v + 0.5 * Math.Log(c))]);
                    }
                }
                else if (varianceFree || groupCount > 0)
                {
                    int offset = varianceFree ? 1 : 0;
                    double Objective(double[] x)
                    {
                        evaluations++;
                        double sv = varianceFree ? Math.Exp(x[0]) : s;
                        return NegativeLogLikelihood(LikelihoodTerms(st, sv, Sigmas(x.AsSpan(offset))));
                    }
                    double[] x0 = varianceFree ? [Math.Log(s), .. tau0] : tau0;
                    var (x, _) = NelderMead.Minimise(Objective, x0, step: 1.0, tolerance: 1e-3, maxEvaluations: 300);
                    if (varianceFree) s = Math.Exp(x[0]);
                    sigma = Sigmas(x.AsSpan(offset));
                }
                double best = NegativeLogLikelihood(LikelihoodTerms(st, s, sigma));
                if (!double.IsFinite(best))
                    throw new MlipException("the marginal likelihood could not be evaluated (the kernel matrix is not positive definite); raise the jitter or fix the noise levels");
                return new GaussianProcessTrial(zeta, lengthScale, bias, s, sigma[0], sigma[1], sigma[2], -best, evaluations);
            }
            finally
            {
                TorchRuntime.SetThreads(o.Threads);
            }
        }

        /// <summary>
        /// σ_T ∝ sqrt(n_T / w_T): the noise levels under which the negative log likelihood is the weighted loss
        /// Σ_T (w_T/n_T) Σ Δ² of <see cref="LossWeights"/> (mean squared error per observation type).
        /// </summary>
        private double[] NoiseRatios()
        {
            var count = Count;
            var w = Options.Weights;
            double[] weight = [w.Energy, w.Force, w.Stress];
            var r = new double[3];
            for (int t = 0; t < 3; t++) r[t] = count[t] > 0 && weight[t] > 0 ? Math.Sqrt(count[t] / weight[t]) : 1;
            int reference = Enumerable.Range(0, 3).FirstOrDefault(t => count[t] > 0);
            double r0 = r[reference];
            for (int t = 0; t < 3; t++) r[t] /= r0;
            return r;
        }

        private double StartVariance()
        {
            int n = Start[1] - Start[0];
            if (n < 2) return GaussianProcessFitOptions.DefaultVariance;
            double mean = 0, sq = 0;
            for (int r = Start[0]; r < Start[1]; r++) { mean += Target[r]; sq += Target[r] * Target[r]; }
            mean /= n;
            double v = sq / n - mean * mean;
            return Math.Clamp(v, 1e-4, 1e2);
        }

        // ---- the final solve ----
    }
}
