using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Fle.Core.Storage.Sqlite;

/// <summary>SQLite errors as Fle errors: locks, constraints, and what the storage under the file did (full, read-only, gone).</summary>
internal sealed partial class SqliteProvider
{
    /// <summary>Key of <see cref="Exception.Data"/> under which the writer leaves the errno of a failed write.</summary>
    private const string ErrnoKey = "Fle.Errno";

    // errno values (Linux; macOS shares ENOSPC, EROFS, EACCES, EPERM; EDQUOT differs and is only a hint there).
    private const int EPERM = 1, EACCES = 13, ENOSPC = 28, EROFS = 30, EDQUOT = 122;

    internal static bool IsBusy(SqliteException e) => e.SqliteErrorCode is 5 or 6; // SQLITE_BUSY, SQLITE_LOCKED

    public override FleException? Translate(Exception e, string? trajectoryId = null, long? stepNumber = null)
    {
        if (e is FleException fe) return fe;
        if (e is OperationCanceledException) return null;
        if (e is not SqliteException se) return null;
        var path = Settings.SqlitePath;
        return se.SqliteErrorCode switch
        {
            19 when se.SqliteExtendedErrorCode == 787 && trajectoryId is not null => FleException.TrajectoryNotFound(trajectoryId),
            19 when se.SqliteExtendedErrorCode == 2067 && stepNumber is not null => FleException.StepExists(trajectoryId!, stepNumber.Value),
            19 when se.SqliteExtendedErrorCode == 1555 && trajectoryId is not null => new FleException(FleErrorIds.TrajectoryAlreadyExists,
                FleErrorKind.AlreadyExists, $"A trajectory with id '{trajectoryId}' already exists.", se, trajectoryId),
            26 => new FleException(FleErrorIds.NotADatabase, FleErrorKind.InvalidData,
                $"The file '{path}' is not a SQLite database (or it is damaged). Point SQLITE_DB_FILE at a Fle database, or move the file away to start a new one.",
                se, path) { RecommendedAction = "Check SQLITE_DB_FILE, or restore the file from a backup." },
            11 => new FleException(FleErrorIds.NotADatabase, FleErrorKind.InvalidData,
                $"The SQLite database '{path}' is damaged ({se.Message}). Restore it from a backup.", se, path),
            13 => StorageFull(se, What(trajectoryId, stepNumber)),
            1 when se.Message.Contains("no such table", StringComparison.Ordinal) => new FleException(FleErrorIds.NotADatabase, FleErrorKind.InvalidData,
                $"The file '{path}' is no longer a Fle database ({se.Message.Replace("SQLite Error 1: ", "", StringComparison.Ordinal).Trim('.', '\'')}): it was replaced or emptied while the session had it open.",
                se, path) { RecommendedAction = "Restore the database from a backup, or connect again to create a new one." },
            8 or 10 or 14 or 23 => StorageFailure(se, What(trajectoryId, stepNumber)),
            5 or 6 => new FleException(FleErrorIds.DatabaseBusy, FleErrorKind.ResourceBusy,
                $"The SQLite database '{path}' stayed locked by another process for longer than the busy timeout. Retry, or move many concurrent writers to PostgreSQL.",
                se, path),
            _ => null,
        };
    }

    private static string What(string? trajectoryId, long? stepNumber) => (trajectoryId, stepNumber) switch
    {
        ({ } t, { } n) => $"Step {n} of trajectory '{t}'",
        ({ } t, null) => $"The change to trajectory '{t}'",
        _ => "The change",
    };

    private string Folder => System.IO.Path.GetDirectoryName(Settings.SqlitePath) is { Length: > 0 } d ? d : ".";

    private FleException StorageFull(Exception e, string what) => new(FleErrorIds.StorageFull, FleErrorKind.StorageError,
        $"The disk holding the SQLite database '{Settings.SqlitePath}' is full. {what} was not written; everything saved before it is intact.",
        e, Settings.SqlitePath)
    {
        RecommendedAction = $"Free space on that disk (df -h '{Folder}'), then save again: the session keeps working.",
    };

    /// <summary>
    /// An I/O, read-only or cannot-open error: SQLite's code does not tell a read-only file system from a permission or a
    /// full disk, so the errno of the failed write (when the writer saw it) or a probe of the folder does.
    /// </summary>
    private FleException StorageFailure(SqliteException se, string what)
    {
        var path = Settings.SqlitePath;
        var errno = se.Data[ErrnoKey] is int n && n != 0 ? n : ProbeFolder(Folder).Errno;
        return errno switch
        {
            ENOSPC or EDQUOT => StorageFull(se, what),
            EROFS => new FleException(FleErrorIds.StorageReadOnly, FleErrorKind.StorageError,
                $"The file system holding the SQLite database '{path}' is read-only. {what} was not written; everything saved before it is intact.",
                se, path) { RecommendedAction = $"Remount it read-write (findmnt -T '{Folder}'), or move the database to a writable disk; then save again." },
            _ when !File.Exists(path) => new FleException(FleErrorIds.StorageFileMoved, FleErrorKind.StorageError,
                $"The SQLite database '{path}' is gone (deleted or moved). {what} was not written.", se, path)
            { RecommendedAction = "Put the file back (or restore it from a backup), or connect to the database where it is now." },
            _ => new FleException(FleErrorIds.PathNotWritable, FleErrorKind.PermissionDenied,
                $"Cannot write the SQLite database '{path}' ({se.Message}{(errno is EACCES or EPERM ? ": permission denied" : "")}). {what} was not written; everything saved before it is intact.",
                se, path) { RecommendedAction = $"Check that the file and its folder are writable by this user (ls -l '{Folder}'; chmod u+rw), then save again." },
        };
    }

    /// <summary>Try to create a file in the folder: 0 when that works, else the errno of the failure (EROFS, EACCES, ENOSPC ...) and its message.</summary>
    internal static (int Errno, string? Message) ProbeFolder(string folder)
    {
        var probe = System.IO.Path.Combine(folder, ".fle-probe-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
            return (0, null);
        }
        catch (UnauthorizedAccessException e)
        {
            return (EACCES, e.Message);
        }
        catch (IOException io)
        {
            // On Unix .NET carries the errno in the HResult of the IOException it raises for a failed system call.
            return (io.HResult is > 0 and < 4096 ? io.HResult : -1, io.Message);
        }
    }

    /// <summary>Thrown by the writer, before it writes, when its file is no longer the file at the database's path.</summary>
    private sealed class DatabaseFileMovedException : Exception;

    /// <summary>
    /// The file was deleted, renamed or replaced while the writer had it open. SQLite would go on writing into the old,
    /// unlinked file, and everything saved after (and, for a deleted file, before) would vanish with the process. The
    /// writer still sees the old database whole, WAL included: it is copied out, every connection to the old file is
    /// closed, the old file's -wal and -shm left at the path are removed (SQLite keeps them when the file has moved, and
    /// would read them as the WAL of whatever file is at the path next; their content is in the copy), and the copy goes
    /// back to the path when nothing is there, else next to it. The next save then opens the file at the path. Runs
    /// under the write gate.
    /// </summary>
    private FleException FileMoved(Writer w, FleStepInput input)
    {
        var path = Settings.SqlitePath;
        var what = What(input.TrajectoryId, input.StepNumber);
        var partial = path + ".rescue-partial";
        string? copied = null;
        string? failure = null;
        try
        {
            Directory.CreateDirectory(Folder);
            TryDelete(partial);
            CreateOwnerOnlyFile(partial);
            w.CopyTo(partial);
        }
        catch (Exception e) when (e is SqliteException or IOException or UnauthorizedAccessException)
        {
            failure = e.Message;
            TryDelete(partial);
        }
        w.Dispose();
        using (var conn = new SqliteConnection(_connectionString)) SqliteConnection.ClearPool(conn);
        DatabaseReplaced?.Invoke();
        if (failure is null)
        {
            TryDelete(path + "-wal");
            TryDelete(path + "-shm");
            copied = File.Exists(path) ? $"{path}.rescued-{DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}" : path;
            try
            {
                File.Move(partial, copied);
            }
            catch (IOException e)
            {
                failure = e.Message;
                copied = null;
            }
        }
        string message, action;
        if (copied == path)
        {
            message = $"The SQLite database '{path}' was deleted or moved away while this session had it open. Fle wrote everything the session " +
                      $"still had back to '{path}', so nothing saved before is lost. {what} was not saved.";
            action = "Save it again: the session keeps working with the file at the path.";
        }
        else if (copied is not null)
        {
            message = $"The SQLite database '{path}' was replaced by another file while this session had it open. Fle wrote into neither; " +
                      $"the database as this session had it was saved to '{copied}'. {what} was not saved.";
            action = $"The next save writes into the file now at '{path}'. If that is not the database you want, restore '{copied}' there (or connect to it).";
        }
        else
        {
            message = $"The SQLite database '{path}' was deleted or replaced while this session had it open, and Fle could not save a copy of it ({failure}). {what} was not saved.";
            action = $"Make '{Folder}' writable and save again, or restore the database from a backup.";
        }
        return new FleException(FleErrorIds.StorageFileMoved, FleErrorKind.StorageError, message, null, path) { RecommendedAction = action };
    }

    private static void TryDelete(string p)
    {
        try { File.Delete(p); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
