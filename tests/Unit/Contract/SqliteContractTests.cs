using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Storage;
using Fle.Tests.Infrastructure;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Contract;

/// <summary>The contract on SQLite (a fresh file per test), plus what only a file database has.</summary>
public sealed class SqliteContractTests(SqliteBackendFixture fixture) : StoreContractTests(fixture), IClassFixture<SqliteBackendFixture>
{
    private SqliteTestDatabase File => (SqliteTestDatabase)Db;

    [ContractFact]
    public void The_store_is_a_SQLite_store_on_the_test_file()
    {
        Assert.Equal(FleBackend.Sqlite, Store.Backend);
        Assert.IsType<Fle.Core.Storage.Sqlite.SqliteProvider>(Store.Provider);
        Assert.Equal(File.FilePath, Store.Location);
        Assert.True(System.IO.File.Exists(File.FilePath));
    }

    [ContractFact]
    public void A_new_database_file_is_readable_and_writable_by_its_owner_only()
    {
        if (OperatingSystem.IsWindows()) return;
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, System.IO.File.GetUnixFileMode(File.FilePath));
    }

    [ContractFact]
    public async Task The_default_file_is_dot_fle_slash_data_db_under_the_working_directory_and_its_folders_are_created()
    {
        var wd = Path.Combine(File.Folder, "project");
        Directory.CreateDirectory(wd);
        var settings = FleSettingsResolver.Resolve(new FleSettingsOverrides { WorkingDirectory = wd, Environment = new Dictionary<string, string?>() });
        Assert.Equal(FleBackend.Sqlite, settings.Backend);
        Assert.Equal(Path.Combine(wd, ".fle", "data.db"), settings.SqlitePath);
        Assert.False(Directory.Exists(Path.Combine(wd, ".fle")));

        await using (var store = await FleStore.OpenAsync(settings))
        {
            await store.CreateTrajectoryAsync("task", null, "in-default-file", null);
        }
        Assert.True(System.IO.File.Exists(Path.Combine(wd, ".fle", "data.db")));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, System.IO.File.GetUnixFileMode(Path.Combine(wd, ".fle", "data.db")));

        // a relative SQLITE_DB_FILE with several missing folders
        var deep = FleSettingsResolver.Resolve(new FleSettingsOverrides
        {
            WorkingDirectory = wd, Environment = new Dictionary<string, string?> { ["SQLITE_DB_FILE"] = "a/b/c/runs.db" },
        });
        Assert.Equal(Path.Combine(wd, "a", "b", "c", "runs.db"), deep.SqlitePath);
        await using (var store = await FleStore.OpenAsync(deep))
            Assert.Empty(await store.GetAllTrajectoriesAsync());
        Assert.True(System.IO.File.Exists(deep.SqlitePath));

        // reopening the default file finds the data again
        await using (var store = await FleStore.OpenAsync(settings))
            Assert.True(await store.TrajectoryExistsAsync("in-default-file"));
    }

    [ContractFact]
    public async Task A_file_that_is_not_SQLite_fails_with_NotADatabase_and_is_left_alone()
    {
        var path = Path.Combine(File.Folder, "not-a-db.db");
        var junk = RandomBytes(8192, 99);
        await System.IO.File.WriteAllBytesAsync(path, junk);
        var e = await ThrowsFle(FleErrorIds.NotADatabase, () => FleStore.OpenAsync(new FleSettings { SqlitePath = path }));
        Assert.Contains(path, e.Message);
        Assert.Equal(FleErrorKind.InvalidData, e.Kind);
        SameBytes(junk, await System.IO.File.ReadAllBytesAsync(path), "the file after the failed open");

        // a text file, too
        var text = Path.Combine(File.Folder, "notes.db");
        await System.IO.File.WriteAllTextAsync(text, "FLE_DB_TYPE=sqlite\nthis is a text file, not a database, but long enough to have a header........................................\n");
        await ThrowsFle(FleErrorIds.NotADatabase, () => FleStore.OpenAsync(new FleSettings { SqlitePath = text }));
    }

    [ContractFact]
    public async Task An_unwritable_path_fails_with_PathNotWritable()
    {
        var e = await ThrowsFle(FleErrorIds.PathNotWritable, () => FleStore.OpenAsync(new FleSettings { SqlitePath = "/proc/fle/x.db" }));
        Assert.Contains("/proc/fle/x.db", e.Message);
        Assert.Equal(FleErrorKind.PermissionDenied, e.Kind);

        // a folder in the path that is a file
        var file = Path.Combine(File.Folder, "plain-file");
        await System.IO.File.WriteAllTextAsync(file, "x");
        await ThrowsFle(FleErrorIds.PathNotWritable, () => FleStore.OpenAsync(new FleSettings { SqlitePath = Path.Combine(file, "sub", "x.db") }));

        // the path is a directory
        await ThrowsFle(FleErrorIds.PathNotWritable, () => FleStore.OpenAsync(new FleSettings { SqlitePath = File.Folder }));
    }

    [ContractFact]
    public async Task Ten_thousand_saves_keep_the_WAL_bounded_and_the_checkpoints_reach_the_database_file()
    {
        // The test that would have caught the WAL growing to 622 MB next to a 4 KB file: the checkpoints of the write
        // path must run and must let the WAL start over, without the writer ever closing.
        var t = await Store.CreateTrajectoryAsync("wal");
        long largest = 0;
        for (var i = 0; i < 10_000; i++)
        {
            await Store.SaveCheckpointAsync(new FleStepInput
            {
                TrajectoryId = t.Id, StepNumber = i, AgentCode = $"print({i})", EnvironmentFeedback = "ok", GameState = System.Text.Encoding.UTF8.GetBytes($"{{\"tick\":{i}}}"),
            });
            if (i % 200 == 0) largest = Math.Max(largest, new FileInfo(File.FilePath + "-wal").Length);
        }
        Assert.True(largest < 32L << 20, $"the WAL reached {largest:N0} bytes");
        Assert.True(new FileInfo(File.FilePath).Length > 1L << 20, "checkpoints must copy the steps into the database file while the store is open");
    }

    [ContractFact]
    public async Task Closing_the_last_store_of_a_file_folds_the_WAL_in_so_that_the_file_alone_holds_every_step()
    {
        var path = Path.Combine(File.Folder, "fold.db");
        var settings = new FleSettings { SqlitePath = path };
        var first = await FleStore.OpenAsync(settings);
        var second = await FleStore.OpenAsync(settings);
        var t = await first.CreateTrajectoryAsync("fold");
        for (var i = 0; i < 50; i++)
            await first.SaveCheckpointAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = i, AgentCode = "", EnvironmentFeedback = "", GameState = System.Text.Encoding.UTF8.GetBytes($"{{\"n\":{i}}}") });
        await first.DisposeAsync();
        // The other store of the file goes on reading and writing.
        Assert.Equal(50, await second.CountStepsAsync(t.Id));
        await second.SaveCheckpointAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 50, AgentCode = "", EnvironmentFeedback = "", GameState = System.Text.Encoding.UTF8.GetBytes("{}") });
        Assert.True(System.IO.File.Exists(path + "-wal"), "the open store writes into the WAL");
        await second.DisposeAsync();
        Assert.False(System.IO.File.Exists(path + "-wal") && new FileInfo(path + "-wal").Length > 0, "the last store folds the WAL in");

        // A copy of the file alone (the spec's cp) holds all 51.
        var copy = Path.Combine(File.Folder, "fold-copy.db");
        System.IO.File.Copy(path, copy);
        await using var reopened = await FleStore.OpenAsync(new FleSettings { SqlitePath = copy });
        Assert.Equal(51, await reopened.CountStepsAsync(t.Id));
    }

    [ContractFact]
    public async Task A_database_file_deleted_under_the_writer_is_written_back_and_the_next_save_works()
    {
        var t = await Store.CreateTrajectoryAsync("deleted");
        for (var i = 0; i < 5; i++)
            await Store.SaveCheckpointAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = i, AgentCode = "", EnvironmentFeedback = "", GameState = RandomBytes(5000, i) });
        System.IO.File.Delete(File.FilePath);
        var e = await ThrowsFle(FleErrorIds.StorageFileMoved, () => Store.SaveCheckpointAsync(new FleStepInput
        {
            TrajectoryId = t.Id, StepNumber = 5, AgentCode = "", EnvironmentFeedback = "", GameState = RandomBytes(5000, 5),
        }));
        Assert.Equal(FleErrorKind.StorageError, e.Kind);
        Assert.Contains(File.FilePath, e.Message);
        Assert.True(System.IO.File.Exists(File.FilePath));
        await Store.SaveCheckpointAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 5, AgentCode = "", EnvironmentFeedback = "", GameState = RandomBytes(5000, 5) });
        for (var i = 0; i <= 5; i++)
            SameBytes(RandomBytes(5000, i), (await Store.GetCheckpointAsync(t.Id, i))!.GameState, $"step {i}");
    }

    [ContractFact]
    public async Task New_files_have_1_KiB_pages_older_files_keep_theirs_and_a_4_KiB_backup_restores_into_a_1_KiB_file()
    {
        static long PageSize(string path)
        {
            using var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=false;Mode=ReadOnly");
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "PRAGMA page_size";
            return (long)cmd.ExecuteScalar()!;
        }
        Assert.Equal(Fle.Core.Storage.Sqlite.SqliteProvider.NewFilePageSize, PageSize(File.FilePath));

        // a file with 4 KiB pages (as Fle 0.1.0 made them) is used as it is
        var old = Path.Combine(File.Folder, "old-pages.db");
        using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={old};Pooling=false"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "PRAGMA page_size=4096; CREATE TABLE x (y); DROP TABLE x;";
            cmd.ExecuteNonQuery();
        }
        string id;
        await using (var o = await FleStore.OpenAsync(new FleSettings { SqlitePath = old }))
        {
            id = (await o.CreateTrajectoryAsync("old-pages")).Id;
            for (var i = 0; i < 20; i++)
                await o.SaveCheckpointAsync(new FleStepInput { TrajectoryId = id, StepNumber = i, AgentCode = $"print({i})", EnvironmentFeedback = "ok", GameState = RandomBytes(3000, i) });
        }
        Assert.Equal(4096, PageSize(old));

        // restored into this (1 KiB) database: converted on the way, the live file keeps its page size, every state reads back
        var t = await Store.CreateTrajectoryAsync("replaced");
        await Store.RestoreAsync(old);
        Assert.Equal(Fle.Core.Storage.Sqlite.SqliteProvider.NewFilePageSize, PageSize(File.FilePath));
        Assert.False(await Store.TrajectoryExistsAsync(t.Id));
        for (var i = 0; i < 20; i++) SameBytes(RandomBytes(3000, i), (await Store.GetCheckpointAsync(id, i))!.GameState, $"restored step {i}");
        await Store.SaveCheckpointAsync(new FleStepInput { TrajectoryId = id, StepNumber = 20, AgentCode = "", EnvironmentFeedback = "", GameState = RandomBytes(3000, 20) });
        Assert.Equal(21, await Store.CountStepsAsync(id));
        Assert.Empty(Directory.GetFiles(File.Folder, "*.restore-*"));
    }

    [ContractFact]
    public async Task The_database_uses_WAL_and_enforces_foreign_keys_in_the_schema()
    {
        Assert.Equal("wal", (string?)await Db.ScalarAsync("PRAGMA journal_mode"));
        // a raw step row for a missing trajectory is refused by the schema itself (foreign keys on)
        await Assert.ThrowsAnyAsync<Exception>(() => Db.ExecAsync(
            "INSERT INTO steps (trajectory_id, step_number, agent_code, environment_feedback, timestamp, metadata) VALUES ('nope', 0, '', '', '2024-01-01T00:00:00.000000Z', '{}')"));
    }
}
