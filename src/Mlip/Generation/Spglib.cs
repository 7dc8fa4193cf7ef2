using System.Runtime.InteropServices;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Generation;

/// <summary>
/// The spglib C library (Debian <c>libsymspg1</c>) through P/Invoke: space-group detection of a
/// structure and the operations of the 530 Hall settings from its database. spglib takes the lattice
/// with the cell vectors as columns and positions as fractional coordinates.
/// </summary>
public static unsafe class Spglib
{
    private const string Library = "libsymspg.so.1";

    [DllImport(Library, EntryPoint = "spg_get_symmetry")]
    private static extern int GetSymmetryNative(int* rotation, double* translation, int maxSize, double* lattice, double* position, int* types, int numAtom, double symprec);

    [DllImport(Library, EntryPoint = "spg_get_international")]
    private static extern int GetInternationalNative(byte* symbol, double* lattice, double* position, int* types, int numAtom, double symprec);

    [DllImport(Library, EntryPoint = "spg_get_symmetry_from_database")]
    private static extern int GetSymmetryFromDatabaseNative(int* rotations, double* translations, int hallNumber);

    [DllImport(Library, EntryPoint = "spg_get_spacegroup_type")]
    private static extern SpacegroupTypeNative GetSpacegroupTypeNative(int hallNumber);

    /// <summary>Layout of spglib 2.x <c>SpglibSpacegroupType</c> (spglib.h).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct SpacegroupTypeNative
    {
        public int Number;
        public fixed byte InternationalShort[11];
        public fixed byte InternationalFull[20];
        public fixed byte International[32];
        public fixed byte Schoenflies[7];
        public int HallNumber;
        public fixed byte HallSymbol[17];
        public fixed byte Choice[6];
        public fixed byte PointgroupInternational[6];
        public fixed byte PointgroupSchoenflies[4];
        public int ArithmeticCrystalClassNumber;
        public fixed byte ArithmeticCrystalClassSymbol[7];
        // spare room in case a later spglib grows the struct (the callee writes through a hidden pointer)
        public fixed byte Spare[64];
    }

    /// <summary>Whether the native library can be loaded.</summary>
    public static bool IsAvailable
    {
        get
        {
            try { return NativeLibrary.TryLoad(Library, typeof(Spglib).Assembly, null, out _); }
            catch (Exception) { return false; }
        }
    }

    /// <summary>Number (1-230), short international symbol and Hall number of a Hall setting (1-530).</summary>
    public static (int Number, string International, string Choice) SpacegroupType(int hallNumber)
    {
        if (hallNumber < 1 || hallNumber > 530) throw new ArgumentOutOfRangeException(nameof(hallNumber), "Hall numbers run from 1 to 530");
        var t = Call(() => GetSpacegroupTypeNative(hallNumber));
        return (t.Number, CString(t.InternationalShort, 11), CString(t.Choice, 6));
    }

    /// <summary>Operations of a Hall setting, in the fractional basis of its conventional cell (centring translations included).</summary>
    public static SymmetryOperation[] OperationsFromDatabase(int hallNumber)
    {
        var rot = new int[192 * 9];
        var tr = new double[192 * 3];
        int n;
        fixed (int* r = rot) fixed (double* t = tr)
        {
            int* rp = r; double* tp = t;
            n = Call(() => GetSymmetryFromDatabaseNative(rp, tp, hallNumber));
        }
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(hallNumber), $"spglib has no Hall setting {hallNumber}");
        return ToOperations(rot, tr, n);
    }

    /// <summary>Space-group number detected by spglib (0 when it finds none) and its international symbol.</summary>
    public static (int Number, string Symbol) DetectSpaceGroup(Structure s, double symprec = 1e-3)
    {
        var (lattice, positions, types) = Arrays(s);
        var symbol = new byte[11];
        int number;
        fixed (double* l = lattice) fixed (double* p = positions) fixed (int* ty = types) fixed (byte* sy = symbol)
        {
            double* lp = l, pp = p; int* tp = ty; byte* sp = sy; int n = s.Count;
            number = Call(() => GetInternationalNative(sp, lp, pp, tp, n, symprec));
        }
        int len = Array.IndexOf(symbol, (byte)0);
        return (number, System.Text.Encoding.ASCII.GetString(symbol, 0, len < 0 ? symbol.Length : len));
    }

    /// <summary>All symmetry operations of a structure in the fractional basis of its own cell (spg_get_symmetry).</summary>
    public static SymmetryOperation[] Symmetry(Structure s, double symprec = 1e-3)
    {
        var (lattice, positions, types) = Arrays(s);
        int max = 48 * Math.Max(1, s.Count);
        var rot = new int[max * 9];
        var tr = new double[max * 3];
        int n;
        fixed (double* l = lattice) fixed (double* p = positions) fixed (int* ty = types) fixed (int* r = rot) fixed (double* t = tr)
        {
            double* lp = l, pp = p, tp2 = t; int* typ = ty, rp = r; int count = s.Count;
            n = Call(() => GetSymmetryNative(rp, tp2, max, lp, pp, typ, count, symprec));
        }
        return ToOperations(rot, tr, n);
    }

    private static (double[] Lattice, double[] Positions, int[] Types) Arrays(Structure s)
    {
        if (!s.HasCell) throw new InvalidCellException(s.Source ?? InputLocation.Unknown, "space-group detection needs a periodic cell");
        var c = s.Cell;
        // columns are the cell vectors
        double[] lattice = [c.M00, c.M10, c.M20, c.M01, c.M11, c.M21, c.M02, c.M12, c.M22];
        var frac = s.FractionalPositions();
        var positions = new double[3 * s.Count];
        for (int i = 0; i < frac.Length; i++) { positions[3 * i] = frac[i].X; positions[3 * i + 1] = frac[i].Y; positions[3 * i + 2] = frac[i].Z; }
        return (lattice, positions, (int[])s.AtomicNumbers.Clone());
    }

    private static SymmetryOperation[] ToOperations(int[] rot, double[] tr, int n)
    {
        var ops = new SymmetryOperation[n];
        for (int k = 0; k < n; k++)
        {
            var r = new int[9];
            Array.Copy(rot, 9 * k, r, 0, 9);
            ops[k] = new SymmetryOperation(r, new Vec3(tr[3 * k], tr[3 * k + 1], tr[3 * k + 2]));
        }
        return ops;
    }

    private static string CString(byte* p, int max)
    {
        int len = 0;
        while (len < max && p[len] != 0) len++;
        return System.Text.Encoding.ASCII.GetString(p, len);
    }

    private static T Call<T>(Func<T> f)
    {
        try { return f(); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            throw new MlipException($"spglib is not available ({e.Message}); install Debian's libsymspg1 (apt-get install libsymspg1)", e);
        }
    }
}

/// <summary>A space-group operation x' = R x + t on fractional coordinates (R integer, row-major).</summary>
public sealed record SymmetryOperation(int[] Rotation, Vec3 Translation)
{
    public int R(int i, int j) => Rotation[3 * i + j];

    public Vec3 Apply(Vec3 x) => new(
        Rotation[0] * x.X + Rotation[1] * x.Y + Rotation[2] * x.Z + Translation.X,
        Rotation[3] * x.X + Rotation[4] * x.Y + Rotation[5] * x.Z + Translation.Y,
        Rotation[6] * x.X + Rotation[7] * x.Y + Rotation[8] * x.Z + Translation.Z);

    /// <summary>R v without the translation (directions).</summary>
    public Vec3 Rotate(Vec3 v) => new(
        Rotation[0] * v.X + Rotation[1] * v.Y + Rotation[2] * v.Z,
        Rotation[3] * v.X + Rotation[4] * v.Y + Rotation[5] * v.Z,
        Rotation[6] * v.X + Rotation[7] * v.Y + Rotation[8] * v.Z);

    public bool IsIdentityRotation => Rotation[0] == 1 && Rotation[4] == 1 && Rotation[8] == 1
        && Rotation[1] == 0 && Rotation[2] == 0 && Rotation[3] == 0 && Rotation[5] == 0 && Rotation[6] == 0 && Rotation[7] == 0;

    /// <summary>Same rotation and translations equal modulo lattice vectors.</summary>
    public bool EqualsModuloLattice(SymmetryOperation other, double tol = 1e-4)
    {
        for (int k = 0; k < 9; k++) if (Rotation[k] != other.Rotation[k]) return false;
        var d = Translation - other.Translation;
        return FractionalMath.IsLatticeVector(d, tol);
    }
}

/// <summary>Small helpers for fractional coordinates.</summary>
internal static class FractionalMath
{
    public static double Wrap(double x) { x -= Math.Floor(x); return x >= 1 ? 0 : x; }

    public static Vec3 Wrap(Vec3 v) => new(Wrap(v.X), Wrap(v.Y), Wrap(v.Z));

    /// <summary>The difference reduced to [-0.5, 0.5) per component.</summary>
    public static Vec3 MinimumImage(Vec3 d) => new(d.X - Math.Round(d.X), d.Y - Math.Round(d.Y), d.Z - Math.Round(d.Z));

    public static bool IsLatticeVector(Vec3 d, double tol)
    {
        var m = MinimumImage(d);
        return Math.Abs(m.X) < tol && Math.Abs(m.Y) < tol && Math.Abs(m.Z) < tol;
    }
}
