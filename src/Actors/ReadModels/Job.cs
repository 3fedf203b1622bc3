namespace SiteRecovery.Actors.ReadModels;

public enum JobState { Running, Succeeded, Failed }

/// <summary>
/// A long operation as operators see it: what, on which target, how far, since when, and why it
/// failed. Jobs are derived from the journal (see <see cref="JobRules"/>), never stored themselves.
/// </summary>
public sealed record Job(
    string Id,
    string Kind,
    string Target,
    JobState State,
    double Progress,
    long StartedUnixMs,
    long? EndedUnixMs,
    string? Detail,
    string? Error,
    long? TotalBytes = null,
    int? TotalSteps = null);
