# The module loads in a fresh pwsh and the core loop works on SQLite and PostgreSQL.
BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:backends = @(@{ Name = 'Sqlite' })
    if (Test-FlePostgresAvailable) { $script:backends += @{ Name = 'Postgres' } }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-FleModulePath) -Force
}

Describe 'Module manifest' {
    It 'exports exactly the cmdlets the manifest lists' {
        $manifest = Import-PowerShellDataFile (Get-FleModulePath)
        $exported = (Get-Command -Module Fle -CommandType Cmdlet).Name | Sort-Object
        $exported | Should -Be ($manifest.CmdletsToExport | Sort-Object)
    }

    It 'loads its dependencies outside the default load context' {
        $npgsql = [System.AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Fle.Core' }
        $npgsql | Should -Not -BeNullOrEmpty
        [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($npgsql[0]).Name | Should -Be 'Fle'
    }
}

Describe 'The agent loop on <Name>' -ForEach $backends {
    BeforeAll {
        $dir = New-FleTestDirectory
        if ($Name -eq 'Sqlite') {
            $conn = Connect-FleDatabase -Path (Join-Path $dir 'loop.db') -PassThru -NoDefault
        } else {
            $db = New-FleTestPostgresDatabase
            $conn = Connect-FleDatabase -Type Postgres -Server $db.Server -Port $db.Port -Database $db.Database -Credential (New-FleTestCredential) -PassThru -NoDefault
        }
    }
    AfterAll { $conn | Disconnect-FleDatabase }

    It 'creates, checkpoints, resumes and completes a trajectory' {
        $t = New-FleTrajectory -TaskId 'iron_plate_throughput' -Metadata @{ model = 'gpt-4o'; version = 2 } -Connection $conn
        $t | Should -BeOfType ([FleTrajectory])
        $t.Metadata.model | Should -Be 'gpt-4o'
        0..2 | ForEach-Object {
            Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber $_ -AgentCode "print($_)" -EnvironmentFeedback "ok" -GameState "{""tick"":$_}" -Connection $conn
        }
        (Measure-FleStep -TrajectoryId $t.Id -Connection $conn).Count | Should -Be 3
        $cp = Resume-FleTrajectory -Id $t.Id -Connection $conn
        $cp.StepNumber | Should -Be 2
        $cp.NextStepNumber | Should -Be 3
        $cp.GameStateText | Should -Be '{"tick":2}'
        $done = Complete-FleTrajectory -Id $t.Id -Status Failed -PassThru -Connection $conn
        $done.Status | Should -Be 'Failed'
        $done.EndTime | Should -Not -BeNullOrEmpty
    }
}
