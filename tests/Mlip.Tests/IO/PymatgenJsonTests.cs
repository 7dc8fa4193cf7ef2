using System.Text.RegularExpressions;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Tests.IO;

public partial class PymatgenJsonTests
{
    private static string Training => TestPaths.Shared("mlearn", "Si", "training.json");
    private static string Test => TestPaths.Shared("mlearn", "Si", "test.json");

    [Fact]
    public void ReadsTheMlearnSiTrainingSet()
    {
        var data = StructureIO.Read(Training);
        Assert.IsType<PymatgenJsonFormat>(StructureFormats.ForReading(Training));
        Assert.Equal(214, data.Count);
        Assert.Equal(13233, data.Sum(s => s.Count));
        Assert.All(data, s => Assert.All(s.AtomicNumbers, z => Assert.Equal(14, z)));
        var groups = data.GroupBy(s => s.Group).ToDictionary(g => g.Key!, g => g.Count());
        Assert.Equal(new Dictionary<string, int> { ["AIMD-NVT"] = 90, ["Vacancy"] = 57, ["Elastic"] = 55, ["Surface"] = 12 }, groups);
        Assert.All(data, s =>
        {
            Assert.NotNull(s.Energy);
            Assert.Equal(s.Count, s.Forces!.Length);
            Assert.NotNull(s.Stress);
            Assert.Equal(s.Count, s.Source!.StructureIndex is int k ? data[k].Count : -1);
        });
        // raw PBE totals: around -5.4 eV/atom for crystalline Si
        Assert.InRange(data.Min(s => s.Energy!.Value / s.Count), -5.45, -5.40);

        var test = StructureIO.Read(Test);
        Assert.Equal(25, test.Count);
        Assert.Equal(1525, test.Sum(s => s.Count));
    }

    [GeneratedRegex(@"mode (\d), strain (-?[0-9.]+)")]
    private static partial Regex ModeStrain();

    /// <summary>
    /// The Elastic group strains a 2x2x2 diamond cell by mode m (0..2 normal xx, yy, zz; 3 xy, 4 xz,
    /// 5 yz, as the cell matrices show) and amount e. In the tension-positive convention a stretched
    /// cell has positive stress and sigma/e gives Si's elastic constants (PBE: C11 ~ 155, C12 ~ 60 GPa;
    /// unrelaxed C44 ~ 100). This pins both the sign and the component order of virial_stress.
    /// </summary>
    [Fact]
    public void VirialStressConventionGivesSiliconElasticConstants()
    {
        var data = StructureIO.Read(Training);
        int used = 0;
        foreach (var s in data.Where(s => s.Group == "Elastic"))
        {
            var m = ModeStrain().Match((string)s.Info["description"]);
            if (!m.Success) continue;
            int mode = int.Parse(m.Groups[1].Value);
            double e = double.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (Math.Abs(e) > 0.021) continue;
            var st = s.Stress!.Value;
            if (mode <= 2)
            {
                var v = st.ToVoigt();
                double c11 = v[mode] / e;
                double c12 = v[(mode + 1) % 3] / e;
                Assert.InRange(c11, 140, 175);
                Assert.InRange(c12, 45, 75);
                Assert.InRange(Math.Abs(st.Yz) + Math.Abs(st.Xz) + Math.Abs(st.Xy), 0, 0.01);
            }
            else
            {
                // engineering shear strain gamma = 2e tilts one cell vector; sigma_shear = C44 gamma
                double shear = mode switch { 3 => st.Xy, 4 => st.Xz, _ => st.Yz };
                double c44 = shear / (2 * e);
                Assert.InRange(c44, 80, 120);
                double others = mode switch
                {
                    3 => Math.Abs(st.Xz) + Math.Abs(st.Yz),
                    4 => Math.Abs(st.Xy) + Math.Abs(st.Yz),
                    _ => Math.Abs(st.Xy) + Math.Abs(st.Xz),
                };
                Assert.InRange(others, 0, 0.01);
            }
            used++;
        }
        Assert.Equal(12, used); // 6 modes x strains of -0.02 and +0.02
    }

    [Fact]
    public void MlearnToExtXyzAndBackKeepsEverything()
    {
        var data = StructureIO.Read(Training);
        string dir = TestPaths.TempDir();
        string xyz = Path.Combine(dir, "training.xyz");
        StructureIO.Write(xyz, data);
        var back = StructureIO.Read(xyz);
        Assert.Equal(data.Count, back.Count);
        for (int k = 0; k < data.Count; k++) ExtXyzTests.AssertSame(data[k], back[k], 1e-10);

        // and extxyz -> mlearn json -> read again
        string json = Path.Combine(dir, "again.json");
        StructureIO.Write(json, back);
        Assert.IsType<PymatgenJsonFormat>(StructureFormats.ForReading(json));
        var again = StructureIO.Read(json);
        for (int k = 0; k < data.Count; k++) ExtXyzTests.AssertSame(data[k], again[k], 1e-10);
        Assert.Equal(data[5].Info["description"], again[5].Info["description"]);
    }

    [Fact]
    public void ErrorsNameTheStructure()
    {
        string dir = TestPaths.TempDir();
        string bad = Path.Combine(dir, "bad.json");
        File.WriteAllText(bad, """
            [{"structure": {"lattice": {"matrix": [[3,0,0],[0,3,0],[0,0,3]]}, "sites": [{"species": [{"element": "Si", "occu": 1}], "xyz": [0,0,0]}]},
              "outputs": {"energy": -5.0, "forces": [[0,0,0]], "virial_stress": [0,0,0,0,0,0]}},
             {"structure": {"lattice": {"matrix": [[3,0,0],[0,3,0],[0,0,3]]}, "sites": [{"species": [{"element": "Qq", "occu": 1}], "xyz": [0,0,0]}]},
              "outputs": {"energy": -5.0}}]
            """);
        var e = Assert.Throws<UnknownElementException>(() => StructureIO.Read(bad));
        Assert.Equal(1, e.StructureIndex);
        Assert.Contains("bad.json", e.Message);

        File.WriteAllText(bad, """
            [{"structure": {"lattice": {"matrix": [[3,0,0],[0,3,0],[0,0,3]]}, "sites": [{"species": [{"element": "Si", "occu": 1}], "xyz": [0,0,0]}, {"species": [{"element": "Si", "occu": 1}], "xyz": [1,1,1]}]},
              "outputs": {"energy": -5.0, "forces": [[0,0,0]]}}]
            """);
        var shape = Assert.Throws<LabelShapeException>(() => StructureIO.Read(bad));
        Assert.Equal(0, shape.StructureIndex);
        Assert.Equal(2, shape.Expected);
        Assert.Equal(1, shape.Actual);

        File.WriteAllText(bad, "[{\"structure\": {\"sites\": [\n  {\"species\": ]}}]");
        var syntax = Assert.Throws<FileFormatException>(() => StructureIO.Read(bad));
        Assert.Equal(2, syntax.Line);
    }
}
