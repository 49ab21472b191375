namespace Fle.Core.Report;

/// <summary>
/// Downsampling for drawing, in one pass and in memory bounded by the number of buckets (not by the run's length).
/// The step range [first, last] is cut into at most <c>buckets</c> buckets of equal width (one bucket per step when the
/// run has fewer steps than buckets: then every point is kept); each bucket keeps its first, last, lowest and highest
/// point and its first failed step (M4 downsampling plus failures). Drawn in step order, those points give the same
/// envelope at the plot's resolution as every point would, and no extreme and no failed step is lost.
/// </summary>
internal sealed class SeriesSampler
{
    private readonly StepBuckets _range;
    private readonly Bucket[] _buckets;

    public SeriesSampler(long firstStep, long lastStep, int buckets)
    {
        _range = new StepBuckets(firstStep, lastStep, buckets);
        _buckets = new Bucket[_range.Count];
    }

    /// <summary>Steps per bucket (1: nothing is dropped).</summary>
    public long BucketWidth => _range.Width;

    /// <summary>Points added (each step once).</summary>
    public long Count { get; private set; }

    public void Add(long step, double value, bool failed)
    {
        if (double.IsNaN(value) || double.IsInfinity(value)) return;
        if (_range.Index(step) is not { } i) return; // a step outside the range read (the report reads a fixed range)
        Count++;
        var p = new SamplePoint(step, value, failed);
        ref var b = ref _buckets[i];
        if (!b.Has)
        {
            b = new Bucket { Has = true, First = p, Last = p, Min = p, Max = p, Failed = failed ? p : null };
            return;
        }
        b.Last = p;
        if (value < b.Min.Value) b.Min = p;
        if (value > b.Max.Value) b.Max = p;
        if (failed && b.Failed is null) b.Failed = p;
    }

    /// <summary>The points to draw, in step order, each step once.</summary>
    public IEnumerable<SamplePoint> Points()
    {
        var keep = new List<SamplePoint>(5);
        foreach (var b in _buckets)
        {
            if (!b.Has) continue;
            keep.Clear();
            keep.Add(b.First);
            keep.Add(b.Min);
            keep.Add(b.Max);
            keep.Add(b.Last);
            if (b.Failed is { } f) keep.Add(f);
            keep.Sort((x, y) => x.Step.CompareTo(y.Step));
            for (var k = 0; k < keep.Count; k++)
                if (k == 0 || keep[k].Step != keep[k - 1].Step) yield return keep[k];
        }
    }

    private struct Bucket
    {
        public bool Has;
        public SamplePoint First, Last, Min, Max;
        public SamplePoint? Failed;
    }
}

/// <summary>Failed steps per bucket of a trajectory's step range: the first one of each bucket, its reason and the bucket's count.</summary>
internal sealed class FailureSampler
{
    private readonly StepBuckets _range;
    private readonly Mark?[] _marks;

    public FailureSampler(long firstStep, long lastStep, int buckets)
    {
        _range = new StepBuckets(firstStep, lastStep, buckets);
        _marks = new Mark?[_range.Count];
    }

    public void Add(long step, string reason)
    {
        if (_range.Index(step) is not { } i) return;
        _marks[i] = _marks[i] is { } m ? m with { Count = m.Count + 1, LastStep = step } : new Mark(step, step, 1, reason);
    }

    /// <summary>One mark per bucket that has a failed step, in step order.</summary>
    public IEnumerable<Mark> Marks() => _marks.OfType<Mark>();

    /// <summary>The failed steps <paramref name="Step"/>..<paramref name="LastStep"/> of a bucket: <paramref name="Count"/> of them, the first for <paramref name="Reason"/>.</summary>
    internal sealed record Mark(long Step, long LastStep, int Count, string Reason);
}

/// <summary>The step range [first, last] cut into at most <c>buckets</c> buckets of equal width (at least one step).</summary>
internal readonly struct StepBuckets
{
    private readonly long _first;

    public StepBuckets(long firstStep, long lastStep, int buckets)
    {
        if (lastStep < firstStep) throw new ArgumentOutOfRangeException(nameof(lastStep));
        ArgumentOutOfRangeException.ThrowIfLessThan(buckets, 1);
        _first = firstStep;
        var span = lastStep - firstStep + 1;
        Width = Math.Max(1, (span + buckets - 1) / buckets);
        Count = (int)((span + Width - 1) / Width);
    }

    public long Width { get; }
    public int Count { get; }

    /// <summary>The bucket of a step, or null outside the range.</summary>
    public int? Index(long step)
    {
        var i = (step - _first) / Width;
        return step < _first || i >= Count ? null : (int)i;
    }
}
