using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Fle.Core;
using Fle.Core.Codec;
using Fle.Core.Configuration;
using Fle.Core.Storage;
using Fle.Core.Transfer;
using Microsoft.Data.Sqlite;
using Fle.Tests.Infrastructure;
using Xunit;

namespace Fle.Tests.Migration;

/// <summary>
/// Store-to-store import copies game states in their stored form (codec, stored bytes, keyframe dictionary rows with
/// new ids) instead of decoding and re-encoding them. These tests prove it is byte-exact both ways between SQLite and
/// PostgreSQL (keyframes, rooted keyframe rows, a step without a state, rows of earlier releases: raw, plain zstd and
/// plain keyframes, a dictionary row no state refers to), that the stored rows really are copied verbatim, that an
/// imported trajectory can be continued, that conflicts, a cancellation and a damaged source row leave nothing of the
/// trajectory behind, and that export files still import.
/// </summary>
public sealed class StoredCopyTests(MigrationDatabases dbs) : IClassFixture<MigrationDatabases>
{
    private static readonly DateTime T0 = new DateTime(2026, 5, 6, 7, 8, 9, DateTimeKind.Utc).AddTicks(1234560);

    private static string Sha(byte[]? b) => b is null ? "-" : $"{b.Length}:{Convert.ToHexString(SHA256.HashData(b))[..16]}";

    /// <summary>
    /// An FLE-like state: a large part that never changes (the research table), a blob that is rewritten whole every
    /// <paramref name="blobEvery"/> steps (FLE's zlib entity list) and a few small per-step changes. The rewrites make
    /// the codec start new keyframes, compressed against the trajectory's root keyframe (rooted dictionary rows).
    /// </summary>
    internal static byte[] GameState(int world, int step, int blobEvery = 4)
    {
        var sb = new StringBuilder("{\"research\":[");
        for (var i = 0; i < 300; i++)
        {
            sb.Append(i == 0 ? "" : ",").Append("{\"name\":\"tech-").Append((i * 7 + world) % 40).Append("\",\"level\":").Append(i % 7)
              .Append(",\"unit\":{\"count\":").Append(i * 37 % 1000).Append(",\"energy\":").Append((i % 9 * 0.5).ToString("R", CultureInfo.InvariantCulture))
              .Append("},\"label\":\"fábrica 工厂\"}");
        }
        var blob = new byte[2400];
        new Random(world * 7919 + step / blobEvery).NextBytes(blob);
        sb.Append("],\"entities\":\"").Append(Convert.ToBase64String(blob)).Append("\",\"tick\":").Append(step * 60)
          .Append(",\"inventory\":{\"iron-plate\":").Append(step * 3 % 200).Append(",\"coal\":").Append(500 - step).Append("}}");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private static FleStepInput Step(string id, int n, byte[]? state) => new()
    {
        TrajectoryId = id, StepNumber = n, AgentCode = $"place_entity(Prototype.Inserter, {n})\n\t# ü 😀", EnvironmentFeedback = $"ok {n} ✓",
        MetadataJson = $"{{\"reward\":{n * 0.25},\"tokens\":{{\"in\":{n},\"out\":[1,2]}}}}", GameState = state, Timestamp = T0.AddSeconds(n).AddTicks(n * 10),
    };

    /// <summary>
    /// The source: "keyframes" (45 steps with rooted keyframes; steps 7 and 30 without a state; an extra dictionary row
    /// no state refers to), "old-rows" (rows as earlier releases wrote them: raw, plain zstd, a plain keyframe and a
    /// state compressed against it, a step without a state), and an empty trajectory.
    /// </summary>
    private static async Task SeedAsync(FleStore store)
    {
        var a = await store.CreateTrajectoryAsync("iron_plate", "{\"model\":\"gpt-4o\",\"ü\":\"工厂\"}", "keyframes", T0);
        for (var n = 0; n < 45; n++)
        {
            var input = Step(a.Id, n, n is 7 or 30 ? null : GameState(1, n));
            if (input.GameState is null) await store.SaveStepAsync(input); else await store.SaveCheckpointAsync(input);
        }
        await store.CompleteTrajectoryAsync(a.Id);
        var b = await store.CreateTrajectoryAsync("old_rows", "{}", "old-rows", T0.AddDays(-1));
        await using (var conn = await store.Provider.OpenConnectionAsync(CancellationToken.None))
        {
            // A dictionary row of "keyframes" no state refers to: copied too.
            await InsertDictionaryAsync(store, conn, a.Id, StateCodec.CompressPlain(GameState(9, 0)), GameState(9, 0).Length);
            // Raw (codec 0), plain zstd (codec 1), a plain keyframe row (as every Fle before rooted rows) and a state against it.
            var raw = Encoding.UTF8.GetBytes("{\"tick\":1}");
            await InsertStateAsync(store, conn, b.Id, 0, StateCodecKind.Raw, raw, raw.Length, null);
            var z = GameState(2, 0);
            await InsertStateAsync(store, conn, b.Id, 1, StateCodecKind.Zstd, StateCodec.CompressPlain(z), z.Length, null);
            var key = GameState(2, 1);
            var dictId = await InsertDictionaryAsync(store, conn, b.Id, StateCodec.CompressPlain(key), key.Length);
            foreach (var n in new[] { 2, 3 })
            {
                var s = GameState(2, n * 4); // another blob: a real delta
                using var c = new ZstdSharp.Compressor(3);
                c.LoadDictionary(key);
                await InsertStateAsync(store, conn, b.Id, n, StateCodecKind.ZstdDictionary, c.Wrap(s).ToArray(), s.Length, dictId);
            }
            await InsertStateAsync(store, conn, b.Id, 4, null, null, 0, null);
        }
        await store.CreateTrajectoryAsync("empty", "{}", "empty-run", T0.AddDays(-2));
    }

    private static string Ts(FleStore store) => store.Backend == FleBackend.Postgres ? "\"timestamp\"" : "timestamp";

    private static async Task<long> InsertDictionaryAsync(FleStore store, DbConnection conn, string trajectoryId, byte[] data, int rawSize)
    {
        await using var cmd = FleStore.Command(conn, "INSERT INTO state_dictionaries (trajectory_id, raw_size, data, created_at) VALUES (@t, @size, @data, @ts) RETURNING id");
        FleStore.Param(cmd, "@t", trajectoryId);
        FleStore.Param(cmd, "@size", rawSize);
        FleStore.Param(cmd, "@data", data);
        FleStore.Param(cmd, "@ts", store.Provider.TimeParameter(T0.AddMinutes(5)));
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    private static async Task InsertStateAsync(FleStore store, DbConnection conn, string trajectoryId, int n, StateCodecKind? codec, byte[]? data, int rawSize, long? dictId)
    {
        var meta = store.Backend == FleBackend.Postgres ? "CAST(@meta AS jsonb)" : "@meta";
        await using var step = FleStore.Command(conn,
            $"INSERT INTO steps (trajectory_id, step_number, agent_code, environment_feedback, {Ts(store)}, metadata) VALUES (@t, @n, @code, '', @ts, {meta}) RETURNING id");
        FleStore.Param(step, "@t", trajectoryId);
        FleStore.Param(step, "@n", (long)n);
        FleStore.Param(step, "@code", $"old {n}");
        FleStore.Param(step, "@ts", store.Provider.TimeParameter(T0.AddHours(n)));
        FleStore.Param(step, "@meta", "{\"old\":true}");
        var stepId = Convert.ToInt64(await step.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
        if (codec is null) return;
        await using var st = FleStore.Command(conn,
            $"INSERT INTO game_states (trajectory_id, step_id, step_number, codec, dictionary_id, raw_size, state_data, {Ts(store)}) VALUES (@t, @sid, @n, @codec, @dict, @size, @data, @ts)");
        FleStore.Param(st, "@t", trajectoryId);
        FleStore.Param(st, "@sid", stepId);
        FleStore.Param(st, "@n", (long)n);
        FleStore.Param(st, "@codec", (short)codec.Value);
        FleStore.Param(st, "@dict", dictId is { } d ? d : DBNull.Value);
        FleStore.Param(st, "@size", rawSize);
        FleStore.Param(st, "@data", data!);
        FleStore.Param(st, "@ts", store.Provider.TimeParameter(T0.AddHours(n).AddMilliseconds(1)));
        await st.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// The stored rows, ids left out: per trajectory its dictionary rows in id order (raw size, stored bytes, created_at)
    /// and per state its codec, stored bytes, raw size and the POSITION of its dictionary row in that order.
    /// </summary>
    private static async Task<List<string>> StoredRowsAsync(FleStore store)
    {
        var lines = new List<string>();
        await using var conn = await store.Provider.OpenConnectionAsync(CancellationToken.None);
        var order = new Dictionary<long, int>();
        await using (var d = FleStore.Command(conn, "SELECT id, trajectory_id, raw_size, data, created_at FROM state_dictionaries ORDER BY trajectory_id, id"))
        await using (var r = await d.ExecuteReaderAsync())
        {
            string? last = null;
            var i = 0;
            while (await r.ReadAsync())
            {
                var t = r.GetString(1);
                if (t != last) { last = t; i = 0; }
                order[r.GetInt64(0)] = i;
                lines.Add($"D|{t}|{i++}|{r.GetValue(2)}|{Sha((byte[])r.GetValue(3))}|{store.Provider.ReadTime(r, 4).Ticks}");
            }
        }
        await using (var g = FleStore.Command(conn, "SELECT trajectory_id, step_number, codec, dictionary_id, raw_size, state_data FROM game_states ORDER BY trajectory_id, step_number"))
        await using (var r = await g.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                var dict = r.IsDBNull(3) ? "-" : order[r.GetInt64(3)].ToString(CultureInfo.InvariantCulture);
                lines.Add($"G|{r.GetString(0)}#{r.GetInt64(1)}|{r.GetValue(2)}|{dict}|{r.GetValue(4)}|{Sha((byte[])r.GetValue(5))}");
            }
        }
        return lines;
    }

    private static async Task<FleImportSummary> CopyAsync(FleStore from, FleStore to, FleConflictAction onConflict = FleConflictAction.Skip)
    {
        var summary = new FleImportSummary();
        await foreach (var rec in from.ExportAsync(new FleTrajectoryQuery()))
        {
            Assert.NotNull(rec.StoredSource); // a record from a store carries its stored form
            summary.Add(await to.ImportTrajectoryAsync(rec, onConflict));
        }
        return summary;
    }

    private async Task<FleStore?> OpenAsync(string backend)
        => backend == "sqlite" ? await dbs.SqliteAsync() : MigrationDatabases.PgServer is null ? null : await dbs.PostgresAsync();

    public static TheoryData<string, string> Pairs => new()
    {
        { "sqlite", "postgres" }, { "postgres", "sqlite" }, { "sqlite", "sqlite" }, { "postgres", "postgres" },
    };

    public static TheoryData<string> Backends => new() { "sqlite", "postgres" };

    [Theory]
    [MemberData(nameof(Pairs))]
    public async Task StoreToStore_CopiesStoredRowsVerbatim_AndEveryStateReadsBackByteExact(string from, string to)
    {
        await using var src = await OpenAsync(from);
        await using var dst = await OpenAsync(to);
        if (src is null || dst is null) return;
        await SeedAsync(src);
        var rows = await StoredRowsAsync(src);
        Assert.Contains(rows, l => l.StartsWith("D|keyframes|1|", StringComparison.Ordinal)); // several keyframes
        Assert.True(await CountRootedAsync(src) > 0, "the seed has rooted keyframe rows");
        var expected = await StoreSnapshot.TakeAsync(src);

        var summary = await CopyAsync(src, dst);
        Assert.Equal(3, summary.Trajectories);
        Assert.Equal(45 + 5, summary.Steps);
        Assert.Equal(43 + 4, summary.States);
        Assert.Equal(expected, await StoreSnapshot.TakeAsync(dst));
        Assert.Equal(rows, await StoredRowsAsync(dst)); // the stored form itself, byte for byte (not re-encoded)
        Assert.All(await dst.CheckAsync(deep: true), c => Assert.Equal(FleCheckStatus.Passed, c.Status));

        // A script still gets the raw bytes from an exported record.
        var rec = await src.ExportTrajectoryAsync("keyframes");
        Assert.Equal(Sha(GameState(1, 44)), Sha(rec!.Steps.Single(s => s.StepNumber == 44).GameState));
        Assert.False(rec.Steps.Single(s => s.StepNumber == 7).HasGameState);

        // The copied trajectories go on in the target: deltas against the copied keyframe, then new keyframes.
        foreach (var n in new[] { 45, 46, 60, 61 })
            await dst.SaveCheckpointAsync(Step("keyframes", n, GameState(1, n)));
        await dst.SaveCheckpointAsync(Step("old-rows", 5, GameState(2, 5)));
        await using var reopened = await ReopenAsync(dst);
        foreach (var n in new[] { 44, 45, 46, 60, 61 })
            Assert.Equal(Sha(GameState(1, n)), Sha((await reopened.GetCheckpointAsync("keyframes", n))!.GameState));
        Assert.Equal(Sha(GameState(2, 5)), Sha((await reopened.GetCheckpointAsync("old-rows", 5))!.GameState));
        Assert.All(await reopened.CheckAsync(deep: true), c => Assert.Equal(FleCheckStatus.Passed, c.Status));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task ExportFile_StillImports_ByEncoding(string backend)
    {
        await using var src = await OpenAsync(backend);
        if (src is null) return;
        await SeedAsync(src);
        var expected = await StoreSnapshot.TakeAsync(src);
        var file = dbs.NewPath("stored.jsonl.gz");
        await src.ExportToFileAsync(new FleTrajectoryQuery(), file);
        await using var dst = await OpenAsync(backend == "sqlite" ? "postgres" : "sqlite") ?? await dbs.SqliteAsync();
        var summary = await dst.ImportFileAsync(file);
        Assert.Equal(3, summary.Trajectories);
        Assert.Equal(expected, await StoreSnapshot.TakeAsync(dst));
        Assert.All(await dst.CheckAsync(deep: true), c => Assert.Equal(FleCheckStatus.Passed, c.Status));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task StoreToStore_ConflictActions_SkipErrorOverwrite(string backend)
    {
        await using var src = await dbs.SqliteAsync();
        await using var dst = await OpenAsync(backend);
        if (dst is null) return;
        await SeedAsync(src);
        await CopyAsync(src, dst);
        var first = await StoreSnapshot.TakeAsync(dst);
        var firstRows = await StoredRowsAsync(dst);

        // The source changes: a trajectory gets more steps (and keyframes).
        for (var n = 45; n < 70; n++) await src.SaveCheckpointAsync(Step("keyframes", n, GameState(1, n)));

        var rec = await src.ExportTrajectoryAsync("keyframes");
        Assert.Equal(FleImportOutcome.Skipped, (await dst.ImportTrajectoryAsync(rec!)).Outcome);
        var e = await Assert.ThrowsAsync<FleException>(() => dst.ImportTrajectoryAsync(rec!, FleConflictAction.Error));
        Assert.Equal(FleErrorIds.ImportConflict, e.ErrorId);
        Assert.Equal(first, await StoreSnapshot.TakeAsync(dst));
        Assert.Equal(firstRows, await StoredRowsAsync(dst));

        var replaced = await dst.ImportTrajectoryAsync(rec!, FleConflictAction.Overwrite);
        Assert.Equal(FleImportOutcome.Replaced, replaced.Outcome);
        Assert.Equal(70, replaced.Steps);
        Assert.Equal(68, replaced.States);
        Assert.Equal(await StoreSnapshot.TakeAsync(src), await StoreSnapshot.TakeAsync(dst));
        Assert.Equal(await StoredRowsAsync(src), await StoredRowsAsync(dst)); // no dictionary row of the replaced one left
        Assert.All(await dst.CheckAsync(deep: true), c => Assert.Equal(FleCheckStatus.Passed, c.Status));
        // And it goes on from the copied keyframes.
        await dst.SaveCheckpointAsync(Step("keyframes", 70, GameState(1, 70)));
        Assert.Equal(Sha(GameState(1, 70)), Sha((await dst.GetCheckpointAsync("keyframes", 70))!.GameState));
    }

    [Theory]
    [MemberData(nameof(Pairs))]
    public async Task StoreToStore_CancelledMidway_LeavesNothing_AndARerunCopiesExactlyOnce(string from, string to)
    {
        await using var src = await OpenAsync(from);
        await using var dst = await OpenAsync(to);
        if (src is null || dst is null) return;
        var t = await src.CreateTrajectoryAsync("long", "{}", "long-run", T0);
        // 2600 steps, two thirds with a state: on PostgreSQL most steps are already streamed into the COPY when the cancellation comes.
        for (var n = 0; n < 2600; n++)
        {
            var input = Step(t.Id, n, n % 3 == 0 ? null : GameState(3, n, blobEvery: 50));
            if (input.GameState is null) await src.SaveStepAsync(input); else await src.SaveCheckpointAsync(input);
        }
        var expected = await StoreSnapshot.TakeAsync(src);
        using var cts = new CancellationTokenSource();
        var cancelAt = new SyncProgress(p => { if (p.Status.EndsWith(": 2300 steps", StringComparison.Ordinal)) cts.Cancel(); });
        var rec = await src.ExportTrajectoryAsync(t.Id);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => dst.ImportTrajectoryAsync(rec!, FleConflictAction.Skip, cancelAt, cts.Token));
        Assert.False(await dst.TrajectoryExistsAsync(t.Id));
        var info = await dst.GetInfoAsync();
        Assert.Equal(0, info.Steps);
        Assert.Equal(0, info.States);
        Assert.Equal(0, info.Dictionaries);

        Assert.Equal(FleImportOutcome.Imported, (await dst.ImportTrajectoryAsync(rec!)).Outcome);
        Assert.Equal(FleImportOutcome.Skipped, (await dst.ImportTrajectoryAsync(rec!)).Outcome);
        Assert.Equal(expected, await StoreSnapshot.TakeAsync(dst));
        Assert.Equal(await StoredRowsAsync(src), await StoredRowsAsync(dst));
    }

    public static TheoryData<string, string> Damages => new()
    {
        { "sqlite", "truncated" }, { "sqlite", "unknown-codec" }, { "sqlite", "missing-keyframe" }, { "sqlite", "wrong-size" },
        { "postgres", "truncated" }, { "postgres", "unknown-codec" }, { "postgres", "missing-keyframe" },
    };

    [Theory]
    [MemberData(nameof(Damages))]
    public async Task DamagedSourceRow_FailsItsTrajectory_NothingOfItIsWritten_OthersAreCopied(string to, string damage)
    {
        var path = dbs.NewPath("damaged.db");
        await using (var seed = await dbs.SqliteAsync(path)) await SeedAsync(seed);
        long failing;
        await using (var raw = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await raw.OpenAsync();
            await using var cmd = raw.CreateCommand();
            // the last state stored as a delta (a keyframe step's own row holds no bytes to damage)
            cmd.CommandText = "SELECT MAX(step_number) FROM game_states WHERE trajectory_id = 'keyframes' AND codec = 2";
            failing = Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
            var Last = $"trajectory_id = 'keyframes' AND step_number = {failing}";
            var LastKeyframe = $"(SELECT dictionary_id FROM game_states WHERE {Last})";
            if (damage == "missing-keyframe")
            {
                // The first state that refers to that keyframe is the one that fails.
                cmd.CommandText = $"SELECT MIN(step_number) FROM game_states WHERE dictionary_id = {LastKeyframe}";
                failing = Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
            }
            cmd.CommandText = damage switch
            {
                // A delta cut short; a codec from a future release; a keyframe row gone (foreign keys off, as a damaged file may be); a raw size that lies.
                "truncated" => $"UPDATE game_states SET state_data = substr(state_data, 1, length(state_data) - 9) WHERE {Last}",
                "unknown-codec" => $"UPDATE game_states SET codec = 9 WHERE {Last}",
                "missing-keyframe" => $"PRAGMA foreign_keys = OFF; DELETE FROM state_dictionaries WHERE id = {LastKeyframe}",
                _ => $"UPDATE game_states SET raw_size = raw_size + 1 WHERE {Last}",
            };
            Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
        }
        await using var src = await dbs.SqliteAsync(path);
        await using var dst = await OpenAsync(to);
        if (dst is null) return;
        var failed = new List<FleException>();
        var imported = new List<string>();
        await foreach (var rec in src.ExportAsync(new FleTrajectoryQuery()))
        {
            try { imported.Add((await dst.ImportTrajectoryAsync(rec)).TrajectoryId); }
            catch (FleException e) { failed.Add(e); }
        }
        var e1 = Assert.Single(failed);
        Assert.Equal(FleErrorIds.CorruptState, e1.ErrorId);
        Assert.Equal("keyframes", e1.Target);
        Assert.Contains($"step {failing} of", e1.Message, StringComparison.Ordinal);
        Assert.Equal(damage == "unknown-codec" ? FleErrorKind.NotSupported : FleErrorKind.InvalidData, e1.Kind);
        Assert.Equal(["empty-run", "old-rows"], imported.Order(StringComparer.Ordinal));
        Assert.False(await dst.TrajectoryExistsAsync("keyframes"));
        await using var conn = await dst.Provider.OpenConnectionAsync(CancellationToken.None);
        foreach (var table in new[] { "steps", "game_states", "state_dictionaries" })
        {
            await using var count = FleStore.Command(conn, $"SELECT COUNT(*) FROM {table} WHERE trajectory_id = 'keyframes'");
            Assert.Equal(0L, Convert.ToInt64(await count.ExecuteScalarAsync(), CultureInfo.InvariantCulture));
        }
        Assert.All(await dst.CheckAsync(deep: true), c => Assert.Equal(FleCheckStatus.Passed, c.Status));
    }

    [Fact]
    public async Task ImportTarget_StillOpening_ReadsTheFirstRecordMeanwhile_AndReportsAnOpenThatFails()
    {
        await using var src = await dbs.SqliteAsync();
        await SeedAsync(src);
        var expected = await StoreSnapshot.TakeAsync(src);
        var path = dbs.NewPath("target.db");
        var settings = FleSettingsResolver.Resolve(new FleSettingsOverrides
        {
            Backend = FleBackend.Sqlite, SqlitePath = path, WorkingDirectory = Path.GetDirectoryName(path)!, Environment = new Dictionary<string, string?>(),
        });
        await using (var target = FleImportTarget.Open(settings))
        {
            Assert.Equal(FleBackend.Sqlite, target.Backend);
            var summary = new FleImportSummary();
            await foreach (var rec in src.ExportAsync(new FleTrajectoryQuery())) summary.Add(await target.ImportTrajectoryAsync(rec));
            Assert.Equal(3, summary.Trajectories);
            // Skip on the already-open target; the store stays usable until the target is disposed.
            await foreach (var rec in src.ExportAsync(new FleTrajectoryQuery()))
                Assert.Equal(FleImportOutcome.Skipped, (await target.ImportTrajectoryAsync(rec)).Outcome);
            Assert.Equal(expected, await StoreSnapshot.TakeAsync(await target.GetStoreAsync()));
        }
        await using (var check = await dbs.SqliteAsync(path)) Assert.Equal(expected, await StoreSnapshot.TakeAsync(check));

        // A target that cannot be opened: the error comes from the import (and from GetStoreAsync), nothing is left running.
        var bad = FleSettingsResolver.Resolve(new FleSettingsOverrides
        {
            Backend = FleBackend.Sqlite, SqlitePath = Path.Combine(dbs.NewPath("not-a-dir.txt"), "x.db"), WorkingDirectory = Path.GetTempPath(),
            Environment = new Dictionary<string, string?>(),
        });
        File.WriteAllText(Path.GetDirectoryName(bad.SqlitePath)!, "a file where a folder should be");
        await using var broken = FleImportTarget.Open(bad);
        var first = await src.ExportTrajectoryAsync("keyframes");
        var e = await Assert.ThrowsAsync<FleException>(() => broken.ImportTrajectoryAsync(first!));
        Assert.Equal(FleErrorIds.PathNotWritable, e.ErrorId);
        await Assert.ThrowsAsync<FleException>(() => broken.GetStoreAsync());
    }

    private static async Task<int> CountRootedAsync(FleStore store)
    {
        await using var conn = await store.Provider.OpenConnectionAsync(CancellationToken.None);
        await using var cmd = FleStore.Command(conn, "SELECT data FROM state_dictionaries");
        await using var r = await cmd.ExecuteReaderAsync();
        var n = 0;
        while (await r.ReadAsync()) if (StateCodec.IsRooted((byte[])r.GetValue(0))) n++;
        return n;
    }

    /// <summary>A second store on the same database (a fresh codec: nothing cached from the writes above).</summary>
    private static Task<FleStore> ReopenAsync(FleStore store) => FleStore.OpenAsync(store.Settings);
}
