using System.Data.Common;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Fle.Core.Storage;
using Fle.Core.Transfer;

namespace Fle.Core.Import;

/// <summary>What a trajectory of an earlier import holds: which rows (by program id) at which step numbers.</summary>
internal sealed class ExistingSteps
{
    public static readonly ExistingSteps None = new([]);

    public ExistingSteps(List<ImportedStep> steps)
    {
        foreach (var s in steps)
        {
            Taken[s.StepNumber] = s.ProgramId;
            if (s.ProgramId is { } p)
            {
                Programs[p] = s;
                if (LastImported is not { } last || s.StepNumber > last.StepNumber) LastImported = s;
            }
            else HasOtherSteps = true;
        }
    }

    /// <summary>The imported rows by program id.</summary>
    public Dictionary<long, ImportedStep> Programs { get; } = [];

    /// <summary>Every step number taken, with the program id of its row (null: a step added in Fle).</summary>
    public Dictionary<long, long?> Taken { get; } = [];

    /// <summary>Steps were added in Fle after the import (Resume-FleTrajectory, Save-FleCheckpoint).</summary>
    public bool HasOtherSteps { get; }

    /// <summary>The imported step with the highest number.</summary>
    public ImportedStep? LastImported { get; }
}

/// <summary>
/// The rows of one trajectory that are to be imported, read from the source in created_at, id order (a query per 128 ids, one row in
/// memory at a time), each mapped to a step and checked exactly as the write path checks it
/// (<see cref="TrajectoryImport.CheckStep"/>); a row that fails is skipped and reported, never the trajectory. The same
/// enumeration feeds the bulk import (on its reading thread) and -WhatIf (which only counts), so both count alike.
/// Enumerating again (the bulk import retries after a transient failure) starts the counts over and does not report
/// skipped rows twice.
/// </summary>
internal sealed class ProgramRunRows(ProgramImport import, string taskId, IReadOnlyList<PlannedRow> rows, IReadOnlyDictionary<long, string> conflicts, string trajectoryId)
{
    private const int Chunk = 128;

    /// <summary>Steps read ahead of the bulk import's reading thread.</summary>
    private const int ReadAhead = 64;
    private int _pass;

    public long Steps { get; private set; }
    public long Checkpoints { get; private set; }
    public long Bytes { get; private set; }

    /// <summary>The row with the highest step number among those read as steps.</summary>
    public ImportedStep? Last { get; private set; }

    /// <summary>Ids of the rows read as steps (in order).</summary>
    public List<long> Read { get; } = [];

    /// <summary>
    /// <see cref="ReadAsync"/> on a thread of its own, a bounded queue ahead of the caller: for the bulk import, whose
    /// reading thread encodes each state while the next rows are read and checked here.
    /// </summary>
    public async IAsyncEnumerable<FleExportStep> ReadAheadAsync([EnumeratorCancellation] CancellationToken ct)
    {
        var queue = Channel.CreateBounded<FleExportStep>(new BoundedChannelOptions(ReadAhead) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        ExceptionDispatchInfo? failure = null;
        var reader = Task.Run(async () =>
        {
            try
            {
                await foreach (var s in ReadAsync(stop.Token).ConfigureAwait(false)) await queue.Writer.WriteAsync(s, stop.Token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // Thrown to the caller after the queue; a failure of FLE's database is named as such (not as one of the
                // target's, which the bulk import would take it for).
                failure = ExceptionDispatchInfo.Capture(ProgramTableSource.IsReadFailure(e) ? import.Source.Translate(e) : e);
            }
            finally
            {
                queue.Writer.TryComplete();
            }
        }, CancellationToken.None);
        try
        {
            await foreach (var s in queue.Reader.ReadAllAsync(ct).ConfigureAwait(false)) yield return s;
            await reader.ConfigureAwait(false);
            failure?.Throw();
        }
        finally
        {
            stop.Cancel(); // the caller stopped early, or failed: stop reading
            await reader.ConfigureAwait(false);
        }
    }

    public async IAsyncEnumerable<FleExportStep> ReadAsync([EnumeratorCancellation] CancellationToken ct)
    {
        var first = ++_pass == 1;
        Steps = Checkpoints = Bytes = 0;
        Last = null;
        Read.Clear();
        for (var i = 0; i < rows.Count; i += Chunk)
        {
            var chunk = rows.Skip(i).Take(Chunk).ToList();
            var numbers = chunk.ToDictionary(r => r.Id, r => r.Step);
            await using var r = await import.Source.FetchAsync(chunk.Select(c => c.Id).ToList(), ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var step = Map(r, numbers, first);
                if (first)
                {
                    import.RowsDone(1);
                    import.Report(trajectoryId, taskId, Steps);
                }
                if (step is not null) yield return step;
            }
        }
    }

    // One row, its columns read in order (SequentialAccess). Null when it is skipped.
    private FleExportStep? Map(DbDataReader r, Dictionary<long, long> numbers, bool report)
    {
        var id = Convert.ToInt64(r.GetValue(ProgramTableSource.Id), CultureInfo.InvariantCulture);
        var metaText = ProgramImport.NullableString(r, ProgramTableSource.Meta);
        var depth = r.GetValue(ProgramTableSource.Depth);
        var createdAt = import.Source.ReadTime(r, ProgramTableSource.CreatedAt);
        var code = r.IsDBNull(ProgramTableSource.Code) ? null : r.GetString(ProgramTableSource.Code);
        var response = r.IsDBNull(ProgramTableSource.Response) ? null : r.GetString(ProgramTableSource.Response);
        var state = import.Source.ReadState(r, ProgramTableSource.State);
        var conversation = ProgramImport.NullableString(r, ProgramTableSource.Conversation);
        var value = r.GetValue(ProgramTableSource.Value);
        var visits = r.GetValue(ProgramTableSource.Visits);
        var parentId = r.GetValue(ProgramTableSource.ParentId);
        var completionTokens = r.GetValue(ProgramTableSource.CompletionTokens);
        var promptTokens = r.GetValue(ProgramTableSource.PromptTokens);
        var totalTokens = r.GetValue(ProgramTableSource.TotalTokens);
        var holdout = r.GetValue(ProgramTableSource.HoldoutValue);
        var rawReward = r.GetValue(ProgramTableSource.RawReward);
        var model = ProgramImport.NullableString(r, ProgramTableSource.Model);
        var achievements = ProgramImport.NullableString(r, ProgramTableSource.Achievements);
        var advantage = r.GetValue(ProgramTableSource.Advantage);
        var ticks = r.GetValue(ProgramTableSource.Ticks);
        var timing = ProgramImport.NullableString(r, ProgramTableSource.TimingMetrics);

        if (!numbers.TryGetValue(id, out var number)) return null; // not asked for (cannot happen)
        FleExportStep? Skip(FleProgramSkipReason reason, string message)
        {
            if (report) import.Skip(id, reason, message, trajectoryId);
            return null;
        }
        // Rows can change between the passes (FLE's update_program): what was read now decides.
        if (!ProgramValues.TryParseMeta(metaText, out var meta, out var metaJson, out var metaError))
            return Skip(FleProgramSkipReason.InvalidMeta, metaError + "; the row's run (process_id) is unknown");
        using (meta)
        {
            if (code is null) return Skip(FleProgramSkipReason.NullCode, "code is null");
            if (createdAt is not { } at) return Skip(FleProgramSkipReason.InvalidTimestamp, "created_at is null or not a date and time");
            if (conflicts.TryGetValue(id, out var conflict)) return Skip(FleProgramSkipReason.StepConflict, conflict);
            var metadata = ProgramMetadata.Step(id, parentId, value, rawReward, holdout, advantage, visits, ticks, completionTokens, promptTokens,
                totalTokens, model, depth, metaJson, achievements, timing, conversation, report ? import.Warn : null);
            var hasState = state is { Length: > 0 };
            string checkedMetadata;
            try
            {
                checkedMetadata = TrajectoryImport.CheckStep(import.Target.Settings, trajectoryId, number, code, response ?? "", metadata,
                    hasState ? state!.LongLength : null);
            }
            catch (FleException e) when (e.Kind is FleErrorKind.InvalidArgument or FleErrorKind.InvalidData)
            {
                return Skip(FleProgramSkipReason.Rejected, $"{e.ErrorId}: {e.Message}");
            }
            var timestamp = FleClock.Truncate(at);
            Steps++;
            if (hasState)
            {
                Checkpoints++;
                Bytes += state!.LongLength;
            }
            if (Last is not { } last || number > last.StepNumber)
                Last = new ImportedStep(number, id, timestamp, meta is not null && ProgramValues.ErrorOccurred(meta.RootElement));
            Read.Add(id);
            return new FleExportStep
            {
                SourceId = id, StepNumber = number, AgentCode = code, EnvironmentFeedback = response ?? "", Timestamp = timestamp,
                MetadataJson = checkedMetadata, GameState = hasState ? state : null, StateTimestamp = hasState ? timestamp : null,
            };
        }
    }
}
