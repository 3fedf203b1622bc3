namespace SiteRecovery.Capture.Nbd;

/// <summary>Outcome of checking a request against an export (see <see cref="NbdRequestValidator"/>).</summary>
/// <param name="Error">Error to reply with; <see cref="NbdError.None"/> when the request may be executed.</param>
/// <param name="ConsumePayload">True when a WRITE payload must be read and discarded to keep the stream in sync.</param>
/// <param name="Disconnect">True when the connection must be closed after replying.</param>
/// <param name="Reason">Human readable reason, empty on success.</param>
public readonly record struct NbdValidation(NbdError Error, bool ConsumePayload, bool Disconnect, string Reason)
{
    /// <summary>The request is valid.</summary>
    public static NbdValidation Ok { get; } = new(NbdError.None, false, false, "");

    /// <summary>True when the request may be executed.</summary>
    public bool IsOk => Error == NbdError.None;
}
