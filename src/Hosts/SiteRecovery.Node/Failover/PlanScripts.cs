using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Node.Failover;

/// <summary>
/// Runs a recovery plan's script by name from the node's scripts folder. A plan names a script, it never uploads one:
/// the folder and the file must be owned by root and writable by no one else, so whoever can reach the API (which has
/// no authentication yet) cannot make the node run code of theirs. The exit code decides; the output is quoted.
/// </summary>
public sealed class PlanScripts(string directory)
{
    const UnixFileMode WritableByOthers = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    /// <summary>Why <paramref name="name"/> cannot run, or null when it can.</summary>
    public async Task<string?> RefusalAsync(string name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.IndexOfAny(['/', '\\']) >= 0 || name is "." or "..")
            return $"script '{name}' is not a file name";
        if (!Directory.Exists(directory)) return $"the scripts folder {directory} does not exist (siterecovery.failover.scripts-directory)";
        if (await TrustedAsync(new DirectoryInfo(directory)).ConfigureAwait(false) is { } dir) return $"the scripts folder {directory} {dir}";
        var path = Path.Combine(directory, name);
        var file = new FileInfo(path);
        if (!file.Exists) return $"script '{name}' is not in the scripts folder {directory}";
        if (file.LinkTarget is not null) return $"script {path} is a symbolic link; put the file itself in the folder";
        if (await TrustedAsync(file).ConfigureAwait(false) is { } why) return $"script {path} {why}";
        if (!BoundedProcess.IsExecutable(path)) return $"script {path} is not executable (chmod +x)";
        return null;
    }

    /// <summary>Runs the script (stdin closed, working directory the scripts folder, SR_JOB_ID set); its quoted output, or an exception naming how it failed.</summary>
    public async Task<string> RunAsync(string jobId, string name, TimeSpan timeout, CancellationToken ct)
    {
        if (await RefusalAsync(name).ConfigureAwait(false) is { } refusal) throw new InvalidOperationException(refusal);
        var run = await BoundedProcess.RunAsync("/usr/bin/env", [$"SR_JOB_ID={jobId}", Path.Combine(directory, name)], directory, timeout, ct).ConfigureAwait(false);
        if (run.TimedOut) throw new TimeoutException($"script {name}: no end within {timeout.TotalSeconds:0} s, killed with its process tree; {BoundedProcess.Quote(run)}");
        if (run.Cancelled) throw new OperationCanceledException($"script {name} was stopped");
        if (run.ExitCode != 0) throw new InvalidOperationException($"script {name}: exit {run.ExitCode} after {run.Elapsed.TotalSeconds:0.0} s; {BoundedProcess.Quote(run)}");
        return $"exit 0 after {run.Elapsed.TotalSeconds:0.0} s; {BoundedProcess.Quote(run)}";
    }

    /// <summary>Null when <paramref name="info"/> is owned by root and writable by no one else; otherwise what is wrong with it.</summary>
    static async Task<string?> TrustedAsync(FileSystemInfo info)
    {
        if (OperatingSystem.IsWindows()) return null;
        // .NET has no owner lookup; stat(1) from coreutils gives the owner without following a link.
        var run = await BoundedProcess.RunAsync("stat", ["-c", "%u", info.FullName], null, TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
        if (run.ExitCode != 0 || !int.TryParse(run.StdOut.Trim(), out var uid)) return $"cannot be checked ({BoundedProcess.Quote(run)})";
        if (uid != 0) return $"is owned by uid {uid}, not root";
        return (info.UnixFileMode & WritableByOthers) != 0 ? "is writable by its group or others" : null;
    }
}
