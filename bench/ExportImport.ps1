# Export → import SQLite → PostgreSQL through the module (issue 4's Export-FleData | Import-FleData -Target Postgres),
# or with -Programs, Import-FleProgramTable of a FLE programs table (SQLite) into PostgreSQL (issue 12), in a fresh
# pwsh; prints seconds and the process's peak RSS (VmHWM) as JSON. Either way the time runs from opening the
# PostgreSQL target (connecting, creating the schema) to the summary.
param(
    [Parameter(Mandatory)][string]$ModulePath,
    [Parameter(Mandatory)][string]$Source,
    [Parameter(Mandatory)][string]$PgConnectionString,
    [switch]$Programs
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
$kv = @{}
foreach ($part in $PgConnectionString -split ';') { if ($part -match '^\s*([^=]+?)\s*=\s*(.*)$') { $kv[$Matches[1].ToLowerInvariant()] = $Matches[2] } }
$env:SKILLS_DB_HOST = $kv['host']; $env:SKILLS_DB_PORT = $kv['port']; $env:SKILLS_DB_NAME = $kv['database']
$env:SKILLS_DB_USER = $kv['username']; $env:SKILLS_DB_PASSWORD = $kv['password']
if ($Programs) {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    Connect-FleDatabase -Type Postgres
    $summary = Import-FleProgramTable -Path $Source
} else {
    Connect-FleDatabase -Type Sqlite -Path $Source
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $summary = Export-FleData | Import-FleData -Target Postgres
}
$seconds = $sw.Elapsed.TotalSeconds
$hwmKb = [long]((Get-Content /proc/self/status | Where-Object { $_ -like 'VmHWM*' }) -replace '\D', '')
[pscustomobject]@{ seconds = $seconds; peak_rss_mb = [math]::Round($hwmKb / 1024, 1); summary = $summary } | ConvertTo-Json -Compress -Depth 3
