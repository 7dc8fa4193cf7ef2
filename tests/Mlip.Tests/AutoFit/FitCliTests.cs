using System.Diagnostics;
using System.Text.Json.Nodes;
using Mlip.IO;
using Mlip.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Mlip.Tests.AutoFit;

/// <summary>mlip fit as a user runs it: killed and resumed, --dry-run, and report.html in a real headless browser.</summary>
public class FitCliTests(ITestOutputHelper output)
{
    private static string Prepare()
    {
        string dir = TestPaths.TempDir();
        StructureIO.Write(Path.Combine(dir, "train.xyz"), FitTestData.Silicon(0, 30));
        StructureIO.Write(Path.Combine(dir, "test.xyz"), FitTestData.Silicon(100, 6));
        File.WriteAllText(Path.Combine(dir, "fit.yaml"), """
            seed: 3
            threads: 1
            search:
              budget: 20
              families: [ace, quadratic]
              cutoffs: [4.0, 4.5]
              ace_levels: 2
              twojmax: [2, 4]
              ridges: [1e-10, 1e-8, 1e-6]
              force_weights: [0.01, 0.1, 1]
              stress_weights: [0, 1e-4]
              smoothness: [0, 2]
              sweeps: 1
              fs_iterations: 4
            """);
        return dir;
    }

    [Fact]
    public void AKilledFitResumesFromItsCheckpointToTheSameModel()
    {
        string dir = Prepare();
        // uninterrupted reference
        var full = CliProcess.Start(dir, "fit train.xyz --test test.xyz --config fit.yaml -o full");
        string fullOut = full.StandardOutput.ReadToEnd();
        full.WaitForExit();
        Assert.True(full.ExitCode == 0, fullOut + full.StandardError.ReadToEnd());
        // killed after its first basis was checkpointed (the line comes after the checkpoint is written)
        using (var held = CliProcess.StartHeld(dir, "fit train.xyz --test test.xyz --config fit.yaml -o run"))
        {
            string? line;
            while ((line = held.ReadLine()) is not null && !line.Contains(": best ", StringComparison.Ordinal)) { }
            Assert.NotNull(line);
            held.Kill();
        }
        Assert.True(File.Exists(Path.Combine(dir, "run", "fit-checkpoint.json")));
        Assert.False(File.Exists(Path.Combine(dir, "run", "model.json")));
        var resumed = CliProcess.Start(dir, "fit train.xyz --test test.xyz --config fit.yaml -o run --resume");
        string resumedOut = resumed.StandardOutput.ReadToEnd();
        resumed.WaitForExit();
        output.WriteLine(resumedOut);
        Assert.True(resumed.ExitCode == 0, resumedOut + resumed.StandardError.ReadToEnd());
        Assert.Contains("from the checkpoint", resumedOut);
        var a = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "full", "report.json")))!;
        var b = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "run", "report.json")))!;
        Assert.Equal(a["chosen"]!["basis"]!.ToJsonString(), b["chosen"]!["basis"]!.ToJsonString());
        Assert.Equal(a["chosen"]!["hyperparameters"]!.ToJsonString(), b["chosen"]!["hyperparameters"]!.ToJsonString());
        Assert.Equal(a["candidates"]!.AsArray().Count, b["candidates"]!.AsArray().Count);
        // the model written: model.json (a linear model) or model.yace (the FS stage's PACE model), the same in both runs
        if (File.Exists(Path.Combine(dir, "full", "model.json")))
        {
            string ma = File.ReadAllText(Path.Combine(dir, "full", "model.json")), mb = File.ReadAllText(Path.Combine(dir, "run", "model.json"));
            Assert.Equal(JsonNode.Parse(ma)!["model"]!.ToJsonString(), JsonNode.Parse(mb)!["model"]!.ToJsonString());
        }
        else Assert.Equal(File.ReadAllText(Path.Combine(dir, "full", "model.yace")), File.ReadAllText(Path.Combine(dir, "run", "model.yace")));
        Assert.Contains(b["candidates"]!.AsArray(), c => c!["family"]!.GetValue<string>() == "fs-ace");
    }

    [Fact]
    public void DryRunListsTheBasesWithCostEstimatesAndWritesNothing()
    {
        string dir = Prepare();
        var p = CliProcess.Start(dir, "fit train.xyz --config fit.yaml -o dry --dry-run");
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        output.WriteLine(stdout);
        Assert.Equal(0, p.ExitCode);
        foreach (var label in new[] { "ace L0 rc 4", "ace L0 rc 4.5", "ace L1", "fs-ace L0 over ace L1", "quadratic so4 2J 2", "quadratic so4 2J 4", "estimated s" })
            Assert.Contains(label, stdout);
        Assert.False(File.Exists(Path.Combine(dir, "dry", "model.json")));
    }

    [Fact]
    public async Task ReportHtmlLoadsInHeadlessChromiumAndShowsItsFigures()
    {
        string dir = Prepare();
        var fit = CliProcess.Start(dir, "fit train.xyz --test test.xyz --config fit.yaml -o out");
        string stdout = fit.StandardOutput.ReadToEnd();
        fit.WaitForExit();
        Assert.True(fit.ExitCode == 0, stdout + fit.StandardError.ReadToEnd());
        string chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists)
            ?? throw new Xunit.Sdk.XunitException("chromium is not installed: run .ci/setup.sh (apt-get install chromium)");
        string html = Path.Combine(dir, "out", "report.html");
        string shot = Path.Combine(dir, "out", "shot.png");
        var psi = new ProcessStartInfo(chromium) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000", "--dump-dom", "file://" + html })
            psi.ArgumentList.Add(a);
        using var browser = Process.Start(psi)!;
        var errTask = browser.StandardError.ReadToEndAsync();
        string dom = await browser.StandardOutput.ReadToEndAsync();
        string err = await errTask;
        await browser.WaitForExitAsync();
        output.WriteLine(dom.Length > 400 ? dom[..400] : dom);
        Assert.True(browser.ExitCode == 0, err);
        Assert.Contains("data-figures-loaded=\"3\"", dom); // all three figures decoded in the browser
        Assert.Contains("Chosen model", dom);
        Assert.Contains("Test set (evaluated once", dom);
        // and a screenshot of the page is not blank
        var psi2 = new ProcessStartInfo(chromium) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,1600", "--screenshot=" + shot, "file://" + html })
            psi2.ArgumentList.Add(a);
        using var b2 = Process.Start(psi2)!;
        var e2 = b2.StandardError.ReadToEndAsync();
        await b2.StandardOutput.ReadToEndAsync();
        string err2 = await e2;
        await b2.WaitForExitAsync();
        Assert.True(File.Exists(shot) && new FileInfo(shot).Length > 20_000, "no screenshot: " + err2);
    }
}
