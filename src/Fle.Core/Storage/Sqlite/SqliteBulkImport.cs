using System.Data;
using Dapper;
using Fle.Core.Transfer;
using Microsoft.Data.Sqlite;

namespace Fle.Core.Storage.Sqlite;

/// <summary>
/// Import of one trajectory into SQLite: one BEGIN IMMEDIATE transaction; the rows come from an <see cref="ImportFeed"/>
/// (read, checked and prepared on another thread) and go through prepared statements built from <see cref="Tables"/>
/// (hand-written: one execution per row); the few statements per trajectory go through Dapper.
/// </summary>
internal static class SqliteBulkImport
{
    public static async Task<FleImportItemResult> RunAsync(SqliteProvider store, SqliteConnection conn, TrajectoryImport im, CancellationToken ct)
    {
        var rec = im.Record;
        await using var tx = (SqliteTransaction)await conn.BeginTransactionAsync(ct).ConfigureAwait(false); // BEGIN IMMEDIATE
        var replaced = false;
        var found = await conn.ExecuteScalarAsync<long?>(new CommandDefinition("SELECT 1 FROM trajectories WHERE id = @id", new { id = rec.Id }, tx, cancellationToken: ct, commandType: CommandType.Text))
            .ConfigureAwait(false) is not null;
        if (im.Append && !found) throw FleException.TrajectoryNotFound(rec.Id);
        if (found && !im.Append)
        {
            if (!await im.MakeRoomAsync(store, conn, tx, ct).ConfigureAwait(false)) return im.Skipped();
            replaced = true;
        }
        var sql = SqliteDialect.Instance.Text;
        if (!im.Append)
        {
            try
            {
                await conn.ExecuteAsync(new CommandDefinition(sql.InsertTrajectoryRow, new
                {
                    id = rec.Id, task_id = rec.TaskId, start_time = store.TimeParameter(rec.StartTime),
                    end_time = rec.EndTime is { } e ? store.TimeParameter(e) : null, status = im.Status, metadata = im.MetadataJson,
                    parent_id = rec.ParentId, fork_step_number = rec.ForkStepNumber,
                }, tx, cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
            }
            catch (SqliteException e) when (e.SqliteErrorCode == 19 && e.SqliteExtendedErrorCode == 787 && rec.ParentId is not null)
            {
                throw TrajectoryImport.ParentMissing(store.Location, rec);
            }
        }

        await using var dict = Prepare(conn, tx, sql.InsertDictionary, Tables.StateDictionaries.Data);
        await using var step = Prepare(conn, tx, sql.InsertStep, Tables.Steps.Data);
        await using var state = Prepare(conn, tx, sql.InsertState, Tables.GameStates.Data);
        dict.Parameters["@trajectory_id"].Value = step.Parameters["@trajectory_id"].Value = state.Parameters["@trajectory_id"].Value = rec.Id;

        // The rows come from the feed (read, checked and prepared on another thread); dictionary rows get new ids here.
        await using (var feed = im.TakeFeed(ct))
        {
            var dictIds = new Dictionary<long, long>();
            while (await feed.ReadAsync(ct).ConfigureAwait(false) is { } item)
            {
                if (item is ImportDictionary d)
                {
                    Set(dict, ("raw_size", d.RawSize), ("data", d.Data), ("created_at", store.TimeParameter(d.CreatedAt)));
                    dictIds.Add(d.Key, (long)(await dict.ExecuteScalarAsync(ct).ConfigureAwait(false))!);
                    continue;
                }
                var s = (ImportStep)item;
                Set(step, ("step_number", s.StepNumber), ("agent_code", s.AgentCode), ("environment_feedback", s.EnvironmentFeedback),
                    ("timestamp", store.TimeParameter(s.Timestamp)), ("metadata", s.MetadataJson));
                long stepId;
                try { stepId = (long)(await step.ExecuteScalarAsync(ct).ConfigureAwait(false))!; }
                catch (SqliteException e) when (e.SqliteErrorCode == 19 && e.SqliteExtendedErrorCode == 2067)
                {
                    throw TrajectoryImport.StepTwice(rec.Id, s.StepNumber, e);
                }
                if (!s.HasState) continue;
                Set(state, ("step_id", stepId), ("step_number", s.StepNumber), ("codec", (short)s.StateCodec),
                    ("dictionary_id", s.DictionaryId(dictIds)),
                    ("raw_size", s.StateRawSize), ("state_data", s.StateData), ("timestamp", store.TimeParameter(s.StateTimestamp)));
                await state.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }
        ct.ThrowIfCancellationRequested();
        if (!await im.FinishAsync(store, conn, tx, ct).ConfigureAwait(false)) return im.Skipped(); // nothing to import: rolled back
        await tx.CommitAsync(CancellationToken.None).ConfigureAwait(false);
        return im.Result(replaced);
    }

    private static SqliteCommand Prepare(SqliteConnection conn, SqliteTransaction tx, string sql, IEnumerable<string> columns)
    {
        var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        foreach (var c in columns) cmd.Parameters.Add(new SqliteParameter { ParameterName = "@" + c });
        return cmd;
    }

    private static void Set(SqliteCommand cmd, params (string Column, object? Value)[] values)
    {
        foreach (var (c, v) in values) cmd.Parameters["@" + c].Value = v ?? DBNull.Value;
    }
}
