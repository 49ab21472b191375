#!/usr/bin/env pwsh
<#
.SYNOPSIS
Nightly backup of the Fle database, for cron / systemd timers / Task Scheduler.

.DESCRIPTION
Connects to the database that the environment or .env configures (FLE_DB_TYPE, SQLITE_DB_FILE,
SKILLS_DB_*), checks it, takes a timestamped backup into -Destination (SQLite: online backup API,
consistent while agents write; PostgreSQL: pg_dump -Fc, or a Fle export file without pg_dump), keeps
only the newest -Retain backups there, and checks the copy. Exits non-zero on any failure, so the
scheduler reports it.

.EXAMPLE
# crontab -e:  15 3 * * *  cd /srv/fle && pwsh -NoProfile -File examples/Backup-Nightly.ps1 -Destination /backups/fle -Retain 14
./examples/Backup-Nightly.ps1 -Destination /backups/fle -Retain 14
#>
[CmdletBinding()]
param(
    # Folder for the backups (created when missing).
    [Parameter(Mandatory)] [string] $Destination,
    # How many of Fle's backups to keep in that folder.
    [ValidateRange(1, 10000)] [int] $Retain = 7,
    # A .env file to read instead of ./.env.
    [string] $EnvFile,
    # Where the Fle module is, when it is not installed (Import-Module Fle).
    [string] $ModulePath
)
$ErrorActionPreference = 'Stop'
if (-not (Get-Module Fle)) { Import-Module ($ModulePath ? $ModulePath : 'Fle') }

$connectArgs = @{ PassThru = $true; NoDefault = $true }
if ($EnvFile) { $connectArgs.EnvFile = $EnvFile }
$db = Connect-FleDatabase @connectArgs
try {
    if (-not (Test-FleDatabase -Connection $db -Quiet)) {
        Test-FleDatabase -Connection $db -ErrorAction Continue | Where-Object Status -NE 'Passed' | Out-String | Write-Warning
        throw "The database $($db.Location) failed its checks; not overwriting older backups with a damaged copy."
    }
    $backup = Backup-FleDatabase -Connection $db -Destination $Destination -Retain $Retain
    if ($backup.Kind -eq 'SqliteFile' -and (Get-Command sqlite3 -ErrorAction SilentlyContinue)) {
        $check = & sqlite3 $backup.Path 'PRAGMA integrity_check'
        if ($check -ne 'ok') { throw "The backup $($backup.Path) failed sqlite3's integrity check: $check" }
    }
    Write-Verbose "Backed up $($db.Location) to $($backup.Path) ($($backup.Size) bytes, sha256 $($backup.Sha256)); removed $($backup.Removed.Count) old backup(s)."
    $backup
} finally {
    $db | Disconnect-FleDatabase
}
