using System.Globalization;
using System.Text.Json.Nodes;
using Mlip.Models;
using Mlip.Training;

namespace Mlip.AutoFit;

/// <summary>
/// A basis of the search: a model family on one descriptor (its parameters fixed). Every candidate on a basis shares
/// its <see cref="LinearDesign"/>: the descriptors are computed once per basis.
/// </summary>
/// <param name="Family">ace (linear ACE), quadratic (qSNAP on so4) or linear (SNAP on so4).</param>
/// <param name="Label">Short name in tables ("ace L1 rc 5").</param>
/// <param name="Descriptor">The descriptor type and parameters.</param>
/// <param name="Order">1 for linear models, 2 for quadratic.</param>
public sealed record FitBasis(string Family, string Label, DescriptorSpec Descriptor, int Order)
{
    public bool IsAce => Family == "ace";

    /// <summary>
    /// The built-in ACE ladder (order, nmax per rank, lmax per rank), smallest first; each level contains the previous one.
    /// For one element: 91, 342, 1075, 2099, 4821, 5927, 24197 columns. Every level has 24 radial functions for the pair
    /// (rank-1) terms: they cost a few columns per element pair and resolve short-range pair forces (a Tersoff switching
    /// function) that 8 could not (docs/fit.md, "Two elements"). The 5927-column level grows the radial functions of ranks
    /// 2-3 at the 4821-column level's angular limits: the step after it is four times larger, and its blocks alone
    /// (5 folds × 3 row classes × 8 bytes per column squared, ~70 GB) pass the memory limit on mlearn Si.
    /// </summary>
    public static readonly (int Order, int[] Nmax, int[] Lmax)[] AceLadder =
    [
        (3, [24, 4, 2], [0, 3, 2]),
        (4, [24, 6, 3, 2], [0, 4, 3, 2]),
        (4, [24, 8, 5, 3], [0, 4, 3, 2]),
        (4, [24, 10, 6, 4], [0, 4, 3, 2]),
        (4, [24, 10, 6, 4], [0, 5, 4, 3]),
        (4, [24, 12, 7, 4], [0, 5, 4, 3]),
        (4, [24, 12, 8, 5], [0, 6, 5, 4]),
    ];

    /// <summary>The radial base of the ladder unless search.radials says otherwise (docs/fit.md, "The radial base").</summary>
    public const string DefaultRadial = "SBessel";

    /// <summary>
    /// Ladder level <paramref name="level"/> at cut-off <paramref name="rc"/> on the radial base <paramref name="radial"/>: a
    /// name of docs/ace.md's radial bases, with ":λ" for ChebExpCos and ChebPow (e.g. "ChebExpCos:5.25"). The label names the
    /// radial base only when it is not <see cref="DefaultRadial"/> (so the default's labels, and checkpoints, are as before).
    /// </summary>
    public static FitBasis Ace(int level, double rc, string radial = DefaultRadial)
    {
        var (order, nmax, lmax) = AceLadder[level];
        string R(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
        var (name, lambda) = ParseRadial(radial);
        var p = new Dictionary<string, string>
        {
            ["rc"] = R(rc), ["radial"] = name, ["order"] = order.ToString(CultureInfo.InvariantCulture),
            ["nmax"] = string.Join(",", nmax), ["lmax"] = string.Join(",", lmax),
        };
        if (lambda is double l) p["lambda"] = R(l);
        string suffix = name == DefaultRadial && lambda is null ? "" : " " + RadialLabel(name, lambda);
        return new FitBasis("ace", $"ace L{level} rc {R(rc)}{suffix}", new DescriptorSpec("ace", p), 1);
    }

    /// <summary>The radial base of an ACE basis in the form of search.radials ("SBessel", "ChebExpCos:5.25").</summary>
    public string Radial => Descriptor.Parameters.TryGetValue("radial", out var name)
        ? Descriptor.Parameters.TryGetValue("lambda", out var l) ? $"{name}:{l}" : name
        : DefaultRadial;

    private static string RadialLabel(string name, double? lambda) =>
        lambda is double l ? $"{name} {l.ToString("G6", CultureInfo.InvariantCulture)}" : name;

    /// <summary>
    /// One entry of search.radials: a radial base name (ChebExpCos, ChebPow, ChebLinear, SBessel) with an optional ":λ" (ChebExpCos,
    /// ChebPow only; without it the descriptor's default λ applies). Throws <see cref="ArgumentException"/> with the reason.
    /// </summary>
    public static (string Name, double? Lambda) ParseRadial(string spec)
    {
        var parts = spec.Split(':', StringSplitOptions.TrimEntries);
        string name = parts[0];
        if (name is not ("ChebExpCos" or "ChebPow" or "ChebLinear" or "SBessel") || parts.Length > 2)
            throw new ArgumentException($"'{spec}' is not a radial base (ChebExpCos, ChebPow, ChebLinear or SBessel, with ':λ' for ChebExpCos and ChebPow, e.g. ChebExpCos:5.25)");
        if (parts.Length == 1) return (name, null);
        if (name is not ("ChebExpCos" or "ChebPow"))
            throw new ArgumentException($"'{spec}': only ChebExpCos and ChebPow take a λ");
        if (!double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double lambda) || !double.IsFinite(lambda) || lambda <= 0 || lambda > 100)
            throw new ArgumentException($"'{spec}': λ must be a number in (0, 100]");
        return (name, lambda);
    }

    /// <summary>
    /// The FS stage's basis (docs/fit.md): an FS density on ladder level <paramref name="level"/> (at the cut-off of
    /// <paramref name="over"/>) fitted to the residuals of the linear ACE model on <paramref name="over"/>. Its descriptor is the sub-basis's.
    /// </summary>
    public static FitBasis FsAce(int level, FitBasis over)
    {
        double rc = double.Parse(over.Descriptor.Parameters["rc"], CultureInfo.InvariantCulture);
        var sub = Ace(level, rc, over.Radial);
        return new FitBasis("fs-ace", $"fs-ace L{level} over {over.Label}", sub.Descriptor, 1);
    }

    public static FitBasis So4(string family, int twojmax, double rc)
    {
        string R(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
        var p = new Dictionary<string, string> { ["twojmax"] = twojmax.ToString(CultureInfo.InvariantCulture), ["rcutfac"] = R(rc) };
        return new FitBasis(family, $"{family} so4 2J {twojmax} rc {R(rc)}", new DescriptorSpec("so4", p), family == "quadratic" ? 2 : 1);
    }

    public JsonObject Json() => new()
    {
        ["family"] = Family,
        ["label"] = Label,
        ["descriptor"] = new JsonObject
        {
            ["type"] = Descriptor.Type,
            ["parameters"] = new JsonObject([.. Descriptor.Parameters.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]),
        },
        ["order"] = Order,
    };

    /// <summary>The basis of <see cref="Json"/> (an MPI rank receives rank 0's bases so).</summary>
    public static FitBasis FromJson(JsonNode n)
    {
        var d = n["descriptor"]!;
        var parameters = d["parameters"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<string>(), StringComparer.Ordinal);
        return new FitBasis(n["family"]!.GetValue<string>(), n["label"]!.GetValue<string>(), new DescriptorSpec(d["type"]!.GetValue<string>(), parameters),
            n["order"]!.GetValue<int>());
    }
}

/// <summary>The hyperparameters of one candidate on a basis: loss weight ratios (force and stress to energy), ridge scale and (ACE) smoothness exponent.</summary>
public sealed record FitHyper(double Force, double Stress, double Ridge, double Smoothness)
{
    public string Key => string.Create(CultureInfo.InvariantCulture, $"{Force:R}|{Stress:R}|{Ridge:R}|{Smoothness:R}");

    public LossWeights Loss => new() { Energy = 1, Force = Force, Stress = Stress };

    public JsonObject Json() => new() { ["force_weight"] = Force, ["stress_weight"] = Stress, ["ridge"] = Ridge, ["smoothness"] = Smoothness };

    public static FitHyper FromJson(JsonNode n) => new(
        n["force_weight"]!.GetValue<double>(), n["stress_weight"]!.GetValue<double>(), n["ridge"]!.GetValue<double>(), n["smoothness"]!.GetValue<double>());

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"wF {Force:G3} wS {Stress:G3} λ {Ridge:G3} s {Smoothness:G3}");
}

/// <summary>One evaluated candidate: its basis and hyperparameters, validation errors and score, solve time.</summary>
public sealed record FitCandidate(int Id, FitBasis Basis, FitHyper Hyper, ValidationErrors? Errors, double Score, double FitSeconds, string Status)
{
    public JsonObject Json(double? costUsPerAtom, int columns) => new()
    {
        ["id"] = Id,
        ["family"] = Basis.Family,
        ["basis"] = Basis.Label,
        ["columns"] = columns,
        ["hyperparameters"] = Hyper.Json(),
        ["status"] = Status,
        ["score"] = double.IsFinite(Score) ? Score : null,
        ["validation"] = Errors is null ? null : ErrorsJson(Errors),
        ["evaluation_us_per_atom"] = costUsPerAtom,
        ["fit_seconds"] = FitSeconds,
    };

    public static JsonObject ErrorsJson(ValidationErrors e)
    {
        var o = MetricsJson.Of(e.Overall);
        var g = new JsonObject();
        foreach (var (name, m) in e.Groups) g[name] = MetricsJson.Of(m);
        o["groups"] = g;
        return o;
    }

    public static ValidationErrors ErrorsFromJson(JsonNode n)
    {
        static ErrorMetrics M(JsonNode m) => new(
            m["structures"]!.GetValue<int>(), m["atoms"]!.GetValue<int>(),
            m["energy_mae_mev_per_atom"]?.GetValue<double>(), m["energy_rmse_mev_per_atom"]?.GetValue<double>(),
            m["force_mae_ev_per_a"]?.GetValue<double>(), m["force_rmse_ev_per_a"]?.GetValue<double>(),
            m["stress_mae_gpa"]?.GetValue<double>(), m["stress_rmse_gpa"]?.GetValue<double>());
        var groups = n["groups"]!.AsObject().Select(kv => KeyValuePair.Create(kv.Key, M(kv.Value!))).ToList();
        return new ValidationErrors(M(n), groups);
    }
}
