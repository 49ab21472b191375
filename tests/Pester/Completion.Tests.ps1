# Tab completion of trajectory ids and task ids through TabExpansion2, as a user gets it: quoted,
# filtered by what is typed, honouring -TaskId and -Connection already on the line, and cheap.
BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'CmdletTestHelpers.psm1') -Force
    $script:backends = Get-FleTestBackend
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'CmdletTestHelpers.psm1') -Force
    Import-Module (Get-FleModulePath) -Force
    function Get-Completion([string] $Line) {
        # Completion with the cursor at the end of the line, as after pressing Tab.
        @((TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches)
    }
}

Describe 'Completion on <Name>' -ForEach $backends {
    BeforeAll {
        $target = New-FleTestTarget -Backend $Name
        # TabExpansion2 evaluates '-Connection $x' in the session: the variable must be visible there.
        $global:FleCompletionConn = $target.Connection
        $c = @{ Connection = $target.Connection }
        $ironA = New-FleTrajectory -TaskId 'iron_plate' @c
        $ironB = New-FleTrajectory -TaskId 'iron_plate' @c
        $copper = New-FleTrajectory -TaskId 'copper_cable' @c
        $quote = New-FleTrajectory -TaskId "it's_quoted" @c
        $custom = New-FleTrajectory -TaskId 'custom' -Id 'zz-custom-id' @c
        # The session default is a different, empty database: whatever completes came through -Connection.
        $emptyDir = New-FleTestDirectory
        Connect-FleDatabase -Path (Join-Path $emptyDir 'empty.db')
    }
    AfterAll {
        Disconnect-FleDatabase
        $target.Connection | Disconnect-FleDatabase
        Remove-Variable -Scope Global -Name FleCompletionConn -ErrorAction Ignore
    }

    It 'completes trajectory ids of the -Connection already typed, quoted' {
        $m = Get-Completion 'Get-FleCheckpoint -Connection $FleCompletionConn -TrajectoryId '
        $m.CompletionText | Should -Contain "'$($ironA.Id)'"
        $m.CompletionText | Should -Contain "'$($copper.Id)'"
        $m.CompletionText | Should -Contain "'zz-custom-id'"
        $m | ForEach-Object { $_.CompletionText | Should -Match "^'.*'$" }
        $m | ForEach-Object { $_.ResultType | Should -Be 'ParameterValue' }
        ($m | Where-Object CompletionText -EQ "'$($copper.Id)'").ToolTip | Should -Match 'copper_cable'
    }

    It 'the -Connection can come after the parameter being completed' {
        $line = 'Get-FleStep -TrajectoryId '
        $full = $line + ' -Connection $FleCompletionConn'
        $m = @((TabExpansion2 -inputScript $full -cursorColumn $line.Length).CompletionMatches)
        $m.CompletionText | Should -Contain "'$($ironB.Id)'"
    }

    It 'without -Connection it completes from the session connection (here: empty)' {
        Get-Completion 'Get-FleCheckpoint -TrajectoryId ' | Where-Object CompletionText -Match '[0-9a-f]{8}-' | Should -BeNullOrEmpty
        $own = New-FleTrajectory -TaskId 'session_only'
        (Get-Completion 'Get-FleCheckpoint -TrajectoryId ').CompletionText | Should -Be "'$($own.Id)'"
        Remove-FleTrajectory -Id $own.Id -Confirm:$false
    }

    It 'filters by the prefix typed, with or without a quote' {
        $prefix = $copper.Id.Substring(0, 30)
        foreach ($typed in $prefix, "'$prefix", "`"$prefix") {
            $m = Get-Completion "Get-FleTrajectory -Connection `$FleCompletionConn -Id $typed"
            $m.CompletionText | Should -Contain "'$($copper.Id)'"
            $m | ForEach-Object { $_.ListItemText | Should -BeLike "$prefix*" }
        }
        (Get-Completion 'Get-FleTrajectory -Connection $FleCompletionConn -Id zz').CompletionText | Should -Be "'zz-custom-id'"
        Get-Completion 'Get-FleTrajectory -Connection $FleCompletionConn -Id nothing-starts-like-this' | Should -BeNullOrEmpty
    }

    It 'a prefix with LIKE wildcards is taken literally' {
        Get-Completion 'Get-FleTrajectory -Connection $FleCompletionConn -Id %' | Should -BeNullOrEmpty
        Get-Completion 'Get-FleTrajectory -Connection $FleCompletionConn -Id z_' | Should -BeNullOrEmpty
    }

    It 'honours -TaskId already typed' {
        $m = Get-Completion 'Get-FleTrajectory -Connection $FleCompletionConn -TaskId iron_plate -Id '
        ($m.CompletionText | Sort-Object) | Should -Be (@("'$($ironA.Id)'", "'$($ironB.Id)'") | Sort-Object)
        $m = Get-Completion "Get-FleTrajectory -Connection `$FleCompletionConn -TaskId 'copper_cable' -Id "
        $m.CompletionText | Should -Be "'$($copper.Id)'"
    }

    It 'completes ids for every cmdlet that takes one: <_>' -ForEach @(
        'Get-FleTrajectory -Id ', 'Get-FleTrajectory ', 'Complete-FleTrajectory -Id ', 'Remove-FleTrajectory -Id ', 'Test-FleTrajectory -Id ',
        'Resume-FleTrajectory -Id ', 'Save-FleStep -TrajectoryId ', 'Save-FleCheckpoint -TrajectoryId ', 'Get-FleStep -TrajectoryId ',
        'Measure-FleStep -TrajectoryId ', 'Get-FleCheckpoint -TrajectoryId ', 'Get-FleCheckpoint ') {
        $line = ($_ -replace '^(\S+) ', '$1 -Connection $FleCompletionConn ')
        (Get-Completion $line).CompletionText | Should -Contain "'zz-custom-id'"
    }

    It 'completes task ids: distinct, sorted, quoted (with '' doubled), prefix-filtered' {
        $m = Get-Completion 'Get-FleTrajectory -Connection $FleCompletionConn -TaskId '
        $m.CompletionText | Should -Be "'copper_cable'", "'custom'", "'iron_plate'", "'it''s_quoted'"
        $m.ListItemText | Should -Contain "it's_quoted"
        (Get-Completion 'Get-FleTrajectory -Connection $FleCompletionConn -TaskId c').CompletionText | Should -Be "'copper_cable'", "'custom'"
        (Get-Completion "New-FleTrajectory -Connection `$FleCompletionConn -TaskId 'it").CompletionText | Should -Be "'it''s_quoted'"
    }

    It 'a completed task id with a quote is valid PowerShell that round-trips' {
        $text = (Get-Completion "Get-FleTrajectory -Connection `$FleCompletionConn -TaskId it").CompletionText
        $value = [scriptblock]::Create("$text").InvokeReturnAsIs()
        $value | Should -BeExactly "it's_quoted"
        (Get-FleTrajectory -TaskId $value @c).Id | Should -Be $quote.Id
    }

    It 'is cheap: at most 50 results, the newest, on a database with 200+ trajectories' {
        $task = 'many_' + $Name
        $ids = 1..200 | ForEach-Object { (New-FleTrajectory -TaskId $task -StartTime ([datetime]::UtcNow.AddMinutes(-1000 + $_)) @c).Id }
        $null = Get-Completion 'Get-FleTrajectory -Connection $FleCompletionConn -Id '   # warm-up
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $m = Get-Completion "Get-FleTrajectory -Connection `$FleCompletionConn -TaskId $task -Id "
        $sw.Stop()
        $m | Should -HaveCount 50
        # newest first: the last 50 created (their start times are the latest of the task)
        ($m.ListItemText | Sort-Object) | Should -Be ($ids[150..199] | Sort-Object)
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 1
        (Get-Completion 'Get-FleTrajectory -Connection $FleCompletionConn -Id ') | Should -HaveCount 50
    }
}

Describe 'Completion in a fresh session without Connect-FleDatabase' {
    BeforeAll {
        $dir = New-FleTestDirectory
        $work = New-FleTestDirectory
        $conn = Connect-FleDatabase -Path (Join-Path $dir '.fle/data.db') -PassThru -NoDefault
        $t = New-FleTrajectory -TaskId 'default_db_task' -Connection $conn
        $conn | Disconnect-FleDatabase
        $envDir = New-FleTestDirectory
        Set-Content -Path (Join-Path $envDir '.env') -Value 'SQLITE_DB_FILE=custom/place.db'
        $conn = Connect-FleDatabase -Path (Join-Path $envDir 'custom/place.db') -PassThru -NoDefault
        $t2 = New-FleTrajectory -TaskId 'env_db_task' -Connection $conn
        $conn | Disconnect-FleDatabase
        $clean = @{ FLE_DB_TYPE = $null; SQLITE_DB_FILE = $null }
    }

    It 'completes from .fle/data.db of the PowerShell location (not the process working directory)' {
        $r = Invoke-FleFreshPwsh -WorkingDirectory $work -Environment $clean -Script @"
Import-Module `$env:FLE_MODULE_PATH
Set-Location '$dir'
`$line = 'Get-FleStep -TrajectoryId '
(TabExpansion2 -inputScript `$line -cursorColumn `$line.Length).CompletionMatches | ForEach-Object { 'C: ' + `$_.CompletionText }
`$line = 'Get-FleTrajectory -TaskId '
(TabExpansion2 -inputScript `$line -cursorColumn `$line.Length).CompletionMatches | ForEach-Object { 'T: ' + `$_.CompletionText }
"@
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Output | Should -Contain "C: '$($t.Id)'"
        $r.Output | Should -Contain "T: 'default_db_task'"
    }

    It 'completes from the SQLITE_DB_FILE of ./.env of the PowerShell location' {
        $r = Invoke-FleFreshPwsh -WorkingDirectory $work -Environment $clean -Script @"
Import-Module `$env:FLE_MODULE_PATH
Set-Location '$envDir'
`$line = 'Get-FleTrajectory -Id '
(TabExpansion2 -inputScript `$line -cursorColumn `$line.Length).CompletionMatches | ForEach-Object { 'C: ' + `$_.CompletionText }
"@
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Output | Should -Be "C: '$($t2.Id)'"
    }

    It 'never creates a database file just to complete' {
        $none = New-FleTestDirectory
        $r = Invoke-FleFreshPwsh -WorkingDirectory $work -Environment $clean -Script @"
Import-Module `$env:FLE_MODULE_PATH
Set-Location '$none'
`$line = 'Get-FleTrajectory -Id '
'count=' + @((TabExpansion2 -inputScript `$line -cursorColumn `$line.Length).CompletionMatches | Where-Object ResultType -EQ ParameterValue).Count
"@
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Output | Should -Contain 'count=0'
        Test-Path (Join-Path $none '.fle') | Should -BeFalse
        Test-Path (Join-Path $work '.fle') | Should -BeFalse
    }

    It 'does not try to reach an unconfigured PostgreSQL server (returns at once, no prompt, no error)' {
        $r = Invoke-FleFreshPwsh -WorkingDirectory $work -Environment @{ FLE_DB_TYPE = 'postgres'; SKILLS_DB_HOST = '10.255.255.1'; SKILLS_DB_NAME = 'x'; SKILLS_DB_USER = 'x' } -Script @'
Import-Module $env:FLE_MODULE_PATH
$line = 'Get-FleTrajectory -Id '
$sw = [Diagnostics.Stopwatch]::StartNew()
$m = @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches | Where-Object ResultType -EQ ParameterValue)
'count=' + $m.Count
'fast=' + ($sw.Elapsed.TotalSeconds -lt 2)
'errors=' + $Error.Count
'@
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Output | Should -Contain 'count=0'
        $r.Output | Should -Contain 'fast=True'
        $r.Output | Should -Contain 'errors=0'
    }
}
