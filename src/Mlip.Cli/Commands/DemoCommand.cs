using System.CommandLine;
using System.Globalization;
using Mlip.Training;

namespace Mlip.Cli.Commands;

/// <summary><c>mlip demo</c>: generate SW Si data, fit a quadratic SNAP-like model, test it, compare a0 and elastic constants (Mlip.Training.Demo).</summary>
public static class DemoCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var output = CommonOptions.Output("Output directory (data, config, model, metrics)", defaultValue: "demo-run");
        var quick = new Option<bool>("--quick") { Description = "A smaller data set and descriptor (under a minute)" };
        var seed = new Option<int>("--seed") { Description = "Seed of the data set and the train/test split", DefaultValueFactory = _ => 1 };
        var cmd = new Command("demo", "End to end: Stillinger-Weber Si data -> quadratic SNAP-like model -> errors -> a0 and elastic constants vs SW") { output, quick, seed };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var r = Demo.Run(new DemoOptions { Output = parse.GetValue(output)!, Quick = parse.GetValue(quick), Seed = parse.GetValue(seed) },
                stdout, new ProgressLine(stderr, "descriptors", "structures"));
            stdout.WriteLine();
            if (r.Training.TestErrors is { } t) ErrorTable.Write(stdout, "test set", t);
            stdout.WriteLine();
            string F(double v, string fmt) => v.ToString(fmt, CultureInfo.InvariantCulture);
            var rows = new List<string[]> { new[] { "diamond Si", "unit", r.ReferenceName, "model", "difference" } };
            foreach (var p in r.Properties)
                rows.Add([p.Name, p.Unit, F(p.Reference, p.Name == "a0" ? "F4" : "F1"), F(p.Model, p.Name == "a0" ? "F4" : "F1"), F(100 * p.RelativeError, "+0.00;-0.00;0.00") + " %"]);
            TextTable.Write(stdout, rows);
            stdout.WriteLine();
            stdout.WriteLine($"done in {F(r.Elapsed.TotalSeconds, "F1")} s; model {r.Training.ModelPath}, config {r.ConfigPath}");
            return 0;
        }));
        return cmd;
    }
}
