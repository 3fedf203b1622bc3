namespace SiteRecovery.Journal.Replicas;

/// <summary>Bounds checks shared by all backends so every one refuses the same requests with the same message.</summary>
public static class ReplicaRange
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> unless offset..offset+length lies within 0..size.</summary>
    public static void Check(string diskId, long size, long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > size || length > size - offset)
            throw new ArgumentOutOfRangeException(nameof(offset),
                $"range {offset}+{length} is outside replica '{diskId}' of {size} bytes");
    }
}
