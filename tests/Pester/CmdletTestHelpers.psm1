# Helpers of the cmdlet, completion and isolation suites: a fresh database per backend, and what is
# in it as seen by the real tools (sqlite3, psql), independent of Fle's own reading code.
Set-StrictMode -Version Latest

function Get-FleTestBackend {
    # The backends to run on: SQLite always, PostgreSQL when the test server is there (never skipped under CI=true).
    $list = @(@{ Name = 'Sqlite' })
    if (Test-FlePostgresAvailable) { $list += @{ Name = 'Postgres' } }
    , $list
}

function New-FleTestTarget {
    <#
    .SYNOPSIS
    A fresh, empty database on a backend and a connection to it (not the session default).
    Returns an object with Backend, Connection, Sqlite (the file) or Pg (the database parts).
    #>
    param([Parameter(Mandatory)] [ValidateSet('Sqlite', 'Postgres')] [string] $Backend)
    if ($Backend -eq 'Sqlite') {
        $file = Join-Path (New-FleTestDirectory) 'fle.db'
        $conn = Connect-FleDatabase -Path $file -PassThru -NoDefault
        return [pscustomobject]@{ Backend = $Backend; Connection = $conn; Sqlite = $file; Pg = $null }
    }
    $db = New-FleTestPostgresDatabase
    $conn = Connect-FleDatabase -Type Postgres -Server $db.Server -Port $db.Port -Database $db.Database -Credential (New-FleTestCredential) -PassThru -NoDefault
    [pscustomobject]@{ Backend = $Backend; Connection = $conn; Sqlite = $null; Pg = $db }
}

function Invoke-FleTestSql {
    # Run one SQL query with the backend's own command-line tool; returns the output lines.
    # Several queries run in one process (one round of tool start-up): their outputs follow each other.
    param([Parameter(Mandatory)] $Target, [Parameter(Mandatory)] [string[]] $Sql)
    if ($Target.Backend -eq 'Sqlite') {
        $out = & sqlite3 -batch $Target.Sqlite (($Sql | ForEach-Object { $_.TrimEnd(';') + ';' }) -join "`n")
    } else {
        $env:PGPASSWORD = $Target.Pg.Password
        try {
            $commands = foreach ($q in $Sql) { '-c'; $q }
            $out = & psql -h $Target.Pg.Server -p $Target.Pg.Port -U $Target.Pg.User -d $Target.Pg.Database -X -q -t -A -F '|' -v ON_ERROR_STOP=1 @commands
        } finally { Remove-Item Env:PGPASSWORD -ErrorAction Ignore }
    }
    if ($LASTEXITCODE -ne 0) { throw "SQL failed on $($Target.Backend): $Sql" }
    $out
}

function Get-FleTestSnapshot {
    # Everything a data-changing cmdlet could change, as one string: row counts, statuses, end times, step texts.
    param([Parameter(Mandatory)] $Target)
    $queries = @(
        'SELECT COUNT(*) FROM trajectories'
        'SELECT COUNT(*) FROM steps'
        'SELECT COUNT(*) FROM game_states'
        "SELECT id || ' ' || status || ' ' || COALESCE(CAST(end_time AS TEXT), '-') || ' ' || task_id FROM trajectories ORDER BY id"
        "SELECT trajectory_id || ' ' || CAST(step_number AS TEXT) || ' ' || agent_code || ' ' || environment_feedback FROM steps ORDER BY trajectory_id, step_number"
        'SELECT CAST(step_number AS TEXT) || ' + "' '" + ' || CAST(raw_size AS TEXT) FROM game_states ORDER BY trajectory_id, step_number'
    )
    # Each query's output starts with a marker row, so a change cannot move between sections unseen.
    $withMarkers = for ($i = 0; $i -lt $queries.Count; $i++) { "SELECT '## $i'"; $queries[$i] }
    (Invoke-FleTestSql -Target $Target -Sql $withMarkers) -join "`n"
}

function Get-FleTestRowCount {
    param([Parameter(Mandatory)] $Target, [Parameter(Mandatory)] [ValidateSet('trajectories', 'steps', 'game_states')] [string] $Table)
    [int](Invoke-FleTestSql -Target $Target -Sql "SELECT COUNT(*) FROM $Table")
}

function Invoke-FleFreshPwsh {
    <#
    .SYNOPSIS
    Run a script in a brand-new pwsh process WITHOUT importing Fle first (the script does it); returns
    an object with the output lines, the error lines and the exit code.
    #>
    param([Parameter(Mandatory)] [string] $Script, [string] $WorkingDirectory = [System.IO.Path]::GetTempPath(), [hashtable] $Environment = @{})
    $full = "`$ErrorActionPreference='Stop'; `$PSStyle.OutputRendering='PlainText'; `$env:FLE_MODULE_PATH='$(Get-FleModulePath)'`n$Script"
    $encoded = [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($full))
    $psi = [System.Diagnostics.ProcessStartInfo]::new($env:FLE_PWSH)
    foreach ($a in '-NoProfile', '-NonInteractive', '-EncodedCommand', $encoded) { $psi.ArgumentList.Add($a) }
    $psi.WorkingDirectory = $WorkingDirectory
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    foreach ($k in $Environment.Keys) {
        if ($null -eq $Environment[$k]) { [void]$psi.Environment.Remove($k) } else { $psi.Environment[$k] = [string]$Environment[$k] }
    }
    $p = [System.Diagnostics.Process]::Start($psi)
    $errTask = $p.StandardError.ReadToEndAsync()
    $stdout = $p.StandardOutput.ReadToEnd()
    if (-not $p.WaitForExit(120000)) { $p.Kill($true); throw 'The child pwsh did not finish within 120 s.' }
    [pscustomobject]@{
        Output   = @($stdout -split "`r?`n" | Where-Object { $_ -ne '' })
        Error    = $errTask.Result
        ExitCode = $p.ExitCode
    }
}

Export-ModuleMember -Function *
