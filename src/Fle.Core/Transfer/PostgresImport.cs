using Fle.Core.Codec;
using Fle.Core.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Fle.Core.Transfer;

/// <summary>
/// Import of one trajectory into PostgreSQL, in one transaction: steps are encoded in bounded chunks; each
/// chunk takes its step ids in one round trip (nextval over generate_series) and is written with three binary
/// COPYs (keyframe dictionaries, steps with explicit ids, game states). Never one round trip per row.
/// </summary>
internal static class PostgresImport
{
    private const int ChunkSteps = 2000;
    private const long ChunkBytes = 32L * 1024 * 1024;
    private const int DictionaryIdBatch = 16;

    private sealed record PendingStep(FleExportStep Step, string Meta, EncodedState? State, long? DictionaryId);
    private sealed record PendingDictionary(long Id, int RawSize, byte[] Data, DateTime Created);

    public static async Task<FleImportItemResult> RunAsync(PostgresStore store, NpgsqlConnection conn, TrajectoryImport im, CancellationToken ct)
    {
        var rec = im.Record;
        await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
        var replaced = false;
        if (!await InsertTrajectoryAsync(conn, tx, im, ct).ConfigureAwait(false))
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

        var steps = new List<PendingStep>();
        var dicts = new List<PendingDictionary>();
        var dictPool = new Queue<long>();
        long chunkBytes = 0;
        var seen = new HashSet<long>();
        await foreach (var s in rec.GetStepsAsync(ct).ConfigureAwait(false))
        {
            var (meta, raw) = im.Validate(s);
            if (!seen.Add(s.StepNumber))
                throw new FleException(FleErrorIds.ImportFileInvalid, FleErrorKind.InvalidData,
                    $"Trajectory '{rec.Id}' has step {s.StepNumber} twice; nothing of it was imported.", target: rec.Id);
            EncodedState? enc = null;
            long? dictId = null;
            if (raw is not null)
            {
                enc = im.Codec.Encode(rec.Id, raw, () => null);
                dictId = enc.DictionaryId;
                if (enc.NewDictionaryData is { } dd)
                {
                    if (dictPool.Count == 0)
                        foreach (var id in await NextIdsAsync(conn, tx, "state_dictionaries", DictionaryIdBatch, ct).ConfigureAwait(false)) dictPool.Enqueue(id);
                    dictId = dictPool.Dequeue();
                    dicts.Add(new PendingDictionary(dictId.Value, enc.RawSize, dd, s.StateTimestamp ?? s.Timestamp));
                    im.Codec.Committed(rec.Id, enc, dictId);
                    chunkBytes += dd.Length;
                }
                chunkBytes += enc.Data.Length;
            }
            chunkBytes += (s.AgentCode.Length + s.EnvironmentFeedback.Length + meta.Length) * 2L;
            steps.Add(new PendingStep(s, meta, enc, dictId));
            im.Counted(s);
            if (steps.Count >= ChunkSteps || chunkBytes >= ChunkBytes)
            {
                await FlushAsync(conn, tx, rec.Id, steps, dicts, ct).ConfigureAwait(false);
                chunkBytes = 0;
            }
        }
        await FlushAsync(conn, tx, rec.Id, steps, dicts, ct).ConfigureAwait(false);
        ct.ThrowIfCancellationRequested();
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

    private static async Task FlushAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string trajectoryId, List<PendingStep> steps,
        List<PendingDictionary> dicts, CancellationToken ct)
    {
        if (steps.Count == 0 && dicts.Count == 0) return;
        var stepIds = steps.Count == 0 ? [] : await NextIdsAsync(conn, tx, "steps", steps.Count, ct).ConfigureAwait(false);

        if (dicts.Count > 0)
        {
            await using var w = await conn.BeginBinaryImportAsync(
                "COPY state_dictionaries (id, trajectory_id, raw_size, data, created_at) FROM STDIN (FORMAT BINARY)", ct).ConfigureAwait(false);
            foreach (var d in dicts)
            {
                await w.StartRowAsync(ct).ConfigureAwait(false);
                await w.WriteAsync(d.Id, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                await w.WriteAsync(trajectoryId, NpgsqlDbType.Text, ct).ConfigureAwait(false);
                await w.WriteAsync(d.RawSize, NpgsqlDbType.Integer, ct).ConfigureAwait(false);
                await w.WriteAsync(d.Data, NpgsqlDbType.Bytea, ct).ConfigureAwait(false);
                await w.WriteAsync(FleClock.Truncate(d.Created), NpgsqlDbType.TimestampTz, ct).ConfigureAwait(false);
            }
            await w.CompleteAsync(ct).ConfigureAwait(false);
        }

        if (steps.Count > 0)
        {
            await using (var w = await conn.BeginBinaryImportAsync(
                "COPY steps (id, trajectory_id, step_number, agent_code, environment_feedback, \"timestamp\", metadata) FROM STDIN (FORMAT BINARY)", ct).ConfigureAwait(false))
            {
                for (var i = 0; i < steps.Count; i++)
                {
                    var s = steps[i].Step;
                    await w.StartRowAsync(ct).ConfigureAwait(false);
                    await w.WriteAsync(stepIds[i], NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                    await w.WriteAsync(trajectoryId, NpgsqlDbType.Text, ct).ConfigureAwait(false);
                    await w.WriteAsync(s.StepNumber, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                    await w.WriteAsync(s.AgentCode, NpgsqlDbType.Text, ct).ConfigureAwait(false);
                    await w.WriteAsync(s.EnvironmentFeedback, NpgsqlDbType.Text, ct).ConfigureAwait(false);
                    await w.WriteAsync(FleClock.Truncate(s.Timestamp), NpgsqlDbType.TimestampTz, ct).ConfigureAwait(false);
                    await w.WriteAsync(steps[i].Meta, NpgsqlDbType.Jsonb, ct).ConfigureAwait(false);
                }
                await w.CompleteAsync(ct).ConfigureAwait(false);
            }

            if (steps.Any(p => p.State is not null))
            {
                await using var w = await conn.BeginBinaryImportAsync(
                    "COPY game_states (trajectory_id, step_id, step_number, codec, dictionary_id, raw_size, state_data, \"timestamp\") FROM STDIN (FORMAT BINARY)", ct).ConfigureAwait(false);
                for (var i = 0; i < steps.Count; i++)
                {
                    var p = steps[i];
                    if (p.State is not { } st) continue;
                    await w.StartRowAsync(ct).ConfigureAwait(false);
                    await w.WriteAsync(trajectoryId, NpgsqlDbType.Text, ct).ConfigureAwait(false);
                    await w.WriteAsync(stepIds[i], NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                    await w.WriteAsync(p.Step.StepNumber, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                    await w.WriteAsync((short)st.Codec, NpgsqlDbType.Smallint, ct).ConfigureAwait(false);
                    if (p.DictionaryId is { } d) await w.WriteAsync(d, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
                    else await w.WriteNullAsync(ct).ConfigureAwait(false);
                    await w.WriteAsync(st.RawSize, NpgsqlDbType.Integer, ct).ConfigureAwait(false);
                    await w.WriteAsync(st.Data, NpgsqlDbType.Bytea, ct).ConfigureAwait(false);
                    await w.WriteAsync(FleClock.Truncate(p.Step.StateTimestamp ?? p.Step.Timestamp), NpgsqlDbType.TimestampTz, ct).ConfigureAwait(false);
                }
                await w.CompleteAsync(ct).ConfigureAwait(false);
            }
        }
        steps.Clear();
        dicts.Clear();
    }
}
