using System.Management.Automation;
using Fle.Core;
using Fle.Core.Storage;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>Restore a backup (SQLite file, pg_dump archive, SQL script or Fle export file) into the database.</summary>
[Cmdlet(VerbsData.Restore, "FleDatabase", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(FleRestoreResult))]
public sealed class RestoreFleDatabaseCommand : FleProgressCmdlet
{
    /// <summary>The backup file (from Backup-FleDatabase, pg_dump, sqlite3 .backup or Export-FleData -Path).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("FullName", "FilePath")]
    public string Path { get; set; } = "";

    /// <summary>For a Fle export file: what to do with trajectories that exist (default Overwrite: the backup wins).</summary>
    [Parameter]
    public FleConflictAction ConflictAction { get; set; } = FleConflictAction.Overwrite;

    protected override void ProcessRecord()
    {
        var store = Store;
        var file = ResolvePath(Path);
        if (!File.Exists(file))
        {
            WriteError(new ErrorRecord(new FileNotFoundException($"The backup '{file}' does not exist.", file), FleErrorIds.RestoreFailed, ErrorCategory.ObjectNotFound, file));
            return;
        }
        if (!TryRun(_ => Task.FromResult(FleStore.DetectBackupKind(file)), out var kind, file)) return;
        var what = kind switch
        {
            FleBackupKind.SqliteFile => "replace the whole SQLite database with",
            FleBackupKind.PgDump => "drop and recreate Fle's tables from",
            FleBackupKind.SqlScript => "run the SQL script",
            _ => $"import (ConflictAction {ConflictAction}) the trajectories of",
        };
        if (!ShouldProcess($"{store.Backend} database {store.Location}: {what} {file}", "Restore")) return;
        WriteVerbose($"Restoring {kind} {file} into {store.Location}.");
        if (TryRunWithProgress((p, ct) => store.RestoreAsync(file, ConflictAction, p, ct), out var result, file))
            WriteObject(result);
    }
}
