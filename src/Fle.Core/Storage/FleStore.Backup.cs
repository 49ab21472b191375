using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Fle.Core.Configuration;
using Fle.Core.Maintenance;
using Fle.Core.Transfer;
using Microsoft.Data.Sqlite;

namespace Fle.Core.Storage;

/// <summary>Backup and restore.</summary>
public abstract partial class FleStore
{
    private static readonly Regex BackupName = new(@"^fle-(sqlite|postgres|export)-(\d{8}T\d{6}Z)(?:-(\d+))?\.(db|dump|jsonl\.gz)$",
        RegexOptions.CultureInvariant | RegexOptions.IgnoreCase);

    /// <summary>The default backup folder: 'backups' next to the SQLite file; ./.fle/backups for PostgreSQL.</summary>
    public string DefaultBackupFolder(string workingDirectory) => Backend == FleBackend.Sqlite
        ? Path.Combine(Path.GetDirectoryName(Settings.SqlitePath) ?? workingDirectory, "backups")
        : Path.Combine(workingDirectory, ".fle", "backups");

    /// <summary>The kind of backup this store makes: a SQLite file, a pg_dump archive, or (no pg_dump) an export file.</summary>
    public FleBackupKind PlannedBackupKind => Backend == FleBackend.Sqlite ? FleBackupKind.SqliteFile
        : PgTools.Find("pg_dump") is not null ? FleBackupKind.PgDump : FleBackupKind.FleExport;

    /// <summary>
    /// Back up the database. <paramref name="destination"/> is a folder (a timestamped name is chosen in it) or a file.
    /// The file is created owner-only (0600). With <paramref name="retain"/>, only the newest n of Fle's backups in the folder are kept.
    /// </summary>
    public async Task<FleBackup> BackupAsync(string destination, int? retain = null, IProgress<FleProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var sw = Stopwatch.StartNew();
        var created = DateTime.UtcNow;
        var kind = PlannedBackupKind;
        var full = Path.GetFullPath(destination);
        string folder, path;
        var isFolder = Directory.Exists(full) || destination.EndsWith('/') || destination.EndsWith(Path.DirectorySeparatorChar)
            || (!File.Exists(full) && Path.GetExtension(full).Length == 0);
        folder = isFolder ? full : Path.GetDirectoryName(full)!;
        try
        {
            Directory.CreateDirectory(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FleException(FleErrorIds.BackupFailed, FleErrorKind.PermissionDenied,
                $"The backup folder '{folder}' cannot be created: {e.Message}", e, folder);
        }
        path = isFolder ? NewBackupName(folder, kind, created) : full;
        if (Backend == FleBackend.Sqlite && SamePath(path, Settings.SqlitePath))
            throw new FleException(FleErrorIds.BackupFailed, FleErrorKind.InvalidArgument, "The backup destination is the database file itself.", target: path);

        var partial = path + ".partial";
        progress?.Report(new FleProgress("Backup-FleDatabase", $"Backing up {Location} to {path}", 0));
        try
        {
            switch (kind)
            {
                case FleBackupKind.SqliteFile:
                    await Task.Run(() => SqliteBackupTo(partial, cancellationToken), cancellationToken).ConfigureAwait(false);
                    break;
                case FleBackupKind.PgDump:
                    FleFiles.CreateOwnerOnly(partial).Dispose();
                    var args = PgTools.ConnectionArgs(Settings);
                    args.AddRange(["-Fc", "-f", partial]);
                    await PgTools.RunAsync(PgTools.Find("pg_dump")!, args, Settings, FleErrorIds.BackupFailed, "pg_dump", cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    await ExportToFileAsync(new FleTrajectoryQuery(), partial + ".gz", progress, cancellationToken).ConfigureAwait(false);
                    File.Move(partial + ".gz", partial, overwrite: true);
                    break;
            }
            FleFiles.RestrictToOwner(partial);
            File.Move(partial, path, overwrite: true);
        }
        catch (FleException e) when (e.ErrorId == FleErrorIds.ExportFailed)
        {
            TryDelete(partial);
            throw new FleException(FleErrorIds.BackupFailed, FleErrorKind.PermissionDenied, $"The backup to '{path}' failed: {e.InnerException?.Message ?? e.Message}", e, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SqliteException)
        {
            TryDelete(partial);
            throw new FleException(FleErrorIds.BackupFailed, FleErrorKind.PermissionDenied, $"The backup to '{path}' failed: {e.Message}", e, path);
        }
        catch
        {
            TryDelete(partial);
            throw;
        }
        progress?.Report(new FleProgress("Backup-FleDatabase", "Checksum", 90));
        var removed = retain is { } n ? ApplyRetention(folder, n, path) : [];
        return new FleBackup
        {
            Path = path, Size = new FileInfo(path).Length, Sha256 = FleFiles.Sha256(path), Duration = sw.Elapsed, Backend = Backend,
            Kind = kind, Created = created, Source = Location, Removed = removed,
        };
    }

    private static string NewBackupName(string folder, FleBackupKind kind, DateTime created)
    {
        var (prefix, ext) = kind switch
        {
            FleBackupKind.SqliteFile => ("fle-sqlite", ".db"),
            FleBackupKind.PgDump => ("fle-postgres", ".dump"),
            _ => ("fle-export", ".jsonl.gz"),
        };
        var stamp = created.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var path = Path.Combine(folder, $"{prefix}-{stamp}{ext}");
        for (var i = 1; File.Exists(path); i++) path = Path.Combine(folder, $"{prefix}-{stamp}-{i}{ext}");
        return path;
    }

    /// <summary>Delete all but the newest <paramref name="keep"/> of Fle's timestamped backups in a folder.</summary>
    public static IReadOnlyList<string> ApplyRetention(string folder, int keep, string? justMade = null)
    {
        if (keep < 1) throw FleException.InvalidArgument("-Retain must be at least 1.");
        var backups = Directory.EnumerateFiles(folder)
            .Select(p => (Path: p, M: BackupName.Match(Path.GetFileName(p))))
            .Where(x => x.M.Success)
            .OrderByDescending(x => x.M.Groups[2].Value, StringComparer.Ordinal)
            .ThenByDescending(x => x.M.Groups[3].Success ? int.Parse(x.M.Groups[3].Value, CultureInfo.InvariantCulture) : 0)
            .Select(x => x.Path)
            .ToList();
        if (justMade is not null && backups.Remove(justMade)) backups.Insert(0, justMade);
        var removed = new List<string>();
        foreach (var old in backups.Skip(keep))
        {
            try { File.Delete(old); removed.Add(old); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return removed;
    }

    private void SqliteBackupTo(string path, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        FleFiles.CreateOwnerOnly(path).Dispose();
        var destCs = new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, Mode = SqliteOpenMode.ReadWrite }.ToString();
        using (var src = (SqliteConnection)OpenConnection())
        using (var dst = new SqliteConnection(destCs))
        {
            dst.Open();
            // One read transaction on the source: a consistent snapshot even while agents write (WAL).
            src.BackupDatabase(dst);
            using (var cmd = dst.CreateCommand())
            {
                // A self-contained single file (no -wal next to it).
                cmd.CommandText = "PRAGMA journal_mode=DELETE";
                cmd.ExecuteScalar();
                cmd.CommandText = "PRAGMA quick_check";
                var check = cmd.ExecuteScalar() as string;
                if (check != "ok")
                    throw new FleException(FleErrorIds.BackupFailed, FleErrorKind.InvalidData, $"The backup copy failed its integrity check: {check}", target: path);
            }
        }
        FleFiles.RestrictToOwner(path);
    }

    /// <summary>What a file is: a SQLite file, a pg_dump archive, a SQL script or a Fle export file.</summary>
    public static FleBackupKind DetectBackupKind(string path)
    {
        byte[] head = new byte[256];
        int n;
        try
        {
            using var fs = File.OpenRead(path);
            n = fs.Read(head, 0, head.Length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FleException(FleErrorIds.RestoreFailed, FleErrorKind.NotFound, $"Cannot read the backup '{path}': {e.Message}", e, path);
        }
        var text = Encoding.ASCII.GetString(head, 0, n);
        if (text.StartsWith("SQLite format 3\0", StringComparison.Ordinal)) return FleBackupKind.SqliteFile;
        if (text.StartsWith("PGDMP", StringComparison.Ordinal)) return FleBackupKind.PgDump;
        if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b) return FleBackupKind.FleExport;
        if (text.StartsWith("{", StringComparison.Ordinal) && text.Contains(FleExportFormat.Name, StringComparison.Ordinal)) return FleBackupKind.FleExport;
        if (text.Contains("PostgreSQL database dump", StringComparison.Ordinal) || text.StartsWith("--", StringComparison.Ordinal)) return FleBackupKind.SqlScript;
        throw new FleException(FleErrorIds.RestoreFailed, FleErrorKind.InvalidData,
            $"'{path}' is not a Fle backup: neither a SQLite file, a pg_dump archive, a SQL script nor a Fle export file.", target: path);
    }

    /// <summary>
    /// Restore a backup into this database. A SQLite file replaces a SQLite database whole (through the backup API, under
    /// SQLite's lock); a pg_dump archive is restored with pg_restore --clean --if-exists in one transaction; a SQL script with
    /// psql in one transaction; an export file is imported (each trajectory replaced whole with <paramref name="onConflict"/> Overwrite).
    /// </summary>
    public async Task<FleRestoreResult> RestoreAsync(string path, FleConflictAction onConflict = FleConflictAction.Overwrite,
        IProgress<FleProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var sw = Stopwatch.StartNew();
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new FleException(FleErrorIds.RestoreFailed, FleErrorKind.NotFound, $"The backup '{full}' does not exist.", target: full);
        var kind = DetectBackupKind(full);
        progress?.Report(new FleProgress("Restore-FleDatabase", $"Restoring {full} into {Location}", 0));
        FleImportSummary? import = null;
        switch (kind)
        {
            case FleBackupKind.SqliteFile:
                if (Backend != FleBackend.Sqlite)
                    throw WrongTarget(full, "a SQLite file", "a SQLite database (Connect-FleDatabase -Path), or migrate it with Export-FleData | Import-FleData");
                await Task.Run(() => SqliteRestoreFrom(full, cancellationToken), cancellationToken).ConfigureAwait(false);
                break;
            case FleBackupKind.PgDump or FleBackupKind.SqlScript:
            {
                if (Backend != FleBackend.Postgres) throw WrongTarget(full, kind == FleBackupKind.PgDump ? "a pg_dump archive" : "a SQL script", "a PostgreSQL database");
                var tool = kind == FleBackupKind.PgDump ? "pg_restore" : "psql";
                var exe = PgTools.Find(tool) ?? throw new FleException(FleErrorIds.RestoreFailed, FleErrorKind.NotFound,
                    $"{tool} is needed to restore '{full}' but was not found. Install the PostgreSQL client tools or set FLE_PG_BIN to their folder.", target: full);
                // Looked at first: a dump that is not of a Fle database, or of a newer Fle, changes nothing.
                var contents = kind == FleBackupKind.PgDump
                    ? await PgDumpFiles.InspectArchiveAsync(exe, full, Settings, cancellationToken).ConfigureAwait(false)
                    : PgDumpFiles.InspectScript(full);
                PgDumpFiles.Check(contents, full, script: kind == FleBackupKind.SqlScript);
                progress?.Report(new FleProgress("Restore-FleDatabase", $"Restoring {full} into {Location} ({tool}, one transaction)", 10));
                var args = PgTools.ConnectionArgs(Settings);
                if (kind == FleBackupKind.PgDump)
                {
                    args.AddRange(["--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error", full]);
                    await PgTools.RunAsync(exe, args, Settings, FleErrorIds.RestoreFailed, tool, cancellationToken, advice: RestoreRolledBack).ConfigureAwait(false);
                }
                else
                {
                    // The spec's plain dump (pg_dump > backup.sql, with or without --clean): Fle's tables are dropped first and
                    // the dump's own DROP statements tolerate their absence, all in psql's one transaction.
                    args.AddRange(["-X", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-q", "-f", "-"]);
                    await PgTools.RunAsync(exe, args, Settings, FleErrorIds.RestoreFailed, tool, cancellationToken,
                        stdin: (input, ct) => PgDumpFiles.WriteRestoreScriptAsync(full, contents.Schema!, input, ct), advice: RestoreRolledBack).ConfigureAwait(false);
                }
                if (this is PostgresStore pg) pg.DataSource.Clear();
                break;
            }
            default:
                import = await ImportFileAsync(full, onConflict, progress, null, cancellationToken).ConfigureAwait(false);
                break;
        }
        Codec.Reset();
        // A backup of an older schema is upgraded in place, as on any open.
        await InitializeAsync(cancellationToken).ConfigureAwait(false);
        progress?.Report(new FleProgress("Restore-FleDatabase", $"Restored {full} into {Location}", 100));
        long count;
        await using (var conn = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false))
        await using (var cmd = Command(conn, "SELECT COUNT(*) FROM trajectories"))
            count = Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
        return new FleRestoreResult { Path = full, Kind = kind, Target = Location, Backend = Backend, Duration = sw.Elapsed, Import = import, Trajectories = count };
    }

    private const string RestoreRolledBack = "The restore ran in one transaction and was rolled back: the database is as it was. The message above names the " +
        "statement that failed (a damaged or cut dump, or objects besides Fle's that already exist in the database).";

    private FleException WrongTarget(string path, string what, string needed) => new(FleErrorIds.RestoreFailed, FleErrorKind.InvalidArgument,
        $"'{path}' is {what}; it restores into {needed}, not into the {Backend} database {Location}.", target: path);

    private void SqliteRestoreFrom(string backup, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var srcCs = new SqliteConnectionStringBuilder { DataSource = backup, Pooling = false, Mode = SqliteOpenMode.ReadOnly }.ToString();
        using var src = new SqliteConnection(srcCs);
        try
        {
            src.Open();
            using var cmd = src.CreateCommand();
            cmd.CommandText = "PRAGMA quick_check";
            var check = cmd.ExecuteScalar() as string;
            if (check != "ok") throw new FleException(FleErrorIds.RestoreFailed, FleErrorKind.InvalidData, $"The backup '{backup}' is damaged ({check}); nothing was restored.", target: backup);
            cmd.CommandText = "SELECT COALESCE(MAX(version), 0) FROM fle_schema_version";
            var v = Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
            if (v > Schema.CurrentVersion) throw Schema.TooNew(backup, v);
        }
        catch (SqliteException e)
        {
            throw new FleException(FleErrorIds.RestoreFailed, FleErrorKind.InvalidData, $"'{backup}' is not a Fle SQLite database ({e.Message}); nothing was restored.", e, backup);
        }
        using var dst = (SqliteConnection)OpenConnection();
        // The backup API copies every page into the target under its write lock: readers see the old or the new database, never a mix.
        src.BackupDatabase(dst);
        using var wal = dst.CreateCommand();
        wal.CommandText = "PRAGMA journal_mode=WAL";
        wal.ExecuteScalar();
    }

    private static bool SamePath(string a, string b) => string.Equals(Path.GetFullPath(a), Path.GetFullPath(b),
        OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

    private static void TryDelete(string p)
    {
        try { if (File.Exists(p)) File.Delete(p); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
