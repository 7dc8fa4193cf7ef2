using System.Diagnostics;
using System.Numerics.Tensors;
using Mlip.Descriptors;
using Mlip.Structures;
using Mlip.Training;
using Mlip.Validation;

namespace Mlip.AutoFit;

/// <summary>One validation structure's unweighted rows (energy per atom, forces, stress) and targets, kept to score candidates.</summary>
public sealed record ValidationRows(int Structure, int Fold, string Group, double[] A, double[] B, int EnergyRows, int ForceRows, int StressRows, double RootWeight);

/// <summary>
/// A descriptor's linear (order 1) or quadratic (order 2) design over the training structures, computed once and
/// shared by every candidate on it: the normal-equation blocks per validation fold and row class, the rows of the
/// validation structures, the feature standardisation (over the training structures' features; no labels) and the
/// column layout of <see cref="Models.PolynomialModel"/>.
/// </summary>
public sealed class LinearDesign
{
    public required IDescriptor Descriptor { get; init; }
    public required int Order { get; init; }
    public required int[] Elements { get; init; }
    public required double[] Mean { get; init; }
    public required double[] Scale { get; init; }
    public required NormalEquationBlocks Blocks { get; init; }
    public required IReadOnlyList<ValidationRows> Validation { get; init; }
    public required TimeSpan BuildTime { get; init; }

    public int Features => Descriptor.FeatureCount;
    public int PerElement => Models.PolynomialModel.CoefficientsPerElement(Order, Features);
    public int Columns => Elements.Length * PerElement;

    public static LinearDesign Build(IDescriptor descriptor, int order, IReadOnlyList<Structure> structures, ValidationFolds folds,
        int threads, IProgress<WorkProgress>? progress = null)
    {
        var clock = Stopwatch.StartNew();
        int k = descriptor.FeatureCount;
        int per = Models.PolynomialModel.CoefficientsPerElement(order, k);
        int[] elements = [.. structures.SelectMany(s => s.AtomicNumbers).Distinct().Order()];
        int cols = elements.Length * per;
        var values = DatasetDescriptors.Compute(descriptor, structures, false, threads);
        var (mean, scale) = new TrainingSet(structures, values).FeatureStatistics();
        values = null;

        var blocks = new NormalEquationBlocks(cols, folds.Count, threads);
        var validated = new HashSet<int>(folds.Validated);
        var kept = new List<ValidationRows>();
        var unit = new LossWeights { Energy = 1, Force = 1, Stress = 1 };
        int batch = Math.Max(1, 2 * threads);
        var po = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) };
        var buffers = new (double[] A, double[] B, int E, int F, int S)[batch];
        for (int start = 0; start < structures.Count; start += batch)
        {
            int count = Math.Min(batch, structures.Count - start);
            MlipParallel.For(0, count, po, q =>
            {
                var st = structures[start + q];
                int e = st.Energy is not null && st.Weight > 0 ? 1 : 0;
                int f = st.Forces is not null && st.Weight > 0 ? 3 * st.Count : 0;
                int s = st.Stress is not null && st.Pbc.AllPeriodic && st.Weight > 0 ? 6 : 0;
                int rows = e + f + s;
                var a = new double[(long)rows * cols];
                var b = new double[rows];
                if (rows > 0)
                {
                    var d = descriptor.Compute(st, f + s > 0);
                    PolynomialFit.FillStructure(st, d, elements, order, k, per, cols, mean, scale, unit,
                        e > 0 ? 0 : -1, f > 0 ? e : -1, s > 0 ? e + f : -1, a, b, new PolynomialFit.RowScratch(k, per));
                }
                buffers[q] = (a, b, e, f, s);
            });
            for (int q = 0; q < count; q++)
            {
                int si = start + q;
                var (a, b, e, f, s) = buffers[q];
                int fold = folds.FoldOf[si];
                for (int r = 0; r < b.Length; r++)
                {
                    var cls = r < e ? RowClass.Energy : r < e + f ? RowClass.Force : RowClass.Stress;
                    blocks.Add(fold, cls, a.AsSpan((int)((long)r * cols), cols), b[r]);
                }
                if (validated.Contains(fold) && b.Length > 0)
                    kept.Add(new ValidationRows(si, fold, structures[si].Group ?? "(none)", a, b, e, f, s, Math.Sqrt(structures[si].Weight)));
                buffers[q] = default;
            }
            progress?.Report(new WorkProgress(start + count, structures.Count, clock.Elapsed));
        }
        blocks.Complete();
        return new LinearDesign
        {
            Descriptor = descriptor, Order = order, Elements = elements, Mean = mean, Scale = scale,
            Blocks = blocks, Validation = kept, BuildTime = clock.Elapsed,
        };
    }

    /// <summary>The validation errors of coefficient vectors (one per validated fold, each fitted without its fold), overall and per group.</summary>
    public ValidationErrors Score(IReadOnlyDictionary<int, double[]> coefficientsByFold)
    {
        var all = new ErrorSums();
        var groups = new SortedDictionary<string, ErrorSums>(StringComparer.Ordinal);
        foreach (var v in Validation)
        {
            var x = coefficientsByFold[v.Fold];
            if (!groups.TryGetValue(v.Group, out var g)) groups[v.Group] = g = new ErrorSums();
            int cols = x.Length;
            for (int r = 0; r < v.B.Length; r++)
            {
                double d = (TensorPrimitives.Dot(v.A.AsSpan(r * cols, cols), x) - v.B[r]) / v.RootWeight;
                var cls = r < v.EnergyRows ? RowClass.Energy : r < v.EnergyRows + v.ForceRows ? RowClass.Force : RowClass.Stress;
                if (cls == RowClass.Energy) d *= 1000; // meV/atom
                all.Add(cls, d);
                g.Add(cls, d);
            }
            all.Structures++;
            g.Structures++;
        }
        return new ValidationErrors(all.Result(), [.. groups.Select(kv => new KeyValuePair<string, ErrorMetrics>(kv.Key, kv.Value.Result()))]);
    }

    private sealed class ErrorSums
    {
        private readonly double[] _abs = new double[3], _sq = new double[3];
        private readonly long[] _n = new long[3];
        public int Structures;

        public void Add(RowClass c, double d)
        {
            _abs[(int)c] += Math.Abs(d);
            _sq[(int)c] += d * d;
            _n[(int)c]++;
        }

        private double? Mae(int c) => _n[c] > 0 ? _abs[c] / _n[c] : null;
        private double? Rmse(int c) => _n[c] > 0 ? Math.Sqrt(_sq[c] / _n[c]) : null;

        public ErrorMetrics Result() => new(Structures, 0, Mae(0), Rmse(0), Mae(1), Rmse(1), Mae(2), Rmse(2));
    }
}

/// <summary>A candidate's validation errors: overall and per config_type group.</summary>
public sealed record ValidationErrors(ErrorMetrics Overall, IReadOnlyList<KeyValuePair<string, ErrorMetrics>> Groups);
