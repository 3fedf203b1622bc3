namespace SiteRecovery.TestSupport;

/// <summary>The repository a test runs from: the folder holding SiteRecovery.sln above the test's binaries.</summary>
public static class RepoRoot
{
    static readonly Lazy<string> Root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "SiteRecovery.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no SiteRecovery.sln above {AppContext.BaseDirectory}");
    });

    public static string Path => Root.Value;
}
