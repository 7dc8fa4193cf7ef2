using Mlip.Data;
using Mlip.IO;
using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Tests.Validation;

/// <summary>
/// Issue 22: extreme but finite numbers, empty files and atom-less structures give a typed
/// <see cref="MlipException"/> naming the file and structure (CLI: one line, exit 1), never an
/// OverflowException, a NaN, an unbounded allocation or a silent success.
/// </summary>
public class ExtremeInputTests
{
    private static string Write(string name, string text)
    {
        string path = Path.Combine(TestPaths.TempDir(), name);
        File.WriteAllText(path, text);
        return path;
    }

    private static string Xyz(string atoms, int n, string lattice = "5 0 0 0 5 0 0 0 5", string props = "species:S:1:pos:R:3") =>
        $"{n}\nLattice=\"{lattice}\" Properties={props} pbc=\"T T T\"\n{atoms}";

    private static (int code, string stdout, string stderr) Cli(params string[] args) => Mlip.Tests.Cli.CliTests.Run(args);

    private static void AssertOneLineError(int code, string stdout, string stderr, params string[] mentions)
    {
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("mlip: error: ", lines[0]);
        foreach (var m in mentions) Assert.Contains(m, lines[0]);
    }

    // ----- 1. numbers far outside the cell (OverflowException in CellGrid before) -----

    [Fact]
    public void AtomFarOutsidePeriodicCell_TypedErrorNamingStructure()
    {
        string path = Write("far.xyz", Xyz("Si 0 0 0\nSi 1e12 1.3 1.3\n", 2));
        var e = Assert.ThrowsAny<MlipInputException>(() => StructureIO.Read(path));
        Assert.Contains("far.xyz", e.Message);
        Assert.Contains("structure 0", e.Message);
        Assert.Contains("atom 1", e.Message);
        Assert.Contains("outside", e.Message);
    }

    [Fact]
    public void NeighborListRefusesPositionsFarOutsideTheCell()
    {
        var s = new Structure(Matrix3.Diagonal(5, 5, 5), [new Vec3(0, 0, 0), new Vec3(1e12, 1.3, 1.3)], [14, 14], PeriodicFlags.All)
        {
            Source = new InputLocation("far.xyz", 2, 0),
        };
        var e = Assert.ThrowsAny<MlipInputException>(() => NeighborList.Build(s, 3.0));
        Assert.Contains("far.xyz:2, structure 0, atom 1", e.Message);
    }

    [Fact]
    public void FractionalCoordinate2To31_TypedError()
    {
        string path = Write("POSCAR", "Ga As\n 5.65\n 0 0.5 0.5\n 0.5 0 0.5\n 0.5 0.5 0\n 1 1\nDirect\n 0 0 0\n 2147483648 0.25 0.25\n");
        var e = Assert.ThrowsAny<MlipInputException>(() => StructureIO.Read(path));
        Assert.Contains("POSCAR", e.Message);
        Assert.Contains("structure 0", e.Message);
    }

    [Fact]
    public void CellVectorOf1e9Angstrom_TypedError()
    {
        // atoms inside the tiny cell: the validator's overlap search and the neighbour list refuse the cell
        string path = Write("tiny.xyz", Xyz("Si 0 0 0\nSi 5e-10 5e-10 5e-10\n", 2, "1e-9 0 0 0 1e-9 0 0 0 1e-9"));
        var e = Assert.ThrowsAny<MlipInputException>(() => StructureIO.Read(path));
        Assert.Contains("tiny.xyz", e.Message);
        Assert.Contains("structure 0", e.Message);
        var s = StructureIO.Read(path, validation: ValidationOptions.Minimal)[0];
        var nl = Assert.Throws<InvalidCellException>(() => NeighborList.Build(s, 3.0));
        Assert.Contains("too thin", nl.Message);
        // atoms at ordinary positions in the tiny cell: millions of cell vectors out
        string path2 = Write("tiny2.xyz", Xyz("Si 0 0 0\nSi 1.3 1.3 1.3\n", 2, "1e-9 0 0 0 1e-9 0 0 0 1e-9"));
        Assert.ThrowsAny<MlipInputException>(() => StructureIO.Read(path2, validation: ValidationOptions.Minimal));
    }

    [Fact]
    public void Cli_AtomFarOutsideCell_OneLineExit1()
    {
        string path = Write("far.xyz", Xyz("Si 0 0 0\nSi 1e12 1.3 1.3\n", 2));
        var (code, stdout, stderr) = Cli("info", path);
        AssertOneLineError(code, stdout, stderr, "far.xyz", "structure 0");
        (code, stdout, stderr) = Cli("info", path, "--min-distance", "0");
        AssertOneLineError(code, stdout, stderr, "far.xyz", "structure 0");
    }

    // ----- 2. a force whose norm overflows (info --json exited 70: Infinity is not JSON) -----

    [Fact]
    public void ForceWhoseNormOverflows_TypedErrorNamingStructureAndAtom()
    {
        string path = Write("hugeforce.xyz", Xyz("Si 0 0 0 0 0 0\nSi 1.3 1.3 1.3 1e200 0 0\n", 2, props: "species:S:1:pos:R:3:forces:R:3"));
        var e = Assert.ThrowsAny<MlipInputException>(() => StructureIO.Read(path));
        Assert.Contains("hugeforce.xyz", e.Message);
        Assert.Contains("structure 0, atom 1", e.Message);
        Assert.Contains("force", e.Message);
        var (code, stdout, stderr) = Cli("info", path, "--json");
        AssertOneLineError(code, stdout, stderr, "hugeforce.xyz", "structure 0");
    }

    [Fact]
    public void SummaryOfHugeButFiniteValues_StaysFinite()
    {
        // energies near the largest double: a sum would overflow, the running mean does not
        var a = new Structure(Matrix3.Diagonal(5, 5, 5), [new Vec3(0, 0, 0)], [14], PeriodicFlags.All) { Energy = 1.5e308, Forces = [new Vec3(1e150, 1e150, 1e150)] };
        var b = new Structure(Matrix3.Diagonal(5, 5, 5), [new Vec3(0, 0, 0)], [14], PeriodicFlags.All) { Energy = 1.5e308, Forces = [new Vec3(1e150, 1e150, 1e150)] };
        var s = DatasetSummary.Of([a, b]);
        Assert.True(double.IsFinite(s.EnergyPerAtom!.Mean));
        Assert.Equal(1.5e308, s.EnergyPerAtom.Mean, 1e295);
        Assert.True(double.IsFinite(s.ForceComponentRms!.Value));
        Assert.Equal(1e150, s.ForceComponentRms.Value, 1e137);
    }

    // ----- 3. empty files and structures without atoms -----

    [Fact]
    public void EmptyFile_TypedErrorNamingFile()
    {
        string path = Write("empty.xyz", "");
        var e = Assert.ThrowsAny<MlipInputException>(() => StructureIO.Read(path));
        Assert.Contains("empty.xyz", e.Message);
        Assert.Contains("no structures", e.Message);
        string blank = Write("blank.xyz", "\n\n  \n");
        Assert.Contains("no structures", Assert.ThrowsAny<MlipInputException>(() => StructureIO.Read(blank)).Message);
        string list = Write("empty.json", "[]");
        Assert.Contains("no structures", Assert.ThrowsAny<MlipInputException>(() => StructureIO.Read(list)).Message);
        var (code, stdout, stderr) = Cli("info", path);
        AssertOneLineError(code, stdout, stderr, "empty.xyz", "no structures");
    }

    [Fact]
    public void ZeroAtomStructure_TypedErrorNamingFileAndStructure()
    {
        string path = Write("zero.xyz", Xyz("Si 0 0 0\n", 1) + Xyz("", 0));
        var e = Assert.ThrowsAny<MlipInputException>(() => StructureIO.Read(path));
        Assert.Contains("zero.xyz", e.Message);
        Assert.Contains("structure 1", e.Message);
        Assert.Contains("no atoms", e.Message);
        var (code, stdout, stderr) = Cli("info", path, "--json");
        AssertOneLineError(code, stdout, stderr, "zero.xyz", "structure 1", "no atoms");
        string json = Write("zero.json", "[{\"structure\": {\"lattice\": {\"matrix\": [[5,0,0],[0,5,0],[0,0,5]]}, \"sites\": []}, \"outputs\": {\"energy\": 0}}]");
        Assert.Contains("structure 0", Assert.ThrowsAny<MlipInputException>(() => StructureIO.Read(json)).Message);
    }

    // ----- counts that would size absurd arrays -----

    [Fact]
    public void DeclaredCountsLargerThanTheFile_RefusedBeforeAllocating()
    {
        string xyz = Write("count.xyz", "2000000000\nLattice=\"5 0 0 0 5 0 0 0 5\"\nSi 0 0 0\n");
        Assert.Contains("count.xyz:1", Assert.Throws<FileFormatException>(() => StructureIO.Read(xyz)).Message);
        string cols = Write("cols.xyz", Xyz("Si 0 0 0 1\n", 1, props: "species:S:1:pos:R:3:q:R:2000000000"));
        Assert.Throws<FileFormatException>(() => StructureIO.Read(cols));
        string poscar = Write("POSCAR", "Si\n 5.43\n 1 0 0\n 0 1 0\n 0 0 1\n Si\n 2000000000 2000000000\nDirect\n 0 0 0\n");
        Assert.Contains("POSCAR:7", Assert.Throws<FileFormatException>(() => StructureIO.Read(poscar)).Message);
    }
}
