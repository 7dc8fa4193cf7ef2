using System.Globalization;
using Mlip.Descriptors;
using Mlip.Models;
using Mlip.Structures;
using Mlip.Training.Streaming;

namespace Mlip.Cli.Commands;

/// <summary>The <c>--store</c> form of <c>mlip descriptors</c>: builds the descriptor store (docs/scale.md) and reports its size.</summary>
internal static class StoreCommand
{
    public static int Build(TextWriter stdout, TextWriter stderr, string dir, DescriptorSpec spec, IDescriptor descriptor, IReadOnlyList<Structure> structures,
        int order, bool stress, int chunkAtoms, int threads)
    {
        var progress = new ProgressLine(stderr, "store", "structures");
        var store = StreamingLinearFit.BuildStore(dir, spec, descriptor, structures, order, stress, chunkAtoms, threads, stdout, progress, Mlip.Distributed.Communicator.World);
        progress.Finish();
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{descriptor.Name}: {descriptor.FeatureCount} features, {structures.Count} structures in {store.ChunkCount} chunks; {store.DiskBytes() / 1e6:F1} MB on disk in {store.Directory}"));
        return 0;
    }
}
