using System.CommandLine;
using System.Text.RegularExpressions;
using Mlip.Cli;
using Mlip.Cli.Commands;
using Mlip.Tests.Support;

namespace Mlip.Tests.Cli;

/// <summary>
/// One grammar for every verb: each spelling (long or short) has one meaning, the shared options are the
/// <see cref="CommonOptions"/> ones, every verb that takes a model accepts <c>--model</c>, and README's examples parse.
/// </summary>
public class CliGrammarTests
{
    /// <summary>Verbs that take a model (as <c>--model</c>; some also as the positional shorthand).</summary>
    private static readonly string[] ModelVerbs =
        ["predict", "test", "export lammps", "activeset", "serve", "md", "relax", "eos", "elastic", "neb", "phonon", "label", "info"];

    private static RootCommand Root() => Program.CreateRoot(TextWriter.Null, TextWriter.Null);

    /// <summary>Every command below the root with its path ("export lammps").</summary>
    private static IEnumerable<(string Path, Command Command)> Verbs(Command c, string prefix = "")
    {
        foreach (var sub in c.Subcommands)
        {
            string path = (prefix + " " + sub.Name).Trim();
            yield return (path, sub);
            foreach (var v in Verbs(sub, path)) yield return v;
        }
    }

    /// <summary>The options a user types on a verb: visible, not the built-in help.</summary>
    private static IEnumerable<Option> UserOptions(Command c) =>
        c.Options.Where(o => !o.Hidden && o is not System.CommandLine.Help.HelpOption && o is not VersionOption);

    private static string Signature(Option o) =>
        $"{string.Join(",", o.Aliases.Append(o.Name).Order(StringComparer.Ordinal))} : {o.ValueType.Name} [{o.Arity.MinimumNumberOfValues}..{o.Arity.MaximumNumberOfValues}]{(o.AllowMultipleArgumentsPerToken ? " multi" : "")}";

    [Fact]
    public void EachSpellingHasOneMeaningOnEveryVerb()
    {
        var byAlias = new Dictionary<string, HashSet<string>>();
        var byName = new Dictionary<string, Dictionary<string, List<string>>>();
        foreach (var (verb, cmd) in Verbs(Root()))
            foreach (var o in UserOptions(cmd))
            {
                foreach (var alias in o.Aliases.Append(o.Name))
                    (byAlias.TryGetValue(alias, out var names) ? names : byAlias[alias] = []).Add(o.Name);
                var sigs = byName.TryGetValue(o.Name, out var d) ? d : byName[o.Name] = [];
                (sigs.TryGetValue(Signature(o), out var verbs) ? verbs : sigs[Signature(o)] = []).Add(verb);
            }
        var problems = byAlias.Where(kv => kv.Value.Count > 1).Select(kv => $"{kv.Key} means {string.Join(" and ", kv.Value)}")
            .Concat(byName.Where(kv => kv.Value.Count > 1).Select(kv =>
                $"{kv.Key} differs: {string.Join("; ", kv.Value.Select(s => $"{s.Key} on {string.Join(", ", s.Value)}"))}"))
            .ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        // the short aliases of the shared options
        Assert.Equal(["--model"], byAlias["-m"]);
        Assert.Equal(["--potential"], byAlias["-p"]);
        Assert.Equal(["--index"], byAlias["-i"]);
        Assert.Equal(["--threads"], byAlias["-j"]);
        Assert.Equal(["--output"], byAlias["-o"]);
        Assert.Equal(["--input-format"], byAlias["-f"]);
        Assert.Equal(["--training"], byAlias["-t"]);
    }

    [Fact]
    public void SharedOptionsAreTheCommonOnes()
    {
        var shared = new Option[] { CommonOptions.Model(), CommonOptions.Potential(), CommonOptions.Index(), CommonOptions.Threads(), CommonOptions.Json(), CommonOptions.InputFormat() }
            .ToDictionary(o => o.Name);
        var seen = new HashSet<string>();
        foreach (var (verb, cmd) in Verbs(Root()))
            foreach (var o in UserOptions(cmd))
                if (shared.TryGetValue(o.Name, out var reference))
                {
                    Assert.True(reference.Description == o.Description, $"{verb} {o.Name}: '{o.Description}' is not the shared '{reference.Description}'");
                    Assert.Equal(Signature(reference), Signature(o));
                    seen.Add(o.Name);
                }
        Assert.Equal(shared.Keys.Order(), seen.Order());
        // --threads on every verb that computes structures in parallel
        foreach (var verb in new[] { "descriptors", "test", "predict", "label" })
            Assert.Contains(Command(verb).Options, o => o.Name == "--threads");
    }

    [Fact]
    public void EveryVerbThatTakesAModelAcceptsDashDashModel()
    {
        foreach (var verb in ModelVerbs)
            Assert.True(Command(verb).Options.Any(o => o.Name == "--model" && o.Aliases.Contains("-m")), $"{verb} has no --model/-m");
        // and no other verb takes one under another name
        foreach (var (verb, cmd) in Verbs(Root()))
            if (!ModelVerbs.Contains(verb))
                Assert.DoesNotContain(cmd.Options, o => o.Name == "--model");
    }

    [Fact]
    public void HiddenOptionsAreOldSpellingsOfAVisibleOne()
    {
        int n = 0;
        foreach (var (verb, cmd) in Verbs(Root()))
            foreach (var o in cmd.Options.Where(o => o.Hidden))
            {
                Assert.True(CommonOptions.LegacyAliases.TryGetValue(o.Name, out var now), $"{verb} {o.Name}: hidden, but not a registered old spelling");
                Assert.Contains(UserOptions(cmd), v => v.Name == now);
                Assert.DoesNotContain(UserOptions(cmd), v => v.Name == o.Name || v.Aliases.Contains(o.Name));
                n++;
            }
        Assert.True(n >= 7, $"{n} old spellings");
    }

    private static Command Command(string path) =>
        path.Split(' ').Aggregate((Command)Root(), (c, name) => c.Subcommands.Single(s => s.Name == name));

    // ---- behaviour of the shared grammar ----

    [Fact]
    public void TheModelPositionalIsAShorthandForDashDashModel()
    {
        string dir = TestPaths.TempDir();
        string pot = ManybodyReference.Potential("Cu-PBE-core-rep.ace");
        string cu = Path.Combine(dir, "cu.xyz");
        Assert.Equal(0, CliTests.Run("build", "fcc", "Cu", "3.61", "--rattle", "0.05", "-n", "2", "-o", cu).code);
        string a = Path.Combine(dir, "a.xyz"), b = Path.Combine(dir, "b.xyz"), c = Path.Combine(dir, "c.xyz");
        var r1 = CliTests.Run("predict", pot, cu, "-o", a, "-j", "1");
        var r2 = CliTests.Run("predict", "--model", pot, cu, "-o", b, "-j", "1");
        var r3 = CliTests.Run("predict", cu, "-o", c, "-m", pot, "-j", "1");
        Assert.True(r1.code == 0 && r2.code == 0 && r3.code == 0, r1.stderr + r2.stderr + r3.stderr);
        Assert.Equal(File.ReadAllText(a), File.ReadAllText(b));
        Assert.Equal(File.ReadAllText(a), File.ReadAllText(c));
        Assert.Equal(CliTests.Run("test", pot, cu, "--json", "-j", "1").stdout, CliTests.Run("test", "-m", pot, cu, "--json", "-j", "1").stdout);

        var twice = CliTests.Run("export", "lammps", pot, "--model", pot, "-o", Path.Combine(dir, "lmp"));
        Assert.Equal(1, twice.code);
        Assert.Contains("given twice", twice.stderr);
        var none = CliTests.Run("export", "lammps", "-o", Path.Combine(dir, "lmp"));
        Assert.Equal(1, none.code);
        Assert.Contains("--model", none.stderr);
        var noData = CliTests.Run("predict", "-m", pot, "-o", a);
        Assert.Equal(1, noData.code);
        Assert.Single(noData.stderr.Trim().Split('\n'));
    }

    [Fact]
    public void IndexOutOfRangeIsTheSameOneLineOnEveryVerb()
    {
        string dir = TestPaths.TempDir();
        string si = Path.Combine(dir, "si.xyz");
        Assert.Equal(0, CliTests.Run("build", "diamond", "Si", "5.431", "-o", si).code);
        foreach (var args in new[]
                 {
                     new[] { "convert", si, Path.Combine(dir, "o.xyz"), "--index", "3" },
                     new[] { "relax", si, "-p", "sw", "--index", "3" },
                     new[] { "eos", si, "-p", "sw", "-i", "3" },
                     new[] { "elastic", si, "-p", "sw", "--index", "3" },
                     new[] { "md", si, "-p", "sw", "--index", "3", "--steps", "1" },
                     new[] { "phonon", si, "-p", "sw", "--index", "3" },
                 })
        {
            var (code, stdout, stderr) = CliTests.Run(args);
            Assert.Equal(1, code);
            Assert.Equal($"mlip: error: --index 3 is out of range: {si} holds 1 structures", stderr.Trim());
        }
        Assert.Equal(0, CliTests.Run("relax", si, "-p", "sw", "--index", "-1", "--json").code);
    }

    [Fact]
    public void OldSpellingsStillWork()
    {
        string dir = TestPaths.TempDir();
        string si = Path.Combine(dir, "si.xyz");
        Assert.Equal(0, CliTests.Run("build", "diamond", "Si", "5.431", "-o", si).code);
        Assert.Equal(0, CliTests.Run("info", si, "--format", "extxyz").code);
        Assert.Equal(0, CliTests.Run("convert", si, Path.Combine(dir, "POSCAR.out"), "--in-format", "extxyz", "--out-format", "poscar").code);
        Assert.Equal(CliTests.Run("info", si, "--json").stdout, CliTests.Run("info", si, "-f", "extxyz", "--json").stdout);
        var bad = CliTests.Run("info", si, "--format", "nonsense");
        Assert.Equal(1, bad.code);
    }

    // ---- README's examples parse with the real grammar ----

    public static TheoryData<string> ReadmeExamples()
    {
        var data = new TheoryData<string>();
        foreach (var e in Examples(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"))).Distinct()) data.Add(e);
        return data;
    }

    /// <summary>The examples in the code blocks of docs/*.md (inline code there mentions parts of commands), each with its file.</summary>
    public static TheoryData<string, string> DocsExamples()
    {
        var data = new TheoryData<string, string>();
        foreach (var file in Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "docs"), "*.md").Order(StringComparer.Ordinal))
            foreach (var e in Examples(File.ReadAllText(file), inline: false).Distinct()) data.Add(Path.GetFileName(file), e);
        return data;
    }

    [Theory]
    [MemberData(nameof(DocsExamples))]
    public void DocsExampleParses(string file, string example)
    {
        var parse = Root().Parse(Tokens(example));
        Assert.True(parse.Errors.Count == 0, $"{file}: {example}: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
    }

    [Theory]
    [MemberData(nameof(ReadmeExamples))]
    public void ReadmeExampleParses(string example)
    {
        var parse = Root().Parse(Tokens(example));
        Assert.True(parse.Errors.Count == 0, $"{example}: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
    }

    [Fact]
    public void ReadmeHasExamplesOfEveryVerb()
    {
        var verbs = Examples(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"))).Select(e => Tokens(e)[0]).ToHashSet();
        foreach (var (verb, _) in Verbs(Root()).Where(v => !v.Path.Contains(' ') && v.Path != "export"))
            Assert.True(verbs.Contains(verb), $"README has no example of mlip {verb}");
    }

    /// <summary>
    /// The <c>mlip ...</c> commands of a Markdown text (inline code and code blocks), in the README's notation made
    /// concrete: <c>[...]</c> optional parts dropped, <c>(A | B)</c> and <c>a|b</c> take the first choice, <c>X...</c> is X,
    /// comments dropped. A bare <c>mlip VERB</c> (a mention in prose) is skipped.
    /// </summary>
    internal static IEnumerable<string> Examples(string markdown, bool inline = true)
    {
        var snippets = (inline ? Regex.Matches(markdown, @"`(?:\./)?mlip ([^`]+)`").Select(m => m.Groups[1].Value) : [])
            .Concat(Regex.Matches(markdown, @"```[a-z]*\n(.*?)```", RegexOptions.Singleline)
                .SelectMany(m => m.Groups[1].Value.Replace("\\\n", " ").Split('\n'))
                .Select(l => Regex.Match(l.Trim(), @"^(?:\./)?mlip (.+)$")).Where(m => m.Success).Select(m => m.Groups[1].Value));
        foreach (var raw in snippets)
        {
            string s = Regex.Replace(raw, @"\s#.*$", "").Replace("\\|", "|");
            // mlip relax|eos|elastic ...: one example per verb
            if (Regex.Match(s, @"^(\S+\|\S+)( .*)$") is { Success: true } alternatives)
            {
                foreach (var verb in alternatives.Groups[1].Value.Split('|'))
                    foreach (var e in Examples($"`mlip {verb}{alternatives.Groups[2].Value}`")) yield return e;
                continue;
            }
            string prev;
            do { prev = s; s = Regex.Replace(s, @"\[[^\[\]]*\]", ""); } while (s != prev);
            s = Regex.Replace(s, @"\(([^()|]*?)\s*\|[^()]*\)", "$1");
            s = Regex.Replace(s, @"(\S+?)\|\S+", "$1").Replace("...", "");
            s = Regex.Replace(s, @"\s+", " ").Trim();
            if (raw.Trim().Contains(' ')) yield return s;
        }
    }

    private static string[] Tokens(string s) =>
        [.. Regex.Matches(s, "\"([^\"]*)\"|(\\S+)").Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value)];
}
