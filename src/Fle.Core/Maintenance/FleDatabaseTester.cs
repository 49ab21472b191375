using Fle.Core.Configuration;
using Fle.Core.Storage;

namespace Fle.Core.Maintenance;

/// <summary>The spec's Troubleshooting section as checks: before opening (file, folder, server) and then on the open database.</summary>
public static class FleDatabaseTester
{
    /// <summary>
    /// Check the database the settings name. With <paramref name="store"/> null a store is opened for the checks (and closed);
    /// a missing SQLite file is reported, never created.
    /// </summary>
    public static async Task<List<FleDatabaseCheck>> RunAsync(FleSettings settings, FleStore? store, bool deep, IProgress<FleProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var checks = new List<FleDatabaseCheck>();
        var location = settings.Describe();
        FleDatabaseCheck C(string name, FleCheckStatus st, string msg, long problems = 0) => new()
        {
            Check = name, Status = st, Message = msg, Problems = problems, Backend = settings.Backend, Location = location,
        };

        var walWarned = false;
        if (settings.Backend == FleBackend.Sqlite)
        {
            var path = settings.SqlitePath;
            var dir = Path.GetDirectoryName(path) ?? ".";
            if (!Directory.Exists(dir))
            {
                checks.Add(C("File", FleCheckStatus.Failed, $"The folder '{dir}' of the SQLite database does not exist. Create it (New-Item -ItemType Directory '{dir}') or set SQLITE_DB_FILE to another path.", 1));
                return checks;
            }
            if (!File.Exists(path))
            {
                checks.Add(C("File", FleCheckStatus.Failed, $"The SQLite database '{path}' does not exist. Check SQLITE_DB_FILE (or -Path); Connect-FleDatabase creates a new, empty one there.", 1));
                return checks;
            }
            checks.Add(C("File", FleCheckStatus.Passed, $"'{path}' exists ({new FileInfo(path).Length:N0} bytes)."));
            checks.Add(WalCheck(path, C));
            // The journal mode as the file says, before Fle opens it (opening turns WAL on again).
            var mode = ReadHeaderJournalMode(path);
            if (mode is not null and not "wal")
            {
                walWarned = true;
                checks.Add(C("JournalMode", FleCheckStatus.Warning,
                    $"The file was in '{mode}' journal mode, not WAL (another tool changed it): concurrent agents block each other. Fle turns WAL on when it opens the file; run Optimize-FleDatabase after using other tools on it.", 1));
            }
            var writable = CanWriteFile(path, out var whyFile) && CanWriteFolder(dir, out whyFile);
            checks.Add(writable
                ? C("Writable", FleCheckStatus.Passed, "The file and its folder are writable (SQLite needs the folder for its -wal and -shm files).")
                : C("Writable", FleCheckStatus.Failed, $"{whyFile} Check the permissions (ls -l; chmod u+rw), or run as the file's owner.", 1));
        }

        var owned = store is null;
        if (store is null)
        {
            try
            {
                store = await FleStore.OpenAsync(settings, cancellationToken).ConfigureAwait(false);
            }
            catch (FleException e)
            {
                var hint = settings.Backend == FleBackend.Postgres
                    ? $" Is the server running (systemctl status postgresql, docker ps)? Test by hand: psql -h {settings.Host} -p {settings.Port} -U {settings.Username} {settings.Database}"
                    : "";
                checks.Add(C("Connect", FleCheckStatus.Failed, e.Message + hint, 1));
                return checks;
            }
        }
        try
        {
            checks.Add(C("Connect", FleCheckStatus.Passed, $"Opened the {settings.Backend} database {location}."));
            var more = await store.CheckAsync(deep, progress, cancellationToken).ConfigureAwait(false);
            checks.AddRange(walWarned ? more.Where(c => c.Check != "JournalMode" || c.Status != FleCheckStatus.Passed) : more);
        }
        catch (FleException e)
        {
            checks.Add(C("Checks", FleCheckStatus.Failed, e.Message, 1));
        }
        finally
        {
            if (owned) await store.DisposeAsync().ConfigureAwait(false);
        }
        return checks;
    }

    /// <summary>A -wal file larger than this beside a database that nobody has open is worth a warning.</summary>
    internal const long LeftoverWalBytes = 4L << 20;

    /// <summary>
    /// A large WAL beside a database that no process has open: committed steps live only there (a writer was killed or
    /// the machine stopped), so a plain copy of the database file lacks them.
    /// </summary>
    private static FleDatabaseCheck WalCheck(string path, Func<string, FleCheckStatus, string, long, FleDatabaseCheck> c)
    {
        var wal = path + "-wal";
        var size = File.Exists(wal) ? new FileInfo(wal).Length : 0;
        if (size == 0) return c("Wal", FleCheckStatus.Passed, "No WAL beside the file: the file holds every committed step by itself.", 0);
        var holders = SqliteWalFiles.Holders(path);
        var mine = SqliteOpenFiles.Count(path) > 0;
        if (size <= LeftoverWalBytes)
            return c("Wal", FleCheckStatus.Passed, $"The WAL beside the file is small ({size:N0} bytes).", 0);
        if (holders is { Count: > 0 } || (holders is null && mine))
        {
            var who = holders is null ? "this session" : string.Join(", ", holders.Select(p => p == Environment.ProcessId ? "this session" : $"process {p}"));
            return c("Wal", FleCheckStatus.Passed,
                $"The WAL ({size:N0} bytes) is in use by {who}; Fle keeps it near 16 MB and folds it into the file when the last session closes. " +
                "Copy a database in use with Backup-FleDatabase, not cp.", 0);
        }
        var pending = mine ? null : SqliteWalFiles.PendingBytes(path);
        if (pending == 0)
            return c("Wal", FleCheckStatus.Passed, $"A WAL of {size:N0} bytes is left beside the file, but every page in it is in the file already.", 0);
        var amount = pending is { } b ? $"{b / 1048576.0:N1} MB of committed pages" : $"up to {size / 1048576.0:N1} MB of committed pages";
        return c("Wal", FleCheckStatus.Warning,
            $"'{wal}' holds {amount} that are not in '{path}' yet{(holders is null ? " (if no process is using the database)" : ", and no process has the database open")}: " +
            "a process that wrote them ended without closing the database (killed, or the machine stopped). Nothing is lost, SQLite reads them from there, " +
            "but a copy of the file alone lacks them. Connecting and disconnecting (any Fle session, or Optimize-FleDatabase) folds them into the file; " +
            "Backup-FleDatabase always copies everything.", 1);
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
        var probe = Path.Combine(dir, ".fle-write-test-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
            why = "";
            return true;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            why = $"The folder '{dir}' is not writable by this user ({e.Message}).";
            return false;
        }
    }
}
