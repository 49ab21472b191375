using System.Data;
using Dapper;
using Fle.Core.Codec;
using Npgsql;
using NpgsqlTypes;

namespace Fle.Core.Storage.Postgres;

/// <summary>
/// The hot write path: one statement per save (a CTE that writes the keyframe row, the step and its state), typed
/// parameters and automatic preparation (hand-written, not Dapper: it runs once per checkpoint). While someone watches
/// the database, the statement also notifies the watches (PostgresProvider.Watch.cs).
/// </summary>
internal sealed partial class PostgresProvider
{
    private const int MaxTransientRetries = 5;
    private static readonly Dictionary<(bool NewDict, bool State, bool Overwrite, bool Rooted, NotifyMode Notify), string> WriteSql = BuildWriteSql();

    public override async Task<(long StepId, long StateId, long? NewDictionaryId)> WriteStepAsync(
        FleStepInput input, string metadataJson, DateTime timestamp, EncodedState? state, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await WriteOnceAsync(input, metadataJson, timestamp, state, ct).ConfigureAwait(false);
            }
            catch (NpgsqlException e) when (e.IsTransient && attempt < MaxTransientRetries && !ct.IsCancellationRequested)
            {
                // The connection broke (server restart, network). The statement is atomic: it either committed or not.
                _dataSource.Clear();
                await Task.Delay(TimeSpan.FromMilliseconds(250 * (1 << attempt)), ct).ConfigureAwait(false);
                if (await AlreadyWrittenAsync(input, timestamp, ct).ConfigureAwait(false) is { } done) return done;
            }
        }
    }

    /// <summary>After a broken connection: did the write commit before the break? (Same step with the same timestamp.)</summary>
    private async Task<(long, long, long?)?> AlreadyWrittenAsync(FleStepInput input, DateTime ts, CancellationToken ct)
    {
        try
        {
            await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
            var row = await conn.QuerySingleOrDefaultAsync<(long StepId, long StateId, long? DictionaryId)?>(new CommandDefinition(
                "SELECT s.id, COALESCE(g.id, 0), g.dictionary_id FROM steps s LEFT JOIN game_states g ON g.step_id = s.id " +
                "WHERE s.trajectory_id = @t AND s.step_number = @n AND s.\"timestamp\" = @ts",
                new { t = input.TrajectoryId, n = input.StepNumber, ts = FleClock.Truncate(ts) }, cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
            return row;
        }
        catch (NpgsqlException e) when (e.IsTransient)
        {
            return null;
        }
    }

    private async Task<(long, long, long?)> WriteOnceAsync(FleStepInput input, string meta, DateTime ts, EncodedState? state, CancellationToken ct)
    {
        await using var conn = (NpgsqlConnection)await OpenConnectionAsync(ct).ConfigureAwait(false);
        var newDict = state?.NewDictionaryData is not null;
        var root = newDict ? state!.NewDictionaryRoot : null;
        var notify = NotifyModeNow();
        await using var cmd = new NpgsqlCommand(WriteSql[(newDict, state is not null, input.Overwrite, root is not null, notify)], conn);
        cmd.Parameters.Add(new NpgsqlParameter<string>("t", NpgsqlDbType.Text) { TypedValue = input.TrajectoryId });
        cmd.Parameters.Add(new NpgsqlParameter<long>("n", NpgsqlDbType.Bigint) { TypedValue = input.StepNumber });
        cmd.Parameters.Add(new NpgsqlParameter<string>("code", NpgsqlDbType.Text) { TypedValue = input.AgentCode });
        cmd.Parameters.Add(new NpgsqlParameter<string>("fb", NpgsqlDbType.Text) { TypedValue = input.EnvironmentFeedback });
        cmd.Parameters.Add(new NpgsqlParameter<DateTime>("ts", NpgsqlDbType.TimestampTz) { TypedValue = ts });
        cmd.Parameters.Add(new NpgsqlParameter<string>("meta", NpgsqlDbType.Jsonb) { TypedValue = meta });
        if (state is not null)
        {
            cmd.Parameters.Add(new NpgsqlParameter<short>("codec", NpgsqlDbType.Smallint) { TypedValue = (short)state.Codec });
            cmd.Parameters.Add(new NpgsqlParameter<int>("size", NpgsqlDbType.Integer) { TypedValue = state.RawSize });
            cmd.Parameters.Add(new NpgsqlParameter<byte[]>("data", NpgsqlDbType.Bytea) { TypedValue = state.Data });
            if (newDict)
                cmd.Parameters.Add(new NpgsqlParameter<byte[]>("ddata", NpgsqlDbType.Bytea) { TypedValue = state.NewDictionaryData! });
            if (root is not null)
            {
                cmd.Parameters.Add(new NpgsqlParameter<long>("root", NpgsqlDbType.Bigint) { TypedValue = root.Id });
                cmd.Parameters.Add(new NpgsqlParameter<int>("rsize", NpgsqlDbType.Integer) { TypedValue = root.Content.Length });
            }
            else
                cmd.Parameters.Add(new NpgsqlParameter("dict", NpgsqlDbType.Bigint) { Value = (object?)state.DictionaryId ?? DBNull.Value });
        }
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false))
            throw root is not null ? new RootKeyframeGoneException() : new InvalidOperationException("The write returned no row.");
        var stepId = r.GetInt64(0);
        var stateId = r.IsDBNull(1) ? 0 : r.GetInt64(1);
        long? dictId = newDict && !r.IsDBNull(2) ? r.GetInt64(2) : null;
        if (notify == NotifyMode.IfWatched) SawWatchers(r.GetBoolean(3));
        return (stepId, stateId, dictId);
    }

    /// <summary>
    /// The statement of every kind of write, built from <see cref="Tables"/>. A new keyframe compressed against the
    /// trajectory's root keyframe (rooted) writes nothing at all unless that root is still stored: every insert selects
    /// from "ok", and the caller sees no row (<see cref="RootKeyframeGoneException"/>). Each also comes in the notifying
    /// forms (<see cref="NotifyMode"/>): <see cref="WatchCtes"/> first, <see cref="WatchColumns"/> returned.
    /// </summary>
    private static Dictionary<(bool, bool, bool, bool, NotifyMode), string> BuildWriteSql()
    {
        var steps = Tables.Steps;
        var stepCols = steps.List(steps.Data);
        var stepValues = "@t, @n, @code, @fb, @ts, @meta";
        var map = new Dictionary<(bool, bool, bool, bool, NotifyMode), string>();
        foreach (var notify in Enum.GetValues<NotifyMode>())
        foreach (var newDict in new[] { false, true })
        foreach (var withState in new[] { false, true })
        foreach (var overwrite in new[] { false, true })
        foreach (var rooted in new[] { false, true })
        {
            if (newDict && !withState) continue;
            if (rooted && !newDict) continue;
            var watch = notify == NotifyMode.None ? "" : WatchCtes(notify) + ", ";
            var returned = notify == NotifyMode.None ? "" : WatchColumns;
            var ok = rooted ? $"ok AS (SELECT 1 WHERE EXISTS (SELECT 1 FROM state_dictionaries WHERE id = @root AND raw_size = @rsize AND trajectory_id IN {SqlText.LineageIds("@t")})), " : "";
            var from = rooted ? " FROM ok" : "";
            var step = $"INSERT INTO steps ({stepCols}) "
                + (rooted ? $"SELECT {stepValues} FROM ok" : $"VALUES ({stepValues})")
                + (overwrite ? " ON CONFLICT (trajectory_id, step_number) DO UPDATE SET " + TableDef.Excluded(["agent_code", "environment_feedback", "timestamp", "metadata"]) : "")
                + " RETURNING id";
            string sql;
            if (!withState)
            {
                sql = overwrite
                    ? $"WITH {watch}s AS ({step}), del AS (DELETE FROM game_states WHERE step_id IN (SELECT id FROM s)) SELECT id, NULL::bigint, NULL::bigint{returned} FROM s"
                    : (notify == NotifyMode.None ? "" : $"WITH {WatchCtes(notify)} ") + $"{step}, NULL::bigint, NULL::bigint{returned}";
            }
            else
            {
                var dict = newDict
                    ? $"{ok}d AS (INSERT INTO state_dictionaries ({Tables.StateDictionaries.List(Tables.StateDictionaries.Data)}) SELECT @t, @size, @ddata, @ts{from} RETURNING id), "
                    : "";
                var dictRef = newDict ? "(SELECT id FROM d)" : "@dict";
                var conflict = overwrite
                    ? " ON CONFLICT (step_id) DO UPDATE SET " + TableDef.Excluded(["codec", "dictionary_id", "raw_size", "state_data", "timestamp"])
                    : "";
                sql = $"WITH {watch}{dict}s AS ({step}) INSERT INTO game_states ({Tables.GameStates.List(Tables.GameStates.Data)}) " +
                      $"SELECT @t, s.id, @n, @codec, {dictRef}, @size, @data, @ts FROM s{conflict} RETURNING step_id, id, dictionary_id{returned}";
            }
            map[(newDict, withState, overwrite, rooted, notify)] = sql;
        }
        return map;
    }
}
