using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace Fle.Core.Storage.Sqlite;

/// <summary>
/// Closing: the last store of a file in this process leaves the database file self-contained (WAL checkpointed with
/// TRUNCATE), so a plain copy of it — the spec's <c>cp .fle/data.db backup</c> — holds every acknowledged step. That
/// happens on Dispose (Disconnect-FleDatabase, Remove-Module, a runspace closing) and, for every store still open, when
/// the process exits normally (the end of a script, <c>exit</c>, Ctrl+C, SIGTERM). A process killed outright (SIGKILL,
/// power loss) leaves the WAL beside the file: SQLite folds it in when the file is next opened, and nothing
/// acknowledged is lost, but the file alone is not a backup until then.
/// </summary>
internal sealed partial class SqliteProvider
{
    private bool _registered;

    /// <summary>Count this store among the open stores of its file (after a successful open).</summary>
    private void Register()
    {
        SqliteOpenFiles.Add(this);
        _registered = true;
    }

    private volatile bool _disposed;

    public override ValueTask DisposeAsync()
    {
        if (_disposed) return ValueTask.CompletedTask;
        _disposed = true;
        // A write stuck on another thread (a lock held by another process) is not waited for longer than its own timeout.
        var gated = _writeGate.Wait(TimeSpan.FromSeconds(Settings.BusyTimeoutSeconds + 1));
        try
        {
            if (gated)
            {
                _writer?.Dispose();
                _writer = null;
            }
            try { _checkpoint.Wait(); } catch (AggregateException) { }
        }
        finally
        {
            if (gated) _writeGate.Release();
        }
        // Release this file's pooled handles so the file can be moved or deleted right after.
        using (var conn = new SqliteConnection(_connectionString)) SqliteConnection.ClearPool(conn);
        if (_registered && SqliteOpenFiles.Remove(this)) FoldWal();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Copy the whole WAL into the database file and truncate it (PRAGMA wal_checkpoint(TRUNCATE)) on a connection of its
    /// own. Another process in the middle of a write or a read delays it up to a second, then it gives up quietly: that
    /// process's own close does it later.
    /// </summary>
    internal void FoldWal()
    {
        if (!File.Exists(Settings.SqlitePath + "-wal")) return;
        try
        {
            var cs = new SqliteConnectionStringBuilder(_connectionString) { Pooling = false, DefaultTimeout = 1 }.ToString();
            using var conn = new SqliteConnection(cs);
            conn.Open();
            using (var cmd = conn.CreateCommand())
            {
                cmd.CommandText = "PRAGMA busy_timeout = 1000";
                cmd.ExecuteNonQuery();
            }
            Checkpoint(conn, "TRUNCATE");
        }
        catch (Exception e) when (e is SqliteException or InvalidOperationException or IOException)
        {
            // The file is gone or unwritable: nothing to fold into.
        }
    }
}

/// <summary>
/// The SQLite stores open in this process, by file. Process-wide by nature (a file's WAL is shared by every connection
/// of the process), guarded by a lock, and used only to know which store closes a file last and to close them all
/// when the process exits.
/// </summary>
internal static class SqliteOpenFiles
{
    private static readonly object Gate = new();
    private static readonly Dictionary<string, HashSet<SqliteProvider>> ByFile = new(OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
    private static bool _hooked;
    private static readonly List<PosixSignalRegistration> Signals = [];

    public static void Add(SqliteProvider store)
    {
        lock (Gate)
        {
            if (!_hooked)
            {
                // A normal exit: the end of a script, exit(n), a Ctrl+C that ends the host.
                AppDomain.CurrentDomain.ProcessExit += (_, _) => CloseAll();
                // SIGTERM (kill, systemd, a container stopping) and SIGHUP (the terminal closed) end the process without
                // ProcessExit since .NET 10: close the stores, then let the signal do what it does by default.
                if (!OperatingSystem.IsWindows() && !OperatingSystem.IsBrowser())
                {
                    Signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => CloseAll()));
                    Signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGHUP, _ => CloseAll()));
                }
                _hooked = true;
            }
            var key = System.IO.Path.GetFullPath(store.Path);
            if (!ByFile.TryGetValue(key, out var set)) ByFile[key] = set = [];
            set.Add(store);
        }
    }

    /// <summary>Forget a store; true when it was the last open one of its file.</summary>
    public static bool Remove(SqliteProvider store)
    {
        lock (Gate)
        {
            var key = System.IO.Path.GetFullPath(store.Path);
            if (!ByFile.TryGetValue(key, out var set) || !set.Remove(store)) return false;
            if (set.Count > 0) return false;
            ByFile.Remove(key);
            return true;
        }
    }

    /// <summary>The number of stores of a file open in this process.</summary>
    public static int Count(string path)
    {
        lock (Gate) return ByFile.TryGetValue(System.IO.Path.GetFullPath(path), out var set) ? set.Count : 0;
    }

    private static void CloseAll()
    {
        List<SqliteProvider> open;
        lock (Gate) open = ByFile.Values.SelectMany(s => s).ToList();
        foreach (var store in open)
        {
            try { store.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
            catch (Exception) { /* the process is ending: close what can be closed */ }
        }
    }
}
