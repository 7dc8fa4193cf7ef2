using System.Text;
using System.Text.RegularExpressions;

namespace Mlip.Tests.Architecture;

/// <summary>One C# source file: its path relative to src/Mlip ('/' separators) and its text.</summary>
public sealed record SourceFile(string Path, string Text);

/// <summary>Why one folder depends on another: a file and what in it names the other folder.</summary>
public sealed record DependencyEvidence(string File, string What);

/// <summary>
/// The folder graph of src/Mlip, read from the code (docs/architecture.md): a folder X depends on a folder Y
/// when a file in X has <c>using Mlip.Y;</c> (or <c>using static</c>/alias into Mlip.Y), names a type
/// fully or partly qualified (<c>Mlip.Y.T</c>, <c>Y.T</c> from inside Mlip), or names a top-level type
/// declared in Mlip.Y that its using lines (or its enclosing namespaces, or a global using) make visible.
/// Comments, string literals (not the code inside interpolation holes) and preprocessor lines are
/// stripped first, so a type named in a comment or a message is not a dependency. A name declared in
/// several visible folders is ambiguous in C# too and is skipped; a name declared in the file's own folder
/// is the file's own. Nested folders (Models/Ace, Descriptors/Ace, Calculators/Classical) belong to their
/// top folder: the folder of a file is the first segment of its path.
/// </summary>
public sealed class FolderDependencies
{
    private readonly Dictionary<(string From, string To), List<DependencyEvidence>> _edges = [];

    /// <summary>Every folder that holds a file.</summary>
    public SortedSet<string> Folders { get; } = new(StringComparer.Ordinal);

    /// <summary>Files whose namespace does not lie under Mlip.FOLDER (the analysis goes by folder, so they must agree).</summary>
    public List<string> NamespaceMismatches { get; } = [];

    /// <summary>Every arrow From -> To (From != To) with its evidence.</summary>
    public IReadOnlyDictionary<(string From, string To), List<DependencyEvidence>> Edges => _edges;

    public IEnumerable<string> DependenciesOf(string folder) =>
        _edges.Keys.Where(k => k.From == folder).Select(k => k.To).Order(StringComparer.Ordinal);

    /// <summary>Reads every .cs file under <paramref name="sourceRoot"/> (src/Mlip), skipping bin/ and obj/.</summary>
    public static IReadOnlyList<SourceFile> ReadTree(string sourceRoot) =>
    [.. Directory.EnumerateFiles(sourceRoot, "*.cs", SearchOption.AllDirectories)
        .Select(f => System.IO.Path.GetRelativePath(sourceRoot, f).Replace('\\', '/'))
        .Where(r => !r.StartsWith("bin/", StringComparison.Ordinal) && !r.StartsWith("obj/", StringComparison.Ordinal))
        .Order(StringComparer.Ordinal)
        .Select(r => new SourceFile(r, File.ReadAllText(System.IO.Path.Combine(sourceRoot, r))))];

    /// <summary>The folder of a file: the first segment of its path ("(root)" for a file directly under src/Mlip).</summary>
    public static string FolderOf(string path)
    {
        int slash = path.IndexOf('/');
        return slash < 0 ? "(root)" : path[..slash];
    }

    /// <summary>
    /// Builds the graph. <paramref name="projectGlobalUsings"/> are the project's <c>&lt;Using Include="..."/&gt;</c>
    /// items (global usings every file sees).
    /// </summary>
    public static FolderDependencies Analyse(IReadOnlyList<SourceFile> files, IEnumerable<string>? projectGlobalUsings = null, string rootNamespace = "Mlip")
    {
        var g = new FolderDependencies();
        var parsed = files.Select(f => new Parsed(f, FolderOf(f.Path), StripCommentsAndStrings(f.Text))).ToList();

        // Namespaces, usings, top-level types.
        var globalUsings = new HashSet<string>(projectGlobalUsings ?? [], StringComparer.Ordinal);
        var typesByName = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal); // type name -> declaring namespaces
        var namespaces = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in parsed)
        {
            g.Folders.Add(p.Folder);
            p.Namespace = FileNamespace(p.Code);
            if (p.Namespace is not null)
            {
                for (string? ns = p.Namespace; ns is not null; ns = Parent(ns)) namespaces.Add(ns);
                string expected = rootNamespace + "." + p.Folder;
                if (p.Namespace != expected && !p.Namespace.StartsWith(expected + ".", StringComparison.Ordinal))
                    g.NamespaceMismatches.Add($"{p.File.Path}: namespace {p.Namespace} (expected {expected} or below)");
            }
            foreach (Match m in UsingDirective.Matches(p.Code))
            {
                var u = new UsingLine(m.Groups["global"].Success, m.Groups["static"].Success, m.Groups["alias"].Success ? m.Groups["alias"].Value : null,
                    Regex.Replace(m.Groups["target"].Value, @"\s+", ""));
                p.Usings.Add(u);
                if (u.Global && !u.Static && u.Alias is null) globalUsings.Add(u.Target);
            }
            foreach (string name in TopLevelTypes(p.Code))
            {
                if (p.Namespace is null) continue;
                if (!typesByName.TryGetValue(name, out var set)) typesByName[name] = set = new(StringComparer.Ordinal);
                set.Add(p.Namespace);
            }
        }

        string? FolderOfNamespace(string ns)
        {
            if (!ns.StartsWith(rootNamespace + ".", StringComparison.Ordinal)) return null;
            string rest = ns[(rootNamespace.Length + 1)..];
            int dot = rest.IndexOf('.');
            return dot < 0 ? rest : rest[..dot];
        }

        foreach (var p in parsed)
        {
            void Add(string? to, string what)
            {
                if (to is null || to == p.Folder) return;
                if (!g._edges.TryGetValue((p.Folder, to), out var list)) g._edges[(p.Folder, to)] = list = [];
                if (!list.Any(e => e.File == p.File.Path && e.What == what)) list.Add(new DependencyEvidence(p.File.Path, what));
            }

            // 1. using lines (any Mlip.X namespace, static or alias).
            var visible = new HashSet<string>(globalUsings, StringComparer.Ordinal);
            foreach (var u in p.Usings)
            {
                string kind = u.Static ? "using static " : u.Alias is not null ? $"using {u.Alias} = " : u.Global ? "global using " : "using ";
                if (u.Target == rootNamespace || u.Target.StartsWith(rootNamespace + ".", StringComparison.Ordinal))
                    Add(FolderOfNamespace(u.Target), kind + u.Target);
                if (!u.Static && u.Alias is null) visible.Add(u.Target);
            }
            var enclosing = new List<string>();
            for (string? ns = p.Namespace; ns is not null; ns = Parent(ns)) enclosing.Add(ns);
            visible.UnionWith(enclosing);

            // 2. qualified names: Mlip.X.T, or X.T / X.Sub.T resolved against the enclosing namespaces.
            var qualifiedParts = new HashSet<int>();
            foreach (Match m in DottedChain.Matches(p.Code))
            {
                var parts = Regex.Split(m.Value, @"\s*\.\s*");
                foreach (string start in enclosing.Append(""))
                {
                    // The longest prefix of the chain that is a known namespace, seen from `start`.
                    string? found = null; int used = 0;
                    for (int k = 1; k < parts.Length; k++)
                    {
                        string ns = (start.Length == 0 ? "" : start + ".") + string.Join('.', parts[..k]);
                        if (namespaces.Contains(ns)) { found = ns; used = k; }
                    }
                    if (found is null) continue;
                    string next = parts[used];
                    bool isType = typesByName.TryGetValue(next, out var decl) && decl.Contains(found);
                    // From inside Mlip a bare `Training.Plots` could also be a member named Training: count it only
                    // when it continues with a type of that namespace; `Mlip.X.` is unambiguous.
                    if (isType || parts[0] == rootNamespace)
                    {
                        Add(FolderOfNamespace(found), found + "." + next);
                        qualifiedParts.Add(m.Index);
                    }
                    break;
                }
            }

            // 3. simple type names, resolved by the namespaces the file sees.
            foreach (Match m in Identifier.Matches(p.Code))
            {
                if (PrecededByDot(p.Code, m.Index)) continue;
                if (!typesByName.TryGetValue(m.Value, out var decl)) continue;
                var seen = decl.Where(visible.Contains).ToList();
                if (seen.Count == 0) continue; // a member, local or parameter of the same spelling
                if (seen.Any(ns => FolderOfNamespace(ns) == p.Folder)) continue; // the file's own folder's type
                var folders = seen.Select(FolderOfNamespace).Distinct().ToList();
                if (folders.Count != 1) continue; // ambiguous in C# as well
                Add(folders[0], m.Value);
            }
        }
        return g;
    }

    /// <summary>Arrows that lie on a cycle: one cycle per strongly connected set of folders (size > 1), shortest first.</summary>
    public List<List<string>> Cycles()
    {
        var cycles = new List<List<string>>();
        foreach (var scc in StronglyConnected().Where(c => c.Count > 1))
        {
            var inside = new HashSet<string>(scc);
            string start = scc.Min(StringComparer.Ordinal)!;
            // Shortest path start -> ... -> start inside the set (BFS).
            var prev = new Dictionary<string, string>();
            var queue = new Queue<string>();
            queue.Enqueue(start);
            List<string>? cycle = null;
            while (queue.Count > 0 && cycle is null)
            {
                string a = queue.Dequeue();
                foreach (string b in DependenciesOf(a).Where(inside.Contains))
                {
                    if (b == start)
                    {
                        cycle = [start];
                        var back = new List<string>();
                        for (string x = a; x != start; x = prev[x]) back.Add(x);
                        back.Reverse();
                        cycle.AddRange(back);
                        cycle.Add(start);
                        break;
                    }
                    if (prev.ContainsKey(b)) continue;
                    prev[b] = a;
                    queue.Enqueue(b);
                }
            }
            cycles.Add(cycle!);
        }
        return cycles;
    }

    /// <summary>Tarjan's strongly connected components of the folder graph.</summary>
    public List<List<string>> StronglyConnected()
    {
        int index = 0;
        var idx = new Dictionary<string, int>(); var low = new Dictionary<string, int>();
        var stack = new Stack<string>(); var on = new HashSet<string>();
        var result = new List<List<string>>();
        var nodes = Folders.Union(_edges.Keys.SelectMany(k => new[] { k.From, k.To })).Distinct().Order(StringComparer.Ordinal).ToList();
        void Visit(string v)
        {
            idx[v] = low[v] = index++;
            stack.Push(v); on.Add(v);
            foreach (string w in DependenciesOf(v))
            {
                if (!idx.ContainsKey(w)) { Visit(w); low[v] = Math.Min(low[v], low[w]); }
                else if (on.Contains(w)) low[v] = Math.Min(low[v], idx[w]);
            }
            if (low[v] != idx[v]) return;
            var c = new List<string>();
            string x;
            do { x = stack.Pop(); on.Remove(x); c.Add(x); } while (x != v);
            c.Sort(StringComparer.Ordinal);
            result.Add(c);
        }
        foreach (string n in nodes) if (!idx.ContainsKey(n)) Visit(n);
        return result;
    }

    /// <summary>"From -> To" with the files and names that make the arrow, one file a line (at most <paramref name="maxFiles"/>).</summary>
    public string Describe(string from, string to, int maxFiles = 12)
    {
        if (!_edges.TryGetValue((from, to), out var list)) return $"{from} -> {to}: (no arrow)";
        var byFile = list.GroupBy(e => e.File).OrderBy(x => x.Key, StringComparer.Ordinal).ToList();
        var sb = new StringBuilder($"{from} -> {to}:");
        foreach (var f in byFile.Take(maxFiles))
            sb.Append("\n      src/Mlip/").Append(f.Key).Append(" names ").Append(string.Join(", ", f.Select(e => e.What).Distinct().Order(StringComparer.Ordinal)));
        if (byFile.Count > maxFiles) sb.Append($"\n      ... and {byFile.Count - maxFiles} more files");
        return sb.ToString();
    }

    // ---- the text scan ----

    private sealed class Parsed(SourceFile file, string folder, string code)
    {
        public SourceFile File { get; } = file;
        public string Folder { get; } = folder;
        public string Code { get; } = code;
        public string? Namespace { get; set; }
        public List<UsingLine> Usings { get; } = [];
    }

    private sealed record UsingLine(bool Global, bool Static, string? Alias, string Target);

    private static readonly Regex UsingDirective = new(
        @"^[ \t]*(?<global>global\s+)?using\s+(?<static>static\s+)?(?:(?<alias>[A-Za-z_]\w*)\s*=\s*)?(?<target>[A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*)\s*;",
        RegexOptions.Multiline | RegexOptions.CultureInvariant);

    private static readonly Regex NamespaceDecl = new(@"\bnamespace\s+(?<name>[A-Za-z_][\w.]*)\s*(?<kind>[;{])", RegexOptions.CultureInvariant);

    private static readonly Regex DeclOrBrace = new(
        @"[{}]|\bnamespace\s+[A-Za-z_][\w.]*\s*(?<ns>[;{])|\b(?:class|struct|interface|enum|record(?:\s+(?:class|struct))?)\s+(?<name>[A-Z]\w*)|\bdelegate\s+[^;(){}=]+?\s(?<delegate>[A-Z]\w*)\s*[<(]",
        RegexOptions.CultureInvariant);

    private static readonly Regex DottedChain = new(@"(?<!\.\s*)(?<![\w@])[A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)+", RegexOptions.CultureInvariant);

    private static readonly Regex Identifier = new(@"(?<![\w@])@?[A-Za-z_]\w*", RegexOptions.CultureInvariant);

    private static string? Parent(string ns)
    {
        int dot = ns.LastIndexOf('.');
        return dot < 0 ? null : ns[..dot];
    }

    private static bool PrecededByDot(string code, int index)
    {
        int i = index - 1;
        while (i >= 0 && char.IsWhiteSpace(code[i])) i--;
        return i >= 0 && code[i] == '.';
    }

    /// <summary>The file's namespace (file-scoped, or the first block namespace).</summary>
    private static string? FileNamespace(string code)
    {
        var m = NamespaceDecl.Match(code);
        return m.Success ? m.Groups["name"].Value : null;
    }

    /// <summary>Names of the types declared at namespace level (nested types are reached through their outer type).</summary>
    internal static List<string> TopLevelTypes(string code)
    {
        var names = new List<string>();
        int depth = 0;
        var namespaceBlocks = new Stack<int>(); // depth inside each block namespace
        int nsDepth = 0;
        foreach (Match m in DeclOrBrace.Matches(code))
        {
            if (m.Groups["ns"].Success)
            {
                if (m.Groups["ns"].Value == "{") { depth++; nsDepth++; namespaceBlocks.Push(depth); }
                continue;
            }
            if (m.Value == "{") { depth++; continue; }
            if (m.Value == "}")
            {
                if (namespaceBlocks.Count > 0 && namespaceBlocks.Peek() == depth) { namespaceBlocks.Pop(); nsDepth--; }
                depth--;
                continue;
            }
            string name = m.Groups["name"].Success ? m.Groups["name"].Value : m.Groups["delegate"].Value;
            if (depth == nsDepth) names.Add(name);
        }
        return names;
    }

    /// <summary>
    /// The code with comments, preprocessor lines and the text of string and char literals removed (each literal
    /// becomes "" or ' '); the expressions inside interpolation holes are kept. Line breaks are kept.
    /// </summary>
    public static string StripCommentsAndStrings(string s)
    {
        var sb = new StringBuilder(s.Length);
        int i = 0;
        ScanCode(s, ref i, sb, stopAtBrace: false);
        return sb.ToString();
    }

    private static void ScanCode(string s, ref int i, StringBuilder sb, bool stopAtBrace)
    {
        int braces = 0;
        bool lineStart = true;
        while (i < s.Length)
        {
            char c = s[i];
            if (c == '\n') { sb.Append('\n'); i++; lineStart = true; continue; }
            if (lineStart && c == '#' && !stopAtBrace)
            {
                while (i < s.Length && s[i] != '\n') i++; // preprocessor line
                continue;
            }
            if (!char.IsWhiteSpace(c)) lineStart = false;
            if (c == '/' && i + 1 < s.Length && s[i + 1] == '/')
            {
                while (i < s.Length && s[i] != '\n') i++;
                continue;
            }
            if (c == '/' && i + 1 < s.Length && s[i + 1] == '*')
            {
                int end = s.IndexOf("*/", i + 2, StringComparison.Ordinal);
                int stop = end < 0 ? s.Length : end + 2;
                for (int k = i; k < stop; k++) if (s[k] == '\n') sb.Append('\n');
                sb.Append(' ');
                i = stop;
                continue;
            }
            if (c == '\'')
            {
                int k = i + 1;
                while (k < s.Length && s[k] != '\'' && s[k] != '\n') k += s[k] == '\\' ? 2 : 1;
                sb.Append("' '");
                i = Math.Min(s.Length, k + 1);
                continue;
            }
            if (c == '"' || ((c == '$' || c == '@') && i + 1 < s.Length && (s[i + 1] == '"' || ((s[i + 1] == '$' || s[i + 1] == '@') && i + 2 < s.Length && s[i + 2] == '"')))
                || (c == '$' && i + 1 < s.Length && s[i + 1] == '$'))
            {
                ScanString(s, ref i, sb);
                continue;
            }
            if (stopAtBrace)
            {
                if (c == '{') braces++;
                else if (c == '}')
                {
                    if (braces == 0) return; // end of the interpolation hole (the caller consumes '}')
                    braces--;
                }
            }
            sb.Append(c);
            i++;
        }
    }

    /// <summary>A string literal at s[i] (regular, verbatim, interpolated, raw): appends "" plus the code of its holes.</summary>
    private static void ScanString(string s, ref int i, StringBuilder sb)
    {
        int dollars = 0; bool verbatim = false;
        while (i < s.Length && (s[i] == '$' || s[i] == '@'))
        {
            if (s[i] == '$') dollars++; else verbatim = true;
            i++;
        }
        int quotes = 0;
        while (i + quotes < s.Length && s[i + quotes] == '"') quotes++;
        sb.Append("\"");
        if (quotes >= 3)
        {
            // Raw string: ends at the same number of quotes; holes open with `dollars` braces.
            i += quotes;
            string close = new('"', quotes);
            while (i < s.Length)
            {
                if (string.CompareOrdinal(s, i, close, 0, quotes) == 0) { i += quotes; break; }
                if (dollars > 0 && s[i] == '{' && CountRun(s, i, '{') >= dollars)
                {
                    int run = CountRun(s, i, '{');
                    i += run;
                    sb.Append(' ');
                    ScanCode(s, ref i, sb, stopAtBrace: true);
                    sb.Append(' ');
                    i += Math.Min(CountRun(s, i, '}'), dollars);
                    continue;
                }
                if (s[i] == '\n') sb.Append('\n');
                i++;
            }
            sb.Append('"');
            return;
        }
        if (quotes == 2) { i += 2; sb.Append('"'); return; } // ""
        i++; // opening quote
        while (i < s.Length)
        {
            char c = s[i];
            if (verbatim)
            {
                if (c == '"' && i + 1 < s.Length && s[i + 1] == '"') { i += 2; continue; }
                if (c == '\n') sb.Append('\n');
            }
            else
            {
                if (c == '\\') { i += 2; continue; }
                if (c == '\n') break; // unterminated: stop at the line end
            }
            if (c == '"') { i++; break; }
            if (dollars > 0 && c == '{')
            {
                if (i + 1 < s.Length && s[i + 1] == '{') { i += 2; continue; }
                i++;
                sb.Append(' ');
                ScanCode(s, ref i, sb, stopAtBrace: true);
                sb.Append(' ');
                if (i < s.Length) i++; // the closing '}'
                continue;
            }
            i++;
        }
        sb.Append('"');
    }

    private static int CountRun(string s, int i, char c)
    {
        int n = 0;
        while (i + n < s.Length && s[i + n] == c) n++;
        return n;
    }
}
