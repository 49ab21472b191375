#!/usr/bin/env pwsh
<#
.SYNOPSIS
Migrates a Fle SQLite database to PostgreSQL (the spec's "Switching Databases", as one script).

.DESCRIPTION
1. Checks the SQLite database (Test-FleDatabase -Deep: every game state decodes).
2. Optionally writes a portable export file first (-ExportPath), a copy to fall back on.
3. Streams every trajectory into PostgreSQL: Export-FleData | Import-FleData -Target Postgres.
   The target comes from SKILLS_DB_* (environment or .env) even while FLE_DB_TYPE is still sqlite.
   Each trajectory is imported in one transaction; re-running the script is safe (existing
   trajectories are skipped, nothing is duplicated).
4. Verifies that every source trajectory is in PostgreSQL with the same number of steps, then tells
   you to set FLE_DB_TYPE=postgres.

.EXAMPLE
$env:SKILLS_DB_HOST='localhost'; $env:SKILLS_DB_NAME='fle_database'; $env:SKILLS_DB_USER='fle_user'; $env:SKILLS_DB_PASSWORD='fle123'
./examples/Move-SqliteToPostgres.ps1 -SqlitePath .fle/data.db -ExportPath ./fle-before-move.jsonl.gz
#>
[CmdletBinding()]
param(
    # The SQLite file (default: SQLITE_DB_FILE, else .fle/data.db).
    [string] $SqlitePath = ($env:SQLITE_DB_FILE ? $env:SQLITE_DB_FILE : '.fle/data.db'),
    # Also write a portable export file here before migrating.
    [string] $ExportPath,
    # What to do with trajectories already in PostgreSQL.
    [ValidateSet('Skip', 'Overwrite', 'Error')] [string] $ConflictAction = 'Skip',
    [string] $ModulePath
)
$ErrorActionPreference = 'Stop'
if (-not (Get-Module Fle)) { Import-Module ($ModulePath ? $ModulePath : 'Fle') }
if (-not (Test-Path $SqlitePath)) { throw "The SQLite database '$SqlitePath' does not exist." }

$sqlite = Connect-FleDatabase -Type Sqlite -Path $SqlitePath -PassThru -NoDefault
try {
    if (-not (Test-FleDatabase -Connection $sqlite -Deep -Quiet)) { throw "The SQLite database $($sqlite.Location) failed Test-FleDatabase -Deep; fix or restore it first." }
    if ($ExportPath) {
        $file = Export-FleData -Connection $sqlite -Path $ExportPath -Force
        Write-Verbose "Wrote $($file.Path): $($file.Trajectories) trajectories, sha256 $($file.Sha256)."
    }
    $summary = Export-FleData -Connection $sqlite | Import-FleData -Target Postgres -ConflictAction $ConflictAction

    # Verify: every source trajectory is in PostgreSQL with as many steps.
    $pg = Connect-FleDatabase -Type Postgres -PassThru -NoDefault
    try {
        $missing = foreach ($t in Get-FleTrajectory -Connection $sqlite) {
            $there = Get-FleTrajectory -Id $t.Id -Connection $pg -ErrorAction SilentlyContinue
            if (-not $there -or $there.StepCount -ne $t.StepCount) { $t.Id }
        }
        if ($missing) { throw "$(@($missing).Count) trajectories are missing or incomplete in PostgreSQL: $(@($missing)[0..4] -join ', ')" }
        Write-Host "Migrated $($summary.Trajectories) trajectories ($($summary.Steps) steps, $($summary.States) states; $($summary.Skipped) already there) to $($pg.Location)."
        Write-Host 'Now set FLE_DB_TYPE=postgres (in .env) so that Fle uses PostgreSQL.'
    } finally { $pg | Disconnect-FleDatabase }
    $summary
} finally {
    $sqlite | Disconnect-FleDatabase
}
