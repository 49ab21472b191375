using System.Data;
using System.Data.Common;
using Dapper;
using Fle.Core.Codec;
using Fle.Core.Configuration;
using Fle.Core.Transfer;

namespace Fle.Core.Storage;

/// <summary>
/// The seam between the engine (<see cref="FleStore"/>: validation, the codec, the shape of transactions, progress,
/// errors) and one database backend. A provider owns its connections and everything its database does differently:
/// its dialect, its hot write path, its bulk import, backup and restore, maintenance and what it tells about itself.
/// One folder per backend (Storage/Sqlite, Storage/Postgres), registered in <see cref="StorageProviders"/>: a third
/// backend is a new folder and one line there. No code outside a provider tests which backend it is.
/// </summary>
internal abstract class StorageProvider : IAsyncDisposable
{
    protected StorageProvider(FleSettings settings) => Settings = settings;

    public FleSettings Settings { get; }

    public abstract FleBackend Backend { get; }

    /// <summary>File path or user@host:port/database; never a password.</summary>
    public string Location => Settings.Describe();

    /// <summary>Schema version of the open database (set by <see cref="InitializeAsync"/>).</summary>
    public int SchemaVersion { get; protected set; }

    public abstract SqlDialect Dialect { get; }

    /// <summary>The schema of this backend, as ordered forward migrations.</summary>
    public abstract IReadOnlyList<Schema.Migration> Migrations { get; }

    /// <summary>Called when the database under the store was replaced (a restore, a file swapped): cached keyframes are stale.</summary>
    public Action? DatabaseReplaced { get; set; }

    // ------------------------------------------------------------------ connections and errors

    /// <summary>Create the database when it does not exist, and create or upgrade the schema.</summary>
    public abstract Task InitializeAsync(CancellationToken ct);

    /// <summary>Apply, inside <paramref name="tx"/>, every migration newer than <paramref name="current"/> and record each.</summary>
    protected async Task ApplyMigrationsAsync(DbConnection conn, DbTransaction tx, int current, CancellationToken ct)
    {
        foreach (var m in Migrations.Where(m => m.Version > current).OrderBy(m => m.Version))
        {
            foreach (var sql in m.Statements)
                await conn.ExecuteAsync(new CommandDefinition(sql, transaction: tx, cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
            await conn.ExecuteAsync(new CommandDefinition("INSERT INTO fle_schema_version (version, description, applied_at) VALUES (@v, @d, @t)",
                new { v = m.Version, d = m.Description, t = TimeParameter(FleClock.UtcNow()) }, tx, cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
        }
    }

    public abstract Task<DbConnection> OpenConnectionAsync(CancellationToken ct);
    public abstract DbConnection OpenConnection();

    /// <summary>Translate a provider exception into a FleException, or null to let it through.</summary>
    public abstract FleException? Translate(Exception e, string? trajectoryId = null, long? stepNumber = null);

    /// <summary>A broken connection (server restart): running the operation again on a fresh connection is safe for reads.</summary>
    public virtual bool IsTransient(Exception e) => false;

    /// <summary>Before such a retry: drop dead pooled connections, back off a little.</summary>
    public virtual Task BeforeRetryAsync(int attempt, CancellationToken ct) => Task.CompletedTask;

    /// <summary>A time as this backend's parameter (SQLite: ISO text with microseconds; PostgreSQL: timestamptz).</summary>
    public abstract object TimeParameter(DateTime utc);

    public abstract DateTime ReadTime(DbDataReader reader, int ordinal);

    // ------------------------------------------------------------------ writing

    /// <summary>Write one step (and its state) atomically: the hot path. Returns the step id, state id and a new dictionary row's id.</summary>
    public abstract Task<(long StepId, long StateId, long? NewDictionaryId)> WriteStepAsync(FleStepInput input, string metadataJson, DateTime timestamp,
        EncodedState? state, CancellationToken ct);

    /// <summary>Write one trajectory of an import in one transaction on <paramref name="conn"/> (see <see cref="TrajectoryImport"/>).</summary>
    public abstract Task<FleImportItemResult> BulkImportAsync(DbConnection conn, TrajectoryImport import, CancellationToken ct);

    // ------------------------------------------------------------------ watching

    /// <summary>
    /// Start noticing changes that may concern a trajectory (see <see cref="ChangeWatch"/>): SQLite polls PRAGMA
    /// data_version, PostgreSQL LISTENs on a connection of its own.
    /// </summary>
    public abstract Task<ChangeWatch> WatchAsync(string trajectoryId, CancellationToken ct);

    /// <summary>
    /// After a change that a watch would not notice by itself (a trajectory's status, made on <paramref name="conn"/>):
    /// tell the watches of that trajectory. Nothing to do where a watch sees every commit (SQLite).
    /// </summary>
    public virtual Task NotifyChangedAsync(DbConnection conn, string trajectoryId, CancellationToken ct) => Task.CompletedTask;

    // ------------------------------------------------------------------ backup and restore

    /// <summary>Where backups go by default.</summary>
    public abstract string DefaultBackupFolder(string workingDirectory);

    /// <summary>The kind of backup this backend makes now (PostgreSQL without pg_dump: a Fle export file, which the engine writes).</summary>
    public abstract FleBackupKind PlannedBackupKind { get; }

    /// <summary>Refuse a backup destination that is the database itself.</summary>
    public virtual void CheckBackupDestination(string path) { }

    /// <summary>Write a backup of <see cref="PlannedBackupKind"/> (not an export file) to <paramref name="path"/>, created owner-only.</summary>
    public abstract Task BackupAsync(string path, CancellationToken ct);

    /// <summary>Restore a backup of this kind (never an export file: the engine imports those) into the database, whole, or refuse it.</summary>
    public abstract Task RestoreAsync(FleBackupKind kind, string path, IProgress<FleProgress>? progress, CancellationToken ct);

    // ------------------------------------------------------------------ maintenance and information

    /// <summary>Size on disk of the database.</summary>
    public abstract Task<long> GetSizeOnDiskAsync(CancellationToken ct);

    /// <summary>The SQL that lists the names of the database's indexes.</summary>
    public abstract string ListIndexesSql { get; }

    /// <summary>What Optimize does, in a line (for -WhatIf and -Confirm).</summary>
    public abstract string OptimizePlan { get; }

    /// <summary>The steps of Optimize before and after the schema's indexes are created: (what, SQL).</summary>
    public abstract (IReadOnlyList<(string Label, string Sql)> Before, IReadOnlyList<(string Label, string Sql)> After) OptimizeSteps { get; }

    /// <summary>What the backend tells about itself: journal mode, server version, file sizes.</summary>
    public abstract Task<BackendInfo> DescribeAsync(DbConnection conn, CancellationToken ct);

    /// <summary>The backend's own integrity checks of an open database (SQLite: journal mode, integrity_check, foreign_key_check).</summary>
    public virtual Task<IReadOnlyList<FleDatabaseCheck>> CheckIntegrityAsync(DbConnection conn, CheckFactory check, CancellationToken ct)
        => Task.FromResult<IReadOnlyList<FleDatabaseCheck>>([]);

    /// <summary>
    /// Checks before anything is opened (a missing SQLite file is reported, never created). Returns false when the
    /// database cannot be opened at all.
    /// </summary>
    public virtual bool CheckBeforeOpen(List<FleDatabaseCheck> checks, CheckFactory check) => true;

    /// <summary>A hint added to a failed connection check (how to test the connection by hand).</summary>
    public virtual string ConnectHint => "";

    public abstract ValueTask DisposeAsync();
}

/// <summary>Builds one check result: (check, status, message, problems).</summary>
internal delegate FleDatabaseCheck CheckFactory(string check, FleCheckStatus status, string message, long problems = 0);

/// <summary>What a backend tells about itself in <see cref="FleStore.GetInfoAsync"/>.</summary>
internal sealed record BackendInfo(long SizeOnDisk, string? JournalMode, string ServerVersion, long? FileSize, long? WalSize);

/// <summary>The backends Fle knows, by <see cref="FleBackend"/>: a new backend is a folder under Storage and a line here.</summary>
internal static class StorageProviders
{
    /// <summary>How to make a backend's provider, and whether its database opens without a network or a new file (tab completion).</summary>
    private sealed record Entry(Func<FleSettings, StorageProvider> Create, Func<FleSettings, bool> OpensQuietly);

    // Factories, not a switch of constructors: a provider's assemblies (Npgsql) load only when it is used.
    private static readonly Dictionary<FleBackend, Entry> Backends = new()
    {
        [FleBackend.Sqlite] = new(s => new Sqlite.SqliteProvider(s), s => File.Exists(s.SqlitePath)),
        [FleBackend.Postgres] = new(s => new Postgres.PostgresProvider(s), _ => false),
    };

    /// <summary>The provider of the settings' backend (not opened yet: see <see cref="StorageProvider.InitializeAsync"/>).</summary>
    public static StorageProvider Create(FleSettings settings) => Get(settings).Create(settings);

    /// <summary>True when opening the database reaches no server and creates nothing (an existing local file).</summary>
    public static bool OpensQuietly(FleSettings settings) => Get(settings).OpensQuietly(settings);

    private static Entry Get(FleSettings settings) => Backends.TryGetValue(settings.Backend, out var e) ? e
        : throw new FleException(FleErrorIds.UnknownDatabaseType, FleErrorKind.InvalidConfiguration, $"No storage provider for {settings.Backend}.");
}
