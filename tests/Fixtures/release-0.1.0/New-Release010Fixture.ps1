<#
.SYNOPSIS
Writes the schema-1 fixtures with the module of release 0.1.0 (commit 5abd81f): a SQLite file and a plain pg_dump of a
PostgreSQL database with the same content, plus manifest.json (every trajectory, step and SHA-256 of every text and
state) that the upgrade tests check byte for byte after the new release migrates them in place.

.DESCRIPTION
Run once, with -ModulePath pointing at a build of release 0.1.0 (git worktree add --detach <dir> 5abd81f; build it).
The files it wrote are committed next to it; the tests never run this script.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $PgConnectionString,
    [string] $OutputPath = $PSScriptRoot
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
if ((Get-Module Fle).Version -ne [version]'0.1.0') { throw "This needs the 0.1.0 module, not $((Get-Module Fle).Version)." }

function Get-Sha([AllowNull()] $Value) {
    if ($null -eq $Value) { return $null }
    [byte[]] $bytes = $Value -is [byte[]] ? $Value : [Text.Encoding]::UTF8.GetBytes([string]$Value)
    [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($bytes)).ToLowerInvariant()
}

function Get-State([int] $World, [int] $Step, [int] $Entities) {
    # FLE-like: mostly the same from step to step, a zlib+base64 entity blob that changes now and then.
    $rng = [Random]::new($World * 1000 + [math]::Floor($Step / 7))
    $ents = foreach ($i in 0..($Entities - 1)) { @{ name = @('stone-furnace', 'burner-mining-drill', 'inserter')[$rng.Next(3)]; x = $rng.Next(-50, 50); y = $rng.Next(-50, 50); status = 'working' } }
    $json = [Text.Encoding]::UTF8.GetBytes(($ents | ConvertTo-Json -Compress))
    $ms = [IO.MemoryStream]::new(); $z = [IO.Compression.ZLibStream]::new($ms, [IO.Compression.CompressionLevel]::Optimal); $z.Write($json, 0, $json.Length); $z.Dispose()
    @{ timestamp = $Step * 60.5; entities = [Convert]::ToBase64String($ms.ToArray()); inventories = @(@{ 'iron-plate' = 10 * $Step; coal = 50 - ($Step % 50); 'fábrica' = '⚙' })
       research = @{ current = 'automation'; progress = ($Step % 10) / 10 } } | ConvertTo-Json -Depth 6 -Compress
}

function Write-Content($Connection) {
    $a = New-FleTrajectory -TaskId iron_plate_throughput -Metadata @{ model = 'gpt-4o'; version = 3; note = 'fábrica ⚙ "quoted"' } -Connection $Connection
    foreach ($s in 0..39) {
        Save-FleCheckpoint -TrajectoryId $a.Id -StepNumber $s -AgentCode "place_entity(Prototype.StoneFurnace, position=Position(x=$s, y=0))`n# step $s" `
            -EnvironmentFeedback "Placed at ($s, 0)`nTraceback? no" -GameState (Get-State 1 $s (20 + [math]::Floor($s / 7))) -Metadata @{ reward = $s * 1.5; ticks = 60 * $s } -Connection $Connection | Out-Null
    }
    Complete-FleTrajectory -Id $a.Id -Connection $Connection | Out-Null

    $b = New-FleTrajectory -TaskId copper_mine -Metadata @{ model = 'claude' } -Connection $Connection
    Save-FleStep -TrajectoryId $b.Id -StepNumber 0 -AgentCode '' -EnvironmentFeedback 'no state here' -Connection $Connection | Out-Null
    Save-FleCheckpoint -TrajectoryId $b.Id -StepNumber 1 -AgentCode 'print(1)' -EnvironmentFeedback 'Error: boom' -GameState (Get-State 2 1 400) -Connection $Connection | Out-Null
    Save-FleStep -TrajectoryId $b.Id -StepNumber 2 -AgentCode 'x = 1' -EnvironmentFeedback '' -Metadata @{ error_occurred = $true } -Connection $Connection | Out-Null
    Save-FleCheckpoint -TrajectoryId $b.Id -StepNumber 5 -AgentCode 'big' -EnvironmentFeedback 'large state' -GameState (Get-State 3 5 3000) -Connection $Connection | Out-Null
    Complete-FleTrajectory -Id $b.Id -Status Failed -Connection $Connection | Out-Null

    $null = New-FleTrajectory -TaskId empty_run -Connection $Connection

    # Starts from the same state as the first trajectory (FLE runs of one task do).
    $d = New-FleTrajectory -TaskId iron_plate_throughput -Metadata @{ model = 'gpt-4o'; version = 4 } -Connection $Connection
    foreach ($s in 0..11) {
        Save-FleCheckpoint -TrajectoryId $d.Id -StepNumber $s -AgentCode "print($s)" -EnvironmentFeedback "ok $s" -GameState (Get-State 1 $s (20 + [math]::Floor($s / 5))) -Connection $Connection | Out-Null
    }
}

function Get-Manifest($Connection) {
    foreach ($t in Get-FleTrajectory -Connection $Connection | Sort-Object Id) {
        [ordered]@{
            id = $t.Id; task_id = $t.TaskId; status = "$($t.Status)"; metadata = $t.MetadataJson
            start_time = $t.StartTime.ToString('o'); end_time = if ($t.EndTime) { $t.EndTime.ToString('o') } else { $null }
            steps = @(Get-FleStep -TrajectoryId $t.Id -IncludeGameState -Connection $Connection | ForEach-Object {
                    [ordered]@{
                        step_number = $_.StepNumber; agent_code = Get-Sha $_.AgentCode; environment_feedback = Get-Sha $_.EnvironmentFeedback
                        metadata = $_.MetadataJson; timestamp = $_.Timestamp.ToString('o')
                        game_state = if ($_.HasGameState) { Get-Sha ([byte[]]$_.GameState) } else { $null }
                        game_state_size = $_.GameStateSize
                    } })
        }
    }
}

$sqlite = Join-Path $OutputPath 'fle-0.1.0.sqlite3'
Remove-Item "$sqlite*" -ErrorAction Ignore
$c = Connect-FleDatabase -Path $sqlite -PassThru -NoDefault
Write-Content $c
$manifest = @(Get-Manifest $c)
$c | Disconnect-FleDatabase
& sqlite3 $sqlite 'PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;' | Out-Null

$p = Connect-FleDatabase -ConnectionString $PgConnectionString -PassThru -NoDefault
Write-Content $p
$pgManifest = @(Get-Manifest $p)
$p | Disconnect-FleDatabase
$b = @{}; foreach ($kv in $PgConnectionString -split ';' | Where-Object { $_ }) { $k, $v = $kv -split '=', 2; $b[$k.Trim()] = $v.Trim() }
$env:PGPASSWORD = $b.Password
& pg_dump -h $b.Host -p $b.Port -U $b.Username --no-owner --no-privileges $b.Database | Set-Content (Join-Path $OutputPath 'fle-0.1.0-postgres.sql') -Encoding utf8NoBOM
if ($LASTEXITCODE) { throw 'pg_dump failed' }
Remove-Item Env:PGPASSWORD

[ordered]@{ release = '0.1.0'; commit = '5abd81f'; schema_version = 1; sqlite = $manifest; postgres = $pgManifest } |
    ConvertTo-Json -Depth 8 | Set-Content (Join-Path $OutputPath 'manifest.json') -Encoding utf8NoBOM
"wrote $sqlite, fle-0.1.0-postgres.sql and manifest.json"
