namespace Mlip.Numerics;

/// <summary>
/// Mean and standard deviation per column of rows that arrive one at a time or in chunks (Welford's update;
/// two accumulators merge by Chan's formula, so chunks, threads or MPI ranks may each keep their own and
/// combine them in a fixed order). The one standardisation of the project: descriptor features for every
/// model, per-atom features and targets.
/// </summary>
public sealed class ColumnStatistics
{
    private readonly double[] _mean;
    private readonly double[] _m2;   // Σ (x − mean)²

    public ColumnStatistics(int columns)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        _mean = new double[columns];
        _m2 = new double[columns];
    }

    public int Columns => _mean.Length;

    /// <summary>Rows added so far.</summary>
    public long Count { get; private set; }

    /// <summary>Adds one row of <see cref="Columns"/> values.</summary>
    public void Add(ReadOnlySpan<double> row)
    {
        if (row.Length != _mean.Length) throw new ArgumentException($"expected {_mean.Length} values, got {row.Length}");
        Count++;
        double inv = 1.0 / Count;
        for (int c = 0; c < row.Length; c++)
        {
            double d = row[c] - _mean[c];
            _mean[c] += d * inv;
            _m2[c] += d * (row[c] - _mean[c]);
        }
    }

    /// <summary>Adds every row of a row-major [rows, <see cref="Columns"/>] block.</summary>
    public void AddRows(ReadOnlySpan<double> rows)
    {
        int k = _mean.Length;
        if (k == 0) return;
        if (rows.Length % k != 0) throw new ArgumentException($"{rows.Length} values are not whole rows of {k}");
        for (int r = 0; r < rows.Length; r += k) Add(rows.Slice(r, k));
    }

    /// <summary>Adds the rows another accumulator has seen (Chan et al.'s pairwise update).</summary>
    public void Merge(ColumnStatistics other)
    {
        if (other.Columns != Columns) throw new ArgumentException($"expected {Columns} columns, got {other.Columns}");
        if (other.Count == 0) return;
        long n = Count + other.Count;
        double fa = (double)Count / n, fb = (double)other.Count / n;
        for (int c = 0; c < _mean.Length; c++)
        {
            double d = other._mean[c] - _mean[c];
            _m2[c] += other._m2[c] + d * d * Count * fb;
            _mean[c] = fa * _mean[c] + fb * other._mean[c];
        }
        Count = n;
    }

    /// <summary>The accumulator as one flat array [count, mean..., Σ(x − mean)²...], to send between processes.</summary>
    public double[] ToArray()
    {
        var a = new double[1 + 2 * Columns];
        a[0] = Count;
        _mean.CopyTo(a, 1);
        _m2.CopyTo(a, 1 + Columns);
        return a;
    }

    /// <summary>The accumulator of <see cref="ToArray"/>.</summary>
    public static ColumnStatistics FromArray(ReadOnlySpan<double> a)
    {
        if (a.Length < 1 || a.Length % 2 != 1) throw new ArgumentException($"{a.Length} values are not [count, mean..., m2...]");
        int k = (a.Length - 1) / 2;
        var s = new ColumnStatistics(k) { Count = (long)a[0] };
        a.Slice(1, k).CopyTo(s._mean);
        a.Slice(1 + k, k).CopyTo(s._m2);
        return s;
    }

    /// <summary>The mean of each column (0 before any row).</summary>
    public double[] Mean() => (double[])_mean.Clone();

    /// <summary>
    /// The population standard deviation of each column, or 1 where the column is constant to round-off
    /// (σ ≤ 10⁻¹² max(1, |mean|)), so that dividing by it never amplifies noise.
    /// </summary>
    public double[] Scale()
    {
        var scale = new double[_mean.Length];
        for (int c = 0; c < scale.Length; c++)
        {
            double sd = Count == 0 ? 0 : Math.Sqrt(Math.Max(0, _m2[c] / Count));
            scale[c] = sd > 1e-12 * Math.Max(1, Math.Abs(_mean[c])) ? sd : 1.0;
        }
        return scale;
    }
}
