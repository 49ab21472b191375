@{
    RootModule           = 'Fle.psm1'
    ModuleVersion        = '0.1.0'
    CompatiblePSEditions = @('Core')
    GUID                 = '5d0b7a2e-3f4c-4e8a-9b61-2c7f1e9a4d30'
    Author               = 'Fle contributors'
    CompanyName          = 'Fle'
    Copyright            = '(c) Fle contributors. MIT License.'
    Description          = 'Checkpoint, resume, query, migrate and back up the trajectories of LLM agents (FLE, the Factorio Learning Environment) in SQLite or PostgreSQL.'
    PowerShellVersion    = '7.4'
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
            Tags       = @('FLE', 'Factorio', 'LLM', 'Agents', 'Checkpoint', 'SQLite', 'PostgreSQL', 'Trajectory')
            LicenseUri = 'https://opensource.org/licenses/MIT'
        }
    }
}
