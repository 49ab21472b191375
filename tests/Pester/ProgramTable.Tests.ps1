# Import-FleProgramTable against programs tables created with FLE's own DDL, by the real sqlite3 and psql tools.
BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:sources = @(@{ Name = 'Sqlite'; MetaType = 'TEXT' })
    if (Test-FlePostgresAvailable) {
        $script:sources += @{ Name = 'Postgres'; MetaType = 'TEXT' }
        $script:sources += @{ Name = 'Postgres'; MetaType = 'JSONB' }
    }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    # Not -Force: a forced re-import of an already loaded Fle leaves it without cmdlets (see Help.Tests.ps1).
    if (-not (Get-Command Import-FleProgramTable -ErrorAction SilentlyContinue)) { Import-Module (Get-FleModulePath) }

    function Get-FleProgramsDdl([string] $Backend, [string] $MetaType = 'TEXT') {
        # fle/commons/db_client.py: create_default_sqlite_db / create_default_postgres_db
        $id = if ($Backend -eq 'Sqlite') { 'id INTEGER PRIMARY KEY AUTOINCREMENT' } else { 'id SERIAL PRIMARY KEY' }
        $created = if ($Backend -eq 'Sqlite') { 'created_at DATETIME DEFAULT CURRENT_TIMESTAMP' } else { 'created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP' }
        @"
CREATE TABLE programs (
    $id,
    code TEXT NOT NULL,
    value REAL DEFAULT 0.0,
    visits INTEGER DEFAULT 0,
    parent_id INTEGER,
    state_json TEXT,
    conversation_json TEXT NOT NULL,
    completion_token_usage INTEGER,
    prompt_token_usage INTEGER,
    token_usage INTEGER,
    response TEXT,
    holdout_value REAL,
    raw_reward REAL,
    version INTEGER DEFAULT 1,
    version_description TEXT DEFAULT '',
    model TEXT DEFAULT 'gpt-4o',
    meta $MetaType,
    achievements_json TEXT,
    instance INTEGER DEFAULT -1,
    depth REAL DEFAULT 0.0,
    advantage REAL DEFAULT 0.0,
    ticks INTEGER DEFAULT 0,
    $created,
    timing_metrics_json TEXT
);
"@
    }

    function Get-FleState([int] $Tick) {
        # GameState.to_raw(): entities (base64 of zlib JSON), inventories, timestamp, namespaces (hex pickles), agent_messages, research
        $research = @{ technologies = @{}; current_research = 'automation'; research_progress = 0.5 }
        foreach ($t in 1..60) { $research.technologies["tech-$t"] = @{ name = "tech-$t"; researched = ($t -lt $Tick); prerequisites = @("tech-$($t - 1)"); ingredients = @(@{ name = 'automation-science-pack'; amount = 1 }) } }
        [ordered]@{
            entities       = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes("x$Tick"))
            inventories    = @(@{ 'iron-plate' = 10 * $Tick; coal = 50 })
            timestamp      = 1735725600 + $Tick
            namespaces     = @('80049500' + ('{0:x2}' -f $Tick))
            agent_messages = @()
            research       = $research
        } | ConvertTo-Json -Depth 10 -Compress
    }

    function Get-FleProgramInserts([string] $MetaType) {
        $q = { param($s) if ($null -eq $s) { 'NULL' } else { "'" + ($s -replace "'", "''") + "'" } }
        $desc = "model:gpt-4o`ntype:iron_plate_throughput`nnum_agents:1"
        $rows = @(
            @{ code = 'print(1)'; state = (Get-FleState 1); meta = '{"model": "gpt-4o", "process_id": 0}'; depth = 0.5; at = '2025-03-01 09:00:00'; resp = "1: ('ok')" }
            @{ code = 'print(2)'; state = $null; meta = '{"model": "gpt-4o", "process_id": 0}'; depth = 1.5; at = '2025-03-01 09:01:00'; resp = $null }
            @{ code = 'print(3)'; state = (Get-FleState 3); meta = '{"model": "gpt-4o", "process_id": 0, "error_occurred": true}'; depth = 2.5; at = '2025-03-01 09:02:00'; resp = 'Error' }
            @{ code = 'print(9)'; state = (Get-FleState 9); meta = $(if ($MetaType -eq 'JSONB') { '[1]' } else { '{not json' }); depth = 9.5; at = '2025-03-01 09:03:00'; resp = 'x' }
        )
        $conv = '{"messages": [{"role": "system", "content": "You are an agent."}]}'
        foreach ($r in $rows) {
            "INSERT INTO programs (code, value, state_json, conversation_json, completion_token_usage, prompt_token_usage, token_usage, response, raw_reward, version, version_description, model, meta, achievements_json, instance, depth, ticks, created_at, timing_metrics_json) VALUES " +
            "($(& $q $r.code), 1.5, $(& $q $r.state), $(& $q $conv), 10, 20, 30, $(& $q $r.resp), 2.25, 7, $(& $q $desc), 'gpt-4o', $(& $q $r.meta), '{}', -1, $($r.depth), 600, '$($r.at)', '{""evaluate"": 0.5}');"
        }
        , $rows
    }

    function New-FleProgramsSource([string] $Backend, [string] $MetaType, [string] $Dir) {
        $ddl = Get-FleProgramsDdl $Backend $MetaType
        $inserts = Get-FleProgramInserts $MetaType
        $sql = ($ddl, ($inserts[0..($inserts.Count - 2)] -join "`n")) -join "`n"
        $rows = $inserts[-1]
        if ($Backend -eq 'Sqlite') {
            $file = Join-Path $Dir 'data.db'
            $sql | & sqlite3 $file
            if ($LASTEXITCODE) { throw 'sqlite3 failed' }
            return @{ Path = $file; Rows = $rows }
        }
        $db = New-FleTestPostgresDatabase -Prefix 'fle_prog'
        $env:PGPASSWORD = $db.Password
        "ALTER DATABASE $($db.Database) SET timezone TO 'UTC';" | & psql -h $db.Server -p $db.Port -U $db.User -d $db.Database -v ON_ERROR_STOP=1 -q | Out-Null
        $sql | & psql -h $db.Server -p $db.Port -U $db.User -d $db.Database -v ON_ERROR_STOP=1 -q | Out-Null
        Remove-Item Env:PGPASSWORD
        if ($LASTEXITCODE) { throw 'psql failed' }
        @{ ConnectionString = $db.ConnectionString; Password = $db.Password; Rows = $rows }
    }
}

Describe 'Import-FleProgramTable from <Name> (meta <MetaType>)' -ForEach $sources {
    BeforeAll {
        $dir = New-FleTestDirectory
        $source = New-FleProgramsSource $Name $MetaType $dir
        $conn = Connect-FleDatabase -Path (Join-Path $dir 'fle.db') -PassThru -NoDefault
        $from = if ($source.Path) { @{ Path = $source.Path } } else { @{ ConnectionString = $source.ConnectionString } }
    }
    AfterAll { $conn | Disconnect-FleDatabase }

    It '-WhatIf reads and reports but writes nothing' {
        $r = Import-FleProgramTable @from -Connection $conn -WhatIf -ErrorAction SilentlyContinue
        $r.WhatIf | Should -BeTrue
        $r.Trajectories | Should -Be 1
        $r.Steps | Should -Be 3
        @(Get-FleTrajectory -Connection $conn).Count | Should -Be 0
    }

    It 'imports the run, reports the malformed row by id, and maps every field' {
        $verbose = Import-FleProgramTable @from -Connection $conn -ErrorVariable errs -ErrorAction SilentlyContinue -Verbose 4>&1
        $r = $verbose | Where-Object { $_ -is [FleProgramImportResult] }
        $r | Should -Not -BeNullOrEmpty
        $r.Trajectories | Should -Be 1
        $r.Steps | Should -Be 3
        $r.Checkpoints | Should -Be 2
        $r.SkippedCount | Should -Be 1
        $r.SkippedRows[0].RowId | Should -Be 4
        $r.SkippedRows[0].Reason | Should -Be 'InvalidMeta'
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -Be 'FleProgramRowSkipped,Fle.PowerShell.Commands.ImportFleProgramTableCommand'
        $errs[0].TargetObject.RowId | Should -Be 4
        if ($source.Password) { ($verbose | Out-String) | Should -Not -Match ([regex]::Escape($source.Password)) }
        ($r | Out-String) | Should -Match 'Trajectories'

        $t = Get-FleTrajectory -Connection $conn
        $t.TaskId | Should -Be 'iron_plate_throughput'
        $t.Status | Should -Be 'Failed'
        $t.StartTime | Should -Be ([datetime]::new(2025, 3, 1, 9, 0, 0, [DateTimeKind]::Utc))
        $t.EndTime | Should -Be ([datetime]::new(2025, 3, 1, 9, 2, 0, [DateTimeKind]::Utc))
        $t.Metadata.model | Should -Be 'gpt-4o'
        $t.Metadata.version | Should -Be 7
        $t.Metadata.num_agents | Should -Be 1
        $t.Metadata.process_id | Should -Be 0
        $t.Metadata.instance | Should -Be -1
        $t.Metadata.imported_from.step_numbering | Should -Be 'HalvedDepth'

        $steps = Get-FleStep -TrajectoryId $t.Id -IncludeGameState -Connection $conn
        $steps.StepNumber | Should -Be @(1, 2, 3)
        $steps.AgentCode | Should -Be @('print(1)', 'print(2)', 'print(3)')
        $steps[0].EnvironmentFeedback | Should -Be "1: ('ok')"
        $steps[1].EnvironmentFeedback | Should -Be ''
        $steps[1].HasGameState | Should -BeFalse
        $steps[0].GameStateText | Should -BeExactly $source.Rows[0].state
        $steps[2].GameStateText | Should -BeExactly $source.Rows[2].state
        $steps[1].Timestamp | Should -Be ([datetime]::new(2025, 3, 1, 9, 1, 0, [DateTimeKind]::Utc))
        $m = $steps[0].Metadata
        $m.program_id | Should -Be 1
        $m.value | Should -Be 1.5
        $m.raw_reward | Should -Be 2.25
        $m.completion_token_usage | Should -Be 10
        $m.prompt_token_usage | Should -Be 20
        $m.token_usage | Should -Be 30
        $m.ticks | Should -Be 600
        $m.depth | Should -Be 0.5
        $m.model | Should -Be 'gpt-4o'
        $m.meta.process_id | Should -Be 0
        $m.timing_metrics.evaluate | Should -Be 0.5
        $m.conversation.messages[0].content | Should -Be 'You are an agent.'
        (Get-FleCheckpoint -TrajectoryId $t.Id -Latest -Connection $conn).StepNumber | Should -Be 3
    }

    It 'imports nothing twice' {
        $r = Import-FleProgramTable @from -Connection $conn -ErrorAction SilentlyContinue
        $r.Steps | Should -Be 0
        $r.Trajectories | Should -Be 0
        $r.AlreadyImported | Should -Be 3
        (Get-FleTrajectory -Connection $conn).StepCount | Should -Be 3
    }
}

Describe 'Import-FleProgramTable refusals' {
    BeforeAll {
        $dir = New-FleTestDirectory
        $conn = Connect-FleDatabase -Path (Join-Path $dir 'fle.db') -PassThru -NoDefault
    }
    AfterAll { $conn | Disconnect-FleDatabase }

    It 'refuses a file without a programs table' {
        $other = Join-Path $dir 'other.db'
        'CREATE TABLE runs (id INTEGER);' | & sqlite3 $other
        { Import-FleProgramTable -Path $other -Connection $conn -ErrorAction Stop } |
            Should -Throw -ErrorId 'FleProgramTableInvalid,Fle.PowerShell.Commands.ImportFleProgramTableCommand'
    }

    It 'stops at the first skipped row with -ErrorAction Stop' {
        $sub = Join-Path $dir 'stop'
        New-Item -ItemType Directory $sub | Out-Null
        $src = New-FleProgramsSource 'Sqlite' 'TEXT' $sub
        { Import-FleProgramTable -Path $src.Path -Connection $conn -ErrorAction Stop } |
            Should -Throw -ErrorId 'FleProgramRowSkipped,Fle.PowerShell.Commands.ImportFleProgramTableCommand'
        # The engine was cancelled and awaited, not left writing in the background: a re-run completes the import.
        $r = Import-FleProgramTable -Path $src.Path -Connection $conn -ErrorAction SilentlyContinue
        ($r.Steps + $r.AlreadyImported) | Should -Be 3
        $t = Get-FleTrajectory -Connection $conn
        $t.StepCount | Should -Be 3
        $t.Status | Should -Be 'Failed' # the interrupted import left it running; the re-run finished it
        $t.EndTime | Should -Be ([datetime]::new(2025, 3, 1, 9, 2, 0, [DateTimeKind]::Utc))
    }

    It 'refuses a missing file, resolving the path through PowerShell' {
        Push-Location $dir
        try {
            $e = { Import-FleProgramTable -Path ./missing.db -Connection $conn -ErrorAction Stop } | Should -Throw -PassThru
            $e.FullyQualifiedErrorId | Should -Be 'FleProgramTableInvalid,Fle.PowerShell.Commands.ImportFleProgramTableCommand'
            $e.Exception.Message | Should -Match ([regex]::Escape((Join-Path $dir 'missing.db')))
        } finally { Pop-Location }
    }
}
