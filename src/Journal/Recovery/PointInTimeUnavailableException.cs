namespace SiteRecovery.Journal.Recovery;

/// <summary>The journal cannot produce the requested point in time (start trimmed away, or end not reached yet).</summary>
public sealed class PointInTimeUnavailableException(string message) : Exception(message);
