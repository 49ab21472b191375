using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using Fle.Core.Storage;

namespace Fle.Core.Import;

/// <summary>
/// One Import-FleProgramTable: the first pass over the source (<see cref="ScanAsync"/>: the runs and the small columns of
/// their rows), the trees planned from them (<see cref="ProgramTree"/>: which trajectory, root or fork, each row goes to,
/// and its step number), placed against what earlier imports wrote (<see cref="ProgramPlacement"/>), then each trajectory
/// in turn, a fork after its parent (<see cref="ProgramTrajectoryImport"/>), and the counts of the summary. -WhatIf runs
/// all of it but the writes: the same reading, mapping and checks, so its counts are the real import's.
/// </summary>
internal sealed class ProgramImport(FleStore target, ProgramTableSource source, FleProgramImportOptions options, CancellationToken ct)
{
    private const int MaxListedSkips = 10_000;

    private readonly List<FleSkippedProgramRow> _skipped = [];
    private readonly List<string> _trajectoryIds = [];
    private int _runs, _created, _updated, _forks;
    private long _rows, _total, _processed, _steps, _checkpoints, _bytes, _already, _declined, _skippedCount;
    private bool _dry;

    public FleStore Target => target;
    public ProgramTableSource Source => source;
    public FleProgramImportOptions Options => options;
    public CancellationToken Token => ct;

    public async Task ExecuteAsync()
    {
        var (count, maxId) = await source.SurveyAsync(ct).ConfigureAwait(false);
        _total = count;
        if (count == 0) return;
        var plans = await ScanAsync(maxId).ConfigureAwait(false);
        _runs = plans.Count;
        var (chains, _) = ProgramTree.Plan(plans);
        var (works, placed, held) = ProgramPlacement.Place(chains, await EarlierAsync(plans).ConfigureAwait(false));
        AlreadyImported(held);
        foreach (var plan in plans.Where(p => p.Undated.Count > 0))
        {
            // Rows without created_at take no step (nor a place in a tree): reported with the run's first trajectory.
            var id = plan.Dated.Count > 0 ? placed[plan.FirstRowId].Work.Id : null;
            foreach (var u in plan.Undated)
            {
                Skip(u, FleProgramSkipReason.InvalidTimestamp, "created_at is null or not a date and time", id);
                RowsDone(1);
            }
        }
        foreach (var work in works)
            await new ProgramTrajectoryImport(this, work).RunAsync().ConfigureAwait(false);
        _processed = _rows;
        Report(null, null);
    }

    /// <summary>The trajectories earlier imports made of the source's runs, with what they hold.</summary>
    private async Task<List<ExistingTrajectory>> EarlierAsync(List<ProgramRunPlan> plans)
    {
        var keys = plans.Where(p => p.Dated.Count > 0).Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
        var list = new List<ExistingTrajectory>();
        if (keys.Count == 0) return list;
        foreach (var t in await target.ListProgramImportsAsync(ct).ConfigureAwait(false))
        {
            var key = KeyOf(t);
            if (!keys.Contains(key)) continue;
            list.Add(new ExistingTrajectory(t, key, new ExistingSteps(await target.ReadImportedStepsAsync(t.Id, ct).ConfigureAwait(false))));
        }
        return list;
    }

    // First pass: the small columns of every row, in version, instance, created_at, id order. A row whose meta is not a
    // JSON object has no run (its process_id is unknown): it is reported here, and it is no one's parent.
    private async Task<List<ProgramRunPlan>> ScanAsync(long maxId)
    {
        var plans = new Dictionary<string, ProgramRunPlan>(StringComparer.Ordinal);
        var order = new List<ProgramRunPlan>();
        await using var r = await source.ScanAsync(maxId, ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            // SequentialAccess: the columns in order.
            var id = Convert.ToInt64(r.GetValue(ProgramTableSource.ScanId), CultureInfo.InvariantCulture);
            var version = Plain(r.GetValue(ProgramTableSource.ScanVersion));
            var instance = Plain(r.GetValue(ProgramTableSource.ScanInstance));
            var metaText = NullableString(r, ProgramTableSource.ScanMeta);
            var depth = ProgramValues.AsDouble(r.GetValue(ProgramTableSource.ScanDepth));
            var created = source.ReadTime(r, ProgramTableSource.ScanCreatedAt);
            var description = NullableString(r, ProgramTableSource.ScanDescription);
            var model = NullableString(r, ProgramTableSource.ScanModel);
            var parentId = ProgramValues.AsWhole(Plain(r.GetValue(ProgramTableSource.ScanParentId)));
            _rows++;
            if (!ProgramValues.TryParseMeta(metaText, out var meta, out var metaJson, out var error))
            {
                Skip(id, FleProgramSkipReason.InvalidMeta, error + "; the row's run (process_id) is unknown", null);
                RowsDone(1);
            }
            else
            {
                using (meta)
                {
                    var processId = ProgramValues.ProcessId(meta);
                    var key = ProgramValues.RunKey(version, processId, instance);
                    if (!plans.TryGetValue(key, out var plan))
                    {
                        plans[key] = plan = new ProgramRunPlan(key, version, processId, instance);
                        order.Add(plan);
                    }
                    if (created is { } at) plan.AddDated(id, at, depth, parentId, description, model, metaJson);
                    else plan.AddUndated(id);
                }
            }
            if (_rows % 64 == 0 || _rows == _total)
                options.Progress?.Report(new FleProgramImportProgress { Phase = "Scanning", RowsRead = _rows, TotalRows = _total });
        }
        _total = _rows;
        return order;
    }

    /// <summary>The run key of a trajectory an earlier import created (its metadata's version, process_id and instance).</summary>
    private static string KeyOf(ProgramImportRecord t)
    {
        try
        {
            using var doc = JsonDocument.Parse(t.MetadataJson);
            object? Get(string name) => doc.RootElement.TryGetProperty(name, out var v) ? ProgramValues.Plain(v) : null;
            return ProgramValues.RunKey(Get("version"), Get("process_id"), Get("instance"));
        }
        catch (JsonException)
        {
            return "";
        }
    }

    internal static object? Plain(object? v) => v is DBNull ? null : v;

    internal static string? NullableString(DbDataReader r, int ordinal)
    {
        if (r.IsDBNull(ordinal)) return null;
        var v = r.GetValue(ordinal);
        return v as string ?? Convert.ToString(v, CultureInfo.InvariantCulture);
    }

    // ---------------------------------------------------------------------------------------------- what the runs report

    public void Skip(long id, FleProgramSkipReason reason, string message, string? trajectoryId)
    {
        var row = new FleSkippedProgramRow(id, reason, message, trajectoryId);
        _skippedCount++;
        if (_skipped.Count < MaxListedSkips) _skipped.Add(row);
        options.RowSkipped?.Invoke(row);
    }

    public void Warn(string message) => options.Warning?.Invoke(message);

    public void AlreadyImported(long rows)
    {
        _already += rows;
        RowsDone(rows);
    }

    public void Declined(long rows)
    {
        _declined += rows;
        RowsDone(rows);
    }

    public void RowsDone(long rows) => _processed += rows;

    /// <summary>A run's trajectory was written (or, with -WhatIf, would be): counted in the summary.</summary>
    public void Written(string trajectoryId, bool existed, bool fork, long steps, long checkpoints, long bytes)
    {
        if (existed) _updated++;
        else _created++;
        if (!existed && fork) _forks++;
        _trajectoryIds.Add(trajectoryId);
        _steps += steps;
        _checkpoints += checkpoints;
        _bytes += bytes;
    }

    /// <summary>Asked once per run before it is written: Import, DryRun (-WhatIf) or Decline (-Confirm said no).</summary>
    public FleImportDecision Decide(FleProgramRun run)
    {
        var decision = options.Decide?.Invoke(run) ?? FleImportDecision.Import;
        if (decision == FleImportDecision.DryRun) _dry = true;
        return decision;
    }

    /// <summary>Progress; <paramref name="runSteps"/>: steps of the run being read that are not counted yet.</summary>
    public void Report(string? trajectoryId, string? taskId, long runSteps = 0) => options.Progress?.Report(new FleProgramImportProgress
    {
        Phase = "Importing", RowsRead = _processed, TotalRows = _total, Trajectories = _created + _updated, Steps = _steps + runSteps,
        CurrentTrajectoryId = trajectoryId, CurrentTaskId = taskId,
    });

    public FleProgramImportResult Result(TimeSpan elapsed) => new()
    {
        Source = source.Description, Target = target.Location, WhatIf = _dry, Rows = _rows, Runs = _runs,
        Trajectories = _created, Forks = _forks, TrajectoriesUpdated = _updated, Steps = _steps, Checkpoints = _checkpoints, Bytes = _bytes,
        AlreadyImported = _already, DeclinedRows = _declined, SkippedRows = _skipped.ToArray(), SkippedCount = _skippedCount,
        TrajectoryIds = _trajectoryIds.ToArray(), Duration = elapsed,
    };
}
