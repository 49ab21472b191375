using System.Data;
using System.Data.Common;
using System.Runtime.CompilerServices;
using Dapper;
using Fle.Core.Codec;

namespace Fle.Core.Storage;

/// <summary>Steps and checkpoints: save_step, save_checkpoint, get_trajectory_steps, count_steps, get_checkpoint, get_latest_checkpoint.</summary>
public sealed partial class FleStore
{
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
        await CheckNotInheritedAsync(input.TrajectoryId, input.StepNumber, cancellationToken).ConfigureAwait(false);

        for (var attempt = 0; ; attempt++)
        {
            // Compress before the write transaction: the database lock is held only for the write itself.
            EncodedState? state;
            try
            {
                state = input.GameState is { } raw ? Codec.Encode(input.TrajectoryId, raw, () => LoadLatestDictionary(input.TrajectoryId), LoadDictionaryData) : null;
            }
            catch (Exception e) when (e is not FleException && Provider.Translate(e, input.TrajectoryId, input.StepNumber) is { } fe)
            {
                throw fe; // reading the keyframe failed (the file is gone, the disk failed ...)
            }
            try
            {
                var (stepId, stateId, newDict) = await RunAsync(
                    ct => Provider.WriteStepAsync(input, meta, ts, state, ct), input.TrajectoryId, input.StepNumber, cancellationToken, retryTransient: false).ConfigureAwait(false);
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

    // The codec's loaders: a keyframe is read when a writer or reader of this store meets it first (then it is cached).

    private (long, byte[])? LoadLatestDictionary(string trajectoryId)
    {
        using var conn = Provider.OpenConnection();
        var own = conn.QueryFirstOrDefault<(long, byte[])?>("SELECT id, data FROM state_dictionaries WHERE trajectory_id = @t ORDER BY id DESC LIMIT 1",
            new { t = trajectoryId });
        if (own is not null || !_lineage.TryGetValue(trajectoryId, out var chain) || chain[^1].ParentId is null) return own;
        // A fork without a keyframe of its own yet: the keyframe of the last state it inherits (its siblings start from the
        // same state, so their first steps are small deltas against it).
        return LatestKeyframeOf(conn, Sources(chain).Where(src => src.TrajectoryId != trajectoryId));
    }

    /// <summary>The keyframe of the last state of a view's sources that has one (by step number), or null.</summary>
    private static (long, byte[])? LatestKeyframeOf(System.Data.Common.DbConnection conn, IEnumerable<StepSource> sources)
    {
        foreach (var src in sources.Reverse())
        {
            var found = conn.QueryFirstOrDefault<(long, byte[])?>("SELECT d.id, d.data FROM game_states g JOIN state_dictionaries d ON d.id = g.dictionary_id " +
                "WHERE g.trajectory_id = @t AND g.step_number >= @from AND g.step_number <= @to ORDER BY g.step_number DESC LIMIT 1",
                new { t = src.TrajectoryId, from = src.From, to = src.To });
            if (found is not null) return found;
        }
        return null;
    }

    /// <summary>
    /// What an import of a fork (or an append to a trajectory) starts its states from: the keyframe of the last state the
    /// fork inherits (its parent's view up to the fork step), or the trajectory's own latest keyframe; committed rows, read
    /// on a connection of their own when the first state is encoded.
    /// </summary>
    internal async Task StartFromStoredKeyframeAsync(Transfer.TrajectoryImport import, bool append, CancellationToken ct)
    {
        var rec = import.Record;
        if (append)
            import.StoredKeyframe = () => LoadLatestDictionary(rec.Id); // as a live save starts (a fork's own, else the one it inherits)
        else if (rec.ParentId is { } parent && rec.ForkStepNumber is { } fork && await GetLineageAsync(parent, ct).ConfigureAwait(false) is { } chain)
        {
            var view = Sources(chain).Where(src => src.From <= fork).Select(src => src with { To = Math.Min(src.To, fork) }).ToList();
            import.StoredKeyframe = () => { using var c = Provider.OpenConnection(); return LatestKeyframeOf(c, view); };
        }
        else return;
        import.LoadStoredDictionary = LoadDictionaryData;
    }

    /// <summary>The keyframes with a given raw size of a keyframe's trajectory and its ancestors (where its root keyframe is).</summary>
    private List<(long, byte[])> LoadRootCandidates(long keyframeId, int rawSize)
    {
        using var conn = Provider.OpenConnection();
        return conn.Query<(long, byte[])>(
            "WITH RECURSIVE chain(id, parent_id, depth) AS (SELECT t.id, t.parent_id, CAST(0 AS BIGINT) FROM trajectories t " +
            "WHERE t.id = (SELECT k.trajectory_id FROM state_dictionaries k WHERE k.id = @k) " +
            "UNION ALL SELECT t.id, t.parent_id, c.depth + 1 FROM trajectories t JOIN chain c ON t.id = c.parent_id WHERE c.depth < 100000) " +
            "SELECT d.id, d.data FROM state_dictionaries d WHERE d.trajectory_id IN (SELECT id FROM chain) AND d.raw_size = @size AND d.id <> @k ORDER BY d.id",
            new { k = keyframeId, size = rawSize }).ToList();
    }

    private byte[]? LoadDictionaryData(long id)
    {
        using var conn = Provider.OpenConnection();
        return conn.ExecuteScalar<byte[]?>("SELECT data FROM state_dictionaries WHERE id = @id", new { id });
    }

    /// <summary>
    /// get_trajectory_steps(id): steps in order, streamed; a fork's inherited steps first, read through its ancestors (each
    /// step says where it is stored: <see cref="FleStep.StoredIn"/>). Game states are read only when asked for.
    /// </summary>
    public async IAsyncEnumerable<FleStep> GetStepsAsync(string trajectoryId, FleStepRange range = default, bool includeGameState = false,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        FleIds.Validate(trajectoryId);
        var sql = includeGameState ? Sql.SelectStepsWithState : Sql.SelectSteps;
        foreach (var src in Sources(await RequireLineageAsync(trajectoryId, cancellationToken).ConfigureAwait(false)))
        {
            var from = Math.Max(range.From ?? 0L, src.From);
            var to = Math.Min(range.To ?? long.MaxValue, src.To);
            if (from > to) continue;
            await foreach (var s in StreamAsync(sql, [("@t", src.TrajectoryId), ("@from", from), ("@to", to)], CommandBehavior.SequentialAccess,
                trajectoryId, r => ReadStep(r, includeGameState, trajectoryId), cancellationToken).ConfigureAwait(false))
                yield return s;
        }
    }

    /// <summary>
    /// The rows of a step query (@t, @from, @to) mapped one by one as they stream (sequential access); a trajectory with
    /// no rows that does not exist is TrajectoryNotFound.
    /// </summary>
    private async IAsyncEnumerable<T> StreamStepRowsAsync<T>(string sql, string trajectoryId, long from, long to, Func<DbDataReader, T> map,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var any = false;
        await foreach (var row in StreamAsync(sql, [("@t", trajectoryId), ("@from", from), ("@to", to)], CommandBehavior.SequentialAccess,
            trajectoryId, map, cancellationToken).ConfigureAwait(false))
        {
            any = true;
            yield return row;
        }
        if (!any && !await TrajectoryExistsAsync(trajectoryId, cancellationToken).ConfigureAwait(false))
            throw FleException.TrajectoryNotFound(trajectoryId);
    }

    /// <summary>get_trajectory_steps(id) as a list, with game states.</summary>
    public Task<List<FleStep>> GetTrajectoryStepsAsync(string trajectoryId, CancellationToken cancellationToken = default)
        => ToListAsync(GetStepsAsync(trajectoryId, default, true, cancellationToken));

    /// <summary>count_steps(id): a fork's inherited steps count too.</summary>
    public async Task<long> CountStepsAsync(string trajectoryId, CancellationToken cancellationToken = default)
    {
        FleIds.Validate(trajectoryId);
        var chain = await RequireLineageAsync(trajectoryId, cancellationToken).ConfigureAwait(false);
        return (await CountViewStepsAsync(Sources(chain), 0, long.MaxValue, cancellationToken).ConfigureAwait(false)).Count;
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
        if (stepNumber is { } n)
        {
            var chain = await RequireLineageAsync(trajectoryId, cancellationToken).ConfigureAwait(false);
            return SourceOf(Sources(chain), n) is { } src ? await ReadLatestAsync(trajectoryId, [src with { From = n, To = n }], cancellationToken).ConfigureAwait(false) : null;
        }
        // The latest of a fork this store knows: one query over its sources (its own steps come after what it inherits).
        if (_lineage.TryGetValue(trajectoryId, out var known) && known.Length > 1)
            return await ReadLatestAsync(trajectoryId, Sources(known), cancellationToken).ConfigureAwait(false);
        // Else the trajectory's own rows first (the resume path of every run: one query, no lineage lookup); only a
        // fork without a state of its own reads further up, over what it inherits.
        if (await ReadLatestAsync(trajectoryId, [new StepSource(trajectoryId, 0, long.MaxValue)], cancellationToken).ConfigureAwait(false) is { } own) return own;
        var inherited = Sources(await RequireLineageAsync(trajectoryId, cancellationToken).ConfigureAwait(false)).Where(x => x.TrajectoryId != trajectoryId).ToList();
        return inherited.Count == 0 ? null : await ReadLatestAsync(trajectoryId, inherited, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The checkpoint with the highest step number over <paramref name="sources"/> (each a trajectory's stored steps
    /// from..to), as a step of <paramref name="view"/>: one query, one index probe per source
    /// (<see cref="SqlText.SelectLatestCheckpointOfView"/>; a single source the plain ORDER BY ... LIMIT 1).
    /// </summary>
    private Task<FleCheckpoint?> ReadLatestAsync(string view, List<StepSource> sources, CancellationToken cancellationToken)
        => RunAsync(async ct =>
        {
            // Hand-written reader: the resume path (sequential access, one row).
            await using var conn = await Provider.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var cmd = Command(conn, sources.Count == 1 ? Sql.SelectLatestCheckpoint : Sql.SelectLatestCheckpointOfView(sources.Count));
            for (var i = 0; i < sources.Count; i++)
            {
                var suffix = sources.Count == 1 ? "" : i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                Param(cmd, "@t" + suffix, sources[i].TrajectoryId);
                Param(cmd, "@from" + suffix, sources[i].From);
                Param(cmd, "@to" + suffix, sources[i].To);
            }
            await using var r = await cmd.ExecuteReaderAsync(CommandBehavior.SequentialAccess, ct).ConfigureAwait(false);
            return await r.ReadAsync(ct).ConfigureAwait(false) ? (FleCheckpoint)ReadStep(r, true, view) : null;
        }, view, null, cancellationToken);

    // ------------------------------------------------------------------ reading rows

    // Column order of every step query: s.id, s.trajectory_id, s.step_number, s.agent_code, s.environment_feedback,
    // s.timestamp, s.metadata, g.raw_size, [g.codec, g.dictionary_id, g.state_data, g.id, g.timestamp]
    private FleStep ReadStep(DbDataReader r, bool withState, string? view = null)
    {
        var id = r.GetInt64(0);
        var trajectoryId = r.GetString(1);
        var stepNumber = r.GetInt64(2);
        var code = r.GetString(3);
        var feedback = r.GetString(4);
        var ts = Provider.ReadTime(r, 5);
        var meta = r.GetString(6);
        long? rawSize = r.IsDBNull(7) ? null : Convert.ToInt64(r.GetValue(7), System.Globalization.CultureInfo.InvariantCulture);
        if (!withState || rawSize is null)
        {
            return new FleStep
            {
                Id = id, TrajectoryId = view ?? trajectoryId, StoredIn = trajectoryId, StepNumber = stepNumber, AgentCode = code, EnvironmentFeedback = feedback,
                Timestamp = ts, MetadataJson = meta, Metadata = FleJson.ToDictionary(meta), HasGameState = rawSize is not null, GameStateSize = rawSize,
            };
        }
        var codec = (StateCodecKind)Convert.ToInt16(r.GetValue(8), System.Globalization.CultureInfo.InvariantCulture);
        long? dictId = r.IsDBNull(9) ? null : r.GetInt64(9);
        var data = (byte[])r.GetValue(10);
        var stateId = r.GetInt64(11);
        var stateTs = Provider.ReadTime(r, 12);
        var state = Codec.Decode(codec, data, checked((int)rawSize.Value), dictId, LoadDictionaryData);
        return new FleCheckpoint
        {
            Id = id, TrajectoryId = view ?? trajectoryId, StoredIn = trajectoryId, StepNumber = stepNumber, AgentCode = code, EnvironmentFeedback = feedback,
            Timestamp = ts, MetadataJson = meta, Metadata = FleJson.ToDictionary(meta), HasGameState = true, GameStateSize = rawSize,
            GameState = state, StateId = stateId, StateTimestamp = stateTs, StoredSize = data.Length, Codec = EncodedState.Name(codec),
        };
    }
}
