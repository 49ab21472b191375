# Issue 16, item 2: Watch-FleTrajectory. A writer in another process (a bounded child pwsh) saves steps while this
# process watches, on SQLite and PostgreSQL: every step in order, each soon after its save (measured and printed), the
# states byte for byte, the end when the writer completes the trajectory; -Timeout and a pipeline that has enough while
# the writer goes on; PowerShell.Stop() (Ctrl+C) in a runspace, with nothing left running; the errors.
BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:backends = @(@{ Name = 'Sqlite' })
    if (Test-FlePostgresAvailable) { $script:backends += @{ Name = 'Postgres' } }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-FleModulePath) -Force
    Import-Module (Join-Path $PSScriptRoot 'fixtures/FleFixtures.psm1') -Force
    $script:root = New-FleTestDirectory

    # The writer process: waits for the file -Go (so that it starts once the watch has started), then saves -Count
    # steps -DelayMs apart (every fifth without a game state) and appends "<step> <UTC ticks after the save> <sha256 of the
    # state or ->" to -Ack after each; then completes the trajectory unless -KeepRunning. It connects to the database
    # named in the environment (FLE_WATCH_DB, or the connection string FLE_WATCH_PG: no password on a command line).
    $script:writer = @"
param([string] `$Go, [string] `$Ack, [string] `$Id, [int] `$From, [int] `$Count, [int] `$DelayMs = 250, [switch] `$KeepRunning)
Import-Module '$(Join-Path $PSScriptRoot 'fixtures/FleFixtures.psm1')'
if (`$env:FLE_WATCH_PG) { Connect-FleDatabase -ConnectionString `$env:FLE_WATCH_PG } else { Connect-FleDatabase -Path `$env:FLE_WATCH_DB }
`$deadline = [DateTime]::UtcNow.AddSeconds(90)
while (-not (Test-Path `$Go)) { if ([DateTime]::UtcNow -gt `$deadline) { throw 'the test never said go' }; Start-Sleep -Milliseconds 20 }
for (`$n = `$From; `$n -lt `$From + `$Count; `$n++) {
    if (`$n % 5 -eq 4) {
        Save-FleStep -TrajectoryId `$Id -StepNumber `$n -AgentCode "print(`$n)" -EnvironmentFeedback "no state `$n" -Metadata @{ reward = `$n } | Out-Null
        `$hash = '-'
    } else {
        `$state = Get-FleFixtureState `$Id `$n 3000
        Save-FleCheckpoint -TrajectoryId `$Id -StepNumber `$n -AgentCode "print(`$n)" -EnvironmentFeedback "ok `$n" -GameState `$state -Metadata @{ reward = `$n } | Out-Null
        `$hash = Get-FleSha256 `$state
    }
    [System.IO.File]::AppendAllText(`$Ack, "`$n `$([DateTime]::UtcNow.Ticks) `$hash``n")
    Start-Sleep -Milliseconds `$DelayMs
}
if (-not `$KeepRunning) {
    Complete-FleTrajectory -Id `$Id
    [System.IO.File]::AppendAllText(`$Ack, "completed `$([DateTime]::UtcNow.Ticks) -``n")
}
"@

    function Start-Writer {
        # The writer in a child pwsh (Start-FleChildPwsh: bounded file sizes); the caller waits for it with a timeout.
        param($Backend, [string] $Id, [int] $From, [int] $Count, [int] $DelayMs = 250, [switch] $KeepRunning)
        $dir = New-FleTestDirectory
        $go = Join-Path $dir 'go'; $ack = Join-Path $dir 'ack'
        $saved = @{ db = $env:FLE_WATCH_DB; pg = $env:FLE_WATCH_PG }
        try {
            $env:FLE_WATCH_DB = $Backend.Path; $env:FLE_WATCH_PG = $Backend.ConnectionString
            $p = Start-FleChildPwsh -Directory $dir -Script ("& { $writer } -Go '$go' -Ack '$ack' -Id '$Id' -From $From -Count $Count -DelayMs $DelayMs" + $(if ($KeepRunning) { ' -KeepRunning' }))
        } finally { $env:FLE_WATCH_DB = $saved.db; $env:FLE_WATCH_PG = $saved.pg }
        $p | Add-Member -NotePropertyMembers @{ Go = $go; Ack = $ack } -PassThru
    }

    function Read-WriterAcks([string] $Path) {
        @(Get-Content -LiteralPath $Path | ForEach-Object {
                $what, $ticks, $hash = $_ -split ' '
                [pscustomobject]@{ What = $what; At = [DateTime]::new([long]$ticks, 'Utc'); Hash = $hash }
            })
    }

    function Stop-Child($Process) {
        if (-not $Process.HasExited) { & kill -KILL $Process.Id }
        [void]$Process.WaitForExit(30000)
    }

    function Start-Watch {
        # Watch-FleTrajectory in a runspace of this process (as a second terminal would run it): each step it writes is
        # recorded with the time it arrived, then an END marker with the time it returned.
        param($Backend, [string] $Id, [string] $Arguments = '')
        $got = [System.Collections.Concurrent.ConcurrentQueue[object]]::new()
        $ps = [powershell]::Create()
        $ps.Runspace.SessionStateProxy.SetVariable('got', $got)
        $null = $ps.AddScript(@"
`$ErrorActionPreference = 'Stop'
Import-Module '$(Get-FleModulePath)'
$($Backend.Connect)
Watch-FleTrajectory -Id '$Id' $Arguments | ForEach-Object {
    `$got.Enqueue([pscustomobject]@{
        Step = `$_.StepNumber; At = [DateTime]::UtcNow; Saved = `$_.Timestamp; Type = `$_.GetType().Name; Feedback = `$_.EnvironmentFeedback
        Hash = if (`$_.GameState) { [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData([byte[]]`$_.GameState)) } else { '-' }
    })
}
`$got.Enqueue([pscustomobject]@{ Step = 'END'; At = [DateTime]::UtcNow })
"@)
        $handle = $ps.BeginInvoke()
        # Ready once it has read where the trajectory stands: its first progress record says what it waits for. (By index:
        # enumerating a stream of a pipeline that still runs can block until it ends.)
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while (-not $handle.IsCompleted -and [DateTime]::UtcNow -lt $deadline -and
            -not ($ps.Streams.Progress.Count -gt 0 -and $ps.Streams.Progress[0].StatusDescription -like 'Waiting for the*')) { Start-Sleep -Milliseconds 20 }
        [pscustomobject]@{ PS = $ps; Handle = $handle; Got = $got }
    }

    function Get-FirstError($Watch) {
        # By index: enumerating (or putting in a string) a stream of a pipeline that still runs blocks until it ends.
        if ($Watch.PS.Streams.Error.Count -gt 0) { "$($Watch.PS.Streams.Error[0])" } else { 'no error' }
    }

    function Get-WatchConnectionCount($Backend) {
        # PostgreSQL: the watch connections of the test database in pg_stat_activity, with the real psql.
        $env:PGPASSWORD = $Backend.Db.Password
        try {
            [int](& psql -h $Backend.Db.Server -p $Backend.Db.Port -U $Backend.Db.User -d $Backend.Db.Database -X -tAc `
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'Fle watch'")
        } finally { Remove-Item Env:PGPASSWORD }
    }

    function Median([double[]] $xs) { $s = @($xs | Sort-Object); if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }
}

AfterAll {
    Remove-Item -LiteralPath $root -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Watch-FleTrajectory on <Name> with a writer in another process' -ForEach $backends {
    BeforeAll {
        if ($Name -eq 'Sqlite') {
            $path = Join-Path $root 'watch.db'
            $conn = Connect-FleDatabase -Path $path -PassThru -NoDefault
            $backend = @{ Name = $Name; Path = $path; ConnectionString = $null; Connect = "Connect-FleDatabase -Path '$path'" }
        } else {
            $db = New-FleTestPostgresDatabase
            $conn = Connect-FleDatabase -ConnectionString $db.ConnectionString -PassThru -NoDefault
            $backend = @{ Name = $Name; Path = $null; ConnectionString = $db.ConnectionString; Db = $db; Connect = "Connect-FleDatabase -ConnectionString '$($db.ConnectionString)'" }
        }
    }
    AfterAll { $conn | Disconnect-FleDatabase }

    It 'writes every step the other process saves after the watch started, in order, each within 3 s of its save, with the states byte for byte, and ends when that process completes the trajectory' {
        $t = New-FleTrajectory -TaskId watch -Connection $conn
        foreach ($n in 0..2) {
            Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber $n -AgentCode "print($n)" -EnvironmentFeedback "before $n" -GameState (Get-FleFixtureState $t.Id $n 3000) -Connection $conn | Out-Null
        }
        $p = Start-Writer -Backend $backend -Id $t.Id -From 3 -Count 12
        $w = Start-Watch -Backend $backend -Id $t.Id -Arguments '-IncludeGameState'
        try {
            $w.Handle.IsCompleted | Should -BeFalse -Because "the watch must be running: $(Get-FirstError $w)"
            New-Item -ItemType File -Path $p.Go | Out-Null
            $p.WaitForExit(120000) | Should -BeTrue -Because 'the writer must finish within two minutes'
            $p.ExitCode | Should -Be 0 -Because (Get-Content -Raw -LiteralPath $p.ErrFile)
            $w.Handle.AsyncWaitHandle.WaitOne(30000) | Should -BeTrue -Because 'the watch ends when the trajectory is completed'
            $w.PS.EndInvoke($w.Handle)
            $w.PS.Streams.Error | Should -BeNullOrEmpty
        } finally { Stop-Child $p; $w.PS.Dispose() }

        $acks = Read-WriterAcks $p.Ack
        $saves = @($acks | Where-Object What -NE 'completed')
        $completed = ($acks | Where-Object What -EQ 'completed').At
        $all = @($w.Got.ToArray())
        $got = @($all | Where-Object Step -NE 'END')
        $end = ($all | Where-Object Step -EQ 'END').At

        @($got.Step) | Should -Be @(3..14) -Because 'every step saved after the watch started, in order, and none from before'
        $latencies = foreach ($g in $got) {
            $ack = $saves | Where-Object What -EQ "$($g.Step)"
            $g.Hash | Should -Be $ack.Hash -Because "step $($g.Step)'s state must come back byte for byte"
            $g.Type | Should -Be $(if ($ack.Hash -eq '-') { 'FleStep' } else { 'FleCheckpoint' })
            $g.Feedback | Should -Be $(if ($ack.Hash -eq '-') { "no state $($g.Step)" } else { "ok $($g.Step)" })
            # From the step's Timestamp (taken by the writer as its save began, before the commit) to its arrival here;
            # and from the moment the writer's save returned (the commit may show before that).
            [pscustomobject]@{ Began = ($g.At - $g.Saved).TotalSeconds; Returned = ($g.At - $ack.At).TotalSeconds }
        }
        $latencies.Began | ForEach-Object { $_ | Should -BeLessThan 3 -Because 'a step must show within about a second of its save' }
        $ended = ($end - $completed).TotalSeconds
        $ended | Should -BeLessThan 3 -Because 'the watch must end soon after the trajectory is completed'
        Write-Host (("  {0}: 12 steps saved by another process, seen here after the save began: median {1:N3} s, max {2:N3} s; " +
            "after it returned: median {3:N3} s, max {4:N3} s; the watch ended {5:N3} s after Complete-FleTrajectory returned") -f $Name,
            (Median $latencies.Began), ($latencies.Began | Measure-Object -Maximum).Maximum,
            (Median $latencies.Returned), ($latencies.Returned | Measure-Object -Maximum).Maximum, $ended)
    }

    It 'shows a progress line with the steps seen and the last step''s time' {
        # From the watch of the test above is not reachable here: a watch of its own, fed by this session.
        $t = New-FleTrajectory -TaskId watch_progress -Connection $conn
        $w = Start-Watch -Backend $backend -Id $t.Id -Arguments '-Timeout 60'
        try {
            foreach ($n in 0..1) { Save-FleStep -TrajectoryId $t.Id -StepNumber $n -AgentCode x -EnvironmentFeedback y -Connection $conn | Out-Null; Start-Sleep -Milliseconds 300 }
            Complete-FleTrajectory -Id $t.Id -Connection $conn
            $w.Handle.AsyncWaitHandle.WaitOne(30000) | Should -BeTrue
            $w.PS.EndInvoke($w.Handle)
            $records = @($w.PS.Streams.Progress | Where-Object Activity -EQ 'Watch-FleTrajectory')
        } finally { $w.PS.Dispose() }
        $records.StatusDescription | Should -Contain "Waiting for the first step of trajectory '$($t.Id)'"
        $last = Get-FleStep -TrajectoryId $t.Id -StepNumber 1 -Connection $conn
        $records.StatusDescription | Should -Contain ("2 new steps; the last: step 1, saved {0:yyyy-MM-dd HH:mm:ss} UTC" -f $last.Timestamp)
        $records[-1].RecordType | Should -Be 'Completed'
    }

    It 'stops at -Timeout (seconds or a TimeSpan) while the other process goes on saving, and when the pipeline has enough' {
        $t = New-FleTrajectory -TaskId watch_timeout -Connection $conn
        $p = Start-Writer -Backend $backend -Id $t.Id -From 0 -Count 400 -DelayMs 200 -KeepRunning
        try {
            New-Item -ItemType File -Path $p.Go | Out-Null
            Wait-FleFileLine -Path $p.Ack -Pattern '^1 ' -Process $p -TimeoutSeconds 90 | Should -BeTrue -Because 'the writer must be saving'
            $clock = [System.Diagnostics.Stopwatch]::StartNew()
            $steps = @(Watch-FleTrajectory -Id $t.Id -Timeout 3 -Connection $conn -ErrorAction Stop)
            $clock.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 2.9
            $clock.Elapsed.TotalSeconds | Should -BeLessThan 10
            $steps.Count | Should -BeGreaterThan 3 -Because 'the writer saved steps meanwhile'
            @($steps.StepNumber) | Should -Be @($steps[0].StepNumber..$steps[-1].StepNumber)

            $clock.Restart()
            Watch-FleTrajectory -Id $t.Id -Timeout ([timespan]::FromMilliseconds(800)) -Connection $conn -ErrorAction Stop | Out-Null
            $clock.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 0.75
            $clock.Elapsed.TotalSeconds | Should -BeLessThan 5

            $clock.Restart()
            $two = @(Get-FleTrajectory -Id $t.Id -Connection $conn | Watch-FleTrajectory -Connection $conn | Select-Object -First 2)
            $two.Count | Should -Be 2
            $two[1].StepNumber | Should -Be ($two[0].StepNumber + 1)
            $clock.Elapsed.TotalSeconds | Should -BeLessThan 10 -Because 'Select-Object -First 2 stops the watch'
            $p.HasExited | Should -BeFalse -Because 'the writer was still saving all along'
        } finally { Stop-Child $p }
    }

    It 'stops on PowerShell.Stop() (Ctrl+C) while the other process saves, and leaves nothing running' {
        $t = New-FleTrajectory -TaskId watch_stop -Connection $conn
        $p = Start-Writer -Backend $backend -Id $t.Id -From 0 -Count 400 -DelayMs 200 -KeepRunning
        $w = Start-Watch -Backend $backend -Id $t.Id
        try {
            New-Item -ItemType File -Path $p.Go | Out-Null
            $deadline = [DateTime]::UtcNow.AddSeconds(90)
            while ($w.Got.Count -lt 2 -and [DateTime]::UtcNow -lt $deadline -and -not $w.Handle.IsCompleted) { Start-Sleep -Milliseconds 20 }
            $w.Got.Count | Should -BeGreaterOrEqual 2 -Because "the watch must be writing the steps: $(Get-FirstError $w)"
            if ($Name -eq 'Postgres') { Get-WatchConnectionCount $backend | Should -Be 1 }
            $clock = [System.Diagnostics.Stopwatch]::StartNew()
            $w.PS.Stop()
            $clock.Elapsed.TotalSeconds | Should -BeLessThan 3
            $w.PS.InvocationStateInfo.State | Should -Be 'Stopped'
            $w.PS.Streams.Error | Should -BeNullOrEmpty
            @($w.Got.ToArray() | Where-Object Step -EQ 'END') | Should -BeNullOrEmpty -Because 'it was stopped, not ended'
            if ($Name -eq 'Postgres') {
                # The watch's own connection is closed: its worker is gone, not left listening.
                $deadline = [DateTime]::UtcNow.AddSeconds(10)
                while ((Get-WatchConnectionCount $backend) -gt 0 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
                Get-WatchConnectionCount $backend | Should -Be 0
            }
            # The session goes on in the same runspace.
            $w.PS.Commands.Clear()
            $null = $w.PS.AddScript("Test-FleTrajectory -Id '$($t.Id)'")
            $w.PS.Invoke() | Should -BeTrue
        } finally { Stop-Child $p; $w.PS.Dispose() }
    }

    It 'a trajectory that does not exist is FleTrajectoryNotFound; a finished one ends the watch at once; -Timeout must be positive' {
        { Watch-FleTrajectory -Id no-such-trajectory -Connection $conn -ErrorAction Stop } |
            Should -Throw -ErrorId 'FleTrajectoryNotFound,Fle.PowerShell.Commands.WatchFleTrajectoryCommand'
        $t = New-FleTrajectory -TaskId watch_done -Connection $conn
        Complete-FleTrajectory -Id $t.Id -Status Failed -Connection $conn
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        @(Watch-FleTrajectory -Id $t.Id -Connection $conn -ErrorAction Stop).Count | Should -Be 0
        $clock.Elapsed.TotalSeconds | Should -BeLessThan 5
        { Watch-FleTrajectory -Id $t.Id -Timeout -5 -Connection $conn -ErrorAction Stop } |
            Should -Throw -ErrorId 'FleInvalidArgument,Fle.PowerShell.Commands.WatchFleTrajectoryCommand'
    }
}
