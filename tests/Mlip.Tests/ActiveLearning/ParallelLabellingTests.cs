using System.Text.Json.Nodes;
using Mlip.ActiveLearning;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Tests.Support;
using Xunit.Abstractions;

namespace Mlip.Tests.ActiveLearning;

/// <summary>
/// Labelling with a command: several jobs at once (each in its own folder), retries, failures recorded and skipped,
/// the submit form (a job queue: completion seen by a file), and kill-and-resume of a loop that labels this way.
/// </summary>
public class ParallelLabellingTests(ITestOutputHelper output)
{
    /// <summary>
    /// A fake DFT code in sh/awk: reads in.xyz, writes out.xyz with E = 0.01 Σx − 4 N and F = (−0.01, 0, 0) (consistent).
    /// </summary>
    private const string Label = """
        awk 'NR==1{print; n=$1; next}
             NR==2{line=$0; sub(/Properties=[^ ]*/, "Properties=species:S:1:pos:R:3:forces:R:3", line); next}
             {x+=$2; a[NR]=$1" "$2" "$3" "$4" -0.01 0 0"}
             END{printf "%s energy=%.12f\n", line, 0.01*x-4*n; for(i=3;i<=NR;i++) print a[i]}' in.xyz > out.xyz.tmp && mv out.xyz.tmp out.xyz
        """;

    private static List<Structure> Set(int n) =>
        [.. Enumerable.Range(0, n).Select(i => { var s = Crystals.Rattle(Crystals.Diamond("Si", 5.431), 0.05, i + 1); s.Group = "probe"; return s; })];

    private static string Script(string dir, string name, string body)
    {
        string path = Path.Combine(dir, name);
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        return path;
    }

    [Fact]
    public void Two_jobs_run_at_once_each_in_its_own_folder()
    {
        string dir = TestPaths.TempDir();
        // handshake: each job marks its start and goes on only once the other job has started too (bounded wait: a job
        // that is alone fails, which is what happens one at a time)
        string job = Script(dir, "job.sh", $$"""
            root="$1"; limit="$2"
            touch "$root/started.$(basename "$PWD")"
            i=0
            while [ "$(ls "$root" | grep -c '^started\.')" -lt 2 ]; do
              i=$((i+1)); if [ $i -gt "$limit" ]; then echo "the other job never started" >&2; exit 1; fi
              sleep 0.01
            done
            {{Label}}
            """);
        string marks = Path.Combine(dir, "marks");
        Directory.CreateDirectory(marks);
        var parallel = new CommandReference($"sh {job} {marks} {HangGuard.WaitSeconds * 100}", Path.Combine(dir, "work"), "in.xyz", "out.xyz", HangGuard.WaitSeconds, jobs: 2);
        var (labelled, failed) = new Labeller(parallel, threads: 1, retries: 0, TextWriter.Null).LabelAll(Set(2), "batch");
        Assert.Empty(failed);
        Assert.Equal(2, labelled.Count);
        Assert.True(File.Exists(Path.Combine(dir, "work", "batch-000", "out.xyz")) && File.Exists(Path.Combine(dir, "work", "batch-001", "out.xyz")));
        var set = Set(2);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(0.01 * set[i].Positions.Sum(p => p.X) - 4 * 8, labelled[i].Energy!.Value, 9);
            Assert.All(labelled[i].Forces!, f => Assert.Equal(new Vec3(-0.01, 0, 0), f));
        }
        // the same jobs one at a time: the first waits alone, gives up, and is recorded as failed (the loop goes on)
        string marks1 = Path.Combine(dir, "marks1");
        Directory.CreateDirectory(marks1);
        var serial = new CommandReference($"sh {job} {marks1} 20", Path.Combine(dir, "work1"), "in.xyz", "out.xyz", HangGuard.WaitSeconds, jobs: 1);
        var log = new StringWriter();
        var (one, failedOne) = new Labeller(serial, threads: 2, retries: 0, log).LabelAll(Set(2), "batch");
        Assert.Equal("batch-000", Assert.Single(failedOne).Tag);
        Assert.Contains("the other job never started", failedOne[0].Message);
        Assert.Single(one);
        Assert.Contains("batch-000: failed after 1 attempt(s), skipped", log.ToString());
    }

    [Fact]
    public void A_failing_structure_is_retried_then_recorded_and_skipped()
    {
        string dir = TestPaths.TempDir();
        string job = Script(dir, "job.sh", $$"""
            case "$(basename "$PWD")" in b-001) echo "SCF did not converge" >&2; exit 3;; esac
            {{Label}}
            """);
        var reference = new CommandReference($"sh {job}", Path.Combine(dir, "work"), "in.xyz", "out.xyz", HangGuard.WaitSeconds, jobs: 2);
        var log = new StringWriter();
        var (labelled, failed) = new Labeller(reference, threads: 1, retries: 2, log).LabelAll(Set(4), "b");
        Assert.Equal(3, labelled.Count);
        var f = Assert.Single(failed);
        Assert.Equal(("b-001", 3), (f.Tag, f.Attempts));
        Assert.Contains("SCF did not converge", f.Message);
        Assert.Contains("exited with 3", f.Message);
        Assert.Equal(2, log.ToString().Split('\n').Count(l => l.Contains("b-001: attempt", StringComparison.Ordinal)));
        // the order of the batch is kept, the failed one left out
        var set = Set(4);
        Assert.Equal([set[0].Positions[0], set[2].Positions[0], set[3].Positions[0]], labelled.Select(s => s.Positions[0]));
    }

    [Fact]
    public async Task A_submitted_job_is_seen_by_its_done_file_and_a_resumed_loop_does_not_submit_it_again()
    {
        string dir = TestPaths.TempDir();
        // the "queue": the job runs in the background; the submit command returns at once
        string job = Script(dir, "job.sh", Label + "\ntouch DONE");
        var reference = new CommandReference($"sh {job} > job.log 2>&1 &", Path.Combine(dir, "work"), "in.xyz", "out.xyz", HangGuard.WaitSeconds,
            jobs: 2, submit: true, doneName: "DONE", pollSeconds: 0.05);
        var (labelled, failed) = new Labeller(reference, threads: 1, retries: 0, TextWriter.Null).LabelAll(Set(3), "s");
        Assert.Empty(failed);
        Assert.Equal(3, labelled.Count);
        Assert.True(File.Exists(Path.Combine(dir, "work", "s-002", CommandReference.SubmittedMarker)));
        // after a kill: a job already submitted (marker) whose DONE appears later, and one already done, are not submitted
        // again: a submit command that fails shows it would have been
        var never = new CommandReference("exit 9", Path.Combine(dir, "work"), "in.xyz", "out.xyz", HangGuard.WaitSeconds,
            submit: true, doneName: "DONE", pollSeconds: 0.05);
        var again = never.Label(Set(3)[1], "s-001");
        Assert.Equal(labelled[1].Energy, again.Energy);
        File.Delete(Path.Combine(dir, "work", "s-002", "DONE"));
        var pending = Task.Run(() => never.Label(Set(3)[2], "s-002"));
        File.WriteAllText(Path.Combine(dir, "work", "s-002", "DONE"), ""); // the job ends
        Assert.Equal(labelled[2].Energy, (await pending.WaitAsync(HangGuard.Wait)).Energy);
        // a job not submitted yet is submitted: here the submit command fails
        Assert.Throws<Mlip.Validation.MlipException>(() => never.Label(Set(4)[3], "s-003"));
    }

    [Fact]
    public void A_loop_labelling_with_two_jobs_and_a_failing_structure_survives_a_kill_with_the_same_data_set()
    {
        string dir = TestPaths.TempDir();
        string job = Script(dir, "job.sh", $$"""
            case "$(basename "$PWD")" in active-iter001-002) echo "the code crashed" >&2; exit 3;; esac
            {{Label}}
            """);
        StructureIO.Write(Path.Combine(dir, "init.xyz"), Set(6));
        string config = $$"""
            reference: {command: "sh {{job}}", input: in.xyz, output: out.xyz, parallel: 2, retries: 1, timeout: {{HangGuard.WaitSeconds}} }
            initial: init.xyz
            descriptor: {type: so4, parameters: {twojmax: 2, rcutfac: 4.5} }
            model: {kind: linear}
            seed: 3
            threads: 1
            budget: 26
            batch: 5
            explore:
              md: {temperatures: [600], steps: 20, snapshots: 2}
              rattle: {count: 5, amplitude: 0.1}
              strain: {count: 5, max: 0.05}
              vacancy: {count: 3}
            validation: {structures: 6}
            stop: {patience: 0}
            compare_random: false
            """;
        File.WriteAllText(Path.Combine(dir, "a.yaml"), config + "\noutput: a\n");
        File.WriteAllText(Path.Combine(dir, "b.yaml"), config + "\noutput: b\n");
        string o = LearnKillResume.RunToEnd(dir, "a.yaml");
        output.WriteLine(o);
        Assert.Contains("active: 1 structure(s) could not be labelled and were skipped (active-iter001-002", o);
        int killedAt = LearnKillResume.KillAndResume(dir, "b.yaml", "b");
        output.WriteLine($"killed at iteration {killedAt}");
        var a = StructureIO.Read(Path.Combine(dir, "a", "active", "labelled.xyz"));
        var b = StructureIO.Read(Path.Combine(dir, "b", "active", "labelled.xyz"));
        Assert.Equal(26, a.Count);
        LearnKillResume.AssertSameStructures(a, b);
        foreach (var run in new[] { "a", "b" })
        {
            var report = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, run, "report.json")))!;
            var failure = Assert.Single(report["active_failures"]!.AsArray())!;
            Assert.Equal("active-iter001-002", (string)failure["tag"]!);
            Assert.Equal(2, (int)failure["attempts"]!);
            Assert.StartsWith("budget spent", (string)report["active_stop_reason"]!);
            Assert.Equal(1, (int)report["active"]![1]!["failed_labels"]!);
        }
    }
}
