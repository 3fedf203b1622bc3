using System.CommandLine;

namespace SiteRecovery.Ctl.Commands;

/// <summary>Set-up commands: vaults and keys, machines. Each prints the node's answer, or its error.</summary>
public static class ControlPlaneCommands
{
    public static Command Vault(Option<string> api, Option<bool> json)
    {
        var vault = new Command("vault", "Vaults and registration keys");
        var name = new Argument<string>("name");
        var region = new Option<string>("--region") { Description = "Azure-style region, e.g. WestEurope", Required = true };
        var create = new Command("create", "Create a vault") { name, region };
        create.SetAction((p, ct) => Run(p, api, json, c => c.PostAsync("api/vaults", new { name = p.GetValue(name), region = p.GetValue(region) }, ct)));
        var keyName = new Argument<string>("name");
        var key = new Command("key", "Issue a registration key (valid 5 days)") { keyName };
        key.SetAction((p, ct) => Run(p, api, json, c => c.PostAsync($"api/vaults/{p.GetValue(keyName)}/keys", new { }, ct)));
        var list = new Command("list", "List vaults");
        list.SetAction((p, ct) => Run(p, api, json, c => c.GetAsync("api/vaults", ct)));
        vault.Add(create); vault.Add(key); vault.Add(list);
        return vault;
    }

    public static Command Machine(Option<string> api, Option<bool> json)
    {
        var machine = new Command("machine", "Protected machines");
        var id = new Argument<string>("id");
        var show = new Command("show", "Show a machine's state, properties and placement") { id };
        show.SetAction((p, ct) => Run(p, api, json, c => c.GetAsync($"api/machines/{p.GetValue(id)}", ct)));
        var validateId = new Argument<string>("id");
        var validate = new Command("validate", "List every reason a machine cannot be protected") { validateId };
        validate.SetAction((p, ct) => Run(p, api, json, c => c.GetAsync($"api/machines/{p.GetValue(validateId)}/validation", ct)));
        var enableId = new Argument<string>("id");
        var churn = new Option<double>("--churn-mbps") { Description = "Estimated write churn of the machine", DefaultValueFactory = _ => 1 };
        var enable = new Command("enable", "Validate, place (master target with free slots, process server with churn left) and start protection") { enableId, churn };
        enable.SetAction((p, ct) => Run(p, api, json, c => c.PostAsync($"api/machines/{p.GetValue(enableId)}/enable", new { churnMBps = p.GetValue(churn) }, ct)));
        machine.Add(show); machine.Add(validate); machine.Add(enable);
        return machine;
    }

    static async Task<int> Run(ParseResult parse, Option<string> api, Option<bool> json, Func<ApiClient, Task<System.Text.Json.Nodes.JsonNode>> call)
    {
        using var client = new ApiClient(parse.GetValue(api)!);
        try
        {
            var r = await call(client);
            Console.WriteLine(parse.GetValue(json) ? r.ToJsonString() : r.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
    }
}
