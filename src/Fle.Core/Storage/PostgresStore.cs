using System.Data.Common;
using System.Globalization;
using System.Net.Sockets;
using Fle.Core.Codec;
using Fle.Core.Configuration;
using Npgsql;
using NpgsqlTypes;

namespace Fle.Core.Storage;

/// <summary>
/// PostgreSQL backend: a pooled data source with automatic statement preparation; a checkpoint
/// (keyframe, step and state) is written by one statement, so one round trip, atomically.
/// </summary>
public sealed class PostgresStore : FleStore
{
    private const int MaxTransientRetries = 5;
    private const int MaxConnectRetries = 4;
    private readonly NpgsqlDataSource _dataSource;
    private static readonly SqlText PgSql = SqlText.Build(alias => $"{alias}.metadata::text", "{0}::jsonb");
    private static readonly Dictionary<(bool NewDict, bool State, bool Overwrite, bool Rooted), string> WriteSql = BuildWriteSql();

    internal PostgresStore(FleSettings settings) : base(settings)
    {
        _dataSource = new NpgsqlDataSourceBuilder(BuildConnectionString(settings)).Build();
    }

    internal override SqlText Sql => PgSql;

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

    /// <summary>The underlying data source (for bulk work inside the engine).</summary>
    internal NpgsqlDataSource DataSource => _dataSource;

    protected override async Task InitializeAsync(CancellationToken ct)
    {
        try
        {
            await RunAsync(async c =>
            {
                await using var conn = await OpenConnectionAsync(c).ConfigureAwait(false);
                await MigrateAsync((NpgsqlConnection)conn, c).ConfigureAwait(false);
                return 0;
            }, null, null, ct).ConfigureAwait(false);
        }
        catch (FleException e) when (e.ErrorId == FleErrorIds.TlsCertificateUntrusted)
        {
            // Npgsql only says the certificate was rejected: find out whether its chain or its host name was wrong.
            throw await PostgresTls.DiagnoseAsync(Settings, Location, e.InnerException, ct).ConfigureAwait(false);
        }
    }

    private async Task MigrateAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        var current = await ReadVersionAsync(conn, null, ct).ConfigureAwait(false);
        if (current > Schema.CurrentVersion) throw Schema.TooNew(Location, current);
        if (current == Schema.CurrentVersion) { SchemaVersion = current; return; }

        await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
        await using (var lk = Command(conn, "SELECT pg_advisory_xact_lock(7304512298764112)", tx))
            await lk.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        await using (var create = Command(conn, Schema.VersionTablePostgres, tx))
            await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        current = await ReadVersionAsync(conn, tx, ct).ConfigureAwait(false);
        if (current > Schema.CurrentVersion) throw Schema.TooNew(Location, current);
        await ApplyMigrationsAsync(conn, tx, Schema.Postgres, current, ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    private static async Task<int> ReadVersionAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CancellationToken ct)
    {
        await using var cmd = Command(conn,
            "SELECT CASE WHEN to_regclass('fle_schema_version') IS NULL THEN 0 ELSE (SELECT COALESCE(MAX(version), 0) FROM fle_schema_version) END", tx);
        try
        {
            return Convert.ToInt32(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
        }
        catch (PostgresException e) when (e.SqlState == "42P01")
        {
            return 0;
        }
    }

    protected internal override async Task<DbConnection> OpenConnectionAsync(CancellationToken ct)
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

    protected internal override DbConnection OpenConnection() => _dataSource.OpenConnection();

    /// <summary>
    /// An established connection that broke (server restart, network), or a server shutting down. Not a timeout (it
    /// already waited the connect or command timeout) and not a refused or starting-up server (OpenConnectionAsync
    /// retried that already): those fail at once, so an unreachable server is reported within the connect timeout.
    /// </summary>
    protected internal override bool IsTransient(Exception e) => e switch
    {
        PostgresException pe => pe.SqlState is "57P01" or "57P02",
        NpgsqlException { InnerException: TimeoutException } => false,
        NpgsqlException { InnerException: SocketException { SocketErrorCode: SocketError.ConnectionRefused } } => false,
        NpgsqlException ne => ne.IsTransient && !ne.Message.Contains("Timeout", StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    /// <summary>After a server restart every idle pooled connection is dead: drop them all, then back off briefly.</summary>
    protected internal override Task BeforeRetryAsync(int attempt, CancellationToken ct)
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

    protected internal override object TimeParameter(DateTime utc) => FleClock.Truncate(utc);

    protected internal override DateTime ReadTime(DbDataReader reader, int ordinal)
        => DateTime.SpecifyKind(reader.GetDateTime(ordinal), DateTimeKind.Utc);

    private protected override async Task<(long StepId, long StateId, long? NewDictionaryId)> WriteStepAsync(
        FleStepInput input, string metadataJson, DateTime timestamp, EncodedState? state, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await WriteOnceAsync(input, metadataJson, timestamp, state, ct).ConfigureAwait(false);
            }
            catch (NpgsqlException e) when (e.IsTransient && attempt < MaxTransientRetries && !ct.IsCancellationRequested)
            {
                // The connection broke (server restart, network). The statement is atomic: it either committed or not.
                _dataSource.Clear();
                await Task.Delay(TimeSpan.FromMilliseconds(250 * (1 << attempt)), ct).ConfigureAwait(false);
                if (await AlreadyWrittenAsync(input, timestamp, ct).ConfigureAwait(false) is { } done) return done;
            }
        }
    }

    /// <summary>After a broken connection: did the write commit before the break? (Same step with the same timestamp.)</summary>
    private async Task<(long, long, long?)?> AlreadyWrittenAsync(FleStepInput input, DateTime ts, CancellationToken ct)
    {
        try
        {
            await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var cmd = Command(conn,
                "SELECT s.id, COALESCE(g.id, 0), g.dictionary_id FROM steps s LEFT JOIN game_states g ON g.step_id = s.id WHERE s.trajectory_id = @t AND s.step_number = @n AND s.\"timestamp\" = @ts");
            Param(cmd, "@t", input.TrajectoryId);
            Param(cmd, "@n", input.StepNumber);
            Param(cmd, "@ts", FleClock.Truncate(ts));
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            if (!await r.ReadAsync(ct).ConfigureAwait(false)) return null;
            return (r.GetInt64(0), r.GetInt64(1), r.IsDBNull(2) ? null : r.GetInt64(2));
        }
        catch (NpgsqlException e) when (e.IsTransient)
        {
            return null;
        }
    }

    private async Task<(long, long, long?)> WriteOnceAsync(FleStepInput input, string meta, DateTime ts, EncodedState? state, CancellationToken ct)
    {
        await using var conn = (NpgsqlConnection)await OpenConnectionAsync(ct).ConfigureAwait(false);
        var newDict = state?.NewDictionaryData is not null;
        var root = newDict ? state!.NewDictionaryRoot : null;
        await using var cmd = new NpgsqlCommand(WriteSql[(newDict, state is not null, input.Overwrite, root is not null)], conn);
        cmd.Parameters.Add(new NpgsqlParameter<string>("t", NpgsqlDbType.Text) { TypedValue = input.TrajectoryId });
        cmd.Parameters.Add(new NpgsqlParameter<long>("n", NpgsqlDbType.Bigint) { TypedValue = input.StepNumber });
        cmd.Parameters.Add(new NpgsqlParameter<string>("code", NpgsqlDbType.Text) { TypedValue = input.AgentCode });
        cmd.Parameters.Add(new NpgsqlParameter<string>("fb", NpgsqlDbType.Text) { TypedValue = input.EnvironmentFeedback });
        cmd.Parameters.Add(new NpgsqlParameter<DateTime>("ts", NpgsqlDbType.TimestampTz) { TypedValue = ts });
        cmd.Parameters.Add(new NpgsqlParameter<string>("meta", NpgsqlDbType.Jsonb) { TypedValue = meta });
        if (state is not null)
        {
            cmd.Parameters.Add(new NpgsqlParameter<short>("codec", NpgsqlDbType.Smallint) { TypedValue = (short)state.Codec });
            cmd.Parameters.Add(new NpgsqlParameter<int>("size", NpgsqlDbType.Integer) { TypedValue = state.RawSize });
            cmd.Parameters.Add(new NpgsqlParameter<byte[]>("data", NpgsqlDbType.Bytea) { TypedValue = state.Data });
            if (newDict)
                cmd.Parameters.Add(new NpgsqlParameter<byte[]>("ddata", NpgsqlDbType.Bytea) { TypedValue = state.NewDictionaryData! });
            if (root is not null)
            {
                cmd.Parameters.Add(new NpgsqlParameter<long>("root", NpgsqlDbType.Bigint) { TypedValue = root.Id });
                cmd.Parameters.Add(new NpgsqlParameter<int>("rsize", NpgsqlDbType.Integer) { TypedValue = root.Content.Length });
            }
            else
                cmd.Parameters.Add(new NpgsqlParameter("dict", NpgsqlDbType.Bigint) { Value = (object?)state.DictionaryId ?? DBNull.Value });
        }
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await r.ReadAsync(ct).ConfigureAwait(false))
            throw root is not null ? new RootKeyframeGoneException() : new InvalidOperationException("The write returned no row.");
        var stepId = r.GetInt64(0);
        var stateId = r.IsDBNull(1) ? 0 : r.GetInt64(1);
        long? dictId = newDict && !r.IsDBNull(2) ? r.GetInt64(2) : null;
        return (stepId, stateId, dictId);
    }

    /// <summary>
    /// The statement of every kind of write. A new keyframe compressed against the trajectory's root keyframe
    /// (rooted) writes nothing at all unless that root is still stored: every insert selects from "ok", and the
    /// caller sees no row (<see cref="RootKeyframeGoneException"/>).
    /// </summary>
    private static Dictionary<(bool, bool, bool, bool), string> BuildWriteSql()
    {
        var map = new Dictionary<(bool, bool, bool, bool), string>();
        foreach (var newDict in new[] { false, true })
        foreach (var withState in new[] { false, true })
        foreach (var overwrite in new[] { false, true })
        foreach (var rooted in new[] { false, true })
        {
            if (newDict && !withState) continue;
            if (rooted && !newDict) continue;
            var ok = rooted ? "ok AS (SELECT 1 WHERE EXISTS (SELECT 1 FROM state_dictionaries WHERE id = @root AND trajectory_id = @t AND raw_size = @rsize)), " : "";
            var from = rooted ? " FROM ok" : "";
            var step = "INSERT INTO steps (trajectory_id, step_number, agent_code, environment_feedback, \"timestamp\", metadata) "
                + (rooted ? "SELECT @t, @n, @code, @fb, @ts, @meta FROM ok" : "VALUES (@t, @n, @code, @fb, @ts, @meta)")
                + (overwrite
                    ? " ON CONFLICT (trajectory_id, step_number) DO UPDATE SET agent_code = EXCLUDED.agent_code, environment_feedback = EXCLUDED.environment_feedback, \"timestamp\" = EXCLUDED.\"timestamp\", metadata = EXCLUDED.metadata"
                    : "")
                + " RETURNING id";
            string sql;
            if (!withState)
            {
                sql = overwrite
                    ? $"WITH s AS ({step}), del AS (DELETE FROM game_states WHERE step_id IN (SELECT id FROM s)) SELECT id, NULL::bigint, NULL::bigint FROM s"
                    : $"{step}, NULL::bigint, NULL::bigint";
            }
            else
            {
                var dict = newDict
                    ? $"{ok}d AS (INSERT INTO state_dictionaries (trajectory_id, raw_size, data, created_at) SELECT @t, @size, @ddata, @ts{from} RETURNING id), "
                    : "";
                var dictRef = newDict ? "(SELECT id FROM d)" : "@dict";
                var conflict = overwrite
                    ? " ON CONFLICT (step_id) DO UPDATE SET codec = EXCLUDED.codec, dictionary_id = EXCLUDED.dictionary_id, raw_size = EXCLUDED.raw_size, state_data = EXCLUDED.state_data, \"timestamp\" = EXCLUDED.\"timestamp\""
                    : "";
                sql = $"WITH {dict}s AS ({step}) INSERT INTO game_states (trajectory_id, step_id, step_number, codec, dictionary_id, raw_size, state_data, \"timestamp\") " +
                      $"SELECT @t, s.id, @n, @codec, {dictRef}, @size, @data, @ts FROM s{conflict} RETURNING step_id, id, dictionary_id";
            }
            map[(newDict, withState, overwrite, rooted)] = sql;
        }
        return map;
    }

    protected internal override FleException? Translate(Exception e, string? trajectoryId = null, long? stepNumber = null)
    {
        switch (e)
        {
            case FleException fe:
                return fe;
            case OperationCanceledException:
                return null;
            case PostgresException pe:
                return pe.SqlState switch
                {
                    "23503" when trajectoryId is not null => FleException.TrajectoryNotFound(trajectoryId),
                    "23505" when stepNumber is not null => SqliteStore.StepExists(trajectoryId!, stepNumber.Value),
                    "23505" when trajectoryId is not null && pe.ConstraintName == "trajectories_pkey" => new FleException(FleErrorIds.TrajectoryAlreadyExists,
                        FleErrorKind.AlreadyExists, $"A trajectory with id '{trajectoryId}' already exists.", pe, trajectoryId),
                    "28000" when pe.MessageText.Contains("no pg_hba.conf entry", StringComparison.Ordinal) && pe.MessageText.Contains("no encryption", StringComparison.Ordinal)
                        => PostgresTls.Required(Settings, Location),
                    "28000" when pe.MessageText.Contains("no pg_hba.conf entry", StringComparison.Ordinal) => new FleException(FleErrorIds.AuthenticationFailed,
                        FleErrorKind.AuthenticationError,
                        $"PostgreSQL at {Settings.Host}:{Settings.Port} has no pg_hba.conf line that lets user '{Settings.Username}' connect to database '{Settings.Database}' from this host " +
                        "(over TLS either). Ask its administrator to add one, or check the user and database names.", null, Location),
                    "28P01" or "28000" => new FleException(FleErrorIds.AuthenticationFailed, FleErrorKind.AuthenticationError,
                        $"PostgreSQL at {Settings.Host}:{Settings.Port} refused user '{Settings.Username}': the password or the user is wrong ({pe.SqlState}). " +
                        "Check SKILLS_DB_USER and SKILLS_DB_PASSWORD (or -Credential, or PGPASSFILE).", null, Location),
                    "3D000" => new FleException(FleErrorIds.DatabaseUnavailable, FleErrorKind.ConnectionError,
                        $"PostgreSQL at {Settings.Host}:{Settings.Port} has no database '{Settings.Database}'. Create it (CREATE DATABASE {Settings.Database} OWNER {Settings.Username}) or fix SKILLS_DB_NAME.",
                        null, Location),
                    "42501" => new FleException(FleErrorIds.PathNotWritable, FleErrorKind.PermissionDenied,
                        $"User '{Settings.Username}' lacks a privilege on database '{Settings.Database}' ({pe.MessageText}). Grant it, or connect as the database owner.", null, Location),
                    "57P01" or "57P02" or "57P03" or "08006" or "08001" or "08004" => Unreachable(pe),
                    _ => null,
                };
            case NpgsqlException ne when ne.InnerException is null && ne.Message.Contains("password", StringComparison.OrdinalIgnoreCase):
                // Npgsql: "No password has been provided but the backend requires one".
                return new FleException(FleErrorIds.AuthenticationFailed, FleErrorKind.AuthenticationError,
                    $"PostgreSQL at {Settings.Host}:{Settings.Port} requires a password for user '{Settings.Username}' and none was given. " +
                    "Set SKILLS_DB_PASSWORD, pass -Credential, or put it in the file PGPASSFILE names (mode 0600).", null, Location);
            case NpgsqlException { InnerException: System.Security.Authentication.AuthenticationException ae }:
                // The server's certificate was rejected (InitializeAsync finds out why); or the handshake failed otherwise.
                return new FleException(FleErrorIds.TlsCertificateUntrusted, FleErrorKind.ConnectionError,
                    $"The TLS handshake with PostgreSQL at {Settings.Host}:{Settings.Port} failed: {ae.Message} With SslMode {Settings.SslMode}, the server's " +
                    "certificate must be signed by a CA in -RootCertificate / SKILLS_DB_SSLROOTCERT (or the system's store) and name the host.", ae, Location);
            case NpgsqlException ne when ne.Message.Contains("No SSL enabled connection", StringComparison.OrdinalIgnoreCase)
                                         || (Settings.SslMode is "Require" or "VerifyCA" or "VerifyFull" && ne.Message.Contains("SSL", StringComparison.OrdinalIgnoreCase)):
                return PostgresTls.NotOffered(Settings, Location, null);
            case NpgsqlException ne:
                return Unreachable(ne);
            case TimeoutException te:
                return Unreachable(te);
            case FileNotFoundException fnf when Settings.Password is null:
                // Npgsql reads the password file PGPASSFILE names; libpq would ignore a missing one, Npgsql throws.
                return new FleException(FleErrorIds.ConfigurationInvalid, FleErrorKind.InvalidConfiguration,
                    $"PGPASSFILE names the password file '{fnf.FileName}', which does not exist. Create it (mode 0600, lines host:port:database:user:password), " +
                    "unset PGPASSFILE, or give the password with SKILLS_DB_PASSWORD or -Credential.", null, "PGPASSFILE");
            default:
                return null;
        }
    }

    private FleException Unreachable(Exception e)
    {
        var why = e.InnerException switch
        {
            SocketException se => se.SocketErrorCode.ToString(),
            TimeoutException => $"no answer within {Settings.ConnectTimeoutSeconds} s",
            _ when e is PostgresException pe => pe.MessageText,
            _ when e.Message.Contains("Timeout", StringComparison.OrdinalIgnoreCase) => $"no answer within {Settings.ConnectTimeoutSeconds} s",
            _ => e.Message.TrimEnd('.'),
        };
        return new FleException(FleErrorIds.DatabaseUnavailable, FleErrorKind.ConnectionError,
            $"Cannot reach PostgreSQL at {Settings.Host}:{Settings.Port} (database '{Settings.Database}'): {why}. " +
            "Check that the server is running and that SKILLS_DB_HOST and SKILLS_DB_PORT are right; test with psql -h HOST -p PORT -U USER DATABASE.",
            null, Location)
        { RecommendedAction = "Start the PostgreSQL server or fix the host and port." };
    }

    protected override async ValueTask DisposeCoreAsync() => await _dataSource.DisposeAsync().ConfigureAwait(false);
}
