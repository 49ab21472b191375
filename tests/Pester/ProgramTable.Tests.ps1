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

    # FLE's own Python client (tests/FleClient/fle_programs.py), for the Describe blocks on tables it writes.
    $script:Script = Join-Path $PSScriptRoot '../FleClient/fle_programs.py'
    $script:Python = if ($env:FLE_PYTHON) { $env:FLE_PYTHON } else { 'python3' }

    function Invoke-FleClient([string[]] $Arguments, [string] $InputText) {
        # Bounded: ulimit -f (1 GiB) for everything the writer writes, and a 3-minute timeout.
        $psi = [Diagnostics.ProcessStartInfo]::new('bash')
        foreach ($a in @('-c', 'ulimit -f 1048576 && exec "$0" "$@"', $script:Python, $script:Script) + $Arguments) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardInput = $psi.RedirectStandardOutput = $psi.RedirectStandardError = $true
        $p = [Diagnostics.Process]::Start($psi)
        $out = $p.StandardOutput.ReadToEndAsync(); $err = $p.StandardError.ReadToEndAsync()
        if ($InputText) { $p.StandardInput.Write($InputText) }
        $p.StandardInput.Close()
        if (-not $p.WaitForExit(180000)) { $p.Kill($true); throw "FLE's client ran longer than 3 minutes and was killed." }
        [pscustomobject]@{ Code = $p.ExitCode; Out = $out.Result; Err = $err.Result }
    }

    $check = try { Invoke-FleClient @('--check') } catch { [pscustomobject]@{ Code = 127; Out = ''; Err = "FLE client unavailable: $($script:Python) could not be started ($_)" } }
    $script:clientProblem = if ($check.Code -eq 0) { $null } else {
        $line = @($check.Err -split "`n" | Where-Object { $_ -like 'FLE client unavailable:*' })[0]
        if ($line) { $line } else { "FLE's client check failed (exit $($check.Code)): $($check.Err)" }
    }

    function Skip-WithoutClient {
        if (-not $script:clientProblem) { return $false }
        if ($env:CI -eq 'true') { throw "$($script:clientProblem) (CI=true: this test is never skipped)" }
        Set-ItResult -Skipped -Because $script:clientProblem
        $true
    }

    function Write-FlePrograms($Db, [object[]] $Ops) {
        $r = Invoke-FleClient @() (@{ db = $Db; ops = $Ops } | ConvertTo-Json -Depth 10 -Compress)
        if ($r.Code -ne 0) { throw "FLE's client failed (exit $($r.Code)): $($r.Err)" }
        , @($r.Out | ConvertFrom-Json)
    }

    function New-FleClientDatabase([string] $Name, [string] $Dir) {
        # FLE's SQLite file, or a fresh PostgreSQL database whose time zone is not UTC (TIMESTAMP created_at values are local times).
        if ($Name -eq 'Sqlite') {
            $db = @{ type = 'sqlite'; file = (Join-Path $Dir '.fle/data.db') }
            return @{ Db = $db; From = @{ Path = $db.file } }
        }
        $pg = New-FleTestPostgresDatabase -Prefix 'fle_cli'
        $env:PGPASSWORD = $pg.Password
        "ALTER DATABASE $($pg.Database) SET timezone TO 'America/New_York';" | & psql -h $pg.Server -p $pg.Port -U $pg.User -d $pg.Database -v ON_ERROR_STOP=1 -q | Out-Null
        Remove-Item Env:PGPASSWORD
        @{ Db = @{ type = 'postgres'; host = $pg.Server; port = $pg.Port; dbname = $pg.Database; user = $pg.User; password = $pg.Password }
           From = @{ ConnectionString = $pg.ConnectionString } }
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
        $t.Status | Should -Be 'Failed' # a run is written whole (one transaction) with its status, or not at all
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

# Tables written by FLE's own Python client (tests/FleClient/fle_programs.py: FLE's DDL, create_program, update_program,
# GameState.to_raw(); FLE's code is extracted from FLE_SOURCE_GIT at run time). Without FLE's source or a suitable python3
# these tests fail under CI=true, saying what is missing, and are skipped (with that reason) otherwise.
BeforeDiscovery {
    $script:clientSources = @(@{ Name = 'Sqlite' })
    if (Test-FlePostgresAvailable) { $script:clientSources += @{ Name = 'Postgres' } }
}

Describe 'Import-FleProgramTable on a table written by FLE''s client (<Name>)' -ForEach $clientSources {
    BeforeAll {
        function New-Program([int] $Version, [int] $Process, [int] $Depth, [string] $Code, $Tick, [hashtable] $Extra = @{}) {
            $p = @{ op = 'program'; version = $Version; process_id = $Process; instance = 0; depth = $Depth; code = $Code
                state = if ($null -ne $Tick) { @{ tick = $Tick } } else { $null }; version_description = "model:gpt-4o`ntype:iron_plate_throughput`nnum_agents:1"
                response = "$Depth`: ('ok')"; production_score = 12.5 }
            foreach ($k in $Extra.Keys) { $p[$k] = $Extra[$k] }
            $p
        }

        $dir = New-FleTestDirectory
        $src = New-FleClientDatabase $Name $dir
        $db = $src.Db
        $script:from = $src.From
        $refused = if ($Name -eq 'Sqlite') {
            New-Program 3 1 3 "print('B2')`0# a NUL" 12   # a NUL in code: Fle refuses it (PostgreSQL could not store it)
        } else {
            New-Program 3 1 3 "print('B2')" 12 @{ meta_extra = @{ note = "a`0b" } }   # json.dumps writes \u0000: Fle refuses it
        }
        $script:rows = $null
        if (-not $script:clientProblem) {
            $ops = @(
                @{ op = 'create_table' }
                New-Program 3 0 1 "print('A1')" 1 @{ value = '__nan__'; raw_reward = '__inf__'; production_score = '__nan__' }
                New-Program 3 1 1 "print('B1')" 11
                New-Program 3 0 3 "print('A2')" 2
                $refused
                New-Program 3 0 5 "print('A3')" 3 @{ state = @{ tick = 3; technologies = 3000 } }   # a state over FLE_MAX_STATE_BYTES below
                New-Program 3 1 5 "print('B3')" 13 @{ error_occurred = $true }
                New-Program 3 1 7 "print('B4')" 14
            )
            $script:rows = Write-FlePrograms $db $ops
            # B's last row loses its created_at (FLE's update_program on PostgreSQL): B's status comes from B3, which failed.
            if ($Name -eq 'Sqlite') { & sqlite3 $db.file "UPDATE programs SET created_at = NULL WHERE id = $($rows[6].id)" }
            else { Write-FlePrograms $db @(@{ op = 'update'; id = $rows[6].id; set = @{ created_at = $null } }) | Out-Null }
        }
        function Connect-Target([string] $File) {
            # A small FLE_MAX_STATE_BYTES: A3's state (3,000 technologies) is over it, a row the database refuses.
            $env:FLE_MAX_STATE_BYTES = '300000'
            try { Connect-FleDatabase -Path (Join-Path $dir $File) -PassThru -NoDefault }
            finally { Remove-Item Env:FLE_MAX_STATE_BYTES }
        }
        $script:conn = Connect-Target 'fle.db'
    }
    AfterAll { $conn | Disconnect-FleDatabase }

    It '-WhatIf counts what the import then does, refused rows included' {
        if (Skip-WithoutClient) { return }
        $w = Import-FleProgramTable @from -Connection $conn -WhatIf -ErrorVariable whatIfErrors -ErrorAction SilentlyContinue
        $w.WhatIf | Should -BeTrue
        @(Get-FleTrajectory -Connection $conn).Count | Should -Be 0
        $r = Import-FleProgramTable @from -Connection $conn -ErrorVariable errs -ErrorAction SilentlyContinue
        $r.Steps | Should -Be 4
        $r.SkippedCount | Should -Be 3
        @($r.SkippedRows | Sort-Object RowId | ForEach-Object { "$($_.RowId):$($_.Reason)" }) |
            Should -Be @("$($rows[3].id):Rejected", "$($rows[4].id):Rejected", "$($rows[6].id):InvalidTimestamp")
        foreach ($p in 'Trajectories', 'Steps', 'Checkpoints', 'Bytes', 'SkippedCount') { $w.$p | Should -Be $r.$p -Because $p }
        @($w.SkippedRows.RowId | Sort-Object) | Should -Be @($r.SkippedRows.RowId | Sort-Object)
        $whatIfErrors.Count | Should -Be $errs.Count
        $errs[0].FullyQualifiedErrorId | Should -Be 'FleProgramRowSkipped,Fle.PowerShell.Commands.ImportFleProgramTableCommand'
    }

    It 'keeps NaN and Infinity as the strings "NaN" and "Infinity", and takes status and end time from the last imported row' {
        if (Skip-WithoutClient) { return }
        $a = Get-FleTrajectory -Connection $conn | Where-Object { $_.Metadata.process_id -eq 0 }
        $s = Get-FleStep -TrajectoryId $a.Id -Connection $conn
        $s.StepNumber | Should -Be @(1, 2)   # A3 (step 3) was refused
        $s[0].Metadata.meta.production_score | Should -Be 'NaN'
        $s[0].Metadata.raw_reward | Should -Be 'Infinity'
        if ($Name -eq 'Postgres') { $s[0].Metadata.value | Should -Be 'NaN' } else { $s[0].Metadata.value | Should -BeNullOrEmpty }   # SQLite stores a NaN REAL as NULL
        $b = Get-FleTrajectory -Connection $conn | Where-Object { $_.Metadata.process_id -eq 1 }
        $bSteps = Get-FleStep -TrajectoryId $b.Id -Connection $conn
        $bSteps.AgentCode | Should -Be @("print('B1')", "print('B3')")
        $b.Status | Should -Be 'Failed'
        $b.EndTime | Should -Be $bSteps[-1].Timestamp
        # created_at is the moment of FLE's insert, whatever the server's time zone.
        $bSteps[-1].Timestamp | Should -BeGreaterOrEqual ([DateTime]::UnixEpoch.AddSeconds([math]::Floor($rows[5].t0)))
        $bSteps[-1].Timestamp | Should -BeLessOrEqual ([DateTime]::UnixEpoch.AddSeconds($rows[5].t1 + 0.01))
    }

    It 'imports nothing twice' {
        if (Skip-WithoutClient) { return }
        $r = Import-FleProgramTable @from -Connection $conn -ErrorAction SilentlyContinue
        $r.Steps | Should -Be 0
        $r.Trajectories | Should -Be 0
        $r.TrajectoriesUpdated | Should -Be 0
        $r.AlreadyImported | Should -Be 4
    }

    It 'stops at the first refused row with -ErrorAction Stop, leaving no half trajectory' {
        if (Skip-WithoutClient) { return }
        $other = Connect-Target 'stop.db'
        try {
            { Import-FleProgramTable @from -Connection $other -ErrorAction Stop } |
                Should -Throw -ErrorId 'FleProgramRowSkipped,Fle.PowerShell.Commands.ImportFleProgramTableCommand'
            foreach ($t in @(Get-FleTrajectory -Connection $other)) { $t.StepCount | Should -Be 2 }   # whole runs only (each has 2)
            $r = Import-FleProgramTable @from -Connection $other -ErrorAction SilentlyContinue
            ($r.Steps + $r.AlreadyImported) | Should -Be 4
            @(Get-FleTrajectory -Connection $other | Where-Object Status -eq 'Running').Count | Should -Be 0
        } finally { $other | Disconnect-FleDatabase }
    }
}

Describe 'Import-FleProgramTable on a search tree written by FLE''s client (<Name>)' -ForEach $clientSources {
    BeforeAll {
        # A Program as FLE's MCTS writes it (fle/eval/algorithms/mcts/mcts.py): meta without process_id, the sampled
        # parent's id, depth the conversation's length (3 messages at the start, 2 more a level).
        function New-SearchProgram([int] $Depth, [string] $Code, [int] $Tick, $Parent = $null, $ParentId = $null) {
            @{ op = 'program'; version = 8; instance = -1; meta = 'search'; depth = $Depth; code = $Code; state = @{ tick = $Tick }; value = 1.0
               version_description = "model:gpt-4o`ntype:iron_plate_throughput`nsearch:mcts"; response = "('$Code' ran)"; parent = $Parent; parent_id = $ParentId }
        }
        $dir = New-FleTestDirectory
        $src = New-FleClientDatabase $Name $dir
        $script:db = $src.Db
        $script:from = $src.From
        $script:rows = $null
        if (-not $script:clientProblem) {
            # Three samples from the start (r1, r2, r3); three of r2 (r4 continues r2's trajectory, r5 and r6 branch at
            # r2's step); one of r4 (r7).
            $script:rows = Write-FlePrograms $db @(
                @{ op = 'create_table' }
                New-SearchProgram 3 "print('r1')" 1
                New-SearchProgram 3 "print('r2')" 2
                New-SearchProgram 3 "print('r3')" 3
                New-SearchProgram 5 "print('r4')" 4 1
                New-SearchProgram 5 "print('r5')" 5 1
                New-SearchProgram 5 "print('r6')" 6 1
                New-SearchProgram 7 "print('r7')" 7 3
            )
        }
        $script:conn = Connect-FleDatabase -Path (Join-Path $dir 'fle.db') -PassThru -NoDefault
        function Get-Owner([long] $ProgramId) {
            # The trajectory that stores a program's row (not one that reads it through).
            foreach ($t in Get-FleTrajectory -Connection $conn) {
                if (Get-FleStep -TrajectoryId $t.Id -Connection $conn | Where-Object { $_.StoredIn -eq $t.Id -and $_.Metadata.program_id -eq $ProgramId }) { return $t }
            }
        }
    }
    AfterAll { $conn | Disconnect-FleDatabase }

    It '-WhatIf counts the trajectories and forks, and writes nothing' {
        if (Skip-WithoutClient) { return }
        $w = Import-FleProgramTable @from -Connection $conn -WhatIf
        $w.WhatIf | Should -BeTrue
        $w.Trajectories | Should -Be 5
        $w.Forks | Should -Be 2
        $w.Steps | Should -Be 7
        @(Get-FleTrajectory -Connection $conn).Count | Should -Be 0
    }

    It 'imports the tree: a trajectory per branch, each later child a fork at its parent''s step, read through it' {
        if (Skip-WithoutClient) { return }
        $r = Import-FleProgramTable @from -Connection $conn
        $r.Trajectories | Should -Be 5
        $r.Forks | Should -Be 2
        $r.Steps | Should -Be 7
        $r.SkippedCount | Should -Be 0

        $t2 = Get-Owner $rows[1].id
        $s2 = Get-FleStep -TrajectoryId $t2.Id -Connection $conn
        $s2.StepNumber | Should -Be @(2, 3, 4)   # FLE's halved depths 1.5, 2.5, 3.5
        $s2.Metadata.program_id | Should -Be @($rows[1].id, $rows[3].id, $rows[6].id)
        $forks = @(Get-FleTrajectory -ParentId $t2.Id -Connection $conn)
        $forks.Count | Should -Be 2
        $forks.ForkStepNumber | Should -Be @(2, 2)
        $f5 = Get-Owner $rows[4].id
        $f5.ParentId | Should -Be $t2.Id
        $steps = Get-FleStep -TrajectoryId $f5.Id -IncludeGameState -Connection $conn
        $steps.StepNumber | Should -Be @(2, 3)
        $steps.AgentCode | Should -Be @("print('r2')", "print('r5')")
        $steps.StoredIn | Should -Be @($t2.Id, $f5.Id)   # r2 is stored once, in r2's trajectory
        $steps.TrajectoryId | Select-Object -Unique | Should -Be $f5.Id
        $steps[0].GameStateText | Should -BeExactly $rows[1].state_json
        $steps[1].Metadata.parent_id | Should -Be $rows[1].id
        (Get-FleCheckpoint -TrajectoryId $f5.Id -StepNumber 2 -Connection $conn).GameStateText | Should -BeExactly $rows[1].state_json
        @(Get-FleTrajectory -Connection $conn | Where-Object { $null -eq $_.ParentId }).Count | Should -Be 3   # r1, r2, r3
    }

    It 'imports nothing twice, and adds what FLE writes next where it belongs' {
        if (Skip-WithoutClient) { return }
        $again = Import-FleProgramTable @from -Connection $conn
        $again.Trajectories | Should -Be 0
        $again.TrajectoriesUpdated | Should -Be 0
        $again.AlreadyImported | Should -Be 7

        $more = Write-FlePrograms $db @(
            New-SearchProgram 9 "print('r8')" 8 -ParentId $rows[6].id   # r7's first child: continues r2's trajectory
            New-SearchProgram 5 "print('r9')" 9 -ParentId $rows[1].id   # r2's fourth: a new fork at r2's step
            New-SearchProgram 5 "print('r10')" 10 -ParentId $rows[2].id # r3's first: continues r3's trajectory
        )
        $r = Import-FleProgramTable @from -Connection $conn
        $r.Trajectories | Should -Be 1
        $r.Forks | Should -Be 1
        $r.TrajectoriesUpdated | Should -Be 2
        $r.Steps | Should -Be 3
        $r.AlreadyImported | Should -Be 7
        $t2 = Get-Owner $rows[1].id
        (Get-FleStep -TrajectoryId $t2.Id -Connection $conn).Metadata.program_id | Should -Be @($rows[1].id, $rows[3].id, $rows[6].id, $more[0].id)
        @(Get-FleTrajectory -ParentId $t2.Id -Connection $conn).Count | Should -Be 3
        (Get-Owner $more[1].id).ForkStepNumber | Should -Be 2
        (Get-Owner $more[2].id).Id | Should -Be (Get-Owner $rows[2].id).Id
    }
}
