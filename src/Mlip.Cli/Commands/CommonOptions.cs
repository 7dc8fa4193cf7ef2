using System.CommandLine;
using Mlip.IO;
using Mlip.Structures;
using Mlip.Validation;

namespace Mlip.Cli.Commands;

/// <summary>
/// The options that several verbs share, defined once so that each spelling has one meaning everywhere
/// (tests/Mlip.Tests/Cli/CliGrammarTests.cs checks it):
/// <c>--model/-m</c> a model file, <c>--potential/-p</c> a classical potential, <c>--index/-i</c> a frame of a
/// structure file, <c>--threads/-j</c>, <c>--json</c>, <c>--output/-o</c>, <c>--input-format/-f</c> and
/// <c>--training/-t</c>. A verb that took its model as the first positional argument still does (a shorthand
/// for <c>--model</c>). Old spellings whose meaning differed between verbs live on as hidden options
/// (<see cref="Legacy{T}"/>, listed in <see cref="LegacyAliases"/>).
/// </summary>
public static class CommonOptions
{
    public const string ModelDescription =
        "Model file: model.json, a PACE .ace/.yace, LAMMPS SNAP X.snapcoeff (X.snapparam beside it) or snap:COEFF,PARAM, " +
        "LAMMPS ML-IAP X.mliap.model (X.mliap.descriptor beside it), X.mliap or mliap:MODEL,DESCRIPTOR";

    public const string PotentialDescription =
        "Classical potential instead of a model: sw, tersoff, eam:FILE, lj:eps,sigma,rc, morse:D0,alpha,r0,rc, buck:A,rho,C,rc";

    public const string IndexDescription =
        "Frame of the structure file (0-based; negative counts from the end); default: the first (convert: every frame)";

    public const string ThreadsDescription = "Threads: structures computed in parallel (default: all cores)";

    public const string JsonDescription = "Print the result as one JSON object instead of text";

    public static string InputFormatDescription => $"Input structure format ({string.Join(", ", StructureFormats.Names)}); default: from the file name";

    public static Option<string?> Model() => new("--model", "-m") { Description = ModelDescription };

    public static Option<string?> Potential() => new("--potential", "-p") { Description = PotentialDescription };

    public static Option<int?> Index() => new("--index", "-i") { Description = IndexDescription };

    public static Option<int> Threads() => new("--threads", "-j") { Description = ThreadsDescription, DefaultValueFactory = _ => Environment.ProcessorCount };

    public static Option<bool> Json() => new("--json") { Description = JsonDescription };

    public static Option<string?> InputFormat() => new("--input-format", "-f") { Description = InputFormatDescription };

    /// <summary><c>--output/-o</c>: what is written depends on the verb (a file or a folder), the spelling does not.</summary>
    public static Option<string?> Output(string description, bool required = false, string? defaultValue = null)
    {
        var o = new Option<string?>("--output", "-o") { Description = description, Required = required };
        if (defaultValue is not null) o.DefaultValueFactory = _ => defaultValue;
        return o;
    }

    /// <summary><c>--training/-t</c>: the model's training data (structure files).</summary>
    public static Option<string[]> Training(string description, bool required = false) =>
        new("--training", "-t") { Description = description, Required = required, AllowMultipleArgumentsPerToken = true };

    /// <summary>The positional model of predict, test, activeset, export lammps and serve: a shorthand for <c>--model</c>.</summary>
    public static Argument<string?> ModelArgument() =>
        new("model") { Arity = ArgumentArity.ZeroOrOne, Description = "Model file (a shorthand for --model FILE; give one or the other)" };

    /// <summary>Old spellings kept working as hidden options: old name -> the option that replaced it.</summary>
    public static IReadOnlyDictionary<string, string> LegacyAliases { get; } = new Dictionary<string, string>
    {
        ["--format"] = "--input-format",       // info, test, predict, label, descriptors (export lammps --format is the LAMMPS style)
        ["--in-format"] = "--input-format",    // convert
        ["--out-format"] = "--output-format",  // convert
        ["--min-distance"] = "--min-distance-fraction", // generate (info --min-distance is a distance in Å)
    };

    /// <summary>A hidden option spelled <paramref name="oldName"/> that stands for <paramref name="replacement"/> (read it with <see cref="Value{T}"/>).</summary>
    public static Option<T> Legacy<T>(string oldName, Option<T> replacement)
    {
        if (!LegacyAliases.TryGetValue(oldName, out var target) || target != replacement.Name)
            throw new InvalidOperationException($"{oldName} is not a registered legacy spelling of {replacement.Name}");
        return new Option<T>(oldName) { Description = $"Old spelling of {replacement.Name}", Hidden = true };
    }

    /// <summary>The value of <paramref name="option"/>, or of its old spelling <paramref name="legacy"/> when only that was given.</summary>
    public static T? Value<T>(ParseResult parse, Option<T> option, Option<T> legacy) =>
        parse.GetResult(option) is null && parse.GetResult(legacy) is not null ? parse.GetValue(legacy) : parse.GetValue(option);

    /// <summary>The model: <c>--model</c> or the positional shorthand, not both; null when neither was given.</summary>
    public static string? ModelPath(ParseResult parse, Option<string?> model, Argument<string?>? positional)
    {
        string? named = parse.GetValue(model), first = positional is null ? null : parse.GetValue(positional);
        if (named is not null && first is not null)
            throw new MlipException($"the model is given twice ('{first}' and --model {named}): give it once");
        return named ?? first;
    }

    /// <summary>The model (<c>--model</c> or the positional shorthand), required.</summary>
    public static string RequireModel(ParseResult parse, Option<string?> model, Argument<string?> positional) =>
        ModelPath(parse, model, positional) ?? throw new MlipException("give the model: MODEL or --model FILE");

    /// <summary>
    /// <c>VERB MODEL DATA...</c> or <c>VERB --model MODEL DATA...</c>: with <c>--model</c> every positional is data,
    /// without it the first one is the model.
    /// </summary>
    public static (string Model, string[] Data) ModelAndData(ParseResult parse, Option<string?> model, Argument<string?> positional, Argument<string[]> data)
    {
        string[] rest = parse.GetValue(data) ?? [];
        string? first = parse.GetValue(positional);
        if (parse.GetValue(model) is string named)
        {
            string[] all = first is null ? rest : [first, .. rest];
            if (all.Length == 0) throw new MlipException("give the data files (structure files after the options)");
            return (named, all);
        }
        if (first is null) throw new MlipException("give the model (MODEL or --model FILE) and the data files");
        if (rest.Length == 0) throw new MlipException($"give the data files after the model '{first}'");
        return (first, rest);
    }

    /// <summary>The one check of <c>--index</c>: the frame <paramref name="index"/> of <paramref name="frames"/> read from <paramref name="path"/>.</summary>
    public static int ResolveIndex(int index, int count, string path)
    {
        int i = index < 0 ? count + index : index;
        if (i < 0 || i >= count) throw new MlipException($"--index {index} is out of range: {path} holds {count} structures");
        return i;
    }

    /// <summary>Reads <paramref name="path"/> and returns its frame <c>--index</c> (the first without it).</summary>
    public static Structure ReadFrame(string path, int? index)
    {
        var frames = StructureIO.Read(path);
        return frames[ResolveIndex(index ?? 0, frames.Count, path)];
    }
}
