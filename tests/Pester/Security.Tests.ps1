# Issue 6, point 6: secrets and file permissions. The password never appears in any stream, error record,
# ToString() or formatted object; -Credential and PGPASSFILE work; SslMode is honoured; SQLite files are 0600.
BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:pg = Test-FlePostgresAvailable
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-FleModulePath) -Force
    Import-Module (Join-Path $PSScriptRoot 'fixtures/FleFixtures.psm1') -Force
    $dir = New-FleTestDirectory

    function Get-UnixMode([string] $Path) { (& stat -c '%a' $Path).Trim() }

    function Get-EverythingAbout {
        # Every rendering of the captured output and of each error record that a user or a log could see.
        param([object[]] $Captured, [object[]] $Errors)
        $sb = [System.Text.StringBuilder]::new()
        [void]$sb.AppendLine(($Captured | Out-String -Width 4096))
        foreach ($o in $Captured) {
            [void]$sb.AppendLine([string]$o)
            # Format-List of the output of an earlier Format-* (format records) is not possible; everything else is listed in full.
            if ($o.GetType().Namespace -ne 'Microsoft.PowerShell.Commands.Internal.Format') {
                [void]$sb.AppendLine(($o | Format-List * -Force | Out-String -Width 4096))
            }
        }
        foreach ($e in $Errors) {
            [void]$sb.AppendLine(($e | Format-List * -Force | Out-String -Width 4096))
            [void]$sb.AppendLine($e.ToString())
            [void]$sb.AppendLine([string]$e.TargetObject)
            [void]$sb.AppendLine([string]$e.ErrorDetails)
            [void]$sb.AppendLine(($e.InvocationInfo | Format-List * -Force | Out-String -Width 4096))
            [void]$sb.AppendLine(($e.InvocationInfo.BoundParameters.Values | ForEach-Object { [string]$_ }) -join "`n")
            $x = $e.Exception
            while ($x) {
                [void]$sb.AppendLine($x.ToString())
                [void]$sb.AppendLine(($x | Format-List * -Force | Out-String -Width 4096))
                $x = $x.InnerException
            }
        }
        $sb.ToString()
    }
}

Describe 'The password never shows' -Tag Security -Skip:(-not $pg) {
    BeforeAll {
        # A role of its own with a password found nowhere else, so any occurrence in any output is a leak.
        $secret = 'Zebra-' + [guid]::NewGuid().ToString('n').Substring(0, 12) + '-Quartz'
        $role = 'fle_sec_' + [guid]::NewGuid().ToString('n').Substring(0, 8)
        $psqlArgs = @('-h', $env:FLE_TEST_PG_SOCKET, '-p', $env:FLE_TEST_PG_PORT, '-U', 'postgres', '-d', 'postgres', '-q', '-v', 'ON_ERROR_STOP=1',
            '-c', "CREATE ROLE $role LOGIN PASSWORD '$secret'", '-c', "CREATE DATABASE $role OWNER $role")
        if ($env:FLE_TEST_PG_RUNAS) { & runuser -u $env:FLE_TEST_PG_RUNAS -- psql @psqlArgs | Out-Null } else { & psql @psqlArgs | Out-Null }
        $LASTEXITCODE | Should -Be 0
        $server = $env:FLE_TEST_PG_HOST; $port = [int]$env:FLE_TEST_PG_PORT
        $goodCred = [pscredential]::new($role, (ConvertTo-SecureString $secret -AsPlainText -Force))
        $goodCs = "Host=$server;Port=$port;Database=$role;Username=$role;Password=$secret"
        $Error.Clear()
    }

    It 'in every stream (-Verbose -Debug, *>&1), every error record, ToString() and formatted object' {
        $ErrorActionPreference = 'Continue'   # the failing commands below each leave an error record and the block goes on
        $VerbosePreference = 'Continue'; $DebugPreference = 'Continue'; $InformationPreference = 'Continue'; $WarningPreference = 'Continue'
        $closed = & { $l = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0); $l.Start(); $p = $l.LocalEndpoint.Port; $l.Stop(); $p }
        $wrong = "Host=$server;Port=$port;Database=$role;Username=$role;Password=$secret-not"
        $captured = & {
            $c = Connect-FleDatabase -Type Postgres -Server $server -Port $port -Database $role -Credential $goodCred -PassThru -NoDefault -Verbose -Debug
            $c; $c.ToString(); $c | Format-List * | Out-String; $c | ConvertTo-Json -Depth 4
            $t = New-FleTrajectory -TaskId secrets -Connection $c -Verbose -Debug
            Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState '{}' -Connection $c -Verbose -Debug -PassThru
            try { Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState '{}' -Connection $c -Verbose -Debug -ErrorAction Stop } catch { $_ }   # FleStepAlreadyExists
            Get-FleTrajectory -Connection $c -Verbose -Debug | Format-List *
            Resume-FleTrajectory -Id $t.Id -Connection $c -Verbose -Debug
            Disconnect-FleDatabase -Connection $c -Verbose -Debug
            $s = Connect-FleDatabase -ConnectionString $goodCs -PassThru -NoDefault -Verbose -Debug
            $s; "$s"; Get-FleTrajectory -Connection $s -Verbose | Out-String
            Disconnect-FleDatabase -Connection $s
            try { Connect-FleDatabase -ConnectionString $wrong -NoDefault -Verbose -Debug -ErrorAction Stop } catch { $_ }   # FleAuthenticationFailed
            try { Connect-FleDatabase -ConnectionString "$goodCs;Database=no_such_database" -NoDefault -Verbose -Debug -ErrorAction Stop } catch { $_ }   # FleDatabaseUnavailable
            try { Connect-FleDatabase -Type Postgres -Server 127.0.0.1 -Port $closed -Database $role -Credential $goodCred -NoDefault -Verbose -Debug -ErrorAction Stop } catch { $_ }   # unreachable
            try { Connect-FleDatabase -ConnectionString "Host=127.0.0.1;Port=x$secret;Password=$secret" -NoDefault -Verbose -Debug -ErrorAction Stop } catch { $_ }   # unparsable
            try { Connect-FleDatabase -Type Postgres -Server $server -Port $port -Database $role -Credential $goodCred -SslMode Require -NoDefault -Verbose -Debug -ErrorAction Stop } catch { $_ }
        } *>&1
        $errors = @($Error) + @($captured | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
        $errors.Count | Should -BeGreaterOrEqual 5 -Because 'the failing commands above left error records'
        $ids = $errors | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] }
        $ids | Should -Contain 'FleAuthenticationFailed'
        $ids | Should -Contain 'FleDatabaseUnavailable'
        $ids | Should -Contain 'FleStepAlreadyExists'
        $ids | Should -Contain 'FleConfigurationInvalid'
        $all = Get-EverythingAbout -Captured $captured -Errors $errors
        $all | Should -Match 'Connecting to the Postgres database' -Because 'verbose output was captured'
        $all | Should -Not -Match ([regex]::Escape($secret))
        # The check itself finds a secret where there is one.
        Get-EverythingAbout -Captured @([pscustomobject]@{ Note = "x$secret" }) -Errors @() | Should -Match ([regex]::Escape($secret))
    }

    It 'in a fresh session that reads the password from .env, with -Verbose -Debug, stdout and stderr' {
        $work = Join-Path $dir 'envsession'
        New-Item -ItemType Directory $work | Out-Null
        Set-Content (Join-Path $work '.env') @"
FLE_DB_TYPE=postgres
SKILLS_DB_HOST=$server
SKILLS_DB_PORT=$port
SKILLS_DB_NAME=$role
SKILLS_DB_USER=$role
SKILLS_DB_PASSWORD=$secret
"@
        $out = Invoke-FlePwsh -WorkingDirectory $work -Script @'
$VerbosePreference = 'Continue'; $DebugPreference = 'Continue'
Get-ChildItem env: | Where-Object Name -Match '^(SKILLS_DB_|FLE_DB_|SQLITE_DB_|PGPASS)' | Remove-Item   # only .env speaks
& {
    $t = New-FleTrajectory -TaskId from_env -Verbose -Debug
    Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState '{}' -Verbose -Debug -PassThru | Format-List *
    Get-FleTrajectory -Verbose | Format-List *
    try { Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState '{}' -ErrorAction Stop } catch { $_ | Format-List * -Force; $_.Exception.ToString() }
    "SKILLS variables in the process: [$((Get-ChildItem env: | Where-Object Name -Like 'SKILLS*').Name -join ',')]"
} *>&1 | Out-String -Width 4096
"FINISHED"
'@ 2>&1
        ($out -join "`n") | Should -Match 'FINISHED'
        ($out -join "`n") | Should -Match 'from_env'
        ($out -join "`n") | Should -Not -Match ([regex]::Escape($secret))
        ($out -join "`n") | Should -Match ([regex]::Escape('SKILLS variables in the process: []')) -Because 'reading .env never sets the process environment'
    }

    It '-Credential works; a wrong one is FleAuthenticationFailed' {
        $c = Connect-FleDatabase -Type Postgres -Server $server -Port $port -Database $role -Credential $goodCred -PassThru -NoDefault
        (New-FleTrajectory -TaskId cred -Connection $c).TaskId | Should -Be 'cred'
        $c | Disconnect-FleDatabase
        $bad = [pscredential]::new($role, (ConvertTo-SecureString 'nope' -AsPlainText -Force))
        { Connect-FleDatabase -Type Postgres -Server $server -Port $port -Database $role -Credential $bad -NoDefault } |
            Should -Throw -ErrorId 'FleAuthenticationFailed,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
    }

    It 'PGPASSFILE (mode 0600) supplies the password when nothing else does' {
        $pgpass = Join-Path $dir 'pgpass'
        Set-Content $pgpass "${server}:${port}:${role}:${role}:$secret"
        & chmod 600 $pgpass
        $saved = @{ PGPASSFILE = $env:PGPASSFILE; SKILLS_DB_PASSWORD = $env:SKILLS_DB_PASSWORD; PGPASSWORD = $env:PGPASSWORD }
        try {
            $env:SKILLS_DB_PASSWORD = $null; $env:PGPASSWORD = $null
            $env:PGPASSFILE = $pgpass
            $noPassword = [pscredential]::new($role, [securestring]::new())
            $c = Connect-FleDatabase -Type Postgres -Server $server -Port $port -Database $role -Credential $noPassword -PassThru -NoDefault
            (New-FleTrajectory -TaskId pgpass -Connection $c).TaskId | Should -Be 'pgpass'
            $c | Disconnect-FleDatabase
            # And from the environment variables alone, with no password variable at all.
            $out = Invoke-FlePwsh -WorkingDirectory $dir -Script "`$env:FLE_DB_TYPE='postgres'; `$env:SKILLS_DB_HOST='$server'; `$env:SKILLS_DB_PORT='$port'; `$env:SKILLS_DB_NAME='$role'; `$env:SKILLS_DB_USER='$role'; (New-FleTrajectory -TaskId pgpass_env).TaskId"
            $out | Should -Be 'pgpass_env'
            # A password file without a line for this server: refused, clearly.
            Set-Content $pgpass "otherhost:5432:*:*:x"
            { Connect-FleDatabase -Type Postgres -Server $server -Port $port -Database $role -Credential $noPassword -NoDefault } |
                Should -Throw -ErrorId 'FleAuthenticationFailed,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
            # PGPASSFILE naming a file that is not there: a configuration error naming the variable.
            $env:PGPASSFILE = Join-Path $dir 'no-such-pgpass'
            $e = $null
            try { Connect-FleDatabase -Type Postgres -Server $server -Port $port -Database $role -Credential $noPassword -NoDefault } catch { $e = $_ }
            $e.FullyQualifiedErrorId | Should -Be 'FleConfigurationInvalid,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
            $e.Exception.Message | Should -Match 'PGPASSFILE'
            $e.Exception.Message | Should -Match 'no-such-pgpass'
        } finally {
            foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $saved[$k]) }
        }
    }

    It 'SslMode Disable connects to the local server; Require refuses the non-SSL server with a clear error' {
        $c = Connect-FleDatabase -Type Postgres -Server $server -Port $port -Database $role -Credential $goodCred -SslMode Disable -PassThru -NoDefault
        $c.Backend | Should -Be 'Postgres'
        $c | Disconnect-FleDatabase
        $e = $null
        try { Connect-FleDatabase -Type Postgres -Server $server -Port $port -Database $role -Credential $goodCred -SslMode Require -NoDefault } catch { $e = $_ }
        $e | Should -Not -BeNullOrEmpty -Because 'Require must never fall back to a plain connection'
        $e.FullyQualifiedErrorId | Should -Be 'FleDatabaseUnavailable,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $e.Exception.Message | Should -Match 'SSL'
        $e.Exception.Message | Should -Match 'Require'
        $e.Exception.Message | Should -Match "${server}:$port"
        # SKILLS_DB_SSLMODE does the same from the environment.
        $env:SKILLS_DB_SSLMODE = 'require'
        try {
            { Connect-FleDatabase -Type Postgres -Server $server -Port $port -Database $role -Credential $goodCred -NoDefault } |
                Should -Throw -ErrorId 'FleDatabaseUnavailable,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
            $env:SKILLS_DB_SSLMODE = 'disable'
            $c = Connect-FleDatabase -Type Postgres -Server $server -Port $port -Database $role -Credential $goodCred -PassThru -NoDefault
            $c | Disconnect-FleDatabase
        } finally { Remove-Item Env:SKILLS_DB_SSLMODE }
    }
}

Describe 'SQLite files are readable by the owner only' -Tag Security {
    It 'a new database, its folders, -wal and -shm: mode 0600 files' {
        $db = Join-Path $dir 'perm/nested/data.db'
        $c = Connect-FleDatabase -Path $db -PassThru -NoDefault
        $t = New-FleTrajectory -TaskId perms -Connection $c
        Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState '{}' -Connection $c
        Get-UnixMode $db | Should -Be '600'
        Get-UnixMode "$db-wal" | Should -Be '600'
        Get-UnixMode "$db-shm" | Should -Be '600'
        $c | Disconnect-FleDatabase
    }

    It 'even under umask 000 (a fresh process, the default .fle/data.db)' {
        $work = Join-Path $dir 'umask'
        New-Item -ItemType Directory $work | Out-Null
        $script = "`$ErrorActionPreference='Stop'; Import-Module '$(Get-FleModulePath)'; Set-Location '$work'; `$env:FLE_DB_TYPE=`$null; `$env:SQLITE_DB_FILE=`$null; " +
            "`$t = New-FleTrajectory -TaskId umask; Save-FleCheckpoint -TrajectoryId `$t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState '{}'; 'saved'"
        $encoded = [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($script))
        $out = & bash -c "umask 000; exec '$env:FLE_PWSH' -NoProfile -NonInteractive -EncodedCommand $encoded" 2>&1
        $out | Should -Be 'saved'
        $db = Join-Path $work '.fle/data.db'
        Get-UnixMode $db | Should -Be '600'
        foreach ($f in "$db-wal", "$db-shm") { if (Test-Path $f) { Get-UnixMode $f | Should -Be '600' } }
        (& sqlite3 $db 'SELECT COUNT(*) FROM steps') | Should -Be '1'
    }
}
