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

/// <summary><c>mlip phonon</c>: finite-displacement phonons (Γ frequencies, bands, DOS, plots) over Mlip.Simulation.Phonons.</summary>
public static class PhononCommand
{
    private static string F(double v, string fmt = "F4") => v.ToString(fmt, CultureInfo.InvariantCulture);

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var cmd = new Command("phonon", "Phonons by finite displacements: force constants in a supercell, Γ frequencies, band structure, DOS (THz)");
        var structure = new Argument<string>("structure") { Description = "Relaxed unit cell (primitive or conventional; the first frame, or --index)" };
        var model = CommonOptions.Model();
        var potential = CommonOptions.Potential();
        var json = CommonOptions.Json();
        var index = CommonOptions.Index();
        var supercell = new Option<int[]>("--supercell") { Description = "Supercell repeats of the given cell", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => [3, 3, 3] };
        var displacement = new Option<double>("--displacement") { Description = "Displacement amplitude (Å)", DefaultValueFactory = _ => 0.01 };
        var path = new Option<string?>("--path") { Description = "Band path: special-point labels (\"G X W K G L\") or fractional q-points (\"0 0 0, 0.5 0 0.5, ...\"); default: the standard path of the lattice" };
        var points = new Option<int>("--points") { Description = "q-points per band segment", DefaultValueFactory = _ => 50 };
        var mesh = new Option<int[]>("--mesh") { Description = "Monkhorst–Pack q-mesh for the DOS", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => [16, 16, 16] };
        var sigma = new Option<double>("--sigma") { Description = "Gaussian broadening of the DOS (THz)", DefaultValueFactory = _ => 0.1 };
        var relax = new Option<bool>("--relax") { Description = "Relax the atomic positions of the cell first (fixed cell)" };
        var plotBands = new Option<string?>("--plot-bands") { Description = "Write a PNG of the band structure" };
        var plotDos = new Option<string?>("--plot-dos") { Description = "Write a PNG of the DOS" };
        var output = CommonOptions.Output("Write bands and DOS as JSON to this file");
        cmd.Arguments.Add(structure);
        foreach (var o in new Option[] { model, potential, json, index, supercell, displacement, path, points, mesh, sigma, relax, plotBands, plotDos, output }) cmd.Options.Add(o);
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var calc = CalculatorSource.Open(parse.GetValue(model), parse.GetValue(potential));
            string file = parse.GetValue(structure)!;
            var s = CommonOptions.ReadFrame(file, parse.GetValue(index));
            var sc = parse.GetValue(supercell)!;
            if (sc.Length != 3) throw new MlipException("--supercell needs three numbers");
            var qmesh = parse.GetValue(mesh)!;
            if (qmesh.Length != 3) throw new MlipException("--mesh needs three numbers");

            var fc = Phonons.ComputeForceConstants(calc, s, new PhononOptions { Supercell = sc, Displacement = parse.GetValue(displacement), RelaxPositions = parse.GetValue(relax) });
            var gamma = fc.FrequenciesThz([0, 0, 0]);
            var bandPath = parse.GetValue(path) is string spec ? Phonons.Path(fc.UnitCell, spec) : Phonons.StandardPath(fc.UnitCell);
            var bands = Phonons.Bands(fc, bandPath, parse.GetValue(points));
            var dos = Phonons.Dos(fc, qmesh, parse.GetValue(sigma));
            if (parse.GetValue(plotBands) is string pb) Phonons.PlotBands(pb, bands, $"Phonon bands: {s.Formula()}, {calc.Name}");
            if (parse.GetValue(plotDos) is string pd) Phonons.PlotDos(pd, dos, $"Phonon DOS: {s.Formula()}, {calc.Name}");

            var options = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };
            var root = new JsonObject
            {
                ["supercell"] = new JsonArray([.. sc.Select(v => (JsonNode)v)]),
                ["displacement_a"] = parse.GetValue(displacement),
                ["gamma_thz"] = new JsonArray([.. gamma.Select(v => (JsonNode)v)]),
                ["bands"] = JsonSerializer.SerializeToNode(bands, options),
                ["dos"] = JsonSerializer.SerializeToNode(dos, options),
            };
            if (parse.GetValue(output) is string outPath)
            {
                AtomicFile.WriteText(outPath, w => w.Write(root.ToJsonString(options)));
            }
            if (parse.GetValue(json))
            {
                stdout.WriteLine(root.ToJsonString(options));
                return 0;
            }
            stdout.WriteLine($"{s.Formula()}: {s.Count} atoms, supercell {sc[0]}x{sc[1]}x{sc[2]}, displacement {F(parse.GetValue(displacement), "G3")} Å, {calc.Name}");
            stdout.WriteLine("Γ frequencies (THz): " + string.Join(" ", gamma.Select(v => F(v, "F3"))));
            var rows = new List<string[]> { new[] { "point", "q (fractional)", "lowest (THz)", "highest (THz)" } };
            for (int p = 0; p < bands.Labels.Length; p++)
            {
                int at = p < bands.Labels.Length - 1 ? p * parse.GetValue(points) : bands.FrequenciesThz.Length - 1;
                var f = bands.FrequenciesThz[at];
                var q = bandPath[p].Q;
                rows.Add([bands.Labels[p], $"{F(q[0], "F3")} {F(q[1], "F3")} {F(q[2], "F3")}", F(f[0], "F3"), F(f[^1], "F3")]);
            }
            TextTable.Write(stdout, rows);
            double peak = 0, at2 = 0;
            for (int b = 0; b < dos.Dos.Length; b++) if (dos.Dos[b] > peak) { peak = dos.Dos[b]; at2 = dos.FrequenciesThz[b]; }
            stdout.WriteLine($"DOS on a {qmesh[0]}x{qmesh[1]}x{qmesh[2]} mesh: highest peak at {F(at2, "F2")} THz");
            return 0;
        }));
        return cmd;
    }
}
