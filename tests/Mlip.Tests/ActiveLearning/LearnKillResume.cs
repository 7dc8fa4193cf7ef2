using System.Globalization;
using System.Text.RegularExpressions;
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
        var e = full.StandardError.ReadToEndAsync();
        string o = full.StandardOutput.ReadToEnd();
        full.WaitForExit();
        Assert.True(full.ExitCode == 0, o + e.Result);
        return o;
    }

    public static int KillAndResume(string dir, string config, string output, int atIteration = 2)
    {
        string state = Path.Combine(dir, output, "active", "state.json");
        // a handshake, not polling: the loop writes the checkpoint of iteration i (state.json) at the end of iteration i - 1,
        // before it logs iteration i, so once the test has read the line of iteration atIteration the checkpoint shows at
        // least atIteration; the run is killed at once, while it works on the iteration after (each is seconds of work)
        using (var killed = CliProcess.StartHeld(dir, $"learn {config}"))
        {
            var iterationLine = new Regex(@"^learn\[\w+\] iteration (\d+):");
            while (true)
            {
                string? line = killed.ReadLine();
                // (the message only once it failed: reading stderr waits for the process to end)
                if (line is null) Assert.Fail("the run ended before it could be killed:\n" + killed.Output + killed.Error);
                var m = iterationLine.Match(line);
                if (m.Success && int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) >= atIteration) break;
            }
            killed.Kill();
        }
        int killedAt = (int)JsonNode.Parse(File.ReadAllText(state))!["iteration"]!;
        Assert.False((bool)JsonNode.Parse(File.ReadAllText(state))!["finished"]!);
        using (var resumed = CliProcess.Start(dir, $"learn {config} --resume"))
        {
            var e = resumed.StandardError.ReadToEndAsync();
            string o = resumed.StandardOutput.ReadToEnd();
            resumed.WaitForExit();
            Assert.True(resumed.ExitCode == 0, o + e.Result);
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
