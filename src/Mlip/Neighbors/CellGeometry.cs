using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Neighbors;

/// <summary>Cell geometry shared by the neighbour list and file writers.</summary>
internal static class CellGeometry
{
    /// <summary>
    /// The cell used for binning: the structure's cell, except that non-periodic directions whose
    /// vectors are zero or make the cell singular are replaced by unit vectors spanning the rest of space.
    /// </summary>
    public static Matrix3 BinningCell(Matrix3 cell, PeriodicFlags pbc, InputLocation where)
    {
        var rows = new[] { cell.Row(0), cell.Row(1), cell.Row(2) };
        double scale = Math.Max(rows[0].Norm, Math.Max(rows[1].Norm, rows[2].Norm));
        double det = cell.Determinant;
        if (scale > 0 && Math.Abs(det) > 1e-9 * scale * scale * scale) return cell;

        // Orthonormalise the periodic vectors and complete the basis.
        var basis = new List<Vec3>();
        for (int k = 0; k < 3; k++)
        {
            if (!pbc[k]) continue;
            var v = rows[k];
            if (v.Norm == 0) throw new InvalidCellException(where, "a periodic direction has a zero cell vector");
            foreach (var e in basis) v -= Vec3.Dot(v, e) * e;
            if (v.Norm <= 1e-9 * rows[k].Norm) throw new InvalidCellException(where, "the periodic cell vectors are linearly dependent (zero volume)");
            basis.Add(v / v.Norm);
        }
        var fill = new List<Vec3>();
        foreach (var axis in new[] { new Vec3(1, 0, 0), new Vec3(0, 1, 0), new Vec3(0, 0, 1) })
        {
            if (basis.Count + fill.Count == 3) break;
            var v = axis;
            foreach (var e in basis) v -= Vec3.Dot(v, e) * e;
            foreach (var e in fill) v -= Vec3.Dot(v, e) * e;
            if (v.Norm < 1e-6) continue;
            fill.Add(v / v.Norm);
        }
        int next = 0;
        for (int k = 0; k < 3; k++)
            if (!pbc[k]) rows[k] = fill[next++];
        return Matrix3.FromRows(rows[0], rows[1], rows[2]);
    }

    /// <summary>Distances between opposite faces of the cell (Å), along a, b, c.</summary>
    public static Vec3 Heights(Matrix3 cell)
    {
        var a = cell.Row(0); var b = cell.Row(1); var c = cell.Row(2);
        double vol = Math.Abs(cell.Determinant);
        return new Vec3(vol / Vec3.Cross(b, c).Norm, vol / Vec3.Cross(c, a).Norm, vol / Vec3.Cross(a, b).Norm);
    }
}
