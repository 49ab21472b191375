# Issue 6, point 5: bad input. Each is a clear error with a specific error id, and the data is exactly as it
# was (a snapshot of every row and a hash of the file, taken before and after). SQL-injection strings in every
# text parameter are stored literally and do nothing.
BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:backends = @(@{ Name = 'Sqlite' })
    if (Test-FlePostgresAvailable) { $script:backends += @{ Name = 'Postgres' } }
    $manifest = Import-PowerShellDataFile (Get-FleModulePath)
    $script:hasImport = $manifest.CmdletsToExport -contains 'Import-FleData' -and $manifest.CmdletsToExport -contains 'Export-FleData'
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-FleModulePath) -Force
    Import-Module (Join-Path $PSScriptRoot 'fixtures/FleFixtures.psm1') -Force
    $script:tried = 0

    function Get-FleErrorId {
        # Run a command; return the error id (the part before the comma) of what it threw or wrote, or 'no error'.
        param([scriptblock] $Command)
        $script:tried++
        $ErrorActionPreference = 'Stop'
        try { & $Command | Out-Null } catch { return (($_.FullyQualifiedErrorId -split ',')[0]) }
        'no error'
    }

    function Get-FleErrorRecord {
        param([scriptblock] $Command)
        $ErrorActionPreference = 'Stop'
        try { & $Command | Out-Null } catch { return $_ }
        $null
    }

    function Get-FleDataSnapshot {
        # Every trajectory, step and state as text, hashed: equal snapshots mean no row changed.
        param($Connection)
        $sb = [System.Text.StringBuilder]::new()
        foreach ($t in Get-FleTrajectory -Connection $Connection | Sort-Object Id) {
            [void]$sb.AppendLine("T|$($t.Id)|$($t.TaskId)|$($t.Status)|$($t.MetadataJson)|$($t.StartTime.Ticks)|$($t.EndTime)")
            foreach ($s in Get-FleStep -TrajectoryId $t.Id -IncludeGameState -Connection $Connection) {
                $h = if ($s.HasGameState) { Get-FleSha256 ([byte[]]$s.GameState) } else { '-' }
                [void]$sb.AppendLine("S|$($s.StepNumber)|$($s.AgentCode)|$($s.EnvironmentFeedback)|$($s.MetadataJson)|$($s.Timestamp.Ticks)|$h")
            }
        }
        Get-FleSha256 $sb.ToString()
    }

    $dir = New-FleTestDirectory
    $cred = New-FleTestCredential
}

Describe 'Bad configuration' -Tag BadInput {
    BeforeAll {
        # An existing database that no bad setting may touch.
        $good = Join-Path $dir 'good.db'
        $c = Connect-FleDatabase -Path $good -PassThru -NoDefault
        $t = New-FleTrajectory -TaskId config_guard -Connection $c
        Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState '{"x":1}' -Connection $c
        $c | Disconnect-FleDatabase
        $goodHash = (Get-FileHash $good -Algorithm SHA256).Hash
        $work = Join-Path $dir 'cfg'
        New-Item -ItemType Directory $work | Out-Null
        Push-Location $work
        $saved = @{}
        foreach ($v in 'FLE_DB_TYPE', 'SQLITE_DB_FILE', 'SKILLS_DB_HOST', 'SKILLS_DB_PORT', 'SKILLS_DB_NAME', 'SKILLS_DB_USER', 'SKILLS_DB_PASSWORD', 'FLE_MAX_STATE_BYTES', 'FLE_DB_CONNECT_TIMEOUT', 'PGPASSFILE') {
            $saved[$v] = [Environment]::GetEnvironmentVariable($v); [Environment]::SetEnvironmentVariable($v, $null)
        }
    }
    AfterAll {
        Pop-Location
        foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $saved[$k]) }
    }
    AfterEach {
        Remove-Item (Join-Path $work '.env') -Force -ErrorAction SilentlyContinue
        foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $null) }
        (Get-FileHash $good -Algorithm SHA256).Hash | Should -Be $goodHash -Because 'no bad setting may change the existing database'
    }

    It 'unknown FLE_DB_TYPE (environment and .env): FleUnknownDatabaseType' {
        $env:FLE_DB_TYPE = 'mongodb'
        Get-FleErrorId { Connect-FleDatabase -NoDefault } | Should -Be 'FleUnknownDatabaseType'
        $env:FLE_DB_TYPE = $null
        Set-Content .env "FLE_DB_TYPE=mysql`nSQLITE_DB_FILE=$good"
        $e = Get-FleErrorRecord { Connect-FleDatabase -NoDefault }
        $e.FullyQualifiedErrorId | Should -Be 'FleUnknownDatabaseType,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $e.Exception.Message | Should -Match "'mysql'.*'sqlite'.*'postgres'"
    }

    It 'a malformed .env line: FleEnvFileInvalid naming the line, never its value' {
        Set-Content .env "# settings`nFLE_DB_TYPE=sqlite`nSKILLS_DB_PASSWORD hunter2-secret`nSQLITE_DB_FILE=$good"
        $e = Get-FleErrorRecord { Connect-FleDatabase -NoDefault }
        $e.FullyQualifiedErrorId | Should -Be 'FleEnvFileInvalid,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $e.Exception.Message | Should -Match 'line 3'
        ($e | Out-String) + $e.Exception.Message + $e.TargetObject | Should -Not -Match 'hunter2'
        $script:tried++
    }

    It 'a .env value with a quote never closed: FleEnvFileInvalid' {
        Set-Content .env "FLE_DB_TYPE=""sqlite`nSQLITE_DB_FILE=$good"
        Get-FleErrorId { Connect-FleDatabase -NoDefault } | Should -Be 'FleEnvFileInvalid'
    }

    It 'a .env file that is not valid UTF-8: FleEnvFileInvalid naming the line' {
        [System.IO.File]::WriteAllBytes((Join-Path $work '.env'), [byte[]](
                [System.Text.Encoding]::ASCII.GetBytes("FLE_DB_TYPE=sqlite`nSQLITE_DB_FILE=$good`nSKILLS_DB_PASSWORD=p") + [byte[]](0xE4, 0xFF) + [System.Text.Encoding]::ASCII.GetBytes("ss`n")))
        $e = Get-FleErrorRecord { Connect-FleDatabase -NoDefault }
        $e.FullyQualifiedErrorId | Should -Be 'FleEnvFileInvalid,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $e.Exception.Message | Should -Match 'line 3'
        $script:tried++
    }

    It 'a -EnvFile that does not exist: FleEnvFileNotFound' {
        Get-FleErrorId { Connect-FleDatabase -EnvFile (Join-Path $work 'nope.env') -NoDefault } | Should -Be 'FleEnvFileNotFound'
    }

    It 'missing PostgreSQL variables: FleMissingSetting naming each one' {
        $env:FLE_DB_TYPE = 'postgres'
        $env:SKILLS_DB_HOST = '127.0.0.1'
        $e = Get-FleErrorRecord { Connect-FleDatabase -NoDefault }
        $e.FullyQualifiedErrorId | Should -Be 'FleMissingSetting,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $e.Exception.Message | Should -Match 'SKILLS_DB_NAME'
        $e.Exception.Message | Should -Match 'SKILLS_DB_USER'
        $e.Exception.Message | Should -Not -Match 'SKILLS_DB_HOST,'
        $script:tried++
    }

    It 'a port that is not a number, a bad timeout, a bad state limit, a bad SSL mode: FleConfigurationInvalid' {
        $env:FLE_DB_TYPE = 'postgres'; $env:SKILLS_DB_HOST = '127.0.0.1'; $env:SKILLS_DB_NAME = 'd'; $env:SKILLS_DB_USER = 'u'
        $env:SKILLS_DB_PORT = '54x32'
        Get-FleErrorId { Connect-FleDatabase -NoDefault } | Should -Be 'FleConfigurationInvalid'
        $env:SKILLS_DB_PORT = '70000'
        Get-FleErrorId { Connect-FleDatabase -NoDefault } | Should -Be 'FleConfigurationInvalid'
        $env:SKILLS_DB_PORT = $null
        $env:SKILLS_DB_SSLMODE = 'sometimes'
        Get-FleErrorId { Connect-FleDatabase -NoDefault } | Should -Be 'FleConfigurationInvalid'
        $env:SKILLS_DB_SSLMODE = $null
        $env:FLE_DB_TYPE = 'sqlite'
        $env:FLE_DB_CONNECT_TIMEOUT = '0'
        Get-FleErrorId { Connect-FleDatabase -Path $good -NoDefault } | Should -Be 'FleConfigurationInvalid'
        $env:FLE_DB_CONNECT_TIMEOUT = 'soon'
        Get-FleErrorId { Connect-FleDatabase -Path $good -NoDefault } | Should -Be 'FleConfigurationInvalid'
        $env:FLE_DB_CONNECT_TIMEOUT = $null
        $env:FLE_MAX_STATE_BYTES = '-5'
        Get-FleErrorId { Connect-FleDatabase -Path $good -NoDefault } | Should -Be 'FleConfigurationInvalid'
        $env:FLE_MAX_STATE_BYTES = 'lots'
        Get-FleErrorId { Connect-FleDatabase -Path $good -NoDefault } | Should -Be 'FleConfigurationInvalid'
        $env:SQLITE_DB_FILE = '   '
        $env:FLE_MAX_STATE_BYTES = $null
        Get-FleErrorId { Connect-FleDatabase -NoDefault } | Should -Be 'FleConfigurationInvalid'
        $env:SKILLS_DB_SSLMODE = $null
    }

    It 'a path under /proc, a file where a folder is expected, a folder as the file: FleDatabasePathNotWritable' {
        Get-FleErrorId { Connect-FleDatabase -Path '/proc/fle-test/data.db' -NoDefault } | Should -Be 'FleDatabasePathNotWritable'
        Get-FleErrorId { Connect-FleDatabase -Path '/proc/self/fle.db' -NoDefault } | Should -Be 'FleDatabasePathNotWritable'
        Get-FleErrorId { Connect-FleDatabase -Path (Join-Path $good 'inside.db') -NoDefault } | Should -Be 'FleDatabasePathNotWritable'
        Get-FleErrorId { Connect-FleDatabase -Path $work -NoDefault } | Should -Be 'FleDatabasePathNotWritable'
        $env:SQLITE_DB_FILE = '/proc/fle-test/data.db'
        $e = Get-FleErrorRecord { Connect-FleDatabase -NoDefault }
        $e.FullyQualifiedErrorId | Should -Be 'FleDatabasePathNotWritable,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $e.Exception.Message | Should -Match '/proc/fle-test/data.db'
        Test-Path '/proc/fle-test' | Should -BeFalse
        $script:tried++
    }

    It 'a file that is not a SQLite database: FleNotADatabase, the file untouched' {
        $text = Join-Path $work 'notes.db'
        Set-Content $text ('These are my notes, not a database. ' * 200)
        $before = (Get-FileHash $text).Hash
        $e = Get-FleErrorRecord { Connect-FleDatabase -Path $text -NoDefault }
        $script:tried++
        $e.FullyQualifiedErrorId | Should -Be 'FleNotADatabase,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $e.Exception.Message | Should -Match ([regex]::Escape($text))
        (Get-FileHash $text).Hash | Should -Be $before
        Test-Path "$text-wal" | Should -BeFalse
        # A truncated SQLite file (header only) as well.
        $cut = Join-Path $work 'cut.db'
        [System.IO.File]::WriteAllBytes($cut, [System.IO.File]::ReadAllBytes($good)[0..99])
        Get-FleErrorId { Connect-FleDatabase -Path $cut -NoDefault } | Should -BeIn 'FleNotADatabase'
    }

    It 'a SQLite database written by a newer Fle: FleSchemaTooNew, nothing changed' {
        $newer = Join-Path $work 'newer.db'
        Copy-Item $good $newer
        & sqlite3 $newer "INSERT INTO fle_schema_version (version, description, applied_at) VALUES (99, 'from the future', '2030-01-01T00:00:00.000000Z')"
        $before = & sqlite3 $newer '.dump'
        $e = Get-FleErrorRecord { Connect-FleDatabase -Path $newer -NoDefault }
        $script:tried++
        $e.FullyQualifiedErrorId | Should -Be 'FleSchemaTooNew,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $e.Exception.Message | Should -Match 'version 99'
        (& sqlite3 $newer '.dump') -join "`n" | Should -Be ($before -join "`n")
    }
}

# Skipped only outside CI with no PostgreSQL configured: under CI=true Test-FlePostgresAvailable throws, and build.ps1 fails any run with a skipped test.
Describe 'Bad PostgreSQL connections' -Tag BadInput, Postgres -Skip:(-not (Test-FlePostgresAvailable)) {
    BeforeAll {
        $pgdb = New-FleTestPostgresDatabase -Prefix fle_bad
        $c = Connect-FleDatabase -ConnectionString $pgdb.ConnectionString -PassThru -NoDefault
        $t = New-FleTrajectory -TaskId pg_guard -Connection $c
        Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState '{"x":1}' -Connection $c
        $snapshot = Get-FleDataSnapshot $c
        $savedPass = $env:PGPASSFILE; $env:PGPASSFILE = $null
    }
    AfterAll {
        (Get-FleDataSnapshot $c) | Should -Be $snapshot
        $c | Disconnect-FleDatabase
        $env:PGPASSFILE = $savedPass
    }

    It 'a wrong password: FleAuthenticationFailed naming host, port and user' {
        $bad = [pscredential]::new($pgdb.User, (ConvertTo-SecureString 'wrong-password-123' -AsPlainText -Force))
        $e = Get-FleErrorRecord { Connect-FleDatabase -Type Postgres -Server $pgdb.Server -Port $pgdb.Port -Database $pgdb.Database -Credential $bad -NoDefault }
        $script:tried++
        $e.FullyQualifiedErrorId | Should -Be 'FleAuthenticationFailed,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $e.Exception.Message | Should -Match "$($pgdb.Server):$($pgdb.Port)"
        $e.Exception.Message | Should -Match "'$($pgdb.User)'"
    }

    It 'an unknown user: FleAuthenticationFailed' {
        $bad = [pscredential]::new('nobody_here', (ConvertTo-SecureString 'x' -AsPlainText -Force))
        Get-FleErrorId { Connect-FleDatabase -Type Postgres -Server $pgdb.Server -Port $pgdb.Port -Database $pgdb.Database -Credential $bad -NoDefault } |
            Should -Be 'FleAuthenticationFailed'
    }

    It 'no password at all (none given, no PGPASSFILE): FleAuthenticationFailed saying so' {
        $nopass = [pscredential]::new($pgdb.User, [securestring]::new())
        $e = Get-FleErrorRecord { Connect-FleDatabase -Type Postgres -Server $pgdb.Server -Port $pgdb.Port -Database $pgdb.Database -Credential $nopass -NoDefault }
        $script:tried++
        $e.FullyQualifiedErrorId | Should -Be 'FleAuthenticationFailed,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $e.Exception.Message | Should -Match 'password'
    }

    It 'a database that does not exist: FleDatabaseUnavailable naming it' {
        $e = Get-FleErrorRecord { Connect-FleDatabase -Type Postgres -Server $pgdb.Server -Port $pgdb.Port -Database 'no_such_db' -Credential $cred -NoDefault }
        $script:tried++
        $e.FullyQualifiedErrorId | Should -Be 'FleDatabaseUnavailable,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $e.Exception.Message | Should -Match 'no_such_db'
    }

    It 'an unparsable connection string: FleConfigurationInvalid' {
        Get-FleErrorId { Connect-FleDatabase -ConnectionString 'Host=127.0.0.1;Port=notaport;Password=zzz' -NoDefault } | Should -Be 'FleConfigurationInvalid'
    }

    It 'a PostgreSQL database written by a newer Fle: FleSchemaTooNew, nothing changed' {
        $newer = New-FleTestPostgresDatabase -Prefix fle_newer
        $n = Connect-FleDatabase -ConnectionString $newer.ConnectionString -PassThru -NoDefault
        $n | Disconnect-FleDatabase
        $env:PGPASSWORD = $newer.Password
        & psql -h $newer.Server -p $newer.Port -U $newer.User -d $newer.Database -q -v ON_ERROR_STOP=1 -c "INSERT INTO fle_schema_version VALUES (99, 'from the future', now())" | Out-Null
        $before = & psql -h $newer.Server -p $newer.Port -U $newer.User -d $newer.Database -At -c "SELECT string_agg(version::text, ',' ORDER BY version) FROM fle_schema_version"
        Remove-Item Env:PGPASSWORD
        $e = Get-FleErrorRecord { Connect-FleDatabase -ConnectionString $newer.ConnectionString -NoDefault }
        $script:tried++
        $e.FullyQualifiedErrorId | Should -Be 'FleSchemaTooNew,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $before | Should -Be '1,2,99'
        $env:PGPASSWORD = $newer.Password
        try { & psql -h $newer.Server -p $newer.Port -U $newer.User -d $newer.Database -At -c "SELECT string_agg(version::text, ',' ORDER BY version) FROM fle_schema_version" | Should -Be $before }
        finally { Remove-Item Env:PGPASSWORD }
    }
}

Describe 'Bad values on <Name>' -Tag BadInput -ForEach $backends {
    BeforeAll {
        if ($Name -eq 'Sqlite') {
            $file = Join-Path $dir "values-$([guid]::NewGuid().ToString('n').Substring(0, 6)).db"
            $c = Connect-FleDatabase -Path $file -PassThru -NoDefault
            $env:FLE_MAX_STATE_BYTES = '4096'
            try { $small = Connect-FleDatabase -Path $file -PassThru -NoDefault } finally { Remove-Item Env:FLE_MAX_STATE_BYTES }
        } else {
            $pgdb = New-FleTestPostgresDatabase -Prefix fle_values
            $c = Connect-FleDatabase -ConnectionString $pgdb.ConnectionString -PassThru -NoDefault
            $env:FLE_MAX_STATE_BYTES = '4096'
            try { $small = Connect-FleDatabase -ConnectionString $pgdb.ConnectionString -PassThru -NoDefault } finally { Remove-Item Env:FLE_MAX_STATE_BYTES }
        }
        $t = New-FleTrajectory -TaskId bad_values -Metadata @{ model = 'm' } -Connection $c
        0..2 | ForEach-Object { Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber $_ -AgentCode "code $_" -EnvironmentFeedback "fb $_" -GameState "{""tick"":$_}" -Connection $c }
        $lone = [string][char]0xD800
        $lowOnly = [string][char]0xDC01
        function Save([hashtable] $Override) {
            $p = @{ TrajectoryId = $t.Id; StepNumber = 3; AgentCode = 'ok'; EnvironmentFeedback = 'ok'; GameState = '{}'; Connection = $c }
            foreach ($k in $Override.Keys) { $p[$k] = $Override[$k] }
            Save-FleCheckpoint @p
        }
    }
    BeforeEach { $before = Get-FleDataSnapshot $c }
    AfterEach { Get-FleDataSnapshot $c | Should -Be $before -Because 'a refused input changes nothing' }
    AfterAll { $small | Disconnect-FleDatabase; $c | Disconnect-FleDatabase }

    It 'negative step numbers: FleInvalidStepNumber' {
        Get-FleErrorId { Save @{ StepNumber = -1 } } | Should -Be 'FleInvalidStepNumber'
        Get-FleErrorId { Save @{ StepNumber = [long]::MinValue } } | Should -Be 'FleInvalidStepNumber'
        Get-FleErrorId { Save-FleStep -TrajectoryId $t.Id -StepNumber -7 -AgentCode a -EnvironmentFeedback b -Connection $c } | Should -Be 'FleInvalidStepNumber'
    }

    It 'a duplicate step number: FleStepAlreadyExists (the stored step unchanged)' {
        $e = Get-FleErrorRecord { Save @{ StepNumber = 1; AgentCode = 'overwrite attempt' } }
        $script:tried++
        $e.FullyQualifiedErrorId | Should -Be 'FleStepAlreadyExists,Fle.PowerShell.Commands.SaveFleCheckpointCommand'
        # The engine's message says what happened; the cmdlet layer adds PowerShell's words for what to do (what the console shows).
        $e.Exception.Message | Should -Not -Match '-Force'
        "$e" | Should -Match 'pass -Force to overwrite it'
        $e.ErrorDetails.RecommendedAction | Should -Match '-Force'
        Get-FleErrorId { Save-FleStep -TrajectoryId $t.Id -StepNumber 2 -AgentCode a -EnvironmentFeedback b -Connection $c } | Should -Be 'FleStepAlreadyExists'
    }

    It 'a step for a trajectory that does not exist: FleTrajectoryNotFound' {
        Get-FleErrorId { Save @{ TrajectoryId = 'no-such-trajectory' } } | Should -Be 'FleTrajectoryNotFound'
    }

    It 'null or empty required fields: parameter binding errors' {
        Get-FleErrorId { Save @{ AgentCode = $null } } | Should -Be 'ParameterArgumentValidationErrorNullNotAllowed'
        Get-FleErrorId { Save @{ EnvironmentFeedback = $null } } | Should -Be 'ParameterArgumentValidationErrorNullNotAllowed'
        Get-FleErrorId { Save @{ GameState = $null } } | Should -Be 'ParameterArgumentValidationErrorNullNotAllowed'
        Get-FleErrorId { Save @{ TrajectoryId = '' } } | Should -Be 'ParameterArgumentValidationError'
        Get-FleErrorId { New-FleTrajectory -TaskId '' -Connection $c } | Should -Be 'ParameterArgumentValidationError'
        Get-FleErrorId { New-FleTrajectory -TaskId '   ' -Connection $c } | Should -Be 'FleInvalidArgument'
        Get-FleErrorId { New-FleTrajectory -TaskId x -Id ('x' * 201) -Connection $c } | Should -Be 'FleInvalidArgument'
        Get-FleErrorId { New-FleTrajectory -TaskId x -Id "tab`there" -Connection $c } | Should -Be 'FleInvalidArgument'
    }

    It 'a game state over FLE_MAX_STATE_BYTES: FleStateTooLarge' {
        $e = Get-FleErrorRecord { Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 3 -AgentCode a -EnvironmentFeedback b -GameState ('x' * 4097) -Connection $small }
        $script:tried++
        $e.FullyQualifiedErrorId | Should -Be 'FleStateTooLarge,Fle.PowerShell.Commands.SaveFleCheckpointCommand'
        $e.Exception.Message | Should -Match '4,097.*4,096.*FLE_MAX_STATE_BYTES'
        Get-FleErrorId { Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 3 -AgentCode a -EnvironmentFeedback b -GameState ([byte[]]::new(5000)) -Connection $small } | Should -Be 'FleStateTooLarge'
    }

    It 'lone surrogates (text with no UTF-8 form) in every text parameter: FleInvalidText' {
        Get-FleErrorId { New-FleTrajectory -TaskId "task$lone" -Connection $c } | Should -Be 'FleInvalidText'
        Get-FleErrorId { New-FleTrajectory -TaskId task -Id "id$lowOnly" -Connection $c } | Should -Be 'FleInvalidText'
        Get-FleErrorId { New-FleTrajectory -TaskId task -Metadata @{ "key$lone" = 1 } -Connection $c } | Should -Be 'FleInvalidText'
        Get-FleErrorId { New-FleTrajectory -TaskId task -Metadata @{ key = "value$lone" } -Connection $c } | Should -Be 'FleInvalidText'
        Get-FleErrorId { New-FleTrajectory -TaskId task -Metadata @{ key = @{ nested = @("ok", "v$lowOnly") } } -Connection $c } | Should -Be 'FleInvalidText'
        Get-FleErrorId { New-FleTrajectory -TaskId task -Metadata '{"key":"\ud800"}' -Connection $c } | Should -Be 'FleInvalidText'
        Get-FleErrorId { Save @{ AgentCode = "print('$lone')" } } | Should -Be 'FleInvalidText'
        Get-FleErrorId { Save @{ EnvironmentFeedback = "out$lowOnly" } } | Should -Be 'FleInvalidText'
        Get-FleErrorId { Save @{ GameState = "{""x"":""$lone""}" } } | Should -Be 'FleInvalidText'
        Get-FleErrorId { Save @{ Metadata = @{ "r$lone" = 1 } } } | Should -Be 'FleInvalidText'
        Get-FleErrorId { Save @{ Metadata = @{ reward = "r$lone" } } } | Should -Be 'FleInvalidText'
        Get-FleErrorId { Save @{ Metadata = '{"reward":"\udc00"}' } } | Should -Be 'FleInvalidText'
    }

    It 'NUL characters (PostgreSQL text cannot hold them) in text and metadata: FleInvalidText on both backends' {
        Get-FleErrorId { Save @{ AgentCode = "a`0b" } } | Should -Be 'FleInvalidText'
        Get-FleErrorId { Save @{ EnvironmentFeedback = "`0" } } | Should -Be 'FleInvalidText'
        Get-FleErrorId { Save @{ Metadata = @{ k = "a`0" } } } | Should -Be 'FleInvalidText'
        Get-FleErrorId { Save @{ Metadata = '{"k":"\u0000"}' } } | Should -Be 'FleInvalidText'
        Get-FleErrorId { New-FleTrajectory -TaskId "a`0" -Connection $c } | Should -Be 'FleInvalidArgument'
    }

    It 'metadata that is not a JSON object: FleInvalidMetadata' {
        Get-FleErrorId { Save @{ Metadata = '[1,2,3]' } } | Should -Be 'FleInvalidMetadata'
        Get-FleErrorId { Save @{ Metadata = '{"unclosed": ' } } | Should -Be 'FleInvalidMetadata'
        Get-FleErrorId { Save @{ Metadata = 42 } } | Should -Be 'FleInvalidMetadata'
        Get-FleErrorId { New-FleTrajectory -TaskId task -Metadata 'not json' -Connection $c } | Should -Be 'FleInvalidMetadata'
    }

    It 'invalid UTF-8 bytes as a byte[] game state are binary: stored and read back byte for byte' {
        $bytes = [byte[]](0xFF, 0xFE, 0xC3, 0x28, 0xA0, 0xA1, 0xE2, 0x28, 0xA1, 0xF0, 0x28, 0x8C, 0x28, 0x00, 0x80)
        $u = New-FleTrajectory -TaskId binary_state -Connection $c
        Save-FleCheckpoint -TrajectoryId $u.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState $bytes -Connection $c
        $back = (Get-FleCheckpoint -TrajectoryId $u.Id -StepNumber 0 -Connection $c).GameState
        Get-FleSha256 ([byte[]]$back) | Should -Be (Get-FleSha256 $bytes)
        Remove-FleTrajectory -Id $u.Id -Connection $c -Confirm:$false
    }
}

Describe 'A truncated or corrupted export file imported into <Name>' -Tag BadInput -ForEach $backends {
    # The documented behaviour (docs/export-format.md): the import stops with FleImportFileInvalid naming the line;
    # the trajectories before the damaged one stay imported, the damaged one is applied not at all (a copy the target
    # already holds stays exactly as it was, even with -ConflictAction Overwrite), nothing after it is read.
    BeforeAll {
        Import-Module (Join-Path $PSScriptRoot 'CmdletTestHelpers.psm1') -Force
        function Get-TrajectoryPrint($Connection, [string] $Id) {
            # Status, step count, every step's number, texts and the SHA-256 of its decoded state; 'absent' when not there.
            $t = @(Get-FleTrajectory -Connection $Connection | Where-Object Id -EQ $Id)
            if ($t.Count -eq 0) { return 'absent' }
            $steps = foreach ($s in Get-FleStep -TrajectoryId $Id -IncludeGameState -Connection $Connection) {
                "$($s.StepNumber):$($s.AgentCode):$(if ($s.HasGameState) { Get-FleSha256 ([byte[]]$s.GameState) } else { '-' })"
            }
            "$($t[0].TaskId)|$($t[0].Status)|$($t[0].StepCount)|$($steps -join ',')"
        }
        $src = Connect-FleDatabase -Path (Join-Path $dir "damaged-src-$Name.db") -PassThru -NoDefault
        foreach ($k in 'a', 'b', 'c') {
            $tr = New-FleTrajectory -TaskId "damaged_$k" -Connection $src
            foreach ($n in 0..3) { Save-FleCheckpoint -TrajectoryId $tr.Id -StepNumber $n -AgentCode "code $k $n" -EnvironmentFeedback 'fb' -GameState (Get-FleFixtureState -TrajectoryId "$k" -Step $n -Bytes 300) -Connection $src }
            Complete-FleTrajectory -Id $tr.Id -Connection $src | Out-Null
            Start-Sleep -Milliseconds 5
        }
        $export = Join-Path $dir "damaged-$Name.jsonl"
        Export-FleData -Path $export -Connection $src | Out-Null
        $lines = [System.IO.File]::ReadAllLines($export)
        # Layout: header; per trajectory a trajectory line, 4 step lines, an end line; footer.
        $lines.Count | Should -Be 20
        $ids = @(1, 7, 13 | ForEach-Object { ($lines[$_] | ConvertFrom-Json).id })
        ($lines[8] | ConvertFrom-Json).type | Should -Be 'step'
        ($lines[12] | ConvertFrom-Json).type | Should -Be 'end'
        $srcA = Get-TrajectoryPrint $src $ids[0]

        $target = New-FleTestTarget -Backend $Name
        $c = $target.Connection
        # The target already holds an older copy of the second trajectory (the one each file damages) and a bystander.
        $old = New-FleTrajectory -TaskId old_copy -Id $ids[1] -Connection $c
        Save-FleCheckpoint -TrajectoryId $old.Id -StepNumber 0 -AgentCode old -EnvironmentFeedback old -GameState '{"old":0}' -Connection $c
        Save-FleCheckpoint -TrajectoryId $old.Id -StepNumber 9 -AgentCode old -EnvironmentFeedback old -GameState ([byte[]](1, 2, 3)) -Connection $c
        $bystander = New-FleTrajectory -TaskId bystander -Connection $c
        Save-FleCheckpoint -TrajectoryId $bystander.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState '{"b":1}' -Connection $c
        $oldPrint = Get-TrajectoryPrint $c $ids[1]
        $bystanderPrint = Get-TrajectoryPrint $c $bystander.Id
        $oldPrint | Should -Match '^old_copy\|Running\|2\|0:old:[0-9A-F]{64},9:old:[0-9A-F]{64}$'

        function Write-Damaged([string] $FileName, [string[]] $Lines, [string] $Tail = '') {
            $f = Join-Path $dir "$Name-$FileName"
            [System.IO.File]::WriteAllText($f, (($Lines | ForEach-Object { $_ + "`n" }) -join '') + $Tail)
            $f
        }
        function Set-Line([int] $Index, [string] $Text) { $copy = [string[]]$lines.Clone(); $copy[$Index] = $Text; , $copy }
        function New-StoredGzip([string] $FileName, [byte[]] $Bytes) {
            # gzip without compression (stored blocks): byte offsets in the file follow the text's, so a cut lands where it is meant to.
            $f = Join-Path $dir "$Name-$FileName"
            $fs = [System.IO.File]::Create($f)
            $gz = [System.IO.Compression.GZipStream]::new($fs, [System.IO.Compression.CompressionLevel]::NoCompression)
            $gz.Write($Bytes, 0, $Bytes.Length); $gz.Dispose(); $fs.Dispose()
            $f
        }
    }
    AfterAll {
        $c | Disconnect-FleDatabase
        $src | Disconnect-FleDatabase
    }

    It '<Case>: FleImportFileInvalid naming line <Line>; the damaged trajectory is as it was' -ForEach @(
        @{ Case = 'cut between the step lines of a trajectory'; Line = 10; First = $true; Make = { Write-Damaged cut-lines.jsonl $lines[0..9] } }
        @{ Case = 'cut in the middle of a step line'; Line = 10; First = $true; Make = { Write-Damaged cut-mid.jsonl $lines[0..8] -Tail $lines[9].Substring(0, [int]($lines[9].Length / 2)) } }
        @{ Case = 'cut just after a trajectory line'; Line = 8; First = $true; Make = { Write-Damaged cut-trajectory.jsonl $lines[0..7] } }
        @{ Case = 'cut before the footer'; Line = 19; First = $true; All = $true; Make = { Write-Damaged cut-footer.jsonl $lines[0..18] } }
        @{ Case = 'a garbled JSON step line'; Line = 10; First = $true; Make = { Write-Damaged garbled.jsonl (Set-Line 9 ($lines[9].Substring(0, 60) + ',,,}{garbage')) } }
        @{ Case = 'a step line that is JSON but not an object'; Line = 10; First = $true; Make = { Write-Damaged array.jsonl (Set-Line 9 '[1,2,3]') } }
        @{ Case = 'a bad base64 game state'; Line = 11; First = $true; Make = { Write-Damaged base64.jsonl (Set-Line 10 ($lines[10] -replace '"game_state":"[^"]+"', '"game_state":"@@not*base64@@"')) } }
        @{ Case = 'a step line without its step number'; Line = 9; First = $true; Make = { Write-Damaged nostep.jsonl (Set-Line 8 ($lines[8] -replace '"step_number":\d+,', '')) } }
        @{ Case = 'an end line whose counts disagree'; Line = 13; First = $true; Make = { Write-Damaged endcount.jsonl (Set-Line 12 ($lines[12] -replace '"steps":\d+', '"steps":5')) } }
        @{ Case = 'an end line with a count that is not a number'; Line = 13; First = $true; Make = { Write-Damaged endtext.jsonl (Set-Line 12 ($lines[12] -replace '"states":\d+', '"states":"four"')) } }
        @{ Case = 'a header with a newer format version'; Line = 1; First = $false; Make = { Write-Damaged v3.jsonl (Set-Line 0 ($lines[0] -replace '"version":2', '"version":3')) } }
        @{ Case = 'a header whose version is not a number'; Line = 1; First = $false; Make = { Write-Damaged vtext.jsonl (Set-Line 0 ($lines[0] -replace '"version":2', '"version":"2"')) } }
        @{ Case = 'a header of another format'; Line = 1; First = $false; Make = { Write-Damaged format.jsonl (Set-Line 0 ($lines[0] -replace 'fle-export', 'jsonl-export')) } }
        @{ Case = 'no header at all'; Line = 1; First = $false; Make = { Write-Damaged noheader.jsonl $lines[1..19] } }
        @{ Case = 'a gzip file cut in the middle of a step line'; Line = 10; First = $true; Make = {
                $text = [System.Text.Encoding]::UTF8.GetBytes((($lines | ForEach-Object { $_ + "`n" }) -join ''))
                $full = New-StoredGzip stored.jsonl.gz $text
                $cutAt = [System.Text.Encoding]::UTF8.GetByteCount((($lines[0..8] | ForEach-Object { $_ + "`n" }) -join '')) + 40
                $bytes = [System.IO.File]::ReadAllBytes($full)
                $f = Join-Path $dir "$Name-stored-cut.jsonl.gz"
                [System.IO.File]::WriteAllBytes($f, [byte[]]$bytes[0..(10 + 5 + $cutAt)])   # gzip header 10 bytes, stored-block header 5
                $f } }
    ) {
        $file = & $Make
        $script:tried++
        $before = Get-FleTestSnapshot -Target $target
        $e = $null
        try { Import-FleData -Path $file -Connection $c -ConflictAction Overwrite -ErrorAction Stop | Out-Null } catch { $e = $_ }
        $e | Should -Not -BeNullOrEmpty -Because 'a damaged file never imports cleanly'
        $e.FullyQualifiedErrorId | Should -Be 'FleImportFileInvalid,Fle.PowerShell.Commands.ImportFleDataCommand'
        $e.Exception.Message | Should -Match "\bline $Line\b"
        $e.Exception.Message | Should -Match ([regex]::Escape($file))
        # The damaged trajectory: the old copy exactly as it was (counts and state hashes), never half replaced.
        if ($All) {
            Get-TrajectoryPrint $c $ids[1] | Should -Be (Get-TrajectoryPrint $src $ids[1]) -Because 'a file cut only before its footer has every trajectory whole'
        } else {
            Get-TrajectoryPrint $c $ids[1] | Should -Be $oldPrint
            Get-TrajectoryPrint $c $ids[2] | Should -Be 'absent' -Because 'nothing after the damage is read'
        }
        Get-TrajectoryPrint $c $bystander.Id | Should -Be $bystanderPrint
        # The trajectory before the damage: imported whole (documented), or not at all when the header is bad.
        if ($First) { Get-TrajectoryPrint $c $ids[0] | Should -Be $srcA } else { Get-TrajectoryPrint $c $ids[0] | Should -Be 'absent' }
        # Put the target back; then, seen by the real tools, it is row for row what it was.
        if ($All) {
            Remove-FleTrajectory -Id $ids[1] -Connection $c -Confirm:$false
            $o = New-FleTrajectory -TaskId old_copy -Id $ids[1] -Connection $c
            Save-FleCheckpoint -TrajectoryId $o.Id -StepNumber 0 -AgentCode old -EnvironmentFeedback old -GameState '{"old":0}' -Connection $c
            Save-FleCheckpoint -TrajectoryId $o.Id -StepNumber 9 -AgentCode old -EnvironmentFeedback old -GameState ([byte[]](1, 2, 3)) -Connection $c
            Remove-FleTrajectory -Id $ids[2] -Connection $c -Confirm:$false
            $oldPrint = Get-TrajectoryPrint $c $ids[1]
        }
        if ($First) { Remove-FleTrajectory -Id $ids[0] -Connection $c -Confirm:$false }
        if (-not $All) { Get-FleTestSnapshot -Target $target | Should -Be $before }
    }

    It 'a gzip export cut short (by Export-FleData) and with a flipped byte: FleImportFileInvalid naming a line, the damaged trajectory as it was' {
        $gz = Join-Path $dir "damaged-$Name.jsonl.gz"
        Export-FleData -Path $gz -Connection $src | Out-Null
        $bytes = [System.IO.File]::ReadAllBytes($gz)
        $cut = Join-Path $dir "damaged-$Name-cut.jsonl.gz"
        [System.IO.File]::WriteAllBytes($cut, [byte[]]$bytes[0..([int]($bytes.Length * 0.6))])
        $flip = Join-Path $dir "damaged-$Name-flip.jsonl.gz"
        $bytes[[int]($bytes.Length / 2)] = $bytes[[int]($bytes.Length / 2)] -bxor 0x5A
        [System.IO.File]::WriteAllBytes($flip, $bytes)
        foreach ($f in $cut, $flip) {
            $script:tried++
            $e = $null
            try { Import-FleData -Path $f -Connection $c -ConflictAction Overwrite -ErrorAction Stop | Out-Null } catch { $e = $_ }
            $e.FullyQualifiedErrorId | Should -Be 'FleImportFileInvalid,Fle.PowerShell.Commands.ImportFleDataCommand'
            $e.Exception.Message | Should -Match '\bline \d+\b'
            Get-TrajectoryPrint $c $ids[1] | Should -Be $oldPrint
            Get-TrajectoryPrint $c $ids[2] | Should -Be 'absent'
            Get-TrajectoryPrint $c $bystander.Id | Should -Be $bystanderPrint
            $a = Get-TrajectoryPrint $c $ids[0]
            $a | Should -BeIn @('absent', $srcA) -Because 'the first trajectory is imported whole or not at all'
            if ($a -ne 'absent') { Remove-FleTrajectory -Id $ids[0] -Connection $c -Confirm:$false }
        }
        # The undamaged file imports everything, and the old copy is replaced (Overwrite).
        (Import-FleData -Path $gz -Connection $c -ConflictAction Overwrite).Trajectories | Should -Be 3
        Get-TrajectoryPrint $c $ids[1] | Should -Be (Get-TrajectoryPrint $src $ids[1])
    }
}

Describe 'SQL-injection strings on <Name> are stored literally and do nothing' -Tag BadInput -ForEach $backends {
    BeforeAll {
        if ($Name -eq 'Sqlite') {
            $file = Join-Path $dir "inject-$([guid]::NewGuid().ToString('n').Substring(0, 6)).db"
            $c = Connect-FleDatabase -Path $file -PassThru -NoDefault
        } else {
            $pgdb = New-FleTestPostgresDatabase -Prefix fle_inject
            $c = Connect-FleDatabase -ConnectionString $pgdb.ConnectionString -PassThru -NoDefault
        }
        $bystander = New-FleTrajectory -TaskId bystander -Connection $c
        Save-FleCheckpoint -TrajectoryId $bystander.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState '{}' -Connection $c
        $evil = @(
            "'; DROP TABLE steps; --"
            "x'); DELETE FROM trajectories; --"
            '" OR ""="'
            "1 OR 1=1"
            "'; UPDATE trajectories SET status='failed'; SELECT '"
            "\'; TRUNCATE game_states CASCADE; --"
            "%"
            "_"
            '$$; DROP TABLE trajectories; $$'
            "'||(SELECT pg_sleep(5))||'"
            "Robert'); DROP TABLE state_dictionaries;--"
            "`$(Remove-Item -Recurse /tmp/x)"
            "'; ATTACH DATABASE '/tmp/pwn.db' AS pwn; --"
        )
    }
    AfterAll { $c | Disconnect-FleDatabase }

    It 'in task id, trajectory id, agent code, feedback, state, metadata keys and values, queries: <_>' -ForEach @(0..12) {
        $s = $evil[$_]
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $id = "id-$_-$s"
        $t = New-FleTrajectory -TaskId $s -Id $id -Metadata @{ $s = $s; nested = @{ $s = @($s) } } -Connection $c
        $script:tried += 8
        Save-FleCheckpoint -TrajectoryId $id -StepNumber 0 -AgentCode $s -EnvironmentFeedback $s -GameState $s -Metadata @{ $s = $s } -Connection $c
        Save-FleStep -TrajectoryId $id -StepNumber 1 -AgentCode $s -EnvironmentFeedback $s -Metadata "{""k"":$(ConvertTo-Json $s)}" -Connection $c

        $got = Get-FleTrajectory -Id $id -Connection $c
        $got.TaskId | Should -BeExactly $s
        $got.Metadata[$s] | Should -BeExactly $s
        $got.StepCount | Should -Be 2
        @(Get-FleTrajectory -TaskId $s -Connection $c).Id | Should -Be @($id) -Because 'a task id is matched exactly, never as a pattern'
        $cp = Get-FleCheckpoint -TrajectoryId $id -StepNumber 0 -Connection $c
        $cp.AgentCode | Should -BeExactly $s
        $cp.EnvironmentFeedback | Should -BeExactly $s
        $cp.GameStateText | Should -BeExactly $s
        $cp.Metadata[$s] | Should -BeExactly $s
        (Get-FleStep -TrajectoryId $id -StepNumber 1 -Connection $c).Metadata.k | Should -BeExactly $s
        Test-FleTrajectory -Id $id -Connection $c | Should -BeTrue
        Complete-FleTrajectory -Id $id -Connection $c -Status Failed
        # Everything else is as it was.
        (Get-FleTrajectory -Id $bystander.Id -Connection $c).Status | Should -Be 'Running'
        (Measure-FleStep -TrajectoryId $bystander.Id -Connection $c).Count | Should -Be 1
        (Get-FleCheckpoint -TrajectoryId $bystander.Id -Latest -Connection $c).GameStateText | Should -Be '{}'
        @(Get-FleTrajectory -Connection $c).Count | Should -Be ($_ + 2)
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 5 -Because 'no injected pg_sleep ran'
        if ($Name -eq 'Sqlite') { Test-Path '/tmp/pwn.db' | Should -BeFalse }
    }

    It 'a trajectory id pattern with LIKE wildcards matches literally' {
        New-FleTrajectory -TaskId like -Id 'like_%_\x' -Connection $c | Out-Null
        New-FleTrajectory -TaskId like -Id 'likeAB\x' -Connection $c | Out-Null
        @(Get-FleTrajectory -Id 'like_%*' -Connection $c).Id | Should -Be @('like_%_\x')
    }
}

AfterAll {
    Write-Host "  bad inputs tried: $script:tried"
}
