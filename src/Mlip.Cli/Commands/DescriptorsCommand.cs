using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Mlip.Descriptors;
using Mlip.Interop;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary><c>mlip descriptors FILE... --type so4 --param twojmax=8 [--derivatives] -o out.npz</c></summary>
public static class DescriptorsCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var files = new Argument<string[]>("files") { Arity = ArgumentArity.OneOrMore, Description = "Structure files" };
        var type = new Option<string>("--type", "-t") { Description = $"Descriptor: {string.Join(", ", DescriptorFactory.Types)}", Required = true };
        var param = new Option<string[]>("--param", "-p") { Description = "Descriptor parameter key=value (repeatable), e.g. twojmax=8 rcutfac=4.9", AllowMultipleArgumentsPerToken = true };
        var derivatives = new Option<bool>("--derivatives", "-d") { Description = "Also write the derivative blocks dX_i/dr_ij with their pair indices and vectors (.npz only)" };
        var output = new Option<string>("--output", "-o") { Description = "Output .npz (features, indices, derivatives) or .npy (features only)", Required = true };
        var threads = new Option<int>("--threads", "-j") { Description = "Threads (structures in parallel)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var format = new Option<string?>("--format", "-f") { Description = "Input format; default: from the file name" };
        var cmd = new Command("descriptors", "Compute per-atom descriptors (and derivatives) for a data set and write NumPy files")
        {
            files, type, param, derivatives, output, threads, format,
        };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var structures = StructureIO.ReadAll(parse.GetValue(files)!, parse.GetValue(format));
            var elements = structures.SelectMany(s => s.AtomicNumbers).Distinct().Order().Select(Elements.Symbol).ToList();
            var parameters = ParseParams(parse.GetValue(param) ?? []);
            var descriptor = DescriptorFactory.Create(parse.GetValue(type)!, parameters, elements);
            string outPath = parse.GetValue(output)!;
            bool npy = outPath.EndsWith(".npy", StringComparison.OrdinalIgnoreCase);
            bool withDerivatives = parse.GetValue(derivatives);
            if (npy && withDerivatives) throw new MlipException("--derivatives needs an .npz output (several arrays)");
            if (!npy && !outPath.EndsWith(".npz", StringComparison.OrdinalIgnoreCase)) throw new MlipException("the output must end in .npz or .npy");

            var clock = Stopwatch.StartNew();
            var progress = new ProgressLine(stderr, "descriptors", "structures");
            var sets = DatasetDescriptors.Compute(descriptor, structures, withDerivatives, parse.GetValue(threads), progress);
            progress.Finish();
            double seconds = clock.Elapsed.TotalSeconds;

            var arrays = BuildArrays(structures, sets, descriptor.FeatureCount, withDerivatives);
            if (npy) NumpyFile.WriteNpy(outPath, arrays[0]);
            else NumpyFile.WriteNpz(outPath, arrays);
            WriteMetadata(Path.ChangeExtension(outPath, ".json"), descriptor, parameters, structures.Count, arrays[0].Shape[0], withDerivatives);
            long atoms = arrays[0].Shape[0];
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{descriptor.Name}: {descriptor.FeatureCount} features for {atoms} atoms in {structures.Count} structures, {seconds:F2} s ({1e6 * seconds / Math.Max(1, atoms):F1} µs/atom){(withDerivatives ? ", with derivatives" : "")}"));
            stdout.WriteLine($"wrote {outPath} and {Path.ChangeExtension(outPath, ".json")}");
            return 0;
        }));
        return cmd;
    }

    private static Dictionary<string, string> ParseParams(string[] items)
    {
        var d = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in items)
        {
            int eq = item.IndexOf('=');
            if (eq <= 0) throw new MlipException($"--param expects key=value, got '{item}'");
            d[item[..eq].Trim()] = item[(eq + 1)..].Trim();
        }
        return d;
    }

    private static List<NumpyFile.Array> BuildArrays(IReadOnlyList<Structure> structures, DescriptorSet[] sets, int k, bool derivatives)
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

    private static void WriteMetadata(string path, IDescriptor d, Dictionary<string, string> parameters, int structures, int atoms, bool derivatives) =>
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

/// <summary>A periodic progress line on stderr (at most one per second, and a last one at the end).</summary>
public sealed class ProgressLine(TextWriter stderr, string task, string unit) : IProgress<WorkProgress>
{
    private readonly object _lock = new();
    private TimeSpan _last = TimeSpan.Zero;
    private WorkProgress _latest;

    public void Report(WorkProgress value)
    {
        lock (_lock)
        {
            _latest = value;
            if (value.Elapsed - _last < TimeSpan.FromSeconds(1) && value.Done != value.Total) return;
            _last = value.Elapsed;
            Write(value);
        }
    }

    private void Write(WorkProgress p)
    {
        double eta = p.Done > 0 ? p.Elapsed.TotalSeconds * (p.Total - p.Done) / p.Done : 0;
        stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{task}: {p.Done}/{p.Total} {unit} ({100.0 * p.Done / Math.Max(1, p.Total):F0} %), {p.Elapsed.TotalSeconds:F1} s elapsed, ~{eta:F0} s left"));
    }

    public void Finish() { }
}
