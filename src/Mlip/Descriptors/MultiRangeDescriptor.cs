using Mlip.Neighbors;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Descriptors;

/// <summary>How each block of a <see cref="MultiRangeDescriptor"/> is scaled.</summary>
public enum BlockNormalization
{
    /// <summary>Blocks as they come.</summary>
    None,

    /// <summary>Each block times 1/√(its feature count), so every range carries the same weight in distances and kernels.</summary>
    Size,

    /// <summary>Each atom's block divided by its Euclidean norm (per-atom values only, no derivatives).</summary>
    Unit,
}

/// <summary>
/// Descriptors at several ranges (docs/per-atom-targets.md): the same descriptor (by default the SO(4)
/// bispectrum) computed with short, medium and long cutoffs and concatenated, each block normalised
/// (<see cref="BlockNormalization"/>), optionally followed by the structure-wide average of the
/// concatenated vector (the same for every atom of a structure). Derivative blocks are the blocks' own,
/// all on the neighbour list of the longest cutoff (each block ignores the pairs beyond its cutoff), so
/// without the average and with None or Size normalisation the composition also serves energy models.
/// </summary>
public sealed class MultiRangeDescriptor : IDescriptor
{
    public MultiRangeDescriptor(IReadOnlyList<IDescriptor> blocks, BlockNormalization normalization = BlockNormalization.Size, bool structureAverage = false)
    {
        if (blocks.Count == 0) throw new MlipException("multi: no blocks");
        Blocks = blocks;
        Normalization = normalization;
        StructureAverage = structureAverage;
        var names = new List<string>();
        foreach (var b in blocks)
            foreach (var n in b.FeatureNames) names.Add(FormattableString.Invariant($"r{b.Cutoff:G4}:{n}"));
        int perAtom = names.Count;
        if (structureAverage)
            for (int k = 0; k < perAtom; k++) names.Add("avg:" + names[k]);
        FeatureNames = names;
        Cutoff = blocks.Max(b => b.Cutoff);
    }

    public IReadOnlyList<IDescriptor> Blocks { get; }
    public BlockNormalization Normalization { get; }
    public bool StructureAverage { get; }

    public string Name => $"multi({string.Join(",", Blocks.Select(b => FormattableString.Invariant($"{b.Name}@{b.Cutoff:G4}")))}{(StructureAverage ? "+avg" : "")})";
    public double Cutoff { get; }
    public int FeatureCount => FeatureNames.Count;
    public IReadOnlyList<string> FeatureNames { get; }

    public DescriptorSet Compute(Structure structure, bool derivatives, NeighborList? neighbors = null)
    {
        if (derivatives && (StructureAverage || Normalization == BlockNormalization.Unit))
            throw new MlipException("multi: derivatives are not available with the structure average or unit normalisation (use them for per-atom targets)");
        var nl = neighbors ?? NeighborList.Build(structure, Cutoff);
        int n = structure.Count, f = FeatureCount, perAtom = StructureAverage ? f / 2 : f;
        var values = new double[n * f];
        double[]? grads = derivatives ? new double[nl.PairCount * f * 3] : null;
        int offset = 0;
        foreach (var block in Blocks)
        {
            var set = block.Compute(structure, derivatives, nl);
            int k = set.Features;
            double scale = Normalization == BlockNormalization.Size ? 1 / Math.Sqrt(k) : 1;
            for (int i = 0; i < n; i++)
            {
                var src = set.Of(i);
                double s = scale;
                if (Normalization == BlockNormalization.Unit)
                {
                    double norm = 0;
                    foreach (double v in src) norm += v * v;
                    s = norm > 0 ? 1 / Math.Sqrt(norm) : 1;
                }
                var dst = values.AsSpan(i * f + offset, k);
                for (int q = 0; q < k; q++) dst[q] = s * src[q];
            }
            if (grads is not null)
                for (int p = 0; p < nl.PairCount; p++)
                {
                    var src = set.PairBlock(p);
                    var dst = grads.AsSpan(p * f * 3 + offset * 3, k * 3);
                    for (int q = 0; q < src.Length; q++) dst[q] = scale * src[q];
                }
            offset += k;
        }
        if (StructureAverage && n > 0)
        {
            var mean = new double[perAtom];
            for (int i = 0; i < n; i++)
                for (int q = 0; q < perAtom; q++) mean[q] += values[i * f + q];
            for (int q = 0; q < perAtom; q++) mean[q] /= n;
            for (int i = 0; i < n; i++) mean.CopyTo(values.AsSpan(i * f + perAtom, perAtom));
        }
        return new DescriptorSet(n, f, values, nl, grads);
    }
}
