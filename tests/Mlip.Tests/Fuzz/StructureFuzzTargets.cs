using System.Text.Json.Nodes;
using Mlip.Data;
using Mlip.IO;
using Mlip.Neighbors;
using Mlip.Validation;

namespace Mlip.Tests.Fuzz;

/// <summary>One structure reader to fuzz: the seed inputs and the file name the mutants are written under.</summary>
public sealed record StructureFuzzTarget(string Format, string FileName, bool Json, IReadOnlyList<string>? Texts, IReadOnlyList<byte[]>? Blobs)
{
    /// <summary>Mutant <paramref name="id"/> cycles through the seed inputs.</summary>
    public FuzzReport Run(int count, int seed, TimeSpan hangGuard)
    {
        if (Blobs is { } blobs)
            return FuzzRunner.Run(Format, FileName,
                Enumerable.Range(0, count).Select(id => (id, Mutator.Mutant(blobs[id % blobs.Count], seed, id))),
                StructureFuzzTargets.ReadAndUse, hangGuard, seed);
        var texts = Texts!;
        return FuzzRunner.Run(Format, FileName,
            Enumerable.Range(0, count).Select(id => (id, Mutator.Mutant(texts[id % texts.Count], seed, id, Json))),
            StructureFuzzTargets.ReadAndUse, hangGuard, seed);
    }
}

/// <summary>
/// The structure readers under fuzz (extxyz, POSCAR, OUTCAR, ASE json, ASE db, pymatgen/mlearn json) with
/// small real inputs, and what a user's command does with a file: read and validate it (as every verb
/// does), build a neighbour list at 3 Å, summarise it as <c>mlip info</c> does, and write it back as
/// extxyz as <c>mlip convert</c> does. A result with a non-finite number counts as a bug.
/// </summary>
public static class StructureFuzzTargets
{
    /// <param name="dataDir">tests/Mlip.Tests/Data (the fixtures).</param>
    /// <param name="mlearnJson">a pymatgen/mlearn json file (e.g. ../shared/data/mlearn/Si/test.json); the first two structures are used.</param>
    public static IReadOnlyList<StructureFuzzTarget> All(string dataDir, string mlearnJson)
    {
        string D(string name) => File.ReadAllText(Path.Combine(dataDir, name));
        return
        [
            new("extxyz", "frames.extxyz", false, [D("ase_frames.extxyz")], null),
            new("poscar", "POSCAR", false, [D("POSCAR_vasp4_GaAs"), D("POSCAR_cartesian_selective"), D("ase_written_direct.vasp")], null),
            new("outcar", "OUTCAR", false, [D("OUTCAR_GaAs_relax")], null),
            new("ase-json", "fixtures.json", true, [D("ase_fixtures.json")], null),
            new("ase-db", "fixtures.db", false, null, [File.ReadAllBytes(Path.Combine(dataDir, "ase_fixtures.db"))]),
            new("mlearn", "mlearn.json", true, [MlearnSlice(mlearnJson, 2)], null),
        ];
    }

    /// <summary>The first <paramref name="count"/> entries of a pymatgen/mlearn json list.</summary>
    public static string MlearnSlice(string path, int count)
    {
        var all = JsonNode.Parse(File.ReadAllText(path))!.AsArray();
        var slice = new JsonArray();
        for (int i = 0; i < Math.Min(count, all.Count); i++) slice.Add(all[i]!.DeepClone());
        return slice.ToJsonString();
    }

    /// <summary>Read, validate, neighbour list at 3 Å, summary, extxyz text: what <c>mlip info</c> / <c>convert</c> do.</summary>
    public static void ReadAndUse(string path)
    {
        var structures = StructureIO.Read(path, null, ValidationOptions.Default);
        foreach (var s in structures)
        {
            var nl = NeighborList.Build(s, 3.0);
            foreach (double d in nl.Distances)
                if (!double.IsFinite(d)) throw new InvalidOperationException($"non-finite neighbour distance {d}");
        }
        var summary = DatasetSummary.Of(structures);
        CheckFinite(summary.EnergyPerAtom, "energy per atom");
        CheckFinite(summary.ForceNorm, "force norm");
        CheckFinite(summary.VolumePerAtom, "volume per atom");
        CheckFinite(summary.Pressure, "pressure");
        if (summary.ForceComponentRms is double rms && !double.IsFinite(rms)) throw new InvalidOperationException($"non-finite force RMS {rms}");
        if (structures.Count > 0) StructureFormats.ExtXyz.WriteString(structures);
    }

    private static void CheckFinite(ValueRange? r, string what)
    {
        if (r is null) return;
        if (!double.IsFinite(r.Min) || !double.IsFinite(r.Max) || !double.IsFinite(r.Mean))
            throw new InvalidOperationException($"non-finite {what} in the summary: {r}");
    }
}
