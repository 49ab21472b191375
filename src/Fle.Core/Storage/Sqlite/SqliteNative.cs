using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace Fle.Core.Storage.Sqlite;

/// <summary>
/// The two SQLite calls that SQLitePCLRaw does not expose, on the same native library it loads (e_sqlite3): whether a
/// connection's database file was deleted or replaced under it, and the operating system's error number of its last
/// failed I/O (ENOSPC, EROFS, EACCES ...), so a storage error can say what happened.
/// </summary>
internal static partial class SqliteNative
{
    private const string Library = "e_sqlite3";
    private const int FcntlHasMoved = 20; // SQLITE_FCNTL_HAS_MOVED

    [LibraryImport(Library, EntryPoint = "sqlite3_file_control")]
    private static partial int FileControl(IntPtr db, ReadOnlySpan<byte> schema, int op, ref int arg);

    [LibraryImport(Library, EntryPoint = "sqlite3_system_errno")]
    private static partial int SystemErrno(IntPtr db);

    [LibraryImport(Library, EntryPoint = "sqlite3_wal_hook")]
    private static unsafe partial IntPtr WalHook(IntPtr db, delegate* unmanaged[Cdecl]<IntPtr, IntPtr, IntPtr, int, int> callback, IntPtr arg);

    private static ReadOnlySpan<byte> Main => "main\0"u8;

    /// <summary>The number of frames in a connection's WAL after its last commit (kept up to date by SQLite's WAL hook).</summary>
    internal sealed class WalFrames
    {
        public int Count;
    }

    /// <summary>
    /// Count the WAL's frames after each commit of the connection (sqlite3_wal_hook; this replaces SQLite's automatic
    /// checkpoint, which is the same hook). Returns the handle to free with <see cref="StopTracking"/>, or default when
    /// the library lacks the call (then nothing is counted).
    /// </summary>
    public static unsafe GCHandle TrackWalFrames(SqliteConnection conn, WalFrames frames)
    {
        var handle = GCHandle.Alloc(frames);
        try
        {
            WalHook(conn.Handle!.DangerousGetHandle(), &OnWalCommit, GCHandle.ToIntPtr(handle));
            return handle;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            handle.Free();
            return default;
        }
    }

    /// <summary>Give the connection SQLite's automatic checkpoints back (which replaces the hook), then free the handle.</summary>
    public static void StopTracking(SqliteConnection conn, GCHandle handle, int autocheckpointPages)
    {
        if (conn.Handle is { } h) SQLitePCL.raw.sqlite3_wal_autocheckpoint(h, autocheckpointPages);
        if (handle.IsAllocated) handle.Free();
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int OnWalCommit(IntPtr arg, IntPtr db, IntPtr schema, int frames)
    {
        if (GCHandle.FromIntPtr(arg).Target is WalFrames w) w.Count = frames;
        return 0; // SQLITE_OK
    }

    /// <summary>True when the file the connection opened is no longer the file at its path (deleted, renamed, replaced).</summary>
    public static bool HasMoved(SqliteConnection conn)
    {
        var moved = 0;
        try
        {
            return FileControl(conn.Handle!.DangerousGetHandle(), Main, FcntlHasMoved, ref moved) == 0 && moved != 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // a SQLite build without it: the check is only a safety net
        }
    }

    /// <summary>errno of the connection's last failed system call (0 when unknown).</summary>
    public static int LastErrno(SqliteConnection conn)
    {
        try
        {
            return conn.Handle is { } h ? SystemErrno(h.DangerousGetHandle()) : 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return 0;
        }
    }
}
