using System.Text.Json;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.IO;

/// <summary>
/// pymatgen / mlearn JSON, read and write. Reads a list of mlearn entries
/// <c>{structure: pymatgen Structure dict, outputs: {energy, forces, virial_stress}, group, ...}</c>,
/// a list of bare Structure/Molecule dicts, or a single one.
///
/// Units: <c>energy</c> is the total energy in eV, <c>forces</c> eV/Å per site, and
/// <c>virial_stress</c> six components in kbar in VASP's order xx, yy, zz, xy, yz, zx with VASP's
/// sign (compression positive). Mlip's stress is σ = −0.1·virial_stress GPa, reordered to Voigt
/// xx, yy, zz, yz, xz, xy (see docs/units.md). Other scalar fields of an entry (description, tag,
/// element ...) go to <see cref="Structure.Info"/>; numeric site properties to per-atom arrays.
/// </summary>
public sealed class PymatgenJsonFormat : IStructureFormat
{
    public string Name => "pymatgen";
    public string Description => "pymatgen Structure / mlearn JSON (energy, forces, virial_stress in kbar), read and write";
    public bool CanRead => true;
    public bool CanWrite => true;

    /// <summary>.json files are told apart from ASE databases by <see cref="StructureFormats.ForReading"/>.</summary>
    public bool MatchesFileName(string fileName) => fileName.EndsWith(".json", StringComparison.OrdinalIgnoreCase);

    private static readonly HashSet<string> EntryKeys = ["structure", "outputs", "group", "num_atoms", "weight"];

    public IReadOnlyList<Structure> Read(string path)
    {
        using var doc = JsonInput.ParseFile(path);
        var root = doc.RootElement;
        var result = new List<Structure>();
        var fileWhere = new InputLocation(path);
        if (root.ValueKind == JsonValueKind.Array)
        {
            int index = 0;
            foreach (var item in root.EnumerateArray()) result.Add(ReadItem(item, fileWhere.WithStructure(index++)));
        }
        else if (root.ValueKind == JsonValueKind.Object)
            result.Add(ReadItem(root, fileWhere.WithStructure(0)));
        else
            throw new FileFormatException(fileWhere, "expected a JSON list of structures or one structure object");
        return result;
    }

    private static Structure ReadItem(JsonElement item, InputLocation where)
    {
        if (item.ValueKind != JsonValueKind.Object) throw new FileFormatException(where, "entry is not a JSON object");
        bool isEntry = item.TryGetProperty("structure", out var structureElement);
        var s = ReadStructureDict(isEntry ? structureElement : item, where);
        s.Source = where;
        if (!isEntry) return s;

        if (JsonInput.Optional(item, "outputs") is { } outputs)
        {
            if (JsonInput.Optional(outputs, "energy") is { } e) s.Energy = JsonInput.Number(e, where, "outputs.energy");
            if (JsonInput.Optional(outputs, "forces") is { } f)
            {
                var v = JsonInput.Numbers(f, where, "outputs.forces");
                if (v.Length != 3 * s.Count) throw new LabelShapeException(where, "forces", s.Count, v.Length / 3);
                var forces = new Vec3[s.Count];
                for (int i = 0; i < forces.Length; i++) forces[i] = new Vec3(v[3 * i], v[3 * i + 1], v[3 * i + 2]);
                s.Forces = forces;
            }
            if (JsonInput.Optional(outputs, "virial_stress") is { } vs)
            {
                var v = JsonInput.Numbers(vs, where, "outputs.virial_stress");
                if (v.Length != 6) throw new FileFormatException(where, $"outputs.virial_stress needs 6 numbers (kbar, xx yy zz xy yz zx), found {v.Length}");
                s.Stress = Stress.FromVaspKbar(v);
            }
        }
        if (JsonInput.Optional(item, "group") is { ValueKind: JsonValueKind.String } g) s.Group = g.GetString();
        if (JsonInput.Optional(item, "weight") is { } w) s.Weight = JsonInput.Number(w, where, "weight");
        if (JsonInput.Optional(item, "num_atoms") is { ValueKind: JsonValueKind.Number } na)
        {
            if (!na.TryGetInt32(out int claimed)) throw new FileFormatException(where, $"num_atoms is not a whole number of atoms ({na.GetRawText()})");
            if (claimed != s.Count) throw new LabelShapeException(where, "num_atoms", s.Count, claimed);
        }
        foreach (var p in item.EnumerateObject())
        {
            if (EntryKeys.Contains(p.Name)) continue;
            if (JsonInput.InfoValue(p.Value) is { } value) s.Info[p.Name] = value;
        }
        return s;
    }

    /// <summary>A pymatgen Structure or Molecule dict.</summary>
    public static Structure ReadStructureDict(JsonElement d, InputLocation where)
    {
        if (d.ValueKind != JsonValueKind.Object) throw new FileFormatException(where, "'structure' is not a JSON object");
        var sites = JsonInput.Required(d, "sites", where);
        if (sites.ValueKind != JsonValueKind.Array) throw new FileFormatException(where, "'sites' is not a list");
        Matrix3 cell = Matrix3.Zero;
        PeriodicFlags pbc = PeriodicFlags.None;
        if (JsonInput.Optional(d, "lattice") is { } lattice)
        {
            var m = JsonInput.Numbers(JsonInput.Required(lattice, "matrix", where), where, "lattice.matrix");
            if (m.Length != 9) throw new FileFormatException(where, $"lattice.matrix needs 9 numbers, found {m.Length}");
            cell = Matrix3.FromArray(m);
            pbc = PeriodicFlags.All;
            if (JsonInput.Optional(lattice, "pbc") is { ValueKind: JsonValueKind.Array } p && p.GetArrayLength() == 3)
                pbc = new PeriodicFlags(JsonInput.Bool(p[0], where, "lattice.pbc"), JsonInput.Bool(p[1], where, "lattice.pbc"), JsonInput.Bool(p[2], where, "lattice.pbc"));
        }
        int n = sites.GetArrayLength();
        var positions = new Vec3[n];
        var numbers = new int[n];
        var props = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        var propCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        int i = 0;
        foreach (var site in sites.EnumerateArray())
        {
            var at = where.WithAtom(i);
            var species = JsonInput.Required(site, "species", at);
            if (species.ValueKind != JsonValueKind.Array || species.GetArrayLength() != 1)
                throw new FileFormatException(at, "disordered site (several species) is not supported");
            var sp = species[0];
            string symbol = JsonInput.Text(JsonInput.Required(sp, "element", at), at, "species element");
            if (JsonInput.Optional(sp, "occu") is { } occ && Math.Abs(JsonInput.Number(occ, at, "occu") - 1.0) > 1e-8)
                throw new FileFormatException(at, "partially occupied site is not supported");
            numbers[i] = Elements.Number(StripOxidation(symbol), at);
            if (JsonInput.Optional(site, "xyz") is { } xyz)
            {
                var v = JsonInput.Numbers(xyz, at, "xyz");
                if (v.Length != 3) throw new FileFormatException(at, "xyz needs 3 numbers");
                positions[i] = new Vec3(v[0], v[1], v[2]);
            }
            else if (JsonInput.Optional(site, "abc") is { } abc)
            {
                var v = JsonInput.Numbers(abc, at, "abc");
                if (v.Length != 3) throw new FileFormatException(at, "abc needs 3 numbers");
                positions[i] = new Vec3(v[0], v[1], v[2]) * cell;
            }
            else throw new FileFormatException(at, "site has neither 'xyz' nor 'abc'");
            if (JsonInput.Optional(site, "properties") is { ValueKind: JsonValueKind.Object } pr)
                foreach (var p in pr.EnumerateObject())
                {
                    if (p.Value.ValueKind is not (JsonValueKind.Number or JsonValueKind.Array)) continue;
                    double[] v;
                    try { v = JsonInput.Numbers(p.Value, at, p.Name); }
                    catch (FileFormatException) { continue; }
                    if (!props.TryGetValue(p.Name, out var list)) { props[p.Name] = list = []; propCounts[p.Name] = v.Length; }
                    if (propCounts[p.Name] != v.Length || list.Count != i * v.Length) { propCounts[p.Name] = -1; continue; }
                    list.AddRange(v);
                }
            i++;
        }
        var s = new Structure(cell, positions, numbers, pbc);
        foreach (var (name, list) in props)
            if (propCounts[name] > 0 && list.Count == n * propCounts[name])
                s.AtomArrays[name] = new AtomArray(n, propCounts[name], [.. list]);
        if (JsonInput.Optional(d, "charge") is { ValueKind: JsonValueKind.Number } ch) s.Info["charge"] = ch.GetDouble();
        return s;
    }

    /// <summary>"Fe2+" or "O2-" (pymatgen Species) to the element symbol.</summary>
    private static string StripOxidation(string symbol)
    {
        int k = 0;
        while (k < symbol.Length && char.IsLetter(symbol[k])) k++;
        return symbol[..k];
    }

    // ------------------------------------------------------------------ writing

    public void Write(string path, IReadOnlyList<Structure> structures) =>
        AtomicFile.Write(path, stream =>
        {
            using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false });
            Write(w, structures);
        });

    public static void Write(Utf8JsonWriter w, IReadOnlyList<Structure> structures)
    {
        w.WriteStartArray();
        foreach (var s in structures) WriteEntry(w, s);
        w.WriteEndArray();
        w.Flush();
    }

    private static void WriteEntry(Utf8JsonWriter w, Structure s)
    {
        w.WriteStartObject();
        w.WritePropertyName("structure");
        WriteStructureDict(w, s);
        if (s.HasLabels)
        {
            w.WriteStartObject("outputs");
            if (s.Energy is double e) w.WriteNumber("energy", e);
            if (s.Forces is { } f)
            {
                w.WriteStartArray("forces");
                foreach (var v in f)
                {
                    w.WriteStartArray();
                    w.WriteNumberValue(v.X); w.WriteNumberValue(v.Y); w.WriteNumberValue(v.Z);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
            }
            if (s.Stress is Stress st)
            {
                w.WriteStartArray("virial_stress");
                foreach (double x in st.ToVaspKbar()) w.WriteNumberValue(x);
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        w.WriteNumber("num_atoms", s.Count);
        if (s.Group is not null) w.WriteString("group", s.Group);
        if (s.Weight != 1.0) w.WriteNumber("weight", s.Weight);
        foreach (var (k, v) in s.Info)
            if (!EntryKeys.Contains(k) && k != "charge") JsonInput.WriteInfoValue(w, k, v);
        w.WriteEndObject();
    }

    public static void WriteStructureDict(Utf8JsonWriter w, Structure s)
    {
        bool periodic = s.Pbc.Any || s.HasCell;
        w.WriteStartObject();
        w.WriteString("@module", "pymatgen.core.structure");
        w.WriteString("@class", periodic ? "Structure" : "Molecule");
        if (s.Info.TryGetValue("charge", out var charge) && charge is double c) w.WriteNumber("charge", c);
        else w.WriteNull("charge");
        Matrix3? inv = null;
        if (periodic)
        {
            w.WriteStartObject("lattice");
            w.WriteStartArray("matrix");
            for (int r = 0; r < 3; r++)
            {
                var row = s.Cell.Row(r);
                w.WriteStartArray();
                w.WriteNumberValue(row.X); w.WriteNumberValue(row.Y); w.WriteNumberValue(row.Z);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteStartArray("pbc");
            w.WriteBooleanValue(s.Pbc.A); w.WriteBooleanValue(s.Pbc.B); w.WriteBooleanValue(s.Pbc.C);
            w.WriteEndArray();
            w.WriteEndObject();
            if (s.HasCell) inv = s.Cell.Inverse();
        }
        w.WriteStartArray("sites");
        for (int i = 0; i < s.Count; i++)
        {
            w.WriteStartObject();
            w.WriteStartArray("species");
            w.WriteStartObject();
            w.WriteString("element", s.Symbol(i));
            w.WriteNumber("occu", 1);
            w.WriteEndObject();
            w.WriteEndArray();
            var p = s.Positions[i];
            if (inv is Matrix3 m)
            {
                var f = p * m;
                w.WriteStartArray("abc");
                w.WriteNumberValue(f.X); w.WriteNumberValue(f.Y); w.WriteNumberValue(f.Z);
                w.WriteEndArray();
            }
            w.WriteStartArray("xyz");
            w.WriteNumberValue(p.X); w.WriteNumberValue(p.Y); w.WriteNumberValue(p.Z);
            w.WriteEndArray();
            w.WriteString("label", s.Symbol(i));
            if (s.AtomArrays.Count > 0)
            {
                w.WriteStartObject("properties");
                foreach (var (name, arr) in s.AtomArrays)
                {
                    var v = arr.Of(i);
                    if (arr.Components == 1) w.WriteNumber(name, v[0]);
                    else
                    {
                        w.WriteStartArray(name);
                        foreach (double x in v) w.WriteNumberValue(x);
                        w.WriteEndArray();
                    }
                }
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
