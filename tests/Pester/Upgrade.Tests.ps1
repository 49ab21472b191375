# A database written by release 0.1.0 (schema 1) upgrades in place to schema 2 on first open, on SQLite and on
# PostgreSQL, and every old trajectory, step, text and game state reads back byte for byte. The fixtures were written by
# the 0.1.0 module itself (tests/Fixtures/release-0.1.0/New-Release010Fixture.ps1); manifest.json holds their SHA-256s.
BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'CmdletTestHelpers.psm1') -Force
    $script:backends = Get-FleTestBackend
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'CmdletTestHelpers.psm1') -Force
    Import-Module (Get-FleModulePath) -Force
    $script:fixtures = Join-Path $PSScriptRoot '../Fixtures/release-0.1.0'
    $script:manifest = Get-Content (Join-Path $fixtures 'manifest.json') -Raw | ConvertFrom-Json -DateKind String

    function Get-Sha([AllowNull()] $Value) {
        if ($null -eq $Value) { return $null }
        [byte[]] $bytes = $Value -is [byte[]] ? $Value : [Text.Encoding]::UTF8.GetBytes([string]$Value)
        [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($bytes)).ToLowerInvariant()
    }

    # The database as the manifest describes it, read through the new module (same shape as New-Release010Fixture.ps1).
    function Get-Manifest($Connection) {
        foreach ($t in Get-FleTrajectory -Connection $Connection | Where-Object { $null -eq $_.ParentId } | Sort-Object Id) {
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

    function ConvertTo-Canonical($Value) { $Value | ConvertTo-Json -Depth 8 -Compress }

    # Load the 0.1.0 fixture of a backend into a fresh database with the backend's own tools; returns a target.
    function New-Release010Database([string] $Backend) {
        if ($Backend -eq 'Sqlite') {
            $file = Join-Path (New-FleTestDirectory) 'data.db'
            Copy-Item (Join-Path $fixtures 'fle-0.1.0.sqlite3') $file
            return [pscustomobject]@{ Backend = $Backend; Sqlite = $file; Pg = $null; Expected = $manifest.sqlite }
        }
        $db = New-FleTestPostgresDatabase -Prefix 'fle_v010'
        $env:PGPASSWORD = $db.Password
        try {
            $out = & psql -h $db.Server -p $db.Port -U $db.User -d $db.Database -X -q -v ON_ERROR_STOP=1 -f (Join-Path $fixtures 'fle-0.1.0-postgres.sql') 2>&1
            if ($LASTEXITCODE) { throw "psql could not load the 0.1.0 dump: $out" }
        } finally { Remove-Item Env:PGPASSWORD -ErrorAction Ignore }
        [pscustomobject]@{ Backend = $Backend; Sqlite = $null; Pg = $db; Expected = $manifest.postgres }
    }

    function Connect-Release010([pscustomobject] $Target) {
        if ($Target.Backend -eq 'Sqlite') { return Connect-FleDatabase -Path $Target.Sqlite -PassThru -NoDefault }
        Connect-FleDatabase -ConnectionString $Target.Pg.ConnectionString -PassThru -NoDefault
    }
}

Describe 'A 0.1.0 database on <Name>' -ForEach $backends {
    BeforeAll {
        $target = New-Release010Database -Backend $Name
    }

    It 'is schema 1 before it is opened: no lineage columns' {
        Invoke-FleTestSql -Target $target -Sql 'SELECT MAX(version) FROM fle_schema_version' | Should -Be '1'
        $columns = if ($Name -eq 'Sqlite') { Invoke-FleTestSql -Target $target -Sql "SELECT name FROM pragma_table_info('trajectories')" }
        else { Invoke-FleTestSql -Target $target -Sql "SELECT column_name FROM information_schema.columns WHERE table_name = 'trajectories'" }
        $columns | Should -Not -Contain 'parent_id'
        $target.Expected.Count | Should -Be 4
    }

    It 'upgrades in place on first open, once, and reads every old state back byte for byte' {
        $c = Connect-Release010 $target
        try {
            $c.SchemaVersion | Should -Be 2
            (Get-FleDatabase -Connection $c).SchemaVersion | Should -Be 2
            Invoke-FleTestSql -Target $target -Sql 'SELECT version FROM fle_schema_version ORDER BY version' | Should -Be @('1', '2')
            $columns = if ($Name -eq 'Sqlite') { Invoke-FleTestSql -Target $target -Sql "SELECT name FROM pragma_table_info('trajectories')" }
            else { Invoke-FleTestSql -Target $target -Sql "SELECT column_name FROM information_schema.columns WHERE table_name = 'trajectories'" }
            $columns | Should -Contain 'parent_id'
            $columns | Should -Contain 'fork_step_number'

            $got = @(Get-Manifest $c)
            $got.Count | Should -Be $target.Expected.Count
            for ($i = 0; $i -lt $got.Count; $i++) {
                $e = $target.Expected[$i]
                $g = $got[$i]
                $g.id | Should -Be $e.id
                foreach ($k in 'task_id', 'status', 'metadata', 'start_time', 'end_time') { $g[$k] | Should -Be $e.$k -Because "$k of $($e.id)" }
                $g.steps.Count | Should -Be @($e.steps).Count -Because "the steps of $($e.id)"
                for ($j = 0; $j -lt $g.steps.Count; $j++) {
                    ConvertTo-Canonical $g.steps[$j] | Should -Be (ConvertTo-Canonical ([ordered]@{
                                step_number = $e.steps[$j].step_number; agent_code = $e.steps[$j].agent_code; environment_feedback = $e.steps[$j].environment_feedback
                                metadata = $e.steps[$j].metadata; timestamp = $e.steps[$j].timestamp; game_state = $e.steps[$j].game_state
                                game_state_size = $e.steps[$j].game_state_size })) -Because "step $j of $($e.id)"
                }
            }
            (Test-FleDatabase -Connection $c | Where-Object Status -EQ 'Failed') | Should -BeNullOrEmpty
        } finally { $c | Disconnect-FleDatabase }

        # a second open does not migrate again
        $again = Connect-Release010 $target
        try { $again.SchemaVersion | Should -Be 2 } finally { $again | Disconnect-FleDatabase }
        Invoke-FleTestSql -Target $target -Sql 'SELECT COUNT(*) FROM fle_schema_version' | Should -Be '2'
    }

    It 'an upgraded run can be forked and resumed from an old step, and its old states stay as they were' {
        $c = Connect-Release010 $target
        try {
            $old = $target.Expected | Where-Object { @($_.steps).Count -eq 40 }
            $cp = Resume-FleTrajectory -Id $old.id -StepNumber 20 -Fork -Connection $c
            $cp.NextStepNumber | Should -Be 21
            Get-Sha ([byte[]]$cp.GameState) | Should -Be $old.steps[20].game_state
            Save-FleCheckpoint -TrajectoryId $cp.TrajectoryId -StepNumber 21 -AgentCode 'new' -EnvironmentFeedback 'after upgrade' -GameState $cp.GameStateText -Connection $c
            $view = Get-FleStep -TrajectoryId $cp.TrajectoryId -IncludeGameState -Connection $c
            $view.Count | Should -Be 22
            Get-Sha ([byte[]]$view[21].GameState) | Should -Be $old.steps[20].game_state
            Get-Sha ([byte[]]$view[5].GameState) | Should -Be $old.steps[5].game_state
            Get-Sha ([byte[]](Get-FleCheckpoint -TrajectoryId $old.id -Latest -Connection $c).GameState) | Should -Be $old.steps[39].game_state
        } finally { $c | Disconnect-FleDatabase }
    }
}

Describe 'Restoring a 0.1.0 backup with 0.2.0 on <Name>' -ForEach $backends {
    It 'Restore-FleDatabase of the 0.1.0 backup into a schema-2 database upgrades it, and the old states read back' {
        $target = New-FleTestTarget -Backend $Name
        try {
            $c = $target.Connection
            $t = New-FleTrajectory -TaskId 'replaced-by-restore' -Connection $c
            $null = New-FleTrajectory -ParentId $t.Id -ForkStepNumber 0 -Connection $c -ErrorAction SilentlyContinue   # no step 0: refused
            $backup = Join-Path $fixtures ($Name -eq 'Sqlite' ? 'fle-0.1.0.sqlite3' : 'fle-0.1.0-postgres.sql')
            Restore-FleDatabase -Path $backup -Connection $c -Confirm:$false | Out-Null
            $c.SchemaVersion | Should -Be 2
            Invoke-FleTestSql -Target $target -Sql 'SELECT version FROM fle_schema_version ORDER BY version' | Should -Be @('1', '2')
            $expected = $Name -eq 'Sqlite' ? $manifest.sqlite : $manifest.postgres
            $old = $expected | Where-Object { @($_.steps).Count -eq 40 }
            Get-FleTrajectory -Id $t.Id -Connection $c -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $steps = Get-FleStep -TrajectoryId $old.id -IncludeGameState -Connection $c
            $steps.Count | Should -Be 40
            for ($i = 0; $i -lt 40; $i++) { Get-Sha ([byte[]]$steps[$i].GameState) | Should -Be $old.steps[$i].game_state }
            (New-FleTrajectory -ParentId $old.id -ForkStepNumber 39 -Connection $c).ParentId | Should -Be $old.id
        } finally { $target.Connection | Disconnect-FleDatabase }
    }
}
