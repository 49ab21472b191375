namespace Fle.Core.Codec;

/// <summary>
/// When to start a new keyframe, and when a new keyframe becomes the trajectory's new root. One per trajectory writer;
/// it outlives the writer's keyframes (its estimates carry from one keyframe to the next). Thread-safe.
/// <para>
/// A delta is a state compressed against its keyframe, so once part of the state changed (FLE's entity list is a base64
/// zlib blob: any change rewrites all of it), every later delta pays for that part again until the next keyframe. A new
/// keyframe costs about what the state differs from the trajectory's root (its dictionary row is compressed against the
/// root). The rule weighs the two over the expected time to the next change: with the change rate estimated from the
/// deltas seen (a jump of the delta is a change), a keyframe now saves (delta - smallest delta of the segment) on each of
/// the steps until the next change, and pays for itself once, at about what the last rooted keyframe cost.
/// </para>
/// <para>
/// A rooted keyframe also pays for what the state drifted from the root (agent namespaces, inventories, research), which
/// grows over a run. The bytes rooted keyframes paid beyond their delta are added up since the root; once they reach what
/// a new root costs (a plain keyframe), the next keyframe becomes the new root (the rent-or-buy rule).
/// </para>
/// Chosen with bench/ (the codec study's keyframe policies, SQLite pages included): on the generated FLE workload it
/// stores 25–30 % fewer state bytes than the earlier rule (a keyframe when a delta exceeded half the last keyframe), at
/// entity change rates of 10 %, 35 % and 100 % of the steps. Decoding is unchanged: a state's row, its keyframe, the root.
/// </summary>
internal sealed class KeyframePolicy
{
    /// <summary>A keyframe when it is expected to cost less than this many times what it saves until the next change.</summary>
    public const double Factor = 0.7;

    /// <summary>Deltas up to this size never start a keyframe.</summary>
    public const int SmallDelta = 256;

    private readonly object _gate = new();
    private double _changeRate = 0.5;
    private int _previousDelta;
    private int _smallestDelta = int.MaxValue;
    private long _keyframeCost = 1;
    private long _lastRootedCost;
    private long _rootExcess;

    /// <summary>
    /// A keyframe of <paramref name="cost"/> stored bytes was written (or found, when a writer starts on a stored
    /// trajectory: then <paramref name="replacedDelta"/> is null). <paramref name="isRoot"/>: it is plain, the new root.
    /// </summary>
    public void Started(long cost, bool isRoot, int? replacedDelta)
    {
        lock (_gate)
        {
            cost = Math.Max(1, cost);
            if (isRoot) _rootExcess = 0;
            else
            {
                _lastRootedCost = cost;
                if (replacedDelta is { } d) _rootExcess += Math.Max(0, cost - d);
            }
            _keyframeCost = _lastRootedCost > 0 ? _lastRootedCost : cost;
            _previousDelta = 0;
            _smallestDelta = int.MaxValue;
        }
    }

    /// <summary>Is a new keyframe cheaper, over the steps to the next change, than keeping this delta of a <paramref name="rawSize"/>-byte state?</summary>
    public bool ShouldRestart(int delta, int rawSize)
    {
        lock (_gate)
        {
            var changed = delta > _previousDelta * 1.25 + 64;
            _changeRate = 0.95 * _changeRate + (changed ? 0.05 : 0);
            _previousDelta = delta;
            var smallest = Math.Min(_smallestDelta, delta);
            var stepsToNextChange = Math.Clamp(1 / Math.Max(_changeRate, 0.02), 1, 50);
            // Also when the keyframe barely helps (the delta is over a quarter of the raw state: the state is unlike it).
            var restart = delta > SmallDelta && (Factor * _keyframeCost < delta + (stepsToNextChange - 1) * (delta - smallest) || delta > rawSize / 4);
            if (!restart) _smallestDelta = smallest;
            return restart;
        }
    }

    /// <summary>
    /// Should the new keyframe be compressed against the root (<paramref name="rooted"/> bytes) rather than become a new
    /// root, which would cost about <paramref name="plainCost"/>? <paramref name="delta"/>: what the state cost against the
    /// last keyframe (null: unknown).
    /// </summary>
    public bool KeepRoot(int rooted, int? delta, long plainCost)
    {
        // rooting saves less than a tenth: the state is unlike the root
        if (rooted * 10L > 9L * plainCost) return false;
        lock (_gate) return _rootExcess + Math.Max(0, rooted - (delta ?? rooted)) <= plainCost;
    }
}
