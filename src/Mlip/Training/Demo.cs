using System.Globalization;
using Mlip.Calculators;
using Mlip.Data;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Models;
using Mlip.Simulation;
using Mlip.Structures;

namespace Mlip.Training;

public sealed record DemoOptions
{
    public required string Output { get; init; }

    /// <summary>A smaller data set and descriptor (well under a minute).</summary>
    public bool Quick { get; init; }
    public int Seed { get; init; } = 1;
    public int Threads { get; init; } = Environment.ProcessorCount;
}

/// <summary>One row of the comparison: a property of diamond Si from the reference potential and from the trained model.</summary>
public sealed record DemoProperty(string Name, string Unit, double Reference, double Model)
{
    public double RelativeError => (Model - Reference) / Reference;
}

public sealed record DemoResult(TrainingOutcome Training, IReadOnlyList<DemoProperty> Properties, int TrainStructures, int TestStructures,
    string ReferenceName, string ConfigPath, TimeSpan Elapsed);

/// <summary>
/// The end-to-end demonstration: a Stillinger–Weber Si data set from <see cref="DatasetGenerator"/>
/// (split into training and test sets by seed), a quadratic SNAP-like model on the SO(4) bispectrum
/// fitted by <see cref="TrainingRun"/> from a config written into the output directory, its errors per
/// group, and the lattice constant and elastic constants of diamond Si from the model next to SW's own.
/// </summary>
public static class Demo
{
    public static DemoResult Run(DemoOptions o, TextWriter log, IProgress<WorkProgress>? progress = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Directory.CreateDirectory(o.Output);
        var sw = StillingerWeber.Silicon();
        var dataOptions = (o.Quick ? DatasetOptions.Quick : new DatasetOptions()) with { Seed = o.Seed };
        var all = DatasetGenerator.Generate(sw, dataOptions, new LogLines(log, "data: "));
        var (train, test) = DatasetGenerator.Split(all, 0.2, o.Seed + 1);
        string trainPath = Path.Combine(o.Output, "train.xyz"), testPath = Path.Combine(o.Output, "test.xyz");
        StructureIO.Write(trainPath, train);
        StructureIO.Write(testPath, test);
        log.WriteLine($"data: {train.Count} training and {test.Count} test structures written to {trainPath}, {testPath}");

        // SW's cutoff is 3.77 Å; the bispectrum's 4.7 Å sees the second-neighbour shell too.
        int twojmax = o.Quick ? 4 : 6;
        string configPath = Path.Combine(o.Output, "demo.yaml");
        File.WriteAllText(configPath, string.Create(CultureInfo.InvariantCulture, $"""
            # Written by `mlip demo`: a quadratic SNAP-like model of Stillinger-Weber Si.
            train: train.xyz
            test: test.xyz
            descriptor:
              type: so4
              parameters: {"{"}twojmax: {twojmax}, rcutfac: 4.7, rfac0: 0.99363{"}"}
            model:
              kind: quadratic
              ridge: 1.0e-8
            loss: {"{"}energy: 1.0, force: 0.05, stress: 0.001{"}"}
            seed: {o.Seed}
            threads: {o.Threads}
            output: model

            """));
        var config = TrainConfig.Load(configPath);
        var outcome = TrainingRun.Execute(config, log, progress);

        log.WriteLine("properties of diamond Si: relaxing and straining with SW and with the model...");
        var model = CalculatorSource.Open(outcome.ModelPath, null);
        var reference = Properties(sw);
        var fitted = Properties(model);
        var rows = new List<DemoProperty>
        {
            new("a0", "Å", reference.A0, fitted.A0),
            new("C11", "GPa", reference.E.C11, fitted.E.C11),
            new("C12", "GPa", reference.E.C12, fitted.E.C12),
            new("C44", "GPa", reference.E.C44, fitted.E.C44),
            new("B", "GPa", reference.E.BulkVoigt, fitted.E.BulkVoigt),
        };
        return new DemoResult(outcome, rows, train.Count, test.Count, sw.Name, configPath, clock.Elapsed);
    }

    /// <summary>Lattice constant (relaxed 8-atom cell) and cubic elastic constants (relaxed ions) of diamond Si.</summary>
    public static (double A0, ElasticResult E) Properties(ICalculator calculator)
    {
        double a0 = DatasetGenerator.DiamondLatticeConstant(calculator, "Si");
        var e = ElasticConstants.Compute(calculator, Crystals.Diamond("Si", a0), new ElasticOptions { RelaxReference = true, RelaxPositions = true });
        return (Math.Cbrt(e.ReferenceVolume), e);
    }

    private sealed class LogLines(TextWriter w, string prefix) : IProgress<string>
    {
        public void Report(string value) { lock (w) w.WriteLine(prefix + value); }
    }
}
