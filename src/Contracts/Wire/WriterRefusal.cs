namespace SiteRecovery.Contracts.Wire;

/// <summary>Why a process server refused a session's writer (see SiteRecovery.Connections.WriterBindingRules).</summary>
public enum WriterRefusal
{
    /// <summary>The hello carries no writer identity (an agent older than writer identities).</summary>
    NoIdentity,
    /// <summary>The hello's signature does not verify against the key it names, or the key is not an ECDSA P-256 key.</summary>
    BadSignature,
    /// <summary>The disk is bound to another writer; the operator releases the binding on purpose (a reinstalled machine).</summary>
    DifferentWriter,
    /// <summary>The bound writer offered an epoch not above the one it last used: a replayed or stale hello.</summary>
    StaleEpoch,
    /// <summary>A control hello whose source's disks are bound to another writer.</summary>
    ControlOfOtherWriter,
    /// <summary>A TLS-certified agent's hello signed with another key than its certificate's, or offering another machine's disk.</summary>
    NotCertified,
    /// <summary>The disk's machine is placed on another process server (the control plane's placement decision).</summary>
    NotPlacedHere,
}
