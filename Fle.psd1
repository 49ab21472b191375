@{
    RootModule           = 'Fle.psm1'
    ModuleVersion        = '0.2.0'
    CompatiblePSEditions = @('Core')
    GUID                 = '5d0b7a2e-3f4c-4e8a-9b61-2c7f1e9a4d30'
    Author               = 'Fle contributors'
    CompanyName          = 'Fle'
    Copyright            = '(c) Fle contributors. MIT License.'
    Description          = 'Checkpoint, resume, query, migrate and back up the trajectories of LLM agents (FLE, the Factorio Learning Environment) in SQLite or PostgreSQL.'
    PowerShellVersion    = '7.4'
    # Loaded by PowerShell before Fle.psm1 runs, so the root module finds the loader's type and never calls Add-Type
    # (whose first use loads the C# compiler: about 0.1 s of every import, bench section 5).
    RequiredAssemblies   = @('Fle.Loader.dll')
    FormatsToProcess     = @('Fle.format.ps1xml')
    CmdletsToExport      = @(
        'Connect-FleDatabase'
        'Disconnect-FleDatabase'
        'New-FleTrajectory'
        'Get-FleTrajectory'
        'Complete-FleTrajectory'
        'Remove-FleTrajectory'
        'Test-FleTrajectory'
        'Resume-FleTrajectory'
        'Save-FleStep'
        'Save-FleCheckpoint'
        'Get-FleStep'
        'Measure-FleStep'
        'Get-FleCheckpoint'
        'Watch-FleTrajectory'
        'Import-FleProgramTable'
        'Export-FleData'
        'Export-FleReport'
        'Import-FleData'
        'Backup-FleDatabase'
        'Restore-FleDatabase'
        'Optimize-FleDatabase'
        'Get-FleDatabase'
        'Test-FleDatabase'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags                     = @('FLE', 'Factorio', 'LLM', 'Agents', 'Checkpoint', 'Trajectory', 'SQLite', 'PostgreSQL', 'Backup', 'Migration', 'Report',
                'PSEdition_Core', 'Linux', 'Windows', 'MacOS')
            LicenseUri               = 'https://opensource.org/licenses/MIT'
            ProjectUri               = 'https://github.com/JackHopkins/factorio-learning-environment'
            RequireLicenseAcceptance = $false
            ReleaseNotes             = @'
0.2.0 - trajectories that branch (schema v2; a 0.1.0 database upgrades in place on first open).
- Fork a trajectory at any step (New-FleTrajectory -ParentId -ForkStepNumber, or Get-FleStep ... | Resume-FleTrajectory -Fork): a fork is a row; it reads its parent's steps and states through it.
- Resume from any step: Resume-FleTrajectory -StepNumber -Fork keeps the history; -DiscardLaterSteps deletes the later steps in one transaction.
- The tree: Get-FleTrajectory -ParentId [-Recurse], -IncludeAncestors; Remove-FleTrajectory -Recurse; steps say where they are stored (StoredIn).
- Beam search's best nodes: Get-FleStep -TaskId/-TrajectoryId -Top -SortBy [-Descending], ranked in the database.
- Export files version 2 carry the lineage (a fork brings its ancestors); version 1 files still import.
- Import-FleProgramTable maps FLE's search trees (parent_id) to forks, each row stored once.
- Watch-FleTrajectory: each new step of a running trajectory as another process saves it (PostgreSQL LISTEN/NOTIFY, SQLite data_version).
- Export-FleReport draws a trajectory's forks as a tree.
- New SQLite files have 1 KiB pages (about 9 % of the raw payload on disk instead of 10.5 %); older files keep theirs.
- Faster start-up (ReadyToRun images, no Npgsql loaded for SQLite) and a cheaper Save-FleCheckpoint path.

0.1.0 - the first release.
- Checkpoint every agent step (code, feedback, metadata, game state) into SQLite (default, .fle/data.db) or PostgreSQL; resume a crashed run from any step (New-FleTrajectory, Save-FleCheckpoint, Resume-FleTrajectory, Get-FleStep, Get-FleCheckpoint).
- Game states compressed with zstd against keyframes of the same run (about 11 % of their raw size for FLE states).
- Migrate between SQLite and PostgreSQL (Export-FleData | Import-FleData), portable export files, FLE's own programs table (Import-FleProgramTable).
- Backup-FleDatabase / Restore-FleDatabase (SQLite online backup, pg_dump), Optimize-FleDatabase, Get-FleDatabase, Test-FleDatabase.
- Export-FleReport: one self-contained HTML page per run or comparison of runs, with a plot per metric, failed steps marked, and each step's code and feedback.
'@
        }
    }
}
