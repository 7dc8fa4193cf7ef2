using System.Globalization;
using System.Text;
using Mlip.Descriptors;
using Mlip.Interop;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.Interop;

/// <summary>
/// Mlip's SO(3) power spectrum and the PyXtal_FF Si network against LAMMPS <c>pair_style mliap ... descriptor so3</c>
/// of the LAMMPS the project builds: features per atom (read through one-hot linear models and compute pe/atom,
/// since this LAMMPS's compute mliap knows only sna), and energy, forces and stress of Si.nn.mliap.* on rattled
/// triclinic cells of 8 to 512 atoms.
/// </summary>
public class MliapSo3LammpsTests(ITestOutputHelper output)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private static readonly Matrix3 Tilt = new(0.03, 0.05, -0.04, 0.02, -0.02, 0.06, 0.04, -0.03, 0.02);

    private static string Potentials
    {
        get
        {
            var dir = Lammps.ReferenceDirectory is { } r ? Path.Combine(r, "potentials") : null;
            Assert.True(dir is not null && File.Exists(Path.Combine(dir, "Si.nn.mliap.model")), Lammps.BuildHint);
            return dir!;
        }
    }

    /// <summary>
    /// The 30 features (nmax 3, lmax 4) of a two-element (Si, Ge) rattled triclinic cell with PyXtal_FF's
    /// element weights (welems = Z) and unequal radelems, from one LAMMPS process: for each feature k a
    /// <c>pair_style mliap model linear</c> whose coefficients are the unit vector e_k for both elements,
    /// so that the per-atom energy is B_k. Equal to Mlip to 1e-10 relative per atom.
    /// </summary>
    [Fact]
    public void So3FeaturesEqualLammpsPerAtom()
    {
        Lammps.RequireExecutable();
        var p = new So3Parameters { Rcutfac = 4.6, Nmax = 3, Lmax = 4, Alpha = 1.5, Elements = ["Si", "Ge"], Radii = [0.5, 0.47], Weights = [14, 32] };
        var so3 = new So3(p);
        int k = so3.FeatureCount;
        Assert.Equal(30, k);
        var s = Crystals.Rattle(Crystals.Deform(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 1, 1), Tilt), 0.2, seed: 11);
        for (int i = 0; i < s.Count; i += 3) s.AtomicNumbers[i] = Elements.Number("Ge");
        var mine = so3.Compute(s, derivatives: false).Values;

        string[] species = ["Si", "Ge"];
        var (data, _) = Lammps.DataFile(s, species);
        var files = new Dictionary<string, string>
        {
            ["data.lmp"] = data,
            ["so3.mliap.descriptor"] = Mliap.DescriptorText(so3, species),
        };
        var input = new StringBuilder("""
            units           metal
            atom_style      atomic
            atom_modify     map array
            boundary        p p p
            read_data       data.lmp
            mass            * 28.0
            neighbor        1.0 bin
            compute         eatom all pe/atom

            """);
        for (int f = 0; f < k; f++)
        {
            var m = new StringBuilder($"2 {k + 1}\n");
            for (int e = 0; e < 2; e++)
                for (int c = 0; c <= k; c++) m.Append(c == f + 1 ? "1\n" : "0\n");
            files[$"onehot{f}.mliap.model"] = m.ToString();
            input.Append($"""
                pair_style      mliap model linear onehot{f}.mliap.model descriptor so3 so3.mliap.descriptor
                pair_coeff      * * Si Ge
                dump            d{f} all custom 1 feature{f}.dump id c_eatom
                dump_modify     d{f} format float %.17g sort id
                run             0
                undump          d{f}

                """);
        }
        var run = Lammps.Run(input.ToString(), files, Path.Combine(TestPaths.TempDir(), "so3-features-onehot"));
        var lammps = new double[s.Count * k];
        for (int f = 0; f < k; f++)
        {
            var col = run.Dump($"feature{f}.dump").Column("c_eatom");
            Assert.Equal(s.Count, col.Length);
            for (int i = 0; i < s.Count; i++) lammps[i * k + f] = col[i];
        }
        double worst = 0;
        for (int i = 0; i < s.Count; i++)
        {
            double scale = 0, diff = 0;
            for (int f = 0; f < k; f++)
            {
                scale = Math.Max(scale, Math.Abs(lammps[i * k + f]));
                diff = Math.Max(diff, Math.Abs(lammps[i * k + f] - mine[i * k + f]));
            }
            Assert.True(scale > 1, $"atom {i}: LAMMPS's features are all ~0");
            worst = Math.Max(worst, diff / scale);
            Assert.True(diff <= 1e-10 * scale, $"atom {i}: features differ from LAMMPS's by {diff:E2} (largest |B| {scale:G4})");
        }
        output.WriteLine($"{s.Count} atoms × {k} SO(3) features: worst per-atom relative difference to LAMMPS {worst:E2}");
    }

    /// <summary>
    /// The PyXtal_FF Si network (LAMMPS's examples/mliap/Si.nn.mliap.*) loaded by Mlip equals LAMMPS
    /// pair_style mliap (model nn, descriptor so3) to 1e-9 relative in energy, forces and stress on rattled
    /// triclinic diamond cells of 8, 64 and 512 atoms.
    /// </summary>
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(2, 2, 2)]
    [InlineData(4, 4, 4)]
    public void PyXtalFfSiNetworkEqualsLammpsOnRattledTriclinicCells(int na, int nb, int nc)
    {
        Lammps.RequireExecutable();
        string dir = Potentials;
        var potential = ModelFile.Load(Path.Combine(dir, "Si.nn.mliap.model"));
        var s = Crystals.Rattle(Crystals.Deform(Crystals.Supercell(Crystals.Diamond("Si", 5.431), na, nb, nc), Tilt), 0.12, seed: na * 100 + nb * 10 + nc);
        var mine = potential.Calculate(s);
        var lmp = LammpsReference.Run(s, ["Si"],
            "pair_style mliap model nn Si.nn.mliap.model descriptor so3 Si.nn.mliap.descriptor\npair_coeff * * Si",
            new Dictionary<string, string>
            {
                ["Si.nn.mliap.model"] = File.ReadAllText(Path.Combine(dir, "Si.nn.mliap.model")),
                ["Si.nn.mliap.descriptor"] = File.ReadAllText(Path.Combine(dir, "Si.nn.mliap.descriptor")),
            }, $"si-nn-so3-{s.Count}");
        output.WriteLine($"{s.Count} atoms: E Mlip {mine.Energy:R} LAMMPS {lmp.Energy:R} (relative {Math.Abs(mine.Energy - lmp.Energy) / Math.Abs(lmp.Energy):E2})");
        lmp.AssertMatches($"Si.nn {s.Count} atoms", mine, tol: 1e-9);
    }

    /// <summary>
    /// A two-element network on so3 (Si, Ge; welems = Z) whose file has different feature means/scales per
    /// element, as PyXtal_FF writes them (its per-element min/max ranges): Mlip folds them into each element's
    /// first layer and equals LAMMPS to 1e-9; exporting the loaded model again and re-running LAMMPS also agrees.
    /// </summary>
    [Fact]
    public void PerElementNormalisationOfATwoElementNetworkEqualsLammps()
    {
        Lammps.RequireExecutable();
        var rng = new Random(21);
        var spec = new DescriptorSpec("so3", new Dictionary<string, string>
        {
            ["rcutfac"] = "4.8", ["nmax"] = "3", ["lmax"] = "3", ["alpha"] = "2.0", ["elems"] = "Si,Ge", ["radelems"] = "0.5,0.5", ["welems"] = "14,32",
        });
        var d = spec.Create(["Si", "Ge"]);
        int k = d.FeatureCount;
        var nets = new[] { Mlp.Create(k, [7, 5], Activation.Tanh, rng), Mlp.Create(k, [7, 5], Activation.Tanh, rng) };
        var nn = new NeuralNetworkModel([14, 32], k, nets, [-4.1, -3.7], new double[k], Enumerable.Repeat(1.0, k).ToArray());
        var text = Mliap.ModelText(nn).Split('\n').ToList();
        foreach (var el in new[] { "Si", "Ge" })
        {
            int at = text.FindIndex(l => l.StartsWith($"# {el}:"));
            for (int a = 0; a < k; a++)
            {
                text[at + 1 + a] = (rng.NextDouble() * 2000 - 500).ToString("R", Inv);   // "min"
                text[at + 1 + k + a] = (100 + rng.NextDouble() * 5000).ToString("R", Inv); // "max − min"
            }
        }
        string modelText = string.Join('\n', text), descriptorText = Mliap.DescriptorText(d, ["Si", "Ge"]);
        var potential = MliapReader.Import(modelText, descriptorText);
        var s = Crystals.Rattle(Crystals.Deform(Crystals.Supercell(Crystals.Diamond("Si", 5.431), 2, 1, 1), Tilt), 0.15, seed: 5);
        for (int i = 1; i < s.Count; i += 3) s.AtomicNumbers[i] = Elements.Number("Ge");
        var mine = potential.Calculate(s);
        LammpsReference Run(string model, string tag) => LammpsReference.Run(s, ["Si", "Ge"],
            "pair_style mliap model nn p.mliap.model descriptor so3 p.mliap.descriptor\npair_coeff * * Si Ge",
            new Dictionary<string, string> { ["p.mliap.model"] = model, ["p.mliap.descriptor"] = descriptorText }, tag);
        Run(modelText, "so3-per-element-norm").AssertMatches("per-element normalisation", mine, tol: 1e-9);
        var again = Mliap.Export(potential);
        Run(again.Model, "so3-per-element-norm-reexport").AssertMatches("re-exported", mine, tol: 1e-9);
    }
}
