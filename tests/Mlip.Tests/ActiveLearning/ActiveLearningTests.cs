using System.Diagnostics;
using System.Text.Json.Nodes;
using Mlip.ActiveLearning;
using Mlip.Calculators;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.ActiveLearning;

public class ActiveLearningTests(ITestOutputHelper output)
{
    private const string Config = """
        element: Si
        reference: sw
        descriptor: {type: so4, parameters: {twojmax: 2, rcutfac: 4.5}}
        model: {kind: linear}
        seed: 5
        threads: 2
        initial: 6
        budget: 36
        batch: 5
        explore:
          md: {temperatures: [600, 1500], steps: 40, snapshots: 3, cells: 1}
          random: {count: 6, composition: Si8}
          rattle: {count: 6, amplitude: 0.2}
          strain: {count: 6, max: 0.08}
        validation: {temperatures: [300, 2500], snapshots: 2}
        stop: {patience: 0}
        compare_random: false
        """;

    [Fact]
    public void A_killed_loop_resumes_and_ends_with_the_same_data_set()
    {
        string dir = TestPaths.TempDir();
        File.WriteAllText(Path.Combine(dir, "a.yaml"), Config + "\noutput: a\n");
        File.WriteAllText(Path.Combine(dir, "b.yaml"), Config + "\noutput: b\n");
        var clock = Stopwatch.StartNew();
        output.WriteLine(LearnKillResume.RunToEnd(dir, "a.yaml"));
        output.WriteLine($"uninterrupted run: {clock.Elapsed.TotalSeconds:F1} s");
        // the same config, killed once its checkpoint shows iteration 2 (it is then inside iteration 2 or 3), then resumed
        int killedAt = LearnKillResume.KillAndResume(dir, "b.yaml", "b");
        Assert.InRange(killedAt, 2, 5);
        // the same structures, bit for bit, with the same energies and forces; the reference's stress may differ in the
        // last bit (Stillinger-Weber sums its virial over threads), which is the reference's doing, not the loop's
        var a = StructureIO.Read(Path.Combine(dir, "a", "active", "labelled.xyz"));
        var b = StructureIO.Read(Path.Combine(dir, "b", "active", "labelled.xyz"));
        Assert.Equal(36, a.Count);
        LearnKillResume.AssertSameStructures(a, b);
        for (int i = 0; i < a.Count; i++)
        {
            var sa = a[i].Stress!.Value.ToVoigt(); var sb = b[i].Stress!.Value.ToVoigt();
            for (int q = 0; q < 6; q++) Assert.True(Math.Abs(sa[q] - sb[q]) <= 1e-12 * (1 + Math.Abs(sa[q])), $"structure {i}: stress {sa[q]} vs {sb[q]}");
        }
        Assert.True(File.Exists(Path.Combine(dir, "a", "learning_curve.png")));
        output.WriteLine($"killed at iteration {killedAt}; total {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public void Labelled_structures_with_forces_above_max_force_are_set_aside_and_count_in_the_budget()
    {
        string dir = TestPaths.TempDir();
        File.WriteAllText(Path.Combine(dir, "c.yaml"), Config.Replace("budget: 36", "budget: 26", StringComparison.Ordinal) + "\nselect: {max_force: 2.0}\noutput: c\n");
        output.WriteLine(LearnKillResume.RunToEnd(dir, "c.yaml"));
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "c", "report.json")))!;
        var history = report["active"]!.AsArray();
        int aside = history.Sum(h => (int)h!["set_aside"]!);
        Assert.True(aside > 0, "no structure was set aside: the test no longer exercises max_force");
        var training = StructureIO.Read(Path.Combine(dir, "c", "active", "labelled.xyz"));
        // the iterations' structures in the fit have no force component above 2 eV/Å (the initial ones are not filtered)
        Assert.All(training.Where(s => s.Group != "initial"), s => Assert.All(s.Forces!, f => Assert.True(Math.Max(Math.Abs(f.X), Math.Max(Math.Abs(f.Y), Math.Abs(f.Z))) <= 2.0)));
        // the budget counts every label spent
        Assert.Equal(26, training.Count + aside);
        Assert.Contains("set aside", (string)report["active_stop_reason"]!);
    }

    [Fact]
    public void Spearman_correlation_matches_the_rank_formula()
    {
        Assert.Equal(1.0, Statistics.Spearman([1, 2, 3, 4], [10, 20, 30, 1000]), 12);
        Assert.Equal(-1.0, Statistics.Spearman([1, 2, 3, 4], [4, 3, 2, 1]), 12);
        // with a tie: ranks y = 1, 2, 3.5, 5, 3.5; Pearson of the ranks = 0.820782681668123 (numpy.corrcoef)
        Assert.Equal(0.820782681668123, Statistics.Spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]), 9);
    }

    [Fact]
    public void Active_batches_skip_near_duplicates_and_fill_by_score()
    {
        double[][] fp = [[0, 0], [0, 0.001], [1, 1], [2, 2], [0.002, 0]];
        double[] score = [5, 4, 3, 1, 2];
        Assert.Equal([0, 2, 3], BatchSelector.Active(score, fp, 3, 0.1));
        Assert.Equal([0, 2, 3, 1], BatchSelector.Active(score, fp, 4, 0.1));
    }

    [Fact]
    public void A_command_reference_runs_the_users_code_on_a_written_poscar_and_reads_its_extxyz()
    {
        // the "user's code": reads POSCAR, writes energy = Σ x_i and force_i = (i, -z_i, 0.5) into an extended XYZ file
        string dir = TestPaths.TempDir();
        string script = Path.Combine(dir, "fake_dft.py");
        File.WriteAllText(script, """
            import numpy as np
            lines = open("POSCAR").read().split("\n")
            scale = float(lines[1]); cell = np.array([[float(v) for v in lines[i].split()] for i in (2, 3, 4)]) * scale
            symbols = lines[5].split(); counts = [int(v) for v in lines[6].split()]
            mode = lines[7].strip().lower(); n = sum(counts)
            pos = np.array([[float(v) for v in lines[8 + i].split()[:3]] for i in range(n)])
            if mode.startswith("d"): pos = pos @ cell
            elif scale != 1.0: pos = pos * scale
            species = [s for s, c in zip(symbols, counts) for _ in range(c)]
            with open("result.xyz", "w") as f:
                f.write(f"{n}\n")
                f.write('Lattice="' + " ".join(repr(v) for v in cell.ravel()) + '" Properties=species:S:1:pos:R:3:forces:R:3 energy=' + repr(pos[:, 0].sum()) + ' pbc="T T T"\n')
                for i in range(n):
                    f.write(f"{species[i]} {pos[i,0]!r} {pos[i,1]!r} {pos[i,2]!r} {float(i)!r} {-pos[i,2]!r} 0.5\n")
            """);
        var reference = new CommandReference($"/usr/bin/python3 {script}", Path.Combine(dir, "work"), "POSCAR", "result.xyz", 60);
        var s = Crystals.Rattle(Crystals.Diamond("Si", 5.43), 0.1, 3);
        var labelled = reference.Label(s, "probe");
        Assert.Equal(s.Positions.Sum(p => p.X), labelled.Energy!.Value, 9);
        for (int i = 0; i < s.Count; i++)
        {
            Assert.Equal(i, labelled.Forces![i].X, 12);
            Assert.Equal(-s.Positions[i].Z, labelled.Forces[i].Y, 9);
        }
        var failing = new CommandReference("exit 3", Path.Combine(dir, "work"));
        var e = Assert.Throws<Mlip.Validation.MlipException>(() => failing.Label(s, "bad"));
        Assert.Contains("exited with 3", e.Message);
    }
}
