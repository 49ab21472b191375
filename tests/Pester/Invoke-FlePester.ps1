<#
.SYNOPSIS
Runs the Pester suite against the built module (called by build.ps1 in a fresh pwsh); writes the counts as JSON.
#>
param(
    [Parameter(Mandatory)] [string] $PesterPath,
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $ResultPath,
    [string] $Filter
)
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
Import-Module $PesterPath -Force
$env:FLE_MODULE_PATH = (Resolve-Path $ModulePath).Path
$env:FLE_PWSH = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')

$config = New-PesterConfiguration
$config.Run.Path = $PSScriptRoot
if ($Filter) { $config.Run.Path = @(Get-ChildItem $PSScriptRoot -Filter "*$Filter*.Tests.ps1" | ForEach-Object FullName) }
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
$config.Output.RenderMode = 'Plaintext'
$config.TestResult.Enabled = $true
$config.TestResult.OutputPath = [System.IO.Path]::ChangeExtension($ResultPath, '.xml')
$result = Invoke-Pester -Configuration $config

# A container that failed in BeforeAll has no failed tests of its own: count it as a failure.
$failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
[pscustomobject]@{ Passed = $result.PassedCount; Failed = $failed; Skipped = $result.SkippedCount + $result.NotRunCount; Total = $result.TotalCount } |
    ConvertTo-Json | Set-Content -Path $ResultPath
if ($result.Result -ne 'Passed' -or $result.TotalCount -eq 0) { exit 1 }
exit 0
