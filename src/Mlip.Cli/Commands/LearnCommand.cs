using System.CommandLine;
using Mlip.ActiveLearning;
using Mlip.Calculators;
using Mlip.Models;

namespace Mlip.Cli.Commands;

/// <summary><c>mlip learn CONFIG.yaml</c>: the active-learning loop (Mlip.ActiveLearning), and the random-selection baseline when asked.</summary>
public static class LearnCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var config = new Argument<string>("config") { Description = "Active-learning config (YAML; see examples/learn-sw-si.yaml, docs/active-learning.md)" };
        var resume = new Option<bool>("--resume") { Description = "Continue from the last checkpoint in the output folder" };
        var cmd = new Command("learn", "Build a training set by active learning: train, explore, score by uncertainty, label a diverse batch with the reference, repeat") { config, resume };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var c = LearnConfig.Load(parse.GetValue(config)!);
            Directory.CreateDirectory(c.Output);
            ICalculator? calc = c.ReferencePotential is null ? null : CalculatorSource.Open(null, c.ReferencePotential);
            IReferenceMethod reference = calc is not null ? new CalculatorReference(calc)
                : c.IpiAddress is not null ? new IpiReference(c.IpiAddress, c.CommandTimeoutSeconds, Path.Combine(c.Output, "reference"), c.IpiReconnect, c.IpiStress, stdout)
                : new CommandReference(c.Command!, Path.Combine(c.Output, "reference"), c.CommandInput, c.CommandOutput, c.CommandTimeoutSeconds,
                    c.ReferenceJobs, c.ReferenceSubmit, c.ReferenceDone, c.ReferencePoll);
            using var disposeReference = reference as IDisposable;
            var validation = ActiveLearningLoop.ValidationSet(c, calc, reference, stdout);
            var loop = new ActiveLearningLoop(c, reference, stdout);
            bool r = parse.GetValue(resume);
            var active = loop.Run(SelectionMode.Active, validation, r);
            var random = c.CompareRandom ? loop.Run(SelectionMode.Random, validation, r) : null;
            LearningReport.Write(c.Output, c.UncertaintyName, active, random);
            stdout.WriteLine(LearningReport.Summary(active, random));
            stdout.WriteLine($"wrote {Path.Combine(c.Output, "active", "labelled.xyz")}, the model ({(c.Committee > 1 ? $"model-1 … model-{c.Committee}" : "model")}.{(c.ModelSettings is Mlip.Training.AceSettings { Embedding: "fs" } ? "yace" : "json")}), report.json and learning_curve.png in {c.Output}");
            return 0;
        }));
        return cmd;
    }
}
