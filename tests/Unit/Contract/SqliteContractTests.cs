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
        Assert.IsType<SqliteStore>(Store);
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
    public async Task The_database_uses_WAL_and_enforces_foreign_keys_in_the_schema()
    {
        Assert.Equal("wal", (string?)await Db.ScalarAsync("PRAGMA journal_mode"));
        // a raw step row for a missing trajectory is refused by the schema itself (foreign keys on)
        await Assert.ThrowsAnyAsync<Exception>(() => Db.ExecAsync(
            "INSERT INTO steps (trajectory_id, step_number, agent_code, environment_feedback, timestamp, metadata) VALUES ('nope', 0, '', '', '2024-01-01T00:00:00.000000Z', '{}')"));
    }
}
