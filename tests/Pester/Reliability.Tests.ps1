# Issue 6, points 1-4: concurrent writers (SQLite processes, PostgreSQL runspaces), SIGKILL crash safety,
# PostgreSQL restarts and unreachable servers. Every test checks the data afterwards: each acknowledged
# checkpoint present and byte-exact (SHA-256), every stored state decodable, sqlite3 integrity checks clean.
BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:pg = Test-FlePostgresAvailable
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-FleModulePath) -Force
    Import-Module (Join-Path $PSScriptRoot 'fixtures/FleFixtures.psm1') -Force
    if ($env:FLE_TEST_PG) { Import-Module (Join-Path $PSScriptRoot '../../tools/TestPostgres.psm1') -Force }

    function Assert-Acked {
        # Every acknowledged checkpoint is stored with exactly the bytes that were sent; returns how many were checked.
        param($Connection, [object[]] $Acks)
        $byTrajectory = $Acks | Group-Object TrajectoryId
        $checked = 0
        foreach ($g in $byTrajectory) {
            $stored = Get-FleStoredStateHashes -Connection $Connection -TrajectoryId $g.Name
            foreach ($a in $g.Group) {
                $stored.ContainsKey($a.Step) | Should -BeTrue -Because "step $($a.Step) of $($g.Name) was acknowledged"
                $stored[$a.Step] | Should -Be $a.Hash -Because "step $($a.Step) of $($g.Name) must be stored byte-exact"
                $checked++
            }
        }
        $checked
    }
}

Describe 'Concurrent writers on one SQLite file' -Tag Reliability {
    BeforeAll {
        $dir = New-FleTestDirectory
        $db = Join-Path $dir 'concurrent.db'
        $conn = Connect-FleDatabase -Path $db -PassThru -NoDefault
        $shared = (New-FleTrajectory -TaskId shared_factory -Connection $conn).Id
        $own = 0..3 | ForEach-Object { (New-FleTrajectory -TaskId "agent_$_" -Connection $conn).Id }
    }
    AfterAll { $conn | Disconnect-FleDatabase }

    It '4 processes each save 500 checkpoints of their own and 100 into a shared trajectory: all succeed, all are there' {
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        # Started together; each interleaves its own steps with its 100 shared step numbers (w*100 .. w*100+99).
        $procs = 0..3 | ForEach-Object {
            Start-FleFixtureWriter -Database $db -Directory $dir -Name "w$_" -Plan "$($own[$_]):0:500", "$($shared):$($_ * 100):100"
        }
        try {
            foreach ($p in $procs) { $p.WaitForExit(240000) | Should -BeTrue -Because 'a writer must not hang' }
        } finally {
            foreach ($p in $procs) { if (-not $p.HasExited) { & kill -KILL $p.Id } }
        }
        $errors = $procs | ForEach-Object { Get-Content $_.ErrFile -ErrorAction SilentlyContinue } | Where-Object { $_ }
        $errors | Should -BeNullOrEmpty
        $procs.ExitCode | Should -Be @(0, 0, 0, 0)
        ($procs | ForEach-Object { Get-Content $_.OutFile }) -match 'locked' | Should -BeNullOrEmpty

        $acks = $procs | ForEach-Object { Read-FleAcks $_.AckFile }
        $acks.Count | Should -Be 2400
        foreach ($t in $own) { (Measure-FleStep -TrajectoryId $t -Connection $conn).Count | Should -Be 500 }
        (Measure-FleStep -TrajectoryId $shared -Connection $conn).Count | Should -Be 400
        (Get-FleStep -TrajectoryId $shared -Connection $conn).StepNumber | Should -Be (0..399)
        Assert-Acked $conn $acks | Should -Be 2400
        Test-FleSqliteFile $db | Should -BeNullOrEmpty
        if (Get-Command Test-FleDatabase -Module Fle -ErrorAction SilentlyContinue) { Test-FleDatabase -Quiet -Connection $conn | Should -BeTrue }
        $counts = Get-FleSqliteCounts $db
        $counts.Steps | Should -Be 2400
        $counts.GameStates | Should -Be 2400
        Write-Host "  SQLite: 4 processes, 2400 checkpoints in $($sw.Elapsed.TotalSeconds.ToString('0.0')) s, rows lost: 0"
    }

    It 'two writers racing for the same step: exactly one wins, the other gets FleStepAlreadyExists; -Force overwrites whole' {
        $rounds = 20
        $ids = 1..$rounds | ForEach-Object { (New-FleTrajectory -TaskId race -Connection $conn).Id }
        $barrier = [System.Threading.Barrier]::new(2)
        $results = 0..1 | ForEach-Object -ThrottleLimit 2 -Parallel {
            Import-Module $using:env:FLE_MODULE_PATH
            $c = Connect-FleDatabase -Path $using:db -PassThru -NoDefault
            $me = $_
            foreach ($id in $using:ids) {
                [void]($using:barrier).SignalAndWait(30000)
                try {
                    Save-FleCheckpoint -TrajectoryId $id -StepNumber 0 -AgentCode "writer $me" -EnvironmentFeedback '' -GameState "state of writer $me" -Connection $c -ErrorAction Stop
                    [pscustomobject]@{ Id = $id; Writer = $me; Result = 'won' }
                } catch {
                    [pscustomobject]@{ Id = $id; Writer = $me; Result = ($_.FullyQualifiedErrorId -split ',')[0] }
                }
            }
            $c | Disconnect-FleDatabase
        }
        foreach ($g in $results | Group-Object Id) {
            ($g.Group.Result | Sort-Object) -join ',' | Should -Be 'FleStepAlreadyExists,won'
            $winner = ($g.Group | Where-Object Result -EQ 'won').Writer
            (Get-FleCheckpoint -TrajectoryId $g.Name -StepNumber 0 -Connection $conn).GameStateText | Should -Be "state of writer $winner"
        }
        # With -Force both succeed and the step holds one writer's step and state, never a mix.
        $f = (New-FleTrajectory -TaskId race_force -Connection $conn).Id
        $forced = 0..1 | ForEach-Object -ThrottleLimit 2 -Parallel {
            Import-Module $using:env:FLE_MODULE_PATH
            $c = Connect-FleDatabase -Path $using:db -PassThru -NoDefault
            1..20 | ForEach-Object { Save-FleCheckpoint -TrajectoryId $using:f -StepNumber 0 -AgentCode "writer $using:_" -EnvironmentFeedback '' -GameState ("state of writer $using:_ " * 50) -Force -Connection $c -ErrorAction Stop }
            $c | Disconnect-FleDatabase
            'ok'
        }
        $forced | Should -Be @('ok', 'ok')
        $cp = Get-FleCheckpoint -TrajectoryId $f -StepNumber 0 -Connection $conn
        $cp.GameStateText | Should -Be ("state of $($cp.AgentCode) " * 50)
        (Measure-FleStep -TrajectoryId $f -Connection $conn).Count | Should -Be 1
        Test-FleSqliteFile $db | Should -BeNullOrEmpty
    }
}

# Skipped only outside CI with no PostgreSQL configured: under CI=true Test-FlePostgresAvailable throws, and build.ps1 fails any run with a skipped test.
Describe 'Concurrent writers on PostgreSQL' -Tag Reliability, Postgres -Skip:(-not $pg) {
    BeforeAll {
        $pgdb = New-FleTestPostgresDatabase -Prefix fle_rel
        $conn = Connect-FleDatabase -ConnectionString $pgdb.ConnectionString -PassThru -NoDefault
    }
    AfterAll { $conn | Disconnect-FleDatabase }

    It '16 parallel writers (8 sharing one connection, 8 with their own), 100 checkpoints each and 25 into a shared trajectory: every save succeeds, every row is there' {
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $shared = (New-FleTrajectory -TaskId shared_factory -Connection $conn).Id
        $own = 0..15 | ForEach-Object { (New-FleTrajectory -TaskId "agent_$_" -Connection $conn).Id }
        $fixtures = Join-Path $PSScriptRoot 'fixtures/FleFixtures.psm1'
        $out = 0..15 | ForEach-Object -ThrottleLimit 16 -Parallel {
            Import-Module $using:env:FLE_MODULE_PATH
            Import-Module $using:fixtures
            $w = $_
            $c = if ($w % 2) { $using:conn } else { Connect-FleDatabase -ConnectionString ($using:pgdb).ConnectionString -PassThru -NoDefault }
            $mine = $using:own
            $plan = @(0..99 | ForEach-Object { , @($mine[$w], $_) }) + @(0..24 | ForEach-Object { , @($using:shared, ($w * 25 + $_)) })
            foreach ($item in $plan) {
                $state = Get-FleFixtureState $item[0] $item[1] 256
                try {
                    Save-FleCheckpoint -TrajectoryId $item[0] -StepNumber $item[1] -AgentCode "w$w" -EnvironmentFeedback 'ok' -GameState $state -Connection $c -ErrorAction Stop
                    [pscustomobject]@{ TrajectoryId = $item[0]; Step = [long]$item[1]; Hash = (Get-FleSha256 $state); Error = $null }
                } catch {
                    [pscustomobject]@{ TrajectoryId = $item[0]; Step = [long]$item[1]; Hash = $null; Error = "$($_.FullyQualifiedErrorId): $_" }
                }
            }
            if ($w % 2 -eq 0) { $c | Disconnect-FleDatabase }
        }
        @($out | Where-Object Error).Error | Should -BeNullOrEmpty
        $out.Count | Should -Be 2000
        foreach ($t in $own) { (Measure-FleStep -TrajectoryId $t -Connection $conn).Count | Should -Be 100 }
        (Get-FleStep -TrajectoryId $shared -Connection $conn).StepNumber | Should -Be (0..399)
        Assert-Acked $conn $out | Should -Be 2000
        Write-Host "  PostgreSQL: 16 writers, 2000 checkpoints in $($sw.Elapsed.TotalSeconds.ToString('0.0')) s, rows lost: 0"
    }

    It 'two writers racing for the same step: exactly one wins, the other gets FleStepAlreadyExists; -Force overwrites whole' {
        $rounds = 20
        $ids = 1..$rounds | ForEach-Object { (New-FleTrajectory -TaskId race -Connection $conn).Id }
        $barrier = [System.Threading.Barrier]::new(2)
        $results = 0..1 | ForEach-Object -ThrottleLimit 2 -Parallel {
            Import-Module $using:env:FLE_MODULE_PATH
            $c = Connect-FleDatabase -ConnectionString ($using:pgdb).ConnectionString -PassThru -NoDefault
            $me = $_
            foreach ($id in $using:ids) {
                [void]($using:barrier).SignalAndWait(30000)
                try {
                    Save-FleCheckpoint -TrajectoryId $id -StepNumber 0 -AgentCode "writer $me" -EnvironmentFeedback '' -GameState "state of writer $me" -Connection $c -ErrorAction Stop
                    [pscustomobject]@{ Id = $id; Writer = $me; Result = 'won' }
                } catch {
                    [pscustomobject]@{ Id = $id; Writer = $me; Result = ($_.FullyQualifiedErrorId -split ',')[0] }
                }
            }
            $c | Disconnect-FleDatabase
        }
        foreach ($g in $results | Group-Object Id) {
            ($g.Group.Result | Sort-Object) -join ',' | Should -Be 'FleStepAlreadyExists,won'
            $winner = ($g.Group | Where-Object Result -EQ 'won').Writer
            (Get-FleCheckpoint -TrajectoryId $g.Name -StepNumber 0 -Connection $conn).GameStateText | Should -Be "state of writer $winner"
        }
        $f = (New-FleTrajectory -TaskId race_force -Connection $conn).Id
        $forced = 0..1 | ForEach-Object -ThrottleLimit 2 -Parallel {
            Import-Module $using:env:FLE_MODULE_PATH
            $c = Connect-FleDatabase -ConnectionString ($using:pgdb).ConnectionString -PassThru -NoDefault
            1..20 | ForEach-Object { Save-FleCheckpoint -TrajectoryId $using:f -StepNumber 0 -AgentCode "writer $using:_" -EnvironmentFeedback '' -GameState ("state of writer $using:_ " * 50) -Force -Connection $c -ErrorAction Stop }
            $c | Disconnect-FleDatabase
            'ok'
        }
        $forced | Should -Be @('ok', 'ok')
        $cp = Get-FleCheckpoint -TrajectoryId $f -StepNumber 0 -Connection $conn
        $cp.GameStateText | Should -Be ("state of $($cp.AgentCode) " * 50)
        (Measure-FleStep -TrajectoryId $f -Connection $conn).Count | Should -Be 1
    }
}

Describe 'Crash safety: a writer killed with SIGKILL' -Tag Reliability {
    BeforeAll {
        $dir = New-FleTestDirectory
        function Invoke-KillLoop {
            # Kill a writer -Kills times at random points; after each kill check everything; returns a summary.
            param([string] $Database, [string] $PgConnectionString, $Connection, [int] $Kills, [string] $Label)
            $t = (New-FleTrajectory -TaskId crash_test -Connection $Connection).Id
            $next = 0; $allAcks = @(); $random = [System.Random]::new(); $sizes = [ordered]@{}
            for ($k = 1; $k -le $Kills; $k++) {
                $bytes = 16384 + $random.Next(0, 65536)
                $sizes[[string]$next] = $bytes   # the writer of steps from $next on sends states of this size
                $p = Start-FleFixtureWriter -Database $Database -PgConnectionString $PgConnectionString -Directory $dir -Name "$Label$k" `
                    -Plan "$($t):$($next):100000" -StateBytes $bytes
                try {
                    Wait-FleAcks $p -Count 1 -TimeoutSeconds 60 | Should -BeTrue -Because "writer $k must start saving (stderr: $(Get-Content $p.ErrFile -Raw -ErrorAction SilentlyContinue))"
                    Start-Sleep -Milliseconds $random.Next(50, 1200)   # a random point while it saves
                } finally {
                    & kill -KILL $p.Id
                    [void]$p.WaitForExit(30000)
                }
                $p.HasExited | Should -BeTrue
                $p.ExitCode | Should -Be 137 -Because 'the writer was killed by SIGKILL, not finished'

                $acks = @(Read-FleAcks $p.AckFile)
                $acks.Count | Should -BeGreaterThan 0
                $allAcks += $acks
                # Every stored state (acknowledged or not) decodes and is exactly what the writer sent: none half-written.
                $stored = Get-FleStoredStateHashes -Connection $Connection -TrajectoryId $t
                foreach ($a in $allAcks) { $stored[$a.Step] | Should -Be $a.Hash -Because "acknowledged step $($a.Step) (kill $k)" }
                foreach ($n in $stored.Keys) {
                    $from = [long](@($sizes.Keys | Where-Object { [long]$_ -le $n } | Sort-Object { [long]$_ })[-1])
                    $stored[$n] | Should -Be (Get-FleSha256 (Get-FleFixtureState $t $n $sizes[[string]$from])) -Because "step $n must be whole (kill $k)"
                }
                if ($Database) { Test-FleSqliteFile $Database | Should -BeNullOrEmpty -Because "after kill $k" }
                if (Get-Command Test-FleDatabase -Module Fle -ErrorAction SilentlyContinue) {
                    Test-FleDatabase -Quiet -Connection $Connection | Should -BeTrue -Because "Test-FleDatabase after kill $k"
                }
                $last = ($acks | Measure-Object Step -Maximum).Maximum
                $cp = Resume-FleTrajectory -Id $t -Connection $Connection
                $cp.NextStepNumber | Should -BeGreaterOrEqual ($last + 1)
                $cp.NextStepNumber | Should -BeLessOrEqual ($last + 2) -Because 'at most the one save in flight can have committed unacknowledged'
                $next = $cp.NextStepNumber
            }
            $steps = @(Get-FleStep -TrajectoryId $t -Connection $Connection).StepNumber
            $steps | Should -Be (0..($next - 1)) -Because 'the resumed runs leave no gap'
            [pscustomobject]@{ Kills = $Kills; Acked = $allAcks.Count; Stored = $steps.Count }
        }
    }

    It 'SQLite: 10 kills at random points lose no acknowledged checkpoint and the run resumes' {
        $db = Join-Path $dir 'crash.db'
        $conn = Connect-FleDatabase -Path $db -PassThru -NoDefault
        try {
            $r = Invoke-KillLoop -Database $db -Connection $conn -Kills 10 -Label s
            Write-Host "  SQLite crash: $($r.Kills) SIGKILLs, $($r.Acked) acknowledged checkpoints, $($r.Stored) stored, rows lost: 0"
            $counts = Get-FleSqliteCounts $db
            $counts.Steps | Should -Be $r.Stored
            $counts.GameStates | Should -Be $r.Stored
        } finally { $conn | Disconnect-FleDatabase }
    }

    # Skipped only outside CI with no PostgreSQL configured: under CI=true Test-FlePostgresAvailable throws, and build.ps1 fails any run with a skipped test.
    It 'PostgreSQL: 3 kills at random points lose no acknowledged checkpoint and the run resumes' -Skip:(-not $pg) {
        $pgdb = New-FleTestPostgresDatabase -Prefix fle_crash
        $conn = Connect-FleDatabase -ConnectionString $pgdb.ConnectionString -PassThru -NoDefault
        try {
            $r = Invoke-KillLoop -PgConnectionString $pgdb.ConnectionString -Connection $conn -Kills 3 -Label p
            Write-Host "  PostgreSQL crash: $($r.Kills) SIGKILLs, $($r.Acked) acknowledged checkpoints, $($r.Stored) stored, rows lost: 0"
        } finally { $conn | Disconnect-FleDatabase }
    }
}

# Skipped only outside CI with no PostgreSQL configured: under CI=true Test-FlePostgresAvailable throws, and build.ps1 fails any run with a skipped test.
Describe 'PostgreSQL server faults' -Tag Reliability, Postgres -Skip:(-not $pg) {
    BeforeAll {
        $dir = New-FleTestDirectory
        $pgdb = New-FleTestPostgresDatabase -Prefix fle_fault
        $conn = Connect-FleDatabase -ConnectionString $pgdb.ConnectionString -PassThru -NoDefault
    }
    AfterAll { $conn | Disconnect-FleDatabase }

    It 'a writer keeps going through a fast restart and a crash restart of the server; nothing acknowledged is lost' {
        $t = (New-FleTrajectory -TaskId restart_test -Connection $conn).Id
        $p = Start-FleFixtureWriter -PgConnectionString $pgdb.ConnectionString -Directory $dir -Name restart -Plan "$($t):0:600" -StateBytes 2048 -RetryUnavailable 20 -DelayMs 2
        try {
            Wait-FleAcks $p -Count 100 | Should -BeTrue
            Restart-FleTestPostgres -Mode fast
            Wait-FleAcks $p -Count (@(Read-FleAcks $p.AckFile).Count + 100) | Should -BeTrue -Because 'the writer continues after a restart'
            Restart-FleTestPostgres -Mode immediate -DownSeconds 1.5
            $p.WaitForExit(180000) | Should -BeTrue
        } finally {
            if (-not $p.HasExited) { & kill -KILL $p.Id }
        }
        $err = Get-Content $p.ErrFile -ErrorAction SilentlyContinue
        $err -match '^FAIL' | Should -BeNullOrEmpty
        # Any error the writer saw was a clear, transient one naming the server.
        foreach ($line in $err -match '^RETRY') { $line | Should -Match "(FleDatabaseUnavailable|FleTransientFailure) .*127\.0\.0\.1:$($pgdb.Port)" }
        $p.ExitCode | Should -Be 0
        $acks = @(Read-FleAcks $p.AckFile)
        $acks.Count | Should -Be 600
        # The test's own connection was open across both restarts: its pooled connections are dead, yet reads work.
        (Measure-FleStep -TrajectoryId $t -Connection $conn).Count | Should -Be 600
        Assert-Acked $conn $acks | Should -Be 600
        Write-Host "  PostgreSQL restarts: 2 (fast, immediate), 600 checkpoints, $(@($err -match '^RETRY').Count) writer-level retries, rows lost: 0"
    }

    It 'reads on a connection opened before a restart work after it' {
        $t = (New-FleTrajectory -TaskId read_after_restart -Connection $conn).Id
        Save-FleCheckpoint -TrajectoryId $t -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState '{}' -Connection $conn
        Restart-FleTestPostgres -Mode fast
        (Get-FleTrajectory -Id $t -Connection $conn).StepCount | Should -Be 1
        Restart-FleTestPostgres -Mode fast
        (Get-FleStep -TrajectoryId $t -Connection $conn).StepNumber | Should -Be 0
        Restart-FleTestPostgres -Mode fast
        (Get-FleCheckpoint -TrajectoryId $t -Latest -Connection $conn).GameStateText | Should -Be '{}'
        Restart-FleTestPostgres -Mode fast
        (New-FleTrajectory -TaskId after_restart -Connection $conn).TaskId | Should -Be 'after_restart'
    }
}

Describe 'Unreachable PostgreSQL fails fast with host and port' -Tag Reliability {
    BeforeAll {
        $cred = [pscredential]::new('fle_user', (ConvertTo-SecureString 'not-the-password' -AsPlainText -Force))
        function Get-ClosedPort {
            $l = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
            $l.Start(); $port = $l.LocalEndpoint.Port; $l.Stop(); $port
        }
        function Measure-Connect([scriptblock] $Connect) {
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            $err = $null
            try { & $Connect } catch { $err = $_ }
            [pscustomobject]@{ Error = $err; Seconds = $sw.Elapsed.TotalSeconds }
        }
    }

    It 'a closed port (connection refused) fails with FleDatabaseUnavailable naming host and port' {
        $port = Get-ClosedPort
        $r = Measure-Connect { Connect-FleDatabase -Type Postgres -Server 127.0.0.1 -Port $port -Database fle_database -Credential $cred -NoDefault }
        $r.Error.FullyQualifiedErrorId | Should -Be 'FleDatabaseUnavailable,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
        $r.Error.Exception.Message | Should -Match "127\.0\.0\.1:$port"
        $r.Seconds | Should -BeLessThan 20 -Because 'a refused connection is retried briefly (a restarting server), not for long'
    }

    Context 'a server that accepts TCP but never answers (a local listener)' {
        BeforeAll {
            $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
            $listener.Start(16)   # the kernel completes the handshakes; nobody ever reads or answers
            $hung = $listener.LocalEndpoint.Port
        }
        AfterAll { $listener.Stop() }

        It '-ConnectTimeout 2 fails after about 2 s with FleDatabaseUnavailable naming host and port' {
            $r = Measure-Connect { Connect-FleDatabase -Type Postgres -Server 127.0.0.1 -Port $hung -Database fle_database -Credential $cred -ConnectTimeout 2 -NoDefault }
            $r.Error.FullyQualifiedErrorId | Should -Be 'FleDatabaseUnavailable,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
            $r.Error.Exception.Message | Should -Match "127\.0\.0\.1:$hung"
            $r.Error.Exception.Message | Should -Match 'no answer within 2 s'
            $r.Seconds | Should -BeGreaterThan 1.5
            $r.Seconds | Should -BeLessThan 12
        }

        It 'FLE_DB_CONNECT_TIMEOUT=3 sets the timeout' {
            $env:FLE_DB_CONNECT_TIMEOUT = '3'
            try { $r = Measure-Connect { Connect-FleDatabase -Type Postgres -Server 127.0.0.1 -Port $hung -Database fle_database -Credential $cred -NoDefault } }
            finally { Remove-Item Env:FLE_DB_CONNECT_TIMEOUT }
            $r.Error.FullyQualifiedErrorId | Should -Be 'FleDatabaseUnavailable,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
            $r.Error.Exception.Message | Should -Match 'no answer within 3 s'
            $r.Seconds | Should -BeGreaterThan 2.5
            $r.Seconds | Should -BeLessThan 13
        }

        It 'the default timeout is 5 s' {
            $r = Measure-Connect { Connect-FleDatabase -Type Postgres -Server 127.0.0.1 -Port $hung -Database fle_database -Credential $cred -NoDefault }
            $r.Error.FullyQualifiedErrorId | Should -Be 'FleDatabaseUnavailable,Fle.PowerShell.Commands.ConnectFleDatabaseCommand'
            $r.Error.Exception.Message | Should -Match "127\.0\.0\.1:$hung.*no answer within 5 s"
            $r.Seconds | Should -BeGreaterThan 4.5
            $r.Seconds | Should -BeLessThan 15
        }
    }
}
