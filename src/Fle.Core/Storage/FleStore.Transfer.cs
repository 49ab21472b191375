using System.Data.Common;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Fle.Core.Configuration;
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
        MetadataJson = t.MetadataJson, StepCount = t.StepCount, Source = Location, StoredSource = new StoredTrajectorySource(this, t.Id),
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
    /// import_all(): write one trajectory, with all its steps and states, in ONE transaction. A record exported from a
    /// Fle store has its states copied in their stored form (keyframe dictionary rows renumbered), each checked by
    /// decoding it before it is written; other records (export files, records built in memory) are encoded with this
    /// store's codec. Reading the source, checking the copied states and writing the target run on three threads with
    /// bounded queues between them (see <see cref="ImportFeed"/>).
    /// An interruption or a bad record rolls the whole trajectory back.
    /// </summary>
    public async Task<FleImportItemResult> ImportTrajectoryAsync(FleExportRecord record, FleConflictAction onConflict = FleConflictAction.Skip,
        IProgress<FleProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        using var importer = TrajectoryImport.Create(Settings, record, onConflict, progress);
        return await ImportAsync(importer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Run a prepared import (its reading side may have started already: see <see cref="FleImportTarget"/>).</summary>
    internal async Task<FleImportItemResult> ImportAsync(TrajectoryImport importer, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        var id = importer.Record.Id;
        var result = await RunAsync(ct => ImportCoreAsync(importer, ct), id, null, cancellationToken).ConfigureAwait(false);
        if (result.Outcome == FleImportOutcome.Replaced)
        {
            Codec.Forget(id);
            Codec.ForgetDictionaries(importer.ReplacedDictionaries);
        }
        return result;
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
        await import.BeginAttemptAsync().ConfigureAwait(false); // a transient failure runs the whole import again: nothing of an earlier attempt is kept
        await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return this is PostgresStore pg
            ? await PostgresImport.RunAsync(pg, (Npgsql.NpgsqlConnection)conn, import, ct).ConfigureAwait(false)
            : await SqliteImport.RunAsync((SqliteStore)this, (Microsoft.Data.Sqlite.SqliteConnection)conn, import, ct).ConfigureAwait(false);
    }

    internal FleException ImportConflict(string id) => TrajectoryImport.Conflict(Location, id);
}

/// <summary>A progress sink that reports synchronously (System.Progress posts to the thread pool and may reorder).</summary>
internal sealed class SyncProgress(Action<FleProgress> report) : IProgress<FleProgress>
{
    public void Report(FleProgress value) => report(value);
}

/// <summary>The state of one trajectory import: the record, a private codec for its states, counters, its reading side.</summary>
internal sealed class TrajectoryImport : IDisposable
{
    private ImportFeed? _started;
    private int _attempts;

    private TrajectoryImport(FleSettings settings, FleExportRecord record, string meta, FleConflictAction onConflict, IProgress<FleProgress>? progress,
        bool append = false, Func<TrajectoryRecordUpdate?>? finish = null)
    {
        Settings = settings;
        Record = record;
        MetadataJson = meta;
        OnConflict = onConflict;
        Progress = progress;
        Append = append;
        Finish = finish;
    }

    /// <summary>Check the record's own fields and prepare its import into a database with these settings.</summary>
    public static TrajectoryImport Create(FleSettings target, FleExportRecord record, FleConflictAction onConflict, IProgress<FleProgress>? progress)
    {
        ArgumentNullException.ThrowIfNull(record);
        FleIds.Validate(record.Id);
        FleIds.Validate(record.TaskId, "task id");
        return new TrajectoryImport(target, record, FleJson.NormalizeObject(record.MetadataJson), onConflict, progress);
    }

    /// <summary>
    /// An import of one run of FLE's programs table (Import-FleProgramTable): a new trajectory (its id taken meanwhile is
    /// FleImportConflict), or with <paramref name="append"/> new steps of the existing one. Its steps come checked with
    /// <see cref="CheckStep"/> (a row that fails is skipped, not the run); <paramref name="finish"/> gives the final
    /// status, end time and metadata before the commit (null: write nothing).
    /// </summary>
    public static TrajectoryImport ForProgramRun(FleSettings target, FleExportRecord record, bool append, Func<TrajectoryRecordUpdate?> finish)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(finish);
        FleIds.Validate(record.Id);
        FleIds.Validate(record.TaskId, "task id");
        return new TrajectoryImport(target, record, FleJson.NormalizeObject(record.MetadataJson), FleConflictAction.Error, null, append, finish);
    }

    public static FleException Conflict(string location, string id) => new(FleErrorIds.ImportConflict, FleErrorKind.AlreadyExists,
        $"Trajectory '{id}' already exists in {location}; nothing of it was imported.", target: id)
    { RecommendedAction = "Use -ConflictAction Skip to keep the existing one or -ConflictAction Overwrite to replace it." };

    /// <summary>The target's settings (the state size limit).</summary>
    public FleSettings Settings { get; }
    public FleExportRecord Record { get; }
    public string MetadataJson { get; }
    public FleConflictAction OnConflict { get; }
    public IProgress<FleProgress>? Progress { get; }

    /// <summary>The trajectory exists: its record is kept (no conflict handling) and the steps are added to it.</summary>
    public bool Append { get; }

    /// <summary>
    /// Called by the writer after the last step was read, before the commit: the trajectory's final status, end time and
    /// metadata (written in the same transaction), or null to roll the import back (nothing of it could be imported).
    /// Set only for program-table runs, whose steps were checked with <see cref="CheckStep"/> before they came, and whose
    /// states are decoded back and compared before the commit (<see cref="ImportFeed"/>).
    /// </summary>
    public Func<TrajectoryRecordUpdate?>? Finish { get; }

    /// <summary>
    /// A codec private to this import (one per attempt): it encodes the states of a record without a stored form
    /// (keyframes it creates are known to nothing else until the transaction commits), or decodes the stored rows of
    /// one that has it, to check them before they are committed.
    /// </summary>
    public Codec.StateCodec Codec { get; private set; } = new();
    public List<long> ReplacedDictionaries { get; } = [];
    public long Steps;
    public long States;
    public long Bytes;

    public string Status => FleStore.StatusText(Record.Status);

    /// <summary>Start the reading side now (before the target is even open); the first attempt takes it over.</summary>
    public ImportFeed StartEarly(CancellationToken ct) => _started = ImportFeed.Start(this, ct);

    /// <summary>The reading side for the writer: the one started early (first attempt), else a new one.</summary>
    public ImportFeed TakeFeed(CancellationToken ct)
    {
        var feed = _started ?? ImportFeed.Start(this, ct);
        _started = null;
        return feed;
    }

    /// <summary>
    /// Start an attempt. A transient failure runs the whole import again: nothing of an earlier attempt is kept (a fresh
    /// codec, zero counters); the first attempt keeps what a reading side started early has done.
    /// </summary>
    public async Task BeginAttemptAsync()
    {
        if (_attempts++ == 0) return;
        if (_started is { } early)
        {
            _started = null; // an attempt failed before it took the reading side started early: stop it, it read for that attempt
            await early.DisposeAsync().ConfigureAwait(false);
        }
        Codec.Dispose();
        Codec = new Codec.StateCodec();
        ReplacedDictionaries.Clear();
        Steps = States = Bytes = 0;
    }

    /// <summary>
    /// Check a step before it is written (the same rules as Save-FleStep); returns its normalised metadata. A program-table
    /// run's steps were checked by its reader with <see cref="CheckStep"/> already (their metadata is normalised): they pass.
    /// </summary>
    public string Validate(long stepNumber, string? agentCode, string? feedback, string? metadataJson, long? stateBytes)
        => Finish is not null ? metadataJson ?? "{}" : CheckStep(Settings, Record.Id, stepNumber, agentCode, feedback, metadataJson, stateBytes);

    /// <summary>
    /// The checks every imported step passes before it is written (the same rules as Save-FleStep): a non-negative step
    /// number, text PostgreSQL can store, metadata that is a JSON object (returned normalised), a state within
    /// FLE_MAX_STATE_BYTES. Import-FleProgramTable runs it on each row, with and without -WhatIf, and skips a row it refuses.
    /// </summary>
    public static string CheckStep(FleSettings settings, string trajectoryId, long stepNumber, string? agentCode, string? feedback, string? metadataJson, long? stateBytes)
    {
        if (stepNumber < 0)
            throw FleException.InvalidArgument($"Step {stepNumber} of trajectory '{trajectoryId}' has a negative step number.", trajectoryId, FleErrorIds.InvalidStepNumber);
        FleText.Validate(agentCode, "agent code");
        FleText.Validate(feedback, "environment feedback");
        var meta = FleJson.NormalizeObject(metadataJson, "step metadata");
        if (stateBytes is { } n && n > settings.MaxStateBytes)
            throw new FleException(FleErrorIds.StateTooLarge, FleErrorKind.InvalidArgument,
                $"Step {stepNumber} of trajectory '{trajectoryId}' has a game state of {n:N0} bytes; the limit is {settings.MaxStateBytes:N0} bytes (FLE_MAX_STATE_BYTES).",
                target: trajectoryId);
        return meta;
    }

    /// <summary>
    /// Before the commit: write the record <see cref="Finish"/> gives (in the import's transaction). False when it gives
    /// none: the caller rolls back and writes nothing.
    /// </summary>
    public async Task<bool> FinishAsync(FleStore store, System.Data.Common.DbConnection conn, System.Data.Common.DbTransaction tx, CancellationToken ct)
    {
        if (Finish is null) return true;
        if (Finish() is not { } record) return false;
        await using var update = FleStore.Command(conn, store.UpdateRecordSql, tx);
        store.AddRecordParameters(update, Record.Id, record with { MetadataJson = FleJson.NormalizeObject(record.MetadataJson) });
        await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        return true;
    }

    public void Counted(long? stateBytes)
    {
        Steps++;
        if (stateBytes is { } n) { States++; Bytes += n; }
        if (Steps % 100 == 0)
            Progress?.Report(new FleProgress("Import-FleData", $"trajectory {Record.Id}: {Steps} steps", -1, Record.Id));
    }

    public FleImportItemResult Result(bool replaced) => new(Record.Id, replaced ? FleImportOutcome.Replaced : FleImportOutcome.Imported, Steps, States, Bytes);

    public void Dispose() => Codec.Dispose();
}
