using System.CommandLine;
using System.Globalization;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary><c>mlip build LATTICE ELEMENT A</c>: a crystal (supercell, strain, rattles) for quick tests.</summary>
public static class BuildCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var lattice = new Argument<string>("lattice") { Description = "diamond, fcc, bcc or sc" };
        var element = new Argument<string>("element") { Description = "Element symbol, e.g. Si" };
        var a = new Argument<double>("a") { Description = "Cubic lattice constant (Å)" };
        var output = CommonOptions.Output("File to write", required: true);
        var repeat = new Option<int[]>("--supercell") { Description = "Repeats along a b c", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => [1, 1, 1] };
        var rattle = new Option<double>("--rattle") { Description = "Uniform random displacement amplitude (Å)" };
        var count = new Option<int>("--count", "-n") { Description = "Number of rattled copies", DefaultValueFactory = _ => 1 };
        var seed = new Option<int>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 1 };
        var strain = new Option<double>("--volumetric-strain") { Description = "Isotropic linear strain applied to cell and positions (e.g. 0.01)" };
        var cmd = new Command("build", "Build a cubic crystal (diamond, fcc, bcc, sc) as a supercell, optionally strained and rattled")
        {
            lattice, element, a, output, repeat, rattle, count, seed, strain,
        };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            string sym = parse.GetValue(element)!;
            double lat = parse.GetValue(a);
            if (!(lat > 0)) throw new MlipException("the lattice constant must be positive");
            if (!Elements.TryNumber(sym, out _)) throw new UnknownElementException(new InputLocation(), sym);
            var unit = parse.GetValue(lattice)!.ToLowerInvariant() switch
            {
                "diamond" => Crystals.Diamond(sym, lat),
                "fcc" => Crystals.Fcc(sym, lat),
                "bcc" => Crystals.Bcc(sym, lat),
                "sc" => Crystals.SimpleCubic(sym, lat),
                var other => throw new MlipException($"unknown lattice '{other}' (diamond, fcc, bcc, sc)"),
            };
            var r = parse.GetValue(repeat)!;
            if (r.Length != 3) throw new MlipException("--supercell needs three integers, e.g. --supercell 2 2 2");
            var s = Crystals.Supercell(unit, r[0], r[1], r[2]);
            double e = parse.GetValue(strain);
            if (e != 0) s = Crystals.Deform(s, Matrix3.Diagonal(e, e, e));
            int n = parse.GetValue(count);
            if (n < 1) throw new MlipException("--count must be at least 1");
            var frames = new List<Structure>();
            for (int k = 0; k < n; k++)
            {
                var f = parse.GetValue(rattle) is double amp && amp > 0 ? Crystals.Rattle(s, amp, parse.GetValue(seed) + k) : s.Clone();
                f.Info["crystal"] = parse.GetValue(lattice)!.ToLowerInvariant();
                f.Info["a"] = lat;
                frames.Add(f);
            }
            string path = parse.GetValue(output)!;
            StructureIO.Write(path, frames);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {frames.Count} structure(s) of {s.Count} atoms to {path}"));
            return 0;
        }));
        return cmd;
    }
}
