using System.Reflection;

namespace SiteRecovery.Chaos.Tests.Support;

/// <summary>Locates the repository and the built host assemblies the tests start as child processes.</summary>
public static class Repo
{
    public static string Root => RepoRoot.Path;

    /// <summary>The configuration this test assembly was built with (Release under tests/run.sh).</summary>
    public static string Configuration =>
        typeof(Repo).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration is { Length: > 0 } c ? c : "Release";

    static string HostDll(string project, string assembly)
    {
        var path = Path.Combine(Root, "src", "Hosts", project, "bin", Configuration, "net10.0", assembly + ".dll");
        if (!File.Exists(path))
            throw new FileNotFoundException($"{assembly}.dll is not built at {path}; run: dotnet build SiteRecovery.sln -c {Configuration}", path);
        return path;
    }

    public static string NodeDll => HostDll("SiteRecovery.Node", "srnode");
    public static string AgentDll => HostDll("SiteRecovery.Agent", "sragent");
}
