using System.Data.Common;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Fle.Core.Transfer;

namespace Fle.Core.Storage;

/// <summary>Export and import (export_all / import_all).</summary>
public abstract partial class FleStore
{
    /// <summary>export_all(): one record per trajectory matching the query; each record's steps stream from this store.</summary>
    public async IAsyncEnumerable<FleExportRecord> ExportAsync(FleTrajectoryQuery query, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await foreach (var t in QueryTrajectoriesAsync(query, cancellationToken).ConfigureAwait(false))
            yield return ToExportRecord(t);
    }

    /// <summary>The export record of one trajectory, or null when it does not exist.</summary>
    public async Task<FleExportRecord?> ExportTrajectoryAsync(string id, CancellationToken cancellationToken = default)
    {
        var t = await GetTrajectoryAsync(id, cancellationToken).ConfigureAwait(false);
        return t is null ? null : ToExportRecord(t);
    }

    private FleExportRecord ToExportRecord(FleTrajectory t) => new(ct => ReadExportStepsAsync(t.Id, ct))
    {
        Id = t.Id, TaskId = t.TaskId, Status = t.Status, StartTime = t.StartTime, EndTime = t.EndTime,
        MetadataJson = t.MetadataJson, StepCount = t.StepCount, Source = Location,
    };

    /// <summary>The steps of a trajectory with their decoded game states, streamed (one step in memory at a time).</summary>
    public async IAsyncEnumerable<FleExportStep> ReadExportStepsAsync(string trajectoryId, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var s in GetStepsAsync(trajectoryId, FleStepRange.All, includeGameState: true, cancellationToken).ConfigureAwait(false))
        {
            var cp = s as FleCheckpoint;
            yield return new FleExportStep
            {
                SourceId = s.Id, StepNumber = s.StepNumber, AgentCode = s.AgentCode, EnvironmentFeedback = s.EnvironmentFeedback,
                Timestamp = s.Timestamp, MetadataJson = s.MetadataJson, GameState = cp?.GameState, StateTimestamp = cp?.StateTimestamp,
            };
        }
    }

    /// <summary>Write the trajectories matching the query to an export file (see <see cref="FleExportFormat"/>).</summary>
    public async Task<FleExportFileResult> ExportToFileAsync(FleTrajectoryQuery query, string path, IProgress<FleProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(query);
        var sw = Stopwatch.StartNew();
        var full = Path.GetFullPath(path);
        // The trajectory rows are small: list them first, so progress knows the total number of steps.
        var trajectories = await ListTrajectoriesAsync(query, cancellationToken).ConfigureAwait(false);
        var totalSteps = Math.Max(1, trajectories.Sum(t => t.StepCount));
        var partial = full + ".partial";
        long steps = 0, states = 0, bytes = 0, written = 0;
        try
        {
            await using (var w = FleExportWriter.Create(partial, Backend.ToString(), Location, SchemaVersion, FleExportFormat.IsGzipName(full)))
            {
                foreach (var t in trajectories)
                {
                    var rec = ToExportRecord(t);
                    w.WriteTrajectory(rec);
                    long ts = 0, tst = 0;
                    try
                    {
                        await foreach (var s in rec.GetStepsAsync(cancellationToken).ConfigureAwait(false))
                        {
                            w.WriteStep(t.Id, s);
                            ts++;
                            if (s.GameState is { } g) { tst++; bytes += g.LongLength; }
                            if (++steps % 50 == 0)
                                progress?.Report(new FleProgress("Export-FleData", $"{written} of {trajectories.Count} trajectories, {steps} steps", (int)(100 * steps / totalSteps), t.Id));
                        }
                    }
                    catch (FleException e) when (e.ErrorId == FleErrorIds.TrajectoryNotFound)
                    {
                        // Deleted while exporting: its end line records what was read.
                    }
                    w.WriteEnd(t.Id, ts, tst);
                    states += tst;
                    written++;
                    progress?.Report(new FleProgress("Export-FleData", $"{written} of {trajectories.Count} trajectories, {steps} steps", (int)(100 * steps / totalSteps), t.Id));
                }
                await w.FinishAsync(cancellationToken).ConfigureAwait(false);
            }
            File.Move(partial, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(partial); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw new FleException(FleErrorIds.ExportFailed, FleErrorKind.PermissionDenied, $"The export to '{full}' failed: {e.Message}", e, full);
        }
        catch
        {
            try { File.Delete(partial); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        return new FleExportFileResult
        {
            Path = full, Trajectories = written, Steps = steps, States = states, Bytes = bytes,
            Size = new FileInfo(full).Length, Sha256 = FleFiles.Sha256(full), Duration = sw.Elapsed, Source = Location,
        };
    }

    /// <summary>The trajectories of a query as a list; a long id list is queried in chunks (statement parameter limits).</summary>
    internal async Task<List<FleTrajectory>> ListTrajectoriesAsync(FleTrajectoryQuery query, CancellationToken ct)
    {
        if (query.Ids is not { Count: > 500 } ids) return await ToListAsync(QueryTrajectoriesAsync(query, ct)).ConfigureAwait(false);
        var all = new List<FleTrajectory>();
        foreach (var chunk in ids.Distinct(StringComparer.Ordinal).Chunk(500))
            all.AddRange(await ToListAsync(QueryTrajectoriesAsync(new FleTrajectoryQuery
            {
                Ids = chunk, TaskId = query.TaskId, Status = query.Status, After = query.After, Before = query.Before, EndedBefore = query.EndedBefore,
            }, ct)).ConfigureAwait(false));
        return all;
    }

    /// <summary>
    /// import_all(): write one trajectory, with all its steps and states, in ONE transaction. States are
    /// re-encoded with this store's codec. An interruption or a bad record rolls the whole trajectory back.
    /// </summary>
    public async Task<FleImportItemResult> ImportTrajectoryAsync(FleExportRecord record, FleConflictAction onConflict = FleConflictAction.Skip,
        IProgress<FleProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(record);
        FleIds.Validate(record.Id);
        FleIds.Validate(record.TaskId, "task id");
        var meta = FleJson.NormalizeObject(record.MetadataJson);
        var importer = new TrajectoryImport(this, record, meta, onConflict, progress);
        try
        {
            var result = await RunAsync(ct => ImportCoreAsync(importer, ct), record.Id, null, cancellationToken).ConfigureAwait(false);
            if (result.Outcome == FleImportOutcome.Replaced)
            {
                Codec.Forget(record.Id);
                Codec.ForgetDictionaries(importer.ReplacedDictionaries);
            }
            return result;
        }
        finally
        {
            importer.Dispose();
        }
    }

    /// <summary>Import every trajectory of an export file; per-trajectory failures are reported through <paramref name="onError"/> (when null they throw).</summary>
    public async Task<FleImportSummary> ImportFileAsync(string path, FleConflictAction onConflict = FleConflictAction.Skip,
        IProgress<FleProgress>? progress = null, Action<FleException>? onError = null, CancellationToken cancellationToken = default)
    {
        var sw = Stopwatch.StartNew();
        var summary = new FleImportSummary { Target = Location, Backend = Backend };
        await using var reader = FleExportReader.Open(Path.GetFullPath(path));
        var length = Math.Max(1, reader.Length);
        progress?.Report(new FleProgress("Import-FleData", $"Importing {path} into {Location}", 0));
        await foreach (var rec in reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            progress?.Report(new FleProgress("Import-FleData",
                $"{summary.Trajectories} imported, {summary.Skipped} skipped, {summary.Failed} failed", (int)Math.Min(100, 100 * reader.Position / length), rec.Id));
            try
            {
                summary.Add(await ImportTrajectoryAsync(rec, onConflict, progress is null ? null : new SyncProgress(p =>
                    progress.Report(p with { PercentComplete = (int)Math.Min(100, 100 * reader.Position / length) })), cancellationToken).ConfigureAwait(false));
            }
            catch (FleException e) when (onError is not null && e.ErrorId is FleErrorIds.ImportConflict or FleErrorIds.InvalidArgument
                or FleErrorIds.InvalidText or FleErrorIds.InvalidMetadata or FleErrorIds.StateTooLarge or FleErrorIds.StepAlreadyExists)
            {
                summary.Failed++;
                onError(e);
            }
        }
        summary.Duration = sw.Elapsed;
        return summary;
    }

    private async Task<FleImportItemResult> ImportCoreAsync(TrajectoryImport import, CancellationToken ct)
    {
        await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return this is PostgresStore pg
            ? await PostgresImport.RunAsync(pg, (Npgsql.NpgsqlConnection)conn, import, ct).ConfigureAwait(false)
            : await SqliteImport.RunAsync((SqliteStore)this, (Microsoft.Data.Sqlite.SqliteConnection)conn, import, ct).ConfigureAwait(false);
    }

    internal FleException ImportConflict(string id) => new(FleErrorIds.ImportConflict, FleErrorKind.AlreadyExists,
        $"Trajectory '{id}' already exists in {Location}; nothing of it was imported.", target: id)
    { RecommendedAction = "Use -ConflictAction Skip to keep the existing one or -ConflictAction Overwrite to replace it." };
}

/// <summary>A progress sink that reports synchronously (System.Progress posts to the thread pool and may reorder).</summary>
internal sealed class SyncProgress(Action<FleProgress> report) : IProgress<FleProgress>
{
    public void Report(FleProgress value) => report(value);
}

/// <summary>The state of one trajectory import: the record, a private codec for its states, counters.</summary>
internal sealed class TrajectoryImport : IDisposable
{
    public TrajectoryImport(FleStore store, FleExportRecord record, string meta, FleConflictAction onConflict, IProgress<FleProgress>? progress)
    {
        Store = store;
        Record = record;
        MetadataJson = meta;
        OnConflict = onConflict;
        Progress = progress;
    }

    public FleStore Store { get; }
    public FleExportRecord Record { get; }
    public string MetadataJson { get; }
    public FleConflictAction OnConflict { get; }
    public IProgress<FleProgress>? Progress { get; }

    /// <summary>A codec private to this import: keyframes it creates are known to nothing else until the transaction commits.</summary>
    public Codec.StateCodec Codec { get; } = new();
    public List<long> ReplacedDictionaries { get; } = [];
    public long Steps;
    public long States;
    public long Bytes;

    public string Status => FleStore.StatusText(Record.Status);

    /// <summary>Check a step before it is written (the same rules as Save-FleStep).</summary>
    public (string Meta, byte[]? State) Validate(FleExportStep s)
    {
        if (s.StepNumber < 0)
            throw FleException.InvalidArgument($"Step {s.StepNumber} of trajectory '{Record.Id}' has a negative step number.", Record.Id, FleErrorIds.InvalidStepNumber);
        FleText.Validate(s.AgentCode, "agent code");
        FleText.Validate(s.EnvironmentFeedback, "environment feedback");
        var meta = FleJson.NormalizeObject(s.MetadataJson, "step metadata");
        if (s.GameState is { } g && g.LongLength > Store.Settings.MaxStateBytes)
            throw new FleException(FleErrorIds.StateTooLarge, FleErrorKind.InvalidArgument,
                $"Step {s.StepNumber} of trajectory '{Record.Id}' has a game state of {g.LongLength:N0} bytes; the limit is {Store.Settings.MaxStateBytes:N0} bytes (FLE_MAX_STATE_BYTES).",
                target: Record.Id);
        return (meta, s.GameState);
    }

    public void Counted(FleExportStep s)
    {
        Steps++;
        if (s.GameState is { } g) { States++; Bytes += g.LongLength; }
        if (Steps % 100 == 0)
            Progress?.Report(new FleProgress("Import-FleData", $"trajectory {Record.Id}: {Steps} steps", -1, Record.Id));
    }

    public FleImportItemResult Result(bool replaced) => new(Record.Id, replaced ? FleImportOutcome.Replaced : FleImportOutcome.Imported, Steps, States, Bytes);

    public void Dispose() => Codec.Dispose();
}
