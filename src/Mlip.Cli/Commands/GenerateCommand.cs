using System.CommandLine;
using Mlip.Calculators;
using Mlip.Data;
using Mlip.IO;

namespace Mlip.Cli.Commands;

/// <summary><c>mlip generate</c>: a labelled training set made with a classical potential (Mlip.Data.DatasetGenerator).</summary>
public static class GenerateCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var potential = new Option<string>("--potential", "-p") { Description = "Classical potential that labels the set: sw, tersoff, eam:FILE, ...", DefaultValueFactory = _ => "sw" };
        var element = new Option<string>("--element") { Description = "Element", DefaultValueFactory = _ => "Si" };
        var output = new Option<string>("--output", "-o") { Description = "Output file (any writable format; extended XYZ keeps config_type)", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of strains, rattles and MD", DefaultValueFactory = _ => 1 };
        var quick = new Option<bool>("--quick") { Description = "A smaller set (~50 structures)" };
        var target = new Option<string?>("--target") { Description = "olcao: the per-atom data set of Gaussian potential coefficients (docs/per-atom-targets.md) instead of the potential-fitting set" };
        var heldOut = new Option<string?>("--heldout") { Description = "With --target olcao: where the held-out amorphous cell goes (default: OUTPUT with .heldout before the extension)" };
        var terms = new Option<int>("--terms") { Description = "With --target olcao: number of exponents (geometric series 0.15 .. 1e6 bohr^-2)", DefaultValueFactory = _ => 16 };
        var cmd = new Command("generate", "Make a labelled training set with a classical potential: strained/rattled crystals, vacancy, surface, MD snapshots")
            { potential, element, output, seed, quick, target, heldOut, terms };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var calc = CalculatorSource.Open(null, parse.GetValue(potential));
            if (parse.GetValue(target) is { } t)
            {
                if (!t.Equals("olcao", StringComparison.OrdinalIgnoreCase)) throw new Mlip.Validation.MlipException($"unknown --target '{t}' (olcao)");
                var po = new PerAtomDatasetOptions { Element = parse.GetValue(element)!, Seed = parse.GetValue(seed), Terms = parse.GetValue(terms) };
                var (train, held) = PerAtomDatasetGenerator.Generate(calc, po, new Lines(stderr, "generate: "));
                string outPath = parse.GetValue(output)!;
                string heldPath = parse.GetValue(heldOut) ?? Path.ChangeExtension(outPath, ".heldout" + Path.GetExtension(outPath));
                StructureIO.Write(outPath, train);
                StructureIO.Write(heldPath, held);
                foreach (var g in train.Concat(held).GroupBy(s => s.Group))
                    stdout.WriteLine($"  {g.Key,-15} {g.Count(),4} structures, {g.Sum(s => s.Count),6} atoms");
                stdout.WriteLine($"wrote {train.Count} structures to {outPath} and the held-out amorphous cell to {heldPath}; per-atom target '{GaussianPotentialTarget.ArrayName}' ({po.Terms} Gaussian coefficients)");
                return 0;
            }
            var options = (parse.GetValue(quick) ? DatasetOptions.Quick : new DatasetOptions()) with { Element = parse.GetValue(element)!, Seed = parse.GetValue(seed) };
            var set = DatasetGenerator.Generate(calc, options, new Lines(stderr, "generate: "));
            string path = parse.GetValue(output)!;
            StructureIO.Write(path, set);
            foreach (var g in set.GroupBy(s => s.Group))
                stdout.WriteLine($"  {g.Key,-12} {g.Count(),4} structures, {g.Sum(s => s.Count),6} atoms");
            stdout.WriteLine($"wrote {set.Count} structures ({set.Sum(s => s.Count)} atoms) labelled by {calc.Name} to {path}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Progress messages written at once (System.Progress would post them to the thread pool).</summary>
    public sealed class Lines(TextWriter w, string prefix) : IProgress<string>
    {
        public void Report(string value) { lock (w) w.WriteLine(prefix + value); }
    }
}
