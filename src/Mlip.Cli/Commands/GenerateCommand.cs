using System.CommandLine;
using System.Globalization;
using Mlip.Calculators;
using Mlip.Data;
using Mlip.Generation;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary>
/// <c>mlip generate</c>: a labelled training set made with a classical potential (Mlip.Data.DatasetGenerator),
/// or with <c>--random</c> random crystals of a chosen symmetry (Mlip.Generation.RandomCrystalGenerator).
/// </summary>
public static class GenerateCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var potential = CommonOptions.Potential(); // labels the set
        potential.DefaultValueFactory = _ => "sw";
        var element = new Option<string>("--element") { Description = "Element, or two as A,B for a zincblende AB set with rock salt and antisite pairs (e.g. Si,C with tersoff:SiC.tersoff)", DefaultValueFactory = _ => "Si" };
        var output = CommonOptions.Output("Output file (any writable format; extended XYZ keeps config_type)", required: true);
        var seed = new Option<int>("--seed") { Description = "Seed of strains, rattles and MD (or of the random crystals)", DefaultValueFactory = _ => 1 };
        var quick = new Option<bool>("--quick") { Description = "A smaller set (~50 structures)" };
        var target = new Option<string?>("--target") { Description = "olcao: the per-atom data set of Gaussian potential coefficients (docs/per-atom-targets.md) instead of the potential-fitting set" };
        var heldOut = new Option<string?>("--heldout") { Description = "With --target olcao: where the held-out amorphous cell goes (default: OUTPUT with .heldout before the extension)" };
        var terms = new Option<int>("--terms") { Description = "With --target olcao: number of exponents (geometric series 0.15 .. 1e6 bohr^-2)", DefaultValueFactory = _ => 16 };
        var random = new Option<bool>("--random") { Description = "Random symmetric crystals instead (with --composition, --spacegroup, --count)" };
        var composition = new Option<string?>("--composition") { Description = "With --random: atoms per cell, e.g. Si8 or Ga12As12 (default: 8 atoms of --element)" };
        var spacegroup = new Option<int>("--spacegroup") { Description = "With --random: space-group number 1-230; 0 picks a random group the composition fits", DefaultValueFactory = _ => 0 };
        var count = new Option<int>("--count", "-n") { Description = "With --random: number of crystals", DefaultValueFactory = _ => 10 };
        var volumeFactor = new Option<double>("--volume-factor") { Description = "With --random: cell volume = factor × Σ 4/3 π r_cov³", DefaultValueFactory = _ => new RandomCrystalOptions().VolumeFactor };
        var distance = new Option<double>("--min-distance-fraction") { Description = "With --random: reject atoms closer than this fraction of the sum of covalent radii", DefaultValueFactory = _ => new RandomCrystalOptions().DistanceFraction };
        var legacyDistance = CommonOptions.Legacy("--min-distance", distance);
        var label = new Option<bool>("--label") { Description = "With --random: label the crystals with --potential (otherwise they are written unlabelled)" };
        var cmd = new Command("generate", "Make a labelled training set with a classical potential (strained/rattled crystals, vacancy, surface, MD snapshots), the per-atom OLCAO data set (--target olcao), or random symmetric crystals (--random)")
            { potential, element, output, seed, quick, target, heldOut, terms, random, composition, spacegroup, count, volumeFactor, distance, legacyDistance, label };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            if (parse.GetValue(target) is { } t)
            {
                if (!t.Equals("olcao", StringComparison.OrdinalIgnoreCase)) throw new Mlip.Validation.MlipException($"unknown --target '{t}' (olcao)");
                var po = new PerAtomDatasetOptions { Element = parse.GetValue(element)!, Seed = parse.GetValue(seed), Terms = parse.GetValue(terms) };
                var (train, held) = PerAtomDatasetGenerator.Generate(CalculatorSource.Open(null, parse.GetValue(potential)), po, new Lines(stderr, "generate: "));
                string outPath = parse.GetValue(output)!;
                string heldPath = parse.GetValue(heldOut) ?? Path.ChangeExtension(outPath, ".heldout" + Path.GetExtension(outPath));
                StructureIO.Write(outPath, train);
                StructureIO.Write(heldPath, held);
                foreach (var g in train.Concat(held).GroupBy(s => s.Group))
                    stdout.WriteLine($"  {g.Key,-15} {g.Count(),4} structures, {g.Sum(s => s.Count),6} atoms");
                stdout.WriteLine($"wrote {train.Count} structures to {outPath} and the held-out amorphous cell to {heldPath}; per-atom target '{GaussianPotentialTarget.ArrayName}' ({po.Terms} Gaussian coefficients)");
                return 0;
            }
            string path = parse.GetValue(output)!;
            if (parse.GetValue(random))
            {
                var comp = Composition.Parse(parse.GetValue(composition) ?? parse.GetValue(element) + "8");
                var generator = new RandomCrystalGenerator(new RandomCrystalOptions { VolumeFactor = parse.GetValue(volumeFactor), DistanceFraction = CommonOptions.Value(parse, distance, legacyDistance) });
                var rng = new Random(parse.GetValue(seed));
                int group = parse.GetValue(spacegroup), n = parse.GetValue(count);
                if (group < 0 || group > 230) throw new MlipException($"--spacegroup {group}: expected 1-230, or 0 for a random group");
                ICalculator? calc = parse.GetValue(label) ? CalculatorSource.Open(null, parse.GetValue(potential)) : null;
                var list = new List<Structure>(n);
                for (int i = 0; i < n; i++)
                {
                    var crystal = group == 0 ? generator.GenerateAnyGroup(comp, rng) : generator.Generate(comp, group, rng);
                    var s = crystal.Structure;
                    if (calc is not null)
                    {
                        var r = calc.Calculate(s, forces: true, stress: true);
                        s.Energy = r.Energy; s.Forces = r.Forces; s.Stress = r.Stress;
                    }
                    string note = crystal.IsSupergroup ? $"  (atoms on special positions: spglib finds {crystal.DetectedSymbol}, No. {crystal.DetectedNumber}, a supergroup)" : "";
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  {i + 1,4} {comp} in {crystal.Requested}: {s.Info["wyckoff"]}, V = {s.Volume:F1} Å³{note}"));
                    list.Add(s);
                }
                StructureIO.Write(path, list);
                stdout.WriteLine($"wrote {list.Count} random crystals to {path}{(calc is null ? "" : $" labelled by {calc.Name}")}");
                return 0;
            }
            var potentialCalc = CalculatorSource.Open(null, parse.GetValue(potential));
            var options = (parse.GetValue(quick) ? DatasetOptions.Quick : new DatasetOptions()) with { Element = parse.GetValue(element)!, Seed = parse.GetValue(seed) };
            var set = DatasetGenerator.Generate(potentialCalc, options, new Lines(stderr, "generate: "));
            StructureIO.Write(path, set);
            foreach (var g in set.GroupBy(s => s.Group))
                stdout.WriteLine($"  {g.Key,-12} {g.Count(),4} structures, {g.Sum(s => s.Count),6} atoms");
            stdout.WriteLine($"wrote {set.Count} structures ({set.Sum(s => s.Count)} atoms) labelled by {potentialCalc.Name} to {path}");
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
