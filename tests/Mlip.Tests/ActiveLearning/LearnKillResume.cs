using System.Diagnostics;
using System.Text.Json.Nodes;
using Mlip.Structures;
using Mlip.Tests.Support;
using Xunit;

namespace Mlip.Tests.ActiveLearning;

/// <summary>
/// Whole runs and kill-and-resume of <c>mlip learn</c> for the loop tests. Kill-and-resume: runs CONFIG in a separate process, kills it (whole process tree)
/// once its checkpoint shows <paramref name="atIteration"/>, checks the checkpoint is unfinished, resumes with --resume and
/// returns the iteration it was killed at.
/// </summary>
internal static class LearnKillResume
{
    /// <summary>Runs <c>mlip learn CONFIG</c> to its end in a separate process; asserts exit status 0 and returns its standard output.</summary>
    public static string RunToEnd(string dir, string config)
    {
        using var full = CliProcess.Start(dir, $"learn {config}");
        string o = full.StandardOutput.ReadToEnd(), e = full.StandardError.ReadToEnd();
        full.WaitForExit();
        Assert.True(full.ExitCode == 0, o + e);
        return o;
    }

    public static int KillAndResume(string dir, string config, string output, int atIteration = 2)
    {
        string state = Path.Combine(dir, output, "active", "state.json");
        using (var killed = CliProcess.Start(dir, $"learn {config}"))
        {
            var wait = Stopwatch.StartNew();
            while (wait.Elapsed < TimeSpan.FromMinutes(2) && !killed.HasExited)
            {
                try
                {
                    if (File.Exists(state) && (int)JsonNode.Parse(File.ReadAllText(state))!["iteration"]! >= atIteration) break;
                }
                catch (System.Text.Json.JsonException) { }
                catch (IOException) { }
                Thread.Sleep(5);
            }
            Assert.False(killed.HasExited, "the run ended before it could be killed");
            killed.Kill(entireProcessTree: true);
            killed.WaitForExit();
        }
        int killedAt = (int)JsonNode.Parse(File.ReadAllText(state))!["iteration"]!;
        Assert.False((bool)JsonNode.Parse(File.ReadAllText(state))!["finished"]!);
        using (var resumed = CliProcess.Start(dir, $"learn {config} --resume"))
        {
            string o = resumed.StandardOutput.ReadToEnd(), e = resumed.StandardError.ReadToEnd();
            resumed.WaitForExit();
            Assert.True(resumed.ExitCode == 0, o + e);
            Assert.Contains("resuming at iteration", o);
        }
        return killedAt;
    }

    /// <summary>The two labelled sets hold the same structures with the same energies and forces, bit for bit.</summary>
    public static void AssertSameStructures(IReadOnlyList<Structure> a, IReadOnlyList<Structure> b)
    {
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i].Cell, b[i].Cell);
            Assert.Equal(a[i].AtomicNumbers, b[i].AtomicNumbers);
            Assert.Equal(a[i].Positions, b[i].Positions);
            Assert.Equal(a[i].Group, b[i].Group);
            Assert.Equal(a[i].Energy, b[i].Energy);
            Assert.Equal(a[i].Forces, b[i].Forces);
        }
    }
}
