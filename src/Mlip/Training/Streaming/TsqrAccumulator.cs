using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Mlip.Training.Streaming;

/// <summary>How a <see cref="TsqrAccumulator"/> folds rows into its triangle.</summary>
public enum TsqrBackend
{
    /// <summary>libtorch when it loads (LAPACK geqrf), else <see cref="Managed"/>.</summary>
    Auto,

    /// <summary>libtorch geqrf of the triangle stacked on the buffered rows.</summary>
    Torch,

    /// <summary>Plain C#: Householder reflections that use the triangle's structure (2·m·p² flops for m rows).</summary>
    Managed,
}

/// <summary>
/// A tall-skinny QR of a least-squares problem min ||A x − b||² that is fed rows chunk by chunk and keeps only the
/// (p + 1) × (p + 1) upper-triangular factor T of the augmented matrix [A | b] (p columns of A). From T:
/// <see cref="R"/> (the p × p triangle of A), <see cref="QtB"/> (Qᵀ b, p values) and
/// <see cref="ResidualSumOfSquares"/> = T[p, p]² (the part of ||b||² outside the column space of A), so
/// ||A x − b||² = ||R x − Qᵀb||² + rss for every x: the objective is known without the rows.
/// </summary>
/// <remarks>
/// <para>
/// Memory: the triangle and a buffer of <see cref="BufferRows"/> rows, O(p²) whatever the number of rows.
/// Rows are buffered and folded into T when the buffer is full ([T; buffer] is QR-factorised and its triangle kept),
/// so the result depends only on the sequence of rows, not on how they were split into calls, and is the same on
/// every run (bitwise, for one backend and thread count).
/// </para>
/// <para>
/// <see cref="Merge(TsqrAccumulator)"/> stacks another accumulator's triangle under this one's: the factor of the
/// union of both sets of rows (ranks of an MPI job merge their <see cref="ToFlat"/> forms along a tree), by the structured
/// QR of two triangles (<see cref="TriangleMerge"/>).
/// Householder QR is backward stable, so the merged factor is as accurate as a QR of all rows at once (κ·ε), which
/// normal equations (κ²·ε) are not.
/// </para>
/// <para>
/// Flat form (<see cref="ToFlat"/>, <see cref="FromFlat"/>): [columns, rows, T row-major ((p + 1)² values)] with any
/// buffered rows folded in first.
/// </para>
/// </remarks>
public sealed class TsqrAccumulator
{
    private readonly double[] _t;        // (p+1) x (p+1) row-major upper triangle of [A | b]
    private double[]? _stack;            // column-major (p + 1 + BufferRows) x (p + 1), leading dimension Lda: rows p + 1 ... hold the
                                         // rows waiting to be folded, rows 0 ... p the triangle's copy during a fold, which dgeqrf
                                         // factorises in place (allocated on the first row: a factor that is only merged, such as the
                                         // ranks' flat forms in a tree merge, never needs it); kept for the accumulator's lifetime
    private int _stackOffset;            // the first element of _stack at a 64-byte boundary (the array is pinned)
    private (double[] Array, int Offset)? _tau, _work; // dgeqrf's scalars and workspace (queried once), aligned as the stack
    private int _buffered;

    /// <summary>An empty factor (no rows) of a problem with <paramref name="columns"/> unknowns.</summary>
    public TsqrAccumulator(int columns, TsqrBackend backend = TsqrBackend.Auto, int threads = 1, int bufferRows = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        Columns = columns;
        Width = columns + 1;
        Backend = backend == TsqrBackend.Auto ? (TorchRuntime.IsAvailable ? TsqrBackend.Torch : TsqrBackend.Managed) : backend;
        if (Backend == TsqrBackend.Torch) TorchRuntime.EnsureLoaded();
        Threads = Math.Max(1, threads);
        BufferRows = bufferRows > 0 ? bufferRows : DefaultBufferRows(columns);
        _t = new double[(long)Width * Width <= Array.MaxLength ? Width * Width : throw new ArgumentOutOfRangeException(nameof(columns), columns, "too many columns for one triangle")];
    }

    /// <summary>Rows buffered before a fold: 4 (p + 1), at least 1024 (a fold costs about 2 (p + m) p² flops for m rows).</summary>
    public static int DefaultBufferRows(int columns) => Math.Max(1024, 4 * (columns + 1));

    /// <summary>
    /// Bytes an accumulator of <paramref name="columns"/> unknowns holds (triangle and the stacked fold buffer: the triangle's
    /// copy and the buffered rows), for memory estimates. A fold allocates nothing beyond it.
    /// </summary>
    public static long BytesFor(int columns) => 8L * (columns + 1) * (2 * (columns + 1) + DefaultBufferRows(columns));

    /// <summary>The stacked buffer's leading dimension (rows of its column-major matrix), a multiple of 8: every column starts on a 64-byte boundary.</summary>
    private int Lda => (Width + BufferRows + 7) / 8 * 8;

    /// <summary>
    /// The stacked buffer, allocated once, pinned and 64-byte aligned: MKL's results depend on the alignment of its operands, so a
    /// fold is the same to the bit whatever address the buffer got (a resumed run equals an uninterrupted one).
    /// </summary>
    private Span<double> Stack
    {
        get
        {
            if (_stack is null)
            {
                long length = (long)Lda * Width;
                if (length + 8 > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(BufferRows), BufferRows, "too many buffered rows for one array");
                (_stack, _stackOffset) = AlignedArray((int)length);
            }
            return _stack.AsSpan(_stackOffset);
        }
    }

    /// <summary>A pinned array of <paramref name="length"/> + 8 doubles and the offset of its first 64-byte aligned element.</summary>
    private static unsafe (double[] Array, int Offset) AlignedArray(int length)
    {
        var array = GC.AllocateArray<double>(length + 8, pinned: true);
        long address = (long)Unsafe.AsPointer(ref array[0]);
        return (array, (int)((64 - address % 64) % 64 / 8));
    }

    /// <summary>Unknowns p.</summary>
    public int Columns { get; }

    /// <summary>p + 1 (the columns of [A | b]).</summary>
    private int Width { get; }

    /// <summary>The backend that folds the rows.</summary>
    public TsqrBackend Backend { get; }

    /// <summary>Threads of a fold.</summary>
    public int Threads { get; }

    /// <summary>Rows buffered before a fold.</summary>
    public int BufferRows { get; }

    /// <summary>Rows added so far (merged accumulators' rows included).</summary>
    public long Rows { get; private set; }

    /// <summary>Rows added but not yet folded into the triangle (the next <see cref="Flush"/> folds them).</summary>
    public int BufferedRows => _buffered;

    /// <summary>
    /// Adds <paramref name="count"/> rows: <paramref name="a"/> row-major (count × p, already weighted) and their
    /// targets <paramref name="b"/> (count values, weighted alike).
    /// </summary>
    public void AddRows(ReadOnlySpan<double> a, ReadOnlySpan<double> b, int count)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        if ((long)a.Length != (long)count * Columns) throw new ArgumentException($"{a.Length} values are not {count} rows of {Columns}", nameof(a));
        if (b.Length != count) throw new ArgumentException($"{b.Length} targets for {count} rows", nameof(b));
        if (!TensorPrimitives.IsFiniteAll(a) || !TensorPrimitives.IsFiniteAll(b))
            throw new Mlip.Validation.NonFiniteValueException(Mlip.Validation.InputLocation.Unknown, "a row of the least-squares problem");
        for (int i = 0; i < count;)
        {
            int take = Math.Min(count - i, BufferRows - _buffered);
            WriteRows(a.Slice(i * Columns, take * Columns), b.Slice(i, take), take);
            _buffered += take;
            i += take;
            if (_buffered == BufferRows) Fold();
        }
        Rows += count;
    }

    /// <summary>Writes <paramref name="count"/> row-major rows and targets after the buffered ones, into the column-major stack.</summary>
    private void WriteRows(ReadOnlySpan<double> a, ReadOnlySpan<double> b, int count)
    {
        var s = Stack;
        int p = Columns, lda = Lda;
        long first = Width + _buffered;
        // a few rows at a time, column by column: each column's entries of those rows are adjacent in the stack
        const int Tile = 8;
        for (int r0 = 0; r0 < count; r0 += Tile)
        {
            int r1 = Math.Min(count, r0 + Tile);
            for (int j = 0; j < p; j++)
            {
                int col = (int)((long)j * lda + first);
                for (int r = r0; r < r1; r++) s[col + r] = a[r * p + j];
            }
        }
        b.CopyTo(s.Slice((int)((long)p * lda + first), count));
    }

    /// <summary>Buffered row <paramref name="i"/>'s value in column <paramref name="j"/> (of [A | b]).</summary>
    private ref double BufferedAt(int i, int j) => ref Stack[(int)((long)j * Lda + Width + i)];

    /// <summary>Adds the rows of <paramref name="other"/> (its triangle is stacked under this one's and re-factorised).</summary>
    public void Merge(TsqrAccumulator other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Columns != Columns) throw new ArgumentException($"cannot merge a factor of {other.Columns} columns into one of {Columns}", nameof(other));
        other.Flush();
        MergeTriangle(other._t, other.Rows);
    }

    /// <summary>Adds the rows of a factor in flat form (<see cref="ToFlat"/>; for example one MPI rank's).</summary>
    public void Merge(ReadOnlySpan<double> flat)
    {
        var (columns, rows) = Parse(flat);
        if (columns != Columns) throw new ArgumentException($"cannot merge a factor of {columns} columns into one of {Columns}", nameof(flat));
        MergeTriangle(flat[2..], rows);
    }

    private void MergeTriangle(ReadOnlySpan<double> t, long rows)
    {
        Flush();
        // a structured QR of the two stacked triangles (about 2(p + 1)³/3 flops, TriangleMerge), not a dense fold of 2(p + 1) rows
        TriangleMerge.Merge(_t, t, Width, Backend == TsqrBackend.Torch, Threads);
        Rows += rows;
    }

    /// <summary>Folds the buffered rows into the triangle now.</summary>
    public void Flush()
    {
        if (_buffered > 0) Fold();
    }

    /// <summary>R: the p × p upper triangle of A, row-major (a copy).</summary>
    public double[] R
    {
        get
        {
            Flush();
            int p = Columns;
            var r = new double[p * p];
            for (int i = 0; i < p; i++) _t.AsSpan(i * Width + i, p - i).CopyTo(r.AsSpan(i * p + i, p - i));
            return r;
        }
    }

    /// <summary>T: the (p + 1) × (p + 1) upper triangle of [A | b], row-major (a copy).</summary>
    public double[] Triangle
    {
        get
        {
            Flush();
            return (double[])_t.Clone();
        }
    }

    /// <summary>Qᵀ b (p values, a copy).</summary>
    public double[] QtB
    {
        get
        {
            Flush();
            var c = new double[Columns];
            for (int i = 0; i < Columns; i++) c[i] = _t[i * Width + Columns];
            return c;
        }
    }

    /// <summary>min_x ||A x − b||² of the rows so far without any ridge (T[p, p]²).</summary>
    public double ResidualSumOfSquares
    {
        get
        {
            Flush();
            double v = _t[Columns * Width + Columns];
            return v * v;
        }
    }

    /// <summary>[columns, rows, T row-major] (see the remarks).</summary>
    public double[] ToFlat()
    {
        var flat = new double[2 + _t.Length];
        WriteFlat(flat);
        return flat;
    }

    /// <summary>Writes the flat form (<see cref="ToFlat"/>) to the start of <paramref name="destination"/>; returns its length.</summary>
    public int WriteFlat(Span<double> destination)
    {
        Flush();
        destination[0] = Columns;
        destination[1] = Rows;
        _t.CopyTo(destination[2..]);
        return 2 + _t.Length;
    }

    /// <summary>
    /// The whole state, buffered rows included (for a checkpoint that a resumed run continues bit for bit):
    /// [columns, rows, buffered, T row-major, the buffered rows].
    /// </summary>
    public double[] SaveState()
    {
        var state = new double[3 + _t.Length + _buffered * Width];
        state[0] = Columns;
        state[1] = Rows;
        state[2] = _buffered;
        _t.CopyTo(state, 3);
        int w = Width, at = 3 + _t.Length;
        for (int i = 0; i < _buffered; i++)
            for (int j = 0; j < w; j++) state[at + i * w + j] = BufferedAt(i, j);
        return state;
    }

    /// <summary>An accumulator in the state <paramref name="state"/> (<see cref="SaveState"/>); the same buffer size is needed to continue identically.</summary>
    public static TsqrAccumulator FromState(ReadOnlySpan<double> state, TsqrBackend backend = TsqrBackend.Auto, int threads = 1, int bufferRows = 0)
    {
        if (state.Length < 3 || state[0] < 1 || state[0] != Math.Floor(state[0]) || state[2] < 0 || state[2] != Math.Floor(state[2]))
            throw new ArgumentException("not a TSQR state (header)", nameof(state));
        var acc = new TsqrAccumulator((int)state[0], backend, threads, bufferRows);
        int buffered = (int)state[2];
        if (buffered >= acc.BufferRows || state.Length != 3 + acc._t.Length + buffered * acc.Width)
            throw new ArgumentException("a TSQR state of the wrong length (or from another buffer size)", nameof(state));
        acc.Rows = (long)state[1];
        state.Slice(3, acc._t.Length).CopyTo(acc._t);
        if (buffered > 0)
        {
            int w = acc.Width, at = 3 + acc._t.Length;
            _ = acc.Stack;
            for (int i = 0; i < buffered; i++)
                for (int j = 0; j < w; j++) acc.BufferedAt(i, j) = state[at + i * w + j];
        }
        acc._buffered = buffered;
        return acc;
    }

    /// <summary>The length of the flat form of a factor of <paramref name="columns"/> unknowns.</summary>
    public static int FlatLength(int columns) => 2 + (columns + 1) * (columns + 1);

    /// <summary>An accumulator holding the factor <paramref name="flat"/> (from <see cref="ToFlat"/>).</summary>
    public static TsqrAccumulator FromFlat(ReadOnlySpan<double> flat, TsqrBackend backend = TsqrBackend.Auto, int threads = 1)
    {
        var (columns, rows) = Parse(flat);
        var acc = new TsqrAccumulator(columns, backend, threads);
        flat[2..].CopyTo(acc._t);
        acc.Rows = rows;
        return acc;
    }

    private static (int Columns, long Rows) Parse(ReadOnlySpan<double> flat)
    {
        if (flat.Length < 2 || flat[0] < 1 || flat[0] != Math.Floor(flat[0]) || flat[1] < 0 || flat[1] != Math.Floor(flat[1]))
            throw new ArgumentException("not a flat TSQR factor (header)", nameof(flat));
        int columns = (int)flat[0];
        if (flat.Length != FlatLength(columns))
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"a flat TSQR factor of {columns} columns has {FlatLength(columns)} values, not {flat.Length}"), nameof(flat));
        return (columns, (long)flat[1]);
    }

    private void Fold()
    {
        // up to p + 1 rows (the last, partial fold of a share; a class of few rows such as the energies): the structured fold,
        // 2m(p + 1)² flops, not geqrf of the stacked matrix, which pays ~4(p + 1)³/3 for the triangle whatever m
        if (Backend == TsqrBackend.Torch && _buffered <= Width) TriangleMerge.FoldRows(_t, BufferedRowMajor(), _buffered, Width, useTorch: true, Threads);
        else if (Backend == TsqrBackend.Torch) FoldInPlace();
        else FoldManaged();
        _buffered = 0;
    }

    /// <summary>The buffered rows row-major (a copy: at most p + 1 rows, for the structured fold).</summary>
    private double[] BufferedRowMajor()
    {
        int w = Width, m = _buffered;
        var rows = new double[m * w];
        for (int j = 0; j < w; j++)
        {
            var col = Stack.Slice((int)((long)j * Lda + w), m);
            for (int i = 0; i < m; i++) rows[i * w + j] = col[i];
        }
        return rows;
    }

    /// <summary>
    /// LAPACK dgeqrf of [T; buffer] in place in the stacked column-major buffer (libtorch's MKL, no tensor, no allocation);
    /// T := the upper triangle of its top p + 1 rows. The Householder vectors dgeqrf leaves below the diagonal are overwritten
    /// by the next fold's copy of T and its new rows.
    /// </summary>
    private void FoldInPlace()
    {
        int w = Width, lda = Lda, m = w + _buffered;
        var s = Stack;
        for (int j = 0; j < w; j++)
        {
            var col = s.Slice((int)((long)j * lda), w);
            for (int i = 0; i <= j; i++) col[i] = _t[i * w + j];
            col[(j + 1)..].Clear();
        }
        var (tau, tauOffset) = _tau ??= AlignedArray(w);
        var (work, workOffset) = _work ??= AlignedArray(TorchLapack.GeqrfWorkspace(lda, w, lda));
        TorchRuntime.SetThreads(Threads);
        TorchLapack.Geqrf(m, w, s, lda, tau.AsSpan(tauOffset, w), work.AsSpan(workOffset, work.Length - 8));
        for (int j = 0; j < w; j++)
        {
            var col = s.Slice((int)((long)j * lda), j + 1);
            for (int i = 0; i <= j; i++) _t[i * w + j] = col[i];
        }
    }

    /// <summary>
    /// Householder reflections that zero the buffered rows column by column against the triangle's diagonal
    /// (LAPACK's dlarfg sign convention: the new diagonal is −sign(old)·norm).
    /// </summary>
    private void FoldManaged()
    {
        int w = Width, m = _buffered, lda = Lda;
        _ = Stack;
        var c = _stack!;
        long o = _stackOffset + w; // column j of the buffered rows: c[o + j·lda ..], contiguous
        var v = new double[m];
        var options = new ParallelOptions { MaxDegreeOfParallelism = Threads };
        for (int j = 0; j < w; j++)
        {
            var x = c.AsSpan((int)(o + (long)j * lda), m);
            double tail = TensorPrimitives.Norm<double>(x);
            if (tail == 0) continue;
            double alpha = _t[j * w + j];
            double beta = -Math.CopySign(Math.Sqrt(alpha * alpha + tail * tail), alpha);
            double tau = (beta - alpha) / beta;
            TensorPrimitives.Multiply(x, 1 / (alpha - beta), v); // v = [1; x / (α − β)]
            _t[j * w + j] = beta;
            x.Clear();
            int first = j + 1, count = w - first;
            if (count == 0) continue;
            void Apply(int l)
            {
                var col = c.AsSpan((int)(o + (long)l * lda), m);
                double s = tau * (_t[j * w + l] + TensorPrimitives.Dot<double>(v, col));
                _t[j * w + l] -= s;
                TensorPrimitives.MultiplyAdd(v, -s, col, col);
            }
            if (Threads == 1 || (long)count * m < 1 << 15)
                for (int l = first; l < w; l++) Apply(l);
            else
            {
                int chunks = Math.Min(count, Threads * 4);
                Parallel.For(0, chunks, options, chunk =>
                {
                    int start = first + (int)((long)count * chunk / chunks), end = first + (int)((long)count * (chunk + 1) / chunks);
                    for (int l = start; l < end; l++) Apply(l);
                });
            }
        }
    }
}
