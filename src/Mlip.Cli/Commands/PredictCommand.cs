using System.CommandLine;
using System.Globalization;
using Mlip.Calculators;
using Mlip.IO;
using Mlip.Models;
using Mlip.Models.Uncertainty;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary>
/// <c>mlip predict MODEL DATA -o OUT.xyz</c>: energies, forces and stresses from a model, written as extxyz;
/// with <c>--uncertainty</c> also the model's uncertainty (Mlip.Models.Uncertainty).
/// </summary>
public static class PredictCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new Argument<string>("model") { Description = "Model file (model.json; LAMMPS SNAP: X.snapcoeff with X.snapparam beside it, or snap:COEFF,PARAM; LAMMPS ML-IAP: X.mliap.model with X.mliap.descriptor beside it, X.mliap, or mliap:MODEL,DESCRIPTOR)" };
        var data = new Argument<string[]>("data") { Arity = ArgumentArity.OneOrMore, Description = "Structure files" };
        var output = new Option<string>("--output", "-o") { Description = "Output file (extxyz or any writable format)", Required = true };
        var format = new Option<string?>("--format", "-f") { Description = "Input format; default: from the file name" };
        var threads = new Option<int>("--threads", "-j") { Description = "Threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var olcao = new Option<string?>("--olcao") { Description = "Per-atom models of Gaussian coefficients: also write OLCAO potential files (one potential type per atom; PATH for one structure, PATH.K for several)" };
        var uncertainty = new Option<bool>("--uncertainty", "-u") { Description = "Also the uncertainty: GPR variance (energy_std, force_std), a committee's spread (with --committee), or the D-optimality grade gamma of linear/quadratic models (with --training)" };
        var committee = new Option<string[]>("--committee") { Description = "With --uncertainty: more model files; the prediction is the committee's mean, the uncertainty its spread", AllowMultipleArgumentsPerToken = true };
        var training = new Option<string[]>("--training") { Description = "With --uncertainty for linear/quadratic models: the training data (its active set gives the extrapolation grade)", AllowMultipleArgumentsPerToken = true };
        var activeSet = new Option<string?>("--active-set") { Description = "With --uncertainty for ACE models: the active set (.asi from `mlip activeset`); default MODEL.asi beside an .ace/.yace when present" };
        var grade = new Option<string>("--grade") { Description = "With --uncertainty and --training for ACE models: linear (B-projections, pacemaker's default) or full (dE/dc of every density)", DefaultValueFactory = _ => "linear" };
        var cmd = new Command("predict", "Predict energies, forces and stresses (and, with --uncertainty, how sure the model is), or per-atom targets") { model, data, output, format, threads, olcao, uncertainty, committee, training, activeSet, grade };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            string modelPath = parse.GetValue(model)!;
            if (PerAtomModelFile.IsPerAtom(modelPath))
                return PredictPerAtom(stdout, stderr, PerAtomModelFile.Load(modelPath), StructureIO.ReadAll(parse.GetValue(data)!, parse.GetValue(format), ValidationOptions.Default),
                    parse.GetValue(output)!, parse.GetValue(olcao), parse.GetValue(threads));
            if (parse.GetValue(olcao) is not null) throw new MlipException("--olcao needs a per-atom model of Gaussian coefficients");
            var potential = ModelFile.Load(modelPath);
            var structures = StructureIO.ReadAll(parse.GetValue(data)!, parse.GetValue(format), ValidationOptions.Default);
            int nThreads = Math.Max(1, parse.GetValue(threads));
            IUncertaintyEstimator? estimator = null;
            if (parse.GetValue(uncertainty))
            {
                var members = new List<ICalculator> { potential };
                foreach (var m in parse.GetValue(committee) ?? []) members.Add(ModelFile.Load(m));
                var train = parse.GetValue(training) is { Length: > 0 } t ? StructureIO.ReadAll(t, null, ValidationOptions.Default) : null;
                string? asi = parse.GetValue(activeSet);
                if (asi is null && train is null && Models.Ace.AcePotential.IsAcePath(modelPath) && File.Exists(Path.ChangeExtension(modelPath, ".asi")))
                    asi = Path.ChangeExtension(modelPath, ".asi");
                estimator = UncertaintyEstimators.For(members, train, nThreads, true, asi, ActiveSetCommand.ParseGrade(parse.GetValue(grade)!));
                estimator.IncludeStress = true;
            }
            else if (parse.GetValue(committee) is { Length: > 0 } || parse.GetValue(training) is { Length: > 0 } || parse.GetValue(activeSet) is not null)
                throw new MlipException("--committee, --training and --active-set go with --uncertainty");
            var results = new Structure[structures.Count];
            var progress = new ProgressLine(stderr, "predict", "structures");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            int done = 0;
            MlipParallel.For(0, structures.Count, new ParallelOptions { MaxDegreeOfParallelism = nThreads }, i =>
            {
                var s = structures[i];
                var copy = s.Clone();
                if (s.Energy is double e) copy.Info["reference_energy"] = e;
                if (estimator is not null)
                {
                    var u = estimator.Estimate(s);
                    UncertaintyEstimators.Annotate(copy, u);
                }
                else
                {
                    var r = potential.Calculate(s, forces: true, stress: s.Pbc.AllPeriodic);
                    copy.Energy = r.Energy;
                    copy.Forces = r.Forces;
                    copy.Stress = r.Stress;
                    if (r.AtomEnergies is { } ae) copy.AtomArrays["energies"] = new AtomArray(s.Count, 1, ae);
                    if (r.EnergyVariance is double v) copy.Info["energy_variance"] = v;
                }
                results[i] = copy;
                progress.Report(new Descriptors.WorkProgress(Interlocked.Increment(ref done), structures.Count, clock.Elapsed));
            });
            string outPath = parse.GetValue(output)!;
            StructureIO.Write(outPath, results);
            if (estimator is not null)
            {
                var scores = results.Select(r => (double)r.Info["uncertainty"]).ToArray();
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"uncertainty ({estimator.Kind}, {estimator.ScoreName}): mean {scores.Average():G4}, max {scores.Max():G4} (structure {Array.IndexOf(scores, scores.Max())})"));
            }
            stdout.WriteLine($"wrote {results.Length} structure(s) with predicted energies, forces and stresses{(estimator is null ? "" : " and uncertainties")} to {outPath}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Predicted per-atom arrays under the target's name (a reference array of that name is kept as reference_NAME); OLCAO files on request.</summary>
    private static int PredictPerAtom(TextWriter stdout, TextWriter stderr, PerAtomPredictor predictor, IReadOnlyList<Structure> structures, string outPath, string? olcaoPath, int threads)
    {
        var results = new Structure[structures.Count];
        var progress = new ProgressLine(stderr, "predict", "structures");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int done = 0;
        MlipParallel.For(0, structures.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, i =>
        {
            var s = structures[i];
            var y = predictor.Predict(s);
            var copy = s.Clone();
            if (copy.AtomArrays.Remove(predictor.TargetName, out var reference)) copy.AtomArrays["reference_" + predictor.TargetName] = reference;
            copy.AtomArrays[predictor.TargetName] = new AtomArray(s.Count, predictor.Outputs, y);
            if (predictor.Alphas is { } a) copy.Info[Data.GaussianPotentialTarget.AlphasKey] = (double[])a.Clone();
            results[i] = copy;
            progress.Report(new Descriptors.WorkProgress(Interlocked.Increment(ref done), structures.Count, clock.Elapsed));
        });
        StructureIO.Write(outPath, results);
        stdout.WriteLine($"wrote {results.Length} structure(s) with predicted '{predictor.TargetName}' ({predictor.Outputs} per atom) to {outPath}");
        if (olcaoPath is not null)
        {
            var alphas = predictor.Alphas ?? throw new MlipException("--olcao: the model's target has no Gaussian exponents (alphas)");
            for (int i = 0; i < results.Length; i++)
            {
                string path = results.Length == 1 ? olcaoPath : $"{olcaoPath}.{i}";
                Interop.OlcaoPotentialFile.Write(path, Interop.OlcaoPotentialFile.TypesPerAtom(results[i], predictor.TargetName, alphas));
                stdout.WriteLine($"wrote {path}: {results[i].Count} potential types (one per atom), {alphas.Length} terms each");
            }
        }
        return 0;
    }
}
