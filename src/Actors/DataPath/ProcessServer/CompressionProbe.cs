namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// Decides whether a disk's next delta is worth compressing. After a run of deltas that did not
/// shrink (encrypted or already compressed data), compression is skipped for a while and then tried
/// again on one delta, so an incompressible stream does not burn a core for nothing while a stream
/// that becomes compressible is noticed within <see cref="SkipFor"/> deltas. Each retry that fails too doubles the
/// next wait, up to <see cref="MaxSkip"/>: a stream that stays incompressible (figure 2a's) costs one try in about a
/// thousand deltas rather than one in 65, and one that turns compressible is still noticed within 64 MiB of 64 KiB deltas.
/// </summary>
public sealed class CompressionProbe
{
    /// <summary>Consecutive incompressible deltas that switch compression off.</summary>
    public const int GiveUpAfter = 16;
    /// <summary>Deltas sent raw before the next try.</summary>
    public const int SkipFor = 64;
    /// <summary>Longest wait between tries, reached after a run of failed retries.</summary>
    public const int MaxSkip = 1024;

    int _misses;
    int _skip;
    int _nextSkip = SkipFor;
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
            if (shrank) { _misses = 0; _nextSkip = SkipFor; return; }
            if (++_misses >= GiveUpAfter)
            {
                _skip = _nextSkip;
                _nextSkip = Math.Min(2 * _nextSkip, MaxSkip);
                _misses = GiveUpAfter - 1;
            }
        }
    }
}
