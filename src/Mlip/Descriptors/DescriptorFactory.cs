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
    /// <summary>The descriptor types (the names in <see cref="DescriptorTypes"/>).</summary>
    public static IReadOnlyList<string> Types => [.. DescriptorTypes.All.Select(t => t.Name)];

    public static IDescriptor Create(string type, IReadOnlyDictionary<string, string> parameters, IReadOnlyList<string> dataElements) =>
        Create(type, parameters, dataElements, null);

    /// <summary>
    /// The values the factory falls back to for every parameter of <paramref name="type"/> not given (one element, Si),
    /// as text: a test holds them equal to the defaults <see cref="DescriptorTypes"/> documents.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Fallbacks(string type)
    {
        var seen = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        Create(type, new Dictionary<string, string>(), ["Si"], seen);
        return seen;
    }

    private static IDescriptor Create(string type, IReadOnlyDictionary<string, string> parameters, IReadOnlyList<string> dataElements, Dictionary<string, string>? fallbacks)
    {
        if (type.Equals("multi", StringComparison.OrdinalIgnoreCase)) return CreateMulti(parameters, dataElements);
        var declared = DescriptorTypes.Find(type);
        if (declared?.Create is { } create)
        {
            // a registered type: its settings record holds the defaults the table lists
            if (fallbacks is not null)
                foreach (var k in declared.Parameters)
                    if (!parameters.Keys.Contains(k.Key, StringComparer.OrdinalIgnoreCase)) fallbacks.TryAdd(k.Key, k.Default);
            return create(parameters, dataElements);
        }
        var p = new ParameterReader(type, parameters, declared, fallbacks);
        IDescriptor d = type.ToLowerInvariant() switch
        {
            "acsf" or "wacsf" => CreateAcsf(p, dataElements, type.Equals("wacsf", StringComparison.OrdinalIgnoreCase)),
            "so4" or "snap" or "bispectrum" => CreateSo4(p, dataElements),
            "ead" => CreateEad(p, dataElements),
            "so3" or "soap" => CreateSo3(p, dataElements),
            "pinn" => CreatePinn(p, dataElements),
            "ace" => CreateAce(p, dataElements),
            _ => throw new MlipException($"unknown descriptor type '{type}' ({string.Join(", ", DescriptorTypes.All.Select(t => t.Name))})"),
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
        double rc = p.Cutoff("rc", 5.0);
        var defaults = new AcsfParameters();
        int g2n = p.Int("g2_centred", 6, 1, DescriptorLimits.MaxTerms);
        int g2s = p.Int("g2_shifted", 0, 0, DescriptorLimits.MaxTerms);
        var g2 = new List<RadialTerm>(AcsfParameters.CentredRadialGrid(g2n, rc));
        if (g2s > 0) g2.AddRange(AcsfParameters.ShiftedRadialGrid(g2s, rc));
        AngularTerm[] Angular(string prefix, double[] etas, double[] zetas, double[] lambdas) =>
            AcsfParameters.AngularGrid(p.Doubles(prefix + "_eta", etas, 0, 1e6), p.Doubles(prefix + "_zeta", zetas, 1, 1e4), p.Doubles(prefix + "_lambda", lambdas, -1, 1));
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
                Cutoff = p.Cutoff("rc", d.Cutoff),
                RadialBasis = p.String("radial", d.RadialBasis),
                Lambda = p.Double("lambda", d.Lambda, -1e3, 1e3),
                DCut = p.Double("dcut", d.DCut, 1e-12, DescriptorLimits.MaxCutoff),
                MaxRank = p.Int("order", d.MaxRank, 1, 8),
                NMax = p.Ints("nmax", d.NMax, 1, 50),
                LMax = p.Ints("lmax", d.LMax, 0, 20),
                TotalDegree = p.Double("degree", 0, 0, 100),
                LWeight = p.Double("wl", d.LWeight, 1e-3, 1e3),
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
        var weights = p.Doubles("weights", [], -1e6, 1e6);
        if (weights.Length != 0 && weights.Length != elements.Count)
            throw new MlipException($"ead: weights need one value per element ({string.Join(",", elements)})");
        return new Ead(new EadParameters
        {
            Cutoff = p.Cutoff("rc", d.Cutoff),
            CutoffFunction = CutoffFunction.ParseKind(p.String("cutoff_function", "cosine")),
            Lmax = p.Int("lmax", d.Lmax, 0, DescriptorLimits.MaxLmax),
            Eta = p.Doubles("eta", [.. d.Eta], 0, 1e6),
            Rs = p.Doubles("rs", [.. d.Rs], -DescriptorLimits.MaxCutoff, DescriptorLimits.MaxCutoff),
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
            Cutoff = p.Cutoff("rc", d.Cutoff),
            CutoffRange = p.Double("dc", d.CutoffRange, 1e-12, DescriptorLimits.MaxCutoff),
            Width = p.Double("width", d.Width, 1e-12, DescriptorLimits.MaxCutoff),
            Centres = p.Doubles("centres", [.. d.Centres], -DescriptorLimits.MaxCutoff, DescriptorLimits.MaxCutoff),
            Orders = p.Ints("orders", d.Orders, 0, DescriptorLimits.MaxLmax),
            Shift = p.Double("shift", d.Shift, -1e6, 1e6),
            Asinh = p.Int("asinh", 1) != 0,
            Elements = p.Strings("elements", dataElements),
        });
    }

    private static So3 CreateSo3(ParameterReader p, IReadOnlyList<string> dataElements)
    {
        var d = new So3Parameters();
        var elements = p.Strings("elems", p.Strings("elements", dataElements));
        double[] radii = p.Doubles("radelems", [], 1e-6, DescriptorLimits.MaxCutoff), weights = p.Doubles("welems", [], -1e6, 1e6);
        if ((radii.Length != 0 && radii.Length != elements.Count) || (weights.Length != 0 && weights.Length != elements.Count))
            throw new MlipException($"so3: radelems and welems need one value per element ({string.Join(",", elements)})");
        return new So3(new So3Parameters
        {
            Rcutfac = p.Cutoff("rcutfac", d.Rcutfac),
            Nmax = p.Int("nmax", d.Nmax, 1, So3RadialBasis.MaxNmax),
            Lmax = p.Int("lmax", d.Lmax, 0, DescriptorLimits.MaxLmax),
            Alpha = p.Double("alpha", d.Alpha, 1e-6, 1e6),
            Elements = elements,
            Radii = radii.Length == 0 ? null : radii,
            Weights = weights.Length == 0 ? null : weights,
        });
    }

    private static BispectrumSo4 CreateSo4(ParameterReader p, IReadOnlyList<string> dataElements)
    {
        var elements = p.Strings("elements", dataElements);
        var radii = p.Doubles("radelem", [.. Enumerable.Repeat(0.5, elements.Count)], 1e-6, DescriptorLimits.MaxCutoff);
        var weights = p.Doubles("wj", [.. Enumerable.Repeat(1.0, elements.Count)], -1e6, 1e6);
        if (radii.Length != elements.Count || weights.Length != elements.Count)
            throw new MlipException($"so4: radelem and wj need one value per element ({string.Join(",", elements)})");
        var list = new So4Element[elements.Count];
        for (int e = 0; e < list.Length; e++) list[e] = new So4Element(elements[e], radii[e], weights[e]);
        var d = new So4Parameters();
        return new BispectrumSo4(new So4Parameters
        {
            RcutFac = p.Cutoff("rcutfac", d.RcutFac),
            Rfac0 = p.Double("rfac0", d.Rfac0, 1e-12, 1 - 1e-12),
            TwoJMax = p.Int("twojmax", d.TwoJMax, 0, DescriptorLimits.MaxTwoJMax),
            Rmin0 = p.Double("rmin0", d.Rmin0, 0, DescriptorLimits.MaxCutoff),
            SwitchFlag = p.Int("switchflag", 1) != 0,
            BzeroFlag = p.Int("bzeroflag", 1) != 0,
            QuadraticFlag = p.Int("quadraticflag", 0) != 0,
            WSelf = p.Double("wself", 1.0, -1e6, 1e6),
            Elements = list,
        });
    }

    /// <summary>Reads typed values from key=value strings and remembers which keys were used.</summary>
    private sealed class ParameterReader(string type, IReadOnlyDictionary<string, string> values, DescriptorType? declared, Dictionary<string, string>? fallbacks)
    {
        private readonly HashSet<string> _used = new(StringComparer.OrdinalIgnoreCase);

        private string? Raw(string key)
        {
            // every key the factory reads is documented in the table (the schema is generated from it)
            if (declared is not null && !declared.Parameters.Any(k => k.Key.Equals(key, StringComparison.OrdinalIgnoreCase)))
                throw new InvalidOperationException($"descriptor '{type}' reads parameter '{key}', which DescriptorTypes does not list");
            _used.Add(key);
            foreach (var (k, v) in values) if (string.Equals(k, key, StringComparison.OrdinalIgnoreCase)) return v;
            return null;
        }

        private T Fallback<T>(string key, T value)
        {
            if (fallbacks is not null) fallbacks.TryAdd(key, Mlip.Configuration.SettingsBinder.Format(value switch
            {
                IReadOnlyList<double> d => d.ToArray(),
                IReadOnlyList<int> i => i.ToArray(),
                IReadOnlyList<string> t => string.Join(",", t),
                _ => (object?)value,
            }));
            return value;
        }

        public double Double(string key, double fallback) =>
            Raw(key) is { } v ? ParseDouble(key, v) : Fallback(key, fallback);

        /// <summary>A finite number in [min, max].</summary>
        public double Double(string key, double fallback, double min, double max)
        {
            double x = Double(key, fallback);
            if (!(x >= min && x <= max))
                throw new MlipException(string.Create(CultureInfo.InvariantCulture, $"{type}: parameter {key}={x:R} is out of range ({min:G} to {max:G})"));
            return x;
        }

        /// <summary>A cut-off radius: finite, positive, at most <see cref="DescriptorLimits.MaxCutoff"/> Å.</summary>
        public double Cutoff(string key, double fallback)
        {
            double x = Double(key, fallback);
            if (!(x > 0 && x <= DescriptorLimits.MaxCutoff))
                throw new MlipException(string.Create(CultureInfo.InvariantCulture, $"{type}: parameter {key}={x:R} must be a cut-off in (0, {DescriptorLimits.MaxCutoff}] Å"));
            return x;
        }

        public int Int(string key, int fallback)
        {
            if (Raw(key) is not { } v) return Fallback(key, fallback);
            if (int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int x)) return x;
            throw new MlipException($"{type}: parameter {key}={v} is not an integer");
        }

        /// <summary>An integer in [min, max].</summary>
        public int Int(string key, int fallback, int min, int max)
        {
            int x = Int(key, fallback);
            if (x < min || x > max) throw new MlipException($"{type}: parameter {key}={x} is out of range ({min} to {max})");
            return x;
        }

        /// <summary>Comma-separated integers, each in [min, max] (written as integers or as whole numbers like 4.0).</summary>
        public int[] Ints(string key, IReadOnlyList<int> fallback, int min, int max)
        {
            if (Raw(key) is null) return Fallback(key, fallback.ToArray());
            var d = Doubles(key, [], min, max);
            foreach (double x in d)
                if (x != Math.Floor(x)) throw new MlipException(string.Create(CultureInfo.InvariantCulture, $"{type}: parameter {key}: {x:R} is not an integer"));
            return [.. d.Select(x => (int)x)];
        }

        /// <summary>Comma-separated finite numbers, each in [min, max], at most <see cref="DescriptorLimits.MaxTerms"/> of them.</summary>
        public double[] Doubles(string key, double[] fallback, double min, double max)
        {
            var d = Doubles(key, fallback);
            if (d.Length > DescriptorLimits.MaxTerms) throw new MlipException($"{type}: parameter {key} has {d.Length} values (at most {DescriptorLimits.MaxTerms})");
            foreach (double x in d)
                if (!(x >= min && x <= max))
                    throw new MlipException(string.Create(CultureInfo.InvariantCulture, $"{type}: parameter {key}: {x:R} is out of range ({min:G} to {max:G})"));
            return d;
        }

        public string String(string key, string fallback) => Raw(key) ?? Fallback(key, fallback);

        public double[] Doubles(string key, double[] fallback)
        {
            if (Raw(key) is not { } v) return Fallback(key, fallback);
            var parts = v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return [.. parts.Select(x => ParseDouble(key, x))];
        }

        public IReadOnlyList<string> Strings(string key, IReadOnlyList<string> fallback)
        {
            if (Raw(key) is not { } v) return Fallback(key, fallback);
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
                if (!_used.Contains(k))
                    throw new MlipException(declared is null ? $"{type}: unknown parameter '{k}'"
                        : $"{type}: unknown parameter '{k}' (known: {string.Join(", ", declared.Parameters.Select(x => x.Key))})");
        }
    }
}
