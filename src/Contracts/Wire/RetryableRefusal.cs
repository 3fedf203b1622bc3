namespace SiteRecovery.Contracts.Wire;

/// <summary>
/// A refusal that a later attempt can get past: the agent has no crash-consistent point yet (it is resending regions
/// written while its buffer was full, or a group bookmark holds its disks). Replies say so with their
/// <c>Retryable</c> flag; an agent that predates the flag only starts its error with <see cref="LegacyPrefix"/>,
/// which agents still write first, for people.
/// </summary>
public static class RetryableRefusal
{
    public const string LegacyPrefix = "not crash-consistent yet";

    /// <summary>True when a refusal can be retried: by its flag, or by the text of an older agent.</summary>
    public static bool Is(bool flag, string? error) => flag || (error?.StartsWith(LegacyPrefix, StringComparison.Ordinal) ?? false);
}
