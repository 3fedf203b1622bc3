using System.CommandLine;
using System.Text.Json;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Agent.Host;

/// <summary>
/// <c>sragent register</c>: the agent registers with its site's configuration server by the passphrase's challenge and
/// response, and the site's authority certifies its writer key (the key its hellos are signed with), for its machine id.
/// The certificate and the authority's are kept beside the key (<c>component.crt</c>, <c>site-ca.crt</c>); the
/// passphrase is read from a file, never from the command line, and is neither stored nor printed.
/// </summary>
static class RegisterCommand
{
    public static Command Create()
    {
        var id = new Option<string>("--id") { Description = "Agent id (the protected machine's id, as `run --id`)", DefaultValueFactory = _ => Environment.MachineName };
        var api = new Option<string>("--api") { Description = "API URL of the node that runs the configuration role", Required = true };
        var server = new Option<string>("--configuration-server") { Description = "Configuration server id to register with", Required = true };
        var passphraseFile = new Option<string>("--passphrase-file") { Description = "A file holding the configuration server's passphrase", Required = true };
        var state = new Option<string>("--state-dir") { Description = "The agent's state directory (as `run --state-dir`)", DefaultValueFactory = _ => ".data/agent" };
        var writerDir = new Option<string?>("--writer-dir") { Description = "Directory of the writer identity (as `run --writer-dir`); the --state-dir unless given" };
        var caFile = new Option<string?>("--api-ca-file") { Description = "PEM certificate(s) to trust for an https API besides the system's (the node's keys/api.crt)" };
        var json = new Option<bool>("--json") { Description = "Print one machine-readable line" };
        var command = new Command("register", "Register with the site's configuration server and have the agent's writer key certified") { id, api, server, passphraseFile, state, writerDir, caFile, json };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var passphrase = await ComponentEnrollment.ReadPassphraseAsync("--passphrase-file", parse.GetValue(passphraseFile)!, ct);
                var folder = Path.GetFullPath(parse.GetValue(writerDir) ?? parse.GetValue(state)!);
                using var http = ComponentEnrollment.ApiClient(parse.GetValue(api)!, parse.GetValue(caFile) is { } ca ? Path.GetFullPath(ca) : null);
                using var key = WriterIdentity.Open(folder);
                var agentId = parse.GetValue(id)!;
                var issued = (await ComponentEnrollment.RegisterAsync(http, parse.GetValue(server)!, agentId, ComponentKind.Agent, passphrase, key.PublicKey, ct))!;
                issued.Store(folder);
                // Where it registered, so that `sragent run` renews the certificate by itself before it ends.
                new EnrollmentRecord(parse.GetValue(api)!, parse.GetValue(server)!, agentId, parse.GetValue(caFile) is { } caPath ? Path.GetFullPath(caPath) : null).Store(folder);
                var certificate = Path.Combine(folder, EnrollmentCertificates.CertificateFileName);
                Console.WriteLine(parse.GetValue(json)
                    ? JsonSerializer.Serialize(new { @event = "registered", agent = agentId, keySha256 = issued.KeySha256, certificate, notAfter = issued.NotAfter.ToUniversalTime() })
                    : $"registered agent {agentId}: writer key {issued.KeySha256[..16]} certified until {issued.NotAfter.ToUniversalTime():u} ({certificate})");
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"sragent register: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}
