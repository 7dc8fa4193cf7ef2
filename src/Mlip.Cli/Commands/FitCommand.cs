using System.CommandLine;
using System.Globalization;
using Mlip.AutoFit;
using Mlip.IO;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary>
/// <c>mlip fit TRAIN [--test TEST] [--budget MINUTES] [-o DIR] [--seed S] [-j N] [--config FILE] [--dry-run] [--resume] [--memory GB]</c>:
/// the automatic fit (docs/fit.md). The search lives in Mlip.AutoFit; this verb reads the arguments and prints.
/// </summary>
public static class FitCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var train = new Argument<string[]>("train") { Arity = ArgumentArity.ZeroOrMore, Description = "Training structure files (energies, forces, stresses where present)" };
        var test = new Option<string[]>("--test") { Description = "Test structure files: evaluated once at the end, never used in a choice", AllowMultipleArgumentsPerToken = true };
        var budget = new Option<double?>("--budget") { Description = "Wall-clock budget of the whole command in minutes (default 30, or search.budget of the config)" };
        var output = CommonOptions.Output("Run directory: model.json, report.json, report.html, pareto.png, parity plots (default: fit)");
        var seed = new Option<int>("--seed") { Description = "Seed of the validation split", DefaultValueFactory = _ => 1 };
        var threads = CommonOptions.Threads();
        var config = new Option<string?>("--config") { Description = "Optional YAML config: train, test, format, seed, threads, output and a search: section (mlip config --schema)" };
        var format = CommonOptions.InputFormat();
        var dryRun = new Option<bool>("--dry-run") { Description = "List the bases of the search with their size and estimated cost, and stop" };
        var resume = new Option<bool>("--resume") { Description = "Continue a killed run from the checkpoint in the output directory" };
        var memoryLimit = new Option<double?>("--memory") { Description = "Memory limit in GB: bases whose estimated peak passes it are skipped, and the fit refuses to start when the smallest does (default: search.memory, else the machine's available memory)" };
        var cmd = new Command("fit", "Fit a potential with no settings: choose the model family, basis and hyperparameters on validation error within a time budget")
        {
            train, test, budget, output, seed, threads, config, format, dryRun, resume, memoryLimit,
        };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var c = parse.GetValue(config) is { } path ? FitConfig.Load(path) : new FitConfig();
            var trainFiles = parse.GetValue(train) is { Length: > 0 } t ? t : c.Train.ToArray();
            if (trainFiles.Length == 0) throw new MlipException("mlip fit needs training data: mlip fit TRAIN [--test TEST] (or train: in --config)");
            var testFiles = parse.GetValue(test) is { Length: > 0 } te ? te : c.Test.ToArray();
            var search = c.Search;
            if (parse.GetValue(budget) is double b)
            {
                if (!(b > 0)) throw new MlipException($"--budget must be a positive number of minutes, got {b.ToString(CultureInfo.InvariantCulture)}");
                search = search with { Budget = b };
            }
            if (parse.GetValue(memoryLimit) is double gb)
            {
                if (!(gb > 0)) throw new MlipException($"--memory must be a positive number of GB, got {gb.ToString(CultureInfo.InvariantCulture)}");
                search = search with { Memory = gb };
            }
            // an option given on the command line wins over the config, the config over the option's default
            int nThreads = parse.GetResult(threads) is { Implicit: false } ? parse.GetValue(threads) : c.Threads ?? parse.GetValue(threads);
            if (nThreads < 1) throw new MlipException($"--threads must be at least 1, got {nThreads}");
            int s = parse.GetResult(seed) is { Implicit: false } ? parse.GetValue(seed) : c.Seed ?? parse.GetValue(seed);
            string outDir = parse.GetValue(output) ?? c.Output ?? "fit";
            string? inFormat = parse.GetValue(format) ?? c.Format;
            var world = Mlip.Distributed.Communicator.World;
            var validation = ValidationOptions.Default with { RequireEnergy = true };
            var trainSet = StructureIO.ReadAll(trainFiles, inFormat, validation);
            var testSet = testFiles.Length > 0 ? StructureIO.ReadAll(testFiles, inFormat, ValidationOptions.Default) : [];
            var fingerprint = string.Join("|", trainFiles.Select(Path.GetFullPath)) + $"|{trainSet.Count}|{trainSet.Sum(x => x.Count)}|seed {s}|threads {nThreads}|" +
                System.Text.Json.JsonSerializer.Serialize(search with { Budget = 0, Memory = 0 });
            var options = new FitOptions
            {
                Train = trainSet, Test = testSet, Output = outDir, Search = search, Seed = s, Threads = nThreads,
                Resume = parse.GetValue(resume), Fingerprint = fingerprint, Log = stdout, Progress = stderr, Communicator = world,
            };
            var fit = new FitSearch(options);
            if (!world.IsRoot)
            {
                // under mpirun: this rank builds its share of each basis's blocks for rank 0, which searches, chooses and writes
                if (!parse.GetValue(dryRun)) fit.Serve();
                if (!parse.GetValue(dryRun)) world.Barrier();
                return 0;
            }
            if (world.Size > 1 && !parse.GetValue(dryRun))
                stdout.WriteLine($"mpi: {world.Size} ranks; each builds the normal-equation blocks of its share of the training structures, rank 0 adds them (in rank order), searches and writes");
            if (parse.GetValue(dryRun))
            {
                stdout.WriteLine($"mlip fit --dry-run: {trainSet.Count} training structures, {(fit.Folds.IsCrossValidation ? $"{fit.Folds.Count}-fold cross-validation" : "hold-out validation")}, budget {search.Budget.ToString("G4", CultureInfo.InvariantCulture)} min");
                stdout.WriteLine("bases in the order tried (the ladder, its cut-off neighbours and the so4 bases are shown at the middle cut-off; the run moves the cut-off to the best on each level):");
                var rows = new List<string[]> { new[] { "basis", "family", "columns", "estimated s", "peak memory GB", "blocks", "validation rows", "in flight", "solves", "memory" } };
                double total = 0;
                foreach (var basis in fit.PlanForDryRun())
                {
                    var (sec, cols, memory) = fit.Estimate(basis);
                    total += sec;
                    static string G(long b) => (b / 1e9).ToString("F2", CultureInfo.InvariantCulture);
                    rows.Add([basis.Label, basis.Family, cols.ToString(CultureInfo.InvariantCulture), sec.ToString("F0", CultureInfo.InvariantCulture),
                        G(memory.Peak), G(memory.Blocks), G(memory.ValidationRows), G(memory.InFlight + memory.Garbage), G(memory.Solves), memory.Peak > fit.MemoryLimitBytes ? "skipped" : ""]);
                }
                TextTable.Write(stdout, rows);
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"all bases: ~{total / 60:F1} min; those that do not fit in the budget are skipped, cheapest first"));
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peak memory: the process and its data ({FitMemory.ProcessBytes(trainSet, testSet) / 1e9:F2} GB) with the blocks and validation rows and the structures in flight with the garbage between collections (the build) or the solves (the search), whichever is larger; a basis over the {fit.MemoryLimitBytes / 1e9:F1} GB limit ({FitMemory.LimitSource(search.Memory)}) is skipped (the search keeps no earlier basis's blocks, only the best model)"));
                return 0;
            }
            var outcome = fit.Run(new ProgressLine(stderr, "descriptors", "structures"));
            stdout.WriteLine();
            stdout.WriteLine($"chosen: {outcome.Chosen.Basis.Label}, {outcome.Chosen.Hyper}");
            if (outcome.Chosen.Errors is { } v) ErrorTable.Write(stdout, "validation (the choice)", new Training.Evaluation { Comparisons = [], Overall = v.Overall, Groups = v.Groups });
            stdout.WriteLine();
            ErrorTable.Write(stdout, "training set", outcome.TrainErrors);
            if (outcome.TestErrors is { } tt) { stdout.WriteLine(); ErrorTable.Write(stdout, "test set (evaluated once, after the choice)", tt); }
            if (outcome.TrainErrors.Comparisons.SelectMany(x => x.Structure.AtomicNumbers).Distinct().Count() > 1)
            {
                stdout.WriteLine();
                stdout.WriteLine("force errors by element:");
                var rows = new List<string[]> { new[] { "set", "element", "atoms", "F MAE (eV/Å)", "F RMSE" } };
                foreach (var (name, ev) in new[] { ("training", outcome.TrainErrors), ("test", outcome.TestErrors) })
                    if (ev is not null)
                        foreach (var (el, atoms, mae, rmse) in FitReport.PerElement(ev))
                            rows.Add([name, el, atoms.ToString(CultureInfo.InvariantCulture), mae.ToString("F4", CultureInfo.InvariantCulture), rmse.ToString("F4", CultureInfo.InvariantCulture)]);
                TextTable.Write(stdout, rows);
                stdout.WriteLine();
                stdout.WriteLine($"errors by bonded element pair (bond: distance <= {ElementPairErrors.ShellFactor.ToString("G3", CultureInfo.InvariantCulture)} x the nearer nearest-neighbour distance; E over structures with such a bond, F over atoms in one; groups overlap):");
                var pairRows = new List<string[]> { new[] { "set", "pair", "structures", "E MAE (meV/atom)", "atoms", "F MAE (eV/Å)", "F RMSE" } };
                static string N(double? v, string f) => v is double x ? x.ToString(f, CultureInfo.InvariantCulture) : "-";
                foreach (var (name, ev) in new[] { ("training", outcome.TrainErrors), ("test", outcome.TestErrors) })
                    if (ev is not null)
                        foreach (var r in ElementPairErrors.Of(ev))
                            pairRows.Add([name, r.Pair, r.Structures.ToString(CultureInfo.InvariantCulture), N(r.EnergyMaeMevPerAtom, "F2"), r.Atoms.ToString(CultureInfo.InvariantCulture), N(r.ForceMaeEvPerA, "F4"), N(r.ForceRmseEvPerA, "F4")]);
                TextTable.Write(stdout, pairRows);
            }
            stdout.WriteLine();
            stdout.WriteLine($"wrote {outcome.ModelPath}, report.json, report.html, pareto.png, parity_energy.png, parity_forces.png in {outDir}");
            world.Barrier(); // the serving ranks sleep in it until rank 0 is done
            return 0;
        }));
        return cmd;
    }
}
