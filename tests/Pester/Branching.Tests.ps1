# Trajectories that branch, through the built module on SQLite and PostgreSQL: forks (New-FleTrajectory -ParentId,
# or a step piped in), resume from any step (-Fork, -DiscardLaterSteps), reading through a fork, the tree
# (-ParentId -Recurse, -IncludeAncestors, Remove -Recurse), beam search's best nodes (-Top -SortBy), moving trees.
BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'CmdletTestHelpers.psm1') -Force
    $script:backends = Get-FleTestBackend
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'CmdletTestHelpers.psm1') -Force
    Import-Module (Get-FleModulePath) -Force
    $PSStyle.OutputRendering = 'PlainText'
}

Describe 'Branching on <Name>' -ForEach $backends {
    BeforeAll {
        $target = New-FleTestTarget -Backend $Name
        $c = @{ Connection = $target.Connection }
        function Get-State([int] $World, [int] $Tick) { '{"world":' + $World + ',"tick":' + $Tick + ',"entities":"' + ('furnace;' * 200) + '"}' }
        function New-Root([int] $Steps = 10, [string] $Task = 'branching') {
            $t = New-FleTrajectory -TaskId $Task -Metadata @{ model = 'm1' } @c
            for ($i = 0; $i -lt $Steps; $i++) {
                Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber $i -AgentCode "print($i)" -EnvironmentFeedback "fb $i" -GameState (Get-State 1 $i) -Metadata @{ score = $i } @c
            }
            $t
        }
        function Get-Sql([string[]] $Sql) { Invoke-FleTestSql -Target $target -Sql $Sql }
    }
    AfterAll { $target.Connection | Disconnect-FleDatabase }

    Context 'forks' {
        It 'New-FleTrajectory -ParentId -ForkStepNumber makes a fork that reads its parent''s steps through it and stores none' {
            $root = New-Root
            $rows = Get-Sql 'SELECT COUNT(*) FROM steps', 'SELECT COUNT(*) FROM game_states'
            $fork = New-FleTrajectory -ParentId $root.Id -ForkStepNumber 4 @c
            $fork | Should -BeOfType ([FleTrajectory])
            $fork.ParentId | Should -Be $root.Id
            $fork.ForkStepNumber | Should -Be 4
            $fork.TaskId | Should -Be 'branching'
            $fork.Metadata.model | Should -Be 'm1'
            Get-Sql 'SELECT COUNT(*) FROM steps', 'SELECT COUNT(*) FROM game_states' | Should -Be $rows

            $steps = Get-FleStep -TrajectoryId $fork.Id -IncludeGameState @c
            $steps.StepNumber | Should -Be (0..4)
            $steps.TrajectoryId | Select-Object -Unique | Should -Be $fork.Id
            $steps.StoredIn | Select-Object -Unique | Should -Be $root.Id
            $steps[3].GameStateText | Should -Be (Get-State 1 3)
            (Measure-FleStep -TrajectoryId $fork.Id @c).Count | Should -Be 5
            $latest = Get-FleCheckpoint -TrajectoryId $fork.Id -Latest @c
            $latest.StepNumber | Should -Be 4
            $latest.TrajectoryId | Should -Be $fork.Id
            $latest.GameStateText | Should -Be (Get-State 1 4)
            (Get-FleCheckpoint -TrajectoryId $fork.Id -StepNumber 2 @c).GameStateText | Should -Be (Get-State 1 2)
            { Get-FleCheckpoint -TrajectoryId $fork.Id -StepNumber 7 @c -ErrorAction Stop } | Should -Throw -ErrorId 'FleCheckpointNotFound*'

            Save-FleCheckpoint -TrajectoryId $fork.Id -StepNumber 5 -AgentCode 'own' -EnvironmentFeedback 'own fb' -GameState (Get-State 2 5) @c
            $steps = Get-FleStep -TrajectoryId $fork.Id @c
            $steps.StepNumber | Should -Be (0..5)
            $steps[5].StoredIn | Should -Be $fork.Id
            (Get-FleCheckpoint -TrajectoryId $fork.Id -Latest @c).GameStateText | Should -Be (Get-State 2 5)
            (Get-FleTrajectory -Id $fork.Id @c).StepCount | Should -Be 6
            (Measure-FleStep -TrajectoryId $root.Id @c).Count | Should -Be 10
        }

        It 'TaskId and Metadata of a fork can be given; a fork of a fork reads through both ancestors' {
            $root = New-Root -Steps 6
            $a = New-FleTrajectory -ParentId $root.Id -ForkStepNumber 3 -TaskId 'variant' -Metadata @{ branch = 'a' } @c
            $a.TaskId | Should -Be 'variant'
            $a.Metadata.branch | Should -Be 'a'
            Save-FleStep -TrajectoryId $a.Id -StepNumber 4 -AgentCode 'a4' -EnvironmentFeedback '' @c
            $aa = New-FleTrajectory -ParentId $a.Id -ForkStepNumber 4 @c
            (Get-FleStep -TrajectoryId $aa.Id @c).StoredIn | Should -Be @($root.Id, $root.Id, $root.Id, $root.Id, $a.Id)
        }

        It 'the best steps piped into Resume-FleTrajectory -Fork fork at each (beam search: expand the best nodes)' {
            $root = New-Root -Steps 8
            $cps = Get-FleStep -TrajectoryId $root.Id -Top 2 -SortBy score -Descending @c | Resume-FleTrajectory -Fork @c
            $cps.Count | Should -Be 2
            $cps.StepNumber | Should -Be @(7, 6)
            $cps[1].GameStateText | Should -Be (Get-State 1 6)
            $forks = Get-FleTrajectory -Id $cps.TrajectoryId @c
            $forks.ParentId | Select-Object -Unique | Should -Be $root.Id
            $forks.ForkStepNumber | Sort-Object | Should -Be @(6, 7)
        }

        It 'forking at a step the parent does not have is FleStepNotFound; an inherited step number is FleStepInherited' {
            $root = New-Root -Steps 3
            $before = Get-FleTestSnapshot -Target $target
            { New-FleTrajectory -ParentId $root.Id -ForkStepNumber 3 @c -ErrorAction Stop } | Should -Throw -ErrorId 'FleStepNotFound,Fle.PowerShell.Commands.NewFleTrajectoryCommand'
            { New-FleTrajectory -ParentId 'no-such-trajectory' -ForkStepNumber 0 @c -ErrorAction Stop } | Should -Throw -ErrorId 'FleTrajectoryNotFound,*'
            Get-FleTestSnapshot -Target $target | Should -Be $before

            $fork = New-FleTrajectory -ParentId $root.Id -ForkStepNumber 1 @c
            $e = { Save-FleCheckpoint -TrajectoryId $fork.Id -StepNumber 1 -AgentCode 'pass' -EnvironmentFeedback 'ok' -GameState (Get-State 3 1) -Force @c -ErrorAction Stop } |
                Should -Throw -ErrorId 'FleStepInherited,Fle.PowerShell.Commands.SaveFleCheckpointCommand' -PassThru
            "$e" | Should -Match 'Save step 2 or later'
            $e.CategoryInfo.Category | Should -Be 'InvalidArgument'
            { Save-FleStep -TrajectoryId $fork.Id -StepNumber 0 -AgentCode 'pass' -EnvironmentFeedback 'ok' @c -ErrorAction Stop } | Should -Throw -ErrorId 'FleStepInherited,*'
            [int](Get-Sql "SELECT COUNT(*) FROM steps WHERE trajectory_id = '$($fork.Id)'") | Should -Be 0
        }

        It '-WhatIf creates no fork' {
            $root = New-Root -Steps 2
            $before = Get-FleTestSnapshot -Target $target
            New-FleTrajectory -ParentId $root.Id -ForkStepNumber 1 -WhatIf @c | Should -BeNullOrEmpty
            Get-FleTestSnapshot -Target $target | Should -Be $before
        }
    }

    Context 'resume from any step' {
        It 'Resume-FleTrajectory -StepNumber -Fork returns the fork''s checkpoint at the step; the history stays' {
            $root = New-Root
            Complete-FleTrajectory -Id $root.Id -Status Failed @c
            $cp = Resume-FleTrajectory -Id $root.Id -StepNumber 4 -Fork @c
            $cp | Should -BeOfType ([FleCheckpoint])
            $cp.TrajectoryId | Should -Not -Be $root.Id
            $cp.StoredIn | Should -Be $root.Id
            $cp.StepNumber | Should -Be 4
            $cp.NextStepNumber | Should -Be 5
            $cp.GameStateText | Should -Be (Get-State 1 4)
            $fork = Get-FleTrajectory -Id $cp.TrajectoryId @c
            $fork.ParentId | Should -Be $root.Id
            $fork.Status | Should -Be 'Running'
            (Get-FleTrajectory -Id $root.Id @c).Status | Should -Be 'Failed'
            (Measure-FleStep $root.Id @c).Count | Should -Be 10
            # the resumed run saves its next step into the fork
            Save-FleCheckpoint -TrajectoryId $cp.TrajectoryId -StepNumber $cp.NextStepNumber -AgentCode 'pass' -EnvironmentFeedback 'ok' -GameState (Get-State 4 5) @c
            (Get-FleCheckpoint $cp.TrajectoryId -Latest @c).StepNumber | Should -Be 5
        }

        It 'without -Fork, later steps are FleLaterStepsExist that suggests -Fork, and nothing changes' {
            $root = New-Root -Steps 6
            $before = Get-FleTestSnapshot -Target $target
            $e = { Resume-FleTrajectory -Id $root.Id -StepNumber 2 @c -ErrorAction Stop } |
                Should -Throw -ErrorId 'FleLaterStepsExist,Fle.PowerShell.Commands.ResumeFleTrajectoryCommand' -PassThru
            "$e" | Should -Match '-Fork'
            "$e" | Should -Match '-DiscardLaterSteps'
            Get-FleTestSnapshot -Target $target | Should -Be $before
            # at the last step there is nothing later: a plain resume
            (Resume-FleTrajectory -Id $root.Id -StepNumber 5 @c).NextStepNumber | Should -Be 6
            # and without -StepNumber it is today's resume
            (Resume-FleTrajectory -Id $root.Id @c).StepNumber | Should -Be 5
        }

        It '-DiscardLaterSteps asks first (ConfirmImpact High), tells with -WhatIf, and deletes the later steps when confirmed' {
            $root = New-Root -Steps 6
            $before = Get-FleTestSnapshot -Target $target
            Resume-FleTrajectory -Id $root.Id -StepNumber 2 -DiscardLaterSteps -WhatIf @c | Should -BeNullOrEmpty
            Get-FleTestSnapshot -Target $target | Should -Be $before
            # this host cannot answer a prompt: asking fails, and nothing is deleted
            { Resume-FleTrajectory -Id $root.Id -StepNumber 2 -DiscardLaterSteps @c -ErrorAction Stop } | Should -Throw
            Get-FleTestSnapshot -Target $target | Should -Be $before
            # $ConfirmPreference below High asks through ShouldProcess: one prompt, not two (also fails in this host)
            { $ConfirmPreference = 'Low'; Resume-FleTrajectory -Id $root.Id -StepNumber 2 -DiscardLaterSteps @c -ErrorAction Stop } | Should -Throw
            Get-FleTestSnapshot -Target $target | Should -Be $before

            $cp = Resume-FleTrajectory -Id $root.Id -StepNumber 2 -DiscardLaterSteps -Confirm:$false @c
            $cp.TrajectoryId | Should -Be $root.Id
            $cp.NextStepNumber | Should -Be 3
            (Get-FleStep $root.Id @c).StepNumber | Should -Be (0..2)
            [int](Get-Sql "SELECT COUNT(*) FROM game_states WHERE trajectory_id = '$($root.Id)'") | Should -Be 3
            # $ConfirmPreference None does not ask either
            Save-FleCheckpoint -TrajectoryId $root.Id -StepNumber 3 -AgentCode 'pass' -EnvironmentFeedback 'ok' -GameState (Get-State 1 33) @c
            & { $ConfirmPreference = 'None'; Resume-FleTrajectory -Id $root.Id -StepNumber 1 -DiscardLaterSteps @c } | Out-Null
            (Measure-FleStep $root.Id @c).Count | Should -Be 2
        }

        It 'bad combinations are clear errors: -Fork without -StepNumber; -Fork with -DiscardLaterSteps; a step without a state' {
            $root = New-Root -Steps 2
            { Resume-FleTrajectory -Id $root.Id -Fork @c -ErrorAction Stop } | Should -Throw -ErrorId 'FleInvalidArgument,*' -ExpectedMessage '*-StepNumber*'
            { Resume-FleTrajectory -Id $root.Id -StepNumber 0 -Fork -DiscardLaterSteps -Confirm:$false @c -ErrorAction Stop } | Should -Throw -ErrorId 'FleInvalidArgument,*'
            { Resume-FleTrajectory -Id $root.Id -StepNumber 9 -Fork @c -ErrorAction Stop } | Should -Throw -ErrorId 'FleStepNotFound,*'
            Save-FleStep -TrajectoryId $root.Id -StepNumber 2 -AgentCode 'no state' -EnvironmentFeedback 'ok' @c
            { Resume-FleTrajectory -Id $root.Id -StepNumber 2 -Fork @c -ErrorAction Stop } | Should -Throw -ErrorId 'FleCheckpointNotFound,*'
            (Get-FleTrajectory -ParentId $root.Id @c) | Should -BeNullOrEmpty
        }

        It 'a checkpoint piped in resumes from its step' {
            $root = New-Root -Steps 5
            $cp = Get-FleCheckpoint -TrajectoryId $root.Id -StepNumber 1 @c | Resume-FleTrajectory -Fork @c
            $cp.StepNumber | Should -Be 1
            (Get-FleTrajectory -Id $cp.TrajectoryId @c).ForkStepNumber | Should -Be 1
        }
    }

    Context 'the tree' {
        BeforeAll {
            $script:root = New-Root -Steps 6 -Task 'tree'
            $script:a = New-FleTrajectory -ParentId $root.Id -ForkStepNumber 2 @c
            $script:b = New-FleTrajectory -ParentId $root.Id -ForkStepNumber 4 @c
            Save-FleStep -TrajectoryId $a.Id -StepNumber 3 -AgentCode 'a3' -EnvironmentFeedback 'ok' @c
            $script:aa = New-FleTrajectory -ParentId $a.Id -ForkStepNumber 3 @c
        }

        It 'Get-FleTrajectory -ParentId lists the forks; -Recurse the whole subtree' {
            (Get-FleTrajectory -ParentId $root.Id @c).Id | Sort-Object | Should -Be (@($a.Id, $b.Id) | Sort-Object)
            (Get-FleTrajectory -ParentId $root.Id -Recurse @c).Id | Sort-Object | Should -Be (@($a.Id, $b.Id, $aa.Id) | Sort-Object)
            (Get-FleTrajectory -ParentId $aa.Id -Recurse @c) | Should -BeNullOrEmpty
            { Get-FleTrajectory -Recurse @c -ErrorAction Stop } | Should -Throw -ErrorId 'FleInvalidArgument,*' -ExpectedMessage '*-ParentId*'
        }

        It 'Get-FleTrajectory -Id -IncludeAncestors returns the chain, root first' {
            (Get-FleTrajectory -Id $aa.Id -IncludeAncestors @c).Id | Should -Be @($root.Id, $a.Id, $aa.Id)
            ($aa | Get-FleTrajectory -IncludeAncestors @c).Id | Should -Be @($root.Id, $a.Id, $aa.Id)
            (Get-FleTrajectory -Id $root.Id -IncludeAncestors @c).Id | Should -Be $root.Id
        }

        It 'the table shows the fork point; a step''s table says it is inherited' {
            $text = Get-FleTrajectory -Id $aa.Id @c | Out-String -Width 200
            $text | Should -Match 'Fork'
            $text | Should -Match '@3'
            $stepText = Get-FleStep -TrajectoryId $aa.Id @c | Out-String -Width 200
            $stepText | Should -Match 'Inherited'
            ($stepText -split "`n" | Where-Object { $_ -match '^\s+[0-3]\s' } | Where-Object { $_ -match '\byes\b' }).Count | Should -Be 4
            Get-FleStep -TrajectoryId $aa.Id -StepNumber 0 @c | Format-List | Out-String | Should -Match "StoredIn\s+:\s+$($root.Id)"
        }

        It 'Remove-FleTrajectory of a trajectory with forks is FleTrajectoryHasForks and suggests -Recurse; -Recurse removes the subtree' {
            $before = Get-FleTestSnapshot -Target $target
            $e = { Remove-FleTrajectory -Id $root.Id -Confirm:$false @c -ErrorAction Stop } |
                Should -Throw -ErrorId 'FleTrajectoryHasForks,Fle.PowerShell.Commands.RemoveFleTrajectoryCommand' -PassThru
            "$e" | Should -Match '-Recurse'
            Get-FleTestSnapshot -Target $target | Should -Be $before
            Remove-FleTrajectory -Id $root.Id -Recurse -WhatIf @c
            Get-FleTestSnapshot -Target $target | Should -Be $before

            $removed = Remove-FleTrajectory -Id $root.Id -Recurse -Confirm:$false -PassThru @c
            $removed[0] | Should -Be $root.Id -Because '-PassThru gives the trajectory first, then every fork removed with it'
            $removed | Sort-Object | Should -Be (@($root.Id, $a.Id, $b.Id, $aa.Id) | Sort-Object)
            [array]::IndexOf($removed, $a.Id) | Should -BeLessThan ([array]::IndexOf($removed, $aa.Id)) -Because 'a parent comes before its forks'
            foreach ($t in $root, $a, $b, $aa) { Get-FleTrajectory -Id $t.Id @c -ErrorAction SilentlyContinue | Should -BeNullOrEmpty }
            [int](Get-Sql "SELECT COUNT(*) FROM steps WHERE trajectory_id IN ('$($root.Id)', '$($a.Id)')") | Should -Be 0
        }

        It 'Remove-FleTrajectory -OlderThan removes old forks before their parents and keeps a parent whose fork stays' {
            $old = New-Root -Steps 2 -Task 'cleanup'
            $oldFork = New-FleTrajectory -ParentId $old.Id -ForkStepNumber 1 @c
            $kept = New-Root -Steps 2 -Task 'cleanup'
            $young = New-FleTrajectory -ParentId $kept.Id -ForkStepNumber 0 @c
            foreach ($t in $old, $oldFork, $kept) { Complete-FleTrajectory -Id $t.Id @c }
            Start-Sleep -Milliseconds 1100
            Remove-FleTrajectory -OlderThan '00:00:01' -Confirm:$false -WarningVariable w @c 3>$null
            Get-FleTrajectory -Id $old.Id, $oldFork.Id @c -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            (Get-FleTrajectory -Id $kept.Id @c).Id | Should -Be $kept.Id
            (Get-FleTrajectory -Id $young.Id @c).Id | Should -Be $young.Id
            "$w" | Should -Match $kept.Id
        }
    }

    Context 'best nodes' {
        It 'Get-FleStep -TaskId -Top -SortBy [-Descending] ranks steps across the task in the database' {
            $task = 'beam-' + [guid]::NewGuid().ToString('n').Substring(0, 6)
            $x = New-FleTrajectory -TaskId $task @c
            $y = New-FleTrajectory -TaskId $task @c
            Save-FleStep -TrajectoryId $x.Id -StepNumber 0 -AgentCode 'pass' -EnvironmentFeedback 'ok' -Metadata @{ value = 0.5 } @c
            Save-FleStep -TrajectoryId $x.Id -StepNumber 1 -AgentCode 'pass' -EnvironmentFeedback 'ok' -Metadata @{ value = 2.5 } @c
            Save-FleStep -TrajectoryId $x.Id -StepNumber 2 -AgentCode 'pass' -EnvironmentFeedback 'ok' -Metadata @{ other = 1 } @c
            Save-FleStep -TrajectoryId $y.Id -StepNumber 0 -AgentCode 'pass' -EnvironmentFeedback 'ok' -Metadata @{ value = 'high' } @c
            Save-FleStep -TrajectoryId $y.Id -StepNumber 1 -AgentCode 'pass' -EnvironmentFeedback 'ok' -Metadata @{ value = 9 } @c
            $best = Get-FleStep -TaskId $task -Top 2 -SortBy value -Descending @c
            $best | Should -BeOfType ([FleStep])
            @($best | ForEach-Object { "$($_.TrajectoryId -eq $x.Id ? 'x' : 'y')$($_.StepNumber)" }) | Should -Be @('y1', 'x1')
            $worst = Get-FleStep -TaskId $task -Top 3 -SortBy value @c
            @($worst | ForEach-Object { "$($_.TrajectoryId -eq $x.Id ? 'x' : 'y')$($_.StepNumber)" }) | Should -Be @('x0', 'x1', 'y1')
            (Get-FleStep -TaskId $task -Top 10 -SortBy value -Descending @c).Count | Should -Be 5
            (Get-FleStep -TrajectoryId $x.Id -Top 1 -SortBy value -Descending @c).StepNumber | Should -Be 1
            (Get-FleTrajectory -TaskId $task @c | Get-FleStep -Top 1 -SortBy value -Descending @c).StepNumber | Sort-Object | Should -Be @(1, 1)
            { Get-FleStep -Top 3 -SortBy value @c -ErrorAction Stop } | Should -Throw -ErrorId 'FleInvalidArgument,*' -ExpectedMessage '*-TaskId*'
        }
    }

    Context 'moving trees' {
        It 'Export-FleData of a fork | Import-FleData brings its ancestors; re-importing changes nothing; the other backend reads the same' {
            $root = New-Root -Steps 5 -Task 'move'
            $fork = New-FleTrajectory -ParentId $root.Id -ForkStepNumber 2 @c
            Save-FleCheckpoint -TrajectoryId $fork.Id -StepNumber 3 -AgentCode 'f3' -EnvironmentFeedback 'ok' -GameState (Get-State 5 3) @c
            $other = New-FleTestTarget -Backend ($Name -eq 'Sqlite' ? ((Test-FlePostgresAvailable) ? 'Postgres' : 'Sqlite') : 'Sqlite')
            try {
                $summary = Export-FleData -TrajectoryId $fork.Id @c | Import-FleData -Connection $other.Connection
                $summary.Trajectories | Should -Be 2
                $summary.Steps | Should -Be 6
                $got = Get-FleStep -TrajectoryId $fork.Id -IncludeGameState -Connection $other.Connection
                $got.StepNumber | Should -Be (0..3)
                $got.StoredIn | Should -Be @($root.Id, $root.Id, $root.Id, $fork.Id)
                $got[3].GameStateText | Should -Be (Get-State 5 3)
                (Get-FleTrajectory -Id $fork.Id -Connection $other.Connection).ParentId | Should -Be $root.Id
                $snap = Get-FleTestSnapshot -Target $other
                (Export-FleData -TrajectoryId $fork.Id @c | Import-FleData -Connection $other.Connection).Skipped | Should -Be 2
                Get-FleTestSnapshot -Target $other | Should -Be $snap

                # by file, into a third database
                $file = Join-Path (New-FleTestDirectory) 'tree.jsonl'
                Export-FleData -TrajectoryId $fork.Id -Path $file @c | Out-Null
                (Get-Content $file -TotalCount 1 | ConvertFrom-Json).version | Should -Be 2
                $third = New-FleTestTarget -Backend $Name
                (Import-FleData -Path $file -Connection $third.Connection).Trajectories | Should -Be 2
                (Get-FleStep -TrajectoryId $fork.Id -Connection $third.Connection).StoredIn | Should -Be @($root.Id, $root.Id, $root.Id, $fork.Id)
                $third.Connection | Disconnect-FleDatabase
            } finally { $other.Connection | Disconnect-FleDatabase }
        }
    }
}

Describe 'examples/Invoke-BeamSearch.ps1 on <Name>' -ForEach $backends {
    BeforeAll {
        $target = New-FleTestTarget -Backend $Name
        $script:example = Join-Path $PSScriptRoot '../../examples/Invoke-BeamSearch.ps1'
    }
    AfterAll { $target.Connection | Disconnect-FleDatabase }

    It 'searches a tree of forks: each node stored once, the best value is the best in the database, its lineage reaches the root' {
        $r = & $example -TaskId 'beam-example' -BeamWidth 3 -Depth 4 -Expansions 2 -Connection $target.Connection
        $steps = [int](Invoke-FleTestSql -Target $target -Sql 'SELECT COUNT(*) FROM steps')
        $trajectories = [int](Invoke-FleTestSql -Target $target -Sql 'SELECT COUNT(*) FROM trajectories')
        $forks = [int](Invoke-FleTestSql -Target $target -Sql 'SELECT COUNT(*) FROM trajectories WHERE parent_id IS NOT NULL')
        # 1 + 2 + 3 + 3 heads over the 4 rounds, 2 forks each; every fork stores exactly its one new step
        $forks | Should -Be 18
        $trajectories | Should -Be 19
        $r.Trajectories | Should -Be 19
        $steps | Should -Be 19
        $r.StoredSteps | Should -Be 19
        [int](Invoke-FleTestSql -Target $target -Sql 'SELECT COUNT(*) FROM game_states') | Should -Be 19
        # a fork is made at the step its parent stores, and holds the step after it
        $bad = if ($Name -eq 'Sqlite') { "SELECT COUNT(*) FROM trajectories t WHERE t.parent_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM steps s WHERE s.trajectory_id = t.id AND s.step_number = t.fork_step_number + 1)" }
        else { "SELECT COUNT(*) FROM trajectories t WHERE t.parent_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM steps s WHERE s.trajectory_id = t.id AND s.step_number = t.fork_step_number + 1)" }
        [int](Invoke-FleTestSql -Target $target -Sql $bad) | Should -Be 0
        # the best, as the backend's own JSON functions see it
        $max = if ($Name -eq 'Sqlite') { "SELECT MAX(json_extract(metadata, '$.value')) FROM steps" } else { "SELECT MAX((metadata->>'value')::numeric) FROM steps" }
        [double](Invoke-FleTestSql -Target $target -Sql $max) | Should -Be ([double]$r.BestValue)
        $r.BestValue | Should -BeGreaterThan 0
        $chain = Get-FleTrajectory -Id $r.BestTrajectoryId -IncludeAncestors -Connection $target.Connection
        $chain[0].Id | Should -Be $r.RootId
        $chain[-1].Id | Should -Be $r.BestTrajectoryId
        $chain.Count | Should -Be ($r.BestStepNumber + 1)
        $path = Get-FleStep -TrajectoryId $r.BestTrajectoryId -IncludeGameState -Connection $target.Connection
        $path.StepNumber | Should -Be (0..$r.BestStepNumber)
        $path.StoredIn | Should -Be $chain.Id
        ($path[-1].GameStateText | ConvertFrom-Json).tick | Should -Be (60 * $r.BestStepNumber)
    }
}

Describe 'examples/Invoke-BeamSearch.ps1 as a user runs it' {
    It 'runs in a fresh pwsh on the embedded default (.fle/data.db)' {
        $dir = New-FleTestDirectory
        $example = (Resolve-Path (Join-Path $PSScriptRoot '../../examples/Invoke-BeamSearch.ps1')).Path
        $run = Invoke-FleFreshPwsh -WorkingDirectory $dir -Environment @{ FLE_DB_TYPE = $null; SQLITE_DB_FILE = $null } -Script @"
Import-Module `$env:FLE_MODULE_PATH
`$r = & '$example' -Depth 3 -BeamWidth 2
'best=' + `$r.BestValue
'trajectories=' + `$r.Trajectories
"@
        $run.ExitCode | Should -Be 0 -Because $run.Error
        $run.Output | Should -Contain 'trajectories=11'
        Join-Path $dir '.fle/data.db' | Should -Exist
        & sqlite3 (Join-Path $dir '.fle/data.db') 'SELECT COUNT(*) FROM trajectories WHERE parent_id IS NOT NULL' | Should -Be '10'
    }
}
