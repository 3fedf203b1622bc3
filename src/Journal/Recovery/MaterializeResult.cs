namespace SiteRecovery.Journal.Recovery;

/// <summary>Outcome of materializing a point-in-time image.</summary>
/// <param name="OutputPath">The finished image file.</param>
/// <param name="ThroughSequence">Last sequence applied.</param>
/// <param name="DeltaCount">Deltas replayed (every kind, bookmarks included).</param>
/// <param name="BytesWritten">Payload bytes written by write deltas.</param>
/// <param name="BytesZeroed">Bytes zeroed by zero and trim deltas.</param>
/// <param name="Sha256">Lowercase hex SHA-256 of the whole image.</param>
public sealed record MaterializeResult(string OutputPath, long ThroughSequence, long DeltaCount, long BytesWritten, long BytesZeroed, string Sha256);
