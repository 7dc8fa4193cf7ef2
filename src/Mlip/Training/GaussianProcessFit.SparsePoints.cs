using System.Numerics.Tensors;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace Mlip.Training;

public static partial class GaussianProcessFit
{
    /// <summary>
    /// Indices (into <paramref name="rows"/> rows of <paramref name="unit"/>, K values each, unit vectors) of
    /// at most <paramref name="count"/> distinct environments chosen by <paramref name="selection"/>.
    /// </summary>
    public static int[] SelectSparse(ReadOnlySpan<double> unit, int rows, int k, int count, SparseSelection selection, Random random)
    {
        var weight = new double[rows];
        if (selection == SparseSelection.Random) Array.Fill(weight, 1.0);
        else Leverage(unit, rows, k, count, weight);
        // Efraimidis–Spirakis: key = ln(u)/w, the largest keys are a weighted sample without replacement.
        var key = new double[rows];
        for (int i = 0; i < rows; i++)
        {
            double u = random.NextDouble();
            key[i] = weight[i] > 0 ? Math.Log(1 - u) / weight[i] : double.NegativeInfinity;
        }
        var order = Enumerable.Range(0, rows).ToArray();
        Array.Sort(key.Select(x => -x).ToArray(), order);
        var chosen = new List<int>(Math.Min(count, rows));
        foreach (int i in order)
        {
            if (chosen.Count == count) break;
            var xi = unit.Slice(i * k, k);
            bool duplicate = false;
            foreach (int c in chosen)
            {
                double d2 = TensorPrimitives.Distance(xi, unit.Slice(c * k, k));
                if (d2 < 1e-7) { duplicate = true; break; }
            }
            if (!duplicate) chosen.Add(i);
        }
        return [.. chosen];
    }

    /// <summary>Leverage scores of the rows of X̂ from the top min(rank, count) eigenpairs of X̂ᵀX̂.</summary>
    private static void Leverage(ReadOnlySpan<double> unit, int rows, int k, int count, double[] leverage)
    {
        var gram = new double[k * k];
        for (int i = 0; i < rows; i++)
        {
            var x = unit.Slice(i * k, k);
            for (int a = 0; a < k; a++)
                TensorPrimitives.MultiplyAdd(x, x[a], gram.AsSpan(a * k, k), gram.AsSpan(a * k, k));
        }
        double[] values, vectors;
        using (NewDisposeScope())
        {
            var (l, v) = linalg.eigh(tensor(gram, [k, k], ScalarType.Float64));
            values = l.data<double>().ToArray();     // ascending
            vectors = v.contiguous().data<double>().ToArray(); // columns are eigenvectors
        }
        double max = values[^1];
        var use = new List<int>();
        for (int j = k - 1; j >= 0 && use.Count < count; j--)
            if (values[j] > 1e-12 * max) use.Add(j);
        var vj = new double[k];
        for (int i = 0; i < rows; i++)
        {
            var x = unit.Slice(i * k, k);
            double s = 0;
            foreach (int j in use)
            {
                for (int a = 0; a < k; a++) vj[a] = vectors[a * k + j];
                double c = TensorPrimitives.Dot<double>(x, vj);
                s += c * c / values[j];
            }
            leverage[i] = s;
        }
    }
}
