using Mlip.Calculators;
using Mlip.Interop;
using Mlip.Models;
using Mlip.Structures;

namespace Mlip.Tests.Pinn;

/// <summary>The LAMMPS .pinn file and the Mlip model file round-trip a PINN (one and two elements) to round-off.</summary>
public class PinnFileTests
{
    private static void AssertSameResults(Potential a, Potential b, Structure s)
    {
        var x = a.Calculate(s); var y = b.Calculate(s);
        Assert.True(Math.Abs(x.Energy - y.Energy) <= 1e-9 * Math.Max(1, Math.Abs(x.Energy)), $"energy {x.Energy} vs {y.Energy}");
        double fmax = x.Forces!.Max(f => f.Norm);
        for (int i = 0; i < s.Count; i++) Assert.True((x.Forces![i] - y.Forces![i]).Norm <= 1e-9 * fmax, $"force {i}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void PinnFileRoundTrip(int elements)
    {
        string[] symbols = elements == 1 ? ["Si"] : ["Si", "Ge"];
        var pinn = PinnModelTests.RandomPinn(elements == 1 ? PinnBop.SiliconExample() : PinnBopTests.SiGe(), symbols, 11, outputScale: 0.1);
        var s = Crystals.Rattle(Crystals.Diamond("Si", 5.4), 0.15, 2);
        if (elements == 2) for (int i = 0; i < s.Count; i += 3) s.AtomicNumbers[i] = 32;
        var dir = Directory.CreateTempSubdirectory("mlip-pinn");
        try
        {
            string path = Path.Combine(dir.FullName, "x.pinn");
            PinnFile.Save(path, pinn);
            var back = ModelFile.Load(path);
            AssertSameResults(pinn, back, s);
            // written again: the same text for one element; for two, each element's network read back holds
            // the stacked hidden layers of both, so the file grows but the potential is the same
            string again = Path.Combine(dir.FullName, "y.pinn");
            PinnFile.Save(again, back);
            if (elements == 1) Assert.Equal(File.ReadAllLines(path)[3..], File.ReadAllLines(again)[3..]);
            else AssertSameResults(pinn, ModelFile.Load(again), s);
            // header as pair_pinn reads it: 5 words on the cutoff line, layers count, output = N_BOP
            var lines = File.ReadAllLines(path);
            Assert.Equal(5, lines[5 + elements].Split('#')[0].Split(' ', StringSplitOptions.RemoveEmptyEntries).Length);
            int nbop = elements * (4 * elements + 1 + 3 * elements * elements);
            Assert.EndsWith($" {nbop}", lines[8 + elements].Split('#')[0].TrimEnd());
            // the Mlip model file too
            string json = Path.Combine(dir.FullName, "model.json");
            ModelFile.Save(json, pinn);
            AssertSameResults(pinn, ModelFile.Load(json), s);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void MalformedFileNamesTheLine()
    {
        var dir = Directory.CreateTempSubdirectory("mlip-pinn");
        try
        {
            string path = Path.Combine(dir.FullName, "bad.pinn");
            PinnFile.Save(path, PinnModelTests.RandomPinn(PinnBop.SiliconExample(), ["Si"], 1));
            var lines = File.ReadAllLines(path);
            lines[6] = "0 0.0 4.0 1.5";
            File.WriteAllLines(path, lines);
            var e = Assert.Throws<Mlip.Validation.FileFormatException>(() => ModelFile.Load(path));
            Assert.Contains("bad.pinn", e.Message);
            Assert.Contains("7", e.Message);
        }
        finally { dir.Delete(true); }
    }
}
