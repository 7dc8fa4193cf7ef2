using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mlip.Data;
using Mlip.IO;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary><c>mlip info FILE... [--json]</c>: what is in a data set.</summary>
public static class InfoCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var files = new Argument<string[]>("files") { Arity = ArgumentArity.ZeroOrMore, Description = "Structure files (extxyz, ASE json/db, POSCAR, OUTCAR, pymatgen/mlearn json)" };
        var json = CommonOptions.Json();
        var format = CommonOptions.InputFormat();
        var legacyFormat = CommonOptions.Legacy("--format", format);
        var minDistance = new Option<double>("--min-distance") { Description = "Report atoms closer than this (Å) as overlapping; 0 turns the check off", DefaultValueFactory = _ => 0.5 };
        var model = CommonOptions.Model();
        var cmd = new Command("info", "Summarise structure files: sizes, elements, groups, energy, force and volume ranges, labels present; or, with --model, a model file")
        {
            files, json, format, legacyFormat, minDistance, model,
        };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var paths = parse.GetValue(files)!;
            if (parse.GetValue(model) is string modelPath)
            {
                if (paths.Length > 0) throw new MlipException("mlip info: give structure files or --model, not both");
                WriteModel(stdout, modelPath, parse.GetValue(json));
                return 0;
            }
            if (paths.Length == 0) throw new MlipException("mlip info: give one or more structure files, or --model MODEL");
            var validation = ValidationOptions.Default with { MinDistance = parse.GetValue(minDistance) };
            var structures = StructureIO.ReadAll(paths, CommonOptions.Value(parse, format, legacyFormat), validation);
            var summary = DatasetSummary.Of(structures);
            if (parse.GetValue(json)) WriteJson(stdout, summary, paths);
            else WriteText(stdout, summary, paths);
            return 0;
        }));
        return cmd;
    }

    /// <summary>What a model file holds: its calculator's name, model kind, elements, descriptor, cutoff and feature count.</summary>
    private static void WriteModel(TextWriter o, string path, bool json)
    {
        var p = ModelFile.Load(path);
        string[] elements = [.. p.Elements.Select(Elements.Symbol)];
        if (json)
        {
            o.WriteLine(new JsonObject
            {
                ["file"] = path, ["name"] = p.Name, ["kind"] = p.Model.Kind,
                ["elements"] = new JsonArray([.. elements.Select(e => (JsonNode)e)]),
                ["descriptor"] = p.Descriptor.Name, ["cutoff_a"] = p.Descriptor.Cutoff, ["features"] = p.Descriptor.FeatureCount,
            }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return;
        }
        o.WriteLine($"model:       {path}");
        o.WriteLine($"name:        {p.Name}");
        o.WriteLine($"kind:        {p.Model.Kind}");
        o.WriteLine($"elements:    {string.Join(" ", elements)}");
        o.WriteLine($"descriptor:  {p.Descriptor.Name}, cutoff {F(p.Descriptor.Cutoff)} Å, {p.Descriptor.FeatureCount} features");
    }

    private static string F(double v, string fmt = "F4") => v.ToString(fmt, CultureInfo.InvariantCulture);

    private static void WriteText(TextWriter o, DatasetSummary s, string[] paths)
    {
        o.WriteLine($"files:       {string.Join(", ", paths)}");
        o.WriteLine($"structures:  {s.Structures}");
        o.WriteLine($"atoms:       {s.Atoms}");
        o.WriteLine($"elements:    {string.Join(", ", s.Elements.Select(e => $"{e.Key} {e.Value}"))}");
        o.WriteLine($"labels:      energy {s.WithEnergy}/{s.Structures}, forces {s.WithForces}/{s.Structures}, stress {s.WithStress}/{s.Structures}");
        if (s.AtomArrays.Count > 0)
            o.WriteLine($"per-atom:    {string.Join(", ", s.AtomArrays.Select(a => $"{a.Key} ({a.Value})"))}");
        if (s.EnergyPerAtom is { } e)
            o.WriteLine($"energy/atom: {F(e.Min)} .. {F(e.Max)} eV (mean {F(e.Mean)})");
        if (s.ForceNorm is { } f)
            o.WriteLine($"|force|:     {F(f.Min)} .. {F(f.Max)} eV/Å, component RMS {F(s.ForceComponentRms ?? 0)} eV/Å");
        if (s.Pressure is { } p)
            o.WriteLine($"pressure:    {F(p.Min, "F3")} .. {F(p.Max, "F3")} GPa");
        if (s.VolumePerAtom is { } v)
            o.WriteLine($"volume/atom: {F(v.Min, "F3")} .. {F(v.Max, "F3")} Å³");
        o.WriteLine();
        var rows = new List<string[]> { new[] { "group", "structures", "atoms", "E/atom min (eV)", "E/atom max (eV)" } };
        foreach (var g in s.Groups)
            rows.Add([g.Name, g.Structures.ToString(CultureInfo.InvariantCulture), g.Atoms.ToString(CultureInfo.InvariantCulture),
                g.EnergyPerAtom is { } ge ? F(ge.Min) : "-", g.EnergyPerAtom is { } ge2 ? F(ge2.Max) : "-"]);
        TextTable.Write(o, rows);
    }

    private static void WriteJson(TextWriter o, DatasetSummary s, string[] paths)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("files");
            foreach (var p in paths) w.WriteStringValue(p);
            w.WriteEndArray();
            w.WriteNumber("structures", s.Structures);
            w.WriteNumber("atoms", s.Atoms);
            w.WriteStartObject("elements");
            foreach (var (k, v) in s.Elements) w.WriteNumber(k, v);
            w.WriteEndObject();
            w.WriteStartObject("groups");
            foreach (var g in s.Groups) w.WriteNumber(g.Name, g.Structures);
            w.WriteEndObject();
            w.WriteStartObject("group_atoms");
            foreach (var g in s.Groups) w.WriteNumber(g.Name, g.Atoms);
            w.WriteEndObject();
            w.WriteStartObject("labels");
            w.WriteNumber("energy", s.WithEnergy);
            w.WriteNumber("forces", s.WithForces);
            w.WriteNumber("stress", s.WithStress);
            w.WriteEndObject();
            w.WriteStartObject("atom_arrays");
            foreach (var (k, v) in s.AtomArrays) w.WriteNumber(k, v);
            w.WriteEndObject();
            Range(w, "energy_per_atom_ev", s.EnergyPerAtom);
            Range(w, "force_norm_ev_per_a", s.ForceNorm);
            if (s.ForceComponentRms is double rms) Number(w, "force_component_rms_ev_per_a", rms);
            Range(w, "pressure_gpa", s.Pressure);
            Range(w, "volume_per_atom_a3", s.VolumePerAtom);
            w.WriteEndObject();
        }
        o.WriteLine(System.Text.Encoding.UTF8.GetString(ms.ToArray()));
    }

    private static void Range(Utf8JsonWriter w, string name, ValueRange? r)
    {
        if (r is null) return;
        w.WriteStartObject(name);
        Number(w, "min", r.Min);
        Number(w, "max", r.Max);
        Number(w, "mean", r.Mean);
        w.WriteEndObject();
    }

    /// <summary>JSON has no NaN or infinity: such a value (validation refuses the inputs that give one) is written as null.</summary>
    private static void Number(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }
}
