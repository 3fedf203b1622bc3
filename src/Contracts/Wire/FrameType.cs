namespace SiteRecovery.Contracts.Wire;

/// <summary>The kinds of frame on a data-path connection (agent to process server, process server to master target).</summary>
public enum FrameType : byte
{
    /// <summary>Body is one <see cref="DataPath.DeltaCodec"/> record.</summary>
    Delta = 1,
    /// <summary>Body is a UTF-8 JSON <see cref="ControlMessage"/>.</summary>
    Control = 2,
}
