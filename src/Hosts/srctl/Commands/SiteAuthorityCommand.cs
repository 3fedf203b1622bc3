using System.CommandLine;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

/// <summary>
/// <c>srctl site-authority show [--output FILE]</c> and <c>srctl site-authority revoked</c>: the site's certificate authority, kept by the configuration node,
/// which certifies the key of every component that registers (process servers, master targets, agents). <c>--output</c>
/// writes its certificate (public) for whatever must trust the site's components.
/// </summary>
public static class SiteAuthorityCommand
{
    public static Command Create(Option<string> api, Option<bool> json)
    {
        var output = new Option<string?>("--output") { Description = "Write the authority's certificate (PEM) to this file" };
        var show = new Command("show", "Show the site's certificate authority (subject, SHA-256, end of validity)") { output };
        show.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var r = await client.GetAsync("api/site-authority", ct);
                if (parse.GetValue(output) is { } file) await File.WriteAllTextAsync(file, r["certificatePem"]!.GetValue<string>(), ct);
                if (parse.GetValue(json)) Console.WriteLine(r.ToJsonString());
                else
                {
                    // Lines, not a table: the fingerprint is what an operator compares, and a narrow terminal must not cut it.
                    AnsiConsole.MarkupLine($"site authority [bold]{Markup.Escape(r["subject"]!.ToString())}[/]");
                    AnsiConsole.MarkupLine($"  sha256    {r["sha256"]}");
                    AnsiConsole.MarkupLine($"  not after {r["notAfter"]}");
                    if (parse.GetValue(output) is { } written) AnsiConsole.MarkupLine($"certificate written to {Markup.Escape(written)}");
                }
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });
        var revoked = new Command("revoked", "List the certificates the site has revoked (a component removed, or registered again with another key)");
        revoked.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var r = await client.GetAsync("api/site-authority/revoked", ct);
                if (parse.GetValue(json)) { Console.WriteLine(r.ToJsonString()); return 0; }
                var list = r["revoked"]!.AsArray();
                if (list.Count == 0) { AnsiConsole.MarkupLine("no certificate is revoked"); return 0; }
                // Lines, not a table: a serial is what an operator compares, and a narrow terminal must not cut it.
                foreach (var c in list)
                    AnsiConsole.MarkupLine($"{c!["serial"]}  {Markup.Escape(c["component"]!.ToString())}  {c["reason"]}  revoked {c["revokedAt"]}  (would end {c["notAfter"]})");
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });
        return new Command("site-authority", "The site's certificate authority, which certifies every registered component's key") { show, revoked };
    }
}
