using System.Management.Automation;
using Fle.Core;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>Back up the database: SQLite online backup, pg_dump -Fc, or (without pg_dump) a Fle export file.</summary>
[Cmdlet(VerbsData.Backup, "FleDatabase", SupportsShouldProcess = true)]
[OutputType(typeof(FleBackup))]
public sealed class BackupFleDatabaseCommand : FleProgressCmdlet
{
    /// <summary>A folder (a timestamped name is chosen in it) or a file. Default: 'backups' next to the SQLite file, ./.fle/backups for PostgreSQL.</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    [Alias("Path")]
    public string? Destination { get; set; }

    /// <summary>Keep only the newest n of Fle's timestamped backups in the destination folder (older ones are deleted).</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? Retain { get; set; }

    protected override void EndProcessing()
    {
        var store = Store;
        var dest = Destination is null ? store.DefaultBackupFolder(CurrentDirectory) : ResolvePath(Destination);
        var kind = store.PlannedBackupKind;
        if (!ShouldProcess($"{store.Backend} database {store.Location} to {dest} ({kind}{(Retain is { } r ? $", keeping the newest {r}" : "")})", "Back up")) return;
        WriteVerbose($"Backing up the {store.Backend} database {store.Location} as {kind} to {dest}.");
        var backup = RunWithProgress((p, ct) => store.BackupAsync(dest, Retain, p, ct), dest);
        foreach (var old in backup.Removed) WriteVerbose($"Removed the old backup {old} (-Retain {Retain}).");
        WriteObject(backup);
    }
}
