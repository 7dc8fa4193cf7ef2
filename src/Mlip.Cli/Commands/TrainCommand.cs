using System.CommandLine;
using System.Globalization;
using Mlip.Distributed;
using Mlip.Training;

namespace Mlip.Cli.Commands;

/// <summary><c>mlip train CONFIG.yaml</c>: fit a potential as the config says; writes model.json, metrics.json and plots.</summary>
public static class TrainCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var config = new Argument<string>("config") { Description = "Training config (YAML): data, descriptor, model, loss weights, output directory" };
        var resume = new Option<bool>("--resume") { Description = "Continue a neural-network training from the checkpoint in the output directory" };
        var cmd = new Command("train", "Fit a potential (linear, quadratic, nn, gpr) to energies, forces and stresses") { config, resume };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var c = TrainConfig.Load(parse.GetValue(config)!);
            if (c.PerAtomTarget is not null)
            {
                if (Communicator.World.Size > 1) throw new Mlip.Validation.MlipException($"{c.SourcePath}: a per-atom target does not split over MPI ranks yet; run it without mpirun");
                var pa = PerAtomTrainingRun.Execute(c, stdout, new ProgressLine(stderr, "descriptors", "structures"));
                stdout.WriteLine();
                PerAtomTable.Write(stdout, "training set", pa.TrainErrors);
                if (pa.TestErrors is { } pt) { stdout.WriteLine(); PerAtomTable.Write(stdout, "test set", pt); }
                stdout.WriteLine();
                stdout.WriteLine($"wrote {pa.ModelPath}, metrics.json and parity_{c.PerAtomTarget}_NN.png (one per component) in {c.Output}");
                return 0;
            }
            var outcome = TrainingRun.Execute(c, stdout, new ProgressLine(stderr, "descriptors", "structures"), parse.GetValue(resume), Communicator.World);
            stdout.WriteLine();
            ErrorTable.Write(stdout, "training set", outcome.TrainErrors);
            if (outcome.TestErrors is { } t) { stdout.WriteLine(); ErrorTable.Write(stdout, "test set", t); }
            stdout.WriteLine();
            stdout.WriteLine($"wrote {outcome.ModelPath}, metrics.json, parity_energy.png and parity_forces.png in {c.Output}");
            return 0;
        }));
        return cmd;
    }
}

/// <summary>Error tables: overall and per group, energy in meV/atom, forces in eV/Å, stress in GPa.</summary>
public static class ErrorTable
{
    public static void Write(TextWriter o, string title, Evaluation e)
    {
        o.WriteLine(title + ":");
        var rows = new List<string[]> { new[] { "group", "structures", "E MAE (meV/atom)", "E RMSE", "F MAE (eV/Å)", "F RMSE", "S MAE (GPa)" } };
        foreach (var (g, m) in e.Groups) rows.Add(Row(g, m));
        rows.Add(Row("all", e.Overall));
        TextTable.Write(o, rows);
    }

    private static string[] Row(string name, ErrorMetrics m)
    {
        static string F(double? v, string fmt) => v is double x ? x.ToString(fmt, CultureInfo.InvariantCulture) : "-";
        return [name, m.Structures.ToString(CultureInfo.InvariantCulture), F(m.EnergyMaeMevPerAtom, "F2"), F(m.EnergyRmseMevPerAtom, "F2"),
            F(m.ForceMaeEvPerA, "F4"), F(m.ForceRmseEvPerA, "F4"), F(m.StressMaeGpa, "F3")];
    }
}

/// <summary>Per-atom target errors: one row per component (MAE, RMSE, R², spread of the reference), then the reconstructed V_B(r) error.</summary>
public static class PerAtomTable
{
    public static void Write(TextWriter o, string title, PerAtomEvaluation e)
    {
        o.WriteLine($"{title} ({e.Atoms} atoms):");
        var rows = new List<string[]> { new[] { "component", "MAE", "RMSE", "R^2", "reference std" } };
        foreach (var c in e.Components)
            rows.Add([c.Component.ToString(CultureInfo.InvariantCulture), c.Mae.ToString("G4", CultureInfo.InvariantCulture), c.Rmse.ToString("G4", CultureInfo.InvariantCulture),
                c.R2.ToString("F5", CultureInfo.InvariantCulture), c.ReferenceStd.ToString("G4", CultureInfo.InvariantCulture)]);
        TextTable.Write(o, rows);
        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"R^2: min {e.MinR2:F5}, mean {e.MeanR2:F5}"));
        if (e.MeanRelativeL2 is double m)
            o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"reconstructed V_B(r), relative L2 error per atom: mean {100 * m:F3} %, max {100 * e.MaxRelativeL2:F3} %"));
    }
}
