using Fle.Core.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Fle.Core.Transfer;

/// <summary>
/// Import of one trajectory into PostgreSQL, in one transaction. The rows come from an <see cref="ImportFeed"/> (read,
/// checked and prepared on another thread). Steps are streamed into one binary COPY as they come, with ids taken
/// beforehand in one round trip (nextval over generate_series, as many as the record has steps), so the server
/// stores them while the source is still being read; the keyframe dictionary rows and game state rows of that
/// segment wait in memory and follow in two more COPYs when it ends (a state row needs its step and its dictionary
/// row first). A segment ends when its ids run out or the rows waiting reach <see cref="MaxSegmentBytes"/>, so memory
/// stays bounded on any trajectory. Never one round trip per row.
/// </summary>
internal static class PostgresImport
{
    /// <summary>Most step ids taken at once (a segment).</summary>
    private const int MaxSegmentSteps = 16384;

    /// <summary>Fewest step ids taken at once (when the record's step count was too low: steps were added since).</summary>
    private const int MinSegmentSteps = 64;

    /// <summary>Dictionary and state bytes held back before the segment is ended and they are written.</summary>
    private const long MaxSegmentBytes = 16L * 1024 * 1024;

    private const string CopySteps =
        "COPY steps (id, trajectory_id, step_number, agent_code, environment_feedback, \"timestamp\", metadata) FROM STDIN (FORMAT BINARY)";
    private const string CopyDictionaries =
        "COPY state_dictionaries (id, trajectory_id, raw_size, data, created_at) FROM STDIN (FORMAT BINARY)";
    private const string CopyStates =
        "COPY game_states (trajectory_id, step_id, step_number, codec, dictionary_id, raw_size, state_data, \"timestamp\") FROM STDIN (FORMAT BINARY)";

    public static async Task<FleImportItemResult> RunAsync(PostgresStore store, NpgsqlConnection conn, TrajectoryImport im, CancellationToken ct)
    {
        var rec = im.Record;
        await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
        var replaced = false;
        if (im.Append)
        {
            // Lock the trajectory's row: a delete waits for this import instead of removing what it adds to.
            await using var lockRow = new NpgsqlCommand("SELECT 1 FROM trajectories WHERE id = @id FOR UPDATE", conn, tx);
            lockRow.Parameters.AddWithValue("id", rec.Id);
            if (await lockRow.ExecuteScalarAsync(ct).ConfigureAwait(false) is null) throw FleException.TrajectoryNotFound(rec.Id);
        }
        else if (!await InsertTrajectoryAsync(conn, tx, im, ct).ConfigureAwait(false))
        {
            switch (im.OnConflict)
            {
                case FleConflictAction.Skip:
                    return new FleImportItemResult(rec.Id, FleImportOutcome.Skipped, 0, 0, 0);
                case FleConflictAction.Error:
                    throw store.ImportConflict(rec.Id);
            }
            await using (var ids = new NpgsqlCommand("SELECT id FROM state_dictionaries WHERE trajectory_id = @id", conn, tx))
            {
                ids.Parameters.AddWithValue("id", rec.Id);
                await using var r = await ids.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await r.ReadAsync(ct).ConfigureAwait(false)) im.ReplacedDictionaries.Add(r.GetInt64(0));
            }
            await using (var del = new NpgsqlCommand("DELETE FROM trajectories WHERE id = @id", conn, tx))
            {
                del.Parameters.AddWithValue("id", rec.Id);
                await del.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            if (!await InsertTrajectoryAsync(conn, tx, im, ct).ConfigureAwait(false))
                throw new InvalidOperationException("The trajectory could not be replaced.");
            replaced = true;
        }

        await using (var feed = im.TakeFeed(ct))
        {
            var dictIds = new Dictionary<long, long>();
            var dicts = new List<ImportDictionary>();
            var states = new List<(long StepId, ImportStep Step)>();
            var expected = Math.Max(0, rec.StepCount);
            var item = await feed.ReadAsync(ct).ConfigureAwait(false);
            while (item is not null)
            {
                // One segment: a block of step ids and one COPY of steps (started at the segment's first step).
                NpgsqlBinaryImporter? copy = null;
                long[] ids = [];
                var used = 0;
                long held = 0;
                try
                {
                    while (item is not null)
                    {
                        if (item is ImportDictionary d)
                        {
                            dicts.Add(d);
                            held += d.Data.Length;
                        }
                        else
                        {
                            var s = (ImportStep)item;
                            if (copy is null)
                            {
                                ids = await NextIdsAsync(conn, tx, "steps", (int)Math.Clamp(expected, MinSegmentSteps, MaxSegmentSteps), ct).ConfigureAwait(false);
                                copy = await conn.BeginBinaryImportAsync(CopySteps, ct).ConfigureAwait(false);
                            }
                            else if (used == ids.Length)
                            {
                                break; // this step starts the next segment
                            }
                            var id = ids[used++];
                            await copy.StartRowAsync(ct).ConfigureAwait(false);
                            await copy.WriteAsync(id, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                            await copy.WriteAsync(rec.Id, NpgsqlDbType.Text, ct).ConfigureAwait(false);
                            await copy.WriteAsync(s.StepNumber, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                            await copy.WriteAsync(s.AgentCode, NpgsqlDbType.Text, ct).ConfigureAwait(false);
                            await copy.WriteAsync(s.EnvironmentFeedback, NpgsqlDbType.Text, ct).ConfigureAwait(false);
                            await copy.WriteAsync(FleClock.Truncate(s.Timestamp), NpgsqlDbType.TimestampTz, ct).ConfigureAwait(false);
                            await copy.WriteAsync(s.MetadataJson, NpgsqlDbType.Jsonb, ct).ConfigureAwait(false);
                            if (s.HasState)
                            {
                                states.Add((id, s));
                                held += s.StateData!.Length;
                            }
                        }
                        item = await feed.ReadAsync(ct).ConfigureAwait(false);
                        if (held >= MaxSegmentBytes) break;
                    }
                    if (copy is not null) await copy.CompleteAsync(ct).ConfigureAwait(false);
                }
                finally
                {
                    if (copy is not null) await copy.DisposeAsync().ConfigureAwait(false); // without Complete: the COPY is cancelled
                }
                expected = Math.Max(0, expected - used);
                await FlushAsync(conn, tx, rec.Id, dicts, states, dictIds, ct).ConfigureAwait(false);
            }
        }
        ct.ThrowIfCancellationRequested();
        if (!await im.FinishAsync(store, conn, tx, ct).ConfigureAwait(false))
            return new FleImportItemResult(rec.Id, FleImportOutcome.Skipped, 0, 0, 0); // nothing to import: rolled back
        await tx.CommitAsync(CancellationToken.None).ConfigureAwait(false);
        return im.Result(replaced);
    }

    private static async Task<bool> InsertTrajectoryAsync(NpgsqlConnection conn, NpgsqlTransaction tx, TrajectoryImport im, CancellationToken ct)
    {
        var rec = im.Record;
        await using var cmd = new NpgsqlCommand(
            "INSERT INTO trajectories (id, task_id, start_time, end_time, status, metadata) VALUES (@id, @task, @start, @end, @status, @meta) " +
            "ON CONFLICT (id) DO NOTHING RETURNING 1", conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter<string>("id", NpgsqlDbType.Text) { TypedValue = rec.Id });
        cmd.Parameters.Add(new NpgsqlParameter<string>("task", NpgsqlDbType.Text) { TypedValue = rec.TaskId });
        cmd.Parameters.Add(new NpgsqlParameter<DateTime>("start", NpgsqlDbType.TimestampTz) { TypedValue = FleClock.Truncate(rec.StartTime) });
        cmd.Parameters.Add(new NpgsqlParameter("end", NpgsqlDbType.TimestampTz) { Value = rec.EndTime is { } e ? FleClock.Truncate(e) : DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter<string>("status", NpgsqlDbType.Text) { TypedValue = im.Status });
        cmd.Parameters.Add(new NpgsqlParameter<string>("meta", NpgsqlDbType.Jsonb) { TypedValue = im.MetadataJson });
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null;
    }

    private static async Task<long[]> NextIdsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string table, int n, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, @n)", conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter<int>("n", NpgsqlDbType.Integer) { TypedValue = n });
        var ids = new long[n];
        var i = 0;
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false)) ids[i++] = r.GetInt64(0);
        return ids;
    }

    /// <summary>Write the segment's dictionary rows (new ids, in key order) and then its state rows.</summary>
    private static async Task FlushAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string trajectoryId, List<ImportDictionary> dicts,
        List<(long StepId, ImportStep Step)> states, Dictionary<long, long> dictIds, CancellationToken ct)
    {
        if (dicts.Count > 0)
        {
            var ids = await NextIdsAsync(conn, tx, "state_dictionaries", dicts.Count, ct).ConfigureAwait(false);
            await using var w = await conn.BeginBinaryImportAsync(CopyDictionaries, ct).ConfigureAwait(false);
            for (var i = 0; i < dicts.Count; i++)
            {
                var d = dicts[i];
                dictIds.Add(d.Key, ids[i]);
                await w.StartRowAsync(ct).ConfigureAwait(false);
                await w.WriteAsync(ids[i], NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                await w.WriteAsync(trajectoryId, NpgsqlDbType.Text, ct).ConfigureAwait(false);
                await w.WriteAsync(d.RawSize, NpgsqlDbType.Integer, ct).ConfigureAwait(false);
                await w.WriteAsync(d.Data, NpgsqlDbType.Bytea, ct).ConfigureAwait(false);
                await w.WriteAsync(FleClock.Truncate(d.CreatedAt), NpgsqlDbType.TimestampTz, ct).ConfigureAwait(false);
            }
            await w.CompleteAsync(ct).ConfigureAwait(false);
        }

        if (states.Count > 0)
        {
            await using var w = await conn.BeginBinaryImportAsync(CopyStates, ct).ConfigureAwait(false);
            foreach (var (stepId, s) in states)
            {
                await w.StartRowAsync(ct).ConfigureAwait(false);
                await w.WriteAsync(trajectoryId, NpgsqlDbType.Text, ct).ConfigureAwait(false);
                await w.WriteAsync(stepId, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                await w.WriteAsync(s.StepNumber, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                await w.WriteAsync((short)s.StateCodec, NpgsqlDbType.Smallint, ct).ConfigureAwait(false);
                if (s.StateDictionaryKey is { } k) await w.WriteAsync(DictionaryId(dictIds, k), NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                else await w.WriteNullAsync(ct).ConfigureAwait(false);
                await w.WriteAsync(s.StateRawSize, NpgsqlDbType.Integer, ct).ConfigureAwait(false);
                await w.WriteAsync(s.StateData!, NpgsqlDbType.Bytea, ct).ConfigureAwait(false);
                await w.WriteAsync(FleClock.Truncate(s.StateTimestamp), NpgsqlDbType.TimestampTz, ct).ConfigureAwait(false);
            }
            await w.CompleteAsync(ct).ConfigureAwait(false);
        }
        dicts.Clear();
        states.Clear();
    }

    internal static long DictionaryId(Dictionary<long, long> ids, long key) => ids.TryGetValue(key, out var id) ? id
        : throw new InvalidOperationException($"A game state refers to keyframe dictionary {key}, which this import has not written.");
}
