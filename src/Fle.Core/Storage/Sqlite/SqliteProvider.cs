using System.Data;
using System.Data.Common;
using System.Globalization;
using Dapper;
using Fle.Core.Configuration;
using Fle.Core.Transfer;
using Microsoft.Data.Sqlite;

namespace Fle.Core.Storage.Sqlite;

/// <summary>
/// The SQLite backend: WAL journal, synchronous=NORMAL (a process crash loses nothing that was acknowledged), foreign
/// keys on, a busy timeout, and writes in BEGIN IMMEDIATE transactions with a bounded retry, so several processes can
/// write one file without "database is locked" reaching the user. The hot write path is in SqliteProvider.Writer.cs,
/// storage faults in .Faults.cs, closing in .Lifetime.cs, backup, restore and maintenance in .Maintenance.cs.
/// </summary>
internal sealed partial class SqliteProvider : StorageProvider
{
    internal const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'";
    private readonly string _connectionString;

    public SqliteProvider(FleSettings settings) : base(settings)
    {
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = settings.SqlitePath,
            // Never create: InitializeAsync creates the file (owner-only) once; a file deleted later must not silently come
            // back empty under a connection opened afterwards.
            Mode = SqliteOpenMode.ReadWrite,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            ForeignKeys = true,
            DefaultTimeout = settings.BusyTimeoutSeconds,
        }.ToString();
    }

    public override FleBackend Backend => FleBackend.Sqlite;

    public override SqlDialect Dialect => SqliteDialect.Instance;

    public override IReadOnlyList<Schema.Migration> Migrations => SqliteSchema.Migrations;

    /// <summary>The file path.</summary>
    public string Path => Settings.SqlitePath;

    public override async Task InitializeAsync(CancellationToken ct)
    {
        var path = Settings.SqlitePath;
        bool fresh;
        try
        {
            var dir = System.IO.Path.GetDirectoryName(path);
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            if (!File.Exists(path)) CreateOwnerOnlyFile(path);
            fresh = new FileInfo(path).Length == 0;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new FleException(FleErrorIds.PathNotWritable, FleErrorKind.PermissionDenied,
                $"Cannot create the SQLite database '{path}': {e.Message} Check that the folder exists and is writable, or set SQLITE_DB_FILE to another path.",
                e, path);
        }
        await using (var conn = (SqliteConnection)await OpenConnectionAsync(ct).ConfigureAwait(false))
        {
            // A new file gets NewFilePageSize pages (before anything is written: after that only VACUUM outside WAL changes it).
            if (fresh)
                await conn.ExecuteAsync(new CommandDefinition($"PRAGMA page_size = {NewFilePageSize}", cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
            await conn.ExecuteAsync(new CommandDefinition("PRAGMA journal_mode=WAL", cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
            await conn.ExecuteAsync(new CommandDefinition(SqliteSchema.VersionTable, cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
            var current = await ReadVersionAsync(conn, null, ct).ConfigureAwait(false);
            if (current > Schema.CurrentVersion) throw Schema.TooNew(Location, current);
            if (current < Schema.CurrentVersion)
            {
                await using var tx = (SqliteTransaction)await conn.BeginTransactionAsync(ct).ConfigureAwait(false); // BEGIN IMMEDIATE
                current = await ReadVersionAsync(conn, tx, ct).ConfigureAwait(false); // another process may have won the race
                await ApplyMigrationsAsync(conn, tx, current, ct).ConfigureAwait(false);
                await tx.CommitAsync(ct).ConfigureAwait(false);
            }
            SchemaVersion = Schema.CurrentVersion;
        }
        Register();
    }

    /// <summary>
    /// The page size of the files Fle creates. A step's row (its code and feedback as plain text, a few KB) took a 4 KiB
    /// page of its own, most of a page lost per step; with 1 KiB pages it spills into overflow pages that are filled, and a
    /// delta-encoded state (hundreds of bytes) fits one page. Bench section 2: 10.4-10.6 % of the raw payload on disk at
    /// 4 KiB, 8.4-8.9 % at 1 KiB (issue 15). Files made before keep their page size.
    /// </summary>
    internal const int NewFilePageSize = 1024;

    private static Task<int> ReadVersionAsync(SqliteConnection conn, SqliteTransaction? tx, CancellationToken ct)
        => conn.ExecuteScalarAsync<int>(new CommandDefinition("SELECT COALESCE(MAX(version), 0) FROM fle_schema_version", transaction: tx, cancellationToken: ct, commandType: CommandType.Text));

    internal static void CreateOwnerOnlyFile(string path)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try { using var _ = new FileStream(path, options); }
        catch (IOException) when (File.Exists(path)) { /* created by another process meanwhile */ }
    }

    public override async Task<DbConnection> OpenConnectionAsync(CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var conn = new SqliteConnection(_connectionString);
        try
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
            Configure(conn);
            return conn;
        }
        catch
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public override DbConnection OpenConnection()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var conn = new SqliteConnection(_connectionString);
        try
        {
            conn.Open();
            Configure(conn);
            return conn;
        }
        catch
        {
            conn.Dispose();
            throw;
        }
    }

    private void Configure(SqliteConnection conn)
    {
        // Hand-written: runs on every connection a pool hands out (a few microseconds matter on the read path).
        using var cmd = conn.CreateCommand();
        // case_sensitive_like: prefix filters (LIKE 'x%') must match case-sensitively, as on PostgreSQL.
        // journal_size_limit: the WAL file is cut back to this size whenever it starts over (after a large import, say).
        cmd.CommandText = $"PRAGMA busy_timeout = {Settings.BusyTimeoutSeconds * 1000}; PRAGMA synchronous = NORMAL; PRAGMA case_sensitive_like = ON; " +
            $"PRAGMA journal_size_limit = {JournalSizeLimit};";
        cmd.ExecuteNonQuery();
    }

    public override object TimeParameter(DateTime utc) => FormatTime(utc);

    internal static string FormatTime(DateTime utc) => FleClock.Truncate(utc).ToString(TimeFormat, CultureInfo.InvariantCulture);

    public override DateTime ReadTime(DbDataReader reader, int ordinal) => ParseTime(reader.GetString(ordinal));

    internal static DateTime ParseTime(string s)
    {
        if (DateTime.TryParseExact(s, TimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t))
            return DateTime.SpecifyKind(t, DateTimeKind.Utc);
        return DateTime.SpecifyKind(DateTime.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal), DateTimeKind.Utc);
    }

    public override Task<FleImportItemResult> BulkImportAsync(DbConnection conn, TrajectoryImport import, CancellationToken ct)
        => SqliteBulkImport.RunAsync(this, (SqliteConnection)conn, import, ct);
}

/// <summary>SQLite's JSON: TEXT columns (checked with json_valid), read and written as they are; paths with json_extract.</summary>
internal sealed class SqliteDialect : SqlDialect
{
    public static readonly SqliteDialect Instance = new();

    public override string JsonText(string column) => column;

    public override string JsonValue(string parameter) => parameter;

    public override string JsonPathText(string column, params string[] path) => $"json_extract({column}, '{JsonPath(path)}')";

    // json_extract gives objects and arrays as JSON text, scalars as their SQL values.
    public override string JsonPathJson(string column, params string[] path) => JsonPathText(column, path);

    public override string JsonNumber(string column, string keyParameter)
        => $"(CASE WHEN json_type({column}, {keyParameter}) IN ('integer', 'real') THEN json_extract({column}, {keyParameter}) END)";

    // A JSON path that quotes the key: '$."a b"' (a key may hold any character; a quote is escaped for the path).
    public override string JsonKey(string key) => "$.\"" + key.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private static string JsonPath(string[] path) => "$" + string.Concat(path.Select(p => "." + p));
}
