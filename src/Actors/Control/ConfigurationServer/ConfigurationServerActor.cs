using Akka.Actor;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.ConfigurationServer;

/// <summary>
/// Event-sourced ConfigurationServer entity (persistence id <c>configuration-server-{id}</c>).
/// <para>
/// Key verification design: the key names its vault; this actor checks the fields locally, then asks that vault
/// (through the vaults region) to verify the key with <see cref="VerifyRegistrationKey"/>. The vault's signing secret
/// therefore never leaves the vault actor, and revocation is seen at once. The verdict comes back into this actor's
/// mailbox inside a prepared command that the pure state decides (refused verdicts persist nothing). If the vault does
/// not answer in time the request is refused with <see cref="RegistrationRefusal.VaultUnavailable"/>.
/// </para>
/// Passphrases (PBKDF2, ~100k iterations) are generated off the actor thread; nonces come from RandomNumberGenerator.
/// </summary>
public sealed class ConfigurationServerActor
    : AggregateActor<ConfigurationServerState, IConfigurationServerCommand, IConfigurationServerEvent>
{
    public const string PersistenceIdPrefix = "configuration-server-";
    private static readonly TimeSpan VerifyTimeout = TimeSpan.FromSeconds(5);

    public ConfigurationServerActor(string serverId, EntitySettings settings, IActorRef vaults)
        : base(PersistenceIdPrefix + serverId, ConfigurationServerState.Empty(serverId), settings)
    {
        Command<RegisterConfigurationServer>(r => OnRegister(r, vaults));
        Command<RegeneratePassphrase>(OnRegenerate);
        Command<BeginRegistration>(b =>
            ExecuteLater(new BeginRegistrationWithNonce(b.ConfigServerId, b.ComponentId, b.Kind, Secrets.NewNonce(), b.NowUnixMs), Sender));
        Command<BeginRenewal>(b => ExecuteLater(new BeginRenewalWithNonce(b.ConfigServerId, b.ComponentId, Secrets.NewNonce(), b.NowUnixMs), Sender));
        Command<GetConfigurationServer>(_ => Sender.Tell(State.ToView()));
    }

    public static Props Props(string serverId, EntitySettings settings, IActorRef vaults) =>
        Akka.Actor.Props.Create(() => new ConfigurationServerActor(serverId, settings, vaults));

    private void OnRegister(RegisterConfigurationServer r, IActorRef vaults)
    {
        var replyTo = Sender;
        if (ConfigurationServerState.ValidateRegistration(r.ServerId, r.Connectivity, r.Endpoints, r.NowUnixMs) is { } invalid)
        {
            replyTo.Tell(invalid);
            return;
        }

        var fields = RegistrationKeys.TryParse(r.RegistrationKey, out var problem);
        if (fields is null)
        {
            replyTo.Tell(new RegistrationReply.Refused(RegistrationRefusal.KeyMalformed, $"RegisterConfigurationServer.RegistrationKey is malformed: {problem}"));
            return;
        }

        var self = Self;
        vaults.Ask<RegistrationKeyVerdict>(new VerifyRegistrationKey(fields.VaultName, r.RegistrationKey, r.NowUnixMs), VerifyTimeout)
            .ContinueWith(t =>
            {
                if (!t.IsCompletedSuccessfully)
                {
                    replyTo.Tell(new RegistrationReply.Refused(RegistrationRefusal.VaultUnavailable,
                        $"RegisterConfigurationServer.RegistrationKey: vault '{fields.VaultName}' did not verify the key within {VerifyTimeout.TotalSeconds} s"));
                    return;
                }

                var verdict = t.Result;
                if (verdict.Refusal is { } refused)
                {
                    replyTo.Tell(refused);
                    return;
                }

                var command = new RegisterWithVerifiedKey(r.ServerId, verdict, r.Connectivity, r.Endpoints, r.NowUnixMs, Secrets.NewPassphraseWithHash());
                self.Tell(new Prepared<IConfigurationServerCommand>(command, replyTo));
            }, TaskScheduler.Default);
    }

    private void OnRegenerate(RegeneratePassphrase r)
    {
        var replyTo = Sender;
        var self = Self;
        Task.Run(() => self.Tell(new Prepared<IConfigurationServerCommand>(
            new RegeneratePassphraseWith(r.ServerId, Secrets.NewPassphraseWithHash(), r.NowUnixMs), replyTo)));
    }
}
