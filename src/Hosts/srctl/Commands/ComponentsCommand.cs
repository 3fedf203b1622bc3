using System.CommandLine;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

/// <summary>
/// <c>srctl components list --configuration-server CS</c>: what is registered, with the version each component reported.
/// <c>srctl components remove ID --configuration-server CS</c>: removes a registered component (a process server, a
/// master target, an agent) from its configuration server; every certificate the site issued to it is revoked at once
/// and listed by <c>srctl site-authority revoked</c>. It registers again, with the passphrase, to come back.
/// </summary>
public static class ComponentsCommand
{
    public static Command Create(Option<string> api, Option<bool> json)
    {
        var id = new Argument<string>("id") { Description = "The component's id (as registered: a node's NODE-ps / NODE-mt, an agent's machine id)" };
        var server = new Option<string>("--configuration-server") { Description = "The configuration server it is registered with", Required = true };
        var remove = new Command("remove", "Remove a registered component and revoke its certificates") { id, server };
        remove.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var r = await client.DeleteAsync($"api/configuration-servers/{Uri.EscapeDataString(parse.GetValue(server)!)}/components/{Uri.EscapeDataString(parse.GetValue(id)!)}", ct);
                if (parse.GetValue(json)) { Console.WriteLine(r.ToJsonString()); return 0; }
                var revoked = r["revoked"]!.AsArray();
                AnsiConsole.MarkupLine($"removed {r["kind"]} [bold]{Markup.Escape(parse.GetValue(id)!)}[/]; {revoked.Count} certificate(s) revoked");
                foreach (var c in revoked) AnsiConsole.MarkupLine($"  {c!["serialHex"]}  (would end {DateTimeOffset.FromUnixTimeMilliseconds(c["notAfterUnixMs"]!.GetValue<long>()):u})");
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });
        var listServer = new Option<string>("--configuration-server") { Description = "The configuration server whose components to list", Required = true };
        var list = new Command("list", "The components registered with a configuration server: kind, the version each reported, whether it holds a certified key") { listServer };
        list.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var cs = parse.GetValue(listServer)!;
                var view = await client.GetAsync($"api/configuration-servers/{Uri.EscapeDataString(cs)}", ct);
                var components = view["components"]!.AsArray();
                if (parse.GetValue(json)) { Console.WriteLine(components.ToJsonString()); return 0; }
                var table = new Table().AddColumns("component", "kind", "version", "registered", "certified key", "re-registration");
                foreach (var c in components)
                    table.AddRow(Markup.Escape(c!["componentId"]!.GetValue<string>()), c["kind"]!.ToString(),
                        Markup.Escape(c["version"]?.GetValue<string>() ?? "not reported"),
                        $"{DateTimeOffset.FromUnixTimeMilliseconds(c["registeredAtUnixMs"]!.GetValue<long>()):u}",
                        c["keySha256"]?.GetValue<string>() is { } key ? key[..12] : "none",
                        c["needsReregistration"]!.GetValue<bool>() ? "[yellow]needed[/]" : "no");
                AnsiConsole.MarkupLine($"configuration server [bold]{Markup.Escape(cs)}[/] (version {Markup.Escape(view["version"]?.GetValue<string>() ?? "?")})");
                AnsiConsole.Write(table);
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });
        return new Command("components", "Components registered with a configuration server") { list, remove };
    }
}
