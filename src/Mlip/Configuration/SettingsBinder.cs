using System.Globalization;
using System.Reflection;
using Mlip.Validation;

namespace Mlip.Configuration;

/// <summary>
/// Marks a property of a settings record as a config key: its YAML name and a one-line doc. The default is
/// the property's initial value in a new record (one place), unless <see cref="DefaultText"/> says more
/// (a default that depends on another key).
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SettingAttribute(string key, string doc) : Attribute
{
    public string Key { get; } = key;
    public string Doc { get; } = doc;
    /// <summary>The values a text setting may take (compared case-insensitively; stored lower-case).</summary>
    public string[]? Choices { get; set; }
    /// <summary>Smallest allowed number (each element of a list).</summary>
    public double Min { get; set; } = double.NegativeInfinity;
    /// <summary>Largest allowed number (each element of a list).</summary>
    public double Max { get; set; } = double.PositiveInfinity;
    /// <summary>How the default reads in the schema when the initial value does not say it (e.g. "100 with lm, 200 with lbfgs").</summary>
    public string? DefaultText { get; set; }
}

/// <summary>One key of a settings record, as the schema lists it.</summary>
public sealed record SettingInfo(string Key, string Type, string Default, string Doc, PropertyInfo Property, SettingAttribute Attribute);

/// <summary>
/// Binds a <see cref="ConfigSection"/> to a settings record (properties marked with <see cref="SettingAttribute"/>):
/// unknown keys are refused with file:line and the list of known keys, values are parsed by the property's type
/// (number, integer, true/false, text, lists of numbers or integers) with file:line on every error, and keys not
/// given keep the record's defaults.
/// </summary>
public static class SettingsBinder
{
    private static readonly Dictionary<Type, IReadOnlyList<SettingInfo>> Cache = [];

    /// <summary>The keys of a settings record type, in declaration order, with type, default and doc.</summary>
    public static IReadOnlyList<SettingInfo> Describe(Type type)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(type, out var known)) return known;
            var instance = Activator.CreateInstance(type) ?? throw new InvalidOperationException($"{type.Name} needs a parameterless constructor");
            var list = new List<SettingInfo>();
            foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.MetadataToken))
            {
                if (p.GetCustomAttribute<SettingAttribute>() is not { } a) continue;
                list.Add(new SettingInfo(a.Key, TypeName(p.PropertyType, a), a.DefaultText ?? Format(p.GetValue(instance)), a.Doc, p, a));
            }
            Cache[type] = list;
            return list;
        }
    }

    public static T Bind<T>(ConfigSection section, string what) where T : class, new() => (T)Bind(typeof(T), section, what);

    /// <summary>A new <paramref name="type"/> with the section's values over its defaults; <paramref name="what"/> names the owner in errors ("a linear model").</summary>
    public static object Bind(Type type, ConfigSection section, string what)
    {
        var settings = Describe(type);
        var result = Activator.CreateInstance(type)!;
        foreach (var e in section.Entries)
        {
            var s = settings.FirstOrDefault(x => string.Equals(x.Key, e.Key, StringComparison.OrdinalIgnoreCase))
                ?? throw section.Error(e.Line, $"unknown key '{section.Name}.{e.Key}' for {what} (known: {string.Join(", ", settings.Select(x => x.Key))})");
            s.Property.SetValue(result, Parse(s, e, section));
        }
        return result;
    }

    private static object? Parse(SettingInfo s, ConfigEntry e, ConfigSection section)
    {
        var a = s.Attribute;
        string name = $"{section.Name}.{s.Key}";
        Exception Bad(string message) => section.Error(e.Line, message);
        double Number(string text)
        {
            string t = text.Trim();
            if (t.Equals("true", StringComparison.OrdinalIgnoreCase)) return 1;
            if (t.Equals("false", StringComparison.OrdinalIgnoreCase)) return 0;
            if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) || double.IsNaN(x))
                throw Bad($"{name} must be a number, got '{e.Value}'");
            if (!(x >= a.Min && x <= a.Max))
                throw Bad(string.Create(CultureInfo.InvariantCulture, $"{name} must be in [{a.Min:G}, {a.Max:G}], got {x:G}"));
            return x;
        }
        int Integer(string text)
        {
            double x = Number(text);
            if (x != Math.Round(x) || Math.Abs(x) >= int.MaxValue) throw Bad($"{name} must be a whole number, got '{text.Trim()}'");
            return (int)x;
        }
        string[] Parts()
        {
            var parts = e.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return parts.Length > 0 ? parts : throw Bad($"{name} is empty");
        }
        var t = Nullable.GetUnderlyingType(s.Property.PropertyType) ?? s.Property.PropertyType;
        if (t == typeof(double)) return Number(e.Value);
        if (t == typeof(int)) return Integer(e.Value);
        if (t == typeof(bool))
            return e.Value.Trim().ToLowerInvariant() switch
            {
                "true" or "yes" or "on" => true,
                "false" or "no" or "off" => false,
                var v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) ? x != 0
                    : throw Bad($"{name} must be true or false, got '{e.Value}'"),
            };
        if (t == typeof(double[])) return Parts().Select(Number).ToArray();
        if (t == typeof(int[])) return Parts().Select(Integer).ToArray();
        if (t == typeof(string))
        {
            string v = e.Value.Trim();
            if (a.Choices is null) return v;
            string lower = v.ToLowerInvariant();
            return a.Choices.Contains(lower) ? lower : throw Bad($"{name} must be {string.Join(" or ", a.Choices)}, got '{v}'");
        }
        throw new InvalidOperationException($"setting {s.Key}: type {t.Name} is not supported");
    }

    private static string TypeName(Type type, SettingAttribute a)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        string name = t == typeof(double) ? "number" : t == typeof(int) ? "integer" : t == typeof(bool) ? "bool"
            : t == typeof(double[]) ? "number list" : t == typeof(int[]) ? "integer list"
            : a.Choices is { } c ? string.Join(" | ", c) : "text";
        return name;
    }

    /// <summary>A value as the schema and the docs write it (YAML syntax).</summary>
    public static string Format(object? value) => value switch
    {
        null => "none",
        double d => FormatNumber(d),
        int i => i.ToString(CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        double[] a => "[" + string.Join(", ", a.Select(FormatNumber)) + "]",
        int[] a => "[" + string.Join(", ", a.Select(x => x.ToString(CultureInfo.InvariantCulture))) + "]",
        string s => s.Length == 0 ? "\"\"" : s,
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
    };

    private static string FormatNumber(double d) =>
        double.IsPositiveInfinity(d) ? "inf" : d.ToString("R", CultureInfo.InvariantCulture).Replace("E-0", "e-").Replace("E+0", "e").Replace("E", "e");
}
