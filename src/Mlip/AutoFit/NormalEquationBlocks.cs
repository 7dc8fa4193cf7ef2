using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Mlip.Distributed;
using Mlip.Validation;

namespace Mlip.AutoFit;

/// <summary>The classes of rows of a linear fit; each is weighted as a whole (loss weight over its row count).</summary>
public enum RowClass
{
    Energy = 0,
    Force = 1,
    Stress = 2,
}

/// <summary>
/// The data of a linear least-squares fit reduced to its normal equations, one block per (validation fold, row class):
/// G = AᵀA, h = Aᵀb, bᵀb and the row count, accumulated once per descriptor. Any fit on any union of folds with any
/// class weights (w_E, w_F, w_S) and any ridge vector λ is then a p × p solve,
/// (Σ_c w_c/n_c Σ_f G_fc + diag λ) x = Σ_c w_c/n_c Σ_f h_fc, without the data: the loss is
/// Σ_c w_c · mean over class c's rows of (a·x − b)² + Σ λ_j x_j², the loss of <c>mlip train</c>'s linear fits.
/// </summary>
/// <remarks>
/// Normal equations square the condition number; the columns are standardised features and the ridge is never
/// below 1e-12 of the diagonal's scale in the search, which keeps the Cholesky factor well inside float64.
/// A candidate whose matrix is not positive definite is reported as failed, not solved some other way.
/// Rows are added in a fixed order and each entry of G is summed by one thread: the result does not depend on the
/// thread count's scheduling.
/// </remarks>
public sealed class NormalEquationBlocks
{
    private const int Chunk = 256;
    private readonly Block[,] _blocks;
    private readonly int _threads;

    public NormalEquationBlocks(int columns, int folds, int threads)
    {
        Columns = columns;
        Folds = folds;
        _threads = Math.Max(1, threads);
        _blocks = new Block[folds, 3];
        for (int f = 0; f < folds; f++)
            for (int c = 0; c < 3; c++) _blocks[f, c] = new Block(columns);
    }

    public int Columns { get; }
    public int Folds { get; }

    /// <summary>Bytes held (the Gram blocks and their row buffers).</summary>
    public long Bytes => BytesOf(Columns, Folds);

    /// <summary>Bytes of the blocks of <paramref name="columns"/> columns over <paramref name="folds"/> folds (G, h and the row buffer of each block).</summary>
    public static long BytesOf(long columns, int folds) => (long)folds * 3 * (columns * columns + columns * (Chunk + 2)) * sizeof(double);

    /// <summary>Adds one row (<paramref name="row"/>, Columns values) with target <paramref name="target"/> to the block of (fold, class).</summary>
    public void Add(int fold, RowClass cls, ReadOnlySpan<double> row, double target)
    {
        var b = _blocks[fold, (int)cls];
        b.Push(row, target);
        if (b.Filled == Chunk) b.Flush(_threads);
    }

    /// <summary>Folds the buffered rows into the Gram blocks (call once after the last row).</summary>
    public void Complete()
    {
        foreach (var b in _blocks) b.Flush(_threads);
    }

    /// <summary>
    /// Under MPI, after <see cref="Complete"/> on every rank: rank 0's blocks become the sums over the ranks (each block's upper
    /// triangle of G, h, bᵀb and row count added in rank order, one message per block and rank, so no rank holds more than one
    /// extra block); the other ranks' are left as they were. The ranks first meet in a sleeping barrier (the ranks that finish
    /// their share first do not spin in a receive).
    /// </summary>
    public void ReduceToRoot(ICommunicator comm)
    {
        if (comm.Size == 1) return;
        comm.Barrier();
        int p = Columns;
        long triangle = (long)p * (p + 1) / 2, length = triangle + p + 2;
        var message = comm.IsRoot ? null : new double[length];
        foreach (var b in _blocks)
        {
            if (!comm.IsRoot)
            {
                // G holds its upper triangle only (Flush sums j ≥ i): row i's entries i..p-1, row after row
                long at = 0;
                for (int i = 0; i < p; i++)
                {
                    b.G.AsSpan((int)((long)i * p + i), p - i).CopyTo(message.AsSpan((int)at, p - i));
                    at += p - i;
                }
                b.H.CopyTo(message!, triangle);
                message![^2] = b.BB;
                message[^1] = b.Rows;
                comm.Send(MemoryMarshal.AsBytes(message.AsSpan()), 0);
                continue;
            }
            for (int r = 1; r < comm.Size; r++)
            {
                var part = MemoryMarshal.Cast<byte, double>(comm.Receive(r));
                if (part.Length != length) throw new InvalidOperationException($"rank {r} sent a block of {part.Length} values, expected {length}");
                long at = 0;
                for (int i = 0; i < p; i++)
                {
                    var row = b.G.AsSpan((int)((long)i * p + i), p - i);
                    TensorPrimitives.Add(row, part.Slice((int)at, p - i), row);
                    at += p - i;
                }
                TensorPrimitives.Add(b.H, part.Slice((int)triangle, p), b.H);
                b.BB += part[^2];
                b.Rows += (long)part[^1];
            }
        }
    }

    /// <summary>Rows of class <paramref name="cls"/> in the folds other than <paramref name="leftOut"/> (all folds when null).</summary>
    public long Rows(RowClass cls, int? leftOut = null)
    {
        long n = 0;
        for (int f = 0; f < Folds; f++)
            if (f != leftOut) n += _blocks[f, (int)cls].Rows;
        return n;
    }

    /// <summary>
    /// The ridge solution on every fold but <paramref name="leftOut"/> (every fold when null) with class weights
    /// <paramref name="weights"/> (energy, force, stress; each divided by its row count) and ridge <paramref name="ridge"/>
    /// (one per column); null when the matrix is not positive definite.
    /// </summary>
    public double[]? Solve(int? leftOut, ReadOnlySpan<double> weights, ReadOnlySpan<double> ridge) => Solve(leftOut, weights, ridge, null);

    /// <summary><see cref="Solve(int?, ReadOnlySpan{double}, ReadOnlySpan{double})"/> in <paramref name="workspace"/> (p × p values, overwritten), so that a search's many solves allocate no p × p matrix each.</summary>
    public double[]? Solve(int? leftOut, ReadOnlySpan<double> weights, ReadOnlySpan<double> ridge, double[]? workspace)
    {
        int p = Columns;
        var m = workspace ?? new double[(long)p * p];
        if (m.LongLength < (long)p * p) throw new ArgumentException($"the workspace holds {m.LongLength} values, a solve needs {(long)p * p}", nameof(workspace));
        m.AsSpan(0, p * p).Clear();
        var rhs = new double[p];
        for (int c = 0; c < 3; c++)
        {
            long n = Rows((RowClass)c, leftOut);
            if (n == 0 || weights[c] == 0) continue;
            double w = weights[c] / n;
            for (int f = 0; f < Folds; f++)
            {
                if (f == leftOut) continue;
                var b = _blocks[f, c];
                if (b.Rows == 0) continue;
                TensorPrimitives.MultiplyAdd(b.G, w, m.AsSpan(0, p * p), m.AsSpan(0, p * p));
                TensorPrimitives.MultiplyAdd(b.H, w, rhs, rhs);
            }
        }
        // G holds the upper triangle; mirror it into the lower one the Cholesky factor reads
        for (int i = 0; i < p; i++)
        {
            m[(long)i * p + i] += ridge[i];
            for (int j = 0; j < i; j++) m[(long)i * p + j] = m[(long)j * p + i];
        }
        return Cholesky.Solve(m, p, rhs) ? rhs : null;
    }

    private sealed class Block(int p)
    {
        public readonly double[] G = new double[(long)p * p];
        public readonly double[] H = new double[p];
        public double BB;
        public long Rows;
        public int Filled;
        private readonly double[] _chunk = new double[(long)p * Chunk]; // column-major: column i at i*Chunk
        private readonly double[] _target = new double[Chunk];
        private readonly bool[] _nonZero = new bool[p];

        public void Push(ReadOnlySpan<double> row, double target)
        {
            if (row.Length != p) throw new ArgumentException($"a row has {row.Length} values, expected {p}", nameof(row));
            int r = Filled;
            for (int i = 0; i < p; i++)
            {
                double v = row[i];
                _chunk[(long)i * Chunk + r] = v;
                if (v != 0) _nonZero[i] = true;
            }
            _target[r] = target;
            Filled++;
        }

        public void Flush(int threads)
        {
            int m = Filled;
            if (m == 0) return;
            var nz = Enumerable.Range(0, p).Where(i => _nonZero[i]).ToArray();
            MlipParallel.For(0, nz.Length, new ParallelOptions { MaxDegreeOfParallelism = threads }, a =>
            {
                int i = nz[a];
                var ci = new ReadOnlySpan<double>(_chunk, i * Chunk, m);
                var gi = G.AsSpan((int)((long)i * p), p);
                for (int q = a; q < nz.Length; q++)
                {
                    int j = nz[q];
                    gi[j] += TensorPrimitives.Dot(ci, new ReadOnlySpan<double>(_chunk, j * Chunk, m));
                }
                H[i] += TensorPrimitives.Dot(ci, new ReadOnlySpan<double>(_target, 0, m));
            });
            BB += TensorPrimitives.Dot(new ReadOnlySpan<double>(_target, 0, m), new ReadOnlySpan<double>(_target, 0, m));
            Rows += m;
            // zero the used columns for the next chunk
            foreach (int i in nz) Array.Clear(_chunk, i * Chunk, m);
            Array.Clear(_nonZero);
            Filled = 0;
        }
    }
}

/// <summary>Dense Cholesky solve of a symmetric positive-definite system in place (row-major, lower triangle used).</summary>
/// <remarks>
/// Each element of L is the same sum as in the textbook row-by-row order (L_ij = (A_ij − L_i,0:j · L_j,0:j) / L_jj, one
/// <see cref="TensorPrimitives.Dot"/> over the same spans), so the factor is the same to the bit; the elements are computed
/// block of rows by block of rows (<see cref="RowBlock"/> rows), column by column within the block, so that row j of L is read
/// once per block instead of once per row: the factorisation reads the matrix about n / RowBlock times instead of n times.
/// </remarks>
public static class Cholesky
{
    /// <summary>Rows factored together: row j of L is read once for all of them (the block's rows stay in cache).</summary>
    public const int RowBlock = 48;

    /// <summary>Factorises <paramref name="m"/> (n × n) into L Lᵀ in its lower triangle and overwrites <paramref name="rhs"/> with the solution; false when m is not positive definite.</summary>
    public static bool Solve(double[] m, int n, double[] rhs)
    {
        if (!Factor(m, n)) return false;
        // L y = b
        for (int i = 0; i < n; i++)
        {
            var li = m.AsSpan((int)((long)i * n), n);
            rhs[i] = (rhs[i] - TensorPrimitives.Dot(li[..i], rhs.AsSpan(0, i))) / li[i];
        }
        // Lᵀ x = y
        for (int i = n - 1; i >= 0; i--)
        {
            double s = rhs[i];
            for (int k = i + 1; k < n; k++) s -= m[(long)k * n + i] * rhs[k];
            rhs[i] = s / m[(long)i * n + i];
        }
        return true;
    }

    /// <summary>The factor L (lower triangle of <paramref name="m"/>, in place); false when m is not positive definite.</summary>
    public static bool Factor(double[] m, int n)
    {
        for (int i0 = 0; i0 < n; i0 += RowBlock)
        {
            int i1 = Math.Min(n, i0 + RowBlock);
            for (int j = 0; j < i1; j++)
            {
                var lj = m.AsSpan((int)((long)j * n), j);
                for (int i = Math.Max(i0, j); i < i1; i++)
                {
                    var li = m.AsSpan((int)((long)i * n), n);
                    double s = li[j] - TensorPrimitives.Dot(li[..j], lj);
                    if (i == j)
                    {
                        if (!(s > 0) || !double.IsFinite(s)) return false;
                        li[i] = Math.Sqrt(s);
                    }
                    else li[j] = s / m[(long)j * n + j];
                }
            }
        }
        return true;
    }

    /// <summary>The textbook row-by-row order of <see cref="Factor"/> (the reference its tests compare with, to the bit).</summary>
    internal static bool FactorRowByRow(double[] m, int n)
    {
        for (int i = 0; i < n; i++)
        {
            var li = m.AsSpan((int)((long)i * n), n);
            for (int j = 0; j <= i; j++)
            {
                var lj = m.AsSpan((int)((long)j * n), n);
                double s = li[j] - TensorPrimitives.Dot(li[..j], lj[..j]);
                if (i == j)
                {
                    if (!(s > 0) || !double.IsFinite(s)) return false;
                    li[i] = Math.Sqrt(s);
                }
                else li[j] = s / lj[j];
            }
        }
        return true;
    }
}
