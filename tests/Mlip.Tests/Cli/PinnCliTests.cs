using System.Text.Json;
using Mlip.Calculators;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Tests.Support;

namespace Mlip.Tests.Cli;

/// <summary>`mlip train` with model kind pinn: data from a known bond-order potential, stage 1 recovers it, and the model works in test, eos and as a .pinn file.</summary>
[Collection(LibtorchCollection.Name), LibtorchThreads]
public class PinnCliTests
{
    [Fact]
    public void TrainPinnThenTestAndEos()
    {
        string dir = TestPaths.TempDir();
        var truth = PinnBop.SiliconExample();
        var data = Enumerable.Range(0, 8).Select(i =>
        {
            var s = Crystals.Rattle(Crystals.Deform(Crystals.Diamond("Si", 5.25 + 0.05 * i), Matrix3.Diagonal(0.01 * (i % 3), 0, -0.01 * (i % 2))), 0.1, i + 1);
            var r = truth.Calculate(s);
            s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
            return s;
        }).ToList();
        StructureIO.Write(Path.Combine(dir, "train.xyz"), data.Take(6).ToList());
        StructureIO.Write(Path.Combine(dir, "test.xyz"), data.Skip(6).ToList());
        string config = Path.Combine(dir, "pinn.yaml");
        File.WriteAllText(config, """
            train: train.xyz
            test: test.xyz
            descriptor:
              type: pinn
              parameters: {rc: 4.0, dc: 1.5, width: 0.8, centres: [2.4, 3.4], orders: [0, 2]}
            model: {kind: pinn, hidden: [4], bop_initial: [6.6, 2.5, 4.3, 1.65, -0.3, 1.1, 0.7, 1.7], bop_epochs: 25, epochs: 2, validation: 0, penalty: 1.0e-3}
            loss: {energy: 1, force: 0.1}
            threads: 1
            output: run
            """);
        var (code, stdout, stderr) = CliTests.Run("train", config);
        Assert.True(code == 0, stderr);
        Assert.Contains("BOP base parameters", stdout + stderr);
        // the default store is not used by a PINN whose set fits in memory (streaming recomputes its blocks at every evaluation)
        Assert.Contains("descriptor store: not used by the PINN: its training set fits in memory", stdout + stderr);
        Assert.DoesNotContain("batches streamed in pieces", stdout + stderr);
        string model = Path.Combine(dir, "run", "model.json");
        var (c2, json, e2) = CliTests.Run("test", model, Path.Combine(dir, "test.xyz"), "--json");
        Assert.True(c2 == 0, e2);
        using var doc = JsonDocument.Parse(json);
        double mae = doc.RootElement.GetProperty("energy_mae_mev_per_atom").GetDouble();
        Assert.True(mae < 5, $"test energy MAE {mae} meV/atom: stage 1 did not recover the bond-order potential that made the data");
        StructureIO.Write(Path.Combine(dir, "diamond.xyz"), [Crystals.Diamond("Si", 5.3)]);
        var (c3, eos, e3) = CliTests.Run("eos", Path.Combine(dir, "diamond.xyz"), "--model", model);
        Assert.True(c3 == 0, e3);
        Assert.Contains("B", eos);
        // mlip export lammps writes the .pinn file and in.lammps; the file gives the same energies
        var (c4, o4, e4) = CliTests.Run("export", "lammps", model, "-o", Path.Combine(dir, "lmp"), "--name", "si");
        Assert.True(c4 == 0, e4);
        Assert.Contains("pair_style pinn", File.ReadAllText(Path.Combine(dir, "lmp", "in.lammps")));
        var potential = Mlip.Models.ModelFile.Load(model);
        var back = Mlip.Models.ModelFile.Load(Path.Combine(dir, "lmp", "si.pinn"));
        Assert.Equal(potential.Calculate(data[7]).Energy, back.Calculate(data[7]).Energy, 9);
    }

    /// <summary>A PINN on SO(4) features trains, tests and refuses the .pinn export in one line; a bad descriptor or BOP cut-off in its config is one line, exit 1.</summary>
    [Fact]
    public void TrainPinnOnSo4AndBadConfigs()
    {
        string dir = TestPaths.TempDir();
        var truth = PinnBop.SiliconExample();
        var data = Enumerable.Range(0, 5).Select(i =>
        {
            var s = Crystals.Rattle(Crystals.Diamond("Si", 5.25 + 0.05 * i), 0.1, i + 11);
            var r = truth.Calculate(s);
            s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
            return s;
        }).ToList();
        StructureIO.Write(Path.Combine(dir, "train.xyz"), data.Take(4).ToList());
        StructureIO.Write(Path.Combine(dir, "test.xyz"), data.Skip(4).ToList());
        string Config(string name, string descriptor, string model)
        {
            string path = Path.Combine(dir, name);
            File.WriteAllText(path, $$"""
                train: train.xyz
                test: test.xyz
                descriptor: {{descriptor}}
                model: {kind: pinn, hidden: [4], bop_initial: [6.6, 2.5, 4.3, 1.65, -0.3, 1.1, 0.7, 1.7], bop_epochs: 3, epochs: 2, validation: 0{{model}}}
                loss: {energy: 1, force: 0.1}
                threads: 1
                output: {{Path.GetFileNameWithoutExtension(name)}}
                """);
            return path;
        }
        var (code, stdout, stderr) = CliTests.Run("train", Config("so4.yaml", "{type: so4, parameters: {twojmax: 2, rcutfac: 4.2}}", ", bop_rc: 4.0, bop_dc: 1.5, unlabelled_penalty: 0.1, unlabelled_copies: 2, gradient_penalty: 0.2, gradient_penalty_at: both, bop_stress: 0.01, bop_group_weights: equal, response_penalty: 0.5"));
        Assert.True(code == 0, stderr);
        Assert.Contains("energy-response penalty 0.5 on 2 distorted copies of each training cell", stdout + stderr);
        // the stage-1 keys reach the trainer
        Assert.Contains("stage 1: 3 L-BFGS iterations on the BOP (stress weight 0.01) with each group weighed equally", stdout + stderr);
        // the unlabelled penalty reaches the trainer: 2 copies of each of the 4 training cells (8 atoms each)
        Assert.Contains("unlabelled penalty 0.1 (against zero) on 2 distorted copies of each training cell (strain ±0.05, volume ±0.05), 64 atoms", stdout + stderr);
        Assert.Contains("gradient penalty 0.2 at the training atoms and the 64 atoms of the distorted copies", stdout + stderr);
        Assert.Contains("on so4", stdout + stderr);
        string model = Path.Combine(dir, "so4", "model.json");
        var (c2, _, e2) = CliTests.Run("test", model, Path.Combine(dir, "test.xyz"));
        Assert.True(c2 == 0, e2);
        var (c3, _, e3) = CliTests.Run("export", "lammps", model, "-o", Path.Combine(dir, "lmp"));
        Assert.Equal(1, c3);
        Assert.Single(e3.Trim().Split('\n'));
        Assert.Contains("pair_style pinn", e3);
        Assert.False(Directory.Exists(Path.Combine(dir, "lmp")) && Directory.EnumerateFiles(Path.Combine(dir, "lmp")).Any(), "a refused export wrote files");

        // bad configs: exit 1 and one line naming the key (progress lines of the descriptors aside)
        Refused("bad-descriptor.yaml", "{type: so5, parameters: {}}", "", "so5");
        Refused("bad-cutoff.yaml", "{type: so4, parameters: {twojmax: 2}}", ", bop_rc: 3.0, bop_dc: 3.5", "bop_dc");
        Refused("bad-steps.yaml", "{type: so4, parameters: {twojmax: 2}}", ", penalty_steps: [0.1, 0.01], penalty_step_epochs: [1]", "penalty_step_epochs");
        Refused("bad-weights.yaml", "{type: so4, parameters: {twojmax: 2}}", ", penalty_weights: [1, 1, 1]", "penalty_weights");
        Refused("bad-unlabelled.yaml", "{type: so4, parameters: {twojmax: 2}}", ", unlabelled_penalty: -1", "unlabelled_penalty");
        Refused("bad-unlabelled-strain.yaml", "{type: so4, parameters: {twojmax: 2}}", ", unlabelled_penalty: 1, unlabelled_strain: 0.9", "unlabelled_strain");
        Refused("bad-unlabelled-reference.yaml", "{type: so4, parameters: {twojmax: 2}}", ", unlabelled_penalty: 1, unlabelled_reference: data", "unlabelled_reference");
        Refused("bad-usteps.yaml", "{type: so4, parameters: {twojmax: 2}}", ", unlabelled_penalty: 1, unlabelled_penalty_steps: [3, 10], unlabelled_penalty_step_epochs: [5]", "unlabelled_penalty_step_epochs");
        Refused("bad-gradient.yaml", "{type: so4, parameters: {twojmax: 2}}", ", gradient_penalty: -0.5", "gradient_penalty");
        Refused("bad-gradient-at.yaml", "{type: so4, parameters: {twojmax: 2}}", ", gradient_penalty: 0.5, gradient_penalty_at: everywhere", "gradient_penalty_at");
        Refused("bad-usteps-order.yaml", "{type: so4, parameters: {twojmax: 2}}", ", unlabelled_penalty: 1, unlabelled_penalty_steps: [3, 10], unlabelled_penalty_step_epochs: [5, 5]", "unlabelled_penalty_step_epochs");
        Refused("bad-usteps-value.yaml", "{type: so4, parameters: {twojmax: 2}}", ", unlabelled_penalty: 1, unlabelled_penalty_steps: [-3], unlabelled_penalty_step_epochs: [5]", "unlabelled_penalty_steps");
        Refused("bad-bop-stress.yaml", "{type: so4, parameters: {twojmax: 2}}", ", bop_stress: -1", "bop_stress");
        Refused("bad-response.yaml", "{type: so4, parameters: {twojmax: 2}}", ", response_penalty: -2", "response_penalty");
        Refused("bad-bop-groups.yaml", "{type: so4, parameters: {twojmax: 2}}", ", bop_group_weights: by_size", "bop_group_weights");
        Refused("bad-unlabelled-copies.yaml", "{type: so4, parameters: {twojmax: 2}}", ", unlabelled_penalty: 1, unlabelled_copies: 0", "unlabelled_copies");

        void Refused(string name, string descriptor, string extra, string key)
        {
            var (code, _, err) = CliTests.Run("train", Config(name, descriptor, extra));
            Assert.Equal(1, code);
            Assert.Single(err.Trim().Split('\n'), l => !l.StartsWith("descriptors:", StringComparison.Ordinal));
            Assert.Contains(key, err);
        }
    }
}
