using YamlDotNet.RepresentationModel;

namespace Mlip.Models.Ace;

/// <summary>
/// The node tree <see cref="YaceFile"/> reads a .yace from: mappings (in file order), sequences and plain scalars, each
/// with its 1-based line. Built by <see cref="PlainYaml.TryRead"/> for the plain subset of YAML that Mlip and pacemaker
/// write (block mappings, <c>- </c> items, flow <c>[...]</c> and <c>{...}</c> on one line, plain scalars), which is
/// most of the cost of loading a model: YamlDotNet's representation model takes ~85 ms for a 234 kB Finnis-Sinclair
/// file, a large share of <c>mlip md</c>'s start-up. Anything outside the subset is read by YamlDotNet
/// (<see cref="FromYamlDotNet"/>), so every valid YAML file still loads, with the same tree.
/// </summary>
internal abstract class YaceNode
{
    /// <summary>The 1-based line where the node starts.</summary>
    public int Line { get; init; }

    /// <summary>The tree of a YamlDotNet node.</summary>
    public static YaceNode FromYamlDotNet(YamlNode node) => node switch
    {
        YamlScalarNode s => new YaceScalar(s.Value ?? "") { Line = (int)s.Start.Line },
        YamlSequenceNode q => new YaceSequence([.. q.Children.Select(FromYamlDotNet)]) { Line = (int)q.Start.Line },
        YamlMappingNode m => new YaceMapping([.. m.Children.Select(kv => (FromYamlDotNet(kv.Key), FromYamlDotNet(kv.Value)))]) { Line = (int)m.Start.Line },
        _ => new YaceScalar(node.ToString()) { Line = (int)node.Start.Line }, // an alias: not a value Mlip reads (refused where used)
    };
}

/// <summary>A plain scalar (its text, trimmed).</summary>
internal sealed class YaceScalar(string value) : YaceNode
{
    public string Value { get; } = value;
    public override string ToString() => Value;
}

/// <summary>A sequence.</summary>
internal sealed class YaceSequence(List<YaceNode> items) : YaceNode
{
    public List<YaceNode> Items { get; } = items;
    public override string ToString() => $"[{string.Join(", ", Items)}]";
}

/// <summary>A mapping, its entries in file order.</summary>
internal sealed class YaceMapping(List<(YaceNode Key, YaceNode Value)> entries) : YaceNode
{
    public List<(YaceNode Key, YaceNode Value)> Entries { get; } = entries;

    /// <summary>The value of the first entry whose key is the scalar <paramref name="key"/>.</summary>
    public bool TryGet(string key, out YaceNode value)
    {
        foreach (var (k, v) in Entries)
            if (k is YaceScalar s && s.Value == key) { value = v; return true; }
        value = null!;
        return false;
    }

    public override string ToString() => $"{{{string.Join(", ", Entries.Select(e => $"{e.Key}: {e.Value}"))}}}";
}

/// <summary>
/// A reader of the plain subset of YAML (see <see cref="YaceNode"/>): one document, spaces for indentation, block
/// mappings whose keys are plain scalars or one-line flow sequences, <c>- </c> sequence items holding a one-line value,
/// flow collections closed on their line, plain scalars. It gives up (null) on anything else, including every YAML
/// feature that could change a value's meaning (quotes, comments, anchors, aliases, tags, block scalars, documents
/// markers, tabs, duplicate keys), so a file it reads has the tree YamlDotNet would build.
/// </summary>
internal static class PlainYaml
{
    /// <summary>The tree of <paramref name="text"/>, or null when the text is not in the subset.</summary>
    public static YaceNode? TryRead(string text)
    {
        if (text.AsSpan().IndexOfAny("#\"'&*!|>%@`\t\r?") >= 0) return null;
        var lines = new List<(int Number, int Indent, string Body)>();
        int number = 0;
        foreach (var raw in text.Split('\n'))
        {
            number++;
            string body = raw.TrimEnd(' ');
            if (body.Length == 0) continue;
            int indent = 0;
            while (indent < body.Length && body[indent] == ' ') indent++;
            if (body.StartsWith("---", StringComparison.Ordinal) || body.StartsWith("...", StringComparison.Ordinal)) return null;
            lines.Add((number, indent, body[indent..]));
        }
        if (lines.Count == 0 || lines[0].Indent != 0) return null;
        var reader = new BlockReader(lines);
        var root = reader.Block(0);
        return root is not null && reader.AtEnd ? root : null;
    }

    private sealed class BlockReader(List<(int Number, int Indent, string Body)> lines)
    {
        private int _next;

        public bool AtEnd => _next == lines.Count;

        /// <summary>The block collection whose first line is the next one, at indent <paramref name="indent"/>.</summary>
        public YaceNode? Block(int indent)
        {
            if (AtEnd || lines[_next].Indent != indent) return null;
            return IsItem(lines[_next].Body) ? Sequence(indent) : Mapping(indent);
        }

        private static bool IsItem(string body) => body == "-" || body.StartsWith("- ", StringComparison.Ordinal);

        private YaceSequence? Sequence(int indent)
        {
            var items = new List<YaceNode>();
            int first = lines[_next].Number;
            while (!AtEnd && lines[_next].Indent == indent && IsItem(lines[_next].Body))
            {
                var (line, _, body) = lines[_next++];
                if (body.Length < 3) return null; // "-" alone: a nested block item, not in the subset
                var value = Flow.Value(body, 2, line, out int end);
                if (value is null || end != body.Length) return null;
                items.Add(value);
            }
            if (!AtEnd && lines[_next].Indent > indent) return null;
            return new YaceSequence(items) { Line = first };
        }

        private YaceMapping? Mapping(int indent)
        {
            var entries = new List<(YaceNode, YaceNode)>();
            var keys = new HashSet<string>(StringComparer.Ordinal);
            int first = lines[_next].Number;
            while (!AtEnd && lines[_next].Indent == indent && !IsItem(lines[_next].Body))
            {
                var (line, _, body) = lines[_next++];
                var key = Flow.Key(body, 0, line, out int colon);
                if (key is null || colon >= body.Length || body[colon] != ':') return null;
                if (!keys.Add(key.ToString() ?? "")) return null;
                YaceNode? value;
                if (colon + 1 == body.Length)
                {
                    // the value is the block on the next lines: deeper, or a sequence at this indent
                    if (AtEnd) return null;
                    var (_, nextIndent, nextBody) = lines[_next];
                    value = nextIndent > indent ? Block(nextIndent) : nextIndent == indent && IsItem(nextBody) ? Sequence(indent) : null;
                }
                else
                {
                    if (body[colon + 1] != ' ') return null;
                    value = Flow.Value(body, colon + 2, line, out int end);
                    if (end != body.Length) return null;
                }
                if (value is null) return null;
                entries.Add((key, value));
            }
            if (!AtEnd && lines[_next].Indent > indent) return null;
            return new YaceMapping(entries) { Line = first };
        }
    }

    /// <summary>Flow values within one line.</summary>
    private static class Flow
    {
        /// <summary>Whether a scalar's text starts as a YAML indicator would ("-" alone or "- ", ": "): not a plain scalar.</summary>
        private static bool IsIndicator(string text) => text == "-" || text.StartsWith("- ", StringComparison.Ordinal) || text.StartsWith(':');

        private static int Skip(string s, int i)
        {
            while (i < s.Length && s[i] == ' ') i++;
            return i;
        }

        /// <summary>A block mapping's key at <paramref name="at"/>: a plain scalar ending before ": " (or a ':' that ends the line), or a flow sequence.</summary>
        public static YaceNode? Key(string s, int at, int line, out int end)
        {
            end = at;
            if (at < s.Length && s[at] == '[')
            {
                var key = Value(s, at, line, out end);
                return key;
            }
            int i = at;
            while (i < s.Length && !(s[i] == ':' && (i + 1 == s.Length || s[i + 1] == ' '))) i++;
            string text = s[at..i].Trim(' ');
            if (text.Length == 0 || text.AsSpan().IndexOfAny("[]{},") >= 0 || IsIndicator(text)) return null;
            end = i;
            return new YaceScalar(text) { Line = line };
        }

        /// <summary>A value starting at <paramref name="at"/>, to the end of the line: a flow collection or a plain scalar.</summary>
        public static YaceNode? Value(string s, int at, int line, out int end)
        {
            at = Skip(s, at);
            end = at;
            if (at >= s.Length) return null;
            if (s[at] == '[' || s[at] == '{')
            {
                var node = Collection(s, at, line, out end);
                if (node is null) return null;
                end = Skip(s, end);
                return node;
            }
            string text = s[at..].Trim(' ');
            if (text.AsSpan().IndexOfAny("[]{},") >= 0 || text.Contains(": ", StringComparison.Ordinal) || text.EndsWith(':') || IsIndicator(text)) return null;
            end = s.Length;
            return new YaceScalar(text) { Line = line };
        }

        /// <summary>A flow sequence or mapping starting at <paramref name="at"/>; <paramref name="end"/> is one past its closing bracket.</summary>
        private static YaceNode? Collection(string s, int at, int line, out int end)
        {
            bool mapping = s[at] == '{';
            char close = mapping ? '}' : ']';
            int i = Skip(s, at + 1);
            end = i;
            var items = new List<YaceNode>();
            var entries = new List<(YaceNode, YaceNode)>();
            var keys = new HashSet<string>(StringComparer.Ordinal);
            if (i < s.Length && s[i] == close)
            {
                end = i + 1;
                return mapping ? new YaceMapping(entries) { Line = line } : new YaceSequence(items) { Line = line };
            }
            while (true)
            {
                if (mapping)
                {
                    int k = i;
                    while (k < s.Length && s[k] != ':' && s[k] != ',' && s[k] != close && s[k] != '[' && s[k] != '{' && s[k] != ']' && s[k] != '}') k++;
                    if (k >= s.Length || s[k] != ':' || k + 1 >= s.Length || s[k + 1] != ' ') return null;
                    string key = s[i..k].Trim(' ');
                    if (key.Length == 0 || !keys.Add(key)) return null;
                    var value = Element(s, k + 2, line, close, out i);
                    if (value is null) return null;
                    entries.Add((new YaceScalar(key) { Line = line }, value));
                }
                else
                {
                    var value = Element(s, i, line, close, out i);
                    if (value is null) return null;
                    items.Add(value);
                }
                i = Skip(s, i);
                if (i >= s.Length) return null;
                if (s[i] == close) break;
                if (s[i] != ',') return null;
                i = Skip(s, i + 1);
            }
            end = i + 1;
            return mapping ? new YaceMapping(entries) { Line = line } : new YaceSequence(items) { Line = line };
        }

        /// <summary>An element of a flow collection: a nested collection or a plain scalar ending at ',' or the closing bracket.</summary>
        private static YaceNode? Element(string s, int at, int line, char close, out int end)
        {
            at = Skip(s, at);
            end = at;
            if (at >= s.Length) return null;
            if (s[at] == '[' || s[at] == '{') return Collection(s, at, line, out end);
            int i = at;
            while (i < s.Length && s[i] != ',' && s[i] != close)
            {
                if (s[i] == '[' || s[i] == ']' || s[i] == '{' || s[i] == '}' || s[i] == ':') return null;
                i++;
            }
            string text = s[at..i].Trim(' ');
            if (text.Length == 0 || IsIndicator(text)) return null;
            end = i;
            return new YaceScalar(text) { Line = line };
        }
    }
}
