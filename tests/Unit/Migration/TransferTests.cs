using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Storage;
using Microsoft.Data.Sqlite;
using Npgsql;
using Fle.Tests.Infrastructure;
using Xunit;

namespace Fle.Tests.Migration;

/// <summary>Fresh SQLite files and PostgreSQL databases for the migration tests (isolated from the process environment).</summary>
public sealed class MigrationDatabases : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "fle-migration-" + Guid.NewGuid().ToString("N")[..10]);

    public MigrationDatabases() => Directory.CreateDirectory(_root);

    public string NewPath(string name) => Path.Combine(_root, Guid.NewGuid().ToString("N")[..8] + "-" + name);

    public Task<FleStore> SqliteAsync(string? path = null) => FleStore.OpenAsync(FleSettingsResolver.Resolve(new FleSettingsOverrides
    {
        Backend = FleBackend.Sqlite, SqlitePath = path ?? NewPath("fle.db"), WorkingDirectory = _root, Environment = new Dictionary<string, string?>(),
    }));

    /// <summary>The test server (FLE_TEST_PG); null outside CI when it is not set (the caller then returns).</summary>
    public static string? PgServer
    {
        get
        {
            var cs = Environment.GetEnvironmentVariable("FLE_TEST_PG");
            if (string.IsNullOrWhiteSpace(cs) && string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
                throw new InvalidOperationException("CI=true but FLE_TEST_PG is not set: the PostgreSQL migration tests cannot be skipped.");
            return string.IsNullOrWhiteSpace(cs) ? null : cs;
        }
    }

    /// <summary>A new, empty PostgreSQL database and a store on it.</summary>
    public async Task<FleStore> PostgresAsync()
    {
        var server = PgServer ?? throw new InvalidOperationException("FLE_TEST_PG is not set.");
        var name = "fle_x_" + Guid.NewGuid().ToString("N")[..10];
        await using (var conn = new NpgsqlConnection(server))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        var cs = new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString;
        return await FleStore.OpenAsync(FleSettingsResolver.Resolve(new FleSettingsOverrides
        {
            ConnectionString = cs, WorkingDirectory = _root, Environment = new Dictionary<string, string?>(),
        }));
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

public sealed class TransferTests(MigrationDatabases dbs) : IClassFixture<MigrationDatabases>
{
    private static string Sha(byte[]? b) => b is null ? "-" : $"{b.Length}:{Convert.ToHexString(SHA256.HashData(b))}";

    private static byte[] FleState(int world, int tick)
    {
        var sb = new StringBuilder("{\"tick\":").Append(tick).Append(",\"entities\":[");
        var rng = new Random(world);
        for (var i = 0; i < 600; i++)
            sb.Append(i == 0 ? "" : ",").Append("{\"name\":\"inserter\",\"unit\":").Append(i).Append(",\"x\":").Append(rng.Next(1000))
              .Append(",\"fuel\":").Append((i + tick) % 37 == 0 ? tick : i % 11).Append(",\"label\":\"fábrica 工厂\"}");
        return Encoding.UTF8.GetBytes(sb.Append("]}").ToString());
    }

    /// <summary>Trajectories that exercise every field and every codec; returns their ids.</summary>
    private static async Task<List<string>> SeedAsync(FleStore store)
    {
        var ids = new List<string>();
        var t0 = new DateTime(2026, 3, 4, 5, 6, 7, DateTimeKind.Utc).AddTicks(1234560);
        var a = await store.CreateTrajectoryAsync("iron_plate", "{\"model\":\"gpt-4o\",\"n\":[1,2,{\"x\":null}],\"ü\":\"工厂 😀\",\"f\":1.25}", null, t0);
        ids.Add(a.Id);
        for (var n = 0; n < 15; n++)
        {
            var input = new FleStepInput
            {
                TrajectoryId = a.Id, StepNumber = n, AgentCode = $"print({n})\n\t'q'", EnvironmentFeedback = $"ok {n} ✓",
                MetadataJson = $"{{\"reward\":{n * 0.5},\"done\":{(n == 14 ? "true" : "false")}}}",
                GameState = n == 7 ? null : FleState(1, n), Timestamp = t0.AddSeconds(n).AddTicks(n * 10),
            };
            if (input.GameState is null) await store.SaveStepAsync(input); else await store.SaveCheckpointAsync(input);
        }
        await store.CompleteTrajectoryAsync(a.Id);
        var b = await store.CreateTrajectoryAsync("binary", "{}", "custom-id-ü", t0.AddDays(-1));
        ids.Add(b.Id);
        var rng = new Random(3);
        var big = new byte[200_000]; rng.NextBytes(big);
        await store.SaveCheckpointAsync(new FleStepInput { TrajectoryId = b.Id, StepNumber = 0, GameState = [0, 255, 1] });
        await store.SaveCheckpointAsync(new FleStepInput { TrajectoryId = b.Id, StepNumber = 3, GameState = big, EnvironmentFeedback = "\r\n" });
        await store.CompleteTrajectoryAsync(b.Id, FleTrajectoryStatus.Failed);
        ids.Add((await store.CreateTrajectoryAsync("empty")).Id);
        return ids;
    }

    private static async Task<FleImportSummary> CopyAsync(FleStore from, FleStore to, FleConflictAction onConflict = FleConflictAction.Skip)
    {
        var summary = new FleImportSummary();
        await foreach (var rec in from.ExportAsync(new FleTrajectoryQuery()))
            summary.Add(await to.ImportTrajectoryAsync(rec, onConflict));
        return summary;
    }

    [Fact]
    public async Task RoundTrip_Sqlite_Postgres_Sqlite_PreservesEveryFieldTimestampAndStateHash()
    {
        if (MigrationDatabases.PgServer is null) return;
        await using var sqlite = await dbs.SqliteAsync();
        await SeedAsync(sqlite);
        var expected = await StoreSnapshot.TakeAsync(sqlite);
        await using var pg = await dbs.PostgresAsync();
        var s1 = await CopyAsync(sqlite, pg);
        Assert.Equal(3, s1.Trajectories);
        Assert.Equal(17, s1.Steps);
        Assert.Equal(16, s1.States);
        Assert.Equal(expected, await StoreSnapshot.TakeAsync(pg));
        await using var back = await dbs.SqliteAsync();
        await CopyAsync(pg, back);
        Assert.Equal(expected, await StoreSnapshot.TakeAsync(back));
        // Also through the file format, both directions.
        var file = dbs.NewPath("all.jsonl.gz");
        var written = await pg.ExportToFileAsync(new FleTrajectoryQuery(), file);
        Assert.Equal(17, written.Steps);
        await using var fromFile = await dbs.SqliteAsync();
        var s2 = await fromFile.ImportFileAsync(file);
        Assert.Equal(3, s2.Trajectories);
        Assert.Equal(expected, await StoreSnapshot.TakeAsync(fromFile));
        // Re-running is safe: everything skipped, nothing duplicated.
        var s3 = await fromFile.ImportFileAsync(file);
        Assert.Equal(3, s3.Skipped);
        Assert.Equal(17, (await fromFile.GetInfoAsync()).Steps);
    }

    public static TheoryData<string> Backends => new() { "sqlite", "postgres" };

    private async Task<FleStore?> OpenAsync(string backend)
        => backend == "sqlite" ? await dbs.SqliteAsync() : MigrationDatabases.PgServer is null ? null : await dbs.PostgresAsync();

    /// <summary>A record of <paramref name="steps"/> steps that calls <paramref name="at"/> before yielding step <paramref name="trigger"/>.</summary>
    private static FleExportRecord Record(string id, int steps, int trigger = -1, Action? at = null, Func<int, FleExportStep>? make = null)
    {
        async IAsyncEnumerable<FleExportStep> Steps([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
        {
            for (var i = 0; i < steps; i++)
            {
                if (i == trigger) at?.Invoke();
                ct.ThrowIfCancellationRequested();
                yield return make?.Invoke(i) ?? new FleExportStep
                {
                    StepNumber = i, AgentCode = "c" + i, EnvironmentFeedback = "f", Timestamp = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(i * 10),
                    GameState = i % 3 == 0 ? null : FleState(2, i / 50), StateTimestamp = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(i * 10).AddMilliseconds(1),
                };
                await Task.Yield();
            }
        }
        return new FleExportRecord(Steps)
        {
            Id = id, TaskId = "cancel", Status = FleTrajectoryStatus.Completed, StartTime = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc),
            EndTime = new DateTime(2026, 1, 2, 0, 0, 0, DateTimeKind.Utc), MetadataJson = "{\"k\":1}",
        };
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task ImportCancelledMidway_LeavesNothing_AndARerunImportsExactlyOnce(string backend)
    {
        await using var store = await OpenAsync(backend);
        if (store is null) return;
        // 2600 steps: on PostgreSQL the first 2000 are already COPYed when the cancellation comes.
        using var cts = new CancellationTokenSource();
        var rec = Record("cancel-me", 2600, 2300, cts.Cancel);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.ImportTrajectoryAsync(rec, FleConflictAction.Skip, null, cts.Token));
        Assert.False(await store.TrajectoryExistsAsync("cancel-me"));
        var info = await store.GetInfoAsync();
        Assert.Equal(0, info.Steps);
        Assert.Equal(0, info.States);
        Assert.Equal(0, info.Dictionaries);

        var done = await store.ImportTrajectoryAsync(Record("cancel-me", 2600));
        Assert.Equal(FleImportOutcome.Imported, done.Outcome);
        var again = await store.ImportTrajectoryAsync(Record("cancel-me", 2600));
        Assert.Equal(FleImportOutcome.Skipped, again.Outcome);
        info = await store.GetInfoAsync();
        Assert.Equal(1, info.Trajectories);
        Assert.Equal(2600, info.Steps);
        Assert.Equal(2600 - 867, info.States);
        var t = await store.GetTrajectoryAsync("cancel-me");
        Assert.Equal(FleTrajectoryStatus.Completed, t!.Status);
        Assert.Equal(new DateTime(2026, 1, 2, 0, 0, 0, DateTimeKind.Utc), t.EndTime);
        var cp = await store.GetCheckpointAsync("cancel-me", 2599);
        Assert.Equal(Sha(FleState(2, 2599 / 50)), Sha(cp!.GameState));
        Assert.Equal(new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(25990).AddMilliseconds(1), cp.StateTimestamp);
        Assert.All(await store.CheckAsync(deep: true), c => Assert.Equal(FleCheckStatus.Passed, c.Status));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task BadRecordMidway_RollsTheWholeTrajectoryBack_AndOverwriteReplacesWhole(string backend)
    {
        await using var store = await OpenAsync(backend);
        if (store is null) return;
        var bad = Record("bad", 40, make: i => new FleExportStep { StepNumber = i, AgentCode = i == 25 ? "bad \ud800 text" : "ok", GameState = FleState(3, i), Timestamp = DateTime.UtcNow });
        var e = await Assert.ThrowsAsync<FleException>(() => store.ImportTrajectoryAsync(bad));
        Assert.Equal(FleErrorIds.InvalidText, e.ErrorId);
        Assert.False(await store.TrajectoryExistsAsync("bad"));
        Assert.Equal(0, (await store.GetInfoAsync()).Steps);

        Assert.Equal(FleImportOutcome.Imported, (await store.ImportTrajectoryAsync(Record("bad", 40))).Outcome);
        var conflict = await Assert.ThrowsAsync<FleException>(() => store.ImportTrajectoryAsync(Record("bad", 5), FleConflictAction.Error));
        Assert.Equal(FleErrorIds.ImportConflict, conflict.ErrorId);
        var replaced = await store.ImportTrajectoryAsync(Record("bad", 5), FleConflictAction.Overwrite);
        Assert.Equal(FleImportOutcome.Replaced, replaced.Outcome);
        Assert.Equal(5, await store.CountStepsAsync("bad"));
        Assert.Equal(5, (await store.GetInfoAsync()).Steps);
        // The replaced trajectory's states decode (no stale keyframe from the one it replaced).
        Assert.Equal(Sha(FleState(2, 0)), Sha((await store.GetCheckpointAsync("bad", 4))!.GameState));
        Assert.All(await store.CheckAsync(deep: true), c => Assert.Equal(FleCheckStatus.Passed, c.Status));
    }

    [Fact]
    public async Task TruncatedExportFile_ImportsOnlyTheWholeTrajectories()
    {
        await using var src = await dbs.SqliteAsync();
        var ids = await SeedAsync(src);
        var file = dbs.NewPath("cut.jsonl");
        await src.ExportToFileAsync(new FleTrajectoryQuery(), file);
        var lines = File.ReadAllLines(file);
        var second = Array.FindIndex(lines, 2, l => l.Contains("\"type\":\"trajectory\"", StringComparison.Ordinal));
        File.WriteAllLines(file, lines.Take(second + 2));
        await using var dst = await dbs.SqliteAsync();
        var e = await Assert.ThrowsAsync<FleException>(() => dst.ImportFileAsync(file));
        Assert.Equal(FleErrorIds.ImportFileInvalid, e.ErrorId);
        var present = (await dst.GetAllTrajectoriesAsync()).Select(t => t.Id).ToList();
        Assert.Single(present);
        Assert.Equal(await src.CountStepsAsync(present[0]), await dst.CountStepsAsync(present[0]));
    }

    [Fact]
    public async Task SqliteBackup_WhileAnotherConnectionWrites_IsConsistentAndOwnerOnly()
    {
        var path = dbs.NewPath("busy.db");
        await using var store = await dbs.SqliteAsync(path);
        await using var writer = await dbs.SqliteAsync(path);
        var t = await writer.CreateTrajectoryAsync("busy");
        using var stop = new CancellationTokenSource();
        var written = 0;
        var writing = Task.Run(async () =>
        {
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                await writer.SaveCheckpointAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = n, AgentCode = new string('x', 2000), GameState = FleState(5, n) });
                written = n;
            }
        });
        while (written < 20) await Task.Delay(20);
        var folder = dbs.NewPath("backups");
        var backups = new List<FleBackup>();
        for (var i = 0; i < 3; i++) backups.Add(await store.BackupAsync(folder + Path.DirectorySeparatorChar, retain: 2));
        Assert.False(writing.IsCompleted);
        stop.Cancel();
        await writing;
        Assert.Equal(2, Directory.GetFiles(folder, "fle-sqlite-*.db").Length);
        var last = backups[^1];
        Assert.Equal(FleBackupKind.SqliteFile, last.Kind);
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(last.Path));
        await using var conn = new SqliteConnection($"Data Source={last.Path};Mode=ReadOnly;Pooling=False");
        await conn.OpenAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "PRAGMA integrity_check";
        Assert.Equal("ok", await cmd.ExecuteScalarAsync());
        cmd.CommandText = "SELECT COUNT(*) FROM steps s JOIN game_states g ON g.step_id = s.id";
        Assert.True(Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture) >= 20);
        // The copy is a Fle database whose every state decodes.
        await using var copy = await dbs.SqliteAsync(last.Path);
        Assert.All(await copy.CheckAsync(deep: true), c => Assert.NotEqual(FleCheckStatus.Failed, c.Status));
    }
}
