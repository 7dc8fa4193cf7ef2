using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.IO;

/// <summary>
/// A structure in the frame LAMMPS wants: a right-handed, lower-triangular cell
/// a = (lx, 0, 0), b = (xy, ly, 0), c = (xz, yz, lz), tilts reduced to |xy| ≤ lx/2, |xz| ≤ lx/2,
/// |yz| ≤ ly/2 (the same lattice), with a rotation that takes Mlip's Cartesian frame to LAMMPS's.
/// Vectors map as v_lammps = v · Rotation (row vector), tensors as Rᵀ σ R; back with the transpose.
/// </summary>
public sealed class LammpsBox
{
    public double Lx { get; private init; }
    public double Ly { get; private init; }
    public double Lz { get; private init; }
    public double Xy { get; private init; }
    public double Xz { get; private init; }
    public double Yz { get; private init; }

    /// <summary>Lower corner of the box in the LAMMPS frame.</summary>
    public Vec3 Origin { get; private init; }

    /// <summary>Orthogonal matrix: v_lammps = v_mlip · Rotation.</summary>
    public Matrix3 Rotation { get; private init; }

    /// <summary>The box as a cell (rows a, b, c) in the LAMMPS frame, after tilt reduction.</summary>
    public Matrix3 Cell => new(Lx, 0, 0, Xy, Ly, 0, Xz, Yz, Lz);

    public bool IsTriclinic => Xy != 0 || Xz != 0 || Yz != 0;

    /// <summary>
    /// Builds the box. Along non-periodic directions the box is stretched to hold every atom with
    /// <paramref name="padding"/> Å to spare; a structure without a cell gets an orthogonal box.
    /// </summary>
    public static LammpsBox For(Structure s, double padding = 1.0)
    {
        var where = s.Source ?? InputLocation.Unknown;
        var cell = Neighbors.CellGeometry.BinningCell(s.Cell, s.Pbc, where);
        if (cell.Determinant < 0) cell = -1.0 * cell; // same lattice, right-handed

        // Stretch non-periodic directions around the atoms.
        var inv = cell.Inverse();
        var lo = new double[3];
        var rows = new[] { cell.Row(0), cell.Row(1), cell.Row(2) };
        double vol = Math.Abs(cell.Determinant);
        for (int k = 0; k < 3; k++)
        {
            if (s.Pbc[k]) continue;
            double mn = double.PositiveInfinity, mx = double.NegativeInfinity;
            foreach (var p in s.Positions) { double f = (p * inv)[k]; mn = Math.Min(mn, f); mx = Math.Max(mx, f); }
            if (s.Count == 0) { mn = 0; mx = 0; }
            var other1 = rows[(k + 1) % 3]; var other2 = rows[(k + 2) % 3];
            double height = vol / Vec3.Cross(other1, other2).Norm;
            double pad = padding / height;
            double lengthFactor = mx - mn + 2 * pad;
            bool inside = mn >= 0 && mx < 1 && !(s.Cell.Row(k).Norm == 0);
            if (inside) continue; // the given cell already holds the atoms
            lo[k] = mn - pad;
            rows[k] = lengthFactor * rows[k];
        }
        var stretched = Matrix3.FromRows(rows[0], rows[1], rows[2]);
        // Origin of the box in Mlip's frame: lo_k along the original (unstretched) vectors.
        var origin = new Vec3(lo[0], lo[1], lo[2]) * cell;

        // Lower-triangular form.
        var a = stretched.Row(0); var b = stretched.Row(1); var c = stretched.Row(2);
        double lx = a.Norm;
        var ahat = a / lx;
        double xy = Vec3.Dot(b, ahat);
        double ly = Math.Sqrt(Math.Max(b.NormSquared - xy * xy, 0));
        double xz = Vec3.Dot(c, ahat);
        double yz = (Vec3.Dot(b, c) - xy * xz) / ly;
        double lz = Math.Sqrt(Math.Max(c.NormSquared - xz * xz - yz * yz, 0));

        var lower = new Matrix3(lx, 0, 0, xy, ly, 0, xz, yz, lz);
        var rotation = stretched.Inverse() * lower; // r · R takes Mlip's frame to LAMMPS's

        // Reduce tilts (same lattice): c -= n b, c -= m a, b -= k a.
        if (s.Pbc.B && s.Pbc.C) { double n = Math.Round(yz / ly); yz -= n * ly; xz -= n * xy; }
        if (s.Pbc.A && s.Pbc.C) { double m = Math.Round(xz / lx); xz -= m * lx; }
        if (s.Pbc.A && s.Pbc.B) { double k = Math.Round(xy / lx); xy -= k * lx; }

        return new LammpsBox
        {
            Lx = lx, Ly = ly, Lz = lz, Xy = xy, Xz = xz, Yz = yz,
            Origin = origin * rotation,
            Rotation = rotation,
        };
    }

    public Vec3 ToLammps(Vec3 v) => v * Rotation;

    public Vec3 FromLammps(Vec3 v) => Rotation * v;

    public Matrix3 ToLammps(Matrix3 tensor) => Rotation.Transpose() * tensor * Rotation;

    public Matrix3 FromLammps(Matrix3 tensor) => Rotation * tensor * Rotation.Transpose();
}
