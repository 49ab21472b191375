using System.Globalization;
using System.Runtime.InteropServices;

namespace Fle.Core.Storage.Sqlite;

/// <summary>
/// Who has a SQLite database in WAL mode open: every connection holds a shared lock on one byte of the -shm file for as
/// long as it is open, and Linux lists those locks in /proc/locks. Reading that list touches no descriptor of the file
/// (opening and closing one would drop this process's own SQLite locks on it: POSIX locks belong to the process).
/// </summary>
internal static partial class SqliteWalFiles
{
    /// <summary>The ids of the processes holding the database open, or null where that cannot be told (not Linux).</summary>
    public static IReadOnlyList<int>? Holders(string databasePath)
    {
        var shm = databasePath + "-shm";
        if (!OperatingSystem.IsLinux()) return null;
        if (!File.Exists(shm)) return [];
        if (Inode(shm) is not { } id) return null;
        string[] lines;
        try { lines = File.ReadAllLines("/proc/locks"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        var pids = new SortedSet<int>();
        foreach (var line in lines)
        {
            // "1: POSIX  ADVISORY  READ 5467 fe:00:11716181 128 128" (a "->" after the number marks a waiting request)
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var at = Array.FindIndex(f, x => x.Count(c => c == ':') == 2);
            if (at < 1 || f.Contains("->")) continue;
            var dev = f[at].Split(':');
            if (!ulong.TryParse(dev[2], NumberStyles.None, CultureInfo.InvariantCulture, out var inode) || inode != id.Inode) continue;
            if (!uint.TryParse(dev[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var major) || major != id.Major) continue;
            if (!uint.TryParse(dev[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var minor) || minor != id.Minor) continue;
            if (int.TryParse(f[at - 1], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) pids.Add(pid);
        }
        return pids.ToList();
    }

    /// <summary>
    /// Bytes of committed pages in the WAL that are not in the database file yet, from the -shm header (frames written
    /// minus frames checkpointed, times the page size), or null when the header is not valid. Only for a database that
    /// no connection of this process has open: reading the file opens and closes a descriptor of it.
    /// </summary>
    public static long? PendingBytes(string databasePath)
    {
        Span<byte> h = stackalloc byte[104];
        try
        {
            using var fs = new FileStream(databasePath + "-shm", FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (fs.ReadAtLeast(h, h.Length, throwOnEndOfStream: false) < h.Length) return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // WalIndexHdr (native byte order): isInit at 12, szPage at 14 (1 means 65536), mxFrame at 16; nBackfill at 96.
        if (h[12] != 1) return null;
        var page = BitConverter.ToUInt16(h[14..16]) is var p && p == 1 ? 65536 : p;
        var max = BitConverter.ToUInt32(h[16..20]);
        var backfilled = BitConverter.ToUInt32(h[96..100]);
        return max >= backfilled ? (long)(max - backfilled) * page : null;
    }

    // glibc and musl, x86-64 and arm64: struct stat starts with st_dev (8 bytes) and st_ino (8 bytes).
    [LibraryImport("libc", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Stat(string path, byte* buffer);

    private static unsafe (uint Major, uint Minor, ulong Inode)? Inode(string path)
    {
        var buffer = stackalloc byte[512];
        try
        {
            if (Stat(path, buffer) != 0) return null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        var dev = *(ulong*)buffer;
        var ino = *(ulong*)(buffer + 8);
        // glibc's dev_t encoding (gnu_dev_major / gnu_dev_minor)
        var major = (uint)(((dev >> 8) & 0xfff) | ((dev >> 32) & 0xfffff000));
        var minor = (uint)((dev & 0xff) | ((dev >> 12) & 0xffffff00));
        return (major, minor, ino);
    }
}
