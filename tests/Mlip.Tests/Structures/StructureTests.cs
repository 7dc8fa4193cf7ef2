using Mlip.Structures;

namespace Mlip.Tests.Structures;

public class StructureTests
{
    [Fact]
    public void ElementsByNameAndNumber()
    {
        Assert.Equal(14, Elements.Number("Si"));
        Assert.Equal(14, Elements.Number("SI"));
        Assert.Equal("Og", Elements.Symbol(118));
        Assert.Equal(28.085, Elements.Mass(14), 6);
        Assert.False(Elements.TryNumber("Xx", out _));
        Assert.False(Elements.TryNumber("", out _));
        Assert.Throws<Mlip.Validation.UnknownElementException>(() => Elements.Symbol(0));
    }

    [Fact]
    public void StressConventions()
    {
        // VASP / mlearn: kbar, compression positive, xx yy zz xy yz zx
        var s = Stress.FromVaspKbar([10, 20, 30, 1, 2, 3]);
        double[] expected = [-1, -2, -3, -0.2, -0.3, -0.1];
        for (int c = 0; c < 6; c++) Assert.Equal(expected[c], s.ToVoigt()[c], 14);
        Assert.Equal(new double[] { 10, 20, 30, 1, 2, 3 }, s.ToVaspKbar().Select(x => Math.Round(x, 12)).ToArray());
        Assert.Equal(2.0, s.Pressure, 12); // compressed: positive pressure

        // eV/Å^3 <-> GPa and virial <-> stress
        var m = new Matrix3(1, 0.5, 0, 0.5, 2, 0, 0, 0, 3);
        var g = Stress.FromEvPerCubicAngstrom(m);
        Assert.Equal(160.21766208, g.Xx, 10);
        Assert.True(g.ToEvPerCubicAngstrom().MaxAbsDifference(m) < 1e-14);
        var v = Stress.FromVirial(-10.0 * m, 10.0);
        Assert.True(v.ToMatrix().MaxAbsDifference(g.ToMatrix()) < 1e-12);
        Assert.Equal(new double[] { 1, 2, 3, 4, 5, 6 }, Stress.FromVoigt([1, 2, 3, 4, 5, 6]).ToVoigt());
        var full = Stress.FromVoigt([1, 2, 3, 4, 5, 6]).ToMatrix();
        Assert.Equal(4, full[1, 2]); Assert.Equal(5, full[0, 2]); Assert.Equal(6, full[0, 1]);
    }

    [Fact]
    public void GeometryHelpers()
    {
        var s = Crystals.Supercell(Crystals.Diamond("Si", 5.43), 2, 1, 1);
        Assert.Equal(16, s.Count);
        Assert.Equal(2 * Math.Pow(5.43, 3), s.Volume, 9);
        Assert.Equal("Si16", s.Formula());
        var moved = s.Clone();
        moved.Positions[0] = new Vec3(-0.1, 12.0, 5.0);
        var w = moved.Wrapped();
        var f = w.FractionalPositions()[0];
        for (int k = 0; k < 3; k++) Assert.InRange(f[k], 0.0, 1.0);
        var m = new Matrix3(1, 2, 3, 0, 1, 4, 5, 6, 0);
        Assert.True((m * m.Inverse()).MaxAbsDifference(Matrix3.Identity) < 1e-12);
    }
}
