using SiteRecovery.Tests.Support;
using YamlDotNet.RepresentationModel;

namespace SiteRecovery.Tests.Packaging;

/// <summary>
/// No Docker engine runs here, so the compose file is checked for structure only: it parses, every
/// service builds from the Dockerfile or names an image, depends only on services that exist, the
/// node and agent commands use options srnode and sragent really have (an agent's export address passing the agent's
/// own rule), and no command line carries a password. The cluster is checked as the nodes would start it: each node's
/// <c>--cluster-listen</c> is its own service name and passes the node's cluster settings, every seed is a node's listen
/// address, and a node given the data-path config (a compose config of a file in docker/) gets page-blob replicas whose
/// account is the environment variable its service sets.
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
            // A service from a published image (PostgreSQL, Azurite) runs that image's own program.
            if (hasBuild && svc.Children.TryGetValue(new YamlScalarNode("command"), out var cmd) && cmd is YamlSequenceNode args)
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
        CheckCluster(services);
        CheckConfigs(root, services);
        Assert.True(File.Exists(Path.Combine(Repo, "docker", "Dockerfile")));
        Assert.Contains("entrypoint.sh", File.ReadAllText(Path.Combine(Repo, "docker", "Dockerfile")));
    }

    static List<string> Words(YamlMappingNode svc) =>
        svc.Children.TryGetValue(new YamlScalarNode("command"), out var cmd) && cmd is YamlSequenceNode args
            ? args.Children.Select(c => ((YamlScalarNode)c).Value!).ToList() : [];

    static IEnumerable<string> ValuesOf(List<string> words, string flag) =>
        words.Select((w, i) => (w, i)).Where(p => p.w == flag && p.i + 1 < words.Count).Select(p => words[p.i + 1]);

    static Dictionary<string, string> EnvironmentOf(YamlMappingNode svc) =>
        svc.Children.TryGetValue(new YamlScalarNode("environment"), out var env)
            ? ((YamlMappingNode)env).Children.ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value!)
            : [];

    static void CheckCluster(YamlMappingNode services)
    {
        var nodes = services.Children.Select(s => (Name: ((YamlScalarNode)s.Key).Value!, Words: Words((YamlMappingNode)s.Value)))
            .Where(s => s.Words.FirstOrDefault() == "node").ToList();
        Assert.True(nodes.Count >= 3, $"the compose file describes {nodes.Count} nodes, not a 3-node cluster");
        var listens = new HashSet<string>();
        foreach (var (name, words) in nodes)
        {
            var listen = Assert.Single(ValuesOf(words, "--cluster-listen"));
            Assert.True(listen.StartsWith(name + ":", StringComparison.Ordinal), $"service {name}: --cluster-listen {listen} is not the service's own name, which the other nodes reach it by");
            SiteRecovery.Node.Cluster.ClusterSettings.Load(null, listen, ValuesOf(words, "--cluster-seed").ToList(), words.Contains("--cluster-listen-any"));
            listens.Add(listen);
        }
        var seeds = nodes.SelectMany(n => ValuesOf(n.Words, "--cluster-seed").Select(seed => (n.Name, seed))).ToList();
        Assert.NotEmpty(seeds);
        foreach (var (name, seed) in seeds) Assert.True(listens.Contains(seed), $"service {name}: --cluster-seed {seed} is no node's --cluster-listen");
        // One node forms the cluster (no seed of its own), the others join it.
        Assert.Single(nodes, n => !ValuesOf(n.Words, "--cluster-seed").Any());
    }

    static void CheckConfigs(YamlMappingNode root, YamlMappingNode services)
    {
        var declared = root.Children.TryGetValue(new YamlScalarNode("configs"), out var configs)
            ? ((YamlMappingNode)configs).Children.ToDictionary(c => ((YamlScalarNode)c.Key).Value!,
                c => Path.GetFullPath(Path.Combine(Repo, "docker", ((YamlScalarNode)((YamlMappingNode)c.Value).Children[new YamlScalarNode("file")]).Value!)))
            : [];
        foreach (var file in declared.Values) Assert.True(File.Exists(file), $"config file {file} does not exist");
        foreach (var (key, value) in services.Children)
        {
            var name = ((YamlScalarNode)key).Value!;
            var svc = (YamlMappingNode)value;
            if (!svc.Children.TryGetValue(new YamlScalarNode("configs"), out var used)) continue;
            var mounted = ((YamlSequenceNode)used).Children.Cast<YamlMappingNode>().ToDictionary(
                m => ((YamlScalarNode)m.Children[new YamlScalarNode("target")]).Value!, m => ((YamlScalarNode)m.Children[new YamlScalarNode("source")]).Value!);
            foreach (var source in mounted.Values) Assert.True(declared.ContainsKey(source), $"service {name} uses undeclared config {source}");
            foreach (var path in ValuesOf(Words(svc), "--config"))
            {
                Assert.True(mounted.TryGetValue(path, out var source), $"service {name}: --config {path} is not where a config is mounted");
                var c = SiteRecovery.Node.DataPathSettings.Load(declared[source!]);
                // The compose site's nodes are not registered with node1, so under the shipped default (TLS required) their
                // data-path listeners would refuse each other: the config must say optional, in the open.
                foreach (var listener in new[] { "process-server", "master-target" })
                    Assert.True(c.GetString($"siterecovery.data-path.tls.{listener}", "") == "optional", $"service {name}: siterecovery.data-path.tls.{listener} must be optional for unregistered nodes");
                var roles = ValuesOf(Words(svc), "--roles").FirstOrDefault() ?? "all";
                if (roles != "all" && !roles.Contains("master-target", StringComparison.Ordinal)) continue; // its replicas are not its business
                var variable = c.GetString("siterecovery.data-path.master-target.azure-page-blob.connection-env", "");
                var connection = variable.Length > 0 ? EnvironmentOf(svc).GetValueOrDefault(variable) : null;
                Assert.True(connection is not null, $"service {name}: its data-path config reads the storage account from '{variable}', which the service does not set");
                var previous = System.Environment.GetEnvironmentVariable(variable);
                System.Environment.SetEnvironmentVariable(variable, connection);
                try
                {
                    var factory = SiteRecovery.Node.ReplicaStores.Create(c, Path.Combine(Path.GetTempPath(), "compose-check"), name, new Dictionary<string, string>());
                    Assert.IsType<SiteRecovery.Azure.Replicas.PageBlobReplicaStoreFactory>(factory);
                }
                finally { System.Environment.SetEnvironmentVariable(variable, previous); }
            }
        }
    }
}
