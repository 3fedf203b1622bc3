namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// Decides whether a disk's next delta is worth compressing. After a run of deltas that did not
/// shrink (encrypted or already compressed data), compression is skipped for a while and then tried
/// again on one delta, so an incompressible stream does not burn a core for nothing while a stream
/// that becomes compressible is noticed within <see cref="SkipFor"/> deltas.
/// </summary>
public sealed class CompressionProbe
{
    /// <summary>Consecutive incompressible deltas that switch compression off.</summary>
    public const int GiveUpAfter = 16;
    /// <summary>Deltas sent raw before the next try.</summary>
    public const int SkipFor = 64;

    int _misses;
    int _skip;
    readonly object _gate = new();

    public bool ShouldTry()
    {
        lock (_gate)
        {
            if (_skip == 0) return true;
            _skip--;
            return false;
        }
    }

    public void Report(bool shrank)
    {
        lock (_gate)
        {
            if (shrank) { _misses = 0; return; }
            if (++_misses >= GiveUpAfter) { _skip = SkipFor; _misses = GiveUpAfter - 1; }
        }
    }
}
