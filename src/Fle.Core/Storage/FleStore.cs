using System.Data;
using System.Data.Common;
using System.Runtime.CompilerServices;
using Fle.Core.Codec;
using Fle.Core.Configuration;

namespace Fle.Core.Storage;

/// <summary>
/// The storage engine: the same API on SQLite and PostgreSQL. Thread-safe: one instance can be shared by
/// several runspaces or threads. Every statement is parameterised.
/// </summary>
public abstract partial class FleStore : IAsyncDisposable, IDisposable
{
    private bool _disposed;

    protected FleStore(FleSettings settings)
    {
        Settings = settings;
        Codec.RootCandidates = LoadRootCandidates;
    }

    /// <summary>Open (and create or upgrade the schema of) the database the settings name.</summary>
    public static async Task<FleStore> OpenAsync(FleSettings settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        FleStore store = settings.Backend == FleBackend.Sqlite ? new SqliteStore(settings) : new PostgresStore(settings);
        try
        {
            await store.InitializeAsync(cancellationToken).ConfigureAwait(false);
            return store;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Resolve settings from the sources (parameters &gt; environment &gt; .env) and open.</summary>
    public static Task<FleStore> OpenAsync(FleSettingsOverrides? overrides = null, CancellationToken cancellationToken = default)
        => OpenAsync(FleSettingsResolver.Resolve(overrides), cancellationToken);

    public FleSettings Settings { get; }
    public FleBackend Backend => Settings.Backend;

    /// <summary>File path or user@host:port/database; never a password.</summary>
    public string Location => Settings.Describe();

    /// <summary>Schema version of the open database.</summary>
    public int SchemaVersion { get; protected set; }

    internal StateCodec Codec { get; } = new();

    public override string ToString() => $"{Backend} {Location}";

    // ------------------------------------------------------------------ backend hooks

    protected abstract Task InitializeAsync(CancellationToken ct);
    protected internal abstract Task<DbConnection> OpenConnectionAsync(CancellationToken ct);
    protected internal abstract DbConnection OpenConnection();

    /// <summary>Translate a provider exception into a FleException, or null to let it through.</summary>
    protected internal abstract FleException? Translate(Exception e, string? trajectoryId = null, long? stepNumber = null);

    /// <summary>Write one step (and its state) atomically. Returns the step id and the id of a new dictionary row.</summary>
    private protected abstract Task<(long StepId, long StateId, long? NewDictionaryId)> WriteStepAsync(FleStepInput input, string metadataJson, DateTime timestamp, EncodedState? state, CancellationToken ct);

    internal abstract SqlText Sql { get; }
    protected internal abstract object TimeParameter(DateTime utc);
    protected internal abstract DateTime ReadTime(DbDataReader reader, int ordinal);
    protected internal virtual string JsonParameterSql(string name) => name;

    // ------------------------------------------------------------------ trajectories

    /// <summary>create_trajectory(task_id, metadata): a new running trajectory.</summary>
    public Task<FleTrajectory> CreateTrajectoryAsync(string taskId, IEnumerable<KeyValuePair<string, object?>>? metadata = null,
        string? id = null, CancellationToken cancellationToken = default)
        => CreateTrajectoryAsync(taskId, FleJson.Serialize(metadata), id, null, cancellationToken);

    /// <summary>Create a trajectory with metadata given as a JSON object text and an optional start time.</summary>
    public async Task<FleTrajectory> CreateTrajectoryAsync(string taskId, string? metadataJson, string? id,
        DateTime? startTime, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        FleIds.Validate(taskId, "task id");
        if (id is not null) FleIds.Validate(id);
        var meta = FleJson.NormalizeObject(metadataJson);
        var trajectoryId = id ?? FleIds.NewTrajectoryId();
        var start = startTime is { } s ? FleClock.Truncate(s) : FleClock.UtcNow();
        await RunAsync(async ct =>
        {
            await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var cmd = Command(conn, Sql.InsertTrajectory);
            Param(cmd, "@id", trajectoryId);
            Param(cmd, "@task", taskId);
            Param(cmd, "@start", TimeParameter(start));
            Param(cmd, "@meta", meta);
            try { await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false); }
            catch (Exception e) when (id is null && Translate(e, trajectoryId) is { ErrorId: FleErrorIds.TrajectoryAlreadyExists })
            {
                // The id is new and random: a row with it can only be this call's own insert, committed by an attempt
                // whose connection broke before the answer arrived (RunAsync retried it).
            }
            return 0;
        }, trajectoryId, null, cancellationToken).ConfigureAwait(false);
        return new FleTrajectory
        {
            Id = trajectoryId, TaskId = taskId, Status = FleTrajectoryStatus.Running, StartTime = start,
            MetadataJson = meta, Metadata = FleJson.ToDictionary(meta), StepCount = 0, Source = Location,
        };
    }

    /// <summary>get_trajectory(id): the trajectory, or null.</summary>
    public async Task<FleTrajectory?> GetTrajectoryAsync(string id, CancellationToken cancellationToken = default)
    {
        FleIds.Validate(id);
        await foreach (var t in QueryTrajectoriesAsync(new FleTrajectoryQuery { Ids = [id] }, cancellationToken).ConfigureAwait(false))
            return t;
        return null;
    }

    /// <summary>get_all_trajectories(): newest first.</summary>
    public Task<List<FleTrajectory>> GetAllTrajectoriesAsync(CancellationToken cancellationToken = default)
        => ToListAsync(QueryTrajectoriesAsync(new FleTrajectoryQuery(), cancellationToken));

    /// <summary>get_task_trajectories(task_id): newest first.</summary>
    public Task<List<FleTrajectory>> GetTaskTrajectoriesAsync(string taskId, CancellationToken cancellationToken = default)
        => ToListAsync(QueryTrajectoriesAsync(new FleTrajectoryQuery { TaskId = taskId }, cancellationToken));

    /// <summary>Trajectories matching a filter, newest first, streamed.</summary>
    public async IAsyncEnumerable<FleTrajectory> QueryTrajectoriesAsync(FleTrajectoryQuery query,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(query);
        if (query.Ids is { Count: 0 }) yield break;
        var ps = new List<(string, object?)>();
        var where = new List<string>();
        if (query.Ids is { } ids)
        {
            var names = new List<string>();
            for (var i = 0; i < ids.Count; i++)
            {
                names.Add($"@id{i}");
                ps.Add(($"@id{i}", ids[i]));
            }
            where.Add($"t.id IN ({string.Join(", ", names)})");
        }
        if (query.TaskId is not null) { where.Add("t.task_id = @task"); ps.Add(("@task", query.TaskId)); }
        if (query.Status is { } st) { where.Add("t.status = @status"); ps.Add(("@status", StatusText(st))); }
        if (query.After is { } a) { where.Add("t.start_time >= @after"); ps.Add(("@after", TimeParameter(FleClock.Truncate(a)))); }
        if (query.Before is { } b) { where.Add("t.start_time < @before"); ps.Add(("@before", TimeParameter(FleClock.Truncate(b)))); }
        if (query.EndedBefore is { } eb) { where.Add("t.end_time IS NOT NULL AND t.end_time < @ended"); ps.Add(("@ended", TimeParameter(FleClock.Truncate(eb)))); }
        if (!string.IsNullOrEmpty(query.IdPrefix))
        {
            where.Add(@"t.id LIKE @prefix ESCAPE '\'");
            ps.Add(("@prefix", EscapeLike(query.IdPrefix) + "%"));
        }
        var sql = Sql.SelectTrajectories + (where.Count > 0 ? " WHERE " + string.Join(" AND ", where) : "")
            + " ORDER BY t.start_time DESC, t.id DESC";
        if (query.First is { } first)
        {
            sql += " LIMIT @first";
            ps.Add(("@first", (long)Math.Max(0, first)));
        }
        var (conn, cmd, reader) = await ExecuteReaderAsync(sql, ps, CommandBehavior.Default, null, cancellationToken).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        await using (cmd.ConfigureAwait(false))
        await using (reader.ConfigureAwait(false))
        {
            while (true)
            {
                bool more;
                try { more = await reader.ReadAsync(cancellationToken).ConfigureAwait(false); }
                catch (Exception e) when (Translate(e) is { } fe) { throw fe; }
                if (!more) break;
                yield return ReadTrajectory(reader);
            }
        }
    }

    /// <summary>
    /// Open a connection and start a reader. A pooled connection that broke while idle (the server restarted) fails on
    /// its first command, before any row: that is retried on a fresh connection (bounded), so a read after a restart works.
    /// </summary>
    private async Task<(DbConnection Conn, DbCommand Cmd, DbDataReader Reader)> ExecuteReaderAsync(string sql,
        IReadOnlyList<(string Name, object? Value)> parameters, CommandBehavior behavior, string? trajectoryId, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            DbConnection? conn = null;
            DbCommand? cmd = null;
            try
            {
                conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
                cmd = Command(conn, sql);
                foreach (var (name, value) in parameters) Param(cmd, name, value);
                var reader = await cmd.ExecuteReaderAsync(behavior, ct).ConfigureAwait(false);
                return (conn, cmd, reader);
            }
            catch (Exception e) when (e is not FleException)
            {
                if (cmd is not null) await cmd.DisposeAsync().ConfigureAwait(false);
                if (conn is not null) await conn.DisposeAsync().ConfigureAwait(false);
                if (attempt < MaxReadRetries && !ct.IsCancellationRequested && IsTransient(e))
                {
                    await BeforeRetryAsync(attempt, ct).ConfigureAwait(false);
                    continue;
                }
                if (Translate(e, trajectoryId) is { } fe) throw fe;
                throw;
            }
        }
    }

    /// <summary>Task ids that begin with a prefix (for completion), at most <paramref name="limit"/>.</summary>
    public async Task<List<string>> GetTaskIdsAsync(string? prefix, int limit = 100, CancellationToken cancellationToken = default)
    {
        return await RunAsync(async ct =>
        {
            await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var cmd = Command(conn, @"SELECT DISTINCT task_id FROM trajectories WHERE task_id LIKE @p ESCAPE '\' ORDER BY task_id LIMIT @n");
            Param(cmd, "@p", EscapeLike(prefix ?? "") + "%");
            Param(cmd, "@n", (long)limit);
            var list = new List<string>();
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false)) list.Add(r.GetString(0));
            return list;
        }, null, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>trajectory_exists(id).</summary>
    public async Task<bool> TrajectoryExistsAsync(string id, CancellationToken cancellationToken = default)
    {
        FleIds.Validate(id);
        return await RunAsync(async ct =>
        {
            await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var cmd = Command(conn, "SELECT 1 FROM trajectories WHERE id = @id");
            Param(cmd, "@id", id);
            return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null;
        }, id, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>delete_trajectory(id): removes it with its steps and states. False when it did not exist.</summary>
    public async Task<bool> DeleteTrajectoryAsync(string id, CancellationToken cancellationToken = default)
    {
        FleIds.Validate(id);
        var n = await RunAsync(async ct =>
        {
            await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var cmd = Command(conn, "DELETE FROM trajectories WHERE id = @id");
            Param(cmd, "@id", id);
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, id, null, cancellationToken).ConfigureAwait(false);
        Codec.Forget(id);
        return n > 0;
    }

    /// <summary>Mark a trajectory completed or failed and set its end time.</summary>
    public Task<FleTrajectory> CompleteTrajectoryAsync(string id, FleTrajectoryStatus status = FleTrajectoryStatus.Completed,
        CancellationToken cancellationToken = default)
    {
        if (status == FleTrajectoryStatus.Running)
            throw FleException.InvalidArgument("A trajectory is completed with status Completed or Failed; use Resume to mark it running again.");
        return SetStatusAsync(id, status, FleClock.UtcNow(), cancellationToken);
    }

    /// <summary>Mark a trajectory running again (end time cleared) and return it with its latest checkpoint.</summary>
    public async Task<(FleTrajectory Trajectory, FleCheckpoint? Latest)> ResumeTrajectoryAsync(string id, CancellationToken cancellationToken = default)
    {
        var t = await SetStatusAsync(id, FleTrajectoryStatus.Running, null, cancellationToken).ConfigureAwait(false);
        var latest = await GetLatestCheckpointAsync(id, cancellationToken).ConfigureAwait(false);
        return (t, latest);
    }

    private async Task<FleTrajectory> SetStatusAsync(string id, FleTrajectoryStatus status, DateTime? end, CancellationToken cancellationToken)
    {
        FleIds.Validate(id);
        var n = await RunAsync(async ct =>
        {
            await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var cmd = Command(conn, "UPDATE trajectories SET status = @status, end_time = @end WHERE id = @id");
            Param(cmd, "@status", StatusText(status));
            Param(cmd, "@end", end is { } e ? TimeParameter(e) : DBNull.Value);
            Param(cmd, "@id", id);
            return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, id, null, cancellationToken).ConfigureAwait(false);
        if (n == 0) throw FleException.TrajectoryNotFound(id);
        return await GetTrajectoryAsync(id, cancellationToken).ConfigureAwait(false) ?? throw FleException.TrajectoryNotFound(id);
    }

    // ------------------------------------------------------------------ steps and checkpoints

    /// <summary>save_step(trajectory_id, step_data): a step without a game state (unless the input carries one).</summary>
    public async Task<FleStep> SaveStepAsync(FleStepInput input, CancellationToken cancellationToken = default)
    {
        var (step, _) = await SaveAsync(input, cancellationToken).ConfigureAwait(false);
        return step;
    }

    /// <summary>save_checkpoint(...): the step and its game state in one transaction.</summary>
    public async Task<FleCheckpoint> SaveCheckpointAsync(FleStepInput input, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.GameState is null)
            throw FleException.InvalidArgument("A checkpoint needs a game state; use SaveStep for a step without one.");
        var (_, cp) = await SaveAsync(input, cancellationToken).ConfigureAwait(false);
        return cp!;
    }

    private async Task<(FleStep Step, FleCheckpoint? Checkpoint)> SaveAsync(FleStepInput input, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(input);
        FleIds.Validate(input.TrajectoryId);
        if (input.StepNumber < 0)
            throw FleException.InvalidArgument($"Step number {input.StepNumber} is negative; step numbers start at 0.", input.StepNumber, FleErrorIds.InvalidStepNumber);
        if (input.AgentCode is null) throw FleException.InvalidArgument("The agent code is null; pass an empty string for no code.", null, FleErrorIds.InvalidText);
        if (input.EnvironmentFeedback is null) throw FleException.InvalidArgument("The environment feedback is null; pass an empty string for none.", null, FleErrorIds.InvalidText);
        FleText.Validate(input.AgentCode, "agent code");
        FleText.Validate(input.EnvironmentFeedback, "environment feedback");
        var meta = FleJson.NormalizeObject(input.MetadataJson, "step metadata");
        if (input.GameState is { } gs && gs.LongLength > Settings.MaxStateBytes)
            throw new FleException(FleErrorIds.StateTooLarge, FleErrorKind.InvalidArgument,
                $"The game state is {gs.LongLength:N0} bytes; the limit is {Settings.MaxStateBytes:N0} bytes (FLE_MAX_STATE_BYTES).",
                target: input.TrajectoryId);
        var ts = input.Timestamp is { } t ? FleClock.Truncate(t) : FleClock.UtcNow();

        for (var attempt = 0; ; attempt++)
        {
            // Compress before the write transaction: the database lock is held only for the write itself.
            EncodedState? state;
            try
            {
                state = input.GameState is { } raw ? Codec.Encode(input.TrajectoryId, raw, () => LoadLatestDictionary(input.TrajectoryId), LoadDictionaryData) : null;
            }
            catch (Exception e) when (e is not FleException && Translate(e, input.TrajectoryId, input.StepNumber) is { } fe)
            {
                throw fe; // reading the keyframe failed (the file is gone, the disk failed ...)
            }
            try
            {
                var (stepId, stateId, newDict) = await RunAsync(
                    ct => WriteStepAsync(input, meta, ts, state, ct), input.TrajectoryId, input.StepNumber, cancellationToken, retryTransient: false).ConfigureAwait(false);
                if (state is not null) Codec.Committed(input.TrajectoryId, state, newDict);
                var built = Build(input, meta, ts, stepId, stateId, state);
                return (built, built as FleCheckpoint);
            }
            catch (FleException e) when (attempt == 0 && state?.DictionaryId is not null && e.ErrorId == FleErrorIds.TrajectoryNotFound)
            {
                // The cached keyframe may belong to a deleted trajectory of the same id: forget it and try once more.
                Codec.Forget(input.TrajectoryId);
            }
            catch (RootKeyframeGoneException) when (attempt < 2)
            {
                // Same, found by the write itself (nothing was written): plan the state again from what is stored. The
                // root is also dropped from the fingerprint cache: it may be an identical root of ANOTHER trajectory
                // (FLE runs often start from the same state), which reads fine but is not this trajectory's to write against.
                StateCodec.Abandoned(state!);
                Codec.Forget(input.TrajectoryId);
                if (state!.NewDictionaryRoot is { } gone) Codec.ForgetDictionaries([gone.Id]);
            }
            catch (RootKeyframeGoneException e)
            {
                StateCodec.Abandoned(state!);
                Codec.Forget(input.TrajectoryId);
                throw new FleException(FleErrorIds.TransientFailure, FleErrorKind.ResourceBusy,
                    $"Step {input.StepNumber} of trajectory '{input.TrajectoryId}' was not saved: its stored keyframes changed under this " +
                    "writer three times in a row (is another process deleting and recreating the trajectory?). Nothing was written; save it again.",
                    e, $"{input.TrajectoryId}#{input.StepNumber}");
            }
            catch
            {
                if (state is not null) StateCodec.Abandoned(state);
                throw;
            }
        }
    }

    private FleStep Build(FleStepInput input, string meta, DateTime ts, long stepId, long stateId, EncodedState? state)
    {
        if (state is null)
        {
            return new FleStep
            {
                Id = stepId, TrajectoryId = input.TrajectoryId, StepNumber = input.StepNumber, AgentCode = input.AgentCode,
                EnvironmentFeedback = input.EnvironmentFeedback, Timestamp = ts, MetadataJson = meta, Metadata = FleJson.ToDictionary(meta),
            };
        }
        return new FleCheckpoint
        {
            Id = stepId, TrajectoryId = input.TrajectoryId, StepNumber = input.StepNumber, AgentCode = input.AgentCode,
            EnvironmentFeedback = input.EnvironmentFeedback, Timestamp = ts, MetadataJson = meta, Metadata = FleJson.ToDictionary(meta),
            HasGameState = true, GameStateSize = state.RawSize, GameState = input.GameState, StateId = stateId, StateTimestamp = ts,
            StoredSize = state.Data.Length + (state.NewDictionaryData?.Length ?? 0), Codec = state.CodecName,
        };
    }

    private (long, byte[])? LoadLatestDictionary(string trajectoryId)
    {
        using var conn = OpenConnection();
        using var cmd = Command(conn, "SELECT id, data FROM state_dictionaries WHERE trajectory_id = @t ORDER BY id DESC LIMIT 1");
        Param(cmd, "@t", trajectoryId);
        using var r = cmd.ExecuteReader();
        if (!r.Read()) return null;
        return (r.GetInt64(0), (byte[])r.GetValue(1));
    }

    /// <summary>The keyframes of a keyframe's trajectory with a given raw size (where its root keyframe is).</summary>
    private List<(long, byte[])> LoadRootCandidates(long keyframeId, int rawSize)
    {
        using var conn = OpenConnection();
        using var cmd = Command(conn, "SELECT d.id, d.data FROM state_dictionaries d WHERE d.trajectory_id = " +
            "(SELECT k.trajectory_id FROM state_dictionaries k WHERE k.id = @k) AND d.raw_size = @size AND d.id <> @k ORDER BY d.id");
        Param(cmd, "@k", keyframeId);
        Param(cmd, "@size", rawSize);
        using var r = cmd.ExecuteReader();
        var list = new List<(long, byte[])>();
        while (r.Read()) list.Add((r.GetInt64(0), (byte[])r.GetValue(1)));
        return list;
    }

    private byte[]? LoadDictionaryData(long id)
    {
        using var conn = OpenConnection();
        using var cmd = Command(conn, "SELECT data FROM state_dictionaries WHERE id = @id");
        Param(cmd, "@id", id);
        return cmd.ExecuteScalar() as byte[];
    }

    /// <summary>get_trajectory_steps(id): steps in order, streamed. Game states are read only when asked for.</summary>
    public async IAsyncEnumerable<FleStep> GetStepsAsync(string trajectoryId, FleStepRange range = default, bool includeGameState = false,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        FleIds.Validate(trajectoryId);
        await foreach (var s in StreamStepRowsAsync(includeGameState ? Sql.SelectStepsWithState : Sql.SelectSteps, trajectoryId,
            range.From ?? 0L, range.To ?? long.MaxValue, r => ReadStep(r, includeGameState), cancellationToken).ConfigureAwait(false))
            yield return s;
    }

    /// <summary>
    /// The rows of a step query (@t, @from, @to) mapped one by one as they stream (sequential access); a trajectory with
    /// no rows that does not exist is TrajectoryNotFound.
    /// </summary>
    private protected async IAsyncEnumerable<T> StreamStepRowsAsync<T>(string sql, string trajectoryId, long from, long to, Func<DbDataReader, T> map,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var any = false;
        var (conn, cmd, reader) = await ExecuteReaderAsync(sql, [("@t", trajectoryId), ("@from", from), ("@to", to)],
            CommandBehavior.SequentialAccess, trajectoryId, cancellationToken).ConfigureAwait(false);
        await using (conn.ConfigureAwait(false))
        await using (cmd.ConfigureAwait(false))
        await using (reader.ConfigureAwait(false))
        {
            while (true)
            {
                bool more;
                try { more = await reader.ReadAsync(cancellationToken).ConfigureAwait(false); }
                catch (Exception e) when (Translate(e, trajectoryId) is { } fe) { throw fe; }
                if (!more) break;
                any = true;
                yield return map(reader);
            }
        }
        if (!any && !await TrajectoryExistsAsync(trajectoryId, cancellationToken).ConfigureAwait(false))
            throw FleException.TrajectoryNotFound(trajectoryId);
    }

    /// <summary>get_trajectory_steps(id) as a list, with game states.</summary>
    public Task<List<FleStep>> GetTrajectoryStepsAsync(string trajectoryId, CancellationToken cancellationToken = default)
        => ToListAsync(GetStepsAsync(trajectoryId, default, true, cancellationToken));

    /// <summary>count_steps(id).</summary>
    public async Task<long> CountStepsAsync(string trajectoryId, CancellationToken cancellationToken = default)
    {
        FleIds.Validate(trajectoryId);
        var (exists, count) = await RunAsync(async ct =>
        {
            await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var cmd = Command(conn,
                "SELECT (SELECT 1 FROM trajectories WHERE id = @t), (SELECT COUNT(*) FROM steps WHERE trajectory_id = @t)");
            Param(cmd, "@t", trajectoryId);
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await r.ReadAsync(ct).ConfigureAwait(false);
            return (!r.IsDBNull(0), Convert.ToInt64(r.GetValue(1), System.Globalization.CultureInfo.InvariantCulture));
        }, trajectoryId, null, cancellationToken).ConfigureAwait(false);
        return exists ? count : throw FleException.TrajectoryNotFound(trajectoryId);
    }

    /// <summary>get_checkpoint(id, step): the checkpoint at a step, or null when that step has no game state.</summary>
    public Task<FleCheckpoint?> GetCheckpointAsync(string trajectoryId, long stepNumber, CancellationToken cancellationToken = default)
        => ReadCheckpointAsync(trajectoryId, stepNumber, cancellationToken);

    /// <summary>get_latest_checkpoint(id): the checkpoint with the highest step number, or null when there is none.</summary>
    public Task<FleCheckpoint?> GetLatestCheckpointAsync(string trajectoryId, CancellationToken cancellationToken = default)
        => ReadCheckpointAsync(trajectoryId, null, cancellationToken);

    private async Task<FleCheckpoint?> ReadCheckpointAsync(string trajectoryId, long? stepNumber, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        FleIds.Validate(trajectoryId);
        var cp = await RunAsync(async ct =>
        {
            await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var cmd = Command(conn, stepNumber is null ? Sql.SelectLatestCheckpoint : Sql.SelectCheckpointAt);
            Param(cmd, "@t", trajectoryId);
            if (stepNumber is { } n) Param(cmd, "@n", n);
            await using var r = await cmd.ExecuteReaderAsync(CommandBehavior.SequentialAccess, ct).ConfigureAwait(false);
            return await r.ReadAsync(ct).ConfigureAwait(false) ? (FleCheckpoint)ReadStep(r, true) : null;
        }, trajectoryId, stepNumber, cancellationToken).ConfigureAwait(false);
        if (cp is null && !await TrajectoryExistsAsync(trajectoryId, cancellationToken).ConfigureAwait(false))
            throw FleException.TrajectoryNotFound(trajectoryId);
        return cp;
    }

    // ------------------------------------------------------------------ reading rows

    private FleTrajectory ReadTrajectory(DbDataReader r)
    {
        var meta = r.GetString(5);
        return new FleTrajectory
        {
            Id = r.GetString(0), TaskId = r.GetString(1), StartTime = ReadTime(r, 2),
            EndTime = r.IsDBNull(3) ? null : ReadTime(r, 3), Status = ParseStatus(r.GetString(4)),
            MetadataJson = meta, Metadata = FleJson.ToDictionary(meta),
            StepCount = Convert.ToInt64(r.GetValue(6), System.Globalization.CultureInfo.InvariantCulture),
            LastStepNumber = r.IsDBNull(7) ? null : Convert.ToInt64(r.GetValue(7), System.Globalization.CultureInfo.InvariantCulture),
            Source = Location,
        };
    }

    // Column order of every step query: s.id, s.trajectory_id, s.step_number, s.agent_code, s.environment_feedback,
    // s.timestamp, s.metadata, g.raw_size, [g.codec, g.dictionary_id, g.state_data, g.id, g.timestamp]
    private FleStep ReadStep(DbDataReader r, bool withState)
    {
        var id = r.GetInt64(0);
        var trajectoryId = r.GetString(1);
        var stepNumber = r.GetInt64(2);
        var code = r.GetString(3);
        var feedback = r.GetString(4);
        var ts = ReadTime(r, 5);
        var meta = r.GetString(6);
        long? rawSize = r.IsDBNull(7) ? null : Convert.ToInt64(r.GetValue(7), System.Globalization.CultureInfo.InvariantCulture);
        if (!withState || rawSize is null)
        {
            return new FleStep
            {
                Id = id, TrajectoryId = trajectoryId, StepNumber = stepNumber, AgentCode = code, EnvironmentFeedback = feedback,
                Timestamp = ts, MetadataJson = meta, Metadata = FleJson.ToDictionary(meta), HasGameState = rawSize is not null, GameStateSize = rawSize,
            };
        }
        var codec = (StateCodecKind)Convert.ToInt16(r.GetValue(8), System.Globalization.CultureInfo.InvariantCulture);
        long? dictId = r.IsDBNull(9) ? null : r.GetInt64(9);
        var data = (byte[])r.GetValue(10);
        var stateId = r.GetInt64(11);
        var stateTs = ReadTime(r, 12);
        var state = Codec.Decode(codec, data, checked((int)rawSize.Value), dictId, LoadDictionaryData);
        return new FleCheckpoint
        {
            Id = id, TrajectoryId = trajectoryId, StepNumber = stepNumber, AgentCode = code, EnvironmentFeedback = feedback,
            Timestamp = ts, MetadataJson = meta, Metadata = FleJson.ToDictionary(meta), HasGameState = true, GameStateSize = rawSize,
            GameState = state, StateId = stateId, StateTimestamp = stateTs, StoredSize = data.Length, Codec = EncodedState.Name(codec),
        };
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>Apply, inside <paramref name="tx"/>, every migration newer than <paramref name="current"/> and record each.</summary>
    private protected async Task ApplyMigrationsAsync(DbConnection conn, DbTransaction tx, IEnumerable<Schema.Migration> migrations, int current, CancellationToken ct)
    {
        foreach (var m in migrations.Where(m => m.Version > current).OrderBy(m => m.Version))
        {
            foreach (var sql in m.Statements)
            {
                await using var cmd = Command(conn, sql, tx);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            await using var mark = Command(conn, "INSERT INTO fle_schema_version (version, description, applied_at) VALUES (@v, @d, @t)", tx);
            Param(mark, "@v", m.Version);
            Param(mark, "@d", m.Description);
            Param(mark, "@t", TimeParameter(FleClock.UtcNow()));
            await mark.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        SchemaVersion = Schema.CurrentVersion;
    }

    internal static string StatusText(FleTrajectoryStatus s) => s switch
    {
        FleTrajectoryStatus.Running => "running",
        FleTrajectoryStatus.Completed => "completed",
        FleTrajectoryStatus.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(s)),
    };

    internal static FleTrajectoryStatus ParseStatus(string s) => s switch
    {
        "running" => FleTrajectoryStatus.Running,
        "completed" => FleTrajectoryStatus.Completed,
        "failed" => FleTrajectoryStatus.Failed,
        _ => throw new FleException(FleErrorIds.CorruptState, FleErrorKind.InvalidData, $"Unknown trajectory status '{s}' in the database."),
    };

    internal static string EscapeLike(string s) => s.Replace(@"\", @"\\", StringComparison.Ordinal)
        .Replace("%", @"\%", StringComparison.Ordinal).Replace("_", @"\_", StringComparison.Ordinal);

    protected internal static DbCommand Command(DbConnection conn, string sql, DbTransaction? tx = null)
    {
        var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        return cmd;
    }

    protected internal static void Param(DbCommand cmd, string name, object? value)
    {
        var p = cmd.CreateParameter();
        p.ParameterName = name;
        p.Value = value ?? DBNull.Value;
        cmd.Parameters.Add(p);
    }

    /// <summary>How often a read (or an idempotent write) is run again after a transient failure.</summary>
    private const int MaxReadRetries = 3;

    /// <summary>
    /// True when an operation failed because its connection broke (PostgreSQL restarted, a pooled connection went
    /// stale): running it again on a fresh connection is safe for reads and idempotent writes.
    /// </summary>
    protected internal virtual bool IsTransient(Exception e) => false;

    /// <summary>Called before such a retry: drop dead pooled connections, back off a little.</summary>
    protected internal virtual Task BeforeRetryAsync(int attempt, CancellationToken ct) => Task.CompletedTask;

    /// <summary>
    /// Run a database operation, translating provider errors into FleExceptions. With <paramref name="retryTransient"/>
    /// (reads and idempotent writes) a transient failure is retried a few times on a fresh connection.
    /// </summary>
    protected internal async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> op, string? trajectoryId, long? stepNumber, CancellationToken ct,
        bool retryTransient = true)
    {
        ThrowIfDisposed();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await op(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not FleException && retryTransient && attempt < MaxReadRetries && !ct.IsCancellationRequested && IsTransient(e))
            {
                await BeforeRetryAsync(attempt, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not FleException && Translate(e, trajectoryId, stepNumber) is { } fe)
            {
                throw fe;
            }
        }
    }

    /// <summary>Collect an async sequence.</summary>
    public static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> source)
    {
        var list = new List<T>();
        await foreach (var x in source.ConfigureAwait(false)) list.Add(x);
        return list;
    }

    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    protected virtual ValueTask DisposeCoreAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        Codec.Dispose();
        await DisposeCoreAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}

/// <summary>The SQL that differs between backends.</summary>
internal sealed class SqlText
{
    public required string InsertTrajectory { get; init; }
    public required string SelectTrajectories { get; init; }
    public required string SelectSteps { get; init; }
    public required string SelectStepsWithState { get; init; }
    public required string SelectCheckpointAt { get; init; }
    public required string SelectLatestCheckpoint { get; init; }

    public static SqlText Build(Func<string, string> metaColumn, string jsonParam)
    {
        var stepCols = $"s.id, s.trajectory_id, s.step_number, s.agent_code, s.environment_feedback, s.timestamp, {metaColumn("s")}, g.raw_size";
        var stateCols = ", g.codec, g.dictionary_id, g.state_data, g.id, g.timestamp";
        return new SqlText
        {
            InsertTrajectory = $"INSERT INTO trajectories (id, task_id, start_time, end_time, status, metadata) VALUES (@id, @task, @start, NULL, 'running', {jsonParam.Replace("{0}", "@meta", StringComparison.Ordinal)})",
            SelectTrajectories = $"SELECT t.id, t.task_id, t.start_time, t.end_time, t.status, {metaColumn("t")}, " +
                "(SELECT COUNT(*) FROM steps c WHERE c.trajectory_id = t.id), (SELECT MAX(m.step_number) FROM steps m WHERE m.trajectory_id = t.id) FROM trajectories t",
            SelectSteps = $"SELECT {stepCols} FROM steps s LEFT JOIN game_states g ON g.step_id = s.id WHERE s.trajectory_id = @t AND s.step_number >= @from AND s.step_number <= @to ORDER BY s.step_number",
            SelectStepsWithState = $"SELECT {stepCols}{stateCols} FROM steps s LEFT JOIN game_states g ON g.step_id = s.id WHERE s.trajectory_id = @t AND s.step_number >= @from AND s.step_number <= @to ORDER BY s.step_number",
            SelectCheckpointAt = $"SELECT {stepCols}{stateCols} FROM game_states g JOIN steps s ON s.id = g.step_id WHERE g.trajectory_id = @t AND g.step_number = @n",
            SelectLatestCheckpoint = $"SELECT {stepCols}{stateCols} FROM game_states g JOIN steps s ON s.id = g.step_id WHERE g.trajectory_id = @t ORDER BY g.step_number DESC LIMIT 1",
        };
    }
}
