using System.Globalization;
using Fle.Core.Configuration;
using Fle.Core.Storage;
using Microsoft.Data.Sqlite;
using Npgsql;
using Xunit;

namespace Fle.Tests.Infrastructure;

/// <summary>A backend the contract runs against; hands every test its own fresh, empty database.</summary>
public interface IBackendFixture
{
    FleBackend Backend { get; }

    Task<TestDatabase> CreateDatabaseAsync();
}

/// <summary>One fresh database (a SQLite file, or a PostgreSQL database), plus raw SQL access to check what the engine wrote.</summary>
public abstract class TestDatabase : IAsyncDisposable
{
    public abstract FleBackend Backend { get; }

    /// <summary>A folder for this test (working directory of the settings; no .env in it unless the test writes one).</summary>
    public abstract string Folder { get; }

    /// <summary>Settings sources pointing at this database, isolated from the process environment.</summary>
    public abstract FleSettingsOverrides Overrides(long? maxStateBytes = null);

    public FleSettings Settings(long? maxStateBytes = null) => FleSettingsResolver.Resolve(Overrides(maxStateBytes));

    public Task<FleStore> OpenAsync(long? maxStateBytes = null) => FleStore.OpenAsync(Settings(maxStateBytes));

    /// <summary>Run raw SQL (outside the engine) and return the first column of the first row, or null.</summary>
    public abstract Task<object?> ScalarAsync(string sql, params (string Name, object? Value)[] parameters);

    public async Task<long> CountAsync(string sql, params (string Name, object? Value)[] parameters)
        => Convert.ToInt64(await ScalarAsync(sql, parameters), CultureInfo.InvariantCulture);

    public async Task ExecAsync(string sql, params (string Name, object? Value)[] parameters) => await ScalarAsync(sql, parameters);

    public abstract ValueTask DisposeAsync();
}

// ---------------------------------------------------------------------------------------------- SQLite

public sealed class SqliteBackendFixture : IBackendFixture, IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "fle-unit-" + Guid.NewGuid().ToString("N")[..12]);

    public SqliteBackendFixture() => Directory.CreateDirectory(_root);

    public FleBackend Backend => FleBackend.Sqlite;

    public Task<TestDatabase> CreateDatabaseAsync()
    {
        var dir = Path.Combine(_root, Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        return Task.FromResult<TestDatabase>(new SqliteTestDatabase(dir));
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

public sealed class SqliteTestDatabase(string folder) : TestDatabase
{
    public override FleBackend Backend => FleBackend.Sqlite;
    public override string Folder => folder;
    public string FilePath => Path.Combine(folder, "fle.db");

    public override FleSettingsOverrides Overrides(long? maxStateBytes = null) => new()
    {
        Backend = FleBackend.Sqlite,
        SqlitePath = FilePath,
        MaxStateBytes = maxStateBytes,
        WorkingDirectory = folder,
        Environment = new Dictionary<string, string?>(),
    };

    public override async Task<object?> ScalarAsync(string sql, params (string Name, object? Value)[] parameters)
    {
        await using var conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = FilePath, Pooling = false, ForeignKeys = true }.ToString());
        await conn.OpenAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (n, v) in parameters) cmd.Parameters.AddWithValue(n, v ?? DBNull.Value);
        var r = await cmd.ExecuteScalarAsync();
        return r is DBNull ? null : r;
    }

    public override ValueTask DisposeAsync() => ValueTask.CompletedTask; // the fixture removes the folder
}

// ---------------------------------------------------------------------------------------------- PostgreSQL

/// <summary>
/// The PostgreSQL server of FLE_TEST_PG. The fixture creates a database of its own (CREATE DATABASE fle_t_...)
/// for the test class and drops it at the end; every test gets a fresh schema in it, selected through the
/// connection string's Search Path (creating a database per test costs a WAL flush and a checkpoint each).
/// </summary>
public sealed class PostgresBackendFixture : IBackendFixture, IAsyncLifetime
{
    private readonly string? _connectionString;
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "fle-unit-pg-" + Guid.NewGuid().ToString("N")[..12]);

    public PostgresBackendFixture()
    {
        // Outside CI without FLE_TEST_PG the tests are skipped (see ContractFact) and the fixture stays idle;
        // in CI without it, this throws and every PostgreSQL test fails with the reason.
        if (PostgresEnvironment.SkipReason is not null) return;
        _connectionString = PostgresEnvironment.Require();
        Database = "fle_t_" + Guid.NewGuid().ToString("N")[..16];
        Directory.CreateDirectory(_folder);
    }

    public FleBackend Backend => FleBackend.Postgres;

    /// <summary>The database this test class owns.</summary>
    public string Database { get; } = "";

    /// <summary>The FLE_TEST_PG connection string, on another database and schema (no pooling for raw test connections).</summary>
    public string ConnectionStringFor(string? database, string? schema = null, bool pooling = true)
    {
        var b = new NpgsqlConnectionStringBuilder(_connectionString ?? throw new InvalidOperationException(PostgresEnvironment.SkipReason));
        if (database is not null) b.Database = database;
        if (schema is not null) b.SearchPath = schema;
        if (!pooling) b.Pooling = false;
        return b.ConnectionString;
    }

    public NpgsqlConnectionStringBuilder ServerBuilder() => new(ConnectionStringFor(null));

    private static async Task ExecAsync(string connectionString, string sql)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task InitializeAsync()
    {
        if (_connectionString is null) return;
        // Any database of the server will do for CREATE/DROP DATABASE: use the one FLE_TEST_PG names.
        try
        {
            await ExecAsync(ConnectionStringFor(null, pooling: false), $"CREATE DATABASE \"{Database}\"");
        }
        catch (PostgresException e) when (e.SqlState == "42501")
        {
            throw new InvalidOperationException(
                $"The role in {PostgresEnvironment.Variable} may not create databases ({e.MessageText}); the tests need a role with CREATEDB.", e);
        }
    }

    public async Task<TestDatabase> CreateDatabaseAsync()
    {
        var schema = "s_" + Guid.NewGuid().ToString("N")[..16];
        await ExecAsync(ConnectionStringFor(Database, pooling: false), $"CREATE SCHEMA \"{schema}\"");
        return new PostgresTestDatabase(this, schema, _folder);
    }

    public async Task DisposeAsync()
    {
        if (_connectionString is null) return;
        NpgsqlConnection.ClearAllPools();
        await ExecAsync(ConnectionStringFor(null, pooling: false), $"DROP DATABASE IF EXISTS \"{Database}\" WITH (FORCE)");
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
    }
}

/// <summary>A fresh schema in the fixture's database; the engine finds it through Search Path.</summary>
public sealed class PostgresTestDatabase(PostgresBackendFixture fixture, string schema, string folder) : TestDatabase
{
    public override FleBackend Backend => FleBackend.Postgres;
    public override string Folder => folder;
    public string Database => fixture.Database;
    public string Schema => schema;

    public override FleSettingsOverrides Overrides(long? maxStateBytes = null) => new()
    {
        ConnectionString = fixture.ConnectionStringFor(fixture.Database, schema),
        MaxStateBytes = maxStateBytes,
        WorkingDirectory = folder,
        Environment = new Dictionary<string, string?>(),
    };

    public override async Task<object?> ScalarAsync(string sql, params (string Name, object? Value)[] parameters)
    {
        await using var conn = new NpgsqlConnection(fixture.ConnectionStringFor(fixture.Database, schema, pooling: false));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var (n, v) in parameters) cmd.Parameters.AddWithValue(n.TrimStart('@'), v ?? DBNull.Value);
        var r = await cmd.ExecuteScalarAsync();
        return r is DBNull ? null : r;
    }

    public override ValueTask DisposeAsync() => ValueTask.CompletedTask; // the fixture drops the whole database
}
