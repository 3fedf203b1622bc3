using SiteRecovery.Tests.Support;
using YamlDotNet.RepresentationModel;

namespace SiteRecovery.Tests.Packaging;

/// <summary>
/// No Docker engine runs here, so the compose file is checked for structure only: it parses, every
/// service builds from the Dockerfile or names an image, depends only on services that exist, the
/// node and agent commands use options srnode and sragent really have (an agent's export address passing the agent's
/// own rule), and no command line carries a password.
/// </summary>
public class DockerFilesTests
{
    static string Repo => Paths.RepoRoot;

    [Fact]
    public void Compose_file_is_well_formed_and_consistent()
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(Repo, "docker", "compose.yaml"))) yaml.Load(reader);
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        var services = (YamlMappingNode)root.Children[new YamlScalarNode("services")];
        var names = services.Children.Keys.Select(k => ((YamlScalarNode)k).Value!).ToHashSet();
        Assert.Contains("postgres", names);
        var volumes = ((YamlMappingNode)root.Children[new YamlScalarNode("volumes")]).Children.Keys.Select(k => ((YamlScalarNode)k).Value!).ToHashSet();
        var nodeOptions = File.ReadAllText(Path.Combine(Repo, "src", "Hosts", "SiteRecovery.Node", "Program.cs"));
        var agentOptions = File.ReadAllText(Path.Combine(Repo, "src", "Hosts", "SiteRecovery.Agent", "Program.cs"));
        foreach (var (key, value) in services.Children)
        {
            var name = ((YamlScalarNode)key).Value!;
            var svc = (YamlMappingNode)value;
            var hasImage = svc.Children.ContainsKey(new YamlScalarNode("image"));
            var hasBuild = svc.Children.ContainsKey(new YamlScalarNode("build"));
            Assert.True(hasImage ^ hasBuild, $"service {name}: needs exactly one of image or build");
            if (svc.Children.TryGetValue(new YamlScalarNode("depends_on"), out var deps))
            {
                var depNames = deps is YamlSequenceNode seq ? seq.Children.Select(c => ((YamlScalarNode)c).Value!) : ((YamlMappingNode)deps).Children.Keys.Select(k => ((YamlScalarNode)k).Value!);
                foreach (var d in depNames) Assert.True(names.Contains(d), $"service {name} depends on unknown service {d}");
            }
            if (svc.Children.TryGetValue(new YamlScalarNode("volumes"), out var vols))
                foreach (var v in ((YamlSequenceNode)vols).Children.Select(c => ((YamlScalarNode)c).Value!))
                    Assert.True(volumes.Contains(v.Split(':')[0]), $"service {name} mounts undeclared volume {v}");
            if (svc.Children.TryGetValue(new YamlScalarNode("command"), out var cmd) && cmd is YamlSequenceNode args)
            {
                var words = args.Children.Select(c => ((YamlScalarNode)c).Value!).ToList();
                // A secret on a command line is readable by every user through /proc.
                Assert.DoesNotContain(words, w => w.Contains("Password=", StringComparison.OrdinalIgnoreCase));
                var (program, options) = words[0] switch { "node" => ("srnode", nodeOptions), "agent" => ("sragent", agentOptions), var other => (other, "") };
                Assert.True(options.Length > 0, $"service {name}: '{program}' is neither node nor agent");
                foreach (var opt in words.Where(a => a.StartsWith("--")))
                    Assert.True(options.Contains($"\"{opt}\""), $"service {name}: {program} has no option {opt}");
                // The agent's export address passes the agent's own rule (beyond loopback only with TLS or said outright).
                if (words[0] == "agent" && words.IndexOf("--nbd") is >= 0 and var at)
                    SiteRecovery.Agent.NbdListenAddress.Parse("--nbd", words[at + 1], words.Contains("--nbd-listen-any"), words.Contains("--nbd-tls-certificate"));
            }
        }
        Assert.True(File.Exists(Path.Combine(Repo, "docker", "Dockerfile")));
        Assert.Contains("entrypoint.sh", File.ReadAllText(Path.Combine(Repo, "docker", "Dockerfile")));
    }
}
