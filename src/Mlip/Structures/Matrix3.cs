using System.Globalization;

namespace Mlip.Structures;

/// <summary>
/// A 3x3 double matrix stored by rows. For a lattice the rows are the cell vectors a, b, c (Å),
/// so Cartesian = fractional · Cell (row vector times matrix).
/// </summary>
public readonly record struct Matrix3(
    double M00, double M01, double M02,
    double M10, double M11, double M12,
    double M20, double M21, double M22)
{
    public static readonly Matrix3 Zero = default;
    public static readonly Matrix3 Identity = new(1, 0, 0, 0, 1, 0, 0, 0, 1);

    public static Matrix3 FromRows(Vec3 a, Vec3 b, Vec3 c) =>
        new(a.X, a.Y, a.Z, b.X, b.Y, b.Z, c.X, c.Y, c.Z);

    /// <summary>Row-major 9 values.</summary>
    public static Matrix3 FromArray(ReadOnlySpan<double> v)
    {
        if (v.Length != 9) throw new ArgumentException("a 3x3 matrix needs 9 values", nameof(v));
        return new(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]);
    }

    public static Matrix3 Diagonal(double a, double b, double c) => new(a, 0, 0, 0, b, 0, 0, 0, c);

    public double this[int i, int j] => (i * 3 + j) switch
    {
        0 => M00, 1 => M01, 2 => M02,
        3 => M10, 4 => M11, 5 => M12,
        6 => M20, 7 => M21, 8 => M22,
        _ => throw new ArgumentOutOfRangeException(nameof(i)),
    };

    public Vec3 Row(int i) => i switch
    {
        0 => new Vec3(M00, M01, M02),
        1 => new Vec3(M10, M11, M12),
        2 => new Vec3(M20, M21, M22),
        _ => throw new ArgumentOutOfRangeException(nameof(i)),
    };

    public Vec3 Column(int j) => new(this[0, j], this[1, j], this[2, j]);

    public double[] ToArray() => [M00, M01, M02, M10, M11, M12, M20, M21, M22];

    public double Determinant =>
        M00 * (M11 * M22 - M12 * M21) - M01 * (M10 * M22 - M12 * M20) + M02 * (M10 * M21 - M11 * M20);

    public double Trace => M00 + M11 + M22;

    public Matrix3 Transpose() => new(M00, M10, M20, M01, M11, M21, M02, M12, M22);

    public Matrix3 Inverse()
    {
        double det = Determinant;
        if (det == 0 || !double.IsFinite(det)) throw new InvalidOperationException("matrix is singular");
        double inv = 1.0 / det;
        return new(
            (M11 * M22 - M12 * M21) * inv, (M02 * M21 - M01 * M22) * inv, (M01 * M12 - M02 * M11) * inv,
            (M12 * M20 - M10 * M22) * inv, (M00 * M22 - M02 * M20) * inv, (M02 * M10 - M00 * M12) * inv,
            (M10 * M21 - M11 * M20) * inv, (M01 * M20 - M00 * M21) * inv, (M00 * M11 - M01 * M10) * inv);
    }

    public static Matrix3 operator *(Matrix3 a, Matrix3 b)
    {
        Span<double> r = stackalloc double[9];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                r[i * 3 + j] = a[i, 0] * b[0, j] + a[i, 1] * b[1, j] + a[i, 2] * b[2, j];
        return FromArray(r);
    }

    public static Matrix3 operator *(double s, Matrix3 a) =>
        new(s * a.M00, s * a.M01, s * a.M02, s * a.M10, s * a.M11, s * a.M12, s * a.M20, s * a.M21, s * a.M22);

    public static Matrix3 operator +(Matrix3 a, Matrix3 b) =>
        new(a.M00 + b.M00, a.M01 + b.M01, a.M02 + b.M02, a.M10 + b.M10, a.M11 + b.M11, a.M12 + b.M12,
            a.M20 + b.M20, a.M21 + b.M21, a.M22 + b.M22);

    public static Matrix3 operator -(Matrix3 a, Matrix3 b) => a + (-1.0 * b);

    /// <summary>Row vector times matrix: v · M (fractional to Cartesian for a cell).</summary>
    public static Vec3 operator *(Vec3 v, Matrix3 m) => new(
        v.X * m.M00 + v.Y * m.M10 + v.Z * m.M20,
        v.X * m.M01 + v.Y * m.M11 + v.Z * m.M21,
        v.X * m.M02 + v.Y * m.M12 + v.Z * m.M22);

    /// <summary>Matrix times column vector: M · v.</summary>
    public static Vec3 operator *(Matrix3 m, Vec3 v) => new(
        m.M00 * v.X + m.M01 * v.Y + m.M02 * v.Z,
        m.M10 * v.X + m.M11 * v.Y + m.M12 * v.Z,
        m.M20 * v.X + m.M21 * v.Y + m.M22 * v.Z);

    public bool IsFinite
    {
        get
        {
            foreach (double x in ToArray()) if (!double.IsFinite(x)) return false;
            return true;
        }
    }

    public double MaxAbsDifference(Matrix3 other)
    {
        double m = 0;
        var a = ToArray();
        var b = other.ToArray();
        for (int i = 0; i < 9; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"[[{M00:G17}, {M01:G17}, {M02:G17}], [{M10:G17}, {M11:G17}, {M12:G17}], [{M20:G17}, {M21:G17}, {M22:G17}]]");
}
