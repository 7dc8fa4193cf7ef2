using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlip.Calculators;
using Mlip.IO;
using Mlip.Models;
using Mlip.Simulation;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary><c>mlip relax</c>, <c>mlip eos</c>, <c>mlip elastic</c>: thin verbs over Mlip.Simulation.</summary>
public static class SimulationCommands
{
    private sealed record Common(Argument<string> Structure, Option<string?> Model, Option<string?> Potential, Option<bool> Json, Option<int?> Index);

    private static Common AddCommon(Command cmd)
    {
        var c = new Common(
            new Argument<string>("structure") { Description = "Structure file (the first frame, or --index)" },
            CommonOptions.Model(),
            CommonOptions.Potential(),
            CommonOptions.Json(),
            CommonOptions.Index());
        cmd.Arguments.Add(c.Structure);
        cmd.Options.Add(c.Model);
        cmd.Options.Add(c.Potential);
        cmd.Options.Add(c.Json);
        cmd.Options.Add(c.Index);
        return c;
    }

    private static (ICalculator Calculator, Structure Structure) Load(ParseResult parse, Common c)
    {
        var calc = CalculatorSource.Open(parse.GetValue(c.Model), parse.GetValue(c.Potential));
        var s = CommonOptions.ReadFrame(parse.GetValue(c.Structure)!, parse.GetValue(c.Index)).Clone();
        s.Energy = null; s.Forces = null; s.Stress = null;
        return (calc, s);
    }

    private static string F(double v, string fmt = "F4") => v.ToString(fmt, CultureInfo.InvariantCulture);

    private static void PrintJson(TextWriter o, JsonObject root) => o.WriteLine(root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

    public static Command Relax(TextWriter stdout, TextWriter stderr)
    {
        var cmd = new Command("relax", "Relax atomic positions (and the cell) with FIRE or L-BFGS");
        var c = AddCommon(cmd);
        var cell = new Option<string>("--cell") { Description = "none, full (stress-driven) or iso (fixed shape)", DefaultValueFactory = _ => "none" };
        var pressure = new Option<double>("--pressure") { Description = "Target hydrostatic pressure (GPa)" };
        var fmax = new Option<double>("--fmax") { Description = "Convergence: largest force (eV/Å)", DefaultValueFactory = _ => 0.01 };
        var smax = new Option<double>("--smax") { Description = "Convergence: largest stress component (GPa)", DefaultValueFactory = _ => 0.01 };
        var algorithm = new Option<string>("--algorithm") { Description = "fire or lbfgs", DefaultValueFactory = _ => "fire" };
        var steps = new Option<long>("--steps") { Description = "Largest number of steps", DefaultValueFactory = _ => 1000 };
        var output = CommonOptions.Output("Write the relaxed structure (any writable format)");
        foreach (var o in new Option[] { cell, pressure, fmax, smax, algorithm, steps, output }) cmd.Options.Add(o);
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var (calc, s) = Load(parse, c);
            bool json = parse.GetValue(c.Json);
            var options = new RelaxOptions
            {
                Algorithm = parse.GetValue(algorithm)!.ToLowerInvariant() switch
                {
                    "fire" => RelaxAlgorithm.Fire,
                    "lbfgs" or "l-bfgs" => RelaxAlgorithm.Lbfgs,
                    var a => throw new MlipException($"unknown algorithm '{a}' (fire, lbfgs)"),
                },
                Cell = parse.GetValue(cell)!.ToLowerInvariant() switch
                {
                    "none" => CellRelaxation.None,
                    "full" => CellRelaxation.Full,
                    "iso" or "isotropic" => CellRelaxation.Isotropic,
                    var x => throw new MlipException($"unknown --cell '{x}' (none, full, iso)"),
                },
                Pressure = parse.GetValue(pressure),
                Fmax = parse.GetValue(fmax),
                Smax = parse.GetValue(smax),
                MaxSteps = (int)Math.Clamp(parse.GetValue(steps), int.MinValue, int.MaxValue),
                Log = json ? null : stdout,
            };
            var r = Relaxation.Relax(calc, s, options);
            if (parse.GetValue(output) is string outPath)
            {
                var done = r.Structure.Clone();
                done.Energy = r.Energy;
                StructureIO.Write(outPath, [done]);
            }
            var cellMatrix = r.Structure.Cell;
            if (json)
                PrintJson(stdout, new JsonObject
                {
                    ["converged"] = r.Converged, ["steps"] = r.Steps, ["energy_ev"] = r.Energy, ["energy_per_atom_ev"] = r.Energy / s.Count,
                    ["fmax_ev_per_a"] = r.Fmax, ["smax_gpa"] = r.Smax, ["volume_a3"] = r.Volume,
                    ["cell"] = new JsonArray([.. cellMatrix.ToArray().Select(v => (JsonNode)v)]),
                    ["stress_gpa"] = r.Stress is Stress st ? new JsonArray([.. st.ToVoigt().Select(v => (JsonNode)v)]) : null,
                });
            else
            {
                stdout.WriteLine($"{(r.Converged ? "converged" : "NOT converged")} after {r.Steps} steps: E = {F(r.Energy, "F6")} eV ({F(r.Energy / s.Count, "F6")} eV/atom), fmax {F(r.Fmax, "G3")} eV/Å, smax {F(r.Smax, "G3")} GPa");
                stdout.WriteLine($"cell lengths {F(cellMatrix.Row(0).Norm, "F6")} {F(cellMatrix.Row(1).Norm, "F6")} {F(cellMatrix.Row(2).Norm, "F6")} Å, volume {F(r.Volume, "F4")} Å³ ({F(r.Volume / s.Count, "F4")} Å³/atom)");
            }
            return r.Converged ? 0 : 2;
        }));
        return cmd;
    }

    public static Command Eos(TextWriter stdout, TextWriter stderr)
    {
        var cmd = new Command("eos", "Equation of state: energies over isotropic volume changes, Birch–Murnaghan fit (E0, V0, B0, B0')");
        var c = AddCommon(cmd);
        var range = new Option<double>("--range") { Description = "Largest relative volume change", DefaultValueFactory = _ => 0.06 };
        var points = new Option<int>("--points") { Description = "Number of volumes", DefaultValueFactory = _ => 11 };
        var relax = new Option<bool>("--relax-positions") { Description = "Relax atomic positions at each volume" };
        var plot = new Option<string?>("--plot") { Description = "Write a PNG of E(V) and the fit" };
        foreach (var o in new Option[] { range, points, relax, plot }) cmd.Options.Add(o);
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var (calc, s) = Load(parse, c);
            var r = EquationOfState.Compute(calc, s, new EquationOfStateOptions
            {
                VolumeRange = parse.GetValue(range), Points = parse.GetValue(points), RelaxPositions = parse.GetValue(relax), PlotPath = parse.GetValue(plot),
            });
            if (parse.GetValue(c.Json))
                PrintJson(stdout, new JsonObject
                {
                    ["e0_ev"] = r.E0, ["v0_a3"] = r.V0, ["v0_per_atom_a3"] = r.V0 / s.Count, ["b0_gpa"] = r.B0, ["b0_prime"] = r.B0Prime,
                    ["rms_residual_ev"] = r.Fit.RmsResidual,
                    ["volumes_a3"] = new JsonArray([.. r.Volumes.Select(v => (JsonNode)v)]),
                    ["energies_ev"] = new JsonArray([.. r.Energies.Select(v => (JsonNode)v)]),
                });
            else
                stdout.WriteLine($"Birch–Murnaghan: E0 {F(r.E0, "F6")} eV, V0 {F(r.V0)} Å³ ({F(r.V0 / s.Count)} Å³/atom), B0 {F(r.B0, "F2")} GPa, B0' {F(r.B0Prime, "F3")}");
            return 0;
        }));
        return cmd;
    }

    public static Command Elastic(TextWriter stdout, TextWriter stderr)
    {
        var cmd = new Command("elastic", "Elastic constants (6x6, GPa) from stress–strain with internal relaxation; VRH moduli, Poisson ratio");
        var c = AddCommon(cmd);
        var strains = new Option<double[]>("--strains") { Description = "Strain amplitudes (central differences)", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => [0.005, 0.01] };
        var noRelax = new Option<bool>("--no-relax") { Description = "Do not relax the reference cell and the internal positions" };
        foreach (var o in new Option[] { strains, noRelax }) cmd.Options.Add(o);
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var (calc, s) = Load(parse, c);
            bool relax = !parse.GetValue(noRelax);
            var r = ElasticConstants.Compute(calc, s, new ElasticOptions { Strains = parse.GetValue(strains)!, RelaxPositions = relax, RelaxReference = relax });
            if (parse.GetValue(c.Json))
                PrintJson(stdout, new JsonObject
                {
                    ["c_gpa"] = new JsonArray([.. r.C.Select(row => (JsonNode)new JsonArray([.. row.Select(v => (JsonNode)v)]))]),
                    ["c11_gpa"] = r.C11, ["c12_gpa"] = r.C12, ["c44_gpa"] = r.C44,
                    ["bulk_voigt_gpa"] = r.BulkVoigt, ["bulk_reuss_gpa"] = r.BulkReuss, ["bulk_hill_gpa"] = r.BulkHill,
                    ["shear_voigt_gpa"] = r.ShearVoigt, ["shear_reuss_gpa"] = r.ShearReuss, ["shear_hill_gpa"] = r.ShearHill,
                    ["young_gpa"] = r.Young, ["poisson"] = r.Poisson, ["reference_volume_a3"] = r.ReferenceVolume,
                });
            else
            {
                stdout.WriteLine("C (GPa), Voigt order xx yy zz yz xz xy:");
                foreach (var row in r.C) stdout.WriteLine("  " + string.Join(" ", row.Select(v => F(v, "F2").PadLeft(9))));
                stdout.WriteLine($"cubic: C11 {F(r.C11, "F2")}, C12 {F(r.C12, "F2")}, C44 {F(r.C44, "F2")} GPa");
                stdout.WriteLine($"bulk modulus (Voigt/Reuss/Hill) {F(r.BulkVoigt, "F2")} / {F(r.BulkReuss, "F2")} / {F(r.BulkHill, "F2")} GPa; shear {F(r.ShearVoigt, "F2")} / {F(r.ShearReuss, "F2")} / {F(r.ShearHill, "F2")} GPa");
                stdout.WriteLine($"Young's modulus {F(r.Young, "F2")} GPa, Poisson ratio {F(r.Poisson, "F4")}");
            }
            return 0;
        }));
        return cmd;
    }
}
