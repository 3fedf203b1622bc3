namespace SiteRecovery.Tests.Support;

public static class Paths
{
    /// <summary>The folder holding SiteRecovery.sln above the test assembly.</summary>
    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "SiteRecovery.sln"))) return dir.FullName;
            throw new InvalidOperationException("SiteRecovery.sln not found above " + AppContext.BaseDirectory);
        }
    }
}
