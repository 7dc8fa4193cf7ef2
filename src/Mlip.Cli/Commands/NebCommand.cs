using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlip.Calculators;
using Mlip.IO;
using Mlip.Models;
using Mlip.Simulation;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary><c>mlip neb INITIAL FINAL</c>: a thin verb over <see cref="Neb"/>.</summary>
public static class NebCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var cmd = new Command("neb", "Nudged elastic band between two end points (improved tangent, optional climbing image)");
        var initial = new Argument<string>("initial") { Description = "Initial state (first frame)" };
        var final = new Argument<string>("final") { Description = "Final state (first frame): the same atoms in the same order, the same cell" };
        var model = CommonOptions.Model();
        var potential = CommonOptions.Potential();
        var images = new Option<int>("--images") { Description = "Movable images between the end points", DefaultValueFactory = _ => 7 };
        var interp = new Option<string>("--interpolation") { Description = "linear (minimum image) or idpp", DefaultValueFactory = _ => "linear" };
        var climb = new Option<bool>("--climb") { Description = "Climbing image (switched on once the band's force is below 0.5 eV/Å)" };
        var fmax = new Option<double>("--fmax") { Description = "Convergence: largest perpendicular/climbing force (eV/Å)", DefaultValueFactory = _ => 0.02 };
        var spring = new Option<double>("--spring") { Description = "Spring constant (eV/Å²)", DefaultValueFactory = _ => 0.1 };
        var steps = new Option<long>("--steps") { Description = "Largest number of band iterations", DefaultValueFactory = _ => 2000 };
        var relaxEnds = new Option<bool>("--relax-ends") { Description = "Relax the end points (positions) first" };
        var plot = new Option<string?>("--plot") { Description = "Write a PNG of the energy profile" };
        var output = CommonOptions.Output("Write the band (all images, any multi-frame format)");
        var json = CommonOptions.Json();
        cmd.Arguments.Add(initial);
        cmd.Arguments.Add(final);
        foreach (var o in new Option[] { model, potential, images, interp, climb, fmax, spring, steps, relaxEnds, plot, output, json }) cmd.Options.Add(o);
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var calc = CalculatorSource.Open(parse.GetValue(model), parse.GetValue(potential));
            var a = StructureIO.Read(parse.GetValue(initial)!)[0];
            var b = StructureIO.Read(parse.GetValue(final)!)[0];
            bool asJson = parse.GetValue(json);
            var options = new NebOptions
            {
                Images = parse.GetValue(images),
                Interpolation = parse.GetValue(interp)!.ToLowerInvariant() switch
                {
                    "linear" => NebInterpolation.Linear,
                    "idpp" => NebInterpolation.Idpp,
                    var x => throw new MlipException($"unknown --interpolation '{x}' (linear, idpp)"),
                },
                Climb = parse.GetValue(climb),
                Fmax = parse.GetValue(fmax),
                SpringConstant = parse.GetValue(spring),
                MaxSteps = (int)Math.Clamp(parse.GetValue(steps), int.MinValue, int.MaxValue),
                RelaxEnds = parse.GetValue(relaxEnds),
                PlotPath = parse.GetValue(plot),
                Log = asJson ? null : stdout,
            };
            NebResult r;
            try { r = Neb.Run(calc, a, b, options); }
            catch (ArgumentException e) { throw new MlipException(e.Message); }
            if (parse.GetValue(output) is string outPath) StructureIO.Write(outPath, r.Images);
            if (asJson)
                stdout.WriteLine(new JsonObject
                {
                    ["converged"] = r.Converged, ["steps"] = r.Steps, ["fmax_ev_per_a"] = r.Fmax,
                    ["forward_barrier_ev"] = r.ForwardBarrier, ["reverse_barrier_ev"] = r.ReverseBarrier,
                    ["saddle_image"] = r.SaddleImage, ["climbing_image"] = r.ClimbingImage,
                    ["energies_ev"] = new JsonArray([.. r.Energies.Select(v => (JsonNode)v)]),
                    ["reaction_coordinate_a"] = new JsonArray([.. r.ReactionCoordinate.Select(v => (JsonNode)v)]),
                    ["tangential_forces_ev_per_a"] = new JsonArray([.. r.TangentialForces.Select(v => (JsonNode)v)]),
                }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else
            {
                stdout.WriteLine($"{(r.Converged ? "converged" : "NOT converged")} after {r.Steps} steps (fmax {r.Fmax.ToString("G3", CultureInfo.InvariantCulture)} eV/Å)");
                stdout.WriteLine(" image   s (Å)      E - E0 (eV)   F·τ (eV/Å)");
                for (int k = 0; k < r.Energies.Length; k++)
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{k,6} {r.ReactionCoordinate[k],9:F4} {r.Energies[k],14:F6} {r.TangentialForces[k],12:F4}{(k == r.SaddleImage ? "  saddle" : "")}"));
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"forward barrier {r.ForwardBarrier:F4} eV, reverse barrier {r.ReverseBarrier:F4} eV"));
            }
            return r.Converged ? 0 : 2;
        }));
        return cmd;
    }
}
