using System.Data;
using Dapper;
using Fle.Core.Transfer;
using Npgsql;
using NpgsqlTypes;

namespace Fle.Core.Storage.Postgres;

/// <summary>
/// Import of one trajectory into PostgreSQL, in one transaction. The rows come from an <see cref="ImportFeed"/> (read,
/// checked and prepared on another thread). Steps are streamed into one binary COPY as they come, with ids taken
/// beforehand in one round trip (nextval over generate_series, as many as the record has steps), so the server
/// stores them while the source is still being read; the keyframe dictionary rows and game state rows of that
/// segment wait in memory and follow in two more COPYs when it ends (a state row needs its step and its dictionary
/// row first). A segment ends when its ids run out or the rows waiting reach <see cref="MaxSegmentBytes"/>, so memory
/// stays bounded on any trajectory. Never one round trip per row. The COPYs are hand-written (binary rows, typed); the few
/// statements per trajectory go through Dapper.
/// </summary>
internal static class PostgresBulkImport
{
    /// <summary>Most step ids taken at once (a segment).</summary>
    private const int MaxSegmentSteps = 16384;

    /// <summary>Fewest step ids taken at once (when the record's step count was too low: steps were added since).</summary>
    private const int MinSegmentSteps = 64;

    /// <summary>Dictionary and state bytes held back before the segment is ended and they are written.</summary>
    private const long MaxSegmentBytes = 16L * 1024 * 1024;

    private static readonly string CopySteps = Tables.Steps.Copy();
    private static readonly string CopyDictionaries = Tables.StateDictionaries.Copy();
    private static readonly string CopyStates = Tables.GameStates.Copy(Tables.GameStates.Data);

    public static async Task<FleImportItemResult> RunAsync(PostgresProvider store, NpgsqlConnection conn, TrajectoryImport im, CancellationToken ct)
    {
        var rec = im.Record;
        await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
        var replaced = false;
        if (im.Append)
        {
            // Lock the trajectory's row: a delete waits for this import instead of removing what it adds to.
            if (await conn.ExecuteScalarAsync<int?>(new CommandDefinition("SELECT 1 FROM trajectories WHERE id = @id FOR UPDATE", new { id = rec.Id }, tx,
                    cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false) is null)
                throw FleException.TrajectoryNotFound(rec.Id);
        }
        else if (!await InsertTrajectoryAsync(store, conn, tx, im, ct).ConfigureAwait(false))
        {
            if (!await im.MakeRoomAsync(store, conn, tx, ct).ConfigureAwait(false)) return im.Skipped();
            if (!await InsertTrajectoryAsync(store, conn, tx, im, ct).ConfigureAwait(false))
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
        if (!await im.FinishAsync(store, conn, tx, ct).ConfigureAwait(false)) return im.Skipped(); // nothing to import: rolled back
        await tx.CommitAsync(CancellationToken.None).ConfigureAwait(false);
        return im.Result(replaced);
    }

    private static async Task<bool> InsertTrajectoryAsync(PostgresProvider store, NpgsqlConnection conn, NpgsqlTransaction tx, TrajectoryImport im, CancellationToken ct)
    {
        var rec = im.Record;
        try
        {
            return await conn.ExecuteScalarAsync<int?>(new CommandDefinition(PostgresDialect.Instance.Text.InsertTrajectoryRow + " ON CONFLICT (id) DO NOTHING RETURNING 1", new
            {
                id = rec.Id, task_id = rec.TaskId, start_time = FleClock.Truncate(rec.StartTime), end_time = rec.EndTime is { } e ? FleClock.Truncate(e) : (DateTime?)null,
                status = im.Status, metadata = im.MetadataJson, parent_id = rec.ParentId, fork_step_number = rec.ForkStepNumber,
            }, tx, cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false) is not null;
        }
        catch (PostgresException e) when (e.SqlState == "23503" && rec.ParentId is not null)
        {
            throw TrajectoryImport.ParentMissing(store.Location, rec);
        }
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
                if (s.DictionaryId(dictIds) is { } d) await w.WriteAsync(d, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
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
}
