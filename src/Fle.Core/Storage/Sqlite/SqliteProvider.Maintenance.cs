using System.Data;
using System.Data.Common;
using Dapper;
using Fle.Core.Transfer;
using Fle.Core.Configuration;
using Microsoft.Data.Sqlite;

namespace Fle.Core.Storage.Sqlite;

/// <summary>SQLite's backup, restore, optimisation, information and checks.</summary>
internal sealed partial class SqliteProvider
{
    // ------------------------------------------------------------------ backup and restore

    public override string DefaultBackupFolder(string workingDirectory)
        => System.IO.Path.Combine(System.IO.Path.GetDirectoryName(Settings.SqlitePath) ?? workingDirectory, "backups");

    public override FleBackupKind PlannedBackupKind => FleBackupKind.SqliteFile;

    public override void CheckBackupDestination(string path)
    {
        if (string.Equals(System.IO.Path.GetFullPath(path), System.IO.Path.GetFullPath(Settings.SqlitePath),
                OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal))
            throw new FleException(FleErrorIds.BackupFailed, FleErrorKind.InvalidArgument, "The backup destination is the database file itself.", target: path);
    }

    /// <summary>SQLite's online backup API: one consistent snapshot while agents write, WAL included, checked before it is kept.</summary>
    public override Task BackupAsync(string path, CancellationToken ct) => Task.Run(() =>
    {
        ct.ThrowIfCancellationRequested();
        CreateOwnerOnlyFile(path);
        var destCs = new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, Mode = SqliteOpenMode.ReadWrite }.ToString();
        using (var src = (SqliteConnection)OpenConnection())
        using (var dst = new SqliteConnection(destCs))
        {
            dst.Open();
            src.BackupDatabase(dst);
            // A self-contained single file (no -wal next to it).
            dst.ExecuteScalar("PRAGMA journal_mode=DELETE");
            var check = dst.ExecuteScalar<string>("PRAGMA quick_check");
            if (check != "ok")
                throw new FleException(FleErrorIds.BackupFailed, FleErrorKind.InvalidData, $"The backup copy failed its integrity check: {check}", target: path);
        }
        FleFiles.RestrictToOwner(path);
    }, ct);

    /// <summary>A SQLite file replaces the database whole, through the backup API under SQLite's lock (readers see the old or the new one).</summary>
    public override Task RestoreAsync(FleBackupKind kind, string backup, IProgress<FleProgress>? progress, CancellationToken ct)
    {
        if (kind != FleBackupKind.SqliteFile)
            throw RestoreRefused(backup, kind == FleBackupKind.PgDump ? "a pg_dump archive" : "a SQL script", "a PostgreSQL database",
                "or move the data with an export file");
        return Task.Run(() =>
        {
            ct.ThrowIfCancellationRequested();
            var srcCs = new SqliteConnectionStringBuilder { DataSource = backup, Pooling = false, Mode = SqliteOpenMode.ReadOnly }.ToString();
            using var src = new SqliteConnection(srcCs);
            try
            {
                src.Open();
                var check = src.ExecuteScalar<string>("PRAGMA quick_check");
                if (check != "ok") throw new FleException(FleErrorIds.RestoreFailed, FleErrorKind.InvalidData, $"The backup '{backup}' is damaged ({check}); nothing was restored.", target: backup);
                var v = src.ExecuteScalar<int>("SELECT COALESCE(MAX(version), 0) FROM fle_schema_version");
                if (v > Schema.CurrentVersion) throw Schema.TooNew(backup, v);
            }
            catch (SqliteException e)
            {
                throw new FleException(FleErrorIds.RestoreFailed, FleErrorKind.InvalidData, $"'{backup}' is not a Fle SQLite database ({e.Message}); nothing was restored.", e, backup);
            }
            using var dst = (SqliteConnection)OpenConnection();
            // SQLite's backup into a WAL database needs the same page size (else SQLITE_READONLY): a backup made with another
            // page size (a file from before 0.2.0 has 4 KiB pages) is copied, converted by VACUUM, and restored from there.
            var pageSize = dst.ExecuteScalar<long>("PRAGMA page_size");
            if (src.ExecuteScalar<long>("PRAGMA page_size") == pageSize)
                src.BackupDatabase(dst);
            else
            {
                var temp = $"{Settings.SqlitePath}.restore-{Guid.NewGuid():N}.tmp";
                try
                {
                    CreateOwnerOnlyFile(temp);
                    using (var conv = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = temp, Pooling = false }.ToString()))
                    {
                        conv.Open();
                        src.BackupDatabase(conv);
                        conv.ExecuteScalar("PRAGMA journal_mode=DELETE");
                        conv.Execute($"PRAGMA page_size = {pageSize}", commandType: CommandType.Text);
                        conv.Execute("VACUUM", commandType: CommandType.Text);
                        conv.BackupDatabase(dst);
                    }
                }
                finally
                {
                    foreach (var f in new[] { temp, temp + "-journal", temp + "-wal", temp + "-shm" })
                        try { File.Delete(f); } catch (IOException) { } catch (UnauthorizedAccessException) { }
                }
            }
            dst.ExecuteScalar("PRAGMA journal_mode=WAL");
        }, ct);
    }

    /// <summary>A backup this backend cannot restore: what it is, and where it restores.</summary>
    internal FleException RestoreRefused(string path, string what, string needed, string orElse) => new(FleErrorIds.RestoreFailed, FleErrorKind.InvalidArgument,
        $"'{path}' is {what}; it restores into {needed}, not into the {Backend} database {Location} ({orElse}).", target: path);

    // ------------------------------------------------------------------ optimisation and information

    public override Task<long> GetSizeOnDiskAsync(CancellationToken ct)
        => Task.FromResult(FileLength(Settings.SqlitePath) + FileLength(Settings.SqlitePath + "-wal") + FileLength(Settings.SqlitePath + "-shm"));

    private static long FileLength(string p) => File.Exists(p) ? new FileInfo(p).Length : 0;

    public override string ListIndexesSql => "SELECT name FROM sqlite_master WHERE type = 'index'";

    public override string OptimizePlan => "WAL, cache_size, indexes, ANALYZE, PRAGMA optimize, VACUUM, wal_checkpoint(TRUNCATE)";

    public override (IReadOnlyList<(string Label, string Sql)> Before, IReadOnlyList<(string Label, string Sql)> After) OptimizeSteps =>
    (
        [("PRAGMA journal_mode=WAL", "PRAGMA journal_mode=WAL"), ("PRAGMA cache_size=-64000 (64 MB)", "PRAGMA cache_size=-64000")],
        [("ANALYZE", "ANALYZE"), ("PRAGMA optimize", "PRAGMA optimize"), ("VACUUM", "VACUUM"), ("PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA wal_checkpoint(TRUNCATE)")]
    );

    public override async Task<BackendInfo> DescribeAsync(DbConnection conn, CancellationToken ct)
    {
        var journal = await conn.ExecuteScalarAsync<string>(new CommandDefinition("PRAGMA journal_mode", cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
        var version = await conn.ExecuteScalarAsync<string>(new CommandDefinition("SELECT sqlite_version()", cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
        var file = FileLength(Settings.SqlitePath);
        var wal = FileLength(Settings.SqlitePath + "-wal");
        return new BackendInfo(file + wal + FileLength(Settings.SqlitePath + "-shm"), journal, "SQLite " + version, file, wal);
    }

    // ------------------------------------------------------------------ checks

    public override async Task<IReadOnlyList<FleDatabaseCheck>> CheckIntegrityAsync(DbConnection conn, CheckFactory c, CancellationToken ct)
    {
        var checks = new List<FleDatabaseCheck>();
        var journal = await conn.ExecuteScalarAsync<string>(new CommandDefinition("PRAGMA journal_mode", cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
        checks.Add(string.Equals(journal, "wal", StringComparison.OrdinalIgnoreCase)
            ? c("JournalMode", FleCheckStatus.Passed, "WAL is on (readers do not block the writer).")
            : c("JournalMode", FleCheckStatus.Warning, $"The journal mode is '{journal}', not WAL: concurrent agents will block each other. Optimizing the database turns WAL on.", 1));

        var problems = (await conn.QueryAsync<string>(new CommandDefinition("PRAGMA integrity_check", commandTimeout: 0, cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false)).ToList();
        checks.Add(problems is ["ok"]
            ? c("IntegrityCheck", FleCheckStatus.Passed, "PRAGMA integrity_check: ok.")
            : c("IntegrityCheck", FleCheckStatus.Failed,
                $"PRAGMA integrity_check found {problems.Count} problem(s), e.g. '{problems.FirstOrDefault()}'. The file is damaged: restore it from a backup (or try: sqlite3 {Settings.SqlitePath} '.recover').",
                problems.Count));

        var fk = (await conn.QueryAsync(new CommandDefinition("PRAGMA foreign_key_check", cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false))
            .Select(r => (IDictionary<string, object>)r).ToList();
        checks.Add(fk.Count == 0
            ? c("ForeignKeys", FleCheckStatus.Passed, "PRAGMA foreign_key_check: no violations.")
            : c("ForeignKeys", FleCheckStatus.Failed,
                $"PRAGMA foreign_key_check found {fk.Count} row(s) pointing at missing rows (first: {fk[0]["table"]} row {fk[0]["rowid"]} -> {fk[0]["parent"]}). Remove the orphans or restore from a backup.",
                fk.Count));
        return checks;
    }

    public override bool CheckBeforeOpen(List<FleDatabaseCheck> checks, CheckFactory c)
    {
        var path = Settings.SqlitePath;
        var dir = System.IO.Path.GetDirectoryName(path) ?? ".";
        if (!Directory.Exists(dir))
        {
            checks.Add(c("File", FleCheckStatus.Failed, $"The folder '{dir}' of the SQLite database does not exist. Create it, or set SQLITE_DB_FILE to another path.", 1));
            return false;
        }
        if (!File.Exists(path))
        {
            checks.Add(c("File", FleCheckStatus.Failed, $"The SQLite database '{path}' does not exist. Check SQLITE_DB_FILE (or the path given); connecting creates a new, empty one there.", 1));
            return false;
        }
        checks.Add(c("File", FleCheckStatus.Passed, $"'{path}' exists ({new FileInfo(path).Length:N0} bytes)."));
        checks.Add(WalCheck(path, c));
        // The journal mode as the file says, before Fle opens it (opening turns WAL on again).
        var mode = ReadHeaderJournalMode(path);
        if (mode is not null and not "wal")
        {
            checks.Add(c("JournalMode", FleCheckStatus.Warning,
                $"The file was in '{mode}' journal mode, not WAL (another tool changed it): concurrent agents block each other. Fle turns WAL on when it opens the file; optimize the database after using other tools on it.", 1));
        }
        var writable = CanWriteFile(path, out var whyFile) && CanWriteFolder(dir, out whyFile);
        checks.Add(writable
            ? c("Writable", FleCheckStatus.Passed, "The file and its folder are writable (SQLite needs the folder for its -wal and -shm files).")
            : c("Writable", FleCheckStatus.Failed, $"{whyFile} Check the permissions (ls -l; chmod u+rw), or run as the file's owner.", 1));
        return true;
    }

    /// <summary>A -wal file larger than this beside a database that nobody has open is worth a warning.</summary>
    internal const long LeftoverWalBytes = 4L << 20;

    /// <summary>
    /// A large WAL beside a database that no process has open: committed steps live only there (a writer was killed or
    /// the machine stopped), so a plain copy of the database file lacks them.
    /// </summary>
    private static FleDatabaseCheck WalCheck(string path, CheckFactory c)
    {
        var wal = path + "-wal";
        var size = File.Exists(wal) ? new FileInfo(wal).Length : 0;
        if (size == 0) return c("Wal", FleCheckStatus.Passed, "No WAL beside the file: the file holds every committed step by itself.");
        var holders = SqliteWalFiles.Holders(path);
        var mine = SqliteOpenFiles.Count(path) > 0;
        if (size <= LeftoverWalBytes)
            return c("Wal", FleCheckStatus.Passed, $"The WAL beside the file is small ({size:N0} bytes).");
        if (holders is { Count: > 0 } || (holders is null && mine))
        {
            var who = holders is null ? "this session" : string.Join(", ", holders.Select(p => p == Environment.ProcessId ? "this session" : $"process {p}"));
            return c("Wal", FleCheckStatus.Passed,
                $"The WAL ({size:N0} bytes) is in use by {who}; Fle keeps it near 16 MB and folds it into the file when the last session closes. " +
                "Copy a database in use with a Fle backup, not cp.");
        }
        var pending = mine ? null : SqliteWalFiles.PendingBytes(path);
        if (pending == 0)
            return c("Wal", FleCheckStatus.Passed, $"A WAL of {size:N0} bytes is left beside the file, but every page in it is in the file already.");
        var amount = pending is { } b ? $"{b / 1048576.0:N1} MB of committed pages" : $"up to {size / 1048576.0:N1} MB of committed pages";
        return c("Wal", FleCheckStatus.Warning,
            $"'{wal}' holds {amount} that are not in '{path}' yet{(holders is null ? " (if no process is using the database)" : ", and no process has the database open")}: " +
            "a process that wrote them ended without closing the database (killed, or the machine stopped). Nothing is lost, SQLite reads them from there, " +
            "but a copy of the file alone lacks them. Connecting and disconnecting (any Fle session, or optimizing the database) folds them into the file; " +
            "a Fle backup always copies everything.", 1);
    }

    /// <summary>'wal' or 'rollback' from bytes 18-19 of the SQLite header, or null when unreadable.</summary>
    private static string? ReadHeaderJournalMode(string path)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var head = new byte[20];
            if (fs.Read(head, 0, 20) < 20 || System.Text.Encoding.ASCII.GetString(head, 0, 15) != "SQLite format 3") return null;
            return head[18] == 2 && head[19] == 2 ? "wal" : "rollback";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static bool CanWriteFile(string path, out string why)
    {
        try
        {
            using var _ = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            why = "";
            return true;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            why = $"The file '{path}' is not writable by this user ({e.Message}).";
            return false;
        }
    }

    private static bool CanWriteFolder(string dir, out string why)
    {
        var (errno, message) = ProbeFolder(dir);
        why = errno == 0 ? "" : $"The folder '{dir}' is not writable by this user ({message}).";
        return errno == 0;
    }
}
