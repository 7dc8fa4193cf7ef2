using System.Globalization;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Descriptors;

/// <summary>
/// Builds a descriptor from a type name and key=value parameters (the CLI's <c>--param</c>), with the
/// elements of the data set as the default element list. Unknown keys are an error, so a typo never
/// silently falls back to a default.
/// </summary>
public static class DescriptorFactory
{
    public static readonly string[] Types = ["acsf", "wacsf", "ead", "so4", "so3", "multi", "pinn", "ace"];

    public static IDescriptor Create(string type, IReadOnlyDictionary<string, string> parameters, IReadOnlyList<string> dataElements)
    {
        if (type.Equals("multi", StringComparison.OrdinalIgnoreCase)) return CreateMulti(parameters, dataElements);
        var p = new ParameterReader(type, parameters);
        IDescriptor d = type.ToLowerInvariant() switch
        {
            "acsf" or "wacsf" => CreateAcsf(p, dataElements, type.Equals("wacsf", StringComparison.OrdinalIgnoreCase)),
            "so4" or "snap" or "bispectrum" => CreateSo4(p, dataElements),
            "ead" => CreateEad(p, dataElements),
            "so3" or "soap" => CreateSo3(p, dataElements),
            "pinn" => CreatePinn(p, dataElements),
            "ace" => CreateAce(p, dataElements),
            _ => throw new MlipException($"unknown descriptor type '{type}' ({string.Join(", ", Types)})"),
        };
        p.EnsureAllUsed();
        return d;
    }

    /// <summary>
    /// "multi": <c>base</c> (so4 by default; acsf, wacsf, ead, so3), <c>cutoffs</c> (one block per value:
    /// rcutfac for so4 and so3, rc for acsf and ead), <c>normalize</c> (size, none, unit), <c>average</c>
    /// (0/1: append the structure-wide mean); every other parameter goes to each block.
    /// </summary>
    private static MultiRangeDescriptor CreateMulti(IReadOnlyDictionary<string, string> parameters, IReadOnlyList<string> dataElements)
    {
        string Get(string key, string fallback)
        {
            foreach (var (k, v) in parameters) if (string.Equals(k, key, StringComparison.OrdinalIgnoreCase)) return v;
            return fallback;
        }
        string baseType = Get("base", "so4").ToLowerInvariant();
        if (baseType == "multi") throw new MlipException("multi: base cannot be multi");
        var cutoffs = Get("cutoffs", "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (cutoffs.Length == 0) throw new MlipException("multi: give cutoffs, e.g. cutoffs=3.0,4.5,6.0");
        var normalization = Get("normalize", "size").ToLowerInvariant() switch
        {
            "size" => BlockNormalization.Size,
            "none" => BlockNormalization.None,
            "unit" => BlockNormalization.Unit,
            var v => throw new MlipException($"multi: unknown normalize '{v}' (size, none, unit)"),
        };
        bool average = Get("average", "0") is "1" or "true" or "True";
        string cutoffKey = baseType switch { "so4" or "snap" or "bispectrum" or "so3" or "soap" => "rcutfac", _ => "rc" };
        string[] own = ["base", "cutoffs", "normalize", "average"];
        var blocks = new List<IDescriptor>();
        foreach (string c in cutoffs)
        {
            var p = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var (k, v) in parameters)
            {
                if (own.Contains(k, StringComparer.OrdinalIgnoreCase)) continue;
                if (string.Equals(k, cutoffKey, StringComparison.OrdinalIgnoreCase))
                    throw new MlipException($"multi: give the ranges in cutoffs, not {cutoffKey}");
                p[k] = v;
            }
            p[cutoffKey] = c;
            blocks.Add(Create(baseType, p, dataElements));
        }
        return new MultiRangeDescriptor(blocks, normalization, average);
    }

    private static Acsf CreateAcsf(ParameterReader p, IReadOnlyList<string> dataElements, bool weighted)
    {
        double rc = p.Double("rc", 5.0);
        var defaults = new AcsfParameters();
        int g2n = p.Int("g2_centred", 6);
        int g2s = p.Int("g2_shifted", 0);
        var g2 = new List<RadialTerm>(AcsfParameters.CentredRadialGrid(g2n, rc));
        if (g2s > 0) g2.AddRange(AcsfParameters.ShiftedRadialGrid(g2s, rc));
        AngularTerm[] Angular(string prefix, double[] etas, double[] zetas, double[] lambdas) =>
            AcsfParameters.AngularGrid(p.Doubles(prefix + "_eta", etas), p.Doubles(prefix + "_zeta", zetas), p.Doubles(prefix + "_lambda", lambdas));
        return new Acsf(new AcsfParameters
        {
            Cutoff = rc,
            CutoffFunction = CutoffFunction.ParseKind(p.String("cutoff_function", "cosine")),
            Elements = p.Strings("elements", dataElements),
            Weighting = weighted ? AcsfWeighting.AtomicNumber : AcsfWeighting.ElementResolved,
            G2 = g2,
            G4 = Angular("g4", [0.005, 0.05], [1, 4], [1, -1]),
            G5 = Angular("g5", [], [1], [1, -1]),
        });
    }

    private static Ace.AceBasisDescriptor CreateAce(ParameterReader p, IReadOnlyList<string> dataElements)
    {
        var d = new Ace.AceBasisSpec { Elements = dataElements };
        try
        {
            return new Ace.AceBasisDescriptor(new Ace.AceBasisSpec
            {
                Elements = p.Strings("elements", dataElements),
                Cutoff = p.Double("rc", d.Cutoff),
                RadialBasis = p.String("radial", d.RadialBasis),
                Lambda = p.Double("lambda", d.Lambda),
                DCut = p.Double("dcut", d.DCut),
                MaxRank = p.Int("order", d.MaxRank),
                NMax = [.. p.Doubles("nmax", [.. d.NMax.Select(x => (double)x)]).Select(x => (int)x)],
                LMax = [.. p.Doubles("lmax", [.. d.LMax.Select(x => (double)x)]).Select(x => (int)x)],
                TotalDegree = p.Double("degree", 0),
                LWeight = p.Double("wl", d.LWeight),
            });
        }
        catch (ArgumentException e)
        {
            throw new MlipException(e.Message);
        }
    }

    private static Ead CreateEad(ParameterReader p, IReadOnlyList<string> dataElements)
    {
        var d = new EadParameters();
        var elements = p.Strings("elements", dataElements);
        var weights = p.Doubles("weights", []);
        if (weights.Length != 0 && weights.Length != elements.Count)
            throw new MlipException($"ead: weights need one value per element ({string.Join(",", elements)})");
        return new Ead(new EadParameters
        {
            Cutoff = p.Double("rc", d.Cutoff),
            CutoffFunction = CutoffFunction.ParseKind(p.String("cutoff_function", "cosine")),
            Lmax = p.Int("lmax", d.Lmax),
            Eta = p.Doubles("eta", [.. d.Eta]),
            Rs = p.Doubles("rs", [.. d.Rs]),
            Elements = elements,
            Weights = weights.Length == 0 ? null : weights,
            Convention = p.String("convention", "pyxtal_ff").ToLowerInvariant() switch
            {
                "pyxtal_ff" or "pyxtalff" => EadConvention.PyXtalFF,
                "paper" => EadConvention.Paper,
                var c => throw new MlipException($"ead: unknown convention '{c}' (pyxtal_ff, paper)"),
            },
        });
    }

    private static PinnFeatures CreatePinn(ParameterReader p, IReadOnlyList<string> dataElements)
    {
        var d = new PinnFeatureParameters();
        return new PinnFeatures(new PinnFeatureParameters
        {
            Cutoff = p.Double("rc", d.Cutoff),
            CutoffRange = p.Double("dc", d.CutoffRange),
            Width = p.Double("width", d.Width),
            Centres = p.Doubles("centres", [.. d.Centres]),
            Orders = [.. p.Doubles("orders", [.. d.Orders.Select(l => (double)l)]).Select(l => (int)l)],
            Shift = p.Double("shift", d.Shift),
            Asinh = p.Int("asinh", 1) != 0,
            Elements = p.Strings("elements", dataElements),
        });
    }

    private static So3 CreateSo3(ParameterReader p, IReadOnlyList<string> dataElements)
    {
        var d = new So3Parameters();
        var elements = p.Strings("elems", p.Strings("elements", dataElements));
        double[] radii = p.Doubles("radelems", []), weights = p.Doubles("welems", []);
        if ((radii.Length != 0 && radii.Length != elements.Count) || (weights.Length != 0 && weights.Length != elements.Count))
            throw new MlipException($"so3: radelems and welems need one value per element ({string.Join(",", elements)})");
        return new So3(new So3Parameters
        {
            Rcutfac = p.Double("rcutfac", d.Rcutfac),
            Nmax = p.Int("nmax", d.Nmax),
            Lmax = p.Int("lmax", d.Lmax),
            Alpha = p.Double("alpha", d.Alpha),
            Elements = elements,
            Radii = radii.Length == 0 ? null : radii,
            Weights = weights.Length == 0 ? null : weights,
        });
    }

    private static BispectrumSo4 CreateSo4(ParameterReader p, IReadOnlyList<string> dataElements)
    {
        var elements = p.Strings("elements", dataElements);
        var radii = p.Doubles("radelem", [.. Enumerable.Repeat(0.5, elements.Count)]);
        var weights = p.Doubles("wj", [.. Enumerable.Repeat(1.0, elements.Count)]);
        if (radii.Length != elements.Count || weights.Length != elements.Count)
            throw new MlipException($"so4: radelem and wj need one value per element ({string.Join(",", elements)})");
        var list = new So4Element[elements.Count];
        for (int e = 0; e < list.Length; e++) list[e] = new So4Element(elements[e], radii[e], weights[e]);
        var d = new So4Parameters();
        return new BispectrumSo4(new So4Parameters
        {
            RcutFac = p.Double("rcutfac", d.RcutFac),
            Rfac0 = p.Double("rfac0", d.Rfac0),
            TwoJMax = p.Int("twojmax", d.TwoJMax),
            Rmin0 = p.Double("rmin0", d.Rmin0),
            SwitchFlag = p.Int("switchflag", 1) != 0,
            BzeroFlag = p.Int("bzeroflag", 1) != 0,
            QuadraticFlag = p.Int("quadraticflag", 0) != 0,
            WSelf = p.Double("wself", 1.0),
            Elements = list,
        });
    }

    /// <summary>Reads typed values from key=value strings and remembers which keys were used.</summary>
    private sealed class ParameterReader(string type, IReadOnlyDictionary<string, string> values)
    {
        private readonly HashSet<string> _used = new(StringComparer.OrdinalIgnoreCase);

        private string? Raw(string key)
        {
            _used.Add(key);
            foreach (var (k, v) in values) if (string.Equals(k, key, StringComparison.OrdinalIgnoreCase)) return v;
            return null;
        }

        public double Double(string key, double fallback) =>
            Raw(key) is { } v ? ParseDouble(key, v) : fallback;

        public int Int(string key, int fallback)
        {
            if (Raw(key) is not { } v) return fallback;
            if (int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int x)) return x;
            throw new MlipException($"{type}: parameter {key}={v} is not an integer");
        }

        public string String(string key, string fallback) => Raw(key) ?? fallback;

        public double[] Doubles(string key, double[] fallback)
        {
            if (Raw(key) is not { } v) return fallback;
            var parts = v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return [.. parts.Select(x => ParseDouble(key, x))];
        }

        public IReadOnlyList<string> Strings(string key, IReadOnlyList<string> fallback)
        {
            if (Raw(key) is not { } v) return fallback;
            var list = v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var s in list) Elements.Number(s);
            return list;
        }

        private double ParseDouble(string key, string v)
        {
            if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x)) return x;
            throw new MlipException($"{type}: parameter {key}={v} is not a number");
        }

        public void EnsureAllUsed()
        {
            foreach (var k in values.Keys)
                if (!_used.Contains(k)) throw new MlipException($"{type}: unknown parameter '{k}'");
        }
    }
}
