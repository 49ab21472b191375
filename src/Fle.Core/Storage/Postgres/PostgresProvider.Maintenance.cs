using System.Data;
using System.Data.Common;
using System.Globalization;
using Dapper;
using Fle.Core.Transfer;

namespace Fle.Core.Storage.Postgres;

/// <summary>PostgreSQL's backup (pg_dump), restore (pg_restore, psql), optimisation and information.</summary>
internal sealed partial class PostgresProvider
{
    private static readonly string[] FleTables = ["trajectories", "steps", "state_dictionaries", "game_states", "fle_schema_version"];

    // ------------------------------------------------------------------ backup and restore

    public override string DefaultBackupFolder(string workingDirectory) => Path.Combine(workingDirectory, ".fle", "backups");

    /// <summary>pg_dump -Fc when pg_dump is found (FLE_PG_BIN, PATH, /usr/lib/postgresql/*/bin); else the engine writes an export file.</summary>
    public override FleBackupKind PlannedBackupKind => PgTools.Find("pg_dump") is not null ? FleBackupKind.PgDump : FleBackupKind.FleExport;

    /// <summary>
    /// pg_dump -Fc (restorable with the standard pg_restore) of the database, or, when Fle's tables are in a schema
    /// other than public, of that schema alone (the others are another store's or another program's: not Fle's to back
    /// up, nor to replace on a restore). The password goes in PGPASSWORD, never on its command line.
    /// </summary>
    public override async Task BackupAsync(string path, CancellationToken ct)
    {
        FleFiles.CreateOwnerOnly(path).Dispose();
        string schema;
        await using (var conn = await OpenConnectionAsync(ct).ConfigureAwait(false))
        await using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = "SELECT current_schema()";
            schema = (string)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }
        var args = PgTools.ConnectionArgs(Settings);
        // The public schema (the spec's layout) is dumped as pg_dump does by default, so that pg_restore loads the
        // archive into an empty database (with -n public it would create the schema that exists there). Another schema
        // alone: -n takes a pattern; quoted, the name is taken literally (a double quote doubled).
        if (schema != "public") args.AddRange(["-n", "\"" + schema.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""]);
        args.AddRange(["-Fc", "-f", path]);
        await PgTools.RunAsync(PgTools.Find("pg_dump")!, args, Settings, FleErrorIds.BackupFailed, "pg_dump", ct).ConfigureAwait(false);
    }

    private const string RestoreRolledBack = "The restore ran in one transaction and was rolled back: the database is as it was. The message above names the " +
        "statement that failed (a damaged or cut dump, or objects besides Fle's that already exist in the database).";

    /// <summary>
    /// A pg_dump archive with pg_restore --clean --if-exists in one transaction; the spec's plain dump (pg_dump &gt;
    /// backup.sql, with or without --clean) with psql in one transaction, Fle's tables dropped first. A dump that is not
    /// of a Fle database, is cut short or is of a newer Fle is refused before anything changes.
    /// </summary>
    public override async Task RestoreAsync(FleBackupKind kind, string full, IProgress<FleProgress>? progress, CancellationToken ct)
    {
        if (kind is not (FleBackupKind.PgDump or FleBackupKind.SqlScript))
            throw new FleException(FleErrorIds.RestoreFailed, FleErrorKind.InvalidArgument,
                $"'{full}' is a SQLite file; it restores into a SQLite database, not into the {Backend} database {Location} (or move the data with an export file).", target: full);
        var tool = kind == FleBackupKind.PgDump ? "pg_restore" : "psql";
        var exe = PgTools.Find(tool) ?? throw new FleException(FleErrorIds.RestoreFailed, FleErrorKind.NotFound,
            $"{tool} is needed to restore '{full}' but was not found. Install the PostgreSQL client tools or set FLE_PG_BIN to their folder.", target: full);
        // Looked at first: a dump that is not of a Fle database, or of a newer Fle, changes nothing.
        var contents = kind == FleBackupKind.PgDump
            ? await PgDumpFiles.InspectArchiveAsync(exe, full, Settings, ct).ConfigureAwait(false)
            : PgDumpFiles.InspectScript(full);
        PgDumpFiles.Check(contents, full, script: kind == FleBackupKind.SqlScript);
        progress?.Report(new FleProgress("Restore", $"Restoring {full} into {Location} ({tool}, one transaction)", 10));
        var args = PgTools.ConnectionArgs(Settings);
        if (kind == FleBackupKind.PgDump)
        {
            args.AddRange(["--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error", full]);
            await PgTools.RunAsync(exe, args, Settings, FleErrorIds.RestoreFailed, tool, ct, advice: RestoreRolledBack).ConfigureAwait(false);
        }
        else
        {
            // The spec's plain dump: Fle's tables are dropped first and the dump's own DROP statements tolerate their
            // absence, all in psql's one transaction.
            args.AddRange(["-X", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-q", "-f", "-"]);
            await PgTools.RunAsync(exe, args, Settings, FleErrorIds.RestoreFailed, tool, ct,
                stdin: (input, c) => PgDumpFiles.WriteRestoreScriptAsync(full, contents.Schema!, input, c), advice: RestoreRolledBack).ConfigureAwait(false);
        }
        // The pooled connections hold plans of the tables that were dropped.
        _dataSource.Clear();
    }

    // ------------------------------------------------------------------ optimisation and information

    public override async Task<long> GetSizeOnDiskAsync(CancellationToken ct)
    {
        await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
        return await conn.ExecuteScalarAsync<long>(new CommandDefinition("SELECT pg_database_size(current_database())", cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
    }

    public override string ListIndexesSql => "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()";

    public override string OptimizePlan => "indexes, VACUUM (ANALYZE) on Fle's tables";

    public override (IReadOnlyList<(string Label, string Sql)> Before, IReadOnlyList<(string Label, string Sql)> After) OptimizeSteps =>
        ([], FleTables.Select(t => ($"VACUUM (ANALYZE) {t}", $"VACUUM (ANALYZE) {t}")).ToList());

    public override async Task<BackendInfo> DescribeAsync(DbConnection conn, CancellationToken ct)
    {
        var version = await conn.ExecuteScalarAsync<string>(new CommandDefinition("SHOW server_version", cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
        var size = await conn.ExecuteScalarAsync<long>(new CommandDefinition("SELECT pg_database_size(current_database())", cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
        return new BackendInfo(size, null, "PostgreSQL " + version, null, null);
    }

    public override string ConnectHint => string.Create(CultureInfo.InvariantCulture,
        $" Is the server running (systemctl status postgresql, docker ps)? Test by hand: psql -h {Settings.Host} -p {Settings.Port} -U {Settings.Username} {Settings.Database}");
}
