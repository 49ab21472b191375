namespace Fle.Core.Codec;

/// <summary>
/// When to start a new keyframe. A delta is a state compressed against its keyframe, so once part of the state
/// changed (FLE's entity list is a base64 zlib blob: any change rewrites all of it), every later delta pays for that
/// part again until the next keyframe. A new keyframe costs about what it differs from the trajectory's root
/// keyframe (its dictionary row is compressed against the root), so starting one as soon as a delta costs more
/// than <see cref="Factor"/> of the last keyframe pays for the change once instead of on every later step.
/// Chosen with bench/ (codec study: "rooted, greedy 0.5" against fixed intervals and a renewal rule).
/// Not thread-safe (one per trajectory writer, used under its lock).
/// </summary>
internal sealed class KeyframePolicy
{
    /// <summary>Start a new keyframe when a delta exceeds this fraction of the last keyframe's stored size.</summary>
    public const double Factor = 0.5;

    private long _keyframeCost;

    /// <summary>A new segment starts with a keyframe that cost <paramref name="keyframeCost"/> bytes.</summary>
    public void Reset(long keyframeCost) => _keyframeCost = Math.Max(1, keyframeCost);

    /// <summary>
    /// Would a new keyframe be cheaper, from here on, than this delta and the ones like it that follow? Also when the
    /// keyframe barely helps (the delta is over a quarter of the raw state: the state is unlike its keyframe).
    /// </summary>
    public bool ShouldRestart(int delta, int rawSize) => delta > 256 && (delta > Factor * _keyframeCost || delta > rawSize / 4);
}
