using System.Globalization;
using Mlip.Validation;

namespace Mlip.AutoFit;

/// <summary>The memory rule of the search (docs/fit.md, "Memory of a basis"): the up-front refusal and the skip line.</summary>
public sealed partial class FitSearch
{
    // what the process holds besides a basis (runtime, structures): part of every basis's estimated peak
    private readonly long _processBytes;
    private readonly Dictionary<double, long> _maxPairsAt = new();

    /// <summary>The most pairs within <paramref name="rc"/> of any training structure (it bounds a structure in flight:
    /// at a large cut-off a dense cell can have more pairs than a larger one with a surface).</summary>
    private long MaxPairsAt(double rc)
    {
        if (!_maxPairsAt.TryGetValue(rc, out long q))
            _maxPairsAt[rc] = q = _o.Train.Max(s => (long)Neighbors.NeighborList.Build(s, rc).PairCount);
        return q;
    }

    /// <summary>
    /// Throws <see cref="MlipException"/> (one line: what the smallest basis needs, the limit, what to change) when not even
    /// the cheapest basis of each family searched fits under <see cref="MemoryLimitBytes"/>, before anything is computed;
    /// returns that basis and its estimate otherwise.
    /// </summary>
    public (FitBasis Basis, DesignMemory Memory) CheckSmallestFits()
    {
        var families = Families();
        var first = new List<FitBasis>();
        if (families.Contains("ace"))
            foreach (double rc in _s.Cutoffs.Length > 0 ? _s.Cutoffs : [5.0]) first.Add(FitBasis.Ace(0, rc, Radials()[0]));
        double rc0 = _s.Cutoffs.Length > 0 ? _s.Cutoffs[_s.Cutoffs.Length / 2] : 5.0;
        foreach (string fam in families.Where(f => f is "quadratic" or "linear"))
            if (_s.TwoJMax.Length > 0) first.Add(FitBasis.So4(fam, _s.TwoJMax.Min(), rc0));
        if (first.Count == 0) throw new MlipException($"search.families '{_s.Families}' names no family to search (ace, quadratic, linear)");
        var smallest = first.Select(b => (Basis: b, Memory: Estimate(b).Memory)).MinBy(x => x.Memory.Peak);
        if (smallest.Memory.Peak > MemoryLimitBytes)
        {
            var one = _o.Threads > 1 ? EstimateWithThreads(smallest.Basis, 1) : null;
            throw new MlipException(string.Create(CultureInfo.InvariantCulture,
                $"mlip fit: even the smallest basis ({smallest.Basis.Label}) needs ~{smallest.Memory.Peak / 1e9:F2} GB at its peak, more than the {MemoryLimitBytes / 1e9:F2} GB limit ({FitMemory.LimitSource(_s.Memory)}); {FitMemory.Advice(smallest.Memory, one, MemoryLimitBytes, _o.Threads)}"));
        }
        _o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fit: memory limit {MemoryLimitBytes / 1e9:F2} GB ({FitMemory.LimitSource(_s.Memory)}); a basis whose estimated peak passes it is skipped (the smallest, {smallest.Basis.Label}: ~{smallest.Memory.Peak / 1e9:F2} GB)"));
        return smallest;
    }

    /// <summary>The skip line of a basis whose estimate passes the limit, with what would make it fit.</summary>
    private string MemorySkipStatus(FitBasis basis, DesignMemory memory) =>
        FitMemory.SkipStatus(memory, _o.Threads > 1 ? EstimateWithThreads(basis, 1) : null, MemoryLimitBytes, _o.Threads);

    /// <summary>The memory estimate of <paramref name="basis"/> as if the search ran on <paramref name="threads"/> threads.</summary>
    private DesignMemory EstimateWithThreads(FitBasis basis, int threads) =>
        new FitSearch(_o with { Threads = threads }).Estimate(basis).Memory;
}
