namespace Mlip.Structures;

/// <summary>
/// A symmetric stress tensor in GPa, in the ASE/LAMMPS sign convention: tension positive,
/// σ = (1/V) ∂E/∂ε. A cell under hydrostatic compression has negative diagonal entries, and the
/// pressure is P = -(σxx + σyy + σzz)/3. See docs/units.md.
/// Voigt order is ASE's: xx, yy, zz, yz, xz, xy.
/// </summary>
public readonly record struct Stress(double Xx, double Yy, double Zz, double Yz, double Xz, double Xy)
{
    /// <summary>1 eV/Å³ in GPa (CODATA 2018, as ASE uses).</summary>
    public const double EvPerCubicAngstromInGpa = 160.21766208;

    /// <summary>1 kbar in GPa.</summary>
    public const double KbarInGpa = 0.1;

    public static Stress Zero => default;

    /// <summary>From the Voigt 6-vector in ASE order (xx, yy, zz, yz, xz, xy).</summary>
    public static Stress FromVoigt(ReadOnlySpan<double> v)
    {
        if (v.Length != 6) throw new ArgumentException("Voigt stress needs 6 values", nameof(v));
        return new Stress(v[0], v[1], v[2], v[3], v[4], v[5]);
    }

    /// <summary>From a full 3x3 tensor; the off-diagonal pairs are averaged.</summary>
    public static Stress FromMatrix(Matrix3 m) => new(
        m.M00, m.M11, m.M22, 0.5 * (m.M12 + m.M21), 0.5 * (m.M02 + m.M20), 0.5 * (m.M01 + m.M10));

    /// <summary>Largest asymmetry |m_ij - m_ji| of a 3x3 tensor.</summary>
    public static double Asymmetry(Matrix3 m) =>
        Math.Max(Math.Abs(m.M12 - m.M21), Math.Max(Math.Abs(m.M02 - m.M20), Math.Abs(m.M01 - m.M10)));

    /// <summary>
    /// From VASP's "in kB" line or the mlearn/pymatgen virial_stress: kbar, compression positive,
    /// component order xx, yy, zz, xy, yz, zx.
    /// </summary>
    public static Stress FromVaspKbar(ReadOnlySpan<double> v)
    {
        if (v.Length != 6) throw new ArgumentException("VASP stress needs 6 values", nameof(v));
        double s = -KbarInGpa;
        return new Stress(s * v[0], s * v[1], s * v[2], s * v[4], s * v[5], s * v[3]);
    }

    /// <summary>Back to VASP order and sign: kbar, compression positive, xx yy zz xy yz zx.</summary>
    public double[] ToVaspKbar()
    {
        double s = -1.0 / KbarInGpa;
        return [s * Xx, s * Yy, s * Zz, s * Xy, s * Yz, s * Xz];
    }

    /// <summary>From a tensor in eV/Å³ (ASE's internal unit).</summary>
    public static Stress FromEvPerCubicAngstrom(Matrix3 m) => FromMatrix(EvPerCubicAngstromInGpa * m);

    /// <summary>From a virial W (eV) = -σ V: σ = -W / V.</summary>
    public static Stress FromVirial(Matrix3 virialEv, double volume) =>
        FromMatrix((-EvPerCubicAngstromInGpa / volume) * virialEv);

    public double[] ToVoigt() => [Xx, Yy, Zz, Yz, Xz, Xy];

    public Matrix3 ToMatrix() => new(Xx, Xy, Xz, Xy, Yy, Yz, Xz, Yz, Zz);

    public Matrix3 ToEvPerCubicAngstrom() => (1.0 / EvPerCubicAngstromInGpa) * ToMatrix();

    /// <summary>Pressure in GPa, positive under compression.</summary>
    public double Pressure => -(Xx + Yy + Zz) / 3.0;

    public bool IsFinite =>
        double.IsFinite(Xx) && double.IsFinite(Yy) && double.IsFinite(Zz) &&
        double.IsFinite(Yz) && double.IsFinite(Xz) && double.IsFinite(Xy);

    public static Stress operator *(double s, Stress a) =>
        new(s * a.Xx, s * a.Yy, s * a.Zz, s * a.Yz, s * a.Xz, s * a.Xy);
}
