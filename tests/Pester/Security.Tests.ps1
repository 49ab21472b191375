# Issue 6, point 6: secrets and file permissions. The password never appears in any stream, error record,
# ToString() or formatted object; -Credential and PGPASSFILE work; SslMode is honoured; SQLite files are 0600.
BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:pg = Test-FlePostgresAvailable
    $script:backends = @(@{ Name = 'Sqlite' })
    if ($script:pg) { $script:backends += @{ Name = 'Postgres' } }
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

# Skipped only outside CI with no PostgreSQL configured: under CI=true Test-FlePostgresAvailable throws, and build.ps1 fails any run with a skipped test.
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
        # Issue 11: "the server has no TLS" has an error id of its own.
        $e.FullyQualifiedErrorId | Should -Be 'FleTlsNotOffered,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $e.Exception.Message | Should -Match 'does not offer TLS'
        $e.Exception.Message | Should -Match 'Require'
        $e.Exception.Message | Should -Match "${server}:$port"
        # SKILLS_DB_SSLMODE does the same from the environment.
        $env:SKILLS_DB_SSLMODE = 'require'
        try {
            { Connect-FleDatabase -Type Postgres -Server $server -Port $port -Database $role -Credential $goodCred -NoDefault } |
                Should -Throw -ErrorId 'FleTlsNotOffered,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
            $env:SKILLS_DB_SSLMODE = 'disable'
            $c = Connect-FleDatabase -Type Postgres -Server $server -Port $port -Database $role -Credential $goodCred -PassThru -NoDefault
            $c | Disconnect-FleDatabase
        } finally { Remove-Item Env:SKILLS_DB_SSLMODE }
    }
}

# Skipped only outside CI with no PostgreSQL configured: under CI=true Test-FlePostgresAvailable throws, and build.ps1 fails any run with a skipped test.
Describe 'The password never shows in export files, backups, their names and their cmdlets'' streams' -Tag Security -Skip:(-not $pg) {
    BeforeAll {
        $secret = 'Okapi-' + [guid]::NewGuid().ToString('n').Substring(0, 12) + '-Vortex'
        $role = 'fle_xfer_' + [guid]::NewGuid().ToString('n').Substring(0, 8)
        $psqlArgs = @('-h', $env:FLE_TEST_PG_SOCKET, '-p', $env:FLE_TEST_PG_PORT, '-U', 'postgres', '-d', 'postgres', '-q', '-v', 'ON_ERROR_STOP=1',
            '-c', "CREATE ROLE $role LOGIN PASSWORD '$secret'", '-c', "CREATE DATABASE $role OWNER $role")
        if ($env:FLE_TEST_PG_RUNAS) { & runuser -u $env:FLE_TEST_PG_RUNAS -- psql @psqlArgs | Out-Null } else { & psql @psqlArgs | Out-Null }
        $LASTEXITCODE | Should -Be 0
        $server = $env:FLE_TEST_PG_HOST; $port = [int]$env:FLE_TEST_PG_PORT
        $goodCred = [pscredential]::new($role, (ConvertTo-SecureString $secret -AsPlainText -Force))
        $goodCs = "Host=$server;Port=$port;Database=$role;Username=$role;Password=$secret"
        # One connection from a connection string with the password in it, one from -Credential.
        $fromCs = Connect-FleDatabase -ConnectionString $goodCs -PassThru -NoDefault
        $fromCred = Connect-FleDatabase -Type Postgres -Server $server -Port $port -Database $role -Credential $goodCred -PassThru -NoDefault
        $t = New-FleTrajectory -TaskId xfer_secret -Metadata @{ note = 'no secret here' } -Connection $fromCs
        0..2 | ForEach-Object { Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber $_ -AgentCode "code $_" -EnvironmentFeedback 'fb' -GameState "{""tick"":$_}" -Connection $fromCs }
        $work = Join-Path $dir 'xfer'
        New-Item -ItemType Directory $work | Out-Null
        $secretHex = [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData([Text.Encoding]::UTF8.GetBytes($secret))).ToLowerInvariant()

        function Read-Gzip([string] $Path) {
            $fs = [System.IO.File]::OpenRead($Path)
            try {
                $gz = [System.IO.Compression.GZipStream]::new($fs, [System.IO.Compression.CompressionMode]::Decompress)
                $ms = [System.IO.MemoryStream]::new(); $gz.CopyTo($ms); $gz.Dispose()
                , $ms.ToArray()
            } finally { $fs.Dispose() }
        }
        function Get-FileText([string] $Path) {
            # The file's bytes as UTF-8 and as Latin-1 (a byte-for-byte view), plus the decompressed text of a gzip file.
            $b = [System.IO.File]::ReadAllBytes($Path)
            $text = [Text.Encoding]::UTF8.GetString($b) + "`n" + [Text.Encoding]::Latin1.GetString($b)
            if ($b.Length -ge 2 -and $b[0] -eq 0x1f -and $b[1] -eq 0x8b) { $text += "`n" + [Text.Encoding]::UTF8.GetString((Read-Gzip $Path)) }
            $text
        }
    }
    AfterAll {
        $fromCs | Disconnect-FleDatabase
        $fromCred | Disconnect-FleDatabase
    }

    It 'in export files (plain, gzip), backup files and names, the Backup object, Get-/Test-FleDatabase, every stream with -Verbose -Debug, failing backups'' errors' {
        $ErrorActionPreference = 'Continue'
        $VerbosePreference = 'Continue'; $DebugPreference = 'Continue'; $InformationPreference = 'Continue'; $WarningPreference = 'Continue'
        $Error.Clear()
        $backups = [System.Collections.Generic.List[object]]::new()
        $captured = & {
            $i = 0
            foreach ($c in $fromCs, $fromCred) {
                $i++
                Export-FleData -Path (Join-Path $work "plain-$i.jsonl") -Connection $c -Verbose -Debug | Format-List * | Out-String
                Export-FleData -Path (Join-Path $work "packed-$i.jsonl.gz") -Connection $c -Verbose -Debug | Format-List * | Out-String
                Export-FleData -Connection $c -Verbose -Debug | Format-List * | Out-String
                Import-FleData -Path (Join-Path $work "plain-$i.jsonl") -Connection $c -Verbose -Debug | Format-List * | Out-String
                Import-FleData -Path (Join-Path $work "packed-$i.jsonl.gz") -Connection $c -ConflictAction Overwrite -Verbose -Debug | Format-List * | Out-String
                $b = Backup-FleDatabase -Destination (Join-Path $work 'backups') -Connection $c -Verbose -Debug
                $backups.Add($b)
                $b; "$b"; $b | Format-List * | Out-String; $b | Format-List * -Force | Out-String; $b | ConvertTo-Json -Depth 3
                Restore-FleDatabase -Path $b.Path -Connection $c -Confirm:$false -Verbose -Debug | Format-List * | Out-String
                Get-FleDatabase -Connection $c -Verbose -Debug | Format-List * | Out-String
                Get-FleDatabase -Connection $c | Out-String
                Test-FleDatabase -Connection $c -Deep -Verbose -Debug | Format-List * | Out-String
                Test-FleDatabase -Connection $c | Out-String
                # Failing backups and exports: a folder that cannot be created, a file that cannot be written.
                try { Backup-FleDatabase -Destination '/proc/fle-no-such-dir/' -Connection $c -Verbose -Debug -ErrorAction Stop } catch { $_ }
                try { Backup-FleDatabase -Destination '/proc/self/fle-backup.dump' -Connection $c -Verbose -Debug -ErrorAction Stop } catch { $_ }
                try { Export-FleData -Path '/proc/fle-no-such-dir/x.jsonl' -Connection $c -Verbose -Debug -ErrorAction Stop } catch { $_ }
                try { Restore-FleDatabase -Path (Join-Path $work 'no-such-backup.dump') -Connection $c -Confirm:$false -Verbose -Debug -ErrorAction Stop } catch { $_ }
            }
        } *>&1
        $errors = @($Error) + @($captured | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] })
        $ids = $errors | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] }
        @($ids | Where-Object { $_ -eq 'FleBackupFailed' }).Count | Should -BeGreaterOrEqual 4 -Because 'both failing backups failed on both connections'
        $ids | Should -Contain 'FleExportFailed'
        $ids | Should -Contain 'FleRestoreFailed'
        $all = Get-EverythingAbout -Captured $captured -Errors $errors
        $all | Should -Match 'xfer_secret' -Because 'the exported records were captured'
        $all | Should -Match ([regex]::Escape($role)) -Because 'the database is named (without its password)'
        $all | Should -Not -Match ([regex]::Escape($secret))

        # The files: names and bytes (decompressed too); the pg_dump archives as the SQL pg_restore makes of them.
        $backups.Count | Should -Be 2
        $backups | ForEach-Object { $_.Kind | Should -Be 'PgDump' }
        $files = @(Get-ChildItem $work -Recurse -File)
        $files.Count | Should -BeGreaterOrEqual 6
        ($files.FullName -join "`n") | Should -Not -Match ([regex]::Escape($secret))
        foreach ($f in $files) {
            $text = Get-FileText $f.FullName
            $text | Should -Not -Match ([regex]::Escape($secret)) -Because "$($f.Name) holds no password"
        }
        Get-FileText (Join-Path $work 'packed-1.jsonl.gz') | Should -Match 'xfer_secret' -Because 'the gzip file was read decompressed'
        foreach ($b in $backups) {
            $sql = (& pg_restore -f - $b.Path) -join "`n"
            $LASTEXITCODE | Should -Be 0
            $sql | Should -Match 'xfer_secret'
            $sql | Should -Not -Match ([regex]::Escape($secret))
        }
        Get-ChildItem (Join-Path $work 'backups') -Filter '*.partial' | Should -BeNullOrEmpty
    }

    It 'pg_dump gets the password in PGPASSWORD, never on its command line (a fake pg_dump first on PATH records both)' {
        $bin = Join-Path $dir 'fakebin'
        New-Item -ItemType Directory $bin -Force | Out-Null
        $log = Join-Path $dir 'fake-pg_dump'
        Set-Content (Join-Path $bin 'pg_dump') -Value @"
#!/bin/sh
printf '%s\n' "`$@" > '$log.argv'
env | cut -d= -f1 | sort > '$log.envkeys'
printf '%s' "`$PGPASSWORD" | sha256sum | cut -d' ' -f1 > '$log.pw'
out=''; prev=''
for a in "`$@"; do if [ "`$prev" = '-f' ]; then out="`$a"; fi; prev="`$a"; done
printf 'PGDMP fake archive' > "`$out"
exit 0
"@
        & chmod 755 (Join-Path $bin 'pg_dump')
        $saved = @{ PATH = $env:PATH; FLE_PG_BIN = $env:FLE_PG_BIN; PGPASSWORD = $env:PGPASSWORD }
        try {
            $env:FLE_PG_BIN = $null; $env:PGPASSWORD = $null
            $env:PATH = $bin + [IO.Path]::PathSeparator + $saved.PATH
            foreach ($c in $fromCs, $fromCred) {
                Remove-Item "$log.*" -ErrorAction Ignore
                $b = Backup-FleDatabase -Destination (Join-Path $dir 'fake-backups') -Connection $c
                $b.Kind | Should -Be 'PgDump'
                [System.IO.File]::ReadAllText($b.Path) | Should -Be 'PGDMP fake archive' -Because 'the fake pg_dump, not the real one, ran'
                $argv = @(Get-Content "$log.argv")
                $argv | Should -Contain '--no-password'
                $argv | Should -Contain '-Fc'
                $argv | Should -Contain $role
                $argv | Should -Contain $server
                ($argv -join ' ') | Should -Not -Match ([regex]::Escape($secret))
                ($argv -join ' ') | Should -Not -Match 'password='
                @(Get-Content "$log.envkeys") | Should -Contain 'PGPASSWORD'
                (Get-Content "$log.pw").Trim() | Should -Be $secretHex -Because 'PGPASSWORD held the password'
                $env:PGPASSWORD | Should -BeNullOrEmpty -Because 'the password was set for the child only, not in this process'
                (Get-Item $b.Path).UnixFileMode | Should -Be ([System.IO.UnixFileMode]'UserRead, UserWrite')
            }
        } finally {
            foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $saved[$k]) }
        }
        $env:PATH | Should -Be $saved.PATH
    }
}

Describe 'Backups and export files on <Name> are readable by the owner only' -Tag Security -ForEach $backends {
    BeforeAll {
        $ownerOnly = [System.IO.UnixFileMode]'UserRead, UserWrite'
        $here = Join-Path $dir "modes-$Name"
        New-Item -ItemType Directory $here | Out-Null
        if ($Name -eq 'Sqlite') {
            $c = Connect-FleDatabase -Path (Join-Path $here 'data.db') -PassThru -NoDefault
        } else {
            $pgdb = New-FleTestPostgresDatabase -Prefix fle_modes
            $c = Connect-FleDatabase -ConnectionString $pgdb.ConnectionString -PassThru -NoDefault
        }
        $t = New-FleTrajectory -TaskId modes -Connection $c
        Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState '{}' -Connection $c
    }
    AfterAll { $c | Disconnect-FleDatabase }

    It 'a backup into a folder, a backup over an existing 0666 file, plain and gzip exports (also over a 0644 file): mode 0600' {
        $b = Backup-FleDatabase -Destination (Join-Path $here 'backups') -Connection $c
        $b.Kind | Should -Be ($Name -eq 'Sqlite' ? 'SqliteFile' : 'PgDump')
        (Get-Item $b.Path).UnixFileMode | Should -Be $ownerOnly
        $fixed = Join-Path $here ($Name -eq 'Sqlite' ? 'fixed.db' : 'fixed.dump')
        Set-Content $fixed 'old'
        [System.IO.File]::SetUnixFileMode($fixed, [System.IO.UnixFileMode]0x1B6)   # 0666
        $b2 = Backup-FleDatabase -Destination $fixed -Connection $c
        $b2.Path | Should -Be $fixed
        (Get-Item $fixed).UnixFileMode | Should -Be $ownerOnly
        foreach ($fileName in 'e.jsonl', 'e.jsonl.gz') {
            $f = Join-Path $here $fileName
            Export-FleData -Path $f -Connection $c | Out-Null
            (Get-Item $f).UnixFileMode | Should -Be $ownerOnly
            [System.IO.File]::SetUnixFileMode($f, [System.IO.UnixFileMode]0x1A4)   # 0644
            Export-FleData -Path $f -Connection $c -Force | Out-Null
            (Get-Item $f).UnixFileMode | Should -Be $ownerOnly
        }
        # What was written is a real backup: the real tools read it.
        if ($Name -eq 'Sqlite') { (& sqlite3 $b.Path 'SELECT COUNT(*) FROM steps') | Should -Be '1' }
        else { (& pg_restore -l $b.Path) -join "`n" | Should -Match 'TABLE DATA public steps' }
    }

    It 'the same under umask 000, in a fresh process' {
        $sub = Join-Path $here 'umask'
        New-Item -ItemType Directory $sub | Out-Null
        $connect = if ($Name -eq 'Sqlite') { "Connect-FleDatabase -Path '$(Join-Path $here 'data.db')' -NoDefault -PassThru" }
                   else { "Connect-FleDatabase -ConnectionString `$env:FLE_FIXTURE_PG -NoDefault -PassThru" }
        $script = "`$ErrorActionPreference='Stop'; Import-Module '$(Get-FleModulePath)'; `$c = $connect; " +
            "`$b = Backup-FleDatabase -Destination '$sub' -Connection `$c; Export-FleData -Path '$sub/u.jsonl' -Connection `$c | Out-Null; " +
            "Export-FleData -Path '$sub/u.jsonl.gz' -Connection `$c | Out-Null; `$b.Path"
        $encoded = [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($script))
        $saved = $env:FLE_FIXTURE_PG
        try {
            if ($Name -eq 'Postgres') { $env:FLE_FIXTURE_PG = $pgdb.ConnectionString }
            $out = & bash -c "umask 000; exec '$env:FLE_PWSH' -NoProfile -NonInteractive -EncodedCommand $encoded" 2>&1
        } finally { $env:FLE_FIXTURE_PG = $saved }
        $LASTEXITCODE | Should -Be 0 -Because "$out"
        $made = @(Get-ChildItem $sub -File)
        $made.Count | Should -Be 3
        $made.FullName | Should -Contain ([string]$out).Trim()
        $made | ForEach-Object { $_.UnixFileMode | Should -Be $ownerOnly -Because "$($_.Name) is owner-only" }
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
