using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;

namespace Fle.Core.Storage;

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

    private static ReadOnlySpan<byte> Main => "main\0"u8;

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
