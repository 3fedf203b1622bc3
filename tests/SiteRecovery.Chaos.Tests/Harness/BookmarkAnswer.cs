namespace SiteRecovery.Chaos.Tests.Harness;

/// <summary>How a bookmark the writer asked for ended.</summary>
public enum BookmarkAnswer
{
    /// <summary>The node answered with the point: it is checked.</summary>
    Confirmed,
    /// <summary>The node did not confirm it, but the request may have reached it (a 504, a cut connection): if it became a point, it is checked too.</summary>
    Unconfirmed,
    /// <summary>The node's API refused the connection: the request never reached it.</summary>
    NeverAsked,
}
