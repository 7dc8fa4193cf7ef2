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
        var model = new Argument<string>("model") { Description = "Model file (model.json, or LAMMPS SNAP: X.snapcoeff with X.snapparam beside it, or snap:COEFF,PARAM)" };
        var data = new Argument<string[]>("data") { Arity = ArgumentArity.OneOrMore, Description = "Structure files" };
        var output = new Option<string>("--output", "-o") { Description = "Output file (extxyz or any writable format)", Required = true };
        var format = new Option<string?>("--format", "-f") { Description = "Input format; default: from the file name" };
        var threads = new Option<int>("--threads", "-j") { Description = "Threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var uncertainty = new Option<bool>("--uncertainty", "-u") { Description = "Also the uncertainty: GPR variance (energy_std, force_std), a committee's spread (with --committee), or the D-optimality grade gamma of linear/quadratic models (with --training)" };
        var committee = new Option<string[]>("--committee") { Description = "With --uncertainty: more model files; the prediction is the committee's mean, the uncertainty its spread", AllowMultipleArgumentsPerToken = true };
        var training = new Option<string[]>("--training") { Description = "With --uncertainty for linear/quadratic models: the training data (its active set gives the extrapolation grade)", AllowMultipleArgumentsPerToken = true };
        var cmd = new Command("predict", "Predict energies, forces and stresses (and, with --uncertainty, how sure the model is)") { model, data, output, format, threads, uncertainty, committee, training };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var potential = ModelFile.Load(parse.GetValue(model)!);
            var structures = StructureIO.ReadAll(parse.GetValue(data)!, parse.GetValue(format), ValidationOptions.Default);
            int nThreads = Math.Max(1, parse.GetValue(threads));
            IUncertaintyEstimator? estimator = null;
            if (parse.GetValue(uncertainty))
            {
                var members = new List<ICalculator> { potential };
                foreach (var m in parse.GetValue(committee) ?? []) members.Add(ModelFile.Load(m));
                var train = parse.GetValue(training) is { Length: > 0 } t ? StructureIO.ReadAll(t, null, ValidationOptions.Default) : null;
                estimator = UncertaintyEstimators.For(members, train, nThreads);
            }
            else if (parse.GetValue(committee) is { Length: > 0 } || parse.GetValue(training) is { Length: > 0 })
                throw new MlipException("--committee and --training go with --uncertainty");
            var results = new Structure[structures.Count];
            var progress = new ProgressLine(stderr, "predict", "structures");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            int done = 0;
            Parallel.For(0, structures.Count, new ParallelOptions { MaxDegreeOfParallelism = nThreads }, i =>
            {
                var s = structures[i];
                var copy = s.Clone();
                if (s.Energy is double e) copy.Info["reference_energy"] = e;
                if (estimator is not null)
                {
                    var u = estimator.Estimate(s);
                    UncertaintyEstimators.Annotate(copy, u);
                    copy.Stress = null;
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
}
