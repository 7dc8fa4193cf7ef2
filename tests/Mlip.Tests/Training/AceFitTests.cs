using Mlip.Descriptors.Ace;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Tests.Descriptors;
using Mlip.Training;
using Xunit;
using Xunit.Abstractions;
using Mlip.Tests.Support;

namespace Mlip.Tests.Training;

/// <summary>
/// Linear ACE fitting end to end: data labelled by a known linear ACE (two elements) are fitted back by
/// <c>mlip train</c> with model kind ace (energies, forces, stress rows; smoothness prior; per-element
/// reference energies), the written model.yace is the same potential as model.json, and the basis selection
/// by total degree keeps exactly the functions the rule allows.
/// </summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class AceFitTests(ITestOutputHelper output)
{
    [Fact]
    public void TrainRecoversAKnownLinearAceAndWritesItsYace()
    {
        var p = new Dictionary<string, string> { ["rc"] = "4.0", ["order"] = "3", ["nmax"] = "4,3,2", ["lmax"] = "0,2,1", ["radial"] = "ChebExpCos", ["lambda"] = "3" };
        var spec = new DescriptorSpec("ace", p);
        var d = (AceBasisDescriptor)spec.Create(["Cu", "Ni"]);
        int k = d.FeatureCount;
        var rng = new Random(5);
        double[][] coeff = [.. new[] { -3.5, -4.2 }.Select(e0 => new[] { e0 }.Concat(Enumerable.Range(0, k).Select(_ => 0.02 * (rng.NextDouble() - 0.5))).ToArray())];
        var truth = new Potential(d, new PolynomialModel(1, [28, 29], k, coeff), spec);
        string dir = TestPaths.TempDir();
        List<Structure> Make(int from, int count) => [.. Enumerable.Range(from, count).Select(i =>
        {
            var s = DescriptorTestKit.RandomCell(i, ["Cu", "Ni"], atoms: 6, minDistance: 2.0, length: 5.2);
            var r = truth.Calculate(s);
            s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
            return s;
        })];
        StructureIO.Write(Path.Combine(dir, "train.xyz"), Make(0, 40));
        StructureIO.Write(Path.Combine(dir, "test.xyz"), Make(100, 5));
        string config = Path.Combine(dir, "ace.yaml");
        File.WriteAllText(config, """
            train: train.xyz
            test: test.xyz
            descriptor:
              type: ace
              parameters: {rc: 4.0, order: 3, nmax: [4, 3, 2], lmax: [0, 2, 1], radial: ChebExpCos, lambda: 3}
            model: {kind: ace, ridge: 1.0e-12, smoothness: 2}
            loss: {energy: 1, force: 1, stress: 0.1}
            threads: 2
            output: run
            """);
        var outcome = TrainingRun.Execute(TrainConfig.Load(config), TextWriter.Null);
        var test = outcome.TestErrors!.Overall;
        output.WriteLine($"{k} functions; test MAE {test.EnergyMaeMevPerAtom:E2} meV/atom, {test.ForceMaeEvPerA:E2} eV/Å");
        Assert.True(test.EnergyMaeMevPerAtom < 1e-2, $"energy MAE {test.EnergyMaeMevPerAtom} meV/atom");
        Assert.True(test.ForceMaeEvPerA < 1e-4, $"force MAE {test.ForceMaeEvPerA} eV/Å");

        var json = ModelFile.Load(Path.Combine(dir, "run", "model.json"));
        var yace = ModelFile.Load(Path.Combine(dir, "run", "model.yace"));
        foreach (var s in StructureIO.Read(Path.Combine(dir, "test.xyz")))
        {
            var a = json.Calculate(s); var b = yace.Calculate(s);
            Assert.True(Math.Abs(a.Energy - b.Energy) < 1e-10 * Math.Abs(a.Energy));
            for (int i = 0; i < s.Count; i++) Assert.True((a.Forces![i] - b.Forces![i]).Norm < 1e-9);
        }
    }

    [Fact]
    public void TotalDegreeRuleSelectsExactlyTheAllowedFunctions()
    {
        var spec = new AceBasisSpec { Elements = ["Si"], MaxRank = 3, NMax = [10, 10, 10], LMax = [0, 6, 6], TotalDegree = 8, LWeight = 1.5 };
        var d = new AceBasisDescriptor(spec);
        foreach (var f in d.Functions)
            Assert.True(f.Ns.Sum() + 1.5 * f.Ls.Sum() <= 8 + 1e-9, $"n={string.Join(",", f.Ns)} l={string.Join(",", f.Ls)}");
        // every allowed rank-2 tuple (n1 ≤ n2, l1 = l2) is there
        int expected = 0;
        for (int n1 = 1; n1 <= 8; n1++)
            for (int n2 = n1; n2 <= 8; n2++)
                for (int l = 0; 2 * l * 1.5 + n1 + n2 <= 8 + 1e-9; l++) expected++;
        Assert.Equal(expected, d.Functions.Count(f => f.Rank == 2));
        Assert.Equal(8, d.Functions.Count(f => f.Rank == 1)); // n = 1..8, l = 0
    }
}
