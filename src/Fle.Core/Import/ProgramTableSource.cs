using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Fle.Core.Import;

/// <summary>
/// Read access to FLE's <c>programs</c> table in a SQLite file or a PostgreSQL database: read-only,
/// forward-only readers, one column list for both backends (text and JSONB columns are read as text,
/// TIMESTAMP as TIMESTAMPTZ in the server's time zone, SQLite's state_json as its exact bytes).
/// </summary>
internal abstract class ProgramTableSource : IAsyncDisposable
{
    /// <summary>The columns FLE's DDL creates; any but id and code may be missing in older tables (read as NULL).</summary>
    internal static readonly string[] KnownColumns =
    [
        "id", "version", "instance", "meta", "depth", "created_at", "code", "response", "state_json", "conversation_json",
        "value", "visits", "parent_id", "completion_token_usage", "prompt_token_usage", "token_usage", "holdout_value",
        "raw_reward", "version_description", "model", "achievements_json", "advantage", "ticks", "timing_metrics_json",
    ];

    private static readonly string[] Required = ["id", "code"];

    // Ordinals in the full read (FetchAsync).
    internal const int Id = 0, Version = 1, Instance = 2, Meta = 3, Depth = 4, CreatedAt = 5, Code = 6, Response = 7, State = 8,
        Conversation = 9, Value = 10, Visits = 11, ParentId = 12, CompletionTokens = 13, PromptTokens = 14, TotalTokens = 15,
        HoldoutValue = 16, RawReward = 17, VersionDescription = 18, Model = 19, Achievements = 20, Advantage = 21, Ticks = 22,
        TimingMetrics = 23;

    protected DbConnection Connection { get; }
    private HashSet<string> _columns = new(StringComparer.OrdinalIgnoreCase);

    protected ProgramTableSource(DbConnection connection, string description)
    {
        Connection = connection;
        Description = description;
    }

    /// <summary>A file path or user@host:port/database; never a password.</summary>
    public string Description { get; }

    public static async Task<ProgramTableSource> OpenAsync(string? sqlitePath, string? connectionString, CancellationToken ct)
    {
        if ((sqlitePath is null) == (connectionString is null))
            throw FleException.InvalidArgument("Give either the SQLite file or the PostgreSQL connection string of the FLE database to import.");
        ProgramTableSource source = sqlitePath is not null ? SqliteSource.Create(sqlitePath) : PostgresSource.Create(connectionString!);
        try
        {
            await source.OpenCoreAsync(ct).ConfigureAwait(false);
            return source;
        }
        catch (Exception e) when (e is not FleException && e is not OperationCanceledException)
        {
            await source.DisposeAsync().ConfigureAwait(false);
            throw source.Translate(e);
        }
        catch
        {
            await source.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task OpenCoreAsync(CancellationToken ct)
    {
        await Connection.OpenAsync(ct).ConfigureAwait(false);
        if (!await HasProgramsTableAsync(ct).ConfigureAwait(false))
            throw new FleException(FleErrorIds.SourceInvalid, FleErrorKind.InvalidData,
                $"{Description} has no 'programs' table, so it is not a database written by FLE (fle.commons.db_client). " +
                "Give FLE's SQLite file (SQLITE_DB_FILE, default .fle/data.db) or the connection string of FLE's PostgreSQL database.",
                target: Description) { RecommendedAction = "Check the path or connection string of the FLE database." };
        await using (var cmd = Command("SELECT * FROM programs WHERE 1 = 0"))
        await using (var r = await cmd.ExecuteReaderAsync(CommandBehavior.SchemaOnly, ct).ConfigureAwait(false))
        {
            for (var i = 0; i < r.FieldCount; i++) _columns.Add(r.GetName(i));
        }
        var missing = Required.Where(c => !_columns.Contains(c)).ToList();
        if (missing.Count > 0)
            throw new FleException(FleErrorIds.SourceInvalid, FleErrorKind.InvalidData,
                $"The 'programs' table of {Description} has no column {string.Join(", ", missing)}, so it is not FLE's programs table.",
                target: Description);
    }

    protected abstract Task<bool> HasProgramsTableAsync(CancellationToken ct);

    /// <summary>The expression that reads a known column (NULL when the table lacks it).</summary>
    protected string Col(string name) => _columns.Contains(name) ? Expression(name) : "NULL";

    protected abstract string Expression(string column);

    private string OrderBy => string.Join(", ", new[] { "version", "instance", "created_at" }.Where(_columns.Contains).Append("id"));

    protected DbCommand Command(string sql)
    {
        var cmd = Connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.CommandTimeout = 0;
        return cmd;
    }

    /// <summary>Row count and largest id (rows written after this are left for the next import).</summary>
    public async Task<(long Count, long MaxId)> SurveyAsync(CancellationToken ct)
    {
        await using var cmd = Command("SELECT COUNT(*), MAX(id) FROM programs");
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await r.ReadAsync(ct).ConfigureAwait(false);
        return (Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture), r.IsDBNull(1) ? 0 : Convert.ToInt64(r.GetValue(1), CultureInfo.InvariantCulture));
    }

    // Ordinals in the scan (ScanAsync).
    internal const int ScanId = 0, ScanVersion = 1, ScanInstance = 2, ScanMeta = 3, ScanDepth = 4, ScanCreatedAt = 5, ScanDescription = 6, ScanModel = 7,
        ScanParentId = 8;

    /// <summary>First pass: the small columns that decide runs, their trees, identity and step numbers, in run then step order.</summary>
    public async Task<DbDataReader> ScanAsync(long maxId, CancellationToken ct)
    {
        _scan ??= Command($"SELECT id, {Col("version")}, {Col("instance")}, {Col("meta")}, {Col("depth")}, {Col("created_at")}, " +
                          $"{Col("version_description")}, {Col("model")}, {Col("parent_id")} " +
                          $"FROM programs WHERE id <= {maxId.ToString(CultureInfo.InvariantCulture)} ORDER BY {OrderBy}");
        return await _scan.ExecuteReaderAsync(CommandBehavior.SequentialAccess, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Second pass, for one run: every column of the rows with these ids, ordered by created_at, id (the order of the run
    /// within the scan), one row at a time (SequentialAccess: read the columns in order). One command, prepared once.
    /// </summary>
    public async Task<DbDataReader> FetchAsync(IReadOnlyList<long> ids, CancellationToken ct)
    {
        if (_fetch is null)
        {
            var cols = KnownColumns.Select(c => c == "id" ? "id" : Col(c));
            var order = string.Join(", ", new[] { "created_at" }.Where(_columns.Contains).Append("id"));
            _fetch = Command($"SELECT {string.Join(", ", cols)} FROM programs WHERE {IdsCondition} ORDER BY {order}");
        }
        _fetch.Parameters.Clear();
        AddIds(_fetch, ids);
        return await _fetch.ExecuteReaderAsync(CommandBehavior.SequentialAccess, ct).ConfigureAwait(false);
    }

    private DbCommand? _scan, _fetch;

    /// <summary>id and created_at of the rows with these ids (to tell whether a trajectory imported earlier holds them).</summary>
    public async Task<Dictionary<long, DateTime?>> ReadTimesAsync(IReadOnlyList<long> ids, CancellationToken ct)
    {
        var result = new Dictionary<long, DateTime?>();
        if (ids.Count == 0) return result;
        await using var cmd = Command($"SELECT id, {Col("created_at")} FROM programs WHERE {IdsCondition}");
        AddIds(cmd, ids);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            result[Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture)] = ReadTime(r, 1);
        return result;
    }

    /// <summary>The WHERE condition that selects rows by a list of ids (one parameter, @ids: <see cref="AddIds"/>).</summary>
    protected abstract string IdsCondition { get; }

    protected abstract void AddIds(DbCommand cmd, IReadOnlyList<long> ids);

    /// <summary>created_at as UTC, or null when it is null or not a date.</summary>
    public abstract DateTime? ReadTime(DbDataReader r, int ordinal);

    /// <summary>state_json as its exact bytes, or null.</summary>
    public abstract byte[]? ReadState(DbDataReader r, int ordinal);

    /// <summary>An exception of the provider while reading the source (to be translated), not Fle's own or a cancellation.</summary>
    public static bool IsReadFailure(Exception e)
        => e is not FleException && e is not OperationCanceledException && e is DbException or InvalidCastException or IOException;

    /// <summary>A provider error while reading the source, as a FleException.</summary>
    public abstract FleException Translate(Exception e);

    public async ValueTask DisposeAsync()
    {
        if (_scan is not null) await _scan.DisposeAsync().ConfigureAwait(false);
        if (_fetch is not null) await _fetch.DisposeAsync().ConfigureAwait(false);
        await Connection.DisposeAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    protected FleException Invalid(string why, Exception? inner = null) => new(FleErrorIds.SourceInvalid, FleErrorKind.InvalidData,
        $"Cannot read FLE's programs table from {Description}: {why}", inner, Description);
}

internal sealed class SqliteSource : ProgramTableSource
{
    private readonly string _path;

    private SqliteSource(string path, SqliteConnection conn) : base(conn, path) => _path = path;

    public static SqliteSource Create(string path)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new FleException(FleErrorIds.SourceInvalid, FleErrorKind.InvalidArgument,
                $"'{full}' is a folder; give FLE's SQLite file (for example {Path.Combine(full, "data.db")}).", target: full);
        if (!File.Exists(full))
            throw new FleException(FleErrorIds.SourceInvalid, FleErrorKind.NotFound,
                $"The FLE database file '{full}' does not exist.", target: full) { RecommendedAction = "Check the path (FLE's default is .fle/data.db)." };
        var cs = new SqliteConnectionStringBuilder { DataSource = full, Mode = SqliteOpenMode.ReadOnly, Pooling = false, DefaultTimeout = 30 }.ToString();
        return new SqliteSource(full, new SqliteConnection(cs));
    }

    protected override async Task<bool> HasProgramsTableAsync(CancellationToken ct)
    {
        await using var cmd = Command("SELECT COUNT(*) FROM sqlite_master WHERE type IN ('table', 'view') AND name = 'programs'");
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture) > 0;
    }

    protected override string IdsCondition => "id IN (SELECT value FROM json_each(@ids))";

    protected override void AddIds(DbCommand cmd, IReadOnlyList<long> ids)
        => ((SqliteCommand)cmd).Parameters.AddWithValue("@ids", "[" + string.Join(",", ids.Select(i => i.ToString(CultureInfo.InvariantCulture))) + "]");

    // The exact bytes of the state, whatever SQLite's text encoding and even when not valid UTF-8.
    protected override string Expression(string column) => column == "state_json" ? "CAST(state_json AS BLOB)" : column;

    public override DateTime? ReadTime(DbDataReader r, int ordinal)
    {
        if (r.IsDBNull(ordinal)) return null;
        var v = r.GetValue(ordinal);
        if (v is not string s) return null;
        // CURRENT_TIMESTAMP writes 'YYYY-MM-DD HH:MM:SS' in UTC; Python's adapter adds microseconds.
        return DateTime.TryParse(s.Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
            ? DateTime.SpecifyKind(t, DateTimeKind.Utc) : null;
    }

    public override byte[]? ReadState(DbDataReader r, int ordinal) => r.IsDBNull(ordinal) ? null : (byte[])r.GetValue(ordinal);

    public override FleException Translate(Exception e) => e switch
    {
        FleException fe => fe,
        SqliteException { SqliteErrorCode: 26 } se => Invalid("the file is not a SQLite database.", se),
        SqliteException { SqliteErrorCode: 11 } se => Invalid($"the file is damaged ({se.Message}).", se),
        SqliteException { SqliteErrorCode: 14 } se => Invalid($"the file cannot be opened ({se.Message}).", se),
        SqliteException { SqliteErrorCode: 5 or 6 } se => new FleException(FleErrorIds.DatabaseBusy, FleErrorKind.ResourceBusy,
            $"FLE's database '{_path}' stayed locked by another process. Retry when FLE is idle.", se, _path),
        SqliteException se => Invalid(se.Message, se),
        _ => Invalid(e.Message, e),
    };
}

internal sealed class PostgresSource : ProgramTableSource
{
    private readonly NpgsqlConnectionStringBuilder _builder;

    private PostgresSource(NpgsqlConnectionStringBuilder b, string description) : base(new NpgsqlConnection(b.ConnectionString), description) => _builder = b;

    public static PostgresSource Create(string connectionString)
    {
        NpgsqlConnectionStringBuilder b;
        try { b = new NpgsqlConnectionStringBuilder(connectionString); }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
        {
            // The message of the provider could quote the string: keep it out.
            throw new FleException(FleErrorIds.SourceInvalid, FleErrorKind.InvalidArgument,
                "The PostgreSQL connection string of the FLE database is not valid (Host=...;Port=...;Database=...;Username=...;Password=...).");
        }
        b.ApplicationName ??= "Fle import";
        b.IncludeErrorDetail = false;
        b.PersistSecurityInfo = false;
        if (b.Timeout == 15) b.Timeout = 10;
        var description = $"{b.Username}@{b.Host}:{b.Port.ToString(CultureInfo.InvariantCulture)}/{b.Database}";
        return new PostgresSource(b, description);
    }

    protected override async Task<bool> HasProgramsTableAsync(CancellationToken ct)
    {
        await using var cmd = Command("SELECT to_regclass('programs') IS NOT NULL");
        return (bool)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    protected override string IdsCondition => "id = ANY(@ids)";

    protected override void AddIds(DbCommand cmd, IReadOnlyList<long> ids)
        => ((NpgsqlCommand)cmd).Parameters.Add(new NpgsqlParameter<long[]>("ids", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Bigint) { TypedValue = ids.ToArray() });

    protected override string Expression(string column) => column switch
    {
        // TIMESTAMP (FLE's DDL) is read in the server's time zone, which is what CURRENT_TIMESTAMP used; TIMESTAMPTZ as is.
        "created_at" => "created_at::timestamptz",
        // TEXT or JSONB (some deployments) alike.
        "meta" or "code" or "response" or "state_json" or "conversation_json" or "version_description" or "model"
            or "achievements_json" or "timing_metrics_json" => column + "::text",
        _ => column,
    };

    public override DateTime? ReadTime(DbDataReader r, int ordinal)
    {
        if (r.IsDBNull(ordinal)) return null;
        try { return DateTime.SpecifyKind(r.GetFieldValue<DateTime>(ordinal), DateTimeKind.Utc); }
        catch (InvalidCastException) { return null; } // -infinity / infinity
    }

    public override byte[]? ReadState(DbDataReader r, int ordinal) => r.IsDBNull(ordinal) ? null : Encoding.UTF8.GetBytes(r.GetString(ordinal));

    public override FleException Translate(Exception e) => e switch
    {
        FleException fe => fe,
        PostgresException { SqlState: "28P01" or "28000" } => new FleException(FleErrorIds.AuthenticationFailed, FleErrorKind.AuthenticationError,
            $"The PostgreSQL server of the FLE database ({Description}) refused the user or password.", null, Description),
        PostgresException { SqlState: "3D000" } => new FleException(FleErrorIds.DatabaseUnavailable, FleErrorKind.ConnectionError,
            $"The PostgreSQL server has no database '{_builder.Database}' ({Description}).", null, Description),
        PostgresException pe => Invalid($"{pe.MessageText} ({pe.SqlState})."),
        NpgsqlException { InnerException: SocketException or TimeoutException } or TimeoutException => new FleException(FleErrorIds.DatabaseUnavailable,
            FleErrorKind.ConnectionError, $"Cannot reach the PostgreSQL server of the FLE database ({Description}). Check that it runs and the host and port are right.",
            null, Description),
        NpgsqlException ne => new FleException(FleErrorIds.DatabaseUnavailable, FleErrorKind.ConnectionError,
            $"The PostgreSQL server of the FLE database ({Description}) failed: {ne.Message}", null, Description),
        _ => Invalid(e.Message, e),
    };
}
