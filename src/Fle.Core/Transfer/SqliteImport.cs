using Fle.Core.Storage;
using Microsoft.Data.Sqlite;

namespace Fle.Core.Transfer;

/// <summary>
/// Import of one trajectory into SQLite: one BEGIN IMMEDIATE transaction, prepared statements; the rows come from an
/// <see cref="ImportFeed"/> (read, checked and prepared on another thread).
/// </summary>
internal static class SqliteImport
{
    public static async Task<FleImportItemResult> RunAsync(SqliteStore store, SqliteConnection conn, TrajectoryImport im, CancellationToken ct)
    {
        var rec = im.Record;
        await using var tx = (SqliteTransaction)await conn.BeginTransactionAsync(ct).ConfigureAwait(false); // BEGIN IMMEDIATE
        var replaced = false;
        await using (var exists = FleStore.Command(conn, "SELECT 1 FROM trajectories WHERE id = @id", tx))
        {
            FleStore.Param(exists, "@id", rec.Id);
            var found = await exists.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null;
            if (im.Append && !found) throw FleException.TrajectoryNotFound(rec.Id);
            if (found && !im.Append)
            {
                switch (im.OnConflict)
                {
                    case FleConflictAction.Skip:
                        return new FleImportItemResult(rec.Id, FleImportOutcome.Skipped, 0, 0, 0);
                    case FleConflictAction.Error:
                        throw store.ImportConflict(rec.Id);
                }
                await using (var ids = FleStore.Command(conn, "SELECT id FROM state_dictionaries WHERE trajectory_id = @id", tx))
                {
                    FleStore.Param(ids, "@id", rec.Id);
                    await using var r = await ids.ExecuteReaderAsync(ct).ConfigureAwait(false);
                    while (await r.ReadAsync(ct).ConfigureAwait(false)) im.ReplacedDictionaries.Add(r.GetInt64(0));
                }
                await using var del = FleStore.Command(conn, "DELETE FROM trajectories WHERE id = @id", tx);
                FleStore.Param(del, "@id", rec.Id);
                await del.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                replaced = true;
            }
        }

        if (!im.Append)
        await using (var t = FleStore.Command(conn,
            "INSERT INTO trajectories (id, task_id, start_time, end_time, status, metadata) VALUES (@id, @task, @start, @end, @status, @meta)", tx))
        {
            FleStore.Param(t, "@id", rec.Id);
            FleStore.Param(t, "@task", rec.TaskId);
            FleStore.Param(t, "@start", store.TimeParameter(rec.StartTime));
            FleStore.Param(t, "@end", rec.EndTime is { } e ? store.TimeParameter(e) : DBNull.Value);
            FleStore.Param(t, "@status", im.Status);
            FleStore.Param(t, "@meta", im.MetadataJson);
            await t.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await using var dict = FleStore.Command(conn,
            "INSERT INTO state_dictionaries (trajectory_id, raw_size, data, created_at) VALUES (@t, @size, @data, @ts) RETURNING id", tx);
        var dT = P(dict, "@t"); var dSize = P(dict, "@size"); var dData = P(dict, "@data"); var dTs = P(dict, "@ts");
        await using var step = FleStore.Command(conn,
            "INSERT INTO steps (trajectory_id, step_number, agent_code, environment_feedback, timestamp, metadata) VALUES (@t, @n, @code, @fb, @ts, @meta) RETURNING id", tx);
        var sT = P(step, "@t"); var sN = P(step, "@n"); var sCode = P(step, "@code"); var sFb = P(step, "@fb"); var sTs = P(step, "@ts"); var sMeta = P(step, "@meta");
        await using var state = FleStore.Command(conn,
            "INSERT INTO game_states (trajectory_id, step_id, step_number, codec, dictionary_id, raw_size, state_data, timestamp) VALUES (@t, @sid, @n, @codec, @dict, @size, @data, @ts)", tx);
        var gT = P(state, "@t"); var gSid = P(state, "@sid"); var gN = P(state, "@n"); var gCodec = P(state, "@codec"); var gDict = P(state, "@dict");
        var gSize = P(state, "@size"); var gData = P(state, "@data"); var gTs = P(state, "@ts");
        dT.Value = sT.Value = gT.Value = rec.Id;

        // The rows come from the feed (read, checked and prepared on another thread); dictionary rows get new ids here.
        await using (var feed = im.TakeFeed(ct))
        {
            var dictIds = new Dictionary<long, long>();
            while (await feed.ReadAsync(ct).ConfigureAwait(false) is { } item)
            {
                if (item is ImportDictionary d)
                {
                    dSize.Value = d.RawSize;
                    dData.Value = d.Data;
                    dTs.Value = store.TimeParameter(d.CreatedAt);
                    dictIds.Add(d.Key, (long)(await dict.ExecuteScalarAsync(ct).ConfigureAwait(false))!);
                    continue;
                }
                var s = (ImportStep)item;
                sN.Value = s.StepNumber;
                sCode.Value = s.AgentCode;
                sFb.Value = s.EnvironmentFeedback;
                sTs.Value = store.TimeParameter(s.Timestamp);
                sMeta.Value = s.MetadataJson;
                long stepId;
                try { stepId = (long)(await step.ExecuteScalarAsync(ct).ConfigureAwait(false))!; }
                catch (SqliteException e) when (e.SqliteErrorCode == 19 && e.SqliteExtendedErrorCode == 2067)
                {
                    throw new FleException(FleErrorIds.ImportFileInvalid, FleErrorKind.InvalidData,
                        $"Trajectory '{rec.Id}' has step {s.StepNumber} twice; nothing of it was imported.", e, rec.Id);
                }
                if (!s.HasState) continue;
                gSid.Value = stepId;
                gN.Value = s.StepNumber;
                gCodec.Value = (short)s.StateCodec;
                gDict.Value = s.StateDictionaryKey is { } k ? PostgresImport.DictionaryId(dictIds, k) : DBNull.Value;
                gSize.Value = s.StateRawSize;
                gData.Value = s.StateData;
                gTs.Value = store.TimeParameter(s.StateTimestamp);
                await state.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }
        ct.ThrowIfCancellationRequested();
        if (!await im.FinishAsync(store, conn, tx, ct).ConfigureAwait(false))
            return new FleImportItemResult(rec.Id, FleImportOutcome.Skipped, 0, 0, 0); // nothing to import: rolled back
        await tx.CommitAsync(CancellationToken.None).ConfigureAwait(false);
        return im.Result(replaced);
    }

    private static SqliteParameter P(System.Data.Common.DbCommand cmd, string name)
    {
        var p = new SqliteParameter { ParameterName = name };
        cmd.Parameters.Add(p);
        return p;
    }
}
