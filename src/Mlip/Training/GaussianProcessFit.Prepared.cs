using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Training;

public static partial class GaussianProcessFit
{
    /// <summary>Everything that does not depend on the kernel: unit vectors, sparse points, offsets, row layout, targets.</summary>
    private sealed partial class Prepared
    {
        public required TrainingSet Data { get; init; }
        public required GaussianProcessFitOptions Options { get; init; }
        public required int K { get; init; }
        public int KU => K + 1;                                  // normalised vectors: K + 1 values (last: b/n, 0 without a bias)
        public required int[] Elements { get; init; }
        public required double[] Mean { get; init; }
        public required double[] Scale { get; init; }
        public required double[] InverseScale { get; init; }
        public required int[][] ElementOf { get; init; }
        public required double RmsNorm { get; init; }            // sqrt(mean |x̃|²) over the training atoms
        public required double[][] Units { get; init; }          // per structure: N × KU normalised vectors
        public required double[][] Norms { get; init; }          // per structure: the norms n_i
        public double Bias { get; private set; }                 // absolute b
        public double[][] SparseUnit { get; private set; } = []; // per element: M_e × KU
        public double[][] SparseRaw { get; set; } = null!;       // per element: M_e × K raw descriptors
        public int[] BlockStart { get; set; } = [];              // per element (+1): first column
        public double[] Offsets { get; set; } = [];
        public int[] EnergyRow { get; set; } = [];
        public int[] ForceRow { get; set; } = [];
        public int[] StressRow { get; set; } = [];
        public int[] Start { get; set; } = [];                   // first row of each observation type (+ end)
        public double[] Target { get; set; } = [];
        public double[] RowWeight { get; set; } = [];
        public int Rows => Start[3];
        public int TotalSparse => BlockStart[^1];
        public int[] Count => [Start[1] - Start[0], Start[2] - Start[1], Start[3] - Start[2]];

        public static Prepared Create(TrainingSet data, GaussianProcessFitOptions o)
        {
            int k = data.FeatureCount;
            int[] elements = data.Elements();
            int ne = elements.Length;
            var (mean, std) = data.FeatureStatistics();
            var meanUsed = o.Normalization == FeatureNormalization.Standard ? mean : new double[k];
            var scaleUsed = o.Normalization == FeatureNormalization.None ? Enumerable.Repeat(1.0, k).ToArray() : std;
            var elementOf = new int[data.Count][];
            var perElement = new List<(int S, int I)>[ne];
            for (int e = 0; e < ne; e++) perElement[e] = [];
            double sumSquares = 0;
            int atomCount = 0;
            for (int s = 0; s < data.Count; s++)
            {
                var st = data.Structures[s];
                var x = data.Descriptors[s];
                elementOf[s] = new int[st.Count];
                for (int i = 0; i < st.Count; i++)
                {
                    int e = elementOf[s][i] = Array.IndexOf(elements, st.AtomicNumbers[i]);
                    perElement[e].Add((s, i));
                    var xi = x.Of(i);
                    for (int a = 0; a < k; a++)
                    {
                        double v = (xi[a] - meanUsed[a]) / scaleUsed[a];
                        sumSquares += v * v;
                    }
                    atomCount++;
                }
            }
            var p = new Prepared
            {
                Data = data, Options = o, K = k, Elements = elements, Mean = meanUsed, Scale = scaleUsed, ElementOf = elementOf,
                InverseScale = [.. scaleUsed.Select(v => 1 / v)],
                RmsNorm = Math.Sqrt(sumSquares / Math.Max(1, atomCount)),
                Units = [.. data.Structures.Select(st => new double[st.Count * (k + 1)])],
                Norms = [.. data.Structures.Select(st => new double[st.Count])],
            };
            p.SetBias(o.Bias[0]);

            // sparse points per element, chosen with the normalised vectors of the first bias
            var random = new Random(o.Seed);
            var sparseRaw = new double[ne][];
            var blockStart = new int[ne + 1];
            int ku = k + 1;
            for (int e = 0; e < ne; e++)
            {
                var atoms = perElement[e];
                var x = new double[atoms.Count * ku];
                for (int r = 0; r < atoms.Count; r++) p.Units[atoms[r].S].AsSpan(atoms[r].I * ku, ku).CopyTo(x.AsSpan(r * ku, ku));
                var pick = SelectSparse(x, atoms.Count, ku, o.SparsePoints, o.Selection, random);
                sparseRaw[e] = new double[pick.Length * k];
                for (int m = 0; m < pick.Length; m++)
                {
                    var (s, i) = atoms[pick[m]];
                    data.Descriptors[s].Of(i).CopyTo(sparseRaw[e].AsSpan(m * k, k));
                }
                blockStart[e + 1] = blockStart[e] + pick.Length;
            }
            p.SparseRaw = sparseRaw;
            p.BlockStart = blockStart;
            p.SetBias(o.Bias[0]);

            // row layout: all energy rows, then all force rows, then all stress rows
            var w = o.Weights;
            var energyRow = new int[data.Count];
            var forceRow = new int[data.Count];
            var stressRow = new int[data.Count];
            var start = new int[4];
            for (int type = 0; type < 3; type++)
            {
                int row = start[type];
                for (int s = 0; s < data.Count; s++)
                {
                    var st = data.Structures[s];
                    bool use = st.Weight > 0 && type switch
                    {
                        Energy => w.Energy > 0 && st.Energy is not null,
                        Force => w.Force > 0 && st.Forces is not null,
                        _ => w.Stress > 0 && st.Stress is not null && st.Pbc.AllPeriodic,
                    };
                    int at = use ? row : -1;
                    if (type == Energy) energyRow[s] = at;
                    else if (type == Force) forceRow[s] = at;
                    else stressRow[s] = at;
                    if (!use) continue;
                    if (type != Energy && !data.Descriptors[s].HasDerivatives)
                        throw new MlipException("force and stress rows need descriptor derivatives");
                    row += type switch { Energy => 1, Force => 3 * st.Count, _ => 6 };
                }
                start[type + 1] = row;
            }
            if (start[3] == 0) throw new MlipException("the training data has no labels to fit (energy, forces or stress with non-zero weight)");

            var offsets = FitOffsets(data, elements, elementOf, energyRow);
            var target = new double[start[3]];
            var rowWeight = new double[start[3]];
            for (int s = 0; s < data.Count; s++)
            {
                var st = data.Structures[s];
                int n = st.Count;
                if (energyRow[s] >= 0)
                {
                    double e0 = 0;
                    for (int i = 0; i < n; i++) e0 += offsets[elementOf[s][i]];
                    target[energyRow[s]] = (st.Energy!.Value - e0) / n;
                    rowWeight[energyRow[s]] = st.Weight;
                }
                if (forceRow[s] >= 0)
                    for (int i = 0; i < n; i++)
                        for (int c = 0; c < 3; c++)
                        {
                            target[forceRow[s] + 3 * i + c] = st.Forces![i][c];
                            rowWeight[forceRow[s] + 3 * i + c] = st.Weight;
                        }
                if (stressRow[s] >= 0)
                {
                    var v = st.Stress!.Value.ToVoigt();
                    for (int q = 0; q < 6; q++)
                    {
                        target[stressRow[s] + q] = v[q];
                        rowWeight[stressRow[s] + q] = st.Weight;
                    }
                }
            }
            p.Offsets = offsets;
            p.EnergyRow = energyRow;
            p.ForceRow = forceRow;
            p.StressRow = stressRow;
            p.Start = start;
            p.Target = target;
            p.RowWeight = rowWeight;
            return p;
        }

        /// <summary>The prototype of the model's normalisation with absolute bias <paramref name="bias"/>.</summary>
        public GaussianProcessModel Probe(double bias)
        {
            int ne = Elements.Length;
            return new GaussianProcessModel(Elements, K, new GaussianProcessKernel(Options.Kernel, 1, 1), Mean, Scale,
                [.. Enumerable.Range(0, ne).Select(_ => Array.Empty<double>())], [.. Enumerable.Range(0, ne).Select(_ => Array.Empty<double>())],
                new double[ne], bias: bias);
        }

        /// <summary>
        /// Normalised vectors of every atom (and of the sparse points, once chosen) for the bias
        /// <paramref name="relative"/> × the RMS |x̃| of the training atoms, computed by the model's own
        /// <see cref="GaussianProcessModel.Unit"/>; always K + 1 values (the last one 0 without a bias).
        /// </summary>
        public void SetBias(double relative)
        {
            Bias = relative * RmsNorm;
            var probe = Probe(Bias);
            int k = K, ku = K + 1, kp = probe.UnitLength;
            var scratch = new double[ku];
            for (int s = 0; s < Data.Count; s++)
            {
                var d = Data.Descriptors[s];
                for (int i = 0; i < Data.Structures[s].Count; i++)
                {
                    Array.Clear(scratch);
                    Norms[s][i] = probe.Unit(d.Of(i), scratch.AsSpan(0, kp));
                    scratch.CopyTo(Units[s], i * ku);
                }
            }
            if (SparseRaw is null) return;
            SparseUnit = new double[Elements.Length][];
            for (int e = 0; e < Elements.Length; e++)
            {
                int me = SparseRaw[e].Length / k;
                SparseUnit[e] = new double[me * ku];
                for (int m = 0; m < me; m++) probe.Unit(SparseRaw[e].AsSpan(m * k, k), SparseUnit[e].AsSpan(m * ku, kp));
            }
        }

        /// <summary>Per-element constants: weighted least squares of E/N on the composition (a tiny ridge pins a fixed stoichiometry).</summary>
        private static double[] FitOffsets(TrainingSet data, int[] elements, int[][] elementOf, int[] energyRow)
        {
            int ne = elements.Length;
            var used = Enumerable.Range(0, data.Count).Where(s => energyRow[s] >= 0).ToArray();
            if (used.Length == 0) return new double[ne];
            var fraction = new double[used.Length * ne];
            var y = new double[used.Length];
            var w = new double[used.Length];
            double trace = 0;
            for (int r = 0; r < used.Length; r++)
            {
                var st = data.Structures[used[r]];
                foreach (int e in elementOf[used[r]]) fraction[r * ne + e] += 1.0 / st.Count;
                y[r] = st.Energy!.Value / st.Count;
                w[r] = st.Weight;
                for (int e = 0; e < ne; e++) trace += w[r] * fraction[r * ne + e] * fraction[r * ne + e];
            }
            var problem = new LeastSquaresProblem(fraction, used.Length, y, w, LeastSquaresProblem.RidgeVector(ne, 1e-10 * trace / ne));
            return new ManagedLeastSquares(1).Solve(problem).Coefficients;
        }

        // ---- K_NM ----
    }
}
