using Mlip.Structures;

namespace Mlip.Training;

/// <summary>
/// Unlabelled distorted copies of training cells for the PINN's penalty on the network's correction away from the data
/// (docs/pinn.md, "A penalty at unlabelled distorted copies"): each cell deformed homogeneously by F = s (I + ε), ε a random
/// symmetric strain with every independent component uniform in [−strain, strain], s³ = 1 + v with v uniform in
/// [−volume, volume]; positions follow the cell (fractional coordinates kept). No labels. The random stream of each copy
/// depends only on the seed, the cell's index in the whole training set and the copy number, so the same cells give the
/// same copies whatever the order or the share of an MPI rank.
/// </summary>
public static class DistortedCopies
{
    /// <summary>The deformation gradient of copy <paramref name="copy"/> of cell <paramref name="index"/>.</summary>
    public static Matrix3 Deformation(int seed, int index, int copy, double strain, double volume)
    {
        var rng = new Random(unchecked(seed * 1_000_003 + index * 7_919 + copy * 104_729 + 17));
        double U(double max) => max * (2 * rng.NextDouble() - 1);
        double xx = U(strain), yy = U(strain), zz = U(strain), yz = U(strain), xz = U(strain), xy = U(strain);
        double s = Math.Cbrt(1 + U(volume));
        return s * new Matrix3(1 + xx, xy, xz, xy, 1 + yy, yz, xz, yz, 1 + zz);
    }

    /// <summary>
    /// <paramref name="copies"/> copies of each cell of <paramref name="cells"/>; <paramref name="indices"/>[q] is the index of
    /// cells[q] in the whole training set (it seeds the copy).
    /// </summary>
    public static Structure[] Make(IReadOnlyList<Structure> cells, IReadOnlyList<int> indices, int copies, double strain, double volume, int seed)
    {
        var result = new Structure[cells.Count * copies];
        for (int q = 0; q < cells.Count; q++)
            for (int c = 0; c < copies; c++)
                result[q * copies + c] = Deform(cells[q], Deformation(seed, indices[q], c, strain, volume));
        return result;
    }

    /// <summary>Cell and positions times <paramref name="f"/> (row vectors); labels dropped.</summary>
    private static Structure Deform(Structure s, Matrix3 f)
    {
        var r = s.Clone();
        r.Energy = null; r.Forces = null; r.Stress = null;
        r.Cell = s.Cell * f;
        for (int i = 0; i < r.Count; i++) r.Positions[i] = s.Positions[i] * f;
        return r;
    }
}
