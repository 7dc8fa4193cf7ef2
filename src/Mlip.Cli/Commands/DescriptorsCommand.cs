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

/// <summary>
/// <c>mlip descriptors FILE... --type so4 --param twojmax=8 [--derivatives] -o out.npz</c>, or
/// <c>mlip descriptors FILE... --type so4 --store DIR [--order 2]</c>: the descriptor store of docs/scale.md.
/// </summary>
public static class DescriptorsCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var files = new Argument<string[]>("files") { Arity = ArgumentArity.OneOrMore, Description = "Structure files" };
        var type = new Option<string>("--type") { Description = $"Descriptor: {string.Join(", ", DescriptorFactory.Types)}", Required = true };
        var param = new Option<string[]>("--param") { Description = "Descriptor parameter key=value (repeatable), e.g. twojmax=8 rcutfac=4.9", AllowMultipleArgumentsPerToken = true };
        var derivatives = new Option<bool>("--derivatives", "-d") { Description = "Also write the derivative blocks dX_i/dr_ij with their pair indices and vectors (.npz only)" };
        var output = CommonOptions.Output("Output .npz (features, indices, derivatives) or .npy (features only)", required: false);
        var store = new Option<string>("--store") { Description = "Build the descriptor store in this folder instead (docs/scale.md): feature chunks, and with --order the factors that mlip train reuses" };
        var order = new Option<int>("--order") { Description = "With --store: also factorise the least squares of a linear (1) or quadratic (2) fit with energy and force rows (what mlip train with the same data, descriptor and store reuses)" };
        var stress = new Option<bool>("--stress") { Description = "With --store --order: stress rows too (for loss.stress > 0)" };
        var chunkAtoms = new Option<int>("--chunk-atoms") { Description = "With --store: atoms per chunk (the train config's store_chunk_atoms)", DefaultValueFactory = _ => Mlip.Training.Streaming.DescriptorStore.DefaultChunkAtoms };
        var threads = CommonOptions.Threads();
        var format = CommonOptions.InputFormat();
        var legacyFormat = CommonOptions.Legacy("--format", format);
        var cmd = new Command("descriptors", "Compute per-atom descriptors (and derivatives) for a data set and write NumPy files")
        {
            files, type, param, derivatives, output, store, order, stress, chunkAtoms, threads, format, legacyFormat,
        };
        cmd.SetAction(parse => CliRunner.Run(stderr, () =>
        {
            var structures = StructureIO.ReadAll(parse.GetValue(files)!, CommonOptions.Value(parse, format, legacyFormat));
            var elements = structures.SelectMany(s => s.AtomicNumbers).Distinct().Order().Select(Elements.Symbol).ToList();
            var parameters = ParseParams(parse.GetValue(param) ?? []);
            var descriptor = DescriptorFactory.Create(parse.GetValue(type)!, parameters, elements);
            if (parse.GetValue(store) is { } storeDir)
                return StoreCommand.Build(stdout, stderr, storeDir, new Mlip.Models.DescriptorSpec(parse.GetValue(type)!, parameters), descriptor, structures,
                    parse.GetValue(order), parse.GetValue(stress), parse.GetValue(chunkAtoms), parse.GetValue(threads));
            string outPath = parse.GetValue(output) ?? throw new MlipException("mlip descriptors needs --output FILE.npz (or --store DIR)");
            bool withDerivatives = parse.GetValue(derivatives);
            DescriptorNpz.CheckPath(outPath, withDerivatives);

            var clock = Stopwatch.StartNew();
            var progress = new ProgressLine(stderr, "descriptors", "structures");
            var sets = DatasetDescriptors.Compute(descriptor, structures, withDerivatives, parse.GetValue(threads), progress);
            progress.Finish();
            double seconds = clock.Elapsed.TotalSeconds;

            long atoms = DescriptorNpz.Write(outPath, descriptor, parameters, structures, sets, withDerivatives);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{descriptor.Name}: {descriptor.FeatureCount} features for {atoms} atoms in {structures.Count} structures, {seconds:F2} s ({1e6 * seconds / Math.Max(1, atoms):F1} µs/atom){(withDerivatives ? ", with derivatives" : "")}"));
            stdout.WriteLine($"wrote {outPath} and {DescriptorNpz.MetadataPath(outPath)}");
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
