using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Tests.Validation;

/// <summary>Every user mistake gives a typed exception that names the file and the structure.</summary>
public class InputErrorTests
{
    private static string Write(string name, string text)
    {
        string path = Path.Combine(TestPaths.TempDir(), name);
        File.WriteAllText(path, text);
        return path;
    }

    private const string Good = "2\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3:forces:R:3 energy=-10.0\nSi 0 0 0 0 0 0\nSi 2 2 2 0 0 0\n";

    [Fact]
    public void NaNPositionIsReported()
    {
        string p = Write("nan.xyz", Good + "2\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3\nSi 0 0 0\nSi nan 2 2\n");
        var e = Assert.Throws<NonFiniteValueException>(() => StructureIO.Read(p));
        Assert.Equal(p, e.File);
        Assert.Equal(1, e.StructureIndex);
        Assert.Equal(1, e.Location.Atom);
        Assert.Contains("structure 1", e.Message);
    }

    [Fact]
    public void InfiniteEnergyAndForceAreReported()
    {
        string p = Write("inf.xyz", "1\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3 energy=inf\nSi 0 0 0\n");
        var e = Assert.Throws<NonFiniteValueException>(() => StructureIO.Read(p));
        Assert.Equal(0, e.StructureIndex);
        Assert.Contains("energy", e.Message);

        string q = Write("inff.xyz", Good + Good.Replace("Si 2 2 2 0 0 0", "Si 2 2 2 0 -Infinity 0"));
        var f = Assert.Throws<NonFiniteValueException>(() => StructureIO.Read(q));
        Assert.Equal(1, f.StructureIndex);
        Assert.Contains("force", f.Message);
    }

    [Fact]
    public void OverlappingAtomsAreReported()
    {
        string p = Write("overlap.xyz", Good + Good + Good.Replace("Si 2 2 2", "Si 0.1 0.1 0.1"));
        var e = Assert.Throws<OverlappingAtomsException>(() => StructureIO.Read(p));
        Assert.Equal(2, e.StructureIndex);
        Assert.Equal(p, e.File);
        Assert.Equal(Math.Sqrt(0.03), e.Distance, 12);
        // also through a periodic image: atoms at 0.05 and 3.98 in a 4 Å cell are 0.07 Å apart
        string q = Write("image.xyz", Good.Replace("Si 0 0 0", "Si 0.05 0 0").Replace("Si 2 2 2", "Si 3.98 0 0"));
        Assert.Throws<OverlappingAtomsException>(() => StructureIO.Read(q));
        // the threshold can be lowered or switched off
        Assert.Single(StructureIO.Read(q, validation: ValidationOptions.Default with { MinDistance = 0.05 }));
        Assert.Single(StructureIO.Read(q, validation: ValidationOptions.Minimal));
    }

    [Fact]
    public void MissingLabelsAreReportedWhenRequired()
    {
        string p = Write("nolabels.xyz", Good + "1\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3 energy=-3\nSi 0 0 0\n");
        Assert.Equal(2, StructureIO.Read(p).Count); // fine when labels are optional
        var e = Assert.Throws<MissingLabelException>(() => StructureIO.Read(p, validation: ValidationOptions.Training));
        Assert.Equal("forces", e.Label);
        Assert.Equal(1, e.StructureIndex);
        var s = Assert.Throws<MissingLabelException>(() => StructureIO.Read(p, validation: ValidationOptions.Default with { RequireStress = true }));
        Assert.Equal("stress", s.Label);
        Assert.Equal(0, s.StructureIndex);
    }

    [Fact]
    public void UnknownElementIsReported()
    {
        string p = Write("unknown.xyz", Good + Good.Replace("Si 2 2 2", "Zz 2 2 2"));
        var e = Assert.Throws<UnknownElementException>(() => StructureIO.Read(p));
        Assert.Equal(1, e.StructureIndex);
        Assert.Equal(8, e.Line);
        Assert.Equal("Zz", e.Symbol);
    }

    [Fact]
    public void ForceArrayOfWrongLengthIsReported()
    {
        var s = Crystals.Diamond("Si", 5.43);
        s.Forces = new Vec3[7];
        s.Source = new InputLocation("made.xyz", null, 3);
        var e = Assert.Throws<LabelShapeException>(() => StructureValidator.Validate(s, ValidationOptions.Default));
        Assert.Equal(8, e.Expected);
        Assert.Equal(7, e.Actual);
        Assert.Contains("made.xyz, structure 3", e.Message);
    }

    [Fact]
    public void ZeroVolumePeriodicCellIsReported()
    {
        string p = Write("flat.xyz", "1\nLattice=\"4 0 0 0 4 0 8 8 0\" Properties=species:S:1:pos:R:3\nSi 0 0 0\n");
        var e = Assert.Throws<InvalidCellException>(() => StructureIO.Read(p));
        Assert.Equal(0, e.StructureIndex);
    }

    [Fact]
    public void MissingFileAndUnknownFormatAreReported()
    {
        var e = Assert.Throws<MlipInputException>(() => StructureIO.Read("/nonexistent/data.xyz"));
        Assert.Contains("/nonexistent/data.xyz", e.Message);
        string p = Write("structures.weird", "x");
        var f = Assert.Throws<MlipInputException>(() => StructureIO.Read(p));
        Assert.Contains("--input-format", f.Message);
        Assert.Throws<MlipException>(() => StructureIO.Read(p, format: "nonsense"));
    }
}
