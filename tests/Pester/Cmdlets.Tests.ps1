# Every exported cmdlet against the built module, on SQLite and on PostgreSQL: output types, the
# pipelines users write, game-state inputs, -WhatIf, error ids and categories, -Force, cleanup, views.
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

Describe 'Cmdlet metadata' {
    BeforeAll {
        $mutating = 'New-FleTrajectory', 'Complete-FleTrajectory', 'Remove-FleTrajectory', 'Resume-FleTrajectory', 'Save-FleStep', 'Save-FleCheckpoint'
    }

    It 'has a type accelerator for <_>' -ForEach 'FleTrajectory', 'FleStep', 'FleCheckpoint', 'FleConnection', 'FleStepCount', 'FleTrajectoryStatus', 'FleBackend' {
        $t = $_ -as [type]
        $t | Should -Not -BeNullOrEmpty
        $t.Name | Should -Be $_
        # The accelerator points at the type the cmdlets return: the one in Fle's own load context.
        [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($t.Assembly).Name | Should -Be 'Fle'
    }

    It '<_> declares [OutputType]' -ForEach 'Connect-FleDatabase', 'New-FleTrajectory', 'Get-FleTrajectory', 'Complete-FleTrajectory',
        'Remove-FleTrajectory', 'Test-FleTrajectory', 'Resume-FleTrajectory', 'Save-FleStep', 'Save-FleCheckpoint', 'Get-FleStep',
        'Measure-FleStep', 'Get-FleCheckpoint' {
        (Get-Command $_).OutputType | Should -Not -BeNullOrEmpty
    }

    It '<_> supports -WhatIf and -Confirm' -ForEach 'New-FleTrajectory', 'Complete-FleTrajectory', 'Remove-FleTrajectory',
        'Resume-FleTrajectory', 'Save-FleStep', 'Save-FleCheckpoint' {
        $cmd = Get-Command $_
        $cmd.Parameters.Keys | Should -Contain 'WhatIf'
        $cmd.Parameters.Keys | Should -Contain 'Confirm'
        $attr = $cmd.ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $true)[0]
        $attr.SupportsShouldProcess | Should -BeTrue
    }

    It 'Remove-FleTrajectory is ConfirmImpact High (it deletes steps and game states)' {
        $attr = (Get-Command Remove-FleTrajectory).ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $true)[0]
        $attr.ConfirmImpact | Should -Be ([System.Management.Automation.ConfirmImpact]::High)
    }

    It 'read-only cmdlets do not pretend to change data: <_>' -ForEach 'Get-FleTrajectory', 'Test-FleTrajectory', 'Get-FleStep', 'Measure-FleStep', 'Get-FleCheckpoint' {
        (Get-Command $_).Parameters.Keys | Should -Not -Contain 'WhatIf'
    }

    It 'every data cmdlet takes -Connection of type FleConnection: <_>' -ForEach 'New-FleTrajectory', 'Get-FleTrajectory', 'Complete-FleTrajectory',
        'Remove-FleTrajectory', 'Test-FleTrajectory', 'Resume-FleTrajectory', 'Save-FleStep', 'Save-FleCheckpoint', 'Get-FleStep',
        'Measure-FleStep', 'Get-FleCheckpoint', 'Disconnect-FleDatabase' {
        (Get-Command $_).Parameters['Connection'].ParameterType | Should -Be ([FleConnection])
    }
}

Describe 'Cmdlets on <Name>' -ForEach $backends {
    BeforeAll {
        $target = New-FleTestTarget -Backend $Name
        $c = @{ Connection = $target.Connection }
        function New-Run([string] $Task = 'iron_plate', [int] $Checkpoints = 0, [int] $Steps = 0) {
            $t = New-FleTrajectory -TaskId $Task @c
            for ($i = 0; $i -lt $Checkpoints; $i++) {
                Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber $i -AgentCode "print($i)" -EnvironmentFeedback "fb $i" -GameState "{""tick"":$i}" @c
            }
            for ($i = $Checkpoints; $i -lt $Checkpoints + $Steps; $i++) {
                Save-FleStep -TrajectoryId $t.Id -StepNumber $i -AgentCode "print($i)" -EnvironmentFeedback "fb $i" @c
            }
            $t
        }
    }
    AfterAll { $target.Connection | Disconnect-FleDatabase }

    Context 'output types match [OutputType]' {
        It 'New-FleTrajectory returns a FleTrajectory with its metadata' {
            $t = New-FleTrajectory -TaskId types -Metadata @{ model = 'gpt-4o'; nested = @{ k = 1 } } @c
            $t | Should -BeOfType ([FleTrajectory])
            (Get-Command New-FleTrajectory).OutputType.Type | Should -Contain ([FleTrajectory])
            $t.Status | Should -Be ([FleTrajectoryStatus]::Running)
            $t.Metadata.model | Should -Be 'gpt-4o'
            $t.Metadata.nested.k | Should -Be 1
            $t.Id | Should -Match '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
        }

        It 'New-FleTrajectory -Id uses the given id, and a duplicate is FleTrajectoryAlreadyExists' {
            $id = 'custom-' + [guid]::NewGuid()
            (New-FleTrajectory -TaskId types -Id $id @c).Id | Should -Be $id
            { New-FleTrajectory -TaskId types -Id $id @c -ErrorAction Stop } |
                Should -Throw -ErrorId 'FleTrajectoryAlreadyExists,Fle.PowerShell.Commands.NewFleTrajectoryCommand'
        }

        It 'Get-FleTrajectory returns FleTrajectory objects with StepCount' {
            $t = New-Run -Task types -Checkpoints 2 -Steps 1
            $got = Get-FleTrajectory -Id $t.Id @c
            $got | Should -BeOfType ([FleTrajectory])
            (Get-Command Get-FleTrajectory).OutputType.Type | Should -Contain ([FleTrajectory])
            $got.StepCount | Should -Be 3
            $got.LastStepNumber | Should -Be 2
        }

        It 'Save-FleStep -PassThru returns a FleStep (not a checkpoint)' {
            $t = New-Run -Task types
            $s = Save-FleStep -TrajectoryId $t.Id -StepNumber 0 -AgentCode 'x = 1' -EnvironmentFeedback 'ok' -Metadata @{ reward = 0.5 } -PassThru @c
            $s.GetType() | Should -Be ([FleStep])
            (Get-Command Save-FleStep).OutputType.Type | Should -Contain ([FleStep])
            $s.HasGameState | Should -BeFalse
            $s.Metadata.reward | Should -Be 0.5
            Save-FleStep -TrajectoryId $t.Id -StepNumber 1 -AgentCode 'x' -EnvironmentFeedback 'y' @c | Should -BeNullOrEmpty
        }

        It 'Save-FleCheckpoint -PassThru returns a FleCheckpoint' {
            $t = New-Run -Task types
            $cp = Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode 'x' -EnvironmentFeedback 'y' -GameState '{}' -PassThru @c
            $cp | Should -BeOfType ([FleCheckpoint])
            (Get-Command Save-FleCheckpoint).OutputType.Type | Should -Contain ([FleCheckpoint])
            $cp.NextStepNumber | Should -Be 1
        }

        It 'Get-FleStep returns FleStep, and FleCheckpoint for steps with a state under -IncludeGameState' {
            $t = New-Run -Task types -Checkpoints 1 -Steps 1
            $plain = Get-FleStep -TrajectoryId $t.Id @c
            $plain | ForEach-Object { $_.GetType() | Should -Be ([FleStep]) }
            $plain.HasGameState | Should -Be @($true, $false)
            $plain[0].GameState | Should -BeNullOrEmpty
            $full = Get-FleStep -TrajectoryId $t.Id -IncludeGameState @c
            $full[0] | Should -BeOfType ([FleCheckpoint])
            $full[0].GameStateText | Should -Be '{"tick":0}'
            $full[1].GetType() | Should -Be ([FleStep])
            $types = (Get-Command Get-FleStep).OutputType.Type
            $types | Should -Contain ([FleStep])
            $types | Should -Contain ([FleCheckpoint])
        }

        It 'Get-FleStep -StepNumber, -From/-To select steps in order' {
            $t = New-Run -Task types -Steps 6
            (Get-FleStep -TrajectoryId $t.Id -From 2 -To 4 @c).StepNumber | Should -Be 2, 3, 4
            (Get-FleStep -TrajectoryId $t.Id -StepNumber 5, 0 @c).StepNumber | Should -Be 5, 0
            (Get-FleStep $t.Id -From 4 @c).StepNumber | Should -Be 4, 5
        }

        It 'Measure-FleStep returns a FleStepCount' {
            $t = New-Run -Task types -Checkpoints 2 -Steps 2
            $m = Measure-FleStep -TrajectoryId $t.Id @c
            $m | Should -BeOfType ([FleStepCount])
            (Get-Command Measure-FleStep).OutputType.Type | Should -Contain ([FleStepCount])
            $m.Count | Should -Be 4
            $m.TrajectoryId | Should -Be $t.Id
        }

        It 'Get-FleCheckpoint returns a FleCheckpoint (latest by default, or at a step)' {
            $t = New-Run -Task types -Checkpoints 3 -Steps 1
            $latest = Get-FleCheckpoint -TrajectoryId $t.Id @c
            $latest | Should -BeOfType ([FleCheckpoint])
            (Get-Command Get-FleCheckpoint).OutputType.Type | Should -Contain ([FleCheckpoint])
            $latest.StepNumber | Should -Be 2
            (Get-FleCheckpoint -TrajectoryId $t.Id -Latest @c).StepNumber | Should -Be 2
            (Get-FleCheckpoint -TrajectoryId $t.Id -StepNumber 1 @c).GameStateText | Should -Be '{"tick":1}'
        }

        It 'Test-FleTrajectory returns $true / $false' {
            $t = New-Run -Task types
            Test-FleTrajectory -Id $t.Id @c | Should -BeExactly $true
            Test-FleTrajectory -Id 'no-such-trajectory' @c | Should -BeExactly $false
            (Get-Command Test-FleTrajectory).OutputType.Type | Should -Contain ([bool])
        }

        It 'Complete-FleTrajectory -PassThru returns the finished FleTrajectory; without -PassThru nothing' {
            $t = New-Run -Task types
            Complete-FleTrajectory -Id $t.Id @c | Should -BeNullOrEmpty
            $t2 = New-Run -Task types
            $done = Complete-FleTrajectory -Id $t2.Id -Status Failed -PassThru @c
            $done | Should -BeOfType ([FleTrajectory])
            (Get-Command Complete-FleTrajectory).OutputType.Type | Should -Contain ([FleTrajectory])
            $done.Status | Should -Be 'Failed'
            $done.EndTime | Should -BeOfType ([datetime])
            (Get-FleTrajectory -Id $t.Id @c).Status | Should -Be 'Completed'
        }

        It 'Resume-FleTrajectory marks it running and returns the latest checkpoint' {
            $t = New-Run -Task types -Checkpoints 2 -Steps 1
            Complete-FleTrajectory -Id $t.Id -Status Failed @c
            $cp = Resume-FleTrajectory -Id $t.Id @c
            $cp | Should -BeOfType ([FleCheckpoint])
            (Get-Command Resume-FleTrajectory).OutputType.Type | Should -Contain ([FleCheckpoint])
            $cp.StepNumber | Should -Be 1
            $cp.NextStepNumber | Should -Be 2
            $again = Get-FleTrajectory -Id $t.Id @c
            $again.Status | Should -Be 'Running'
            $again.EndTime | Should -BeNullOrEmpty
        }

        It 'Resume-FleTrajectory on a run without checkpoints warns and returns nothing' {
            $t = New-Run -Task types -Steps 2
            $out = Resume-FleTrajectory -Id $t.Id -WarningVariable w -WarningAction SilentlyContinue @c
            $out | Should -BeNullOrEmpty
            $w | Should -HaveCount 1
            "$w" | Should -Match 'step 2'
        }

        It 'Remove-FleTrajectory returns nothing, or the ids with -PassThru' {
            $a = New-Run -Task types; $b = New-Run -Task types
            Remove-FleTrajectory -Id $a.Id -Confirm:$false @c | Should -BeNullOrEmpty
            $out = Remove-FleTrajectory -Id $b.Id -Confirm:$false -PassThru @c
            $out | Should -Be $b.Id
            $declared = (Get-Command Remove-FleTrajectory).OutputType.Type
            $declared | Should -Contain $out.GetType()
        }

        It 'Connect-FleDatabase -PassThru returns a FleConnection' {
            (Get-Command Connect-FleDatabase).OutputType.Type | Should -Contain ([FleConnection])
            $target.Connection | Should -BeOfType ([FleConnection])
            $target.Connection.Backend | Should -Be $Name
            $target.Connection.IsOpen | Should -BeTrue
        }
    }

    Context 'pipelines' {
        It 'Get-FleTrajectory -TaskId t | Get-FleCheckpoint -Latest' {
            $task = 'pipe_' + [guid]::NewGuid().ToString('n').Substring(0, 8)
            $a = New-Run -Task $task -Checkpoints 3
            $b = New-Run -Task $task -Checkpoints 5
            $null = New-Run -Task 'other_task' -Checkpoints 2
            $cps = Get-FleTrajectory -TaskId $task @c | Get-FleCheckpoint -Latest @c
            $cps | Should -HaveCount 2
            $cps | ForEach-Object { $_ | Should -BeOfType ([FleCheckpoint]) }
            ($cps | Sort-Object StepNumber | ForEach-Object { "$($_.TrajectoryId):$($_.StepNumber)" }) |
                Should -Be "$($a.Id):2", "$($b.Id):4"
        }

        It 'Get-FleTrajectory -Status failed | Remove-FleTrajectory -Confirm:$false removes exactly the failed ones' {
            $task = 'pipe_' + [guid]::NewGuid().ToString('n').Substring(0, 8)
            $f1 = New-Run -Task $task -Checkpoints 2; Complete-FleTrajectory -Id $f1.Id -Status Failed @c
            $f2 = New-Run -Task $task -Steps 1; Complete-FleTrajectory -Id $f2.Id -Status Failed @c
            $ok = New-Run -Task $task -Checkpoints 1; Complete-FleTrajectory -Id $ok.Id @c
            $running = New-Run -Task $task
            $statesBefore = Get-FleTestRowCount $target game_states
            Get-FleTrajectory -TaskId $task -Status failed @c | Remove-FleTrajectory -Confirm:$false @c
            (Get-FleTrajectory -TaskId $task @c).Id | Sort-Object | Should -Be (@($ok.Id, $running.Id) | Sort-Object)
            Get-FleTestRowCount $target game_states | Should -Be ($statesBefore - 2)
            Invoke-FleTestSql $target "SELECT COUNT(*) FROM steps WHERE trajectory_id IN ('$($f1.Id)', '$($f2.Id)')" | Should -Be 0
            # Every status of the whole database: no failed one left.
            Get-FleTrajectory -Status Failed @c | Remove-FleTrajectory -Confirm:$false @c
            Get-FleTrajectory -Status Failed @c | Should -BeNullOrEmpty
        }

        It 'Import-Csv steps.csv | Save-FleStep (Metadata as JSON text)' {
            $t = New-Run -Task csv
            $csv = Join-Path (New-FleTestDirectory) 'steps.csv'
            @(
                [pscustomobject]@{ TrajectoryId = $t.Id; StepNumber = 0; AgentCode = "print('a')`nx = 1"; EnvironmentFeedback = 'a'; Metadata = '{"reward": 1.5, "tokens": {"in": 10}}' }
                [pscustomobject]@{ TrajectoryId = $t.Id; StepNumber = 1; AgentCode = 'print("b")'; EnvironmentFeedback = 'b, with a comma'; Metadata = '{}' }
                [pscustomobject]@{ TrajectoryId = $t.Id; StepNumber = 2; AgentCode = ''; EnvironmentFeedback = ''; Metadata = '' }
            ) | Export-Csv -Path $csv -NoTypeInformation
            $saved = Import-Csv $csv | Save-FleStep -PassThru @c
            $saved | Should -HaveCount 3
            $steps = Get-FleStep -TrajectoryId $t.Id @c
            $steps.StepNumber | Should -Be 0, 1, 2
            $steps[0].AgentCode | Should -BeExactly "print('a')`nx = 1"
            $steps[0].Metadata.reward | Should -Be 1.5
            $steps[0].Metadata.tokens.in | Should -Be 10
            $steps[1].EnvironmentFeedback | Should -BeExactly 'b, with a comma'
            $steps[2].MetadataJson | Should -Be '{}'
        }

        It 'Import-Csv with a bad row: that row is an error, the others are saved' {
            $t = New-Run -Task csv
            $rows = @(
                [pscustomobject]@{ TrajectoryId = $t.Id; StepNumber = 0; AgentCode = 'a'; EnvironmentFeedback = 'a'; Metadata = '{}' }
                [pscustomobject]@{ TrajectoryId = $t.Id; StepNumber = 1; AgentCode = 'b'; EnvironmentFeedback = 'b'; Metadata = '[1, 2]' }
                [pscustomobject]@{ TrajectoryId = $t.Id; StepNumber = 2; AgentCode = 'c'; EnvironmentFeedback = 'c'; Metadata = '{}' }
            )
            $rows | Save-FleStep @c -ErrorVariable ev -ErrorAction SilentlyContinue
            $ev | Should -HaveCount 1
            $ev[0].FullyQualifiedErrorId | Should -Be 'FleInvalidMetadata,Fle.PowerShell.Commands.SaveFleStepCommand'
            (Get-FleStep -TrajectoryId $t.Id @c).StepNumber | Should -Be 0, 2
        }

        It 'Get-FleTrajectory | Get-FleStep streams the steps of every trajectory' {
            $task = 'pipe_' + [guid]::NewGuid().ToString('n').Substring(0, 8)
            $a = New-Run -Task $task -Checkpoints 1 -Steps 2
            $b = New-Run -Task $task -Steps 1
            $steps = Get-FleTrajectory -TaskId $task @c | Get-FleStep @c
            $steps | Should -HaveCount 4
            ($steps | Where-Object TrajectoryId -EQ $a.Id).StepNumber | Should -Be 0, 1, 2
            ($steps | Where-Object TrajectoryId -EQ $b.Id).StepNumber | Should -Be 0
        }

        It 'Get-FleTrajectory | Measure-FleStep counts each one' {
            $task = 'pipe_' + [guid]::NewGuid().ToString('n').Substring(0, 8)
            $a = New-Run -Task $task -Checkpoints 2 -Steps 1
            $b = New-Run -Task $task
            $m = Get-FleTrajectory -TaskId $task @c | Measure-FleStep @c
            $m | Should -HaveCount 2
            ($m | Where-Object TrajectoryId -EQ $a.Id).Count | Should -Be 3
            ($m | Where-Object TrajectoryId -EQ $b.Id).Count | Should -Be 0
        }

        It 'a step or checkpoint piped to a trajectory cmdlet means its trajectory' {
            $t = New-Run -Task pipe -Checkpoints 2
            (Get-FleCheckpoint -TrajectoryId $t.Id @c | Get-FleTrajectory @c).Id | Should -Be $t.Id
            Get-FleCheckpoint -TrajectoryId $t.Id @c | Test-FleTrajectory @c | Should -BeTrue
            (Get-FleStep -TrajectoryId $t.Id -StepNumber 0 @c | Complete-FleTrajectory -PassThru @c).Id | Should -Be $t.Id
            (Get-FleCheckpoint -TrajectoryId $t.Id @c | Resume-FleTrajectory @c).StepNumber | Should -Be 1
            (Measure-FleStep -TrajectoryId $t.Id @c | Get-FleTrajectory @c).Id | Should -Be $t.Id
            Get-FleStep -TrajectoryId $t.Id -StepNumber 0 @c | Remove-FleTrajectory -Confirm:$false @c
            Test-FleTrajectory -Id $t.Id @c | Should -BeFalse
        }

        It 'a trajectory object passed to -Id / -TrajectoryId means its id' {
            $t = New-Run -Task pipe -Checkpoints 1
            (Get-FleCheckpoint -TrajectoryId $t @c).TrajectoryId | Should -Be $t.Id
            (Measure-FleStep -TrajectoryId $t @c).Count | Should -Be 1
            Save-FleStep -TrajectoryId $t -StepNumber 1 -AgentCode a -EnvironmentFeedback b @c
            (Get-FleTrajectory -Id $t @c).StepCount | Should -Be 2
        }

        It 'Get-FleTrajectory filters: -Id prefix*, -After/-Before, -First (newest first)' {
            $task = 'filter_' + [guid]::NewGuid().ToString('n').Substring(0, 8)
            $old = New-FleTrajectory -TaskId $task -StartTime ([datetime]::UtcNow.AddDays(-10)) @c
            $mid = New-FleTrajectory -TaskId $task -StartTime ([datetime]::UtcNow.AddDays(-5)) @c
            $new = New-FleTrajectory -TaskId $task @c
            (Get-FleTrajectory -TaskId $task @c).Id | Should -Be $new.Id, $mid.Id, $old.Id
            (Get-FleTrajectory -TaskId $task -First 1 @c).Id | Should -Be $new.Id
            (Get-FleTrajectory -TaskId $task -After ([datetime]::UtcNow.AddDays(-7)) @c).Id | Should -Be $new.Id, $mid.Id
            (Get-FleTrajectory -TaskId $task -Before ([datetime]::UtcNow.AddDays(-7)) @c).Id | Should -Be $old.Id
            (Get-FleTrajectory -Id ($new.Id.Substring(0, 30) + '*') @c).Id | Should -Contain $new.Id
        }
    }

    Context '-GameState inputs' {
        It 'a string is stored byte-exact (unicode, CRLF, tabs, trailing spaces)' {
            $t = New-Run -Task state
            $s = "{`"name`": `"h" + [char]0xE9 + "llo " + [char]::ConvertFromUtf32(0x1F3AE) + "`"}`r`nline two  `t  `r`n`n   "
            Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState $s @c
            $cp = Get-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 @c
            $cp.GameStateText | Should -BeExactly $s
            [Convert]::ToHexString($cp.GameState) | Should -BeExactly ([Convert]::ToHexString([Text.Encoding]::UTF8.GetBytes($s)))
            $cp.GameStateSize | Should -Be ([Text.Encoding]::UTF8.GetByteCount($s))
        }

        It 'a JSON string is not re-serialised (key order, spacing and number forms survive)' {
            $t = New-Run -Task state
            $s = '{ "z": 1.50, "a" :[ 1e3 ,2], "m": "\u00e9" }'
            Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState $s @c
            (Get-FleCheckpoint -TrajectoryId $t.Id @c).GameStateText | Should -BeExactly $s
        }

        It 'a byte[] is stored as is (including bytes that are not UTF-8)' {
            $t = New-Run -Task state
            [byte[]] $bytes = 0, 1, 2, 0xFF, 0xFE, 0x80, 0, 0x7F
            Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState $bytes @c
            $cp = Get-FleCheckpoint -TrajectoryId $t.Id @c
            [Convert]::ToHexString($cp.GameState) | Should -Be '000102FFFE80007F'
        }

        It 'a large byte[] round-trips' {
            $t = New-Run -Task state
            $bytes = [byte[]]::new(300KB)
            [System.Random]::new(42).NextBytes($bytes)
            Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState $bytes @c
            $back = (Get-FleCheckpoint -TrajectoryId $t.Id @c).GameState
            [System.Linq.Enumerable]::SequenceEqual($back, $bytes) | Should -BeTrue
        }

        It 'a hashtable is stored as JSON, deeper than ConvertTo-Json''s default depth of 2' {
            $t = New-Run -Task state
            $state = @{ entities = @(@{ name = 'assembler'; pos = @{ x = 1.5; y = -2 }; recipe = @{ inputs = @{ iron = @{ count = 3; deep = @{ deeper = 'bottom' } } } } }); tick = 123; ok = $true; none = $null }
            Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState $state @c
            $back = (Get-FleCheckpoint -TrajectoryId $t.Id @c).GameStateText | ConvertFrom-Json -AsHashtable
            $back.tick | Should -Be 123
            $back.ok | Should -BeTrue
            $back.ContainsKey('none') | Should -BeTrue
            $back.entities[0].pos.x | Should -Be 1.5
            $back.entities[0].recipe.inputs.iron.count | Should -Be 3
            $back.entities[0].recipe.inputs.iron.deep.deeper | Should -Be 'bottom'
        }

        It 'a PSCustomObject (e.g. from ConvertFrom-Json) is stored as JSON with every level' {
            $t = New-Run -Task state
            $obj = '{"a":{"b":{"c":{"d":{"e":[1,{"f":"deep"}]}}}},"s":"x"}' | ConvertFrom-Json
            Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState $obj @c
            $back = (Get-FleCheckpoint -TrajectoryId $t.Id @c).GameStateText | ConvertFrom-Json
            $back.a.b.c.d.e[1].f | Should -Be 'deep'
            $back.a.b.c.d.e[0] | Should -Be 1
            $back.s | Should -Be 'x'
        }

        It 'the state from the pipeline by property name (GameState column)' {
            $t = New-Run -Task state
            [pscustomobject]@{ TrajectoryId = $t.Id; StepNumber = 0; AgentCode = 'a'; EnvironmentFeedback = 'b'; GameState = '{"from":"pipeline"}' } |
                Save-FleCheckpoint @c
            (Get-FleCheckpoint -TrajectoryId $t.Id @c).GameStateText | Should -BeExactly '{"from":"pipeline"}'
        }

        It 'a string with a NUL character is refused with FleInvalidText (both backends alike)' {
            $t = New-Run -Task state
            { Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState "a$([char]0)b" @c -ErrorAction Stop } |
                Should -Throw -ErrorId 'FleInvalidText,Fle.PowerShell.Commands.SaveFleCheckpointCommand'
            Get-FleTestRowCount $target steps | Should -Be (Invoke-FleTestSql $target 'SELECT COUNT(*) FROM steps')
            Measure-FleStep -TrajectoryId $t.Id @c | ForEach-Object Count | Should -Be 0
        }
    }

    Context '-WhatIf changes nothing' {
        BeforeAll {
            $w = New-Run -Task whatif -Checkpoints 2 -Steps 1
            $done = New-Run -Task whatif -Checkpoints 1
            Complete-FleTrajectory -Id $done.Id -Status Failed @c
        }

        It '<Label>' -ForEach @(
            @{ Label = 'New-FleTrajectory -WhatIf'; Run = { New-FleTrajectory -TaskId whatif -WhatIf @c } }
            @{ Label = 'New-FleTrajectory -Id -WhatIf'; Run = { New-FleTrajectory -TaskId whatif -Id 'whatif-id' -WhatIf @c } }
            @{ Label = 'Save-FleStep -WhatIf'; Run = { Save-FleStep -TrajectoryId $w.Id -StepNumber 10 -AgentCode a -EnvironmentFeedback b -WhatIf @c } }
            @{ Label = 'Save-FleStep -Force -WhatIf (overwrite)'; Run = { Save-FleStep -TrajectoryId $w.Id -StepNumber 0 -AgentCode changed -EnvironmentFeedback changed -Force -WhatIf @c } }
            @{ Label = 'Save-FleCheckpoint -WhatIf'; Run = { Save-FleCheckpoint -TrajectoryId $w.Id -StepNumber 10 -AgentCode a -EnvironmentFeedback b -GameState 'x' -WhatIf @c } }
            @{ Label = 'Save-FleCheckpoint -Force -WhatIf (overwrite)'; Run = { Save-FleCheckpoint -TrajectoryId $w.Id -StepNumber 1 -AgentCode changed -EnvironmentFeedback changed -GameState 'changed' -Force -WhatIf @c } }
            @{ Label = 'Complete-FleTrajectory -WhatIf'; Run = { Complete-FleTrajectory -Id $w.Id -WhatIf @c } }
            @{ Label = 'Resume-FleTrajectory -WhatIf'; Run = { Resume-FleTrajectory -Id $done.Id -WhatIf @c } }
            @{ Label = 'Remove-FleTrajectory -WhatIf'; Run = { Remove-FleTrajectory -Id $w.Id, $done.Id -WhatIf @c } }
            @{ Label = 'Get-FleTrajectory | Remove-FleTrajectory -WhatIf'; Run = { Get-FleTrajectory @c | Remove-FleTrajectory -WhatIf @c } }
            @{ Label = 'Remove-FleTrajectory -OlderThan -WhatIf'; Run = { Remove-FleTrajectory -OlderThan 0 -WhatIf @c } }
        ) {
            $before = Get-FleTestSnapshot $target
            $out = & $Run 6>&1
            # -WhatIf reports what it would do (on the information stream in a non-interactive host) and returns no objects.
            @($out | Where-Object { $_ -isnot [System.Management.Automation.InformationRecord] }) | Should -BeNullOrEmpty
            Get-FleTestSnapshot $target | Should -BeExactly $before
        }

        It 'the snapshot would have seen a change (the check is not blind)' {
            $before = Get-FleTestSnapshot $target
            Complete-FleTrajectory -Id $w.Id @c
            Get-FleTestSnapshot $target | Should -Not -BeExactly $before
        }
    }

    Context 'errors: specific ids, categories, non-terminating per item' {
        It 'Remove-FleTrajectory -Id nope is FleTrajectoryNotFound (ObjectNotFound)' {
            { Remove-FleTrajectory -Id nope -Confirm:$false -ErrorAction Stop @c } |
                Should -Throw -ErrorId 'FleTrajectoryNotFound,Fle.PowerShell.Commands.RemoveFleTrajectoryCommand'
            Remove-FleTrajectory -Id nope -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue @c
            $ev[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
            $ev[0].TargetObject | Should -Be 'nope'
        }

        It '<Cmd> on a missing trajectory: FleTrajectoryNotFound' -ForEach @(
            @{ Cmd = 'Get-FleTrajectory'; Class = 'GetFleTrajectoryCommand'; Run = { Get-FleTrajectory -Id nope @c -ErrorAction Stop } }
            @{ Cmd = 'Complete-FleTrajectory'; Class = 'CompleteFleTrajectoryCommand'; Run = { Complete-FleTrajectory -Id nope @c -ErrorAction Stop } }
            @{ Cmd = 'Resume-FleTrajectory'; Class = 'ResumeFleTrajectoryCommand'; Run = { Resume-FleTrajectory -Id nope @c -ErrorAction Stop } }
            @{ Cmd = 'Get-FleStep'; Class = 'GetFleStepCommand'; Run = { Get-FleStep -TrajectoryId nope @c -ErrorAction Stop } }
            @{ Cmd = 'Measure-FleStep'; Class = 'MeasureFleStepCommand'; Run = { Measure-FleStep -TrajectoryId nope @c -ErrorAction Stop } }
            @{ Cmd = 'Get-FleCheckpoint'; Class = 'GetFleCheckpointCommand'; Run = { Get-FleCheckpoint -TrajectoryId nope @c -ErrorAction Stop } }
            @{ Cmd = 'Save-FleStep'; Class = 'SaveFleStepCommand'; Run = { Save-FleStep -TrajectoryId nope -StepNumber 0 -AgentCode a -EnvironmentFeedback b @c -ErrorAction Stop } }
            @{ Cmd = 'Save-FleCheckpoint'; Class = 'SaveFleCheckpointCommand'; Run = { Save-FleCheckpoint -TrajectoryId nope -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState x @c -ErrorAction Stop } }
        ) {
            $Run | Should -Throw -ErrorId "FleTrajectoryNotFound,Fle.PowerShell.Commands.$Class"
            try { & $Run } catch { $_.CategoryInfo.Category | Should -Be 'ObjectNotFound' }
        }

        It 'a missing trajectory in a pipeline of several is non-terminating: <Cmd>' -ForEach @(
            @{ Cmd = 'Get-FleTrajectory'; Run = { [CmdletBinding()] param($ids) $ids | Get-FleTrajectory @c }; Expect = 2 }
            @{ Cmd = 'Get-FleCheckpoint'; Run = { [CmdletBinding()] param($ids) $ids | Get-FleCheckpoint @c }; Expect = 2 }
            @{ Cmd = 'Get-FleStep'; Run = { [CmdletBinding()] param($ids) $ids | Get-FleStep @c }; Expect = 2 }
            @{ Cmd = 'Measure-FleStep'; Run = { [CmdletBinding()] param($ids) $ids | Measure-FleStep @c }; Expect = 2 }
            @{ Cmd = 'Complete-FleTrajectory'; Run = { [CmdletBinding()] param($ids) $ids | Complete-FleTrajectory -PassThru @c }; Expect = 2 }
            @{ Cmd = 'Resume-FleTrajectory'; Run = { [CmdletBinding()] param($ids) $ids | Resume-FleTrajectory @c }; Expect = 2 }
            @{ Cmd = 'Remove-FleTrajectory'; Run = { [CmdletBinding()] param($ids) $ids | Remove-FleTrajectory -Confirm:$false -PassThru @c }; Expect = 2 }
        ) {
            $a = New-Run -Task nonterm -Checkpoints 1
            $b = New-Run -Task nonterm -Checkpoints 1
            $out = & $Run @($a.Id, 'nope', $b.Id) -ErrorVariable ev -ErrorAction SilentlyContinue
            $out | Should -HaveCount $Expect
            $ev | Should -HaveCount 1
            $ev[0].FullyQualifiedErrorId | Should -BeLike 'FleTrajectoryNotFound,Fle.PowerShell.Commands.*'
            $ev[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
            $ev[0].TargetObject | Should -Be 'nope'
        }

        It "'a','nope','b' | Get-FleTrajectory returns 2 objects and 1 error; the error does not stop the pipeline" {
            $a = New-Run -Task nonterm; $b = New-Run -Task nonterm
            $seen = [System.Collections.Generic.List[string]]::new()
            $a.Id, 'nope', $b.Id | Get-FleTrajectory @c -ErrorVariable ev -ErrorAction SilentlyContinue | ForEach-Object { $seen.Add($_.Id) }
            $seen | Should -Be $a.Id, $b.Id
            $ev | Should -HaveCount 1
            $ev[0].FullyQualifiedErrorId | Should -Be 'FleTrajectoryNotFound,Fle.PowerShell.Commands.GetFleTrajectoryCommand'
        }

        It 'a second step with the same number is FleStepAlreadyExists (ResourceExists); the first is kept' {
            $t = New-Run -Task errors -Steps 1
            { Save-FleStep -TrajectoryId $t.Id -StepNumber 0 -AgentCode other -EnvironmentFeedback other @c -ErrorAction Stop } |
                Should -Throw -ErrorId 'FleStepAlreadyExists,Fle.PowerShell.Commands.SaveFleStepCommand'
            { Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode other -EnvironmentFeedback other -GameState s @c -ErrorAction Stop } |
                Should -Throw -ErrorId 'FleStepAlreadyExists,Fle.PowerShell.Commands.SaveFleCheckpointCommand'
            Save-FleStep -TrajectoryId $t.Id -StepNumber 0 -AgentCode other -EnvironmentFeedback other @c -ErrorVariable ev -ErrorAction SilentlyContinue
            $ev[0].CategoryInfo.Category | Should -Be 'ResourceExists'
            (Get-FleStep -TrajectoryId $t.Id @c).AgentCode | Should -Be 'print(0)'
        }

        It 'a negative step number is FleInvalidStepNumber (InvalidArgument)' {
            $t = New-Run -Task errors
            { Save-FleStep -TrajectoryId $t.Id -StepNumber -1 -AgentCode a -EnvironmentFeedback b @c -ErrorAction Stop } |
                Should -Throw -ErrorId 'FleInvalidStepNumber,Fle.PowerShell.Commands.SaveFleStepCommand'
            { Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber -5 -AgentCode a -EnvironmentFeedback b -GameState x @c -ErrorAction Stop } |
                Should -Throw -ErrorId 'FleInvalidStepNumber,Fle.PowerShell.Commands.SaveFleCheckpointCommand'
            Save-FleStep -TrajectoryId $t.Id -StepNumber -1 -AgentCode a -EnvironmentFeedback b @c -ErrorVariable ev -ErrorAction SilentlyContinue
            $ev[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
            Get-FleTestRowCount $target steps | Should -Be (Invoke-FleTestSql $target 'SELECT COUNT(*) FROM steps')
            (Measure-FleStep $t.Id @c).Count | Should -Be 0
        }

        It 'a missing checkpoint is FleCheckpointNotFound (ObjectNotFound), with a recommended action' {
            $t = New-Run -Task errors -Checkpoints 1 -Steps 1
            { Get-FleCheckpoint -TrajectoryId $t.Id -StepNumber 1 @c -ErrorAction Stop } |
                Should -Throw -ErrorId 'FleCheckpointNotFound,Fle.PowerShell.Commands.GetFleCheckpointCommand'
            { Get-FleCheckpoint -TrajectoryId $t.Id -StepNumber 99 @c -ErrorAction Stop } |
                Should -Throw -ErrorId 'FleCheckpointNotFound,Fle.PowerShell.Commands.GetFleCheckpointCommand'
            $empty = New-Run -Task errors -Steps 1
            Get-FleCheckpoint -TrajectoryId $empty.Id -Latest @c -ErrorVariable ev -ErrorAction SilentlyContinue
            $ev[0].FullyQualifiedErrorId | Should -Be 'FleCheckpointNotFound,Fle.PowerShell.Commands.GetFleCheckpointCommand'
            $ev[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
            $ev[0].ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
        }

        It 'a missing step number is FleStepNotFound' {
            $t = New-Run -Task errors -Steps 2
            $out = Get-FleStep -TrajectoryId $t.Id -StepNumber 0, 7, 1 @c -ErrorVariable ev -ErrorAction SilentlyContinue
            $out.StepNumber | Should -Be 0, 1
            $ev | Should -HaveCount 1
            $ev[0].FullyQualifiedErrorId | Should -Be 'FleStepNotFound,Fle.PowerShell.Commands.GetFleStepCommand'
            $ev[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        }

        It 'bad metadata is FleInvalidMetadata (InvalidArgument) and nothing is created' {
            $before = Get-FleTestRowCount $target trajectories
            { New-FleTrajectory -TaskId errors -Metadata '[1,2]' @c -ErrorAction Stop } |
                Should -Throw -ErrorId 'FleInvalidMetadata,Fle.PowerShell.Commands.NewFleTrajectoryCommand'
            { New-FleTrajectory -TaskId errors -Metadata 42 @c -ErrorAction Stop } |
                Should -Throw -ErrorId 'FleInvalidMetadata,Fle.PowerShell.Commands.NewFleTrajectoryCommand'
            Get-FleTestRowCount $target trajectories | Should -Be $before
        }

        It 'using a closed connection is FleNotConnected' {
            $extra = if ($Name -eq 'Sqlite') { Connect-FleDatabase -Path $target.Sqlite -PassThru -NoDefault } else {
                Connect-FleDatabase -ConnectionString $target.Pg.ConnectionString -PassThru -NoDefault }
            $extra | Disconnect-FleDatabase
            $extra.IsOpen | Should -BeFalse
            { Get-FleTrajectory -Connection $extra -ErrorAction Stop } | Should -Throw -ErrorId 'FleNotConnected,Fle.PowerShell.Commands.GetFleTrajectoryCommand'
        }
    }

    Context '-Force and cleanup' {
        It 'Save-FleCheckpoint -Force overwrites the step and its state' {
            $t = New-Run -Task force -Checkpoints 2
            Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 1 -AgentCode 'new code' -EnvironmentFeedback 'new fb' -GameState '{"tick":"new"}' -Metadata @{ v = 2 } -Force @c
            $cp = Get-FleCheckpoint -TrajectoryId $t.Id -StepNumber 1 @c
            $cp.AgentCode | Should -Be 'new code'
            $cp.EnvironmentFeedback | Should -Be 'new fb'
            $cp.GameStateText | Should -Be '{"tick":"new"}'
            $cp.Metadata.v | Should -Be 2
            (Measure-FleStep $t.Id @c).Count | Should -Be 2
            Invoke-FleTestSql $target "SELECT COUNT(*) FROM game_states WHERE trajectory_id = '$($t.Id)'" | Should -Be 2
            (Get-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 @c).GameStateText | Should -Be '{"tick":0}'
        }

        It 'Save-FleStep -Force over a checkpoint replaces it with a plain step' {
            $t = New-Run -Task force -Checkpoints 1
            Save-FleStep -TrajectoryId $t.Id -StepNumber 0 -AgentCode 'plain' -EnvironmentFeedback 'plain' -Force @c
            (Get-FleStep -TrajectoryId $t.Id @c).HasGameState | Should -BeFalse
            Invoke-FleTestSql $target "SELECT COUNT(*) FROM game_states WHERE trajectory_id = '$($t.Id)'" | Should -Be 0
        }

        It 'Save-FleCheckpoint -Force on a new step just saves it' {
            $t = New-Run -Task force
            Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber 0 -AgentCode a -EnvironmentFeedback b -GameState s -Force @c
            (Get-FleCheckpoint -TrajectoryId $t.Id @c).GameStateText | Should -Be 's'
        }

        It 'Remove-FleTrajectory -OlderThan removes only finished trajectories that ended before the cutoff' {
            $task = 'cleanup_' + [guid]::NewGuid().ToString('n').Substring(0, 8)
            $oldDone = New-Run -Task $task -Checkpoints 2; Complete-FleTrajectory -Id $oldDone.Id @c
            $oldFailed = New-Run -Task $task -Steps 1; Complete-FleTrajectory -Id $oldFailed.Id -Status Failed @c
            $oldRunning = New-FleTrajectory -TaskId $task -StartTime ([datetime]::UtcNow.AddDays(-60)) @c
            Start-Sleep -Milliseconds 2500
            $newDone = New-Run -Task $task -Checkpoints 1; Complete-FleTrajectory -Id $newDone.Id @c
            $removed = Remove-FleTrajectory -OlderThan (New-TimeSpan -Seconds 2) -Confirm:$false -PassThru @c
            $removed | Should -Contain $oldDone.Id
            $removed | Should -Contain $oldFailed.Id
            $left = (Get-FleTrajectory -TaskId $task @c).Id
            $left | Should -Contain $oldRunning.Id
            $left | Should -Contain $newDone.Id
            $left | Should -Not -Contain $oldDone.Id
            $left | Should -Not -Contain $oldFailed.Id
            Invoke-FleTestSql $target "SELECT COUNT(*) FROM steps WHERE trajectory_id = '$($oldDone.Id)'" | Should -Be 0
        }

        It 'Remove-FleTrajectory -OlderThan -Status Failed keeps completed ones' {
            $task = 'cleanup_' + [guid]::NewGuid().ToString('n').Substring(0, 8)
            $done = New-Run -Task $task; Complete-FleTrajectory -Id $done.Id @c
            $failed = New-Run -Task $task; Complete-FleTrajectory -Id $failed.Id -Status Failed @c
            Start-Sleep -Milliseconds 1200
            Remove-FleTrajectory -OlderThan (New-TimeSpan -Seconds 1) -Status Failed -Confirm:$false @c
            (Get-FleTrajectory -TaskId $task @c).Id | Should -Be $done.Id
        }

        It 'Remove-FleTrajectory -OlderThan with a long cutoff removes nothing recent' {
            $task = 'cleanup_' + [guid]::NewGuid().ToString('n').Substring(0, 8)
            $done = New-Run -Task $task; Complete-FleTrajectory -Id $done.Id @c
            $before = Get-FleTestSnapshot $target
            Remove-FleTrajectory -OlderThan (New-TimeSpan -Days 30) -Confirm:$false @c
            Get-FleTestSnapshot $target | Should -BeExactly $before
        }
    }

    Context 'format views' {
        BeforeAll {
            $marker = 'STATE_MARKER_' + [guid]::NewGuid().ToString('n')
            $big = '{"marker":"' + $marker + '","entities":"' + ('x' * 50KB) + '"}'
            $fmt = New-Run -Task format
            Save-FleCheckpoint -TrajectoryId $fmt.Id -StepNumber 0 -AgentCode "# first line`nprint('hello')" -EnvironmentFeedback ('feedback ' * 200) -GameState $big @c
            Save-FleStep -TrajectoryId $fmt.Id -StepNumber 1 -AgentCode 'x = 1' -EnvironmentFeedback 'ok' @c
        }

        It 'Get-FleStep -IncludeGameState | Format-Table shows sizes, not the game state' {
            $text = Get-FleStep -TrajectoryId $fmt.Id -IncludeGameState @c | Format-Table | Out-String -Width 120
            $text | Should -Not -Match $marker
            $text | Should -Match '50\.\dK'
            $text | Should -Match '# first line'
            ($text -split "`n" | Measure-Object -Maximum Length).Maximum | Should -BeLessOrEqual 120
            ($text -split "`n").Count | Should -BeLessThan 12
        }

        It 'Get-FleStep output by default (Out-String) is the compact table' {
            $text = Get-FleStep -TrajectoryId $fmt.Id -IncludeGameState @c | Out-String -Width 120
            $text | Should -Not -Match $marker
            $text | Should -Match 'Step'
            $text.Length | Should -BeLessThan 2000
        }

        It 'steps of several trajectories are grouped under their trajectory id' {
            $other = New-Run -Task format -Steps 1
            $text = Get-FleTrajectory -Id $fmt.Id, $other.Id @c | Get-FleStep @c | Format-Table | Out-String -Width 120
            $text | Should -Match "Trajectory: $($fmt.Id)"
            $text | Should -Match "Trajectory: $($other.Id)"
        }

        It 'Get-FleCheckpoint | Format-List does not dump a 50 KB state' {
            $text = Get-FleCheckpoint -TrajectoryId $fmt.Id @c | Format-List | Out-String -Width 120
            $text | Should -Not -Match $marker
            $text | Should -Match 'GameStateSize'
            $text.Length | Should -BeLessThan 4000
        }

        It 'Get-FleCheckpoint and Resume-FleTrajectory by default do not dump the state' {
            (Get-FleCheckpoint -TrajectoryId $fmt.Id @c | Out-String -Width 120) | Should -Not -Match $marker
            (Resume-FleTrajectory -Id $fmt.Id @c | Out-String -Width 120) | Should -Not -Match $marker
        }

        It 'the state is still there for code that asks for it' {
            (Get-FleCheckpoint -TrajectoryId $fmt.Id @c).GameStateText | Should -Match $marker
        }

        It 'Get-FleTrajectory | Format-Table fits 120 columns and shows the step count' {
            $text = Get-FleTrajectory -Id $fmt.Id @c | Format-Table | Out-String -Width 120
            $text | Should -Match $fmt.Id
            $text | Should -Match 'Steps'
            ($text -split "`n" | Measure-Object -Maximum Length).Maximum | Should -BeLessOrEqual 120
        }

        It 'a connection is shown without a password' {
            $text = $target.Connection | Format-Table | Out-String -Width 200
            $text | Should -Match $Name
            if ($Name -eq 'Postgres') { $text | Should -Not -Match ([regex]::Escape($target.Pg.Password)) }
        }
    }
}
