namespace Fle.Core.Codec;

/// <summary>
/// When to start a new keyframe (renewal rule). A segment costs its keyframe (the dictionary row and the keyframe's
/// own row) plus one delta per later state. Its average cost per state falls while the deltas stay below it; once
/// the recent deltas (a moving average, because FLE states change in bursts) exceed that average, a new keyframe
/// lowers the long-run cost. Stable states never restart; drifting ones restart about where the cost is lowest.
/// A segment is at least <see cref="MinSegment"/> states long. Not thread-safe (one per trajectory writer, under its lock).
/// </summary>
internal sealed class KeyframePolicy
{
    /// <summary>Weight of the newest delta in the moving average.</summary>
    public const double Alpha = 1.0 / 8;

    /// <summary>Shortest segment, so a burst of changes does not cause a run of keyframes.</summary>
    public const int MinSegment = 8;

    private long _segmentBytes;
    private int _count;
    private double _recent;

    /// <summary>A new segment starts with a keyframe that cost <paramref name="keyframeCost"/> bytes.</summary>
    public void Reset(long keyframeCost)
    {
        _segmentBytes = Math.Max(1, keyframeCost);
        _count = 1;
        _recent = -1;
    }

    /// <summary>Would storing this delta cost more, in the long run, than starting a new keyframe?</summary>
    public bool ShouldRestart(int delta)
    {
        if (_count < MinSegment) return false;
        var recent = _recent < 0 ? delta : (1 - Alpha) * _recent + Alpha * delta;
        return recent > (double)_segmentBytes / _count;
    }

    /// <summary>The delta was stored.</summary>
    public void Accept(int delta)
    {
        _segmentBytes += delta;
        _count++;
        _recent = _recent < 0 ? delta : (1 - Alpha) * _recent + Alpha * delta;
    }
}
