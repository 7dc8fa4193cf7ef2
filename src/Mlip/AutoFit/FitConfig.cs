using System.Globalization;
using Mlip.Configuration;
using Mlip.Validation;
using YamlDotNet.RepresentationModel;

namespace Mlip.AutoFit;

/// <summary>
/// The optional YAML config of <c>mlip fit --config FILE</c>: the keys of <c>mlip train</c> where they overlap (train,
/// test, format, seed, threads, output) and a <c>search:</c> section (<see cref="FitSearchSettings"/>). Command-line
/// options override the file. Unknown keys are errors at their line.
/// </summary>
public sealed record FitConfig
{
    public IReadOnlyList<string> Train { get; init; } = [];
    public IReadOnlyList<string> Test { get; init; } = [];
    public string? Format { get; init; }
    public int? Seed { get; init; }
    public int? Threads { get; init; }
    public string? Output { get; init; }
    public FitSearchSettings Search { get; init; } = new();
    public string SourcePath { get; init; } = "";

    /// <summary>The keys of a fit config besides <c>search.*</c> (those come from <see cref="FitSearchSettings"/>).</summary>
    public static readonly IReadOnlyList<ConfigKeyDoc> Keys =
    [
        new("train", "path list", "(the TRAIN argument)", "training data files, relative to the config file"),
        new("test", "path list", "none", "test data files: evaluated once at the end, never used in a choice"),
        new("format", "text", "by extension", "file format of the data files"),
        new("seed", "integer", "1", "seed of the validation split and every random choice"),
        new("threads", "integer", "all cores", "threads used"),
        new("output", "path", "fit", "run directory (model.json, report.json, report.html, figures)"),
        new("search", "mapping", "the defaults below", "the search space, validation and budget (keys below)"),
    ];

    public static FitConfig Load(string path)
    {
        var root = ConfigSection.LoadRoot(path);
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        InputLocation At(YamlNode n) => new(path, (int)n.Start.Line);
        var top = ConfigKeyDoc.TopKeys(Keys);
        string Scalar(YamlNode n, string what) => n is YamlScalarNode s && s.Value is not null ? s.Value
            : throw new FileFormatException(At(n), $"'{what}' must be a single value");
        IReadOnlyList<string> Paths(YamlNode n, string what)
        {
            var list = n is YamlSequenceNode seq ? seq.Children.Select(c => Scalar(c, what)).ToList() : [Scalar(n, what)];
            return [.. list.Select(p => Path.IsPathRooted(p) ? p : Path.GetFullPath(Path.Combine(dir, p)))];
        }
        int Integer(YamlNode n, string what) =>
            int.TryParse(Scalar(n, what), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= (what == "threads" ? 1 : int.MinValue) ? v
                : throw new FileFormatException(At(n), $"'{what}' must be a whole number{(what == "threads" ? " >= 1" : "")}");
        var c = new FitConfig { SourcePath = Path.GetFullPath(path) };
        foreach (var (k, v) in root.Children)
        {
            string key = Scalar(k, "key");
            c = key switch
            {
                "train" => c with { Train = Paths(v, "train") },
                "test" => c with { Test = Paths(v, "test") },
                "format" => c with { Format = Scalar(v, "format") },
                "seed" => c with { Seed = Integer(v, "seed") },
                "threads" => c with { Threads = Integer(v, "threads") },
                "output" => c with { Output = Path.IsPathRooted(Scalar(v, "output")) ? Scalar(v, "output") : Path.GetFullPath(Path.Combine(dir, Scalar(v, "output"))) },
                "search" => c with { Search = SettingsBinder.Bind<FitSearchSettings>(ConfigSection.FromYaml("search", v, path), "mlip fit") },
                _ => throw new FileFormatException(At(k), $"unknown key '{key}' (known: {string.Join(", ", top)})"),
            };
        }
        return c;
    }
}
