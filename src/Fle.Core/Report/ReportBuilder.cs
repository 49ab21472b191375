using Fle.Core.Storage;

namespace Fle.Core.Report;

/// <summary>
/// Reads one trajectory for a report in a single pass over its steps (<see cref="FleStore.GetStepsAsync"/>, without game
/// states), keeping only bounded state: exact statistics per metric, downsampled points (<see cref="SeriesSampler"/>), the
/// failed steps per bucket, and the steps listed with their texts (<see cref="SectionPicker"/>). Memory does not grow
/// with the run's length.
/// </summary>
internal sealed class ReportBuilder(FleReportOptions options)
{
    private const int MaxFailedListed = 100;
    private const int MaxUntrackedNames = 200;
    private readonly List<string>? _wanted = options.Metrics?.Distinct(StringComparer.OrdinalIgnoreCase).ToList();

    public async Task<TrajectoryReport> ReadAsync(FleStore store, FleTrajectory t, int index, Action<long>? stepRead, CancellationToken ct)
    {
        var r = new TrajectoryReport
        {
            Trajectory = t, Index = index, Model = TextValue(t.Metadata, "model"),
            Lineage = t.ParentId is { } parent ? new ReportLineage(parent, t.ForkStepNumber ?? 0) : null,
        };
        var size = await store.GetTrajectorySizeAsync(t.Id, ct).ConfigureAwait(false);
        (r.States, r.RawStateBytes, r.StoredStateBytes) = (size.States, size.RawStateBytes, size.StoredStateBytes);
        if (t.LastStepNumber is not { } last) return r;

        var picker = new SectionPicker(options);
        DateTime? previous = t.StartTime;
        // A fixed range: steps a running agent saves while the report is made are left for the next report.
        await foreach (var s in store.GetStepsAsync(t.Id, new FleStepRange(null, last), includeGameState: false, ct).ConfigureAwait(false))
        {
            if (r.FirstStep is null)
            {
                r.FirstStep = s.StepNumber;
                r.Failures = new FailureSampler(s.StepNumber, last, options.Buckets);
                r.StepSeconds = new TrajectorySeries(s.StepNumber, last, options.Buckets);
                r.StateBytes = new TrajectorySeries(s.StepNumber, last, options.Buckets);
            }
            r.LastStep = s.StepNumber;
            r.LastTimestamp = s.Timestamp;
            r.Model ??= TextValue(s.Metadata, "model");
            var reason = StepFailureRule.Reason(s.Metadata, s.EnvironmentFeedback);
            var failed = reason is not null;
            if (failed)
            {
                r.FailedCount++;
                if (r.FailedList.Count < MaxFailedListed) r.FailedList.Add(new FailedStep(s.StepNumber, reason!));
                r.Failures!.Add(s.StepNumber, reason!);
            }
            double? seconds = previous is { } p && s.Timestamp >= p ? (s.Timestamp - p).TotalSeconds : null;
            if (seconds is { } sec) r.StepSeconds!.Add(s.StepNumber, sec, failed);
            previous = s.Timestamp;
            if (s.GameStateSize is { } g) r.StateBytes!.Add(s.StepNumber, g, failed);
            AddMetrics(r, s, last, failed);
            picker.Offer(r.Steps, s, seconds, reason);
            r.Steps++;
            stepRead?.Invoke(r.Steps);
        }
        r.Sections.AddRange(picker.Picked());
        return r;
    }

    private void AddMetrics(TrajectoryReport r, FleStep s, long last, bool failed)
    {
        if (_wanted is { } wanted)
        {
            foreach (var key in wanted)
                if (MetricReader.Read(s.Metadata, key) is { } v) Series(r, key, last).Add(s.StepNumber, v, failed);
            return;
        }
        foreach (var (key, v) in MetricReader.Numbers(s.Metadata))
        {
            if (r.Metrics.TryGetValue(key, out var series)) series.Add(s.StepNumber, v, failed);
            else if (r.Metrics.Count < options.MaxTrackedMetrics) Series(r, key, last).Add(s.StepNumber, v, failed);
            else if (r.Untracked.Count < MaxUntrackedNames) r.Untracked.Add(key);
        }
    }

    private TrajectorySeries Series(TrajectoryReport r, string key, long last)
    {
        if (!r.Metrics.TryGetValue(key, out var series))
            r.Metrics[key] = series = new TrajectorySeries(r.FirstStep!.Value, last, options.Buckets);
        return series;
    }

    private static string? TextValue(IDictionary<string, object?> metadata, string key)
        => metadata.TryGetValue(key, out var v) && v is string s && s.Length > 0 ? s : null;
}

/// <summary>
/// Which steps a report lists with their code and feedback: the first <see cref="FleReportOptions.FirstSteps"/>, the last
/// <see cref="FleReportOptions.LastSteps"/>, and up to <see cref="FleReportOptions.FailedSteps"/> failed steps between them,
/// chosen in one pass (the last ones in a ring) with their texts cut to the limits.
/// </summary>
internal sealed class SectionPicker(FleReportOptions options)
{
    private readonly List<StepSection> _first = [];
    private readonly List<StepSection> _failed = [];
    private readonly Queue<StepSection> _last = new();

    public void Offer(long ordinal, FleStep s, double? seconds, string? reason)
    {
        if (_first.Count < options.FirstSteps) { _first.Add(Make(ordinal, s, seconds, reason)); return; }
        if (options.LastSteps == 0)
        {
            if (reason is not null && _failed.Count < options.FailedSteps) _failed.Add(Make(ordinal, s, seconds, reason));
            return;
        }
        _last.Enqueue(Make(ordinal, s, seconds, reason));
        if (_last.Count <= options.LastSteps) return;
        var old = _last.Dequeue();
        if (old.FailureReason is not null && _failed.Count < options.FailedSteps) _failed.Add(old);
    }

    /// <summary>The listed steps in step order.</summary>
    public IEnumerable<StepSection> Picked() => _first.Concat(_failed).Concat(_last);

    private StepSection Make(long ordinal, FleStep s, double? seconds, string? reason) => new(
        ordinal, s.StepNumber, s.Timestamp, seconds, reason,
        Html.Cut(s.AgentCode, options.MaxTextChars), s.AgentCode.Length,
        Html.Cut(s.EnvironmentFeedback, options.MaxTextChars), s.EnvironmentFeedback.Length,
        Html.Cut(s.MetadataJson, options.MaxMetadataChars), s.MetadataJson.Length, s.GameStateSize);
}
