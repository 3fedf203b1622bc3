using System.CommandLine;
using SiteRecovery.Ctl;
using SiteRecovery.Ctl.Commands;

var api = new Option<string>("--api") { Description = "Node API URL", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("SR_API") ?? "https://127.0.0.1:9700", Recursive = true };
var json = new Option<bool>("--json") { Description = "Print JSON instead of tables", Recursive = true };

var tokenFile = new Option<string?>("--token-file") { Description = $"File holding the API token to present (default: SR_TOKEN, SR_TOKEN_FILE, then {ApiToken.DefaultFile} if it exists)", Recursive = true };

var caFile = new Option<string?>("--ca-file") { Description = $"PEM file of the certificate (or its CA) an https API is trusted by (default: SR_CA_FILE, then {ApiTrust.DefaultFile} if it exists)", Recursive = true };

var root = new RootCommand("srctl: operate a SiteRecovery site") { api, json, tokenFile, caFile };
root.Add(StatusCommand.Create(api, json));
root.Add(BookmarkCommand.Create(api, json));
root.Add(RecoverCommand.Create(api, json));
root.Add(PointCommands.Retention(api, json));
root.Add(PointCommands.Export(api, json));
root.Add(ResyncCommand.Create(api, json));
root.Add(WriterCommand.Create(api, json));
root.Add(JobsCommand.Create(api, json));
root.Add(AlertsCommand.Create(api, json));
root.Add(EventsCommand.Create(api, json));
root.Add(ControlPlaneCommands.Vault(api, json));
root.Add(ControlPlaneCommands.Machine(api, json));
root.Add(PlanCommands.Create(api, json));
root.Add(FailoverCommands.Failover(api, json));
root.Add(FailoverCommands.ManualAction(api, json));
root.Add(FailoverCommands.Drill(api, json));
root.Add(ReprotectCommands.Reprotect(api, json));
root.Add(ReprotectCommands.Failback(api, json));
root.Add(ReprotectCommands.Return(api, json));
root.Add(TokenCommands.Create(api, json));
root.Add(SiteAuthorityCommand.Create(api, json));
root.Add(ComponentsCommand.Create(api, json));
root.Add(ClusterCommands.Create(api, json));
root.Add(QuickstartCommand.Create());
var parsed = root.Parse(args);
ApiToken.File = parsed.GetValue(tokenFile);
ApiTrust.File = parsed.GetValue(caFile);
return await parsed.InvokeAsync();
