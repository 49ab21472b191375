using Fle.Core.Configuration;

namespace Fle.Core;

/// <summary>How a backup is stored.</summary>
public enum FleBackupKind
{
    /// <summary>A SQLite database file (taken with SQLite's online backup API; opens in sqlite3).</summary>
    SqliteFile,

    /// <summary>A pg_dump custom-format archive (restorable with pg_restore).</summary>
    PgDump,

    /// <summary>A plain SQL script from pg_dump (restorable with psql).</summary>
    SqlScript,

    /// <summary>Fle's own export file (JSON lines, gzip), used for PostgreSQL when pg_dump is not installed.</summary>
    FleExport,
}

/// <summary>A backup Backup-FleDatabase made (or Restore-FleDatabase read).</summary>
public sealed class FleBackup
{
    public string Path { get; init; } = "";
    public long Size { get; init; }
    public string Sha256 { get; init; } = "";
    public TimeSpan Duration { get; init; }
    public FleBackend Backend { get; init; }
    public FleBackupKind Kind { get; init; }
    public DateTime Created { get; init; }

    /// <summary>The database that was backed up (no password).</summary>
    public string Source { get; init; } = "";

    /// <summary>Older backups deleted by -Retain.</summary>
    public IReadOnlyList<string> Removed { get; init; } = [];

    public override string ToString() => Path;
}

/// <summary>What Restore-FleDatabase did.</summary>
public sealed class FleRestoreResult
{
    public string Path { get; init; } = "";
    public FleBackupKind Kind { get; init; }
    public string Target { get; init; } = "";
    public FleBackend Backend { get; init; }
    public TimeSpan Duration { get; init; }

    /// <summary>For an export-file restore: the import summary.</summary>
    public FleImportSummary? Import { get; init; }

    public long Trajectories { get; init; }
    public override string ToString() => $"{Path} -> {Target}";
}

/// <summary>What Optimize-FleDatabase did.</summary>
public sealed class FleOptimizeResult
{
    public FleBackend Backend { get; init; }
    public string Location { get; init; } = "";
    public long SizeBefore { get; init; }
    public long SizeAfter { get; init; }
    public long Reclaimed => SizeBefore - SizeAfter;
    public IReadOnlyList<string> Actions { get; init; } = [];
    public TimeSpan Duration { get; init; }
}

/// <summary>What Get-FleDatabase returns.</summary>
public sealed class FleDatabaseInfo
{
    public FleBackend Backend { get; init; }

    /// <summary>File path, or user@host:port/database. Never a password.</summary>
    public string Location { get; init; } = "";
    public int SchemaVersion { get; init; }

    /// <summary>Bytes on disk: the SQLite file plus its -wal (and -shm); pg_database_size for PostgreSQL.</summary>
    public long SizeOnDisk { get; init; }
    public long? FileSize { get; init; }
    public long? WalSize { get; init; }
    public long Trajectories { get; init; }
    public long Steps { get; init; }
    public long States { get; init; }
    public long Dictionaries { get; init; }

    /// <summary>Game-state bytes as given by the agents.</summary>
    public long RawStateBytes { get; init; }

    /// <summary>Game-state bytes as stored (compressed states plus keyframe dictionaries).</summary>
    public long StoredStateBytes { get; init; }

    /// <summary>RawStateBytes / StoredStateBytes.</summary>
    public double CompressionRatio => StoredStateBytes == 0 ? 0 : Math.Round((double)RawStateBytes / StoredStateBytes, 2);

    /// <summary>SQLite journal mode (wal expected); null for PostgreSQL.</summary>
    public string? JournalMode { get; init; }

    /// <summary>PostgreSQL server version; SQLite library version for SQLite.</summary>
    public string? ServerVersion { get; init; }

    /// <summary>The zstd implementation this process compresses game states with ("libzstd 1.5.4 (native)" or "ZstdSharp (managed)").</summary>
    public string Compression { get; init; } = Codec.Zstd.Implementation;

    /// <summary>Version of the Fle module (set by the cmdlet).</summary>
    public string? ModuleVersion { get; set; }
}

/// <summary>Outcome of one check of Test-FleDatabase.</summary>
public enum FleCheckStatus
{
    Passed,
    Warning,
    Failed,
}

/// <summary>One check of Test-FleDatabase.</summary>
public sealed class FleDatabaseCheck
{
    public string Check { get; init; } = "";
    public FleCheckStatus Status { get; init; }

    /// <summary>What was found; for a problem, what to do about it.</summary>
    public string Message { get; init; } = "";

    /// <summary>Number of problems found by this check (rows, pages, states), when it counts.</summary>
    public long Problems { get; init; }

    public FleBackend Backend { get; init; }
    public string Location { get; init; } = "";

    /// <summary>The same result with another message (a host adding its own wording of what to do).</summary>
    public FleDatabaseCheck WithMessage(string message) => new()
    {
        Check = Check, Status = Status, Message = message, Problems = Problems, Backend = Backend, Location = Location,
    };

    public override string ToString() => $"{Status} {Check}: {Message}";
}
