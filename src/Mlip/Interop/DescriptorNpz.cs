using System.Text.Json;
using Mlip.Descriptors;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Interop;

/// <summary>
/// Per-atom descriptors of a data set as NumPy files (<c>mlip descriptors</c>): an .npz with features
/// (atoms x K), atomic_numbers, structure_index, atom_index and, with derivatives, pair_gradients (pairs x K x 3),
/// pair_i, pair_j and pair_vectors; or an .npy of the features alone. A JSON file of metadata goes beside it.
/// </summary>
public static class DescriptorNpz
{
    /// <summary>
    /// Writes <paramref name="path"/> (.npz, or .npy without derivatives) and PATH.json (descriptor, cutoff, parameters,
    /// feature names, derivative convention); returns the number of atoms written.
    /// </summary>
    public static int Write(string path, IDescriptor descriptor, IReadOnlyDictionary<string, string> parameters,
        IReadOnlyList<Structure> structures, DescriptorSet[] sets, bool derivatives)
    {
        CheckPath(path, derivatives);
        var arrays = Arrays(structures, sets, descriptor.FeatureCount, derivatives);
        if (IsNpy(path)) NumpyFile.WriteNpy(path, arrays[0]);
        else NumpyFile.WriteNpz(path, arrays);
        int atoms = arrays[0].Shape[0];
        WriteMetadata(MetadataPath(path), descriptor, parameters, structures.Count, atoms, derivatives);
        return atoms;
    }

    /// <summary>The metadata file beside <paramref name="path"/>: the same name with .json.</summary>
    public static string MetadataPath(string path) => Path.ChangeExtension(path, ".json");

    /// <summary>Refuses, before any work, an output that is neither .npz nor .npy, and derivatives into an .npy.</summary>
    public static void CheckPath(string path, bool derivatives)
    {
        bool npy = IsNpy(path);
        if (npy && derivatives) throw new MlipException("--derivatives needs an .npz output (several arrays)");
        if (!npy && !path.EndsWith(".npz", StringComparison.OrdinalIgnoreCase)) throw new MlipException("the output must end in .npz or .npy");
    }

    private static bool IsNpy(string path) => path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase);

    public static List<NumpyFile.Array> Arrays(IReadOnlyList<Structure> structures, DescriptorSet[] sets, int k, bool derivatives)
    {
        int atoms = 0, pairs = 0;
        foreach (var s in sets) { atoms += s.Atoms; pairs += s.Neighbors.PairCount; }
        var features = new double[(long)atoms * k];
        var z = new long[atoms];
        var sid = new long[atoms];
        var aid = new long[atoms];
        int offset = 0;
        for (int n = 0; n < sets.Length; n++)
        {
            Array.Copy(sets[n].Values, 0, features, (long)offset * k, sets[n].Values.Length);
            for (int i = 0; i < sets[n].Atoms; i++)
            {
                z[offset + i] = structures[n].AtomicNumbers[i];
                sid[offset + i] = n;
                aid[offset + i] = i;
            }
            offset += sets[n].Atoms;
        }
        var list = new List<NumpyFile.Array>
        {
            NumpyFile.Array.Of("features", features, atoms, k),
            NumpyFile.Array.Of("atomic_numbers", z, atoms),
            NumpyFile.Array.Of("structure_index", sid, atoms),
            NumpyFile.Array.Of("atom_index", aid, atoms),
        };
        if (!derivatives) return list;
        var grad = new double[(long)pairs * k * 3];
        var pi = new long[pairs];
        var pj = new long[pairs];
        var vec = new double[3L * pairs];
        int atomOffset = 0, pairOffset = 0;
        foreach (var set in sets)
        {
            Array.Copy(set.PairGradients!, 0, grad, (long)pairOffset * k * 3, set.PairGradients!.Length);
            var nl = set.Neighbors;
            var c = nl.Centers; var nb = nl.Neighbors; var v = nl.Vectors;
            for (int p = 0; p < nl.PairCount; p++)
            {
                pi[pairOffset + p] = atomOffset + c[p];
                pj[pairOffset + p] = atomOffset + nb[p];
                vec[3L * (pairOffset + p)] = v[p].X; vec[3L * (pairOffset + p) + 1] = v[p].Y; vec[3L * (pairOffset + p) + 2] = v[p].Z;
            }
            atomOffset += set.Atoms;
            pairOffset += nl.PairCount;
        }
        list.Add(NumpyFile.Array.Of("pair_gradients", grad, pairs, k, 3));
        list.Add(NumpyFile.Array.Of("pair_i", pi, pairs));
        list.Add(NumpyFile.Array.Of("pair_j", pj, pairs));
        list.Add(NumpyFile.Array.Of("pair_vectors", vec, pairs, 3));
        return list;
    }

    public static void WriteMetadata(string path, IDescriptor d, IReadOnlyDictionary<string, string> parameters, int structures, int atoms, bool derivatives) =>
        AtomicFile.Write(path, stream =>
        {
            using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            w.WriteStartObject();
            w.WriteString("descriptor", d.Name);
            w.WriteNumber("cutoff", d.Cutoff);
            w.WriteNumber("feature_count", d.FeatureCount);
            w.WriteStartObject("parameters");
            foreach (var (k, v) in parameters) w.WriteString(k, v);
            w.WriteEndObject();
            w.WriteNumber("structures", structures);
            w.WriteNumber("atoms", atoms);
            w.WriteBoolean("derivatives", derivatives);
            w.WriteString("derivative_convention", "pair_gradients[p, k, :] = dX[pair_i[p], k] / dr_ij, r_ij = pair_vectors[p] = r_j + S.cell - r_i; forces F = -sum_p (dE/dX_i . g_p) on j and + on i; virial from pair_vectors");
            w.WriteStartArray("feature_names");
            foreach (var n in d.FeatureNames) w.WriteStringValue(n);
            w.WriteEndArray();
            w.WriteEndObject();
        });
}
