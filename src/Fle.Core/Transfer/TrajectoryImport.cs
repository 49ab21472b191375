using System.Data;
using System.Data.Common;
using Dapper;
using Fle.Core.Configuration;
using Fle.Core.Storage;

namespace Fle.Core.Transfer;

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
        if (record.ParentId is { } parent)
        {
            FleIds.Validate(parent);
            if (record.ForkStepNumber is not >= 0)
                throw new FleException(FleErrorIds.ImportFileInvalid, FleErrorKind.InvalidData,
                    $"Trajectory '{record.Id}' names a parent but no fork step number; nothing of it was imported.", target: record.Id);
        }
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
    { RecommendedAction = "Skip the existing trajectory, or replace it whole." };

    /// <summary>A fork whose parent the target does not hold.</summary>
    public static FleException ParentMissing(string location, FleExportRecord rec) => new(FleErrorIds.ImportParentMissing, FleErrorKind.NotFound,
        $"Trajectory '{rec.Id}' is a fork of '{rec.ParentId}' at step {rec.ForkStepNumber}, which {location} does not hold; nothing of it was imported.", target: rec.Id)
    { RecommendedAction = "Import its ancestors first (an export of the fork brings them, before it)." };

    /// <summary>A record with a step number twice: nothing of the trajectory is imported.</summary>
    public static FleException StepTwice(string id, long stepNumber, Exception inner) => new(FleErrorIds.ImportFileInvalid, FleErrorKind.InvalidData,
        $"Trajectory '{id}' has step {stepNumber} twice; nothing of it was imported.", inner, id);

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

    /// <summary>
    /// The keyframe the target already holds that the record's states may start from (a fork's inherited keyframe, or
    /// the trajectory's own before an append), read when the first state is encoded; null: the import makes its own.
    /// </summary>
    public Func<(long Id, byte[] Stored)?>? StoredKeyframe { get; set; }

    /// <summary>Reads a dictionary row of the target (a keyframe stored against a root keyframe needs its root).</summary>
    public Func<long, byte[]?>? LoadStoredDictionary { get; set; }
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
    public async Task<bool> FinishAsync(StorageProvider provider, DbConnection conn, DbTransaction tx, CancellationToken ct)
    {
        if (Finish is null) return true;
        if (Finish() is not { } record) return false;
        await conn.ExecuteAsync(new CommandDefinition(provider.Dialect.Text.UpdateRecord, new
        {
            status = FleStore.StatusText(record.Status), end = provider.TimeParameter(FleClock.Truncate(record.EndTime)),
            metadata = FleJson.NormalizeObject(record.MetadataJson), id = Record.Id,
        }, tx, cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
        return true;
    }

    public void Counted(long? stateBytes)
    {
        Steps++;
        if (stateBytes is { } n) { States++; Bytes += n; }
        if (Steps % 100 == 0)
            Progress?.Report(new FleProgress("Import", $"trajectory {Record.Id}: {Steps} steps", -1, Record.Id));
    }

    /// <summary>
    /// The record's trajectory exists in the target: false to skip it (Skip), FleImportConflict (Error), or (Overwrite) it
    /// is deleted with its steps, states and keyframes in the import's transaction (their ids noted for the caches) and true.
    /// </summary>
    public async Task<bool> MakeRoomAsync(StorageProvider target, DbConnection conn, DbTransaction tx, CancellationToken ct)
    {
        switch (OnConflict)
        {
            case FleConflictAction.Skip:
                return false;
            case FleConflictAction.Error:
                throw Conflict(target.Location, Record.Id);
        }
        var id = new { id = Record.Id };
        if (await conn.ExecuteScalarAsync<string?>(new CommandDefinition("SELECT id FROM trajectories WHERE parent_id = @id ORDER BY id LIMIT 1", id, tx,
                commandType: System.Data.CommandType.Text, cancellationToken: ct)).ConfigureAwait(false) is { } child)
            throw FleStore.HasForks(Record.Id, $"'{child}' reads steps through it, so it cannot be replaced; nothing of it was imported");
        ReplacedDictionaries.AddRange(await conn.QueryAsync<long>(new CommandDefinition("SELECT id FROM state_dictionaries WHERE trajectory_id = @id", id, tx,
            commandType: System.Data.CommandType.Text, cancellationToken: ct)).ConfigureAwait(false));
        await conn.ExecuteAsync(new CommandDefinition("DELETE FROM trajectories WHERE id = @id", id, tx, commandType: System.Data.CommandType.Text, cancellationToken: ct))
            .ConfigureAwait(false);
        return true;
    }

    /// <summary>Nothing of the record was written (it exists and is skipped, or nothing of it could be imported).</summary>
    public FleImportItemResult Skipped() => new(Record.Id, FleImportOutcome.Skipped, 0, 0, 0);

    public FleImportItemResult Result(bool replaced) => new(Record.Id, replaced ? FleImportOutcome.Replaced : FleImportOutcome.Imported, Steps, States, Bytes);

    public void Dispose() => Codec.Dispose();
}
