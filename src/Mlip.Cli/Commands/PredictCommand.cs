using System.CommandLine;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary><c>mlip predict MODEL DATA -o OUT.xyz</c>: energies, forces and stresses from a model, written as extxyz.</summary>
public static class PredictCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new Argument<string>("model") { Description = "Model file (model.json; LAMMPS SNAP: X.snapcoeff with X.snapparam beside it, or snap:COEFF,PARAM; LAMMPS ML-IAP: X.mliap.model with X.mliap.descriptor beside it, X.mliap, or mliap:MODEL,DESCRIPTOR)" };
        var data = new Argument<string[]>("data") { Arity = ArgumentArity.OneOrMore, Description = "Structure files" };
        var output = new Option<string>("--output", "-o") { Description = "Output file (extxyz or any writable format)", Required = true };
        var format = new Option<string?>("--format", "-f") { Description = "Input format; default: from the file name" };
        var threads = new Option<int>("--threads", "-j") { Description = "Threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var cmd = new Command("predict", "Predict energies, forces and stresses (and the variance, for models that have one)") { model, data, output, format, threads };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var potential = ModelFile.Load(parse.GetValue(model)!);
            var structures = StructureIO.ReadAll(parse.GetValue(data)!, parse.GetValue(format), ValidationOptions.Default);
            var results = new Structure[structures.Count];
            var progress = new ProgressLine(stderr, "predict", "structures");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            int done = 0;
            Parallel.For(0, structures.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parse.GetValue(threads)) }, i =>
            {
                var s = structures[i];
                var r = potential.Calculate(s, forces: true, stress: s.Pbc.AllPeriodic);
                var copy = s.Clone();
                if (s.Energy is double e) copy.Info["reference_energy"] = e;
                copy.Energy = r.Energy;
                copy.Forces = r.Forces;
                copy.Stress = r.Stress;
                if (r.AtomEnergies is { } ae) copy.AtomArrays["energies"] = new AtomArray(s.Count, 1, ae);
                if (r.EnergyVariance is double v) copy.Info["energy_variance"] = v;
                results[i] = copy;
                progress.Report(new Descriptors.WorkProgress(Interlocked.Increment(ref done), structures.Count, clock.Elapsed));
            });
            string outPath = parse.GetValue(output)!;
            StructureIO.Write(outPath, results);
            stdout.WriteLine($"wrote {results.Length} structure(s) with predicted energies, forces and stresses to {outPath}");
            return 0;
        }));
        return cmd;
    }
}
