using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Neighbors;

/// <summary>
/// The bins of a cell list. Atoms are binned by fractional coordinates of a binning cell (the
/// structure's cell, with non-periodic degenerate directions replaced by orthonormal vectors).
/// Along direction k a bin is at least as thick as the cutoff where the cell allows it; the stencil
/// reaches ceil(rc / bin thickness) bins each way, which covers every image when the cutoff exceeds
/// the cell height.
/// </summary>
internal sealed class CellGrid
{
    public int Na, Nb, Nc;
    public bool[] Periodic = new bool[3];
    public int[] BinA = [], BinB = [], BinC = [];
    public int[] WrapA = [], WrapB = [], WrapC = [];
    public int[] BinStart = [];
    public int[] Order = [];
    public int[] Stencil = [];

    private readonly int[] _n = new int[3];

    /// <summary>Maps a bin index along direction k (possibly outside the grid) to a bin and an image.</summary>
    public bool Target(int k, int b, out int bin, out int image)
    {
        int n = _n[k];
        if (Periodic[k])
        {
            image = FloorDiv(b, n);
            bin = b - image * n;
            return true;
        }
        image = 0;
        bin = b;
        return (uint)b < (uint)n;
    }

    private static int FloorDiv(int a, int n) => a >= 0 ? a / n : -((-a + n - 1) / n);

    /// <summary>
    /// Largest periodic wrap (in cell vectors) of a position: farther out, the images' integer shifts
    /// and the pair vectors lose their meaning (a position in the wrong units, or a cell far too small).
    /// </summary>
    public const double MaxWrap = 1e6;

    /// <summary>Most bins the stencil may visit per atom (a cutoff spanning ~100 images each way).</summary>
    public const double MaxStencilCells = 1 << 20;

    private static readonly string[] Axis = ["a", "b", "c"];

    private static MlipInputException TooFarOutside(InputLocation where, int atom, int k, double frac) =>
        new(where.WithAtom(atom), string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"the atom lies {frac:G3} cell vectors along {Axis[k]} from the cell (more than {MaxWrap:G3}): a position far outside the periodic cell, or a cell far too small for the positions (check the units)"));

    private static InvalidCellException TooManyImages(InputLocation where, int k, double cutoff, double height) =>
        new(where, string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"the cell is too thin for a {cutoff:G4} Å cutoff: {height:G3} Å between the faces along {Axis[k]}, the cutoff would reach more than {MaxStencilCells:G3} periodic images (a degenerate or far too small cell)"));

    public static CellGrid Create(Matrix3 cell, ReadOnlySpan<Vec3> positions, PeriodicFlags pbc, double cutoff, InputLocation where)
    {
        int count = positions.Length;
        var g = new CellGrid();
        for (int k = 0; k < 3; k++) g.Periodic[k] = pbc[k];
        var binCell = CellGeometry.BinningCell(cell, pbc, where);
        var inv = binCell.Inverse();

        // Fractional coordinates; periodic ones wrapped into [0, 1) with the integer wrap recorded.
        var frac = new double[3 * count];
        var wrap = new int[3][];
        for (int k = 0; k < 3; k++) wrap[k] = new int[count];
        for (int i = 0; i < count; i++)
        {
            var f = positions[i] * inv;
            for (int k = 0; k < 3; k++)
            {
                double x = f[k];
                if (!double.IsFinite(x))
                    throw new InvalidCellException(where.WithAtom(i),
                        "the fractional coordinates of the atom are not finite numbers: the cell is degenerate or too small for the positions");
                if (pbc[k])
                {
                    double fl = Math.Floor(x);
                    if (Math.Abs(fl) > MaxWrap) throw TooFarOutside(where, i, k, x);
                    x -= fl;
                    if (x >= 1.0) { x -= 1.0; fl += 1; }
                    wrap[k][i] = (int)fl;
                }
                frac[3 * i + k] = x;
            }
        }

        // Heights of the binning cell: distance between lattice planes.
        var a = binCell.Row(0); var b = binCell.Row(1); var c = binCell.Row(2);
        double vol = Math.Abs(binCell.Determinant);
        double[] height =
        [
            vol / Vec3.Cross(b, c).Norm,
            vol / Vec3.Cross(c, a).Norm,
            vol / Vec3.Cross(a, b).Norm,
        ];

        var lo = new double[3];
        var span = new double[3];
        var nbin = new int[3];
        for (int k = 0; k < 3; k++)
        {
            if (pbc[k]) { lo[k] = 0; span[k] = 1; }
            else
            {
                double mn = double.PositiveInfinity, mx = double.NegativeInfinity;
                for (int i = 0; i < count; i++) { double x = frac[3 * i + k]; mn = Math.Min(mn, x); mx = Math.Max(mx, x); }
                if (count == 0) { mn = 0; mx = 0; }
                lo[k] = mn;
                span[k] = mx - mn;
            }
            double thickness = span[k] * height[k];
            nbin[k] = (int)Math.Clamp(Math.Floor(thickness / cutoff), 1, 1 << 20);
        }
        // Keep the number of bins in proportion to the atoms (vacuum, sparse systems).
        long maxBins = 2L * count + 27;
        while ((long)nbin[0] * nbin[1] * nbin[2] > maxBins)
        {
            int k = nbin[0] >= nbin[1] && nbin[0] >= nbin[2] ? 0 : nbin[1] >= nbin[2] ? 1 : 2;
            nbin[k] = Math.Max(1, nbin[k] / 2);
        }
        g.Na = nbin[0]; g.Nb = nbin[1]; g.Nc = nbin[2];
        for (int k = 0; k < 3; k++) g._n[k] = nbin[k];

        // Stencil reach per direction: enough bins that no pair closer than the cutoff is missed.
        // Two points whose bins differ by d along k are at least (d - 1) * binThickness apart.
        var reach = new int[3];
        double rcSafe = cutoff * (1 + 1e-12) + 1e-12;
        for (int k = 0; k < 3; k++)
        {
            double binThickness = span[k] * height[k] / nbin[k];
            double r = !pbc[k] && nbin[k] == 1 ? 0 : binThickness > 0 ? Math.Ceiling(rcSafe / binThickness) : 0;
            if (!pbc[k]) r = Math.Min(r, nbin[k] - 1);
            if (!(r <= MaxStencilCells)) throw TooManyImages(where, k, cutoff, height[k]);
            reach[k] = (int)r;
        }
        if ((2.0 * reach[0] + 1) * (2.0 * reach[1] + 1) * (2.0 * reach[2] + 1) > MaxStencilCells)
        {
            int k = reach[0] >= reach[1] && reach[0] >= reach[2] ? 0 : reach[1] >= reach[2] ? 1 : 2;
            throw TooManyImages(where, k, cutoff, height[k]);
        }
        var stencil = new List<int>();
        for (int da = -reach[0]; da <= reach[0]; da++)
            for (int db = -reach[1]; db <= reach[1]; db++)
                for (int dc = -reach[2]; dc <= reach[2]; dc++)
                {
                    stencil.Add(da); stencil.Add(db); stencil.Add(dc);
                }
        g.Stencil = [.. stencil];

        // Bin of each atom, then a counting sort of atoms by bin.
        var bins = new int[3][];
        for (int k = 0; k < 3; k++)
        {
            bins[k] = new int[count];
            for (int i = 0; i < count; i++)
            {
                double u = span[k] > 0 ? (frac[3 * i + k] - lo[k]) / span[k] : 0;
                int bi = (int)Math.Floor(u * nbin[k]);
                bins[k][i] = Math.Clamp(bi, 0, nbin[k] - 1);
            }
        }
        int total = g.Na * g.Nb * g.Nc;
        var start = new int[total + 1];
        var flat = new int[count];
        for (int i = 0; i < count; i++)
        {
            flat[i] = (bins[0][i] * g.Nb + bins[1][i]) * g.Nc + bins[2][i];
            start[flat[i] + 1]++;
        }
        for (int bIdx = 0; bIdx < total; bIdx++) start[bIdx + 1] += start[bIdx];
        var fill = (int[])start.Clone();
        var order = new int[count];
        for (int i = 0; i < count; i++) order[fill[flat[i]]++] = i;

        g.BinA = bins[0]; g.BinB = bins[1]; g.BinC = bins[2];
        g.WrapA = wrap[0]; g.WrapB = wrap[1]; g.WrapC = wrap[2];
        g.BinStart = start;
        g.Order = order;
        return g;
    }
}
