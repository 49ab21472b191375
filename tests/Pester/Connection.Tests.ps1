# Connect-FleDatabase / Disconnect-FleDatabase and the session's connection: paths through PowerShell,
# .env files, credentials, connection strings, -PassThru vs the session default, the implicit connection
# from .env / the environment, and the password never shown anywhere.
BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:hasPg = Test-FlePostgresAvailable
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'CmdletTestHelpers.psm1') -Force
    Import-Module (Get-FleModulePath) -Force
    $PSStyle.OutputRendering = 'PlainText'
    # The settings these tests write in .env files must not be overridden by the process environment.
    $script:savedEnv = @{}
    foreach ($v in 'FLE_DB_TYPE', 'SQLITE_DB_FILE', 'SKILLS_DB_HOST', 'SKILLS_DB_PORT', 'SKILLS_DB_NAME', 'SKILLS_DB_USER', 'SKILLS_DB_PASSWORD', 'SKILLS_DB_SSLMODE') {
        $script:savedEnv[$v] = [Environment]::GetEnvironmentVariable($v)
        [Environment]::SetEnvironmentVariable($v, $null)
    }
    $script:cleanEnv = @{ FLE_DB_TYPE = $null; SQLITE_DB_FILE = $null; SKILLS_DB_HOST = $null; SKILLS_DB_PORT = $null; SKILLS_DB_NAME = $null; SKILLS_DB_USER = $null; SKILLS_DB_PASSWORD = $null }
    Disconnect-FleDatabase
}

AfterAll {
    Disconnect-FleDatabase
    foreach ($k in $script:savedEnv.Keys) { [Environment]::SetEnvironmentVariable($k, $script:savedEnv[$k]) }
}

Describe 'Connect-FleDatabase on SQLite: paths resolve through PowerShell' {
    BeforeEach { $dir = New-FleTestDirectory; Push-Location $dir }
    AfterEach { Pop-Location; Disconnect-FleDatabase }

    It '-Path relative to the PowerShell location, not the process working directory' {
        [Environment]::CurrentDirectory | Should -Not -Be $dir
        $conn = Connect-FleDatabase -Path 'sub/rel.db' -PassThru -NoDefault
        try {
            $conn.Location | Should -Be (Join-Path $dir 'sub/rel.db')
            Test-Path (Join-Path $dir 'sub/rel.db') | Should -BeTrue
            Test-Path (Join-Path ([Environment]::CurrentDirectory) 'sub/rel.db') | Should -BeFalse
        } finally { $conn | Disconnect-FleDatabase }
    }

    It '-Path ./x.db and ..\ forms' {
        New-Item -ItemType Directory -Path (Join-Path $dir 'inner') | Out-Null
        Set-Location (Join-Path $dir 'inner')
        $conn = Connect-FleDatabase -Path '../up.db' -PassThru -NoDefault
        try { $conn.Location | Should -Be (Join-Path $dir 'up.db') } finally { $conn | Disconnect-FleDatabase }
    }

    It '-Path ~/... resolves to the home folder' {
        $name = 'fle-pester-home-' + [guid]::NewGuid().ToString('n').Substring(0, 8) + '.db'
        $conn = Connect-FleDatabase -Path "~/$name" -PassThru -NoDefault
        try {
            $conn.Location | Should -Be (Join-Path $HOME $name)
            Test-Path (Join-Path $HOME $name) | Should -BeTrue
        } finally {
            $conn | Disconnect-FleDatabase
            Remove-Item (Join-Path $HOME "$name*") -Force -ErrorAction Ignore
        }
    }

    It '-Path on a PowerShell drive' {
        New-PSDrive -Name FlePesterDrive -PSProvider FileSystem -Root $dir | Out-Null
        try {
            $conn = Connect-FleDatabase -Path 'FlePesterDrive:/drive.db' -PassThru -NoDefault
            try { $conn.Location | Should -Be (Join-Path $dir 'drive.db') } finally { $conn | Disconnect-FleDatabase }
        } finally { Remove-PSDrive FlePesterDrive }
    }

    It '-EnvFile (relative) reads FLE_DB_TYPE and SQLITE_DB_FILE from that file' {
        New-Item -ItemType Directory -Path (Join-Path $dir 'cfg') | Out-Null
        Set-Content -Path (Join-Path $dir 'cfg/custom.env') -Value "FLE_DB_TYPE=`"sqlite`"`nSQLITE_DB_FILE=`"data/from-env.db`""
        $conn = Connect-FleDatabase -EnvFile 'cfg/custom.env' -PassThru -NoDefault
        try {
            $conn.Backend | Should -Be 'Sqlite'
            $conn.Location | Should -Be (Join-Path $dir 'data/from-env.db')
            $conn.Source | Should -Match 'custom\.env'
        } finally { $conn | Disconnect-FleDatabase }
    }

    It 'without -EnvFile, ./.env of the PowerShell location is read; -Path overrides it' {
        Set-Content -Path (Join-Path $dir '.env') -Value 'SQLITE_DB_FILE=dotenv.db'
        $a = Connect-FleDatabase -PassThru -NoDefault
        $b = Connect-FleDatabase -Path 'param.db' -PassThru -NoDefault
        try {
            $a.Location | Should -Be (Join-Path $dir 'dotenv.db')
            $b.Location | Should -Be (Join-Path $dir 'param.db')
        } finally { $a, $b | Disconnect-FleDatabase }
    }

    It 'the process environment overrides .env' {
        Set-Content -Path (Join-Path $dir '.env') -Value 'SQLITE_DB_FILE=dotenv.db'
        $env:SQLITE_DB_FILE = 'from-process.db'
        try {
            $conn = Connect-FleDatabase -PassThru -NoDefault
            try { $conn.Location | Should -Be (Join-Path $dir 'from-process.db') } finally { $conn | Disconnect-FleDatabase }
        } finally { Remove-Item Env:SQLITE_DB_FILE }
    }

    It 'an unknown FLE_DB_TYPE in the .env is FleUnknownDatabaseType (InvalidArgument)' {
        Set-Content -Path (Join-Path $dir 'bad.env') -Value 'FLE_DB_TYPE=mysql'
        { Connect-FleDatabase -EnvFile ./bad.env -ErrorAction Stop } |
            Should -Throw -ErrorId 'FleUnknownDatabaseType,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        try { Connect-FleDatabase -EnvFile ./bad.env } catch { $err = $_ }
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err.Exception.Message | Should -Match 'mysql'
        $err.Exception.Message | Should -Match 'sqlite'
    }

    It 'postgres without its settings is FleMissingSetting naming what is missing' {
        Set-Content -Path (Join-Path $dir 'pg.env') -Value "FLE_DB_TYPE=postgres`nSKILLS_DB_HOST=localhost"
        { Connect-FleDatabase -EnvFile ./pg.env -ErrorAction Stop } |
            Should -Throw -ErrorId 'FleMissingSetting,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        try { Connect-FleDatabase -EnvFile ./pg.env } catch { $err = $_ }
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err.Exception.Message | Should -Match 'SKILLS_DB_NAME'
        $err.Exception.Message | Should -Match 'SKILLS_DB_USER'
        $err.Exception.Message | Should -Not -Match 'SKILLS_DB_HOST is'
    }

    It 'a missing -EnvFile is FleEnvFileNotFound' {
        { Connect-FleDatabase -EnvFile ./nope.env -ErrorAction Stop } |
            Should -Throw -ErrorId 'FleEnvFileNotFound,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
    }

    It 'a malformed .env line is FleEnvFileInvalid naming the line' {
        Set-Content -Path (Join-Path $dir 'broken.env') -Value "# ok`nFLE_DB_TYPE=sqlite`nthis line is wrong"
        try { Connect-FleDatabase -EnvFile ./broken.env } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'FleEnvFileInvalid,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $err.Exception.Message | Should -Match 'line 3'
    }

    It 'a file that is not a database is FleNotADatabase' {
        Set-Content -Path (Join-Path $dir 'text.db') -Value ('this is not sqlite ' * 100)
        { Connect-FleDatabase -Path ./text.db -ErrorAction Stop } |
            Should -Throw -ErrorId 'FleNotADatabase,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
    }
}

Describe 'the session connection: -PassThru, -NoDefault, Disconnect' {
    BeforeEach { $dir = New-FleTestDirectory; Push-Location $dir }
    AfterEach { Pop-Location; Disconnect-FleDatabase }

    It 'Connect-FleDatabase without -PassThru returns nothing and becomes the session default' {
        $out = Connect-FleDatabase -Path ./a.db
        $out | Should -BeNullOrEmpty
        $t = New-FleTrajectory -TaskId session
        & sqlite3 (Join-Path $dir 'a.db') "SELECT id FROM trajectories" | Should -Be $t.Id
    }

    It '-PassThru returns the connection and also makes it the default' {
        $conn = Connect-FleDatabase -Path ./b.db -PassThru
        $conn | Should -BeOfType ([FleConnection])
        $conn.Implicit | Should -BeFalse
        $t = New-FleTrajectory -TaskId session
        (Get-FleTrajectory -Connection $conn).Id | Should -Be $t.Id
    }

    It '-NoDefault leaves the session default alone' {
        Connect-FleDatabase -Path ./default.db
        $side = Connect-FleDatabase -Path ./side.db -PassThru -NoDefault
        try {
            $t = New-FleTrajectory -TaskId session
            Get-FleTrajectory -Connection $side | Should -BeNullOrEmpty
            (Get-FleTrajectory).Id | Should -Be $t.Id
        } finally { $side | Disconnect-FleDatabase }
    }

    It 'a connection the user holds (-PassThru) stays open when another Connect replaces the default' {
        $kept = Connect-FleDatabase -Path ./kept.db -PassThru
        Connect-FleDatabase -Path ./next.db
        try {
            $kept.IsOpen | Should -BeTrue
            { New-FleTrajectory -TaskId kept -Connection $kept -ErrorAction Stop } | Should -Not -Throw
            & sqlite3 (Join-Path $dir 'kept.db') "SELECT COUNT(*) FROM trajectories" | Should -Be 1
            & sqlite3 (Join-Path $dir 'next.db') "SELECT COUNT(*) FROM trajectories" | Should -Be 0
        } finally { $kept | Disconnect-FleDatabase }
    }

    It 'Disconnect-FleDatabase closes the default; the next cmdlet opens from .env again' {
        $conn = Connect-FleDatabase -Path ./first.db -PassThru
        Disconnect-FleDatabase
        $conn.IsOpen | Should -BeFalse
        Set-Content -Path (Join-Path $dir '.env') -Value 'SQLITE_DB_FILE=after.db'
        $t = New-FleTrajectory -TaskId again
        & sqlite3 (Join-Path $dir 'after.db') "SELECT id FROM trajectories" | Should -Be $t.Id
    }

    It '$conn | Disconnect-FleDatabase closes only that connection' {
        Connect-FleDatabase -Path ./stays.db
        $other = Connect-FleDatabase -Path ./goes.db -PassThru -NoDefault
        $other | Disconnect-FleDatabase
        $other.IsOpen | Should -BeFalse
        { New-FleTrajectory -TaskId still -ErrorAction Stop } | Should -Not -Throw
        & sqlite3 (Join-Path $dir 'stays.db') "SELECT COUNT(*) FROM trajectories" | Should -Be 1
    }

    It 'Disconnect-FleDatabase with nothing open is not an error' {
        Disconnect-FleDatabase
        { Disconnect-FleDatabase -ErrorAction Stop } | Should -Not -Throw
    }

    It 'Disconnect twice on the same object is harmless' {
        $c = Connect-FleDatabase -Path ./twice.db -PassThru -NoDefault
        $c | Disconnect-FleDatabase
        { $c | Disconnect-FleDatabase -ErrorAction Stop } | Should -Not -Throw
    }
}

Describe 'without Connect-FleDatabase (a fresh session)' {
    BeforeAll {
        $a = New-FleTestDirectory; $b = New-FleTestDirectory; $work = New-FleTestDirectory
        Set-Content -Path (Join-Path $a '.env') -Value "FLE_DB_TYPE=sqlite`nSQLITE_DB_FILE=a.db"
        Set-Content -Path (Join-Path $b '.env') -Value "FLE_DB_TYPE=sqlite`nSQLITE_DB_FILE=b.db"
    }

    It 'uses ./.env of the PowerShell location, once per session (a later Set-Location does not switch databases)' {
        $r = Invoke-FleFreshPwsh -WorkingDirectory $work -Environment $cleanEnv -Script @"
Import-Module `$env:FLE_MODULE_PATH
Set-Location '$a'
`$t = New-FleTrajectory -TaskId implicit -Verbose 4>&1 | Where-Object { `$_ -isnot [System.Management.Automation.VerboseRecord] }
'opened-a=' + (Test-Path '$a/a.db')
'in-work=' + (Test-Path '$work/a.db')
`$verbose = @(1..3 | ForEach-Object { Get-FleTrajectory -Verbose 4>&1 | Where-Object { `$_ -is [System.Management.Automation.VerboseRecord] } })
'opens=' + @(`$verbose | Where-Object { "`$_" -match 'Opening' }).Count
Set-Location '$b'
'same=' + ((Get-FleTrajectory).Id -contains `$t.Id)
'opened-b=' + (Test-Path '$b/b.db')
"@
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Output | Should -Contain 'opened-a=True'
        $r.Output | Should -Contain 'in-work=False'
        $r.Output | Should -Contain 'opens=0'
        $r.Output | Should -Contain 'same=True'
        $r.Output | Should -Contain 'opened-b=False'
    }

    It 'says once, in -Verbose, which database it opened and from where' {
        $r = Invoke-FleFreshPwsh -WorkingDirectory $work -Environment $cleanEnv -Script @"
Import-Module `$env:FLE_MODULE_PATH
Set-Location '$a'
Get-FleTrajectory -Verbose 4>&1 | ForEach-Object { 'V: ' + `$_ }
Get-FleTrajectory -Verbose 4>&1 | ForEach-Object { 'V: ' + `$_ }
"@
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $opening = @($r.Output | Where-Object { $_ -match '^V: Opening' })
        $opening | Should -HaveCount 1
        $opening[0] | Should -Match ([regex]::Escape("$a/a.db"))
    }

    It 'the process environment (SQLITE_DB_FILE) wins over ./.env' {
        $r = Invoke-FleFreshPwsh -WorkingDirectory $work -Environment ($cleanEnv + @{}) -Script @"
Import-Module `$env:FLE_MODULE_PATH
Set-Location '$a'
`$env:SQLITE_DB_FILE = 'from-env-var.db'
`$null = New-FleTrajectory -TaskId implicit
'env=' + (Test-Path '$a/from-env-var.db')
"@
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Output | Should -Contain 'env=True'
    }

    It 'a bad FLE_DB_TYPE in ./.env stops the cmdlet with FleUnknownDatabaseType' {
        $bad = New-FleTestDirectory
        Set-Content -Path (Join-Path $bad '.env') -Value 'FLE_DB_TYPE=oracle'
        $r = Invoke-FleFreshPwsh -WorkingDirectory $work -Environment $cleanEnv -Script @"
Import-Module `$env:FLE_MODULE_PATH
Set-Location '$bad'
try { Get-FleTrajectory -ErrorAction Stop; 'no error' } catch { 'id=' + `$_.FullyQualifiedErrorId }
"@
        $r.Output | Should -Contain 'id=FleUnknownDatabaseType,Fle.PowerShell.Commands.GetFleTrajectoryCommand'
    }

    It 'each runspace has its own session connection' {
        $r = Invoke-FleFreshPwsh -WorkingDirectory $work -Environment $cleanEnv -Script @"
Import-Module `$env:FLE_MODULE_PATH
Connect-FleDatabase -Path '$a/rs-main.db'
`$null = New-FleTrajectory -TaskId main
`$ps = [powershell]::Create()
`$null = `$ps.AddScript("Import-Module '`$env:FLE_MODULE_PATH'; Connect-FleDatabase -Path '$b/rs-other.db'; (Get-FleTrajectory | Measure-Object).Count")
'other=' + (`$ps.Invoke() | Select-Object -Last 1)
'main=' + (Get-FleTrajectory | Measure-Object).Count
`$ps.Dispose()
"@
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Output | Should -Contain 'other=0'
        $r.Output | Should -Contain 'main=1'
    }
}

# Skipped only outside CI with no PostgreSQL configured: under CI=true Test-FlePostgresAvailable throws, and build.ps1 fails any run with a skipped test.
Describe 'Connect-FleDatabase on PostgreSQL' -Skip:(-not $hasPg) {
    BeforeAll {
        $db = New-FleTestPostgresDatabase
        $secret = $db.Password
        $wrong = 'Wr0ng-' + [guid]::NewGuid().ToString('n').Substring(0, 12)
        $dir = New-FleTestDirectory
        function Assert-NoSecret([string[]] $Secret) {
            $texts = @(
                $Error | Out-String
                $Error | ForEach-Object { $_ | Format-List * -Force | Out-String; $_.Exception.ToString(); "$($_.TargetObject)"; $_.ErrorDetails.Message; $_.ErrorDetails.RecommendedAction }
            ) -join "`n"
            foreach ($s in $Secret) { $texts | Should -Not -Match ([regex]::Escape($s)) }
        }
    }
    AfterEach { Disconnect-FleDatabase }

    It '-Server -Port -Database -Credential connects; Location shows user@host:port/db' {
        $conn = Connect-FleDatabase -Type Postgres -Server $db.Server -Port $db.Port -Database $db.Database -Credential (New-FleTestCredential) -PassThru
        $conn.Backend | Should -Be 'Postgres'
        $conn.Location | Should -Be "$($db.User)@$($db.Server):$($db.Port)/$($db.Database)"
        (New-FleTrajectory -TaskId pg).Id | Should -Not -BeNullOrEmpty
        Invoke-FleTestSql ([pscustomobject]@{ Backend = 'Postgres'; Pg = $db }) 'SELECT COUNT(*) FROM trajectories' | Should -Be 1
    }

    It '-ConnectionString connects (and selects PostgreSQL)' {
        $cs = $db.ConnectionString
        $conn = Connect-FleDatabase -ConnectionString $cs -PassThru -NoDefault
        try {
            $conn.Backend | Should -Be 'Postgres'
            $conn.Location | Should -Not -Match ([regex]::Escape($secret))
        } finally { $conn | Disconnect-FleDatabase }
    }

    It '-EnvFile with SKILLS_DB_* selects PostgreSQL' {
        $envFile = Join-Path $dir 'pg.env'
        Set-Content -Path $envFile -Value @"
FLE_DB_TYPE="postgres"
SKILLS_DB_HOST=$($db.Server)
SKILLS_DB_PORT=$($db.Port)
SKILLS_DB_NAME=$($db.Database)
SKILLS_DB_USER=$($db.User)
SKILLS_DB_PASSWORD=$($db.Password)
"@
        $conn = Connect-FleDatabase -EnvFile $envFile -PassThru -NoDefault
        try {
            $conn.Backend | Should -Be 'Postgres'
            $conn.Location | Should -Be "$($db.User)@$($db.Server):$($db.Port)/$($db.Database)"
        } finally { $conn | Disconnect-FleDatabase }
    }

    It '-Credential overrides the user and password of the .env' {
        $envFile = Join-Path $dir 'pg-wrong.env'
        Set-Content -Path $envFile -Value "FLE_DB_TYPE=postgres`nSKILLS_DB_HOST=$($db.Server)`nSKILLS_DB_PORT=$($db.Port)`nSKILLS_DB_NAME=$($db.Database)`nSKILLS_DB_USER=nobody`nSKILLS_DB_PASSWORD=$wrong"
        $conn = Connect-FleDatabase -EnvFile $envFile -Credential (New-FleTestCredential) -PassThru -NoDefault
        try { $conn.Location | Should -BeLike "$($db.User)@*" } finally { $conn | Disconnect-FleDatabase }
    }

    It 'the password is not in -Verbose output, Format-List *, ToString() or ConvertTo-Json' {
        $cs = $db.ConnectionString
        $verbose = @(
            Connect-FleDatabase -Type Postgres -Server $db.Server -Port $db.Port -Database $db.Database -Credential (New-FleTestCredential) -Verbose -PassThru 4>&1
            Connect-FleDatabase -ConnectionString $cs -Verbose -PassThru -NoDefault 4>&1
        )
        $conns = @($verbose | Where-Object { $_ -is [FleConnection] })
        $conns | Should -HaveCount 2
        $verboseText = ($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message) -join "`n"
        $verboseText | Should -Match 'Postgres'
        $verboseText | Should -Not -Match ([regex]::Escape($secret))
        foreach ($conn in $conns) {
            $conn.ToString() | Should -Not -Match ([regex]::Escape($secret))
            ($conn | Format-List * -Force | Out-String) | Should -Not -Match ([regex]::Escape($secret))
            ($conn | Format-Table * | Out-String -Width 300) | Should -Not -Match ([regex]::Escape($secret))
            ($conn | ConvertTo-Json -Depth 4 -WarningAction Ignore) | Should -Not -Match ([regex]::Escape($secret))
            ($conn | Get-Member -Force).Name | Should -Not -Contain 'Password'
        }
        $conns[1] | Disconnect-FleDatabase
    }

    It 'a wrong password (-Credential) is FleAuthenticationFailed, and no error record contains it' {
        $Error.Clear()
        $cred = [pscredential]::new($db.User, (ConvertTo-SecureString $wrong -AsPlainText -Force))
        { Connect-FleDatabase -Type Postgres -Server $db.Server -Port $db.Port -Database $db.Database -Credential $cred -ErrorAction Stop } |
            Should -Throw -ErrorId 'FleAuthenticationFailed,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $Error[0].CategoryInfo.Category | Should -Be 'AuthenticationError'
        Assert-NoSecret $wrong
    }

    It 'a wrong password in a connection string: no error record contains it' {
        $Error.Clear()
        $cs = "Host=$($db.Server);Port=$($db.Port);Database=$($db.Database);Username=$($db.User);Password=$wrong"
        { Connect-FleDatabase -ConnectionString $cs -ErrorAction Stop } |
            Should -Throw -ErrorId 'FleAuthenticationFailed,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        Assert-NoSecret $wrong
    }

    It 'a malformed connection string is FleConfigurationInvalid without quoting it' {
        $Error.Clear()
        $cs = "Host=$($db.Server);Password=$wrong;Not A Real Keyword=1"
        { Connect-FleDatabase -ConnectionString $cs -ErrorAction Stop } |
            Should -Throw -ErrorId 'FleConfigurationInvalid,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        Assert-NoSecret $wrong
    }

    It 'a wrong password in the .env: no error record contains it' {
        $Error.Clear()
        $envFile = Join-Path $dir 'pg-bad.env'
        Set-Content -Path $envFile -Value "FLE_DB_TYPE=postgres`nSKILLS_DB_HOST=$($db.Server)`nSKILLS_DB_PORT=$($db.Port)`nSKILLS_DB_NAME=$($db.Database)`nSKILLS_DB_USER=$($db.User)`nSKILLS_DB_PASSWORD=$wrong"
        { Connect-FleDatabase -EnvFile $envFile -Verbose -ErrorAction Stop 4>$null } |
            Should -Throw -ErrorId 'FleAuthenticationFailed,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        Assert-NoSecret $wrong
    }

    It 'an unreachable server fails within -ConnectTimeout with FleDatabaseUnavailable (ConnectionError), no password shown' {
        $Error.Clear()
        $l = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0); $l.Start(); $port = $l.LocalEndpoint.Port; $l.Stop()
        $cred = [pscredential]::new('someone', (ConvertTo-SecureString $wrong -AsPlainText -Force))
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        { Connect-FleDatabase -Type Postgres -Server 127.0.0.1 -Port $port -Database x -Credential $cred -ConnectTimeout 2 -ErrorAction Stop } |
            Should -Throw -ErrorId 'FleDatabaseUnavailable,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 15
        $Error[0].CategoryInfo.Category | Should -Be 'ConnectionError'
        Assert-NoSecret $wrong
    }

    It 'the implicit connection reads PostgreSQL settings from the environment' {
        $r = Invoke-FleFreshPwsh -WorkingDirectory $dir -Environment @{
            FLE_DB_TYPE = 'postgres'; SKILLS_DB_HOST = $db.Server; SKILLS_DB_PORT = $db.Port; SKILLS_DB_NAME = $db.Database
            SKILLS_DB_USER = $db.User; SKILLS_DB_PASSWORD = $db.Password; SQLITE_DB_FILE = $null
        } -Script @'
Import-Module $env:FLE_MODULE_PATH
$t = New-FleTrajectory -TaskId implicit_pg -Verbose 4>&1 | ForEach-Object { if ($_ -is [System.Management.Automation.VerboseRecord]) { 'V: ' + $_.Message } else { $_ } }
$t | Where-Object { $_ -is [string] }
'id=' + ($t | Where-Object { $_ -isnot [string] }).Id
'backend=' + (Get-FleTrajectory -First 1 | ForEach-Object Source)
'@
        $r.ExitCode | Should -Be 0 -Because $r.Error
        ($r.Output | Where-Object { $_ -like 'id=*' }) | Should -Match '^id=[0-9a-f-]{36}$'
        ($r.Output | Where-Object { $_ -like 'backend=*' }) | Should -Be "backend=$($db.User)@$($db.Server):$($db.Port)/$($db.Database)"
        ($r.Output -join "`n") | Should -Not -Match ([regex]::Escape($secret))
        @($r.Output | Where-Object { $_ -match '^V: Opening the Postgres' }) | Should -HaveCount 1
    }
}
