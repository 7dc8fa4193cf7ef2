using System.Globalization;
using System.Numerics.Tensors;
using TorchSharp;
using static TorchSharp.torch;

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
    private double[]? _buffer;           // BufferRows x (p+1) row-major rows waiting to be folded (allocated on the first row:
                                         // a factor that is only merged, such as the ranks' flat forms in a tree merge, never needs it)
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

    /// <summary>Bytes an accumulator of <paramref name="columns"/> unknowns holds (triangle and buffer), for memory estimates.</summary>
    public static long BytesFor(int columns) => 8L * (columns + 1) * ((columns + 1) + DefaultBufferRows(columns));

    private double[] Buffer => _buffer ??= new double[(long)BufferRows * Width];

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
        for (int i = 0; i < count; i++)
        {
            var row = Buffer.AsSpan(_buffered * Width, Width);
            a.Slice(i * Columns, Columns).CopyTo(row);
            row[Columns] = b[i];
            if (++_buffered == BufferRows) Fold();
        }
        Rows += count;
    }

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
        if (_buffered > 0) _buffer!.AsSpan(0, _buffered * Width).CopyTo(state.AsSpan(3 + _t.Length));
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
        if (buffered > 0) state[(3 + acc._t.Length)..].CopyTo(acc.Buffer);
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
        if (Backend == TsqrBackend.Torch && _buffered <= Width) TriangleMerge.FoldRows(_t, _buffer!.AsSpan(0, _buffered * Width), _buffered, Width, useTorch: true, Threads);
        else if (Backend == TsqrBackend.Torch) FoldTorch();
        else FoldManaged();
        _buffered = 0;
    }

    /// <summary>geqrf of [T; buffer]; T := the upper triangle of the top p + 1 rows.</summary>
    private unsafe void FoldTorch()
    {
        int w = Width, m = _buffered;
        TorchRuntime.SetThreads(Threads);
        using var scope = NewDisposeScope();
        var stacked = empty(new long[] { w + m, w }, ScalarType.Float64);
        double* p = TorchLeastSquares.DataPointer(stacked);
        _t.AsSpan().CopyTo(new Span<double>(p, w * w));
        _buffer!.AsSpan(0, m * w).CopyTo(new Span<double>(p + (long)w * w, m * w));
        var (qr, _) = geqrf(stacked);
        var top = qr.narrow(0, 0, w).triu().contiguous();
        new ReadOnlySpan<double>(TorchLeastSquares.DataPointer(top), w * w).CopyTo(_t);
    }

    /// <summary>
    /// Householder reflections that zero the buffered rows column by column against the triangle's diagonal
    /// (LAPACK's dlarfg sign convention: the new diagonal is −sign(old)·norm).
    /// </summary>
    private void FoldManaged()
    {
        int w = Width, m = _buffered;
        // the buffered rows column-major, so that a column is contiguous
        var c = new double[(long)w * m];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < w; j++) c[j * m + i] = _buffer![i * w + j];
        var v = new double[m];
        var options = new ParallelOptions { MaxDegreeOfParallelism = Threads };
        for (int j = 0; j < w; j++)
        {
            var x = c.AsSpan(j * m, m);
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
                var col = c.AsSpan(l * m, m);
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
