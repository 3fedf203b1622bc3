using SiteRecovery.Tests.Support;
using YamlDotNet.RepresentationModel;

namespace SiteRecovery.Tests.Packaging;

/// <summary>
/// No Docker engine runs here, so the compose file is checked for structure only: it parses, every
/// service builds from the Dockerfile or names an image, depends only on services that exist, and the
/// node commands use options srnode really has.
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
            if (svc.Children.TryGetValue(new YamlScalarNode("command"), out var cmd) && cmd is YamlSequenceNode args && ((YamlScalarNode)args.Children[0]).Value == "node")
                foreach (var opt in args.Children.Select(c => ((YamlScalarNode)c).Value!).Where(a => a.StartsWith("--")))
                    Assert.True(nodeOptions.Contains($"\"{opt}\""), $"service {name}: srnode has no option {opt}");
        }
        Assert.True(File.Exists(Path.Combine(Repo, "docker", "Dockerfile")));
        Assert.Contains("entrypoint.sh", File.ReadAllText(Path.Combine(Repo, "docker", "Dockerfile")));
    }
}
