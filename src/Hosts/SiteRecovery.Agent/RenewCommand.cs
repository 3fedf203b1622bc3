using System.CommandLine;
using System.Text.Json;
using SiteRecovery.Connections;

namespace SiteRecovery.Agent.Host;

/// <summary>
/// <c>sragent renew</c>: the agent has its certificate renewed before it ends, by proving possession of its writer key
/// (a signature over a fresh nonce of the site's authority; no passphrase). The new certificate is for the same key with
/// a new serial and replaces <c>component.crt</c> atomically; the old one stays valid until it ends unless revoked.
/// </summary>
static class RenewCommand
{
    public static Command Create()
    {
        var id = new Option<string>("--id") { Description = "Agent id (as `register --id`)", DefaultValueFactory = _ => Environment.MachineName };
        var api = new Option<string>("--api") { Description = "API URL of the node that runs the configuration role", Required = true };
        var server = new Option<string>("--configuration-server") { Description = "Configuration server id the agent registered with", Required = true };
        var state = new Option<string>("--state-dir") { Description = "The agent's state directory (as `run --state-dir`)", DefaultValueFactory = _ => ".data/agent" };
        var writerDir = new Option<string?>("--writer-dir") { Description = "Directory of the writer identity (as `run --writer-dir`); the --state-dir unless given" };
        var caFile = new Option<string?>("--api-ca-file") { Description = "PEM certificate(s) to trust for an https API besides the system's (the node's keys/api.crt)" };
        var json = new Option<bool>("--json") { Description = "Print one machine-readable line" };
        var command = new Command("renew", "Renew the agent's certificate (same writer key, new serial) by proving possession of its key") { id, api, server, state, writerDir, caFile, json };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var folder = Path.GetFullPath(parse.GetValue(writerDir) ?? parse.GetValue(state)!);
                using var http = ComponentEnrollment.ApiClient(parse.GetValue(api)!, parse.GetValue(caFile) is { } ca ? Path.GetFullPath(ca) : null);
                using var key = WriterIdentity.Open(folder);
                var agentId = parse.GetValue(id)!;
                var renewed = await ComponentEnrollment.RenewAsync(http, parse.GetValue(server)!, agentId, key, folder, ct);
                renewed.Store(folder);
                var certificate = Path.Combine(folder, EnrollmentCertificates.CertificateFileName);
                Console.WriteLine(parse.GetValue(json)
                    ? JsonSerializer.Serialize(new { @event = "renewed", agent = agentId, keySha256 = renewed.KeySha256, certificate, notAfter = renewed.NotAfter.ToUniversalTime() })
                    : $"renewed agent {agentId}'s certificate: writer key {renewed.KeySha256[..16]} certified until {renewed.NotAfter.ToUniversalTime():u} ({certificate})");
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"sragent renew: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}
