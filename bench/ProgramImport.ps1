# Import-FleProgramTable of a FLE programs table (SQLite) into PostgreSQL through the module, in a fresh pwsh; prints
# seconds and the process's peak RSS (VmHWM) as JSON. The time runs from opening the target (Connect-FleDatabase:
# connecting, creating the schema) to the summary, as section 6 times Import-FleData -Target.
param(
    [Parameter(Mandatory)][string]$ModulePath,
    [Parameter(Mandatory)][string]$Source,
    [Parameter(Mandatory)][string]$PgConnectionString
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
$kv = @{}
foreach ($part in $PgConnectionString -split ';') { if ($part -match '^\s*([^=]+?)\s*=\s*(.*)$') { $kv[$Matches[1].ToLowerInvariant()] = $Matches[2] } }
$env:SKILLS_DB_HOST = $kv['host']; $env:SKILLS_DB_PORT = $kv['port']; $env:SKILLS_DB_NAME = $kv['database']
$env:SKILLS_DB_USER = $kv['username']; $env:SKILLS_DB_PASSWORD = $kv['password']
$sw = [Diagnostics.Stopwatch]::StartNew()
Connect-FleDatabase -Type Postgres
$summary = Import-FleProgramTable -Path $Source
$seconds = $sw.Elapsed.TotalSeconds
$hwmKb = [long]((Get-Content /proc/self/status | Where-Object { $_ -like 'VmHWM*' }) -replace '\D', '')
[pscustomobject]@{ seconds = $seconds; peak_rss_mb = [math]::Round($hwmKb / 1024, 1); steps = $summary.Steps; bytes = $summary.Bytes; skipped = $summary.SkippedCount } |
    ConvertTo-Json -Compress
