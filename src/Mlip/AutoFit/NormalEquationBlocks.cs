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
/// The sums do not depend on how the rows are split over threads or MPI ranks: each block's rows are cut into chunks of
/// <see cref="Chunk"/> rows at fixed positions of the block's row sequence (row 256c to 256c + 255 of all the structures'
/// rows of that fold and class, in structure order), each chunk's AᵀA and Aᵀb are the same dot products wherever they are
/// computed (each entry by one thread, from a pinned 64-byte aligned buffer: <see cref="TensorPrimitives.Dot"/> groups its
/// terms by the address's alignment), and the chunks' results are added in double-double (compensated) arithmetic, so that
/// the order of the additions (one process: chunk after chunk; MPI: each rank's chunks, then the ranks, then the chunks that
/// straddle two ranks' shares) changes the rounded sums only where the exact sum lies within ~2⁻⁹⁷ of a rounding midpoint.
/// </remarks>
public sealed class NormalEquationBlocks
{
    /// <summary>Rows of a chunk: the unit whose products are summed in one dot product per entry.</summary>
    public const int Chunk = 256;
    private readonly Block[,] _blocks;
    private readonly int _threads;

    public NormalEquationBlocks(int columns, int folds, int threads) : this(columns, folds, threads, null, null) { }

    /// <summary>
    /// Blocks of one MPI rank's share of the rows: <paramref name="offsets"/>[fold, class] is the index of this rank's first row
    /// of that block in the block's rows over all ranks (the rows of the earlier structures), <paramref name="totals"/>[fold, class]
    /// the block's rows over all ranks. Chunks wholly inside the share are summed here; the rows of the (at most two) chunks that
    /// straddle another rank's share are kept and summed by rank 0 in <see cref="ReduceToRoot"/>. Null: one process (every chunk is whole).
    /// </summary>
    public NormalEquationBlocks(int columns, int folds, int threads, long[,]? offsets, long[,]? totals)
    {
        Columns = columns;
        Folds = folds;
        _threads = Math.Max(1, threads);
        _blocks = new Block[folds, 3];
        for (int f = 0; f < folds; f++)
            for (int c = 0; c < 3; c++)
                _blocks[f, c] = new Block(columns, offsets?[f, c] ?? 0, totals?[f, c] ?? long.MaxValue);
    }

    public int Columns { get; }
    public int Folds { get; }

    /// <summary>Bytes held (the Gram blocks with their compensation terms, and row buffers).</summary>
    public long Bytes => BytesOf(Columns, Folds);

    /// <summary>
    /// Bytes of the blocks of <paramref name="columns"/> columns over <paramref name="folds"/> folds: each block's p × p G (its upper
    /// triangle the sums, its strictly lower triangle their compensation terms), the diagonal's compensation terms, h and its
    /// compensation terms, and a chunk of rows.
    /// </summary>
    public static long BytesOf(long columns, int folds) => (long)folds * 3 * (columns * columns + columns * (Chunk + 5)) * sizeof(double);

    /// <summary>Adds one row (<paramref name="row"/>, Columns values) with target <paramref name="target"/> to the block of (fold, class).</summary>
    public void Add(int fold, RowClass cls, ReadOnlySpan<double> row, double target) => _blocks[fold, (int)cls].Push(row, target, _threads);

    /// <summary>Folds the buffered rows into the Gram blocks (call once after the last row).</summary>
    public void Complete()
    {
        foreach (var b in _blocks) b.Complete(_threads);
    }

    /// <summary>
    /// Under MPI, after <see cref="Complete"/> on every rank: rank 0's blocks become the sums over the ranks (each block's upper
    /// triangle of G, h, bᵀb with their compensation terms, the row count and the rows of the chunks the rank did not hold whole,
    /// added in rank order, one message per block and rank, so no rank holds more than one extra block; then rank 0 sums the
    /// straddling chunks, assembled in row order); the other ranks' are left as they were. The ranks first meet in a sleeping
    /// barrier (the ranks that finish their share first do not spin in a receive).
    /// </summary>
    public void ReduceToRoot(ICommunicator comm)
    {
        if (comm.Size == 1) return;
        comm.Barrier();
        int p = Columns;
        long triangle = (long)p * (p + 1) / 2;
        foreach (var b in _blocks)
        {
            if (!comm.IsRoot)
            {
                long pieceValues = b.Parked.Sum(q => 2 + (long)q.Rows * (p + 1));
                var message = new double[2 * triangle + 2 * p + 4 + pieceValues];
                // G holds its upper triangle only (Flush sums j ≥ i): row i's entries i..p-1, row after row; then the packed compensation
                long at = 0;
                for (int i = 0; i < p; i++)
                {
                    b.G.AsSpan((int)((long)i * p + i), p - i).CopyTo(message.AsSpan((int)at, p - i));
                    at += p - i;
                }
                for (int i = 0; i < p; i++)
                {
                    message[at++] = b.DiagLo[i];
                    b.OffDiagonalLo(i).CopyTo(message.AsSpan((int)at, p - 1 - i));
                    at += p - 1 - i;
                }
                b.H.CopyTo(message, at);
                b.HLo.CopyTo(message, at + p);
                at += 2 * p;
                message[at++] = b.BB;
                message[at++] = b.BBLo;
                message[at++] = b.Rows;
                message[at++] = b.Parked.Count;
                foreach (var q in b.Parked)
                {
                    message[at++] = q.Start;
                    message[at++] = q.Rows;
                    q.A.CopyTo(message, at);
                    at += q.A.Length;
                    q.B.CopyTo(message, at);
                    at += q.B.Length;
                }
                comm.Send(MemoryMarshal.AsBytes(message.AsSpan()), 0);
                continue;
            }
            var pieces = new List<Piece>(b.Parked);
            for (int r = 1; r < comm.Size; r++)
            {
                var part = MemoryMarshal.Cast<byte, double>(comm.Receive(r));
                if (part.Length < 2 * triangle + 2 * p + 4) throw new InvalidOperationException($"rank {r} sent a block of {part.Length} values, expected at least {2 * triangle + 2 * p + 4}");
                long at = 0;
                for (int i = 0; i < p; i++)
                {
                    Compensated.Add(ref b.G[(long)i * p + i], ref b.DiagLo[i], part[(int)at], part[(int)(triangle + at)]);
                    Compensated.Add(b.G.AsSpan((int)((long)i * p + i + 1), p - 1 - i), b.OffDiagonalLo(i),
                        part.Slice((int)at + 1, p - 1 - i), part.Slice((int)(triangle + at) + 1, p - 1 - i));
                    at += p - i;
                }
                at += triangle;
                Compensated.Add(b.H, b.HLo, part.Slice((int)at, p), part.Slice((int)at + p, p));
                at += 2 * p;
                Compensated.Add(ref b.BB, ref b.BBLo, part[(int)at], part[(int)at + 1]);
                b.Rows += (long)part[(int)at + 2];
                int count = (int)part[(int)at + 3];
                at += 4;
                for (int q = 0; q < count; q++)
                {
                    long start = (long)part[(int)at];
                    int rows = (int)part[(int)at + 1];
                    at += 2;
                    var a = part.Slice((int)at, rows * p).ToArray();
                    at += rows * p;
                    var t = part.Slice((int)at, rows).ToArray();
                    at += rows;
                    pieces.Add(new Piece(start, rows, a, t));
                }
                if (at != part.Length) throw new InvalidOperationException($"rank {r} sent a block of {part.Length} values, read {at}");
            }
            b.SumPieces(pieces, _threads);
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
        var rhs = new double[p];
        Assemble(leftOut, weights, ridge, m, rhs);
        return Cholesky.Solve(m, p, rhs) ? rhs : null;
    }

    /// <summary>
    /// The system <see cref="Solve(int?, ReadOnlySpan{double}, ReadOnlySpan{double}, double[])"/> factors: the weighted normal
    /// matrix plus the ridge in <paramref name="m"/> (p × p, both triangles) and its right-hand side in <paramref name="rhs"/>
    /// (both overwritten), for a caller that changes the system before solving it (e.g. reweighted rows).
    /// </summary>
    public void Assemble(int? leftOut, ReadOnlySpan<double> weights, ReadOnlySpan<double> ridge, double[] m, double[] rhs)
    {
        int p = Columns;
        if (m.LongLength < (long)p * p) throw new ArgumentException($"the workspace holds {m.LongLength} values, a solve needs {(long)p * p}", nameof(m));
        m.AsSpan(0, p * p).Clear();
        rhs.AsSpan(0, p).Clear();
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
    }

    /// <summary>Rows of one block that a rank did not sum itself: <see cref="Rows"/> rows from the block's row <see cref="Start"/>, row-major, and their targets.</summary>
    private sealed record Piece(long Start, int Rows, double[] A, double[] B);

    private sealed unsafe class Block
    {
        private readonly int _p;
        private readonly long _total;   // the block's rows over all ranks (long.MaxValue: one process, every chunk is whole)
        private long _next;             // index (in the block's rows over all ranks) of the next row pushed
        private long _bufferStart;      // index of the buffer's first row
        public readonly double[] G;     // upper triangle: AᵀA (the rounded double-double sums); strictly lower triangle: their
                                        // compensation terms (OffDiagonalLo), where the solves' mirror overwrites anything
        public readonly double[] DiagLo; // the diagonal's compensation terms
        public readonly double[] H, HLo;
        public double BB, BBLo;
        public long Rows;
        public int Filled;
        public readonly List<Piece> Parked = [];
        private readonly double[] _chunkArray, _targetArray; // pinned; column-major chunk: column i at i*Chunk from the aligned offset
        private readonly int _chunkOffset, _targetOffset;
        private readonly bool[] _nonZero;

        public Block(int p, long start, long total)
        {
            _p = p;
            _next = start;
            _total = total;
            G = new double[(long)p * p];
            H = new double[p];
            HLo = new double[p];
            DiagLo = new double[p];
            (_chunkArray, _chunkOffset) = AlignedArray((long)p * Chunk);
            (_targetArray, _targetOffset) = AlignedArray(Chunk);
            _nonZero = new bool[p];
        }

        private Span<double> ChunkValues => _chunkArray.AsSpan(_chunkOffset, _p * Chunk);
        private Span<double> Targets => _targetArray.AsSpan(_targetOffset, Chunk);

        /// <summary>
        /// The compensation terms of G's row i right of the diagonal (entries i + 1 ... p − 1): the strictly lower part of row
        /// p − 1 − i, which has exactly p − 1 − i entries, so that the terms cost no memory beyond G (whose lower half the solves
        /// overwrite with the mirror of the upper one).
        /// </summary>
        public Span<double> OffDiagonalLo(int i) => G.AsSpan((int)((long)(_p - 1 - i) * _p), _p - 1 - i);

        public void Push(ReadOnlySpan<double> row, double target, int threads)
        {
            if (row.Length != _p) throw new ArgumentException($"a row has {row.Length} values, expected {_p}", nameof(row));
            if (Filled == 0) _bufferStart = _next;
            int r = Filled;
            var chunk = ChunkValues;
            for (int i = 0; i < _p; i++)
            {
                double v = row[i];
                chunk[i * Chunk + r] = v;
                if (v != 0) _nonZero[i] = true;
            }
            Targets[r] = target;
            Filled++;
            _next++;
            if (_next % Chunk == 0 || _next == _total) EndChunk(threads);
        }

        public void Complete(int threads)
        {
            if (Filled == 0) return;
            if (_total == long.MaxValue) Flush(threads); // one process: the last chunk is whole
            else Park();                                  // a chunk that ends in another rank's share
        }

        /// <summary>The buffer reached a chunk's end: summed here if the chunk is whole, else kept for rank 0.</summary>
        private void EndChunk(int threads)
        {
            long c0 = _bufferStart / Chunk * Chunk, c1 = Math.Min(c0 + Chunk, _total);
            if (_bufferStart == c0 && _next == c1) Flush(threads);
            else Park();
        }

        private void Park()
        {
            int m = Filled, p = _p;
            var a = new double[(long)m * p];
            var chunk = ChunkValues;
            for (int i = 0; i < p; i++)
                for (int r = 0; r < m; r++) a[(long)r * p + i] = chunk[i * Chunk + r];
            Parked.Add(new Piece(_bufferStart, m, a, Targets[..m].ToArray()));
            Clear(m);
        }

        /// <summary>Rank 0: sums the chunks assembled from every rank's parked rows (<paramref name="pieces"/>, any order).</summary>
        public void SumPieces(List<Piece> pieces, int threads)
        {
            Parked.Clear();
            if (Filled != 0) throw new InvalidOperationException("rows left in a block's buffer before its pieces are summed");
            foreach (var q in pieces.OrderBy(q => q.Start))
            {
                if (Filled > 0 && q.Start != _next) throw new InvalidOperationException($"a straddling chunk misses rows {_next}..{q.Start - 1}");
                _next = q.Start;
                for (int r = 0; r < q.Rows; r++) Push(q.A.AsSpan(r * _p, _p), q.B[r], threads);
            }
            if (Filled != 0 || Parked.Count != 0) throw new InvalidOperationException("the ranks' straddling rows do not make whole chunks");
        }

        private void Flush(int threads)
        {
            int m = Filled, p = _p;
            if (m == 0) return;
            var nz = Enumerable.Range(0, p).Where(i => _nonZero[i]).ToArray();
            var chunkArray = _chunkArray;
            int chunkOffset = _chunkOffset;
            var targetArray = _targetArray;
            int targetOffset = _targetOffset;
            MlipParallel.For(0, nz.Length, new ParallelOptions { MaxDegreeOfParallelism = threads }, a =>
            {
                int i = nz[a];
                var ci = new ReadOnlySpan<double>(chunkArray, chunkOffset + i * Chunk, m);
                var rented = System.Buffers.ArrayPool<double>.Shared.Rent(p - i);
                var dots = rented.AsSpan(0, p - i);
                dots.Clear();
                for (int q = a; q < nz.Length; q++)
                {
                    int j = nz[q];
                    dots[j - i] = TensorPrimitives.Dot(ci, new ReadOnlySpan<double>(chunkArray, chunkOffset + j * Chunk, m));
                }
                Compensated.Add(ref G[(long)i * p + i], ref DiagLo[i], dots[0], 0);
                Compensated.Add(G.AsSpan((int)((long)i * p + i + 1), p - 1 - i), OffDiagonalLo(i), dots[1..]);
                System.Buffers.ArrayPool<double>.Shared.Return(rented);
                double h = TensorPrimitives.Dot(ci, new ReadOnlySpan<double>(targetArray, targetOffset, m));
                Compensated.Add(ref H[i], ref HLo[i], h, 0);
            });
            var t = Targets[..m];
            Compensated.Add(ref BB, ref BBLo, TensorPrimitives.Dot(t, t), 0);
            Rows += m;
            Clear(m);
        }

        /// <summary>Zeroes the used columns and targets for the next chunk.</summary>
        private void Clear(int m)
        {
            var chunk = ChunkValues;
            for (int i = 0; i < _p; i++)
                if (_nonZero[i]) chunk.Slice(i * Chunk, m).Clear();
            Targets[..m].Clear();
            Array.Clear(_nonZero);
            Filled = 0;
        }

        /// <summary>A pinned array of at least <paramref name="length"/> doubles and the offset of its first 64-byte aligned element.</summary>
        private static (double[] Array, int Offset) AlignedArray(long length)
        {
            var array = GC.AllocateArray<double>((int)length + 8, pinned: true);
            long address = (long)System.Runtime.CompilerServices.Unsafe.AsPointer(ref array[0]);
            return (array, (int)((64 - address % 64) % 64 / 8));
        }
    }
}

/// <summary>
/// Double-double (compensated) sums: a value is hi + lo with hi the double nearest to it; adding terms this way keeps ~106 bits,
/// so sums of the same terms added in another order round to the same hi except where the exact sum lies within ~2⁻⁹⁷ of a
/// rounding midpoint. Element-wise: the vector and scalar paths give the same bits (no fused multiply-add).
/// </summary>
public static class Compensated
{
    /// <summary>(hi, lo) += (xHi, xLo), element by element.</summary>
    public static void Add(Span<double> hi, Span<double> lo, ReadOnlySpan<double> xHi, ReadOnlySpan<double> xLo)
    {
        for (int k = 0; k < hi.Length; k++) Add(ref hi[k], ref lo[k], xHi[k], xLo[k]);
    }

    /// <summary>(hi, lo) += x, element by element (vectorised).</summary>
    public static void Add(Span<double> hi, Span<double> lo, ReadOnlySpan<double> x)
    {
        int n = hi.Length, k = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            int w = System.Numerics.Vector<double>.Count;
            for (; k + w <= n; k += w)
            {
                var h = new System.Numerics.Vector<double>(hi[k..]);
                var v = new System.Numerics.Vector<double>(x[k..]);
                var s = h + v;
                var bb = s - h;
                var e = (h - (s - bb)) + (v - bb);
                var l = new System.Numerics.Vector<double>(lo[k..]) + e;
                var h2 = s + l;
                (l - (h2 - s)).CopyTo(lo[k..]);
                h2.CopyTo(hi[k..]);
            }
        }
        for (; k < n; k++) Add(ref hi[k], ref lo[k], x[k], 0);
    }

    /// <summary>(hi, lo) += (xHi, xLo).</summary>
    public static void Add(ref double hi, ref double lo, double xHi, double xLo)
    {
        double s = hi + xHi;
        double bb = s - hi;
        double e = (hi - (s - bb)) + (xHi - bb);
        double l = lo + e + xLo;
        double h2 = s + l;
        lo = l - (h2 - s);
        hi = h2;
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
