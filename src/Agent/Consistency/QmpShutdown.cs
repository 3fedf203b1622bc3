using System.Diagnostics;
using System.Net.Sockets;
using SiteRecovery.Compute.Local;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Agent.Consistency;

/// <summary>
/// The agent's <c>--shutdown-qmp SOCKET</c>: the built-in shutdown of a qemu/KVM machine whose disks this agent serves. In a
/// planned failover it connects to the machine's QMP socket, presses the ACPI power button (<c>system_powerdown</c>) and
/// waits, within the hook timeout, until the machine is off: a <c>SHUTDOWN</c> event, qemu closing the socket as it exits,
/// or <c>query-status</c> saying <c>shutdown</c> (qemu run with <c>-no-shutdown</c>). Anything else by the timeout is a
/// failure naming what was seen, and the quiesce then makes nothing read-only: a machine that is only paused
/// (<c>paused</c>) or still running has not flushed and left its disks, so it is not "down".
/// <para>
/// The socket should be the agent's own (<c>-qmp unix:SOCKET,server=on,wait=off</c> beside any other monitor): qemu serves
/// one client per QMP socket, and a second one waits unanswered while another holds it.
/// </para>
/// <para>
/// At start a socket that is not there yet, or that nobody listens on, is a warning, not an error: the machine boots from
/// the disks this agent serves, so its qemu normally starts after the agent. What the machine's start cannot fix is an
/// error: a path that exists but is not a socket, a socket the agent may not open, an answer that is not QMP.
/// </para>
/// </summary>
public sealed class QmpShutdown(string socketPath) : IMachineShutdown
{
    /// <summary>
    /// How often the machine's state is asked while the guest shuts down. Not a setting: the wait is bounded by the hook
    /// timeout, and this only decides how soon after the power-off it is noticed when qemu stays up (<c>-no-shutdown</c>).
    /// </summary>
    static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    public string SocketPath { get; } = Path.GetFullPath(socketPath);

    public string Kind => "QMP shutdown";

    public string Name => $"{Kind} via {SocketPath}";

    /// <summary>
    /// Start-up check (see the class); throws <see cref="ArgumentException"/> naming the flag and the path, and tells
    /// <paramref name="log"/> when the machine cannot be reached yet. <paramref name="probeTimeout"/> bounds the probe.
    /// </summary>
    public static QmpShutdown? Validate(string? socketPath, TimeSpan probeTimeout, Action<string> log)
    {
        if (socketPath is null) return null;
        if (string.IsNullOrWhiteSpace(socketPath)) throw new ArgumentException("--shutdown-qmp: an empty path was given");
        var shutdown = new QmpShutdown(socketPath);
        var path = shutdown.SocketPath;
        var flag = $"--shutdown-qmp '{path}'";
        if (Directory.Exists(path)) throw new ArgumentException($"{flag} is a directory, not qemu's QMP socket");
        if (!File.Exists(path))
        {
            log($"{flag}: no socket there yet; a planned failover needs the machine's qemu listening there (-qmp unix:{path},server=on,wait=off)");
            return shutdown;
        }
        if (FileType(path, probeTimeout) is var type && type != "socket")
            throw new ArgumentException($"{flag} is not a socket ({type} there)");
        using var cts = new CancellationTokenSource(probeTimeout);
        try
        {
            var qmp = QmpClient.ConnectAsync(path, cts.Token).GetAwaiter().GetResult();
            qmp.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
        {
            log($"{flag}: nothing listens there now (qemu not running yet?); a planned failover needs it");
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.AccessDenied })
        {
            throw new ArgumentException($"{flag}: the agent may not open it: {e.InnerException.Message}");
        }
        catch (IOException e)
        {
            throw new ArgumentException($"{flag}: {e.Message}");
        }
        catch (OperationCanceledException)
        {
            log($"{flag}: qemu did not greet within {probeTimeout.TotalSeconds:0.###} s (another client holding the socket?); a planned failover needs it to answer");
        }
        return shutdown;
    }

    /// <summary><c>stat</c>'s word for what is at <paramref name="path"/> (<c>socket</c>, <c>regular file</c>…): .NET has no file type.</summary>
    static string FileType(string path, TimeSpan timeout)
    {
        var run = BoundedProcess.RunAsync("stat", ["-L", "-c", "%F", path], null, timeout, CancellationToken.None).GetAwaiter().GetResult();
        return run.ExitCode == 0 ? run.StdOut.Trim() : throw new ArgumentException($"--shutdown-qmp '{path}': stat failed: {BoundedProcess.Quote(run)}");
    }

    public async Task<HookResult> ShutDownAsync(TimeSpan timeout, CancellationToken ct)
    {
        if (!File.Exists(SocketPath))
            return new HookResult(HookOutcome.Missing, $"{Name}: no socket there (is the machine running under qemu with -qmp unix:{SocketPath},server=on?)");
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        var clock = Stopwatch.StartNew();
        var within = $"{timeout.TotalSeconds:0.###} s";
        QmpClient qmp;
        try
        {
            qmp = await QmpClient.ConnectAsync(SocketPath, limit.Token).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            return new HookResult(HookOutcome.Failed, $"{Name}: cannot connect: {e.Message} (qemu not running?)");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new HookResult(HookOutcome.TimedOut, $"{Name}: qemu did not answer over QMP within {within} (another client holding the socket?)");
        }
        await using (qmp.ConfigureAwait(false))
        {
            try
            {
                await qmp.ExecuteAsync("system_powerdown", null, limit.Token).ConfigureAwait(false);
            }
            catch (QmpException e)
            {
                return new HookResult(HookOutcome.Failed, $"{Name}: {e.Message}");
            }
            catch (IOException)
            {
                return Off(qmp, clock, "qemu closed its QMP socket as the power button was pressed");
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return new HookResult(HookOutcome.TimedOut, $"{Name}: qemu did not answer system_powerdown within {within}");
            }

            string? status = null;
            while (true)
            {
                if (ShutdownEvent(qmp) is not null) return Off(qmp, clock, "SHUTDOWN event");
                try
                {
                    var state = await qmp.ExecuteAsync("query-status", null, limit.Token).ConfigureAwait(false);
                    status = state?["status"]?.GetValue<string>();
                    // The event, when it came with this answer, says why; the status alone is what a machine already off shows.
                    if (ShutdownEvent(qmp) is not null) return Off(qmp, clock, "SHUTDOWN event");
                    if (status == "shutdown") return Off(qmp, clock, "query-status: shutdown");
                    await Task.Delay(PollInterval, limit.Token).ConfigureAwait(false);
                }
                catch (IOException)
                {
                    return Off(qmp, clock, "qemu exited: its QMP socket closed");
                }
                catch (QmpException e)
                {
                    return new HookResult(HookOutcome.Failed, $"{Name}: {e.Message}");
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    return new HookResult(HookOutcome.TimedOut, status is null
                        ? $"{Name}: qemu did not answer query-status within {within} of system_powerdown"
                        : $"{Name}: timed out: the machine is still {status} {within} after system_powerdown; the guest did not power off (does it act on the ACPI power button?)");
                }
            }
        }
    }

    /// <summary>The machine is off: the text says how that was seen and, from qemu's event, why it stopped.</summary>
    static HookResult Off(QmpClient qmp, Stopwatch clock, string how)
    {
        var reason = ShutdownEvent(qmp)?["data"]?["reason"]?.GetValue<string>();
        return new HookResult(HookOutcome.Ok, $"powered off {clock.ElapsedMilliseconds} ms after system_powerdown ({how}{(reason is null ? "" : $"; qemu's reason: {reason}")})");
    }

    static System.Text.Json.Nodes.JsonObject? ShutdownEvent(QmpClient qmp) =>
        qmp.Events.LastOrDefault(e => e["event"]?.GetValue<string>() == "SHUTDOWN");
}
