using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Dapper;
using Fle.Core.Transfer;

namespace Fle.Core.Storage;

/// <summary>Backup and restore: where, under what name, how many kept, what a file is; the provider makes and restores its own kinds.</summary>
public sealed partial class FleStore
{
    private static readonly Regex BackupName = new(@"^fle-(sqlite|postgres|export)-(\d{8}T\d{6}Z)(?:-(\d+))?\.(db|dump|jsonl\.gz)$",
        RegexOptions.CultureInvariant | RegexOptions.IgnoreCase);

    /// <summary>The default backup folder: 'backups' next to the SQLite file; ./.fle/backups for PostgreSQL.</summary>
    public string DefaultBackupFolder(string workingDirectory) => Provider.DefaultBackupFolder(workingDirectory);

    /// <summary>The kind of backup this store makes: a SQLite file, a pg_dump archive, or (no pg_dump) an export file.</summary>
    public FleBackupKind PlannedBackupKind => Provider.PlannedBackupKind;

    /// <summary>
    /// True when a backup destination names a folder (a timestamped name is chosen in it): an existing folder, a path
    /// that ends with a separator, or a path with no extension that is not an existing file.
    /// </summary>
    public static bool IsBackupFolder(string destination)
    {
        var full = Path.GetFullPath(destination);
        return Directory.Exists(full) || destination.EndsWith('/') || destination.EndsWith(Path.DirectorySeparatorChar)
            || (!File.Exists(full) && Path.GetExtension(full).Length == 0);
    }

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
        var isFolder = IsBackupFolder(destination);
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
        Provider.CheckBackupDestination(path);

        var partial = path + ".partial";
        progress?.Report(new FleProgress("Backup", $"Backing up {Location} to {path}", 0));
        try
        {
            if (kind == FleBackupKind.FleExport)
            {
                await ExportToFileAsync(new FleTrajectoryQuery(), partial + ".gz", progress, cancellationToken).ConfigureAwait(false);
                File.Move(partial + ".gz", partial, overwrite: true);
            }
            else await Provider.BackupAsync(partial, cancellationToken).ConfigureAwait(false);
            FleFiles.RestrictToOwner(partial);
            File.Move(partial, path, overwrite: true);
        }
        catch (FleException e) when (e.ErrorId == FleErrorIds.ExportFailed)
        {
            TryDelete(partial);
            throw new FleException(FleErrorIds.BackupFailed, FleErrorKind.PermissionDenied, $"The backup to '{path}' failed: {e.InnerException?.Message ?? e.Message}", e, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException || (e is not FleException && Provider.Translate(e) is not null))
        {
            TryDelete(partial);
            throw new FleException(FleErrorIds.BackupFailed, FleErrorKind.PermissionDenied, $"The backup to '{path}' failed: {e.Message}", e, path);
        }
        catch
        {
            TryDelete(partial);
            throw;
        }
        progress?.Report(new FleProgress("Backup", "Checksum", 90));
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
        if (keep < 1) throw FleException.InvalidArgument("The number of backups to keep must be at least 1.");
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
        progress?.Report(new FleProgress("Restore", $"Restoring {full} into {Location}", 0));
        FleImportSummary? import = null;
        if (kind == FleBackupKind.FleExport)
            import = await ImportFileAsync(full, onConflict, progress, null, cancellationToken).ConfigureAwait(false);
        else
            await RunAsync(async ct => { await Provider.RestoreAsync(kind, full, progress, ct).ConfigureAwait(false); return 0; }, null, null, cancellationToken,
                retryTransient: false).ConfigureAwait(false);
        ForgetEverything();
        // A backup of an older schema is upgraded in place, as on any open.
        await RunAsync(async ct => { await Provider.InitializeAsync(ct).ConfigureAwait(false); return 0; }, null, null, cancellationToken).ConfigureAwait(false);
        progress?.Report(new FleProgress("Restore", $"Restored {full} into {Location}", 100));
        var count = await DbAsync((conn, ct) => conn.ExecuteScalarAsync<long>(Cmd("SELECT COUNT(*) FROM trajectories", null, ct)), null, cancellationToken)
            .ConfigureAwait(false);
        return new FleRestoreResult { Path = full, Kind = kind, Target = Location, Backend = Backend, Duration = sw.Elapsed, Import = import, Trajectories = count };
    }

    private static void TryDelete(string p)
    {
        try { if (File.Exists(p)) File.Delete(p); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
