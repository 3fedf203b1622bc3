using Xunit;

namespace SiteRecovery.Actors.Tests.Architecture;

/// <summary>
/// No two namespaces under <c>src/</c> depend on each other, directly or round a longer loop: a type used on both sides
/// of a loop belongs to one owner, and the other side names it there. Read from the source text (<see cref="NamespaceGraph"/>).
/// </summary>
public sealed class NamespaceCycleTests
{
    /// <summary>
    /// Edges left out of the loop check, each with why it is not moved to its owner yet. Empty: every loop found so far
    /// was broken. An entry that names an edge the tree no longer has fails the test, so none outlives its reason.
    /// </summary>
    static readonly (string From, string To, string Why)[] Allowed = [];

    [Fact]
    public void No_namespace_under_src_reaches_itself_through_another()
    {
        var graph = NamespaceGraph.OfTree(Path.Combine(RepoRoot.Path, "src"), RepoRoot.Path);
        Assert.True(graph.Edges.Count > 20, $"read only {graph.Edges.Count} namespaces under src/: the tree was not found");

        var stale = Allowed.Where(a => !graph.Edges.TryGetValue(a.From, out var to) || !to.ContainsKey(a.To)).ToList();
        Assert.True(stale.Count == 0, "allowed edges the tree no longer has (remove them): " + string.Join("; ", stale.Select(a => $"{a.From} -> {a.To}")));

        var cycles = graph.Cycles(Allowed.Select(a => (a.From, a.To)));
        Assert.True(cycles.Count == 0, "namespaces that depend on each other (move the shared type to its owner):\n" + Describe(cycles));
    }

    [Fact]
    public void Finds_a_loop_of_two_and_of_three_and_reads_no_comment_or_string()
    {
        var graph = NamespaceGraph.Of([
            ("a.cs", "namespace SiteRecovery.A;\nusing SiteRecovery.B;\nclass X { }"),
            ("b.cs", "namespace SiteRecovery.B;\nclass Y { object o = SiteRecovery.A.X.Value; }"),
            ("c.cs", "namespace SiteRecovery.C;\nusing static SiteRecovery.D.Helpers;\nclass Z { }"),
            ("d.cs", "namespace SiteRecovery.D\n{\n    using Alias = SiteRecovery.E.Thing;\n    static class Helpers { }\n}"),
            ("e.cs", "namespace SiteRecovery.E;\nclass Thing { string s = $\"{global::SiteRecovery.C.Z.Name} and {\"}\"}\"; }"),
            ("f.cs", "namespace SiteRecovery.F;\n// using SiteRecovery.A;\n/* SiteRecovery.A.X */\nclass W { string s = \"SiteRecovery.A.X\"; string v = @\"\"\"SiteRecovery.A\"; char q = '\"'; string r = \"\"\"\n SiteRecovery.A.X \"quoted\"\n\"\"\"; }"),
            ("g.cs", "namespace SiteRecovery.G;\nusing SiteRecovery.F;\nclass V { }"),
        ]);

        var cycles = graph.Cycles([]).Select(c => c.Select(e => $"{e.From}->{e.To}").Order().ToList()).OrderBy(c => c[0]).ToList();
        Assert.Equal(2, cycles.Count);
        Assert.Equal(new[] { "SiteRecovery.A->SiteRecovery.B", "SiteRecovery.B->SiteRecovery.A" }, cycles[0]);
        Assert.Equal(new[] { "SiteRecovery.C->SiteRecovery.D", "SiteRecovery.D->SiteRecovery.E", "SiteRecovery.E->SiteRecovery.C" }, cycles[1]);
        Assert.Empty(graph.Edges["SiteRecovery.F"]);
        Assert.Equal(new[] { "g.cs" }, graph.Edges["SiteRecovery.G"]["SiteRecovery.F"]);

        // An allowed edge breaks its loop, and only that one.
        Assert.Single(graph.Cycles([("SiteRecovery.B", "SiteRecovery.A")]));
    }

    static string Describe(IReadOnlyList<IReadOnlyList<(string From, string To, IReadOnlyList<string> Files)>> cycles) =>
        string.Join("\n", cycles.Select((c, k) => $"loop {k + 1}:\n" + string.Join("\n", c.Select(e => $"  {e.From} -> {e.To}: {string.Join(", ", e.Files)}"))));
}
