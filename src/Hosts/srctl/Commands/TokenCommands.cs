using System.CommandLine;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

/// <summary><c>srctl token create|list|revoke</c>: the node's API tokens (an admin token is needed for each).</summary>
public static class TokenCommands
{
    public static Command Create(Option<string> api, Option<bool> json)
    {
        var cmd = new Command("token", "API tokens of the node: create (shown once), list, revoke");

        var name = new Option<string>("--name") { Description = "Who or what uses the token (letters, digits, - _ . @ :)", Required = true };
        var role = new Option<string>("--role") { Description = "reader, operator, recovery-admin or admin", Required = true };
        var expires = new Option<string?>("--expires-in") { Description = "Lifetime such as 90d, 12h or 3600s (default: does not expire)" };
        var output = new Option<string?>("--out") { Description = "Write the token to this new file (0600) instead of printing it" };
        var create = new Command("create", "Make a token; its text is shown once (or written to --out) and kept nowhere") { name, role, expires, output };
        create.SetAction(async (parse, ct) =>
        {
            long? seconds;
            try { seconds = parse.GetValue(expires) is { } e ? Lifetime(e) : null; }
            catch (FormatException e) { Console.Error.WriteLine($"srctl: --expires-in: {e.Message}"); return 2; }
            var outFile = parse.GetValue(output);
            if (outFile is not null && File.Exists(outFile)) { Console.Error.WriteLine($"srctl: --out '{outFile}' exists; name a new file"); return 2; }
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var r = await client.PostAsync("api/tokens", new { name = parse.GetValue(name), role = parse.GetValue(role), expiresInSeconds = seconds }, ct);
                var token = r["token"]!.GetValue<string>();
                if (outFile is not null)
                {
                    var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                    if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                    await using (var f = new StreamWriter(outFile, System.Text.Encoding.ASCII, options)) await f.WriteLineAsync(token);
                    r["token"] = $"(written to {Path.GetFullPath(outFile)})";
                }
                if (parse.GetValue(json)) { Console.WriteLine(r.ToJsonString()); return 0; }
                AnsiConsole.MarkupLine($"token [bold]{Markup.Escape(r["id"]!.ToString())}[/] ({Markup.Escape(r["name"]!.ToString())}, {Markup.Escape(r["role"]!.ToString())}" +
                    $"{(r["expiresUnixMs"] is { } x ? $", expires {StatusCommand.Time(x)}" : "")})");
                Console.WriteLine(outFile is null ? token : r["token"]!.ToString());
                if (outFile is null) AnsiConsole.MarkupLine("[yellow]shown once: the node keeps only its hash[/]");
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });

        var list = new Command("list", "The node's tokens: id, name, role, created, expires, revoked (never their text)");
        list.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var r = await client.GetAsync("api/tokens", ct);
                if (parse.GetValue(json)) { Console.WriteLine(r.ToJsonString()); return 0; }
                var t = new Table().AddColumns("id", "name", "role", "created", "expires", "revoked");
                foreach (var x in r.AsArray())
                    t.AddRow(StatusCommand.Esc(x!["id"]), StatusCommand.Esc(x["name"]), StatusCommand.Esc(x["role"]), StatusCommand.Time(x["createdUnixMs"]),
                        StatusCommand.Time(x["expiresUnixMs"]), x["revokedUnixMs"] is { } rv ? $"[red]{StatusCommand.Time(rv)}[/]" : "");
                AnsiConsole.Write(t);
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });

        var id = new Argument<string>("id") { Description = "The token's id (srctl token list)" };
        var revoke = new Command("revoke", "Revoke a token: the next request that presents it is refused") { id };
        revoke.SetAction(async (parse, ct) =>
        {
            using var client = new ApiClient(parse.GetValue(api)!);
            try
            {
                var r = await client.DeleteAsync($"api/tokens/{Uri.EscapeDataString(parse.GetValue(id)!)}", ct);
                Console.WriteLine(parse.GetValue(json) ? r.ToJsonString() : $"revoked {parse.GetValue(id)}");
                return 0;
            }
            catch (ApiException e) { Console.Error.WriteLine($"srctl: {e.Message}"); return 1; }
        });

        cmd.Add(create);
        cmd.Add(list);
        cmd.Add(revoke);
        return cmd;
    }

    /// <summary>Seconds in a lifetime written as a number of seconds or with a unit: 3600s, 12h, 90d.</summary>
    internal static long Lifetime(string text)
    {
        var t = text.Trim();
        var (digits, unit) = t.Length > 0 && char.IsLetter(t[^1]) ? (t[..^1], char.ToLowerInvariant(t[^1])) : (t, 's');
        if (!long.TryParse(digits, out var n) || n <= 0) throw new FormatException($"'{text}' is not a positive lifetime such as 3600s, 12h or 90d");
        return unit switch
        {
            's' => n,
            'm' => checked(n * 60),
            'h' => checked(n * 3600),
            'd' => checked(n * 86400),
            _ => throw new FormatException($"'{text}': unit '{unit}' is not s, m, h or d"),
        };
    }
}
