using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.TestSupport;

/// <summary>
/// The tiny bootable test guest (a 64 MiB raw disk built from Debian packages by <c>tests/images/build-tiny-guest.sh</c>),
/// found by running its build script once per test process; the script builds the image only when its cache under
/// /var/cache/siterecovery is missing or stale, and prints the image's path as the last line of its stdout.
/// </summary>
public static class TinyGuestImage
{
    static readonly Lazy<Task<string>> Image = new(BuildAsync);

    /// <summary>The image's path. Tests write copies of it; the cached file itself must stay as built.</summary>
    public static Task<string> PathAsync() => Image.Value;

    static async Task<string> BuildAsync()
    {
        var script = Path.Combine(RepoRoot.Path, "tests", "images", "build-tiny-guest.sh");
        var run = await BoundedProcess.RunAsync("bash", [script], null, TimeSpan.FromMinutes(5), CancellationToken.None);
        if (run.ExitCode != 0)
            throw new InvalidOperationException($"{script} exited {run.ExitCode?.ToString() ?? "(killed at 5 min)"}: {BoundedProcess.Quote(run, 1000)}");
        // Progress goes to stderr; the path is stdout's last line (an absolute one, or the script's contract changed).
        var path = run.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        if (path is not null && !path.StartsWith('/')) path = null;
        if (path is null) throw new InvalidOperationException($"{script} printed no image path: {BoundedProcess.Quote(run, 1000)}");
        if (!File.Exists(path)) throw new InvalidOperationException($"{script} printed '{path}', which does not exist");
        return path;
    }
}
