using Mlip.Structures;

namespace Mlip.AutoFit;

/// <summary>
/// The split of the training structures into validation folds, stratified by <c>config_type</c> group: each group's
/// structures are shuffled (seeded) and dealt round the folds, continuing where the previous group stopped, so that
/// every fold holds about the same share of every group. <see cref="Validated"/> are the folds whose errors count:
/// every fold (k-fold cross-validation) for a small set, the first fold only (a hold-out) for a large one.
/// </summary>
public sealed class ValidationFolds
{
    private ValidationFolds(int[] foldOf, int count, int[] validated)
    {
        FoldOf = foldOf;
        Count = count;
        Validated = validated;
    }

    /// <summary>The fold of each structure.</summary>
    public int[] FoldOf { get; }

    public int Count { get; }

    /// <summary>The folds validated on (each in turn left out of the fit).</summary>
    public int[] Validated { get; }

    public bool IsCrossValidation => Validated.Length > 1;

    public static ValidationFolds Make(IReadOnlyList<Structure> structures, int folds, bool crossValidate, int seed)
    {
        folds = Math.Clamp(folds, 2, Math.Max(2, structures.Count));
        var foldOf = new int[structures.Count];
        var groups = new SortedDictionary<string, List<int>>(StringComparer.Ordinal);
        for (int s = 0; s < structures.Count; s++)
        {
            string g = structures[s].Group ?? "";
            if (!groups.TryGetValue(g, out var list)) groups[g] = list = [];
            list.Add(s);
        }
        var rng = new Random(seed);
        int next = 0;
        foreach (var (_, members) in groups)
        {
            var shuffled = members.OrderBy(_ => rng.Next()).ToArray();
            foreach (int s in shuffled) foldOf[s] = next++ % folds;
        }
        int[] validated = crossValidate ? [.. Enumerable.Range(0, folds)] : [0];
        return new ValidationFolds(foldOf, folds, validated);
    }
}
