using System.Data;
using System.Data.Common;
using System.Net.Sockets;
using Dapper;
using Fle.Core.Configuration;
using Fle.Core.Transfer;
using Npgsql;

namespace Fle.Core.Storage.Postgres;

/// <summary>
/// The PostgreSQL backend: a pooled data source with automatic statement preparation; a checkpoint (keyframe, step and
/// state) is written by one statement, so one round trip, atomically (SqliteProvider.Writer.cs's counterpart is
/// PostgresProvider.Writer.cs). Errors are in .Faults.cs, backup, restore and maintenance in .Maintenance.cs.
/// </summary>
internal sealed partial class PostgresProvider : StorageProvider
{
    private const int MaxConnectRetries = 4;
    private readonly NpgsqlDataSource _dataSource;

    public PostgresProvider(FleSettings settings) : base(settings)
    {
        _dataSource = new NpgsqlDataSourceBuilder(BuildConnectionString(settings)).Build();
    }

    public override FleBackend Backend => FleBackend.Postgres;

    public override SqlDialect Dialect => PostgresDialect.Instance;

    public override IReadOnlyList<Schema.Migration> Migrations => PostgresSchema.Migrations;

    /// <summary>The connection string Fle uses (the caller's, or one built from the settings).</summary>
    internal static string BuildConnectionString(FleSettings s)
    {
        var b = s.ConnectionString is not null ? new NpgsqlConnectionStringBuilder(s.ConnectionString) : new NpgsqlConnectionStringBuilder
        {
            Host = s.Host, Port = s.Port, Database = s.Database, Username = s.Username,
        };
        if (!string.IsNullOrEmpty(s.Password)) b.Password = s.Password;
        if (s.SslMode is { } ssl) b.SslMode = Enum.Parse<SslMode>(ssl, ignoreCase: true);
        if (s.SslRootCertificate is { } root) b.RootCertificate = root;
        b.Timeout = s.ConnectTimeoutSeconds;
        if (s.ConnectionString is null || !s.ConnectionString.Contains("Command Timeout", StringComparison.OrdinalIgnoreCase)) b.CommandTimeout = 120;
        b.MaxAutoPrepare = 32;
        // Fle leaves no session state on its connections (no SET, temporary tables or session locks; transactions end
        // before a connection goes back), so returning one to the pool needs no reset: one statement less per save.
        if (s.ConnectionString is null || !s.ConnectionString.Contains("Reset On Close", StringComparison.OrdinalIgnoreCase)) b.NoResetOnClose = true;
        b.AutoPrepareMinUsages = 2;
        b.ApplicationName ??= "Fle";
        b.IncludeErrorDetail = false; // error details can quote row values
        b.PersistSecurityInfo = false;
        return b.ConnectionString;
    }

    /// <summary>The underlying data source (for bulk work inside the provider).</summary>
    internal NpgsqlDataSource DataSource => _dataSource;

    public override async Task InitializeAsync(CancellationToken ct)
    {
        try
        {
            await using var conn = (NpgsqlConnection)await OpenConnectionAsync(ct).ConfigureAwait(false);
            var current = await ReadVersionAsync(conn, null, ct).ConfigureAwait(false);
            if (current > Schema.CurrentVersion) throw Schema.TooNew(Location, current);
            if (current < Schema.CurrentVersion)
            {
                await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
                await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(7304512298764112)", transaction: tx, cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
                await conn.ExecuteAsync(new CommandDefinition(PostgresSchema.VersionTable, transaction: tx, cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
                current = await ReadVersionAsync(conn, tx, ct).ConfigureAwait(false);
                if (current > Schema.CurrentVersion) throw Schema.TooNew(Location, current);
                await ApplyMigrationsAsync(conn, tx, current, ct).ConfigureAwait(false);
                await tx.CommitAsync(ct).ConfigureAwait(false);
            }
            SchemaVersion = Schema.CurrentVersion;
        }
        catch (Exception e) when (Translate(e) is { ErrorId: FleErrorIds.TlsCertificateUntrusted } fe)
        {
            // Npgsql only says the certificate was rejected: find out whether its chain or its host name was wrong.
            throw await PostgresTls.DiagnoseAsync(Settings, Location, fe.InnerException, ct).ConfigureAwait(false);
        }
    }

    private static async Task<int> ReadVersionAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CancellationToken ct)
    {
        try
        {
            return await conn.ExecuteScalarAsync<int>(new CommandDefinition(
                "SELECT CASE WHEN to_regclass('fle_schema_version') IS NULL THEN 0 ELSE (SELECT COALESCE(MAX(version), 0) FROM fle_schema_version) END",
                transaction: tx, cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == "42P01")
        {
            return 0;
        }
    }

    public override async Task<DbConnection> OpenConnectionAsync(CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
            }
            catch (NpgsqlException e) when (IsRetryableConnect(e) && attempt < MaxConnectRetries)
            {
                // A restarting server refuses connections for a moment: back off and try again (bounded).
                _dataSource.Clear();
                await Task.Delay(TimeSpan.FromMilliseconds(200 * (1 << attempt)), ct).ConfigureAwait(false);
            }
        }
    }

    public override DbConnection OpenConnection() => _dataSource.OpenConnection();

    /// <summary>
    /// An established connection that broke (server restart, network), or a server shutting down. Not a timeout (it
    /// already waited the connect or command timeout) and not a refused or starting-up server (OpenConnectionAsync
    /// retried that already): those fail at once, so an unreachable server is reported within the connect timeout.
    /// </summary>
    public override bool IsTransient(Exception e) => e switch
    {
        PostgresException pe => pe.SqlState is "57P01" or "57P02",
        NpgsqlException { InnerException: TimeoutException } => false,
        NpgsqlException { InnerException: SocketException { SocketErrorCode: SocketError.ConnectionRefused } } => false,
        NpgsqlException ne => ne.IsTransient && !ne.Message.Contains("Timeout", StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    /// <summary>After a server restart every idle pooled connection is dead: drop them all, then back off briefly.</summary>
    public override Task BeforeRetryAsync(int attempt, CancellationToken ct)
    {
        _dataSource.Clear();
        return Task.Delay(TimeSpan.FromMilliseconds(100 * (attempt + 1)), ct);
    }

    /// <summary>
    /// A server that is starting up (57P03) or restarting (connection refused) is retried for about three
    /// seconds in all; a host that does not answer is not retried (it already waited the connect timeout).
    /// </summary>
    private static bool IsRetryableConnect(NpgsqlException e)
        => e is PostgresException { SqlState: "57P03" }
           || (e is not PostgresException && e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused });

    public override object TimeParameter(DateTime utc) => FleClock.Truncate(utc);

    public override DateTime ReadTime(DbDataReader reader, int ordinal)
        => DateTime.SpecifyKind(reader.GetDateTime(ordinal), DateTimeKind.Utc);

    public override Task<FleImportItemResult> BulkImportAsync(DbConnection conn, TrajectoryImport import, CancellationToken ct)
        => PostgresBulkImport.RunAsync(this, (NpgsqlConnection)conn, import, ct);

    public override async ValueTask DisposeAsync() => await _dataSource.DisposeAsync().ConfigureAwait(false);
}

/// <summary>PostgreSQL's JSON: jsonb columns, read as text, written from text parameters; paths with -> and ->>.</summary>
internal sealed class PostgresDialect : SqlDialect
{
    public static readonly PostgresDialect Instance = new();

    public override string JsonText(string column) => column + "::text";

    public override string JsonValue(string parameter) => parameter + "::jsonb";

    public override string JsonPathText(string column, params string[] path)
        => $"({column}{string.Concat(path.SkipLast(1).Select(p => $"->'{p}'"))}->>'{path[^1]}')";

    public override string JsonPathJson(string column, params string[] path) => $"({column}{string.Concat(path.Select(p => $"->'{p}'"))})::text";

    public override string JsonNumber(string column, string keyParameter)
        => $"(CASE WHEN jsonb_typeof({column} -> {keyParameter}::text) = 'number' THEN ({column} ->> {keyParameter}::text)::numeric END)";

    public override string JsonKey(string key) => key;
}
