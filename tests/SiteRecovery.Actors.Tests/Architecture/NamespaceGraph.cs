using System.Text;
using System.Text.RegularExpressions;

namespace SiteRecovery.Actors.Tests.Architecture;

/// <summary>
/// Which namespace of the source tree names which other, read from the text: a file depends on a namespace it imports
/// (<c>using</c>, <c>using static</c>, an alias) or names in a qualified reference (<c>SiteRecovery.X.Type</c>). Comments
/// and string literals do not count; the code in an interpolated string's holes does. A namespace's own types used
/// without a name (its parent's, by C#'s lookup) are not seen: those are not the loops this guards against.
/// </summary>
public sealed partial class NamespaceGraph
{
    /// <summary>Every namespace declared, with the namespaces it names and, for each, the files that name it.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, IReadOnlyList<string>>> Edges { get; }

    NamespaceGraph(IReadOnlyDictionary<string, IReadOnlyDictionary<string, IReadOnlyList<string>>> edges) => Edges = edges;

    /// <summary>The graph of <paramref name="sources"/> (a path, for messages, and the file's text).</summary>
    public static NamespaceGraph Of(IEnumerable<(string Path, string Text)> sources)
    {
        var files = sources.Select(s => (s.Path, Code: CodeOnly(s.Text)))
            .Select(f => (f.Path, f.Code, Namespace: DeclaredNamespace().Match(f.Code) is { Success: true } m ? m.Groups[1].Value : null))
            .Where(f => f.Namespace is not null)
            .ToList();
        var known = files.Select(f => f.Namespace!).ToHashSet(StringComparer.Ordinal);
        var edges = known.ToDictionary(n => n, _ => new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal), StringComparer.Ordinal);
        foreach (var (path, code, ns) in files)
        {
            var body = DeclaredNamespace().Replace(code, "", 1);
            var named = Import().Matches(body).Select(m => m.Groups[1].Value)
                .Concat(Qualified().Matches(body).Select(m => m.Groups[1].Value));
            foreach (var name in named)
                if (Owner(name, known) is { } target && target != ns)
                {
                    if (!edges[ns!].TryGetValue(target, out var by)) edges[ns!][target] = by = new SortedSet<string>(StringComparer.Ordinal);
                    by.Add(path);
                }
        }
        return new NamespaceGraph(edges.ToDictionary(
            kv => kv.Key,
            kv => (IReadOnlyDictionary<string, IReadOnlyList<string>>)kv.Value.ToDictionary(e => e.Key, e => (IReadOnlyList<string>)e.Value.ToList()),
            StringComparer.Ordinal));
    }

    /// <summary>The graph of every .cs file under <paramref name="root"/> (bin and obj left out), paths relative to <paramref name="relativeTo"/>.</summary>
    public static NamespaceGraph OfTree(string root, string relativeTo) =>
        Of(Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(p => !p.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"))
            .Order(StringComparer.Ordinal)
            .Select(p => (Path.GetRelativePath(relativeTo, p), File.ReadAllText(p))));

    /// <summary>
    /// The loops: each set of two or more namespaces that reach one another (a strongly connected component, Tarjan),
    /// with the edges inside it, once <paramref name="allowed"/> edges are taken out.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<(string From, string To, IReadOnlyList<string> Files)>> Cycles(IEnumerable<(string From, string To)> allowed)
    {
        var skip = allowed.ToHashSet();
        IEnumerable<string> Next(string n) => Edges[n].Keys.Where(t => Edges.ContainsKey(t) && !skip.Contains((n, t)));
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var low = new Dictionary<string, int>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        var onStack = new HashSet<string>(StringComparer.Ordinal);
        var components = new List<List<string>>();

        void Visit(string v)
        {
            index[v] = low[v] = index.Count;
            stack.Push(v);
            onStack.Add(v);
            foreach (var w in Next(v))
            {
                if (!index.ContainsKey(w)) { Visit(w); low[v] = Math.Min(low[v], low[w]); }
                else if (onStack.Contains(w)) low[v] = Math.Min(low[v], index[w]);
            }
            if (low[v] != index[v]) return;
            var component = new List<string>();
            string popped;
            do { popped = stack.Pop(); onStack.Remove(popped); component.Add(popped); } while (popped != v);
            if (component.Count > 1) components.Add(component);
        }

        foreach (var n in Edges.Keys.Order(StringComparer.Ordinal))
            if (!index.ContainsKey(n)) Visit(n);
        return components
            .Select(c => c.ToHashSet(StringComparer.Ordinal))
            .Select(c => (IReadOnlyList<(string, string, IReadOnlyList<string>)>)c.Order(StringComparer.Ordinal)
                .SelectMany(from => Next(from).Where(c.Contains).Select(to => (from, to, Edges[from][to])))
                .ToList())
            .ToList();
    }

    /// <summary>The longest declared namespace that <paramref name="name"/> is or starts with.</summary>
    static string? Owner(string name, HashSet<string> known)
    {
        for (var candidate = name; ; candidate = candidate[..candidate.LastIndexOf('.')])
        {
            if (known.Contains(candidate)) return candidate;
            if (!candidate.Contains('.')) return null;
        }
    }

    /// <summary>The text with comments and the contents of string and character literals blanked (holes of interpolated strings kept).</summary>
    internal static string CodeOnly(string text)
    {
        var output = new StringBuilder(text.Length);
        var i = 0;
        Code(inHole: false);
        return output.ToString();

        char At(int k) => k >= 0 && k < text.Length ? text[k] : '\0';

        void Code(bool inHole)
        {
            var depth = 0;
            while (i < text.Length)
            {
                var c = text[i];
                if (c == '/' && At(i + 1) == '/') { while (i < text.Length && text[i] != '\n') i++; continue; }
                if (c == '/' && At(i + 1) == '*')
                {
                    var end = text.IndexOf("*/", i + 2, StringComparison.Ordinal);
                    i = end < 0 ? text.Length : end + 2;
                    output.Append(' ');
                    continue;
                }
                if (c == '\'')
                {
                    i++;
                    while (i < text.Length && text[i] != '\'') i += text[i] == '\\' ? 2 : 1;
                    i++;
                    output.Append("' '");
                    continue;
                }
                var quote = i;
                while (At(quote) is '$' or '@') quote++;
                if (At(quote) == '"' && (quote == i || !IsIdentifierChar(At(i - 1))))
                {
                    var prefix = text[i..quote];
                    i = quote;
                    Literal(interpolated: prefix.Contains('$'), verbatim: prefix.Contains('@'));
                    output.Append("\"\"");
                    continue;
                }
                if (inHole)
                {
                    if (c == '{') depth++;
                    else if (c == '}' && depth-- == 0) return;
                }
                output.Append(c);
                i++;
            }
        }

        // i is at the opening quote; leaves i after the closing one.
        void Literal(bool interpolated, bool verbatim)
        {
            var quotes = 0;
            while (At(i + quotes) == '"') quotes++;
            if (quotes >= 3 && !verbatim)
            {
                // A raw string literal: it ends at the first run of as many quotes; its holes are left unread.
                var end = text.IndexOf(new string('"', quotes), i + quotes, StringComparison.Ordinal);
                i = end < 0 ? text.Length : end + quotes;
                return;
            }
            i++;
            while (i < text.Length)
            {
                var c = text[i];
                if (c == '"')
                {
                    if (verbatim && At(i + 1) == '"') { i += 2; continue; }
                    i++;
                    return;
                }
                if (c == '\\' && !verbatim) { i += 2; continue; }
                if (c == '\n' && !verbatim) return;
                if (interpolated && c == '{')
                {
                    if (At(i + 1) == '{') { i += 2; continue; }
                    i++;
                    output.Append(' ');
                    Code(inHole: true);
                    output.Append(' ');
                    i++;
                    continue;
                }
                i++;
            }
        }
    }

    static bool IsIdentifierChar(char c) => char.IsLetterOrDigit(c) || c == '_';

    [GeneratedRegex(@"^\s*namespace\s+([\w.]+)", RegexOptions.Multiline)]
    private static partial Regex DeclaredNamespace();

    [GeneratedRegex(@"^\s*(?:global\s+)?using\s+(?:static\s+)?(?:\w+\s*=\s*)?(?:global::)?([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex Import();

    [GeneratedRegex(@"(?<![\w.])(?:global::)?(SiteRecovery(?:\.\w+)+)")]
    private static partial Regex Qualified();
}
