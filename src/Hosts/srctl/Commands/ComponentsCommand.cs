using System.CommandLine;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

/// <summary>
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
        return new Command("components", "Components registered with a configuration server") { remove };
    }
}
