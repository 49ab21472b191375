namespace Fle.Core.Report;

/// <summary>What goes into a report and how much of it (the limits keep a 10,000-step run's file small and quick to open).</summary>
public sealed class FleReportOptions
{
    /// <summary>The step-metadata keys to plot, in this order; null: every numeric key found (see <see cref="MetricReader"/>).</summary>
    public IReadOnlyList<string>? Metrics { get; init; }

    /// <summary>What made the page, for its footer and generator tag (the front end's name, e.g. a cmdlet's).</summary>
    public string Generator { get; init; } = "Fle";

    /// <summary>
    /// How a reader of a long run's page gets the steps it does not list: a command with {0} for the trajectory id (the
    /// front end's own, e.g. a cmdlet call); null: not said.
    /// </summary>
    public string? MoreStepsCommand { get; init; }

    /// <summary>How the caller names <see cref="Metrics"/> in a note about metrics left out (a cmdlet: its parameter).</summary>
    public string MetricsName { get; init; } = "the Metrics option";

    /// <summary>Pixel buckets per plot: a series is drawn with at most 5 points per bucket (first, last, min, max, a failed step).</summary>
    public int Buckets { get; init; } = 400;

    /// <summary>At most this many discovered metrics are plotted (alphabetically); the others are named in a note.</summary>
    public int MaxPlottedMetrics { get; init; } = 24;

    /// <summary>At most this many numeric keys are followed per trajectory while discovering (memory stays bounded).</summary>
    public int MaxTrackedMetrics { get; init; } = 64;

    /// <summary>Steps listed with their code and feedback: this many at the start of each trajectory, ...</summary>
    public int FirstSteps { get; init; } = 50;

    /// <summary>... this many at its end, ...</summary>
    public int LastSteps { get; init; } = 50;

    /// <summary>... and up to this many failed steps between them.</summary>
    public int FailedSteps { get; init; } = 50;

    /// <summary>Agent code and feedback longer than this (in characters) are cut, with their full length shown.</summary>
    public int MaxTextChars { get; init; } = 3000;

    /// <summary>Metadata JSON longer than this is cut likewise.</summary>
    public int MaxMetadataChars { get; init; } = 1500;

    /// <summary>Trajectories a report can hold: more curves than this in one plot cannot be told apart.</summary>
    public const int MaxTrajectories = 24;

    /// <summary>When the report was made (shown in it); default now.</summary>
    public DateTime? GeneratedAt { get; init; }

    /// <summary>The database the report reads (shown in it; no password).</summary>
    public string? Source { get; init; }
}

/// <summary>What Export-FleReport wrote (the cmdlet returns the file; this is for -Verbose and the engine's callers).</summary>
public sealed class FleReportResult
{
    public string Path { get; init; } = "";
    public long Bytes { get; init; }
    public int Trajectories { get; init; }
    public long Steps { get; init; }
    public long FailedSteps { get; init; }

    /// <summary>The metrics plotted.</summary>
    public IReadOnlyList<string> Metrics { get; init; } = [];

    /// <summary>Metrics asked for with -Metric that no step has a numeric value for.</summary>
    public IReadOnlyList<string> MissingMetrics { get; init; } = [];
    public TimeSpan Duration { get; init; }
    public override string ToString() => Path;
}

/// <summary>One point of a series: a step number and a value; Failed when that step failed.</summary>
internal readonly record struct SamplePoint(long Step, double Value, bool Failed);

/// <summary>Where a trajectory branched from (once branching lands): a place for the report's tree of forks. Null today.</summary>
internal sealed record ReportLineage(string ParentTrajectoryId, long ForkStepNumber);

/// <summary>A failed step: its number and why it counts as failed (see <see cref="StepFailureRule"/>).</summary>
internal sealed record FailedStep(long Step, string Reason);

/// <summary>A step listed with its code and feedback (texts already cut to the limit; the full lengths kept).</summary>
internal sealed record StepSection(long Ordinal, long Step, DateTime Timestamp, double? DurationSeconds, string? FailureReason,
    string Code, int CodeLength, string Feedback, int FeedbackLength, string Metadata, int MetadataLength, long? GameStateSize);

/// <summary>Exact numbers of one metric of one trajectory (computed from every step, not from what is drawn).</summary>
internal sealed class MetricStats
{
    public long Count { get; private set; }
    public double Min { get; private set; } = double.PositiveInfinity;
    public long MinStep { get; private set; }
    public double Max { get; private set; } = double.NegativeInfinity;
    public long MaxStep { get; private set; }
    public double First { get; private set; }
    public double Last { get; private set; }
    public long LastStep { get; private set; }
    private double _sum;

    public double Mean => Count == 0 ? double.NaN : _sum / Count;

    public void Add(long step, double value)
    {
        if (Count == 0) First = value;
        Count++;
        _sum += value;
        Last = value;
        LastStep = step;
        if (value < Min) { Min = value; MinStep = step; }
        if (value > Max) { Max = value; MaxStep = step; }
    }
}

/// <summary>A series of one trajectory: its exact statistics and its downsampled points.</summary>
internal sealed class TrajectorySeries(long firstStep, long lastStep, int buckets)
{
    public MetricStats Stats { get; } = new();
    public SeriesSampler Sampler { get; } = new(firstStep, lastStep, buckets);

    public void Add(long step, double value, bool failed)
    {
        Stats.Add(step, value);
        Sampler.Add(step, value, failed);
    }
}

/// <summary>Everything the report shows about one trajectory, gathered in one pass over its steps.</summary>
internal sealed class TrajectoryReport
{
    public required FleTrajectory Trajectory { get; init; }
    public required int Index { get; init; }
    public string? Model { get; set; }

    /// <summary>Where this trajectory forked from (null for a root): the report draws the tree.</summary>
    public ReportLineage? Lineage { get; init; }

    public long Steps { get; set; }
    public long? FirstStep { get; set; }
    public long? LastStep { get; set; }
    public DateTime? LastTimestamp { get; set; }
    public long States { get; set; }
    public long RawStateBytes { get; set; }
    public long StoredStateBytes { get; set; }
    public long FailedCount { get; set; }

    /// <summary>The first failed steps, for the list in the summary (the count above is exact).</summary>
    public List<FailedStep> FailedList { get; } = [];

    /// <summary>Failed steps per pixel bucket: the first failed step of each bucket (and how many failed in it).</summary>
    public FailureSampler? Failures { get; set; }

    public Dictionary<string, TrajectorySeries> Metrics { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Numeric keys seen once <see cref="FleReportOptions.MaxTrackedMetrics"/> was reached: named, not followed.</summary>
    public SortedSet<string> Untracked { get; } = new(StringComparer.OrdinalIgnoreCase);
    public TrajectorySeries? StepSeconds { get; set; }
    public TrajectorySeries? StateBytes { get; set; }
    public List<StepSection> Sections { get; } = [];

    public TimeSpan? Duration => (Trajectory.EndTime ?? LastTimestamp) is { } end ? end - Trajectory.StartTime : null;
}
