using System.Globalization;
using System.Text.Json;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Tests.IO;

/// <summary>
/// VASP POSCAR/CONTCAR and OUTCAR against ASE. The reference values in Data/vasp_reference.json
/// were made by Data/make_vasp_fixtures.py with Debian's ASE 3.22 (see the script for which file
/// is hand-written, ASE-written or Mlip-written).
/// </summary>
public sealed class VaspTests
{
    private const double Tol = 1e-10;
    private const string OutcarFixture = "OUTCAR_GaAs_relax";

    private static readonly PoscarFormat Poscar = StructureFormats.Poscar;
    private static readonly OutcarFormat Outcar = StructureFormats.Outcar;

    private static readonly Lazy<JsonElement> ReferenceDoc = new(() =>
        JsonDocument.Parse(File.ReadAllText(TestPaths.Data("vasp_reference.json"))).RootElement);

    private static JsonElement Reference => ReferenceDoc.Value;

    // ------------------------------------------------------------------ OUTCAR

    [Fact]
    public void Outcar_ReadsEveryIonicStepAsAseDoes()
    {
        var frames = Outcar.Read(TestPaths.Data(OutcarFixture));
        var expected = Reference.GetProperty("outcar");
        Assert.Equal(expected.GetArrayLength(), frames.Count);
        Assert.Equal(3, frames.Count);

        for (int i = 0; i < frames.Count; i++)
        {
            var s = frames[i];
            var e = expected[i];
            Assert.Equal(Strings(e.GetProperty("symbols")), s.Symbols());
            AssertClose(Matrix(e.GetProperty("cell")), s.Cell);
            AssertClose(Vectors(e.GetProperty("positions")), s.Positions);
            Assert.NotNull(s.Forces);
            AssertClose(Vectors(e.GetProperty("forces")), s.Forces!);
            Assert.NotNull(s.Energy);
            Assert.Equal(e.GetProperty("energy").GetDouble(), s.Energy!.Value, Tol);
            Assert.Equal(e.GetProperty("free_energy").GetDouble(), (double)s.Info[OutcarFormat.FreeEnergyKey], Tol);
            Assert.NotNull(s.Stress);
            AssertClose(Doubles(e.GetProperty("stress_gpa")), s.Stress!.Value.ToVoigt());
            Assert.Equal(PeriodicFlags.All, s.Pbc);
        }

        // The cell relaxes: each step has its own cell.
        Assert.True(frames[0].Cell.MaxAbsDifference(frames[1].Cell) > 1e-3);
        Assert.True(frames[1].Cell.MaxAbsDifference(frames[2].Cell) > 1e-4);
    }

    [Fact]
    public void Outcar_SourceNamesFileStructureAndPositionBlockLine()
    {
        string path = TestPaths.Data(OutcarFixture);
        var frames = Outcar.Read(path);
        var blockLines = LinesContaining(File.ReadAllText(path), "TOTAL-FORCE (eV/Angst)");
        Assert.Equal(3, blockLines.Count);
        Assert.Equal([655, 841, 1025], blockLines);
        for (int i = 0; i < frames.Count; i++)
        {
            var src = frames[i].Source;
            Assert.NotNull(src);
            Assert.Equal(path, src!.File);
            Assert.Equal(blockLines[i], src.Line);
            Assert.Equal(i, src.StructureIndex);
        }
    }

    [Fact]
    public void Outcar_StressIsGpaTensionPositiveInAseVoigtOrder()
    {
        // Step 1: "in kB  -25.43210 -26.01234 -31.98765 1.23456 -0.54321 0.87654" (xx yy zz xy yz zx,
        // compression positive) -> GPa, tension positive, xx yy zz yz xz xy.
        var s = Outcar.Read(TestPaths.Data(OutcarFixture))[0].Stress!.Value;
        Assert.Equal(2.543210, s.Xx, 1e-12);
        Assert.Equal(2.601234, s.Yy, 1e-12);
        Assert.Equal(3.198765, s.Zz, 1e-12);
        Assert.Equal(0.054321, s.Yz, 1e-12);
        Assert.Equal(-0.087654, s.Xz, 1e-12);
        Assert.Equal(-0.123456, s.Xy, 1e-12);
        // "external pressure = -27.81 kB": the cell is under tension.
        Assert.Equal(-2.781, s.Pressure, 1e-3);
    }

    [Fact]
    public void Outcar_WithoutTitelLines_TakesElementsFromPotcarLines()
    {
        string text = File.ReadAllText(TestPaths.Data(OutcarFixture));
        string noTitel = string.Join('\n', text.Split('\n').Where(l => !l.Contains("TITEL", StringComparison.Ordinal)));
        Assert.DoesNotContain("TITEL", noTitel);

        var full = Outcar.ReadString(text);
        var frames = Outcar.ReadString(noTitel);
        Assert.Equal(full.Count, frames.Count);
        for (int i = 0; i < frames.Count; i++)
        {
            Assert.Equal(["Ga", "Ga", "As", "As"], frames[i].Symbols());
            Assert.Equal(full[i].Energy, frames[i].Energy);
            AssertClose(full[i].Positions, frames[i].Positions);
        }
    }

    [Theory]
    [InlineData("PAW_PBE Ga_d 06Jul2010", "Ga")]
    [InlineData("PAW_PBE Si 05Jan2001", "Si")]
    [InlineData("PAW_PBE Fe_pv 02Aug2007", "Fe")]
    [InlineData("PAW_PBE Ti_sv_GW 05Dec2013", "Ti")]
    [InlineData("PAW_PBE H1.25 07Sep2000", "H")]
    [InlineData("PAW_PBE H.5 07Sep2000", "H")]
    [InlineData("PAW_GGA O_s 04May1998", "O")]
    [InlineData("US Si", "Si")]
    [InlineData("H  1/r potential", "H")]
    public void Outcar_PotentialTitlesNameTheirElement(string title, string symbol)
    {
        string text = File.ReadAllText(TestPaths.Data(OutcarFixture))
            .Replace("TITEL  = PAW_PBE Ga_d 06Jul2010", "TITEL  = " + title);
        var s = Outcar.ReadString(text)[0];
        Assert.Equal([symbol, symbol, "As", "As"], s.Symbols());
    }

    [Fact]
    public void Outcar_UnknownPotentialElement_NamesTheTitelLine()
    {
        string text = File.ReadAllText(TestPaths.Data(OutcarFixture)).Replace("TITEL  = PAW_PBE As 22Sep2009", "TITEL  = PAW_PBE Qq 22Sep2009");
        var ex = Assert.Throws<UnknownElementException>(() => Outcar.ReadString(text, "relax/OUTCAR"));
        Assert.Equal(97, ex.Line);
        Assert.Contains("relax/OUTCAR", ex.Message);
    }

    [Fact]
    public void Outcar_TruncatedInsideLastStep_KeepsFinishedSteps()
    {
        string text = File.ReadAllText(TestPaths.Data(OutcarFixture));
        var full = Outcar.ReadString(text);
        var lines = text.Split('\n');

        // Cut in the middle of the third step's POSITION block (a killed run).
        string cut = string.Join('\n', lines[..1028]) + "\n      1.017";
        var frames = Outcar.ReadString(cut);
        Assert.Equal(2, frames.Count);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(full[i].Energy, frames[i].Energy);
            Assert.Equal(full[i].Cell, frames[i].Cell);
            AssertClose(full[i].Forces!, frames[i].Forces!);
        }

        // Cut inside the last number of the third step's energy(sigma->0) line: that number may be
        // incomplete, so the step is dropped.
        int sigma = Array.FindIndex(lines, 1039, l => l.Contains("energy(sigma->0)", StringComparison.Ordinal));
        Assert.Equal(1042, sigma);
        string halfNumber = string.Join('\n', lines[..sigma]) + "\n" + lines[sigma][..^3];
        Assert.Equal(2, Outcar.ReadString(halfNumber).Count);
        // With its line break the line is complete.
        Assert.Equal(3, Outcar.ReadString(string.Join('\n', lines[..(sigma + 1)]) + "\n").Count);
    }

    [Fact]
    public void Outcar_EveryTruncationPoint_GivesExactlyTheFinishedSteps()
    {
        string text = File.ReadAllText(TestPaths.Data(OutcarFixture)).Replace("\r\n", "\n");
        var full = Outcar.ReadString(text);
        string[] lines = text.Split('\n');

        // 0-based index of each step's energy(sigma->0) line (the last line a step needs).
        var stepEnds = new List<int>();
        for (int i = 0; i < lines.Length; i++)
            if (lines[i].Contains("FREE ENERGIE OF THE ION-ELECTRON SYSTEM", StringComparison.Ordinal))
                stepEnds.Add(Array.FindIndex(lines, i, l => l.Contains("energy(sigma->0)", StringComparison.Ordinal)));
        Assert.Equal(3, stepEnds.Count);

        int offset = 0;
        for (int j = 0; j < lines.Length; j++)
        {
            int lineStart = offset;
            int lineEnd = lineStart + lines[j].Length; // index of this line's '\n'
            offset = lineEnd + 1;
            if (lineEnd >= text.Length) break;

            // Half of line j; line j without its line break; line j with it.
            Check(text[..(lineStart + lines[j].Length / 2)], stepEnds.Count(e => e < j));
            Check(text[..lineEnd], stepEnds.Count(e => e < j));
            Check(text[..(lineEnd + 1)], stepEnds.Count(e => e <= j));
        }

        void Check(string prefix, int finished)
        {
            if (finished == 0)
            {
                Assert.Throws<FileFormatException>(() => Outcar.ReadString(prefix));
                return;
            }
            var frames = Outcar.ReadString(prefix);
            Assert.Equal(finished, frames.Count);
            for (int k = 0; k < finished; k++)
            {
                Assert.Equal(full[k].Energy, frames[k].Energy);
                Assert.Equal(full[k].Stress, frames[k].Stress);
                Assert.Equal(full[k].Cell, frames[k].Cell);
            }
        }
    }

    [Fact]
    public void Outcar_WindowsLineEndings_ReadTheSame()
    {
        string text = File.ReadAllText(TestPaths.Data(OutcarFixture));
        var a = Outcar.ReadString(text);
        var b = Outcar.ReadString(text.Replace("\n", "\r\n"));
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i].Energy, b[i].Energy);
            Assert.Equal(a[i].Stress, b[i].Stress);
            Assert.Equal(a[i].Source!.Line, b[i].Source!.Line);
        }
    }

    [Fact]
    public void Outcar_GluedFortranNumbers_AreSplitAsAseDoes()
    {
        string text = File.ReadAllText(TestPaths.Data(OutcarFixture)).Replace(
            "  in kB     -25.43210   -26.01234   -31.98765     1.23456    -0.54321     0.87654",
            "  in kB-12345.67891-23456.78912-34567.89123     1.23456    -0.54321     0.87654");
        var s = Outcar.ReadString(text)[0].Stress!.Value;
        Assert.Equal(1234.567891, s.Xx, 1e-9);
        Assert.Equal(2345.678912, s.Yy, 1e-9);
        Assert.Equal(3456.789123, s.Zz, 1e-9);
    }

    [Fact]
    public void Outcar_BadNumberInFinishedStep_NamesFileAndLine()
    {
        string dir = TestPaths.TempDir();
        string path = Path.Combine(dir, "OUTCAR");
        string text = File.ReadAllText(TestPaths.Data(OutcarFixture)).Replace(
            "      2.04549      2.02679      2.89020        -0.115617      0.056173     -0.089450",
            "      2.04549      2.02679      2.89020        -0.115617      0.05x173     -0.089450");
        File.WriteAllText(path, text);

        var ex = Assert.Throws<FileFormatException>(() => Outcar.Read(path));
        Assert.Equal(844, ex.Line);
        Assert.Contains(path, ex.Message);
        Assert.Contains("0.05x173", ex.Message);
    }

    [Fact]
    public void Outcar_MalformedLastStepOfAFinishedRun_IsAnError()
    {
        // The run finished (its timing summary is there), so a broken last step is not a cut-off one.
        string text = File.ReadAllText(TestPaths.Data(OutcarFixture));
        string broken = text.Replace(
            "  in kB      -3.21098    -3.45678    -4.01234     0.24494    -0.10864     0.17531",
            "  in kB      -3.21098    -3.45678    ********     0.24494    -0.10864     0.17531");
        var ex = Assert.Throws<FileFormatException>(() => Outcar.ReadString(broken, "OUTCAR"));
        Assert.Equal(997, ex.Line);

        // The same file killed before its third step finished keeps the first two.
        string killed = string.Join('\n', broken.Split('\n')[..1030]);
        Assert.Equal(2, Outcar.ReadString(killed).Count);
    }

    [Fact]
    public void Outcar_NotAnOutcar_IsAFileFormatError()
    {
        string text = File.ReadAllText(TestPaths.Data("POSCAR_vasp4_GaAs"));
        var ex = Assert.Throws<FileFormatException>(() => Outcar.ReadString(text, "OUTCAR.broken"));
        Assert.Contains("OUTCAR.broken", ex.Message);
        Assert.Contains("no finished ionic step", ex.Message);
    }

    [Fact]
    public void Outcar_IsReadOnlyAndChosenByName()
    {
        Assert.Equal("outcar", Outcar.Name);
        Assert.False(Outcar.CanWrite);
        Assert.True(Outcar.CanRead);
        Assert.True(Outcar.MatchesFileName("OUTCAR"));
        Assert.True(Outcar.MatchesFileName("OUTCAR.relax2"));
        Assert.True(Outcar.MatchesFileName("outcar_md"));
        Assert.False(Outcar.MatchesFileName("POSCAR"));
        Assert.Same(Outcar, StructureFormats.ForReading(TestPaths.Data(OutcarFixture)));
        Assert.Same(Outcar, StructureFormats.ByName("outcar"));
        Assert.Throws<MlipInputException>(() => StructureFormats.ForWriting("run/OUTCAR"));
        Assert.Throws<NotSupportedException>(() => Outcar.WriteString([Outcar.Read(TestPaths.Data(OutcarFixture))[0]]));
    }

    // ------------------------------------------------------------------ POSCAR: against ASE

    [Theory]
    [InlineData("ase_written_direct.vasp")]
    [InlineData("ase_written_cartesian.vasp")]
    [InlineData("POSCAR_vasp4_GaAs")]
    [InlineData("POSCAR_cartesian_selective")]
    public void Poscar_ReadsLikeAse(string name)
    {
        var structures = Poscar.Read(TestPaths.Data(name));
        Assert.Single(structures);
        var s = structures[0];
        var e = Reference.GetProperty("poscars").GetProperty(name);

        Assert.Equal(Strings(e.GetProperty("symbols")), s.Symbols());
        AssertClose(Matrix(e.GetProperty("cell")), s.Cell);
        AssertClose(Vectors(e.GetProperty("positions")), s.Positions);
        Assert.Equal(PeriodicFlags.All, s.Pbc);
        AssertSelectiveDynamics(e.GetProperty("selective_dynamics"), s);
        Assert.Equal(File.ReadLines(TestPaths.Data(name)).First().Trim(), s.Info[PoscarFormat.CommentKey]);
    }

    [Fact]
    public void Poscar_AseWrittenNonContiguousSpecies_KeepAtomOrder()
    {
        var s = Poscar.Read(TestPaths.Data("ase_written_direct.vasp"))[0];
        Assert.Equal(["Si", "Si", "O", "Si", "O"], s.Symbols());
        var sd = s.AtomArrays[PoscarFormat.SelectiveDynamicsArray];
        Assert.True(sd.IsInteger);
        Assert.Equal(3, sd.Components);
        Assert.Equal([0.0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1], sd.Values);
    }

    [Fact]
    public void Poscar_MlipWrittenFile_IsUnchangedAndAseReadsItBack()
    {
        var input = Reference.GetProperty("mlip_write_input");
        var s = StructureFromJson(input);
        string written = Poscar.WriteString([s]);
        string fixture = TestPaths.Data("mlip_written.vasp");
        string? committed = File.Exists(fixture) ? File.ReadAllText(fixture) : null;
        if (written != committed)
        {
            string saved = Path.Combine(TestPaths.TempDir(), "mlip_written.vasp");
            File.WriteAllText(saved, written);
            Assert.Fail($"PoscarFormat no longer writes Data/mlip_written.vasp; its new output is in {saved}: " +
                        "copy it to tests/Mlip.Tests/Data and run make_vasp_fixtures.py to check it with ASE");
        }

        // What ASE read from that exact text when the fixtures were made.
        var ase = Reference.GetProperty("ase_read_of_mlip_written");
        Assert.Equal(JsonValueKind.Object, ase.ValueKind);
        Assert.Equal(Strings(input.GetProperty("symbols")), Strings(ase.GetProperty("symbols")));
        AssertClose(s.Cell, Matrix(ase.GetProperty("cell")));
        AssertClose(s.Positions, Vectors(ase.GetProperty("positions")));
        AssertSelectiveDynamics(ase.GetProperty("selective_dynamics"), s);

        // And Mlip reads its own output back.
        var back = Poscar.ReadString(written)[0];
        Assert.Equal(s.AtomicNumbers, back.AtomicNumbers);
        AssertClose(s.Cell, back.Cell);
        AssertClose(s.Positions, back.Positions);
        Assert.Equal(input.GetProperty("comment").GetString(), back.Info[PoscarFormat.CommentKey]);
    }

    // ------------------------------------------------------------------ POSCAR: round trips

    [Fact]
    public void Poscar_RoundTrip_NonContiguousSpecies()
    {
        var cell = new Matrix3(5.43, 0.01, -0.02, 0.3, 5.1, 0.0, -0.7, 0.2, 6.05);
        Vec3[] frac = [new(0, 0, 0), new(0.25, 0.25, 0.25), new(0.5, 0.1, 0.9), new(0.75, 0.8, 0.35), new(1.0 / 3, 2.0 / 3, 0.125)];
        var positions = new Vec3[frac.Length];
        for (int i = 0; i < frac.Length; i++) positions[i] = frac[i] * cell;
        var s = Structure.FromSymbols(cell, positions, ["Si", "Si", "O", "Si", "H"], PeriodicFlags.All);

        string text = Poscar.WriteString([s]);
        string[] lines = text.Split('\n');
        Assert.Equal(s.Formula(), lines[0]); // no comment: the formula
        Assert.Equal("Si3O1H1", lines[0]);
        Assert.Equal("1.0", lines[1]);
        Assert.Equal(["Si", "O", "Si", "H"], Parse.Tokens(lines[5]));
        Assert.Equal(["2", "1", "1", "1"], Parse.Tokens(lines[6]));
        Assert.Equal("Direct", lines[7]);

        var back = Poscar.ReadString(text)[0];
        Assert.Equal(s.AtomicNumbers, back.AtomicNumbers);
        AssertClose(s.Cell, back.Cell);
        AssertClose(s.Positions, back.Positions);
        Assert.False(back.AtomArrays.ContainsKey(PoscarFormat.SelectiveDynamicsArray));
    }

    [Fact]
    public void Poscar_RoundTripThroughFile_KeepsCommentAndSelectiveDynamics()
    {
        var s = Poscar.Read(TestPaths.Data("POSCAR_cartesian_selective"))[0];
        string path = Path.Combine(TestPaths.TempDir(), "CONTCAR");
        Assert.Same(Poscar, StructureFormats.ForWriting(path));
        StructureFormats.ForWriting(path).Write(path, [s]);

        var back = StructureFormats.ForReading(path).Read(path)[0];
        Assert.Equal(s.AtomicNumbers, back.AtomicNumbers);
        AssertClose(s.Cell, back.Cell);
        AssertClose(s.Positions, back.Positions);
        Assert.Equal("SiO2 slab, bottom layer fixed", back.Info[PoscarFormat.CommentKey]);
        Assert.Equal(s.AtomArrays[PoscarFormat.SelectiveDynamicsArray].Values, back.AtomArrays[PoscarFormat.SelectiveDynamicsArray].Values);
        Assert.Equal(new InputLocation(path, 1, 0), back.Source);
        Assert.Equal("Selective dynamics", File.ReadAllLines(path)[7]);
    }

    // ------------------------------------------------------------------ POSCAR: reading variants

    [Fact]
    public void Poscar_NegativeScale_IsTheTargetVolume()
    {
        const string text = """
            volume scaled
            -192.0
              2.0 0.0 0.0
              0.0 3.0 0.0
              0.0 0.0 4.0
            Cu
            1
            Cartesian
              0.5 0.5 0.5
            """;
        var s = Poscar.ReadString(text)[0];
        // Raw volume 24, target 192: factor 2.
        AssertClose(Matrix3.Diagonal(4, 6, 8), s.Cell);
        Assert.Equal(192.0, s.Volume, 1e-9);
        AssertClose([new Vec3(1, 1, 1)], s.Positions);
    }

    [Fact]
    public void Poscar_ThreeScaleFactors_ScaleXYZ()
    {
        const string direct = """
            three factors
            2.0 3.0 0.5
              1.0 0.0 0.0
              0.5 1.0 0.0
              0.0 0.0 10.0
            Al
            1
            Direct
              0.5 0.5 0.5
            """;
        var s = Poscar.ReadString(direct)[0];
        AssertClose(new Matrix3(2, 0, 0, 1, 3, 0, 0, 0, 5), s.Cell);
        AssertClose([new Vec3(1.5, 1.5, 2.5)], s.Positions);

        var c = Poscar.ReadString(direct.Replace("Direct", "cartesian"))[0];
        AssertClose([new Vec3(1.0, 1.5, 0.25)], c.Positions);
    }

    [Theory]
    [InlineData("Direct", false)]
    [InlineData("direct", false)]
    [InlineData("Fractional", false)]
    [InlineData("Cartesian", true)]
    [InlineData("cartesian", true)]
    [InlineData("Kartesisch", true)]
    [InlineData("k", true)]
    public void Poscar_CoordinateModeIsItsFirstLetter(string mode, bool cartesian)
    {
        string text = $"""
            mode
            2.0
              3.0 0.0 0.0
              0.0 3.0 0.0
              0.0 0.0 3.0
            Fe
            1
            {mode}
              0.25 0.5 0.0
            """;
        var s = Poscar.ReadString(text)[0];
        AssertClose([cartesian ? new Vec3(0.5, 1.0, 0.0) : new Vec3(1.5, 3.0, 0.0)], s.Positions);
    }

    [Fact]
    public void Poscar_SpeciesWithPotcarDecorations_AndCountComment()
    {
        const string text = """
            decorated species
            1.0
              4.0 0.0 0.0
              0.0 4.0 0.0
              0.0 0.0 4.0
            Si_pv  O/7d3f1e   ! POTCAR names
            1 2   ! one Si, two O
            Direct
              0.0 0.0 0.0 Si
              0.5 0.0 0.0 O
              0.0 0.5 0.0 O
            """;
        Assert.Equal(["Si", "O", "O"], Poscar.ReadString(text)[0].Symbols());
    }

    [Fact]
    public void Poscar_IsChosenByName()
    {
        Assert.Equal("poscar", Poscar.Name);
        Assert.True(Poscar.CanRead);
        Assert.True(Poscar.CanWrite);
        foreach (string name in new[] { "POSCAR", "CONTCAR", "POSCAR_relaxed", "contcar.3", "poscar", "GaAs.vasp", "bulk.POSCAR", "dir/sub/CONTCAR" })
            Assert.True(Poscar.MatchesFileName(name), name);
        foreach (string name in new[] { "OUTCAR", "vasprun.xml", "data.xyz", "POTCAR.vasp.bak" })
            Assert.False(Poscar.MatchesFileName(name), name);
        Assert.Same(Poscar, StructureFormats.ForReading(TestPaths.Data("POSCAR_vasp4_GaAs")));
    }

    // ------------------------------------------------------------------ POSCAR: errors

    private const string GoodPoscar = """
        GaAs
        1.0
          5.65 0.0 0.0
          0.0 5.65 0.0
          0.0 0.0 5.65
        Ga As
        2 2
        Direct
          0.0 0.0 0.0
          0.5 0.5 0.0
          0.25 0.25 0.25
          0.75 0.75 0.25
        """;

    [Fact]
    public void Poscar_Error_BadNumber_NamesFileAndLine()
    {
        string path = Path.Combine(TestPaths.TempDir(), "POSCAR");
        File.WriteAllText(path, GoodPoscar.Replace("0.0 5.65 0.0", "0.0 5.6S 0.0"));
        var ex = Assert.Throws<FileFormatException>(() => Poscar.Read(path));
        Assert.Equal(4, ex.Line);
        Assert.Equal(path, ex.File);
        Assert.Contains(path, ex.Message);
        Assert.Contains("5.6S", ex.Message);
    }

    [Fact]
    public void Poscar_Error_BadCoordinate_NamesLine()
    {
        var ex = Assert.Throws<FileFormatException>(() =>
            Poscar.ReadString(GoodPoscar.Replace("0.75 0.75 0.25", "0.75 0.75 nan?"), "bad/POSCAR"));
        Assert.Equal(12, ex.Line);
        Assert.Contains("bad/POSCAR:12", ex.Message);
    }

    [Fact]
    public void Poscar_Error_UnknownElement_NamesLine()
    {
        var ex = Assert.Throws<UnknownElementException>(() =>
            Poscar.ReadString(GoodPoscar.Replace("Ga As", "Ga Xx"), "elements/POSCAR"));
        Assert.Equal(6, ex.Line);
        Assert.Equal("Xx", ex.Symbol);
        Assert.Contains("elements/POSCAR", ex.Message);
    }

    [Fact]
    public void Poscar_Error_TooFewPositionLines_NamesTheMissingLine()
    {
        string text = GoodPoscar[..GoodPoscar.LastIndexOf('\n')]; // drop the last atom
        var ex = Assert.Throws<FileFormatException>(() => Poscar.ReadString(text, "short/POSCAR"));
        Assert.Equal(12, ex.Line);
        Assert.Contains("short/POSCAR", ex.Message);
        Assert.Contains("end of file", ex.Message);
        Assert.Contains("atom 4 of 4", ex.Message);
    }

    [Fact]
    public void Poscar_Error_CountMismatch_NamesTheCountLine()
    {
        var ex = Assert.Throws<FileFormatException>(() => Poscar.ReadString(GoodPoscar.Replace("2 2", "2 1 1"), "POSCAR"));
        Assert.Equal(7, ex.Line);
        Assert.Contains("count mismatch", ex.Message);
    }

    [Fact]
    public void Poscar_Error_Vasp4WithoutSymbolsInComment_NamesTheCountLine()
    {
        string text = GoodPoscar.Replace("Ga As\n", "").Replace("GaAs\n", "bulk cell\n");
        var ex = Assert.Throws<FileFormatException>(() => Poscar.ReadString(text, "POSCAR"));
        Assert.Equal(6, ex.Line);
        Assert.Contains("element", ex.Message);
    }

    [Fact]
    public void Poscar_Vasp4WithSymbolsInComment_Reads()
    {
        string text = GoodPoscar.Replace("Ga As\n", "").Replace("GaAs\n", "Ga As bulk\n");
        Assert.Equal(["Ga", "Ga", "As", "As"], Poscar.ReadString(text)[0].Symbols());
    }

    [Fact]
    public void Poscar_Error_MissingSelectiveFlags_NamesLine()
    {
        string text = GoodPoscar.Replace("Direct", "Selective dynamics\nDirect")
            .Replace("  0.0 0.0 0.0\n", "  0.0 0.0 0.0 T T T\n")
            .Replace("  0.5 0.5 0.0\n", "  0.5 0.5 0.0 T F\n");
        var ex = Assert.Throws<FileFormatException>(() => Poscar.ReadString(text, "POSCAR"));
        Assert.Equal(11, ex.Line);
        Assert.Contains("selective", ex.Message);
    }

    [Fact]
    public void Poscar_Error_BadSelectiveFlag_NamesLine()
    {
        string text = GoodPoscar.Replace("Direct", "Selective dynamics\nDirect")
            .Replace("  0.0 0.0 0.0\n", "  0.0 0.0 0.0 T T X\n");
        var ex = Assert.Throws<FileFormatException>(() => Poscar.ReadString(text, "POSCAR"));
        Assert.Equal(10, ex.Line);
    }

    [Fact]
    public void Poscar_Error_EmptyOrShortFile_NamesTheLine()
    {
        Assert.Equal(1, Assert.Throws<FileFormatException>(() => Poscar.ReadString("", "POSCAR")).Line);
        var ex = Assert.Throws<FileFormatException>(() => Poscar.ReadString("comment\n1.0\n 1 0 0\n 0 1 0\n", "POSCAR"));
        Assert.Equal(5, ex.Line);
        ex = Assert.Throws<FileFormatException>(() => Poscar.ReadString("comment\n1.0\n 1 0 0\n 0 1\n 0 0 1\n", "POSCAR"));
        Assert.Equal(4, ex.Line);
        ex = Assert.Throws<FileFormatException>(() => Poscar.ReadString(GoodPoscar.Replace("1.0\n", "0.0\n"), "POSCAR"));
        Assert.Equal(2, ex.Line);
    }

    // ------------------------------------------------------------------ POSCAR: writing errors

    [Fact]
    public void Poscar_Write_MoreThanOneStructure_IsAnError()
    {
        var s = Poscar.ReadString(GoodPoscar)[0];
        var ex = Assert.Throws<MlipException>(() => Poscar.WriteString([s, s.Clone()]));
        Assert.Contains("exactly one structure", ex.Message);
        Assert.Contains("2", ex.Message);
        Assert.Throws<MlipException>(() => Poscar.WriteString([]));

        string path = Path.Combine(TestPaths.TempDir(), "POSCAR");
        Assert.Throws<MlipException>(() => Poscar.Write(path, [s, s]));
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!));
    }

    [Fact]
    public void Poscar_Write_WithoutCell_IsAnError()
    {
        var s = new Structure(Matrix3.Zero, [Vec3.Zero], [14], PeriodicFlags.None);
        Assert.Throws<InvalidCellException>(() => Poscar.WriteString([s]));
    }

    // ------------------------------------------------------------------ helpers

    private static Structure StructureFromJson(JsonElement e)
    {
        var s = Structure.FromSymbols(Matrix(e.GetProperty("cell")), Vectors(e.GetProperty("positions")),
            Strings(e.GetProperty("symbols")), PeriodicFlags.All);
        s.Info[PoscarFormat.CommentKey] = e.GetProperty("comment").GetString()!;
        var sd = e.GetProperty("selective_dynamics");
        if (sd.ValueKind == JsonValueKind.Array)
        {
            var values = new List<double>();
            foreach (var row in sd.EnumerateArray())
                foreach (var v in row.EnumerateArray()) values.Add(v.GetDouble());
            s.AtomArrays[PoscarFormat.SelectiveDynamicsArray] = new AtomArray(s.Count, 3, [.. values], isInteger: true);
        }
        return s;
    }

    private static void AssertSelectiveDynamics(JsonElement expected, Structure s)
    {
        if (expected.ValueKind == JsonValueKind.Null)
        {
            Assert.False(s.AtomArrays.ContainsKey(PoscarFormat.SelectiveDynamicsArray));
            return;
        }
        var sd = s.AtomArrays[PoscarFormat.SelectiveDynamicsArray];
        var values = new List<double>();
        foreach (var row in expected.EnumerateArray())
            foreach (var v in row.EnumerateArray()) values.Add(v.GetDouble());
        Assert.Equal(values, sd.Values);
    }

    private static List<int> LinesContaining(string text, string what)
    {
        var found = new List<int>();
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
            if (lines[i].Contains(what, StringComparison.Ordinal)) found.Add(i + 1);
        return found;
    }

    private static string[] Strings(JsonElement e)
    {
        var list = new List<string>();
        foreach (var x in e.EnumerateArray()) list.Add(x.GetString()!);
        return [.. list];
    }

    private static double[] Doubles(JsonElement e)
    {
        var list = new List<double>();
        foreach (var x in e.EnumerateArray()) list.Add(x.GetDouble());
        return [.. list];
    }

    private static Vec3[] Vectors(JsonElement e)
    {
        var list = new List<Vec3>();
        foreach (var row in e.EnumerateArray())
        {
            var v = Doubles(row);
            list.Add(new Vec3(v[0], v[1], v[2]));
        }
        return [.. list];
    }

    private static Matrix3 Matrix(JsonElement e)
    {
        var rows = Vectors(e);
        return Matrix3.FromRows(rows[0], rows[1], rows[2]);
    }

    private static void AssertClose(Matrix3 expected, Matrix3 actual) =>
        Assert.True(expected.MaxAbsDifference(actual) <= Tol, $"expected {expected}, got {actual}");

    private static void AssertClose(Vec3[] expected, Vec3[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            var d = expected[i] - actual[i];
            Assert.True(Math.Max(Math.Abs(d.X), Math.Max(Math.Abs(d.Y), Math.Abs(d.Z))) <= Tol,
                string.Create(CultureInfo.InvariantCulture, $"row {i}: expected {expected[i]}, got {actual[i]}"));
        }
    }

    private static void AssertClose(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= Tol,
                string.Create(CultureInfo.InvariantCulture, $"component {i}: expected {expected[i]:R}, got {actual[i]:R}"));
    }
}
